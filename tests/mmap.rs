//! Memory-mapped MRC volumes (`cryolens::io::mapped`): every section, slab, orthosection and
//! block read through the map equals the fully loaded `Volume` exactly (real tomogram crop and
//! synthetic files in every mode we read, both byte orders), a truncated file or a lying header
//! is an error, and a > 2 GiB (sparse) tomogram opens and shows its central and XZ sections
//! without being read whole.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::time::Instant;

use cryolens::image::{Axis, Volume};
use cryolens::io::mapped::{MappedVolume, VolumeSource};
use cryolens::io::{self, ContentKind, IoError};

/// Asserts that the map serves exactly what the loaded volume holds.
fn assert_same(mapped: &MappedVolume, loaded: &Volume, what: &str) {
    let (w, h, d) = (loaded.width, loaded.height, loaded.depth);
    assert_eq!(mapped.shape(), (w, h, d), "{what}: shape");
    assert_eq!(
        mapped.pixel_size_angstrom(),
        loaded.pixel_size_angstrom,
        "{what}: pixel size"
    );
    for (axis, len) in [(Axis::Z, d), (Axis::Y, h), (Axis::X, w)] {
        for index in [0, len / 3, len / 2, len - 1] {
            for thickness in [1, 2, 3, 8] {
                let a = VolumeSource::slab(mapped, axis, index, thickness);
                let b = loaded.slab(axis, index, thickness);
                assert_eq!(
                    (a.width, a.height),
                    (b.width, b.height),
                    "{what}: {axis:?} {index} t{thickness}"
                );
                // Bit-exact, NaN-safe.
                let same = a
                    .data
                    .iter()
                    .zip(&b.data)
                    .all(|(p, q)| p.to_bits() == q.to_bits());
                assert!(
                    same,
                    "{what}: {axis:?} slab at {index}, thickness {thickness}"
                );
            }
        }
    }
    assert_eq!(
        mapped.section(d / 2),
        loaded.section(d / 2),
        "{what}: section"
    );
    let (bw, bh, bd) = (w.div_ceil(3), h.div_ceil(2), d.min(5));
    let (x0, y0, z0) = (w - bw, h / 4, d - bd);
    let block = mapped.block((x0, y0, z0), (bw, bh, bd)).unwrap();
    for z in 0..bd {
        for y in 0..bh {
            for x in 0..bw {
                let want = loaded.data[((z0 + z) * h + y0 + y) * w + x0 + x];
                let got = block.data[(z * bh + y) * bw + x];
                assert_eq!(got.to_bits(), want.to_bits(), "{what}: block ({x},{y},{z})");
            }
        }
    }
    assert!(mapped.block((w - 1, 0, 0), (2, 1, 1)).is_err());
    assert!(mapped.block((0, 0, 0), (0, 1, 1)).is_err());
    assert_eq!(&mapped.to_volume().unwrap(), loaded, "{what}: whole volume");
}

#[test]
fn real_tomogram_crop_mapped_equals_loaded() {
    let path = common::golden("particleannotation_3d.mrc");
    let (kind, loaded) = io::read(&path).unwrap();
    let mapped = MappedVolume::open(&path).unwrap();
    assert_eq!(mapped.kind(), kind);
    assert_eq!(kind, ContentKind::Volume);
    assert_same(&mapped, &loaded, "particleannotation_3d");
    // The robust sample statistics are those of the volume's values: median inside the
    // range, σ positive and below the full range.
    let (median, sigma) = mapped.robust_sample_stats(200_000);
    let s = cryolens::image::stats_of(&loaded.data);
    assert!(median > s.min && median < s.max, "median {median}");
    assert!(sigma > 0.0 && f64::from(sigma) < f64::from(s.max - s.min));
    assert!(
        (f64::from(median) - s.mean).abs() < s.std,
        "median {median} vs {s:?}"
    );
}

/// A header for an `nx × ny × nz` file of `mode` (2.5 Å/px), from our own writer (a
/// one-voxel float32 file) with the shape, mode and extended-header size patched.
fn header(nx: usize, ny: usize, nz: usize, mode: i32, nsymbt: usize) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.mrc");
    let v = Volume {
        width: 1,
        height: 1,
        depth: 1,
        data: vec![0.0],
        pixel_size_angstrom: Some(2.5),
    };
    io::mrc::write_volume(&p, &v).unwrap();
    let mut h = std::fs::read(&p).unwrap()[..1024].to_vec();
    for (off, n) in [(0, nx), (4, ny), (8, nz), (28, nx), (32, ny), (36, nz)] {
        h[off..off + 4].copy_from_slice(&(n as i32).to_le_bytes());
    }
    for (off, n) in [(40, nx), (44, ny), (48, nz)] {
        h[off..off + 4].copy_from_slice(&(n as f32 * 2.5).to_le_bytes());
    }
    h[12..16].copy_from_slice(&mode.to_le_bytes());
    h[88..92].copy_from_slice(&i32::from(nz > 1).to_le_bytes());
    h[92..96].copy_from_slice(&(nsymbt as i32).to_le_bytes());
    h
}

