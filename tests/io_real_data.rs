//! Image I/O on real data: every MRC/TIFF file under `../shared/data/` (walked, so new files
//! are covered) and `../shared/golden/`, round trips through our writer, crafted bad files,
//! crafted TIFFs, and the bundled sample `assets/sample.mrc`.
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

/// Header fields at their MRC2014 byte offsets, little-endian.
fn header_f32(bytes: &[u8], off: usize) -> f32 {
    f32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]])
}
fn header_i32(bytes: &[u8], off: usize) -> i32 {
    i32::from_le_bytes([bytes[off], bytes[off + 1], bytes[off + 2], bytes[off + 3]])
}

#[test]
fn float32_image_round_trips_with_stats_and_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [(64, 48), (33, 17)] {
        let data: Vec<f32> = (0..w * h)
            .map(|i| ((i * 37) % 1001) as f32 * 0.25 - 60.0)
            .collect();
        let im = Image::new(w, h, data).unwrap().with_pixel_size(Some(1.06));
        let p = dir.path().join(format!("rt_{w}x{h}.mrc"));
        io::mrc::write_image(&p, &im).unwrap();
        let back = io::read_micrograph(&p).unwrap();
        assert_eq!(back.data, im.data);
        assert_eq!((back.width, back.height), (w, h));
        assert!((back.pixel_size_angstrom.unwrap() - 1.06).abs() < 1e-6);
        // Header statistics: dmin, dmax, dmean, rms (population σ).
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(bytes.len(), 1024 + 4 * w * h);
        let s = im.stats();
        assert_eq!(header_f32(&bytes, 76), s.min);
        assert_eq!(header_f32(&bytes, 80), s.max);
        assert!((header_f32(&bytes, 84) as f64 - s.mean).abs() < 1e-4 * s.mean.abs().max(1.0));
        assert!((header_f32(&bytes, 216) as f64 - s.std).abs() < 1e-4 * s.std);
        assert_eq!(header_i32(&bytes, 12), 2, "mode 2");
        assert_eq!(&bytes[208..212], b"MAP ");
        assert_eq!(header_i32(&bytes, 108), 20141);
        assert!((header_f32(&bytes, 40) - w as f32 * 1.06).abs() < 1e-3);
    }
    // Unknown pixel size writes a zero cell and reads back as unknown.
    let im = Image::new(4, 3, vec![1.0; 12]).unwrap();
    let p = dir.path().join("nops.mrc");
    io::mrc::write_image(&p, &im).unwrap();
    assert_eq!(io::read_micrograph(&p).unwrap().pixel_size_angstrom, None);
}

#[test]
fn volume_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let v = Volume {
        width: 7,
        height: 5,
        depth: 3,
        data: (0..105).map(|i| i as f32 - 50.5).collect(),
        pixel_size_angstrom: Some(8.66),
    };
    let p = dir.path().join("vol.mrc");
    io::mrc::write_volume(&p, &v).unwrap();
    let (kind, back) = io::read(&p).unwrap();
    assert_eq!(kind, ContentKind::Volume);
    assert_eq!(
        back,
        Volume {
            pixel_size_angstrom: back.pixel_size_angstrom,
            ..v.clone()
        }
    );
    assert!((back.pixel_size_angstrom.unwrap() - 8.66).abs() < 1e-5);
    // The same volume as an image stack (.mrcs extension).
    let ps = dir.path().join("vol.mrcs");
    io::mrc::write_volume(&ps, &v).unwrap();
    assert_eq!(io::read(&ps).unwrap().0, ContentKind::Stack);
}

