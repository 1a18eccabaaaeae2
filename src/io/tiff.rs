//! TIFF read (single and multi-page) through the `tiff` crate (the decoder the `image` crate
//! uses; `image` itself decodes only the first page of a TIFF).
//!
//! Grey-scale pages of 8/16/32-bit unsigned or signed integers, 16/32/64-bit floats are read
//! into `f32` (integers above 2²⁴ lose precision, as any `f32` conversion does). Colour,
//! palette and alpha TIFFs are refused with a clear error. All pages must have the same size.
//! Before a page is decoded, the pixels declared so far are checked: uncompressed data must fit
//! in the file, compressed data must be a plausible expansion of it and the result must fit
//! in the available memory ([`super::limits`]), and the total is capped at [`MAX_VOXELS`], so
//! a corrupt file or a deflate bomb gives an error, never an absurd allocation. A file that
//! ends early is reported as truncated, an unsupported sample type (e.g. 8-bit float) by its
//! bits and format.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use ::tiff::ColorType;
use ::tiff::decoder::{Decoder, DecodingResult, Limits};
use ::tiff::tags::Tag;

use crate::image::Volume;

use super::{ContentKind, IoError, MAX_VOXELS, limits};

/// Most pages read from one file (a guard against IFD chains that never end).
const MAX_PAGES: usize = 100_000;

/// Reads a TIFF file (`.tif .tiff`), every page, into a volume of `f32`.
///
/// Shape: `depth` = number of pages (z) × `height` rows (y) × `width` columns (x), x fastest,
/// as `tifffile.imread` gives `array[z, y, x]`.
///
/// Kind: one page is an [`ContentKind::Image`]; several pages are a [`ContentKind::Volume`]
/// when the ImageJ description says `slices=` > 1 (an ImageJ z-stack, e.g. a tomogram), else a
/// [`ContentKind::Stack`].
///
/// Pixel size (Å/pixel): from an ImageJ description's `unit=` (`nm`, `micron`/`um`/`µm`,
/// `A`/`Å`/`angstrom`) together with the `XResolution` tag (pixels per unit), e.g. cylindra's
/// `unit=nm` and XResolution 0.9506/nm give 10.52 Å. Anything else (plain TIFF resolution in
/// inches/cm, usually a DPI setting with no physical meaning here) gives `None`.
///
/// # Errors
/// [`IoError::Os`] if the file cannot be opened; [`IoError::Invalid`] for a corrupt,
/// truncated or unsupported TIFF (colour, sample type, pages of different sizes, too many
/// pages), pixels that would not fit in memory or expand implausibly, [`IoError::TooLarge`]
/// beyond [`MAX_VOXELS`].
pub fn read(path: &Path) -> Result<(ContentKind, Volume), IoError> {
    let file = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let len = file.metadata().map_err(|e| IoError::os(path, e))?.len();
    read_from(path, BufReader::new(file), len)
}

/// Reads a TIFF held in memory. Same rules and result as [`read`].
///
/// # Errors
/// As [`read`], with the path given as `<memory>`.
pub fn read_bytes(bytes: &[u8]) -> Result<(ContentKind, Volume), IoError> {
    read_from(
        Path::new("<memory>"),
        std::io::Cursor::new(bytes),
        bytes.len() as u64,
    )
}

/// Largest ratio of decoded to stored bytes we accept (deflate's maximum is about 1032:1), so
/// that a tiny file declaring huge pages is refused before its buffer is allocated.
const MAX_EXPANSION: u64 = 1100;

