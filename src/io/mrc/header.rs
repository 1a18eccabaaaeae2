//! The 1024-byte MRC2014 header: checking a file's header against its length before anything
//! is read ([`check_header`]: dimensions, mode, extended header, kind, pixel size from the
//! cell) and encoding the header our writer puts in front of the data ([`encode_header`]).

use std::path::Path;

use super::{HEADER_BYTES, MrcInfo};
use crate::io::{ContentKind, IoError, MAX_VOXELS};

/// What an MRC mode is, and whether we read it: bytes per voxel (rounded up: mode 101 packs
/// two voxels in a byte, see [`data_bytes`]) and the mode's name.
pub(super) fn mode_info(mode: i32) -> (Option<u64>, &'static str) {
    match mode {
        0 => (Some(1), "int8"),
        1 => (Some(2), "int16"),
        2 => (Some(4), "float32"),
        6 => (Some(2), "uint16"),
        12 => (Some(2), "float16"),
        3 => (None, "complex int16"),
        4 => (None, "complex float32"),
        101 => (Some(1), "4-bit packed"),
        _ => (None, "unknown mode"),
    }
}

/// Bytes of voxel data in a file of `nx` × `ny` × `nz` voxels of `mode` (`bytes_per_voxel`
/// from [`mode_info`]). Mode 101 (IMOD's and SerialEM's 4-bit packing, two voxels a byte, the
/// first in the low nibble) starts every row on a byte, so an odd `nx` leaves a padding
/// nibble at each row's end: `ceil(nx / 2)` bytes a row.
pub(crate) fn data_bytes(mode: i32, bytes_per_voxel: u64, nx: u64, ny: u64, nz: u64) -> u64 {
    if mode == 101 {
        nx.div_ceil(2) * ny * nz
    } else {
        nx * ny * nz * bytes_per_voxel
    }
}