/// Converts a little-endian header to big-endian (numeric fields swapped, stamp 0x11 0x11).
fn to_big_endian(h: &mut [u8]) {
    for off in (0..64)
        .step_by(4)
        .chain([64, 68, 72, 76, 80, 84, 88, 92, 108, 216, 220])
    {
        h[off..off + 4].reverse();
    }
    h[212..216].copy_from_slice(&[0x11, 0x11, 0, 0]);
}

/// The value of voxel `i` of the synthetic volumes: whole numbers in −100..=99 (exact in
/// every mode after scaling).
fn synthetic(i: usize) -> i32 {
    ((i * 7919 + (i / 37) * 131) % 200) as i32 - 100
}

#[test]
fn every_mode_and_byte_order_mapped_equals_loaded() {
    let (nx, ny, nz) = (37, 23, 19);
    let n = nx * ny * nz;
    let dir = tempfile::tempdir().unwrap();
    // (mode, name, big endian, IMOD unsigned bytes, encoder)
    type Enc = fn(i32, bool) -> Vec<u8>;
    let cases: [(i32, &str, bool, bool, Enc); 9] = [
        (0, "int8", false, false, |v, _| vec![v as i8 as u8]),
        (0, "uint8 (IMOD)", false, true, |v, _| vec![(v + 100) as u8]),
        (1, "int16", false, false, |v, _| {
            (v * 300).to_le_bytes()[..2].to_vec()
        }),
        (1, "int16 BE", true, false, |v, _| {
            ((v * 300) as i16).to_be_bytes().to_vec()
        }),
        (6, "uint16", false, false, |v, _| {
            ((v + 100) as u16 * 300).to_le_bytes().to_vec()
        }),
        (2, "float32", false, false, |v, _| {
            (v as f32 * 0.37).to_le_bytes().to_vec()
        }),
        (2, "float32 BE", true, false, |v, _| {
            (v as f32 * 0.37).to_be_bytes().to_vec()
        }),
        (12, "float16", false, false, |v, be| {
            let h = half::f16::from_f32(v as f32 * 0.25);
            if be { h.to_be_bytes() } else { h.to_le_bytes() }.to_vec()
        }),
        (12, "float16 BE", true, false, |v, be| {
            let h = half::f16::from_f32(v as f32 * 0.25);
            if be { h.to_be_bytes() } else { h.to_le_bytes() }.to_vec()
        }),
    ];
    for (mode, name, be, unsigned8, enc) in cases {
        let nsymbt = 64;
        let mut bytes = header(nx, ny, nz, mode, nsymbt);
        if mode == 0 {
            // IMOD stamp; flag bit 0 set = signed bytes, clear = unsigned.
            bytes[152..156].copy_from_slice(b"IMOD");
            bytes[156] = u8::from(!unsigned8);
        }
        if be {
            to_big_endian(&mut bytes);
        }
        bytes.extend(std::iter::repeat_n(0xA5u8, nsymbt));
        for i in 0..n {
            bytes.extend(enc(synthetic(i), be));
        }
        let path = dir
            .path()
            .join(format!("{}.mrc", name.replace([' ', '(', ')'], "_")));
        std::fs::write(&path, &bytes).unwrap();
        let (kind, loaded) = io::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        // The synthetic values really arrived (not a constant volume).
        assert!(loaded.data.iter().any(|&v| v != loaded.data[0]), "{name}");
        if unsigned8 {
            assert!(loaded.data.iter().all(|&v| v >= 0.0), "{name}: unsigned");
        }
        let mapped = MappedVolume::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(mapped.kind(), kind, "{name}");
        assert_eq!(mapped.info().mode, mode);
        assert_same(&mapped, &loaded, name);

        // Truncated by one voxel: an error, both for the map and the reader.
        let cut = dir.path().join("cut.mrc");
        std::fs::write(&cut, &bytes[..bytes.len() - mapped_bytes(mode)]).unwrap();
        let e = MappedVolume::open(&cut).unwrap_err();
        assert!(matches!(e, IoError::Truncated { .. }), "{name}: {e}");
    }
}

fn mapped_bytes(mode: i32) -> usize {
    match mode {
        0 => 1,
        2 => 4,
        _ => 2,
    }
}

