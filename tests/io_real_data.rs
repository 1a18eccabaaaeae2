//! Image I/O on real data: every MRC/TIFF file under `../shared/data/` (walked, so new files
//! are covered) and `../shared/golden/` read with known values, header info, and the bundled
//! sample `assets/sample.mrc`. Our writer's round trips and crafted files are in
//! `tests/io_crafted.rs`.
//!
//! Run with `cargo test --release --test io_real_data`.
//!
//! Reference values (shapes, dtypes, pixel values, means) were obtained once with Python
//! `mrcfile==1.5.4` (`mrcfile.open(path, permissive=True).data`), `tifffile==2026.3.3`
//! (`tifffile.imread`) and numpy 2.4, as `float(a.astype(np.float32)[z, y, x])` and
//! `a.astype(np.float64).mean()`; pixel sizes from `mrcfile`'s `voxel_size.x` and from the
//! ImageJ tags (`unit=nm`, XResolution 4082668531/4294967295 px/nm → 10.52 Å).

use std::path::{Path, PathBuf};

use cryolens::image::{Image, Volume};
use cryolens::io::{self, ContentKind, IoError};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared(sub: &str) -> PathBuf {
    root().join("../shared").join(sub)
}

/// Known facts of a file: shape (x, y, z), kind, pixel size, mean, and values at (z, y, x).
struct Known {
    path: &'static str,
    shape: (usize, usize, usize),
    kind: ContentKind,
    pixel_size: Option<f32>,
    mean: f64,
    values: &'static [((usize, usize, usize), f32)],
}

const FEI_PS: f32 = 0.853_775_5; // mrcfile voxel_size.x = 3167.507 Å / 3710

const KNOWN_DATA: &[Known] = &[
    Known {
        path: "micrographs/fei-extended/fei-extended.mrc",
        shape: (3710, 3838, 1),
        kind: ContentKind::Image,
        pixel_size: Some(FEI_PS),
        mean: 3521.0302419133955,
        values: &[
            ((0, 0, 0), 2811.0),
            ((0, 3837, 3709), 4146.0),
            ((0, 1279, 742), 3886.0),
            ((0, 3836, 1), 3076.0),
        ],
    },
    Known {
        path: "micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc",
        shape: (959, 927, 1),
        kind: ContentKind::Image,
        pixel_size: None, // header cell = pixel count ("unset (1.0)")
        mean: 6802.126417126927,
        values: &[
            ((0, 0, 0), 6800.5034),
            ((0, 926, 958), 6802.442),
            ((0, 309, 191), 6807.738),
            ((0, 925, 1), 6804.0513),
        ],
    },
    Known {
        path: "micrographs/ucsf-1142/Ucsf_stack_1142_DW_mask.mrc",
        shape: (959, 927, 1),
        kind: ContentKind::Image,
        pixel_size: None,
        mean: 0.173932703858345,
        values: &[((0, 0, 0), 0.057_792_094), ((0, 309, 191), 0.021_715_68)],
    },
    Known {
        path: "tomograms/cylindra/13pf_MT.tif",
        shape: (94, 206, 36),
        kind: ContentKind::Volume,
        pixel_size: Some(10.52),
        mean: 106.06224465789896,
        values: &[
            ((0, 0, 0), 121.0),
            ((35, 205, 93), 78.0),
            ((18, 68, 18), 105.0),
            ((12, 204, 1), 81.0),
        ],
    },
    Known {
        path: "tomograms/cylindra/14pf_MT.tif",
        shape: (84, 136, 44),
        kind: ContentKind::Volume,
        pixel_size: Some(10.52),
        mean: 113.52585664947797,
        values: &[
            ((0, 0, 0), 75.0),
            ((43, 135, 83), 93.0),
            ((22, 45, 16), 100.0),
            ((14, 134, 1), 154.0),
        ],
    },
    Known {
        path: "tomograms/particleannotation/3d_test_data.tif",
        shape: (112, 115, 202),
        kind: ContentKind::Volume, // ImageJ description `slices=202`
        pixel_size: None,
        mean: 0.30236243619208175,
        values: &[
            ((0, 0, 0), 0.313_743_17),
            ((201, 114, 111), 0.431_381),
            ((101, 38, 22), 0.208_509_55),
            ((67, 113, 1), 0.351_304_68),
        ],
    },
    Known {
        path: "maps/mrcfile/EMD-3197.map",
        shape: (20, 20, 20),
        kind: ContentKind::Volume,
        pixel_size: Some(11.4),
        mean: 0.7836120336436434,
        values: &[
            ((0, 0, 0), -1.801_309_1),
            ((19, 19, 19), 1.307_857_4),
            ((10, 6, 4), 5.057_382_6),
            ((6, 18, 1), 3.935_055_7),
        ],
    },
    Known {
        path: "maps/mrcfile/EMD-3001.map",
        shape: (73, 43, 25),
        kind: ContentKind::Volume,
        pixel_size: None, // anisotropic cell: 0.448 × 0.3925 × 0.459 Å
        mean: 0.0005329666822949868,
        values: &[
            ((0, 0, 0), 0.042_834_472),
            ((24, 42, 72), 0.067_244_98),
            ((12, 14, 14), -0.139_194_55),
            ((8, 41, 1), -0.047_094_498),
        ],
    },
    Known {
        path: "maps/zarr_particle_tools/ribo80s_emd_3883_866_64_resized.mrc",
        shape: (64, 64, 64),
        kind: ContentKind::Volume,
        pixel_size: Some(8.66),
        mean: 0.00017662764559260236,
        values: &[
            ((0, 0, 0), -2.587_115_8e-10),
            ((63, 63, 63), -1.143_182_35e-10),
            ((32, 21, 12), -2.908_740_5e-10),
        ],
    },
];

