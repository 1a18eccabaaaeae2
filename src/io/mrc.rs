//! MRC (MRC2014, <https://www.ccpem.ac.uk/mrc_format/mrc2014.php>) read and write.
//!
//! Reading goes through the `mrc` crate, guarded by our own checks of the 1024-byte header
//! against the file length *before* anything is read, so that a truncated file, a header that
//! lies, zero/negative dimensions or an unknown mode give an [`IoError`] and never a panic or
//! an absurd allocation (the crate call is also wrapped in `catch_unwind` as a last resort).
//!
//! Modes read: 0 (int8; unsigned when an IMOD header says so), 1 (int16), 2 (float32),
//! 6 (uint16), 12 (float16), all converted to `f32`. Extended headers (FEI1/FEI2, CCP4, SERI…)
//! are skipped by their declared size (`nsymbt`). Big- and little-endian files are read.
//!
//! Writing is our own little-endian MRC2014 encoder (mode 2 float32, or mode 6 uint16 with
//! [`write_image_u16`]) with correct `dmin/dmax/dmean/rms` (rms = population standard
//! deviation, as `mrcfile` computes it), the pixel size in the cell (`xlen = nx · Å/px`),
//! `NVERSION` 20141 and machine stamp `DD`; the files pass `mrcfile.validate`.

use std::io::Write;
use std::path::Path;

use crate::image::{Image, Volume};

use super::{ContentKind, IoError, MAX_VOXELS};

/// Size of the fixed MRC header in bytes.
pub const HEADER_BYTES: usize = 1024;

/// The checked facts of an MRC header, as [`read_info`] returns them.
#[derive(Clone, Debug, PartialEq)]
pub struct MrcInfo {
    /// Columns (x, fastest axis).
    pub nx: usize,
    /// Rows (y).
    pub ny: usize,
    /// Sections (z, slowest axis).
    pub nz: usize,
    /// Data mode (0, 1, 2, 6 or 12).
    pub mode: i32,
    /// Space group (0 = image stack, 1 = volume, 401–630 = volume stack).
    pub ispg: i32,
    /// Extended-header size in bytes (skipped).
    pub nsymbt: usize,
    /// Extended-header type (`EXTTYP`, e.g. `"FEI1"`), empty when unset.
    pub exttyp: String,
    /// Pixel size in Å/pixel from the cell (`xlen / mx`), `None` when unknown (see [`read`]).
    pub pixel_size_angstrom: Option<f32>,
    /// Image, stack or volume (see [`read`]).
    pub kind: ContentKind,
}

/// Reads an MRC file (`.mrc .mrcs .map .rec .st …`) into a volume of `f32`.
///
/// Shape: `depth` = nz sections × `height` = ny rows × `width` = nx columns, x fastest (as
/// `mrcfile` gives `data[z, y, x]`); the axis-mapping fields are not applied.
///
/// Kind: nz = 1 is an [`ContentKind::Image`]; otherwise `.mrcs .st .ali` files and files with
/// space group 0 are a [`ContentKind::Stack`], `.map .rec` files and any other space group a
/// [`ContentKind::Volume`].
///
/// Pixel size (Å/pixel) is `xlen / mx` from the header cell. It is `None` ("unknown") when
/// the cell or sampling is zero/negative/not finite, when it is exactly 1.0 Å/px (the cell
/// equals the pixel count, what writers put when they know no pixel size), or when x and y
/// sampling differ by more than 0.1 % (anisotropic pixels, e.g. EMD-3001).
///
/// # Errors
/// [`IoError::Os`] if the file cannot be opened or read; [`IoError::UnknownFormat`] if it is
/// not an MRC file; [`IoError::BadDimensions`], [`IoError::UnsupportedMode`],
/// [`IoError::Truncated`], [`IoError::TooLarge`] or [`IoError::Invalid`] for bad headers.
pub fn read(path: &Path) -> Result<(ContentKind, Volume), IoError> {
    let info = read_info(path)?;
    let info_for_crate = info.clone();
    let data = guarded(path, move || {
        let (reader, _warnings) = ::mrc::Reader::open_permissive(path)?;
        decode(&reader, &info_for_crate)
    })?;
    Ok(finish(info, data))
}

/// Reads an MRC file held in memory (e.g. embedded with `include_bytes!`). Same rules and
/// result as [`read`]; the kind is decided without an extension (space group only).
///
/// # Errors
/// As [`read`], with the path given as `<memory>`.
pub fn read_bytes(bytes: &[u8]) -> Result<(ContentKind, Volume), IoError> {
    let path = Path::new("<memory>");
    let info = check_header(path, bytes, bytes.len() as u64)?;
    let info_for_crate = info.clone();
    let data = guarded(path, move || {
        let (reader, _warnings) = ::mrc::Reader::from_bytes_permissive(bytes.to_vec())?;
        decode(&reader, &info_for_crate)
    })?;
    Ok(finish(info, data))
}

