//! Reading MRC files: the header is checked first ([`super::header`]), then the voxels are
//! decoded to `f32` by the `mrc` crate, its errors and any panic turned into an [`IoError`].

use std::path::Path;

use super::header::check_header;
use super::{HEADER_BYTES, MrcInfo};
use crate::image::Volume;
use crate::io::{ContentKind, IoError};

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
/// [`IoError::Truncated`], [`IoError::TooLarge`] or [`IoError::Invalid`] for bad headers or
/// data that would not fit in the available memory ([`crate::io::limits::check_fits`]).
pub fn read(path: &Path) -> Result<(ContentKind, Volume), IoError> {
    let info = read_info(path)?;
    check_memory(path, &info)?;
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
    check_memory(path, &info)?;
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

/// Checks that the voxels the header declares (already checked against the file length) fit
/// in memory: the `f32` result plus the file's own data, which the crate reads first.
fn check_memory(path: &Path, info: &MrcInfo) -> Result<(), IoError> {
    let voxels = (info.nx * info.ny * info.nz) as u64;
    let (bytes_per_voxel, _) = super::header::mode_info(info.mode);
    let bytes = voxels * (4 + bytes_per_voxel.unwrap_or(4));
    crate::io::limits::check_fits(path, "reading this MRC file", bytes)
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