const KNOWN_GOLDEN: &[Known] = &[
    Known {
        path: "fei-extended_crop1024.mrc",
        shape: (1024, 1024, 1),
        kind: ContentKind::Image,
        pixel_size: Some(FEI_PS),
        mean: 3544.375871658325,
        values: &[
            ((0, 0, 0), 2612.0),
            ((0, 1023, 1023), 3822.0),
            ((0, 341, 204), 3308.0),
            ((0, 1022, 1), 3293.0),
        ],
    },
    Known {
        path: "ucsf-1142.unet.mrc",
        shape: (959, 927, 1),
        kind: ContentKind::Image,
        pixel_size: None,
        mean: 6802.013755645279,
        values: &[
            ((0, 0, 0), 6802.5957),
            ((0, 926, 958), 6803.2373),
            ((0, 309, 191), 6804.884),
        ],
    },
    Known {
        path: "particleannotation_3d.mrc",
        shape: (112, 115, 202),
        kind: ContentKind::Volume,
        pixel_size: None,
        mean: 0.30236243619208175,
        values: &[
            ((0, 0, 0), 0.313_743_17),
            ((201, 114, 111), 0.431_381),
            ((101, 38, 22), 0.208_509_55),
        ],
    },
];

fn is_image_file(p: &Path) -> bool {
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    matches!(
        ext.as_deref(),
        Some("mrc" | "mrcs" | "map" | "tif" | "tiff")
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if is_image_file(&p) {
            out.push(p);
        }
    }
}

fn at(v: &Volume, (z, y, x): (usize, usize, usize)) -> f32 {
    v.data[(z * v.height + y) * v.width + x]
}

/// Reads every file under `dir`, checks general sanity and the known facts; returns the
/// failures as text (all files are tried before failing) and how many files were read.
fn check_tree(dir: &Path, known: &[Known]) -> (Vec<String>, usize) {
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut failures = Vec::new();
    let mut seen = vec![false; known.len()];
    for file in &files {
        let rel = file
            .strip_prefix(dir)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/");
        let (kind, v) = match io::read(file) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{rel}: read failed: {e}"));
                continue;
            }
        };
        if v.width == 0
            || v.height == 0
            || v.depth == 0
            || v.data.len() != v.width * v.height * v.depth
        {
            failures.push(format!(
                "{rel}: bad shape {}×{}×{} / {}",
                v.width,
                v.height,
                v.depth,
                v.data.len()
            ));
            continue;
        }
        if let Some(i) = v.data.iter().position(|x| !x.is_finite()) {
            failures.push(format!("{rel}: non-finite value at index {i}"));
        }
        if (v.depth == 1) != (kind == ContentKind::Image) {
            failures.push(format!("{rel}: kind {kind:?} for depth {}", v.depth));
        }
        let Some((k, facts)) = known.iter().enumerate().find(|(_, k)| k.path == rel) else {
            eprintln!("note: {rel} has no reference values; checked shape and finiteness only");
            continue;
        };
        seen[k] = true;
        if (v.width, v.height, v.depth) != facts.shape {
            failures.push(format!(
                "{rel}: shape {:?} != {:?}",
                (v.width, v.height, v.depth),
                facts.shape
            ));
            continue;
        }
        if kind != facts.kind {
            failures.push(format!("{rel}: kind {kind:?} != {:?}", facts.kind));
        }
        match (v.pixel_size_angstrom, facts.pixel_size) {
            (None, None) => {}
            (Some(a), Some(b)) if (a - b).abs() <= 1e-4 * b => {}
            (a, b) => failures.push(format!("{rel}: pixel size {a:?} != {b:?}")),
        }
        let mean = v.data.iter().map(|&x| x as f64).sum::<f64>() / v.data.len() as f64;
        if (mean - facts.mean).abs() > 1e-6 * facts.mean.abs().max(1e-3) {
            failures.push(format!("{rel}: mean {mean} != {}", facts.mean));
        }
        for &(p, want) in facts.values {
            let got = at(&v, p);
            if got != want {
                failures.push(format!(
                    "{rel}: value at (z,y,x)={p:?} is {got}, mrcfile/tifffile say {want}"
                ));
            }
        }
    }
    for (k, s) in seen.iter().enumerate() {
        if !s {
            failures.push(format!(
                "{}: expected file not found under {}",
                known[k].path,
                dir.display()
            ));
        }
    }
    (failures, files.len())
}

