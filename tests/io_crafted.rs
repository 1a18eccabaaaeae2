//! Image I/O on files we make: MRC round trips through our writer (statistics, pixel size,
//! volumes; validated by Python `mrcfile` when installed), crafted bad MRC files that must give
//! clear errors, and crafted TIFFs of every pixel type and several pages.
//!
//! Run with `cargo test --release --test io_crafted`.

mod common;

use std::path::{Path, PathBuf};

use cryolens::image::{Image, Volume};
use cryolens::io::{self, ContentKind, IoError};

fn at(v: &Volume, (z, y, x): (usize, usize, usize)) -> f32 {
    v.data[(z * v.height + y) * v.width + x]
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
    for mode in [5, 9, 3, 4, 7, -2] {
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
    let real = std::fs::read(common::data("tomograms/cylindra/13pf_MT.tif")).unwrap();
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
