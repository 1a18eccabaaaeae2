//! Writing MRC files: our little-endian MRC2014 encoder for float32 images and volumes (mode 2)
//! and uint16 images (mode 6), written atomically (a buffered temporary file, synced, renamed
//! over the destination: a kill mid-write never leaves a torn map).

use std::io::Write;
use std::path::Path;

use super::HEADER_BYTES;
use super::header::{HeaderSpec, encode_header, header_stats};
use crate::image::{Image, Volume};
use crate::io::IoError;

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
    crate::io::atomic::write_atomically_streaming(path, |out| {
        out.write_all(header)?;
        write_data(out)
    })
    .map_err(|e| IoError::os(path, e))
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