fn read_from<R: Read + Seek>(
    path: &Path,
    source: R,
    file_len: u64,
) -> Result<(ContentKind, Volume), IoError> {
    let terr = |e: ::tiff::TiffError| tiff_error(path, e, file_len);
    let mut limits = Limits::default();
    // One page of a large float micrograph (e.g. 11520×8184 float32 = 377 MB) must fit.
    limits.decoding_buffer_size = 1 << 30;
    let mut dec = Decoder::new(source).map_err(terr)?.with_limits(limits);

    let description = match dec.find_tag(Tag::ImageDescription) {
        Ok(Some(v)) => v.into_string().ok(),
        _ => None,
    };
    let imagej = description.as_deref().filter(|d| d.starts_with("ImageJ="));
    let x_resolution = match dec.find_tag(Tag::XResolution) {
        Ok(Some(::tiff::decoder::ifd::Value::Rational(n, d))) if d != 0 => {
            Some(n as f64 / d as f64)
        }
        _ => None,
    };
    let pixel_size = imagej.and_then(|d| imagej_pixel_size(d, x_resolution));
    let imagej_slices = imagej
        .and_then(|d| imagej_field(d, "slices"))
        .and_then(|v| v.parse::<usize>().ok());

    let (width, height) = dec.dimensions().map_err(terr)?;
    let (width, height) = (width as usize, height as usize);
    if width == 0 || height == 0 {
        return Err(IoError::BadDimensions {
            path: path.to_path_buf(),
            nx: width as i64,
            ny: height as i64,
            nz: 1,
        });
    }
    let page_len = width * height;
    let mut data: Vec<f32> = Vec::new();
    let mut pages = 0usize;
    loop {
        let (w, h) = dec.dimensions().map_err(terr)?;
        if (w as usize, h as usize) != (width, height) {
            return Err(IoError::invalid(
                path,
                format!(
                    "TIFF page {pages} is {w}×{h} but page 0 is {width}×{height} (pages of different sizes are not supported: split the file)"
                ),
            ));
        }
        let bits = sample_bits(path, &mut dec, pages)?;
        let voxels = (pages as u128 + 1) * page_len as u128;
        let decoded_bytes = voxels * u128::from(bits / 8);
        if decoded_bytes > u128::from(file_len) * u128::from(MAX_EXPANSION) {
            return Err(IoError::invalid(
                path,
                format!(
                    "TIFF declares {decoded_bytes} bytes of pixels ({pages_n} page(s) of {width}×{height}) in a file of {file_len} bytes: corrupt or not a real image",
                    pages_n = pages + 1
                ),
            ));
        }
        if voxels > MAX_VOXELS as u128 {
            return Err(IoError::TooLarge {
                path: path.to_path_buf(),
                voxels,
                limit: MAX_VOXELS,
            });
        }
        // Both fit in u64 now (≤ 2³² voxels of ≤ 8 bytes).
        let decoded_bytes = decoded_bytes as u64;
        let uncompressed = matches!(
            dec.find_tag(Tag::Compression),
            Ok(Some(
                ::tiff::decoder::ifd::Value::Short(1) | ::tiff::decoder::ifd::Value::Unsigned(1)
            ))
        );
        if uncompressed && decoded_bytes > file_len {
            return Err(truncated(path, decoded_bytes, file_len));
        }
        limits::check_expansion(path, "this TIFF", decoded_bytes, file_len)?;
        // The f32 result plus one decoded page in the TIFF's own type.
        let page_bytes = decoded_bytes / (pages as u64 + 1);
        limits::check_fits(path, "reading this TIFF", voxels as u64 * 4 + page_bytes)?;
        let page = dec.read_image().map_err(|e| match e {
            ::tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                truncated(path, decoded_bytes, file_len)
            }
            other => terr(other),
        })?;
        let before = data.len();
        append_as_f32(&mut data, page);
        if data.len() - before != page_len {
            return Err(IoError::invalid(
                path,
                format!(
                    "TIFF page {pages} decoded to {} values, expected {width}×{height}",
                    data.len() - before
                ),
            ));
        }
        pages += 1;
        if !dec.more_images() {
            break;
        }
        if pages >= MAX_PAGES {
            return Err(IoError::invalid(
                path,
                format!("TIFF has more than {MAX_PAGES} pages"),
            ));
        }
        dec.next_image().map_err(terr)?;
    }
    let kind = match (pages, imagej_slices) {
        (1, _) => ContentKind::Image,
        (_, Some(s)) if s > 1 => ContentKind::Volume,
        _ => ContentKind::Stack,
    };
    Ok((
        kind,
        Volume {
            width,
            height,
            depth: pages,
            data,
            pixel_size_angstrom: pixel_size,
        },
    ))
}