/// Reads and checks only the header of an MRC file (shape, mode, kind, pixel size), without
/// reading the data.
///
/// # Errors
/// As [`read`] (the header is checked against the file length the same way).
pub fn read_info(path: &Path) -> Result<MrcInfo, IoError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let len = file.metadata().map_err(|e| IoError::os(path, e))?.len();
    let mut head = Vec::with_capacity(HEADER_BYTES);
    file.take(HEADER_BYTES as u64)
        .read_to_end(&mut head)
        .map_err(|e| IoError::os(path, e))?;
    check_header(path, &head, len)
}

/// Runs a call into the `mrc` crate, turning its errors and any panic into an [`IoError`].
fn guarded<F>(path: &Path, f: F) -> Result<Vec<f32>, IoError>
where
    F: FnOnce() -> Result<Vec<f32>, ::mrc::Error>,
{
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(data)) => Ok(data),
        Ok(Err(e)) => Err(IoError::invalid(path, format!("MRC reader: {e}"))),
        Err(_) => Err(IoError::invalid(
            path,
            "MRC reader failed on this file (internal panic caught)",
        )),
    }
}

/// Decodes all voxels to `f32` after checking the crate saw the header we checked.
fn decode(reader: &::mrc::Reader, info: &MrcInfo) -> Result<Vec<f32>, ::mrc::Error> {
    let shape = reader.shape();
    if (shape.nx, shape.ny, shape.nz) != (info.nx, info.ny, info.nz)
        || reader.mode().as_i32() != info.mode
    {
        return Err(::mrc::Error::InvalidHeader);
    }
    let block = reader.convert::<f32>().read_volume()?;
    if block.data.len() != info.nx * info.ny * info.nz {
        return Err(::mrc::Error::InvalidHeader);
    }
    Ok(block.data)
}

fn finish(info: MrcInfo, data: Vec<f32>) -> (ContentKind, Volume) {
    (
        info.kind,
        Volume {
            width: info.nx,
            height: info.ny,
            depth: info.nz,
            data,
            pixel_size_angstrom: info.pixel_size_angstrom,
        },
    )
}

/// What an MRC mode is, and whether we read it.
fn mode_info(mode: i32) -> (Option<u64>, &'static str) {
    match mode {
        0 => (Some(1), "int8"),
        1 => (Some(2), "int16"),
        2 => (Some(4), "float32"),
        6 => (Some(2), "uint16"),
        12 => (Some(2), "float16"),
        3 => (None, "complex int16"),
        4 => (None, "complex float32"),
        101 => (None, "4-bit packed"),
        _ => (None, "unknown mode"),
    }
}

/// Checks the first bytes of a file of `file_len` bytes as an MRC header.
///
/// `head` holds at least the first 1024 bytes when the file has them.
fn check_header(path: &Path, head: &[u8], file_len: u64) -> Result<MrcInfo, IoError> {
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
    let expected = HEADER_BYTES as u64 + nsymbt + voxels as u64 * bytes_per_voxel;
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
        kind,
    })
}

/// Pixel size in Å/pixel from the cell, or `None` when the header does not really say.
fn cell_pixel_size(mx: i32, xlen: f32, my: i32, ylen: f32) -> Option<f32> {
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

// ------------------------------------------------------------------------------------------
// Writing
// ------------------------------------------------------------------------------------------

/// Header statistics of the data: `(dmin, dmax, dmean, rms)`, with rms the population
/// standard deviation about the mean (what `mrcfile` writes and validates).
fn header_stats(values: &[f32]) -> (f32, f32, f32, f32) {
    let s = crate::image::stats_of(values);
    (s.min, s.max, s.mean as f32, s.std as f32)
}

/// Everything a header needs beyond the data.
struct HeaderSpec {
    nx: usize,
    ny: usize,
    nz: usize,
    mode: i32,
    ispg: i32,
    pixel_size: Option<f32>,
    stats: (f32, f32, f32, f32),
}

fn encode_header(spec: &HeaderSpec) -> [u8; HEADER_BYTES] {
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
    put_i32(&mut h, 220, 1);
    let label = b"Written by Cryolens";
    h[224..224 + label.len()].copy_from_slice(label);
    for b in &mut h[224 + label.len()..224 + 80] {
        *b = b' ';
    }
    h
}

fn check_shape(path: &Path, w: usize, hgt: usize, d: usize, len: usize) -> Result<(), IoError> {
    let fits = |v: usize| v >= 1 && v <= i32::MAX as usize;
    if !(fits(w) && fits(hgt) && fits(d)) {
        return Err(IoError::invalid(
            path,
            format!("cannot write an MRC of {w}×{hgt}×{d} (x×y×z): each must be 1..2³¹"),
        ));
    }
    let needed = w.checked_mul(hgt).and_then(|v| v.checked_mul(d));
    if needed != Some(len) {
        return Err(IoError::invalid(
            path,
            format!("buffer holds {len} values but {w}×{hgt}×{d} needs {needed:?}"),
        ));
    }
    Ok(())
}

fn write_file(
    path: &Path,
    header: &[u8; HEADER_BYTES],
    write_data: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), IoError> {
    let file = std::fs::File::create(path).map_err(|e| IoError::os(path, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(header).map_err(|e| IoError::os(path, e))?;
    write_data(&mut out).map_err(|e| IoError::os(path, e))?;
    let file = out
        .into_inner()
        .map_err(|e| IoError::os(path, e.into_error()))?;
    file.sync_all().map_err(|e| IoError::os(path, e))
}

fn write_f32_le(out: &mut dyn Write, values: &[f32]) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4 * 16384);
    for chunk in values.chunks(16384) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        out.write_all(&buf)?;
    }
    Ok(())
}