#[test]
fn lying_headers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("lie.mrc");
    // Declares 1000 × 1000 × 1000 float32 in a 4 KiB file.
    let mut bytes = header(1000, 1000, 1000, 2, 0);
    bytes.extend([0u8; 3072]);
    std::fs::write(&p, &bytes).unwrap();
    let e = MappedVolume::open(&p).unwrap_err();
    assert!(
        matches!(
            e,
            IoError::Truncated {
                expected: 4_000_001_024,
                actual: 4096,
                ..
            }
        ),
        "{e}"
    );
    // An extended header larger than the file.
    let mut bytes = header(4, 4, 2, 2, 1 << 30);
    bytes.extend([0u8; 128]);
    std::fs::write(&p, &bytes).unwrap();
    assert!(matches!(
        MappedVolume::open(&p),
        Err(IoError::Truncated { .. })
    ));
    // Shorter than a header, missing, unsupported mode.
    std::fs::write(&p, [0u8; 100]).unwrap();
    assert!(MappedVolume::open(&p).is_err());
    assert!(matches!(
        MappedVolume::open(&dir.path().join("missing.mrc")),
        Err(IoError::Os { .. })
    ));
    let mut bytes = header(2, 2, 2, 4, 0);
    bytes.extend([0u8; 64]);
    std::fs::write(&p, &bytes).unwrap();
    assert!(matches!(
        MappedVolume::open(&p),
        Err(IoError::UnsupportedMode { mode: 4, .. })
    ));
}

/// Resident memory of this process (kB), from /proc.
fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn sparse_tomogram_over_2_gib_opens_without_reading_it_whole() {
    // 1024 × 1024 × 520 float32 = 2.03 GiB of voxels; sparse (set_len), so no disk is used.
    let (nx, ny, nz) = (1024usize, 1024usize, 520usize);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.rec");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&header(nx, ny, nz, 2, 0)).unwrap();
    let total = 1024 + (nx * ny * nz * 4) as u64;
    assert!(total > 2 << 30);
    file.set_len(total).unwrap();
    let mut put = |x: usize, y: usize, z: usize, v: f32| {
        file.seek(SeekFrom::Start(1024 + (((z * ny + y) * nx + x) * 4) as u64))
            .unwrap();
        file.write_all(&v.to_le_bytes()).unwrap();
    };
    // Known voxels: a row in the central section, and a column through all sections at y0.
    let (zc, y0) = (nz / 2, 300);
    for x in (0..nx).step_by(97) {
        put(x, 512, zc, x as f32 + 0.5);
    }
    for z in (0..nz).step_by(13) {
        put(700, y0, z, -(z as f32) - 1.0);
    }
    drop(file);

    let before = rss_kib();
    let t = Instant::now();
    let mapped = MappedVolume::open(&path).unwrap();
    let opened = t.elapsed();
    assert_eq!(mapped.shape(), (nx, ny, nz));
    assert_eq!(mapped.kind(), ContentKind::Volume);
    assert_eq!(mapped.file_bytes(), total);
    let t = Instant::now();
    let xy = mapped.section(zc);
    let xy_time = t.elapsed();
    assert_eq!((xy.width, xy.height), (nx, ny));
    for x in 0..nx {
        let want = if x % 97 == 0 { x as f32 + 0.5 } else { 0.0 };
        assert_eq!(xy.get(x, 512), want, "central section at x = {x}");
    }
    assert_eq!(
        xy.get(700, y0),
        if zc % 13 == 0 {
            -(zc as f32) - 1.0
        } else {
            0.0
        }
    );
    let t = Instant::now();
    let xz = mapped.slab(Axis::Y, y0, 1);
    let xz_time = t.elapsed();
    assert_eq!((xz.width, xz.height), (nx, nz));
    for z in 0..nz {
        let want = if z % 13 == 0 { -(z as f32) - 1.0 } else { 0.0 };
        assert_eq!(xz.get(700, z), want, "XZ at z = {z}");
        assert_eq!(xz.get(699, z), 0.0);
    }
    let after = rss_kib();
    if let (Some(b), Some(a)) = (before, after) {
        let grown_mib = a.saturating_sub(b) as f64 / 1024.0;
        eprintln!(
            "2.03 GiB sparse tomogram: open {opened:?}, central XY section {xy_time:?}, XZ section {xz_time:?}, resident memory +{grown_mib:.1} MiB"
        );
        // The two sections are 4 MiB + 2 MiB of output plus the pages they touch; reading
        // the file whole would add 2 GiB.
        assert!(grown_mib < 256.0, "resident memory grew by {grown_mib} MiB");
    }
}