/// A `tiff` crate error in words: a file that ends early is truncated, not "failed to fill
/// whole buffer".
fn tiff_error(path: &Path, e: ::tiff::TiffError, file_len: u64) -> IoError {
    match e {
        ::tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            IoError::invalid(
                path,
                format!(
                    "TIFF data truncated: the file ends after {file_len} bytes, before its header or directory does (the file is incomplete: copy or export it again)"
                ),
            )
        }
        ::tiff::TiffError::FormatError(f) => IoError::invalid(
            path,
            format!("not a valid TIFF file: {f} (check that it is a complete TIFF)"),
        ),
        ::tiff::TiffError::UnsupportedError(u) => IoError::invalid(
            path,
            format!(
                "TIFF feature not supported: {u} (convert it to a plain grey-scale TIFF or MRC)"
            ),
        ),
        other => IoError::invalid(path, format!("TIFF: {other}")),
    }
}

/// The error for pixel data that end before the page does.
fn truncated(path: &Path, expected: u64, actual: u64) -> IoError {
    IoError::invalid(
        path,
        format!(
            "TIFF data truncated: expected {expected} bytes of pixels but the file has {actual} bytes (the file is incomplete: copy or export it again)"
        ),
    )
}

/// Bits per sample of the current page, after checking it is one grey sample of a kind we
/// read: unsigned or signed integers of 8/16/32/64 bits, floats of 16/32/64 bits.
fn sample_bits<R: Read + Seek>(
    path: &Path,
    dec: &mut Decoder<R>,
    page: usize,
) -> Result<u8, IoError> {
    let format = match dec.find_tag(Tag::SampleFormat) {
        Ok(Some(v)) => v.into_u16().unwrap_or(1),
        _ => 1,
    };
    let kind = match format {
        1 => "unsigned integer",
        2 => "signed integer",
        3 => "float",
        _ => "unknown",
    };
    let colour = dec
        .colortype()
        .map_err(|e| IoError::invalid(path, format!("TIFF page {page}: {e}")))?;
    match (colour, format) {
        (ColorType::Gray(bits @ (8 | 16 | 32 | 64)), 1 | 2) => Ok(bits),
        (ColorType::Gray(bits @ (16 | 32 | 64)), 3) => Ok(bits),
        (ColorType::Gray(bits), _) => Err(IoError::invalid(
            path,
            format!(
                "TIFF page {page}: unsupported sample format: {bits}-bit {kind} samples (convert it to 8/16/32-bit integers or 32-bit float)"
            ),
        )),
        (other, _) => Err(IoError::invalid(
            path,
            format!(
                "TIFF page {page} has pixel type {other:?}: only grey-scale pages are read (convert it to one grey channel)"
            ),
        )),
    }
}

/// Appends one decoded page to `out`, converted to `f32`.
fn append_as_f32(out: &mut Vec<f32>, page: DecodingResult) {
    match page {
        DecodingResult::U8(v) => out.extend(v.into_iter().map(f32::from)),
        DecodingResult::U16(v) => out.extend(v.into_iter().map(f32::from)),
        DecodingResult::U32(v) => out.extend(v.into_iter().map(|x| x as f32)),
        DecodingResult::U64(v) => out.extend(v.into_iter().map(|x| x as f32)),
        DecodingResult::I8(v) => out.extend(v.into_iter().map(f32::from)),
        DecodingResult::I16(v) => out.extend(v.into_iter().map(f32::from)),
        DecodingResult::I32(v) => out.extend(v.into_iter().map(|x| x as f32)),
        DecodingResult::I64(v) => out.extend(v.into_iter().map(|x| x as f32)),
        DecodingResult::F16(v) => out.extend(v.into_iter().map(f32::from)),
        DecodingResult::F32(v) => out.extend(v),
        DecodingResult::F64(v) => out.extend(v.into_iter().map(|x| x as f32)),
    }
}