/// Checks the first bytes of a file of `file_len` bytes as an MRC header.
///
/// `head` holds at least the first 1024 bytes when the file has them.
pub(super) fn check_header(path: &Path, head: &[u8], file_len: u64) -> Result<MrcInfo, IoError> {
    let to_path = || path.to_path_buf();
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        return Err(IoError::invalid(
            path,
            "gzip-compressed file: decompress it first (gunzip) to read it as MRC",
        ));
    }
    let Some(bytes) = head
        .get(..HEADER_BYTES)
        .and_then(|b| <&[u8; HEADER_BYTES]>::try_from(b).ok())
    else {
        return Err(IoError::UnknownFormat {
            path: to_path(),
            reason: format!("{file_len} bytes, shorter than the {HEADER_BYTES}-byte MRC header"),
        });
    };
    let (h, _endian_warning) = ::mrc::Header::decode_from_bytes_with_info(bytes);
    let has_map = &bytes[208..212] == b"MAP ";
    let known_mode = matches!(h.mode, 0 | 1 | 2 | 3 | 4 | 6 | 12 | 101);
    let dims_positive = h.nx > 0 && h.ny > 0 && h.nz > 0;
    let plausible = known_mode && dims_positive && h.nsymbt >= 0;
    if !(has_map || plausible) {
        return Err(IoError::UnknownFormat {
            path: to_path(),
            reason: format!(
                "no 'MAP ' stamp at byte 208 and no plausible MRC header (nx={}, ny={}, nz={}, mode={})",
                h.nx, h.ny, h.nz, h.mode
            ),
        });
    }
    if !dims_positive {
        return Err(IoError::BadDimensions {
            path: to_path(),
            nx: h.nx.into(),
            ny: h.ny.into(),
            nz: h.nz.into(),
        });
    }
    let (bytes_per_voxel, what) = mode_info(h.mode);
    let Some(bytes_per_voxel) = bytes_per_voxel else {
        return Err(IoError::UnsupportedMode {
            path: to_path(),
            mode: h.mode,
            what,
        });
    };
    if h.nsymbt < 0 {
        return Err(IoError::invalid(
            path,
            format!("negative extended-header size (nsymbt = {})", h.nsymbt),
        ));
    }
    // All positive i32, so these products fit in u128 without overflow.
    let voxels = h.nx as u128 * h.ny as u128 * h.nz as u128;
    if voxels > MAX_VOXELS as u128 {
        return Err(IoError::TooLarge {
            path: to_path(),
            voxels,
            limit: MAX_VOXELS,
        });
    }
    let nsymbt = h.nsymbt as u64;
    let data = data_bytes(
        h.mode,
        bytes_per_voxel,
        h.nx as u64,
        h.ny as u64,
        h.nz as u64,
    );
    let expected = HEADER_BYTES as u64 + nsymbt + data;
    if expected > file_len {
        return Err(IoError::Truncated {
            path: to_path(),
            expected,
            actual: file_len,
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    let kind = if h.nz == 1 {
        ContentKind::Image
    } else {
        match ext.as_deref() {
            Some("mrcs" | "st" | "ali") => ContentKind::Stack,
            Some("map" | "rec") => ContentKind::Volume,
            _ if h.ispg == 0 => ContentKind::Stack,
            _ => ContentKind::Volume,
        }
    };
    let exttyp = String::from_utf8_lossy(&bytes[104..108])
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .to_string();
    Ok(MrcInfo {
        nx: h.nx as usize,
        ny: h.ny as usize,
        nz: h.nz as usize,
        mode: h.mode,
        ispg: h.ispg,
        nsymbt: nsymbt as usize,
        exttyp,
        pixel_size_angstrom: cell_pixel_size(h.mx, h.xlen, h.my, h.ylen),
        stated_pixel_size: (h.mx > 0 && h.xlen.is_finite() && h.xlen > 0.0)
            .then(|| h.xlen / h.mx as f32),
        kind,
    })
}

/// Pixel size in Å/pixel from the cell, or `None` when the header does not really say.
pub(super) fn cell_pixel_size(mx: i32, xlen: f32, my: i32, ylen: f32) -> Option<f32> {
    let axis = |m: i32, len: f32| (m > 0 && len.is_finite() && len > 0.0).then(|| len / m as f32);
    let px = axis(mx, xlen)?;
    // A cell equal to the pixel count (1.0 Å/px) is what writers put when the size is unset.
    if (px - 1.0).abs() < 1e-6 {
        return None;
    }
    if let Some(py) = axis(my, ylen)
        && (py - px).abs() > 1e-3 * px
    {
        return None;
    }
    Some(px)
}

/// Header statistics of the data: `(dmin, dmax, dmean, rms)`, with rms the population
/// standard deviation about the mean (what `mrcfile` writes and validates).
pub(super) fn header_stats(values: &[f32]) -> (f32, f32, f32, f32) {
    let s = crate::image::stats_of(values);
    (s.min, s.max, s.mean as f32, s.std as f32)
}

/// Everything a header needs beyond the data.
pub(super) struct HeaderSpec {
    pub(super) nx: usize,
    pub(super) ny: usize,
    pub(super) nz: usize,
    pub(super) mode: i32,
    pub(super) ispg: i32,
    pub(super) pixel_size: Option<f32>,
    pub(super) stats: (f32, f32, f32, f32),
}

pub(super) fn encode_header(spec: &HeaderSpec) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    let put_i32 = |h: &mut [u8; HEADER_BYTES], off: usize, v: i32| {
        h[off..off + 4].copy_from_slice(&v.to_le_bytes())
    };
    let (nx, ny, nz) = (spec.nx as i32, spec.ny as i32, spec.nz as i32);
    put_i32(&mut h, 0, nx);
    put_i32(&mut h, 4, ny);
    put_i32(&mut h, 8, nz);
    put_i32(&mut h, 12, spec.mode);
    // nxstart, nystart, nzstart = 0 (bytes 16..28 already zero)
    put_i32(&mut h, 28, nx);
    put_i32(&mut h, 32, ny);
    put_i32(&mut h, 36, nz);
    let put_f32 = |h: &mut [u8; HEADER_BYTES], off: usize, v: f32| {
        h[off..off + 4].copy_from_slice(&v.to_le_bytes())
    };
    let ps = spec
        .pixel_size
        .filter(|p| p.is_finite() && *p > 0.0)
        .unwrap_or(0.0);
    put_f32(&mut h, 40, nx as f32 * ps);
    put_f32(&mut h, 44, ny as f32 * ps);
    put_f32(&mut h, 48, nz as f32 * ps);
    put_f32(&mut h, 52, 90.0);
    put_f32(&mut h, 56, 90.0);
    put_f32(&mut h, 60, 90.0);
    put_i32(&mut h, 64, 1);
    put_i32(&mut h, 68, 2);
    put_i32(&mut h, 72, 3);
    let (dmin, dmax, dmean, rms) = spec.stats;
    put_f32(&mut h, 76, dmin);
    put_f32(&mut h, 80, dmax);
    put_f32(&mut h, 84, dmean);
    put_i32(&mut h, 88, spec.ispg);
    put_i32(&mut h, 92, 0); // nsymbt: no extended header
    // EXTTYP (104..108) left zero; NVERSION at 108.
    put_i32(&mut h, 108, 20141);
    // origin (196..208) zero
    h[208..212].copy_from_slice(b"MAP ");
    h[212..216].copy_from_slice(&[0x44, 0x44, 0x00, 0x00]);
    put_f32(&mut h, 216, rms);
    // Text labels: where the file came from (`crate::io::provenance`), space-padded.
    let labels = crate::io::provenance::current().mrc_labels();
    put_i32(&mut h, 220, labels.len() as i32);
    for (i, label) in labels.iter().enumerate() {
        let start = 224 + 80 * i;
        let slot = &mut h[start..start + 80];
        slot.fill(b' ');
        let bytes = label.as_bytes();
        slot[..bytes.len()].copy_from_slice(bytes);
    }
    h
}

/// The text labels of an MRC file's header (NLABL of them, trailing spaces removed).
///
/// # Errors
/// An unreadable file or one shorter than a header.
pub fn read_labels(path: &Path) -> Result<Vec<String>, IoError> {
    use std::io::Read;
    let mut head = [0u8; super::HEADER_BYTES];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| IoError::os(path, e))?;
    let n = i32::from_le_bytes([head[220], head[221], head[222], head[223]]).clamp(0, 10) as usize;
    Ok((0..n)
        .map(|i| {
            String::from_utf8_lossy(&head[224 + 80 * i..224 + 80 * (i + 1)])
                .trim_end_matches([' ', '\0'])
                .to_string()
        })
        .collect())
}
