//! Unit tests of the MRC reader and writer on crafted headers and small files.

use super::header::{HeaderSpec, cell_pixel_size, encode_header};
use super::*;
use crate::image::Image;
use crate::io::IoError;

/// A little-endian header for crafted test files.
fn raw_header(nx: i32, ny: i32, nz: i32, mode: i32, nsymbt: i32) -> Vec<u8> {
    let mut h = encode_header(&HeaderSpec {
        nx: 1,
        ny: 1,
        nz: 1,
        mode,
        ispg: 0,
        pixel_size: None,
        stats: (0.0, 0.0, 0.0, 0.0),
    });
    h[0..4].copy_from_slice(&nx.to_le_bytes());
    h[4..8].copy_from_slice(&ny.to_le_bytes());
    h[8..12].copy_from_slice(&nz.to_le_bytes());
    h[92..96].copy_from_slice(&nsymbt.to_le_bytes());
    h.to_vec()
}

fn with_data(mut h: Vec<u8>, n: usize) -> Vec<u8> {
    h.extend(std::iter::repeat_n(0u8, n));
    h
}

#[test]
fn reads_each_mode_from_memory() {
    // 3×2×1 image, values 0..6 in every mode.
    let cases: [(i32, Vec<u8>); 5] = [
        (0, (0..6i8).flat_map(|v| v.to_le_bytes()).collect()),
        (
            1,
            (0..6i16)
                .map(|v| v - 3)
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            2,
            (0..6)
                .map(|v| v as f32 * 0.5)
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            6,
            (0..6u16)
                .map(|v| v * 1000)
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        (
            12,
            (0..6)
                .map(|v| half::f16::from_f32(v as f32 * 0.25))
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    ];
    let expected: [[f32; 6]; 5] = [
        [0., 1., 2., 3., 4., 5.],
        [-3., -2., -1., 0., 1., 2.],
        [0., 0.5, 1., 1.5, 2., 2.5],
        [0., 1000., 2000., 3000., 4000., 5000.],
        [0., 0.25, 0.5, 0.75, 1., 1.25],
    ];
    for ((mode, data), want) in cases.into_iter().zip(expected) {
        let mut bytes = raw_header(3, 2, 1, mode, 0);
        bytes.extend(data);
        let (kind, v) = read_bytes(&bytes).unwrap_or_else(|e| panic!("mode {mode}: {e}"));
        assert_eq!(kind, ContentKind::Image);
        assert_eq!((v.width, v.height, v.depth), (3, 2, 1));
        assert_eq!(v.data, want, "mode {mode}");
        assert_eq!(v.pixel_size_angstrom, None);
    }
}

#[test]
fn extended_header_is_skipped_by_nsymbt() {
    let mut bytes = raw_header(2, 2, 1, 2, 8);
    bytes.extend([0xAAu8; 8]);
    for v in [1.0f32, 2.0, 3.0, 4.0] {
        bytes.extend(v.to_le_bytes());
    }
    let (_, v) = read_bytes(&bytes).unwrap();
    assert_eq!(v.data, vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn big_endian_is_read() {
    let mut h = raw_header(2, 1, 1, 2, 0);
    for off in [0, 4, 8, 12, 28, 32, 36, 64, 68, 72, 108, 220] {
        let v = i32::from_le_bytes([h[off], h[off + 1], h[off + 2], h[off + 3]]);
        h[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
    h[212..216].copy_from_slice(&[0x11, 0x11, 0, 0]);
    h.extend(1.5f32.to_be_bytes());
    h.extend((-2.0f32).to_be_bytes());
    let (_, v) = read_bytes(&h).unwrap();
    assert_eq!(v.data, vec![1.5, -2.0]);
}

#[test]
fn bad_headers_are_errors_not_panics() {
    // Truncated: header says 4×4 float32 but 10 bytes of data.
    let e = read_bytes(&with_data(raw_header(4, 4, 1, 2, 0), 10)).unwrap_err();
    assert!(
        matches!(
            e,
            IoError::Truncated {
                expected: 1088,
                actual: 1034,
                ..
            }
        ),
        "{e}"
    );
    // Lying header: absurd size in a small file, refused before allocating.
    let e = read_bytes(&with_data(raw_header(100_000, 100_000, 100, 2, 0), 64)).unwrap_err();
    assert!(matches!(e, IoError::TooLarge { .. }), "{e}");
    let e = read_bytes(&with_data(raw_header(60_000, 60_000, 1, 2, 0), 64)).unwrap_err();
    assert!(matches!(e, IoError::Truncated { .. }), "{e}");
    // Zero / negative dimensions.
    for (nx, ny, nz) in [(0, 4, 1), (4, -3, 1), (4, 4, 0), (i32::MIN, 1, 1)] {
        let e = read_bytes(&with_data(raw_header(nx, ny, nz, 2, 0), 64)).unwrap_err();
        assert!(matches!(e, IoError::BadDimensions { .. }), "{e}");
    }
    // Unknown and unsupported modes.
    for mode in [5, 7, 3, 4, -1, 1_000_000] {
        let e = read_bytes(&with_data(raw_header(2, 2, 1, mode, 0), 64)).unwrap_err();
        assert!(
            matches!(e, IoError::UnsupportedMode { .. }),
            "mode {mode}: {e}"
        );
    }
    // Extended header larger than the file / negative.
    let e = read_bytes(&with_data(raw_header(2, 2, 1, 2, 1 << 30), 16)).unwrap_err();
    assert!(matches!(e, IoError::Truncated { .. }), "{e}");
    let e = read_bytes(&with_data(raw_header(2, 2, 1, 2, -5), 16)).unwrap_err();
    assert!(matches!(e, IoError::Invalid { .. }), "{e}");
    // Not an MRC at all.
    let e = read_bytes(b"hello, world").unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    let e = read_bytes(&[0x55u8; 4096]).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    let e = read_bytes(&[]).unwrap_err();
    assert!(matches!(e, IoError::UnknownFormat { .. }), "{e}");
    let mut gz = vec![0x1f, 0x8b];
    gz.extend([0u8; 2000]);
    assert!(read_bytes(&gz).is_err());
}

#[test]
fn pixel_size_rules() {
    assert_eq!(cell_pixel_size(100, 85.0, 100, 85.0), Some(0.85));
    assert_eq!(cell_pixel_size(959, 959.0, 927, 927.0), None); // "unset (1.0)"
    assert_eq!(cell_pixel_size(100, 0.0, 100, 0.0), None);
    assert_eq!(cell_pixel_size(0, 10.0, 0, 10.0), None);
    assert_eq!(cell_pixel_size(40, 17.93, 12, 4.71), None); // anisotropic (EMD-3001)
    assert_eq!(cell_pixel_size(10, 20.0, 10, 0.0), Some(2.0));
    assert_eq!(cell_pixel_size(10, f32::NAN, 10, 1.0), None);
}

#[test]
fn kind_from_space_group_and_extension() {
    let mut h = raw_header(2, 2, 3, 2, 0);
    h[88..92].copy_from_slice(&0i32.to_le_bytes());
    let bytes = with_data(h.clone(), 48);
    assert_eq!(read_bytes(&bytes).unwrap().0, ContentKind::Stack);
    h[88..92].copy_from_slice(&1i32.to_le_bytes());
    let bytes = with_data(h, 48);
    assert_eq!(read_bytes(&bytes).unwrap().0, ContentKind::Volume);
}

#[test]
fn write_u16_rejects_fractions() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mrc");
    let im = Image::new(2, 1, vec![1.5, 2.0]).unwrap();
    assert!(matches!(
        write_image_u16(&p, &im),
        Err(IoError::Invalid { .. })
    ));
    let im = Image::new(2, 1, vec![-1.0, 2.0]).unwrap();
    assert!(write_image_u16(&p, &im).is_err());
    let im = Image::new(2, 1, vec![7.0, 65535.0])
        .unwrap()
        .with_pixel_size(Some(2.5));
    write_image_u16(&p, &im).unwrap();
    let (_, v) = read(&p).unwrap();
    assert_eq!(v.data, vec![7.0, 65535.0]);
    assert_eq!(v.pixel_size_angstrom, Some(2.5));
}

#[test]
fn write_rejects_bad_shape() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mrc");
    let bad = Image {
        width: 3,
        height: 2,
        data: vec![0.0; 5],
        pixel_size_angstrom: None,
    };
    assert!(matches!(
        write_image(&p, &bad),
        Err(IoError::Invalid { .. })
    ));
    let empty = Image {
        width: 0,
        height: 2,
        data: vec![],
        pixel_size_angstrom: None,
    };
    assert!(write_image(&p, &empty).is_err());
}

/// Mode 101 (4-bit packed): a 3×2×2 stack, odd width so every row ends in a padding nibble
/// (SerialEM/IMOD: rows start on a byte; first voxel in the low nibble). Read whole and
/// mapped, the same values; one byte short is a truncated file.
#[test]
fn reads_mode_101_packed_rows_whole_and_mapped() {
    let values: Vec<u8> = (0..12u8).map(|v| (v * 5) % 16).collect();
    let mut data = Vec::new();
    for row in values.chunks(3) {
        data.push(row[0] | (row[1] << 4));
        data.push(row[2] | (0xf << 4)); // the padding nibble is ignored
    }
    let mut bytes = raw_header(3, 2, 2, 101, 0);
    bytes.extend(&data);
    let want: Vec<f32> = values.iter().map(|&v| f32::from(v)).collect();
    let (_, v) = read_bytes(&bytes).unwrap();
    assert_eq!((v.width, v.height, v.depth), (3, 2, 2));
    assert_eq!(v.data, want);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.mrcs");
    std::fs::write(&path, &bytes).unwrap();
    let mapped = crate::io::mapped::MappedVolume::open(&path).unwrap();
    let loaded = crate::io::mapped::VolumeSource::to_volume(&mapped).unwrap();
    assert_eq!(loaded.data, want);
    let section = crate::io::mapped::VolumeSource::section(&mapped, 1);
    assert_eq!(section.data, want[6..]);

    let e = read_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(matches!(e, IoError::Truncated { .. }), "{e}");
}