/// Writes a 2D image as a float32 MRC (mode 2, space group 0, nz = 1), little-endian.
///
/// The header holds nx = `width`, ny = `height`, the statistics `dmin/dmax/dmean/rms` of the
/// data (rms = population standard deviation) and the pixel size as the cell
/// (`xlen = width · Å/px`, `ylen = height · Å/px`, `zlen = Å/px`); with no pixel size the cell
/// is 0 (which readers treat as unknown). Rows are written in order (y = 0 first), so numpy
/// via `mrcfile` sees `data[y, x]`.
///
/// # Errors
/// [`IoError::Invalid`] if the buffer does not match the shape, [`IoError::Os`] if the file
/// cannot be written.
pub fn write_image(path: &Path, image: &Image) -> Result<(), IoError> {
    check_shape(path, image.width, image.height, 1, image.data.len())?;
    let header = encode_header(&HeaderSpec {
        nx: image.width,
        ny: image.height,
        nz: 1,
        mode: 2,
        ispg: 0,
        pixel_size: image.pixel_size_angstrom,
        stats: header_stats(&image.data),
    });
    write_file(path, &header, |out| write_f32_le(out, &image.data))
}

/// Writes a volume as a float32 MRC (mode 2), little-endian: nx = `width`, ny = `height`,
/// nz = `depth`, sections in z order. Space group 1 (a single volume; mz = nz) when
/// `depth > 1`, 0 (an image) when `depth == 1`. Statistics and cell as [`write_image`].
///
/// # Errors
/// [`IoError::Invalid`] if the buffer does not match the shape, [`IoError::Os`] if the file
/// cannot be written.
pub fn write_volume(path: &Path, volume: &Volume) -> Result<(), IoError> {
    check_shape(
        path,
        volume.width,
        volume.height,
        volume.depth,
        volume.data.len(),
    )?;
    let header = encode_header(&HeaderSpec {
        nx: volume.width,
        ny: volume.height,
        nz: volume.depth,
        mode: 2,
        ispg: if volume.depth > 1 { 1 } else { 0 },
        pixel_size: volume.pixel_size_angstrom,
        stats: header_stats(&volume.data),
    });
    write_file(path, &header, |out| write_f32_le(out, &volume.data))
}

/// Writes a 2D image of whole numbers in 0..=65535 as a uint16 MRC (mode 6), e.g. to keep raw
/// counting-camera sums small. Header as [`write_image`].
///
/// # Errors
/// [`IoError::Invalid`] if any value is not an integer in 0..=65535 (or the buffer does not
/// match the shape), [`IoError::Os`] if the file cannot be written.
pub fn write_image_u16(path: &Path, image: &Image) -> Result<(), IoError> {
    check_shape(path, image.width, image.height, 1, image.data.len())?;
    if let Some((i, v)) = image
        .data
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.fract() == 0.0 && (0.0..=65535.0).contains(*v)))
    {
        return Err(IoError::invalid(
            path,
            format!(
                "value {v} at x={}, y={} is not a whole number in 0..=65535; write float32 instead",
                i % image.width,
                i / image.width
            ),
        ));
    }
    let header = encode_header(&HeaderSpec {
        nx: image.width,
        ny: image.height,
        nz: 1,
        mode: 6,
        ispg: 0,
        pixel_size: image.pixel_size_angstrom,
        stats: header_stats(&image.data),
    });
    write_file(path, &header, |out| {
        let mut buf = Vec::with_capacity(2 * 16384);
        for chunk in image.data.chunks(16384) {
            buf.clear();
            for &v in chunk {
                buf.extend_from_slice(&(v as u16).to_le_bytes());
            }
            out.write_all(&buf)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for mode in [5, 7, 3, 4, 101, -1, 1_000_000] {
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
}