/// The value of `key=value` on its own line of an ImageJ description.
fn imagej_field<'a>(description: &'a str, key: &str) -> Option<&'a str> {
    description.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then_some(v.trim())
    })
}

/// Pixel size in Å from an ImageJ description's unit and the XResolution (pixels per unit).
fn imagej_pixel_size(description: &str, x_resolution: Option<f64>) -> Option<f32> {
    let unit = imagej_field(description, "unit")?;
    let angstrom_per_unit = match unit {
        "nm" | "nanometer" | "nanometers" => 10.0,
        "micron" | "microns" | "um" | "µm" | "\\u00B5m" | "micrometer" => 1.0e4,
        "A" | "Å" | "\\u00C5" | "angstrom" | "angstroms" | "Angstrom" => 1.0,
        "mm" => 1.0e7,
        _ => return None,
    };
    let res = x_resolution.filter(|r| r.is_finite() && *r > 0.0)?;
    let ps = (angstrom_per_unit / res) as f32;
    (ps.is_finite() && ps > 0.0).then_some(ps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagej_description_parsing() {
        let d = "ImageJ=1.11a\nimages=36\nslices=36\nunit=nm\nspacing=1.052\n";
        assert_eq!(imagej_field(d, "slices"), Some("36"));
        let ps = imagej_pixel_size(d, Some(4082668531.0 / 4294967295.0)).unwrap();
        assert!((ps - 10.52).abs() < 1e-3, "{ps}");
        assert_eq!(imagej_pixel_size("ImageJ=1.54f\nimages=3", Some(1.0)), None);
        assert_eq!(imagej_pixel_size(d, None), None);
        assert_eq!(imagej_pixel_size("ImageJ=1\nunit=pixel", Some(1.0)), None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(read_bytes(b"II*\0garbage").is_err());
        assert!(read_bytes(b"").is_err());
        assert!(read_bytes(&[0x4D, 0x4D, 0, 0x2A, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
    }

    /// A minimal little-endian TIFF with one grey 8-bit strip of `w × h` declared pixels.
    fn tiny_tiff(w: u32, h: u32, pixels: &[u8]) -> Vec<u8> {
        let entries: [(u16, u16, u32); 9] = [
            (256, 4, w),                   // ImageWidth, LONG
            (257, 4, h),                   // ImageLength
            (258, 3, 8),                   // BitsPerSample, SHORT
            (259, 3, 1),                   // Compression: none
            (262, 3, 1),                   // Photometric: BlackIsZero
            (273, 4, 8 + 2 + 9 * 12 + 4),  // StripOffsets: right after the IFD
            (277, 3, 1),                   // SamplesPerPixel
            (278, 4, h),                   // RowsPerStrip
            (279, 4, w.saturating_mul(h)), // StripByteCounts
        ];
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        b.extend((entries.len() as u16).to_le_bytes());
        for (tag, ty, v) in entries {
            b.extend(tag.to_le_bytes());
            b.extend(ty.to_le_bytes());
            b.extend(1u32.to_le_bytes());
            if ty == 3 {
                b.extend((v as u16).to_le_bytes());
                b.extend([0, 0]);
            } else {
                b.extend(v.to_le_bytes());
            }
        }
        b.extend(0u32.to_le_bytes()); // no next IFD
        b.extend_from_slice(pixels);
        b
    }

    #[test]
    fn tiny_file_declaring_huge_pages_is_refused_before_allocating() {
        let ok = tiny_tiff(3, 2, &[1, 2, 3, 4, 5, 6]);
        let (kind, v) = read_bytes(&ok).unwrap();
        assert_eq!(
            (kind, v.width, v.height, v.depth),
            (ContentKind::Image, 3, 2, 1)
        );
        assert_eq!(v.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let lie = tiny_tiff(40_000, 20_000, &[0; 16]);
        let e = read_bytes(&lie).unwrap_err();
        assert!(e.to_string().contains("declares"), "{e}");
    }
}