#[test]
fn every_shared_data_file_reads_with_known_values() {
    let (failures, n) = check_tree(&shared("data"), KNOWN_DATA);
    assert!(n >= KNOWN_DATA.len(), "only {n} files found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_golden_file_reads() {
    let (failures, n) = check_tree(&shared("golden"), KNOWN_GOLDEN);
    assert!(n >= 10, "only {n} golden files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn micrograph_reader_accepts_images_and_names_volumes() {
    let im =
        io::read_micrograph(&shared("data/micrographs/fei-extended/fei-extended.mrc")).unwrap();
    assert_eq!((im.width, im.height), (3710, 3838));
    assert_eq!(im.get(742, 1279), 3886.0);
    let e = io::read_micrograph(&shared("data/maps/mrcfile/EMD-3197.map")).unwrap_err();
    assert!(
        matches!(
            e,
            IoError::NotAnImage {
                kind: ContentKind::Volume,
                width: 20,
                height: 20,
                depth: 20,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("20×20×20"), "{e}");
}

#[test]
fn header_info_without_data() {
    let info =
        io::mrc::read_info(&shared("data/micrographs/fei-extended/fei-extended.mrc")).unwrap();
    assert_eq!((info.nx, info.ny, info.nz, info.mode), (3710, 3838, 1, 6));
    assert_eq!(info.exttyp, "FEI1");
    assert_eq!(info.nsymbt, 786_432);
    assert_eq!(info.kind, ContentKind::Image);
}

// ---------------------------------------------------------------------------------------------
// Bundled sample
// ---------------------------------------------------------------------------------------------

const SAMPLE: &str = "assets/sample.mrc";

/// Rows 1024..2048, columns 1024..2048 (numpy order) of the FEI micrograph.
fn sample_from_source() -> Image {
    let full =
        io::read_micrograph(&shared("data/micrographs/fei-extended/fei-extended.mrc")).unwrap();
    full.crop(1024, 1024, 1024, 1024)
}

#[test]
fn bundled_sample_is_the_golden_crop() {
    let p = root().join(SAMPLE);
    let info = io::mrc::read_info(&p).unwrap();
    assert_eq!(
        (info.nx, info.ny, info.nz, info.mode),
        (1024, 1024, 1, 6),
        "uint16 mode 6"
    );
    let sample = io::read_micrograph(&p).unwrap();
    let golden = io::read_micrograph(&shared("golden/fei-extended_crop1024.mrc")).unwrap();
    assert_eq!((sample.width, sample.height), (1024, 1024));
    assert!(
        sample.data == golden.data,
        "sample differs from golden/fei-extended_crop1024.mrc"
    );
    assert!(sample.data == sample_from_source().data);
    let ps = sample.pixel_size_angstrom.unwrap();
    assert!((ps - FEI_PS).abs() < 1e-6, "{ps}");
    // From memory (as the GUI embeds it) gives the same.
    let bytes = std::fs::read(&p).unwrap();
    let (kind, v) = io::mrc::read_bytes(&bytes).unwrap();
    assert_eq!(kind, ContentKind::Image);
    assert_eq!(v.data, sample.data);
    assert_eq!(v.pixel_size_angstrom, sample.pixel_size_angstrom);
    assert!(root().join("assets/LICENSE-sample.txt").is_file());
}

/// Regenerates `assets/sample.mrc` with our uint16 writer. Run by hand:
/// `cargo test --release --test io_real_data -- --ignored regenerate_sample`.
#[test]
#[ignore]
fn regenerate_sample() {
    let crop = sample_from_source();
    io::mrc::write_image_u16(&root().join(SAMPLE), &crop).unwrap();
}