/// Runs Python `mrcfile` on files we wrote, if Python with mrcfile is installed (skips with a
/// note otherwise): `mrcfile.validate` must pass and the voxel size must match.
#[test]
fn python_mrcfile_validates_our_files() {
    let has = std::process::Command::new("python3")
        .args(["-c", "import mrcfile"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has {
        eprintln!("note: python3 with mrcfile not available; skipping external validation");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let im = Image::new(
        40,
        30,
        (0..1200).map(|i| (i as f32 * 0.37).sin() * 100.0).collect(),
    )
    .unwrap()
    .with_pixel_size(Some(0.8538));
    let p_im = dir.path().join("im.mrc");
    io::mrc::write_image(&p_im, &im).unwrap();
    let v = Volume {
        width: 6,
        height: 5,
        depth: 4,
        data: (0..120).map(|i| i as f32).collect(),
        pixel_size_angstrom: Some(11.4),
    };
    let p_v = dir.path().join("v.mrc");
    io::mrc::write_volume(&p_v, &v).unwrap();
    let p_u = dir.path().join("u.mrc");
    let ui = Image::new(3, 2, vec![0.0, 1.0, 2.0, 65535.0, 7.0, 9.0]).unwrap();
    io::mrc::write_image_u16(&p_u, &ui).unwrap();
    let script = r#"
import sys, mrcfile, numpy as np
im, v, u = sys.argv[1:4]
for p in (im, v, u):
    assert mrcfile.validate(p, print_file=sys.stderr), p
with mrcfile.open(im) as m:
    assert m.data.shape == (30, 40) and m.data.dtype == np.float32
    assert abs(float(m.voxel_size.x) - 0.8538) < 1e-5 and abs(float(m.voxel_size.y) - 0.8538) < 1e-5
    assert abs(float(m.data[2, 3]) - float(np.float32(np.sin(np.float32(83 * 0.37))) * 100)) < 1e-3
with mrcfile.open(v) as m:
    assert m.data.shape == (4, 5, 6) and m.is_volume()
    assert abs(float(m.voxel_size.z) - 11.4) < 1e-4
    assert float(m.data[3, 4, 5]) == 119.0
with mrcfile.open(u) as m:
    assert m.data.dtype == np.uint16 and int(m.data[1, 0]) == 65535
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([&p_im, &p_v, &p_u])
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "mrcfile rejected our files:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Crafted bad files
// ---------------------------------------------------------------------------------------------

/// A valid little-endian float32 header for nx × ny × nz, then edited by the tests.
fn header(nx: i32, ny: i32, nz: i32, mode: i32) -> Vec<u8> {
    let mut h = vec![0u8; 1024];
    for (off, v) in [
        (0, nx),
        (4, ny),
        (8, nz),
        (12, mode),
        (28, nx),
        (32, ny),
        (36, nz),
        (64, 1),
        (68, 2),
        (72, 3),
        (108, 20141),
    ] {
        h[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }
    h[208..212].copy_from_slice(b"MAP ");
    h[212..216].copy_from_slice(&[0x44, 0x44, 0, 0]);
    h
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn bad_mrc_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A valid one first, so the helper is right.
    let mut ok = header(4, 3, 1, 2);
    ok.extend((0..12).flat_map(|i| (i as f32).to_le_bytes()));
    assert_eq!(
        io::read_micrograph(&write(d, "ok.mrc", &ok))
            .unwrap()
            .get(3, 2),
        11.0
    );

    // Truncated: the data stops early.
    let p = write(d, "truncated.mrc", &ok[..ok.len() - 5]);
    let e = io::read(&p).unwrap_err();
    assert!(
        matches!(
            e,
            IoError::Truncated {
                expected: 1072,
                actual: 1067,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("truncated"), "{e}");

    // A header that lies: 8000 × 8000 float32 declared (256 MB) in a 2 KB file. Refused by
    // comparing with the file length, before allocating.
    let mut lie = header(8000, 8000, 1, 2);
    lie.extend([0u8; 1024]);
    let e = io::read(&write(d, "lie.mrc", &lie)).unwrap_err();
    assert!(
        matches!(
            e,
            IoError::Truncated {
                expected: 256_001_024,
                ..
            }
        ),
        "{e}"
    );

    // Absurd dimensions (2³¹⁻¹ cubed).
    let mut absurd = header(i32::MAX, i32::MAX, i32::MAX, 2);
    absurd.extend([0u8; 64]);
    let e = io::read(&write(d, "absurd.mrc", &absurd)).unwrap_err();
    assert!(matches!(e, IoError::TooLarge { .. }), "{e}");

    // Zero and negative dimensions.
    for (i, (nx, ny, nz)) in [(0, 3, 1), (4, -3, 1), (4, 3, -1), (-1, -1, -1)]
        .into_iter()
        .enumerate()
    {
        let mut b = header(nx, ny, nz, 2);
        b.extend([0u8; 48]);
        let e = io::read(&write(d, &format!("dims{i}.mrc"), &b)).unwrap_err();
        assert!(matches!(e, IoError::BadDimensions { .. }), "{e}");
    }

    // Unknown and unsupported modes.
    for mode in [5, 9, 3, 4, 101, -2] {
        let mut b = header(4, 3, 1, mode);
        b.extend([0u8; 96]);
        let e = io::read(&write(d, &format!("mode{mode}.mrc"), &b)).unwrap_err();
        assert!(
            matches!(e, IoError::UnsupportedMode { mode: m, .. } if m == mode),
            "{e}"
        );
    }

    // Extended header declared larger than the file.
    let mut ext = header(4, 3, 1, 2);
    ext[92..96].copy_from_slice(&100_000i32.to_le_bytes());
    ext.extend([0u8; 48]);
    let e = io::read(&write(d, "ext.mrc", &ext)).unwrap_err();
    assert!(matches!(e, IoError::Truncated { .. }), "{e}");

    // Not an MRC at all: text, random bytes, empty, shorter than a header.
    let e = io::read(&write(d, "text.mrc", &b"just some text\n".repeat(100))).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let e = io::read(&write(d, "noise.map", &noise)).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    let e = io::read(&write(d, "empty.mrc", &[])).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    let e = io::read(&write(d, "short.mrc", &ok[..500])).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");

    // Bad TIFFs: garbage after the magic, wrong magic with a .tif name, truncated real TIFF.
    assert!(io::read(&write(d, "bad.tif", b"II*\0\x08\0\0\0garbage")).is_err());
    assert!(io::read(&write(d, "notreally.tif", b"hello world, not a tiff")).is_err());
    let real = std::fs::read(shared("data/tomograms/cylindra/13pf_MT.tif")).unwrap();
    let e = io::read(&write(d, "cut.tif", &real[..real.len() / 2])).unwrap_err();
    assert!(matches!(e, IoError::Invalid { .. }), "{e}");
    let e = io::read(&write(d, "cut_head.tif", &real[..40])).unwrap_err();
    assert!(matches!(e, IoError::Invalid { .. }), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Crafted TIFFs
// ---------------------------------------------------------------------------------------------

#[test]
fn tiff_pixel_types_and_pages() {
    use tiff::encoder::{TiffEncoder, colortype};
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (5u32, 3u32);
    let n = (w * h) as usize;

    // Single page, 16-bit.
    let p = dir.path().join("u16.tif");
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        let data: Vec<u16> = (0..n as u16).map(|v| v * 1000).collect();
        enc.write_image::<colortype::Gray16>(w, h, &data).unwrap();
    }
    let (kind, v) = io::read(&p).unwrap();
    assert_eq!(
        (kind, v.width, v.height, v.depth),
        (ContentKind::Image, 5, 3, 1)
    );
    assert_eq!(v.data[14], 14000.0);
    assert_eq!(v.pixel_size_angstrom, None);

    // Three pages, 32-bit float, read as a stack (no ImageJ description).
    let p = dir.path().join("f32.tiff");
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        for page in 0..3 {
            let data: Vec<f32> = (0..n)
                .map(|i| page as f32 * 100.0 + i as f32 * 0.5 - 1.0)
                .collect();
            enc.write_image::<colortype::Gray32Float>(w, h, &data)
                .unwrap();
        }
    }
    let (kind, v) = io::read(&p).unwrap();
    assert_eq!(
        (kind, v.width, v.height, v.depth),
        (ContentKind::Stack, 5, 3, 3)
    );
    assert_eq!(at(&v, (2, 1, 4)), 200.0 + 9.0 * 0.5 - 1.0);

    // 8-bit, two pages; and signed 16-bit.
    let p = dir.path().join("u8.tif");
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        enc.write_image::<colortype::Gray8>(w, h, &vec![7u8; n])
            .unwrap();
        enc.write_image::<colortype::Gray8>(w, h, &vec![255u8; n])
            .unwrap();
    }
    let (_, v) = io::read(&p).unwrap();
    assert_eq!((v.depth, v.data[0], v.data[n]), (2, 7.0, 255.0));
    let p = dir.path().join("i16.tif");
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        enc.write_image::<colortype::GrayI16>(w, h, &vec![-300i16; n])
            .unwrap();
    }
    assert_eq!(io::read_micrograph(&p).unwrap().data[3], -300.0);

    // Pages of different sizes and colour images are refused with a message.
    let p = dir.path().join("mixed.tif");
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        enc.write_image::<colortype::Gray8>(w, h, &vec![1u8; n])
            .unwrap();
        enc.write_image::<colortype::Gray8>(2, 2, &[1u8; 4])
            .unwrap();
    }
    let e = io::read(&p).unwrap_err();
    assert!(e.to_string().contains("different sizes"), "{e}");
    let p = dir.path().join("rgb.tif");
    {
        let mut enc = TiffEncoder::new(std::fs::File::create(&p).unwrap()).unwrap();
        enc.write_image::<colortype::RGB8>(w, h, &vec![1u8; 3 * n])
            .unwrap();
    }
    let e = io::read(&p).unwrap_err();
    assert!(e.to_string().contains("grey-scale"), "{e}");
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
