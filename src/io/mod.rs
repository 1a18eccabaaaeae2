//! Reading and writing image files: MRC (through the `mrc` crate, see [`mrc`]) and TIFF
//! (through the `tiff` crate, see [`tiff`]).
//!
//! Parsing never panics on bad input and never allocates more than the file can actually
//! hold: every header is checked against the file length before any voxel is read, and every
//! failure is an [`IoError`] naming the file and what is wrong with it.
//!
//! Axis order: everything read comes back in the file's storage order, as `mrcfile` and
//! `tifffile` give it in numpy: x (columns) fastest, then y (rows), then z (sections/pages). MRC
//! axis-mapping fields (`mapc/mapr/maps`) are not applied, as in `mrcfile`.

pub mod atomic;
pub mod coords;
pub mod cryosparc;
pub mod limits;
pub mod mapped;
pub mod mrc;
pub mod omezarr;
pub mod png;
pub mod provenance;
pub mod source;
pub mod star;
pub mod tiff;

use std::path::{Path, PathBuf};

use crate::image::{Image, Volume};

/// The file-name suffixes that mark the even and odd frame sums of one micrograph or
/// tomogram, as (even, odd) pairs in the order they are tried, matched at the end of the file
/// stem: MotionCor2's `_EVN`/`_ODD`, then `_even`/`_odd` (RELION, cryoCARE, Warp-style
/// names). The one list used by the analysis (halves beside a micrograph) and by training
/// (pairs in a folder, CTF matching).
pub const EVEN_ODD_SUFFIXES: [(&str, &str); 2] = [("_EVN", "_ODD"), ("_even", "_odd")];

/// The file-name suffix of MotionCor2's dose-weighted full sum (`-SplitSum 1` writes
/// `mic_DW.mrc` with its halves `mic_EVN.mrc` and `mic_ODD.mrc`; Palovcak et al. 2020,
/// supplement S2.1).
pub const DOSE_WEIGHTED_SUFFIX: &str = "_DW";

/// The last component of a path written as text with `/` or `\` separators (the form paths
/// take in STAR files, CSV tables and cryoSPARC tables, whatever the system that wrote them):
/// `J3/mic.mrc` and `C:\data\mic.mrc` give `mic.mrc`.
pub fn file_name_in(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The suffixes of cryoSPARC's Patch Motion Correction outputs (`mic_patch_aligned.mrc`,
/// `mic_patch_aligned_doseweighted.mrc`), longest first.
pub const CRYOSPARC_SUFFIXES: [&str; 2] = ["_patch_aligned_doseweighted", "_patch_aligned"];

/// The name one micrograph's files share: `stem` without one trailing half suffix
/// ([`EVEN_ODD_SUFFIXES`]), [`DOSE_WEIGHTED_SUFFIX`] or cryoSPARC suffix
/// ([`CRYOSPARC_SUFFIXES`]), so `mic_DW`, `mic_EVN`, `mic_ODD`,
/// `mic_patch_aligned_doseweighted` and `mic` all give `mic`. Only one suffix is removed.
pub fn micrograph_base(stem: &str) -> &str {
    EVEN_ODD_SUFFIXES
        .iter()
        .flat_map(|&(even, odd)| [even, odd])
        .chain([DOSE_WEIGHTED_SUFFIX])
        .chain(CRYOSPARC_SUFFIXES)
        .find_map(|suffix| stem.strip_suffix(suffix))
        .unwrap_or(stem)
}

/// Most voxels a single read may produce (2³² voxels = 16 GiB of `f32`). Larger files are
/// refused with [`IoError::TooLarge`] before anything is allocated.
pub const MAX_VOXELS: u64 = 1 << 32;

/// Errors reading or writing image files. Every variant names the file (`<memory>` for
/// in-memory input) and says in words what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// Any other failure, with the file and a human explanation.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system could not open, read or write the file.
    #[error("{path}: {source}")]
    Os {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The content is not in any format we read (neither a plausible MRC header nor TIFF).
    #[error("{path}: not an MRC or TIFF file ({reason})")]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// Why it was not recognised.
        reason: String,
    },
    /// The header declares dimensions that are zero or negative.
    #[error(
        "{path}: invalid dimensions nx={nx}, ny={ny}, nz={nz}: each must be ≥ 1 (the header is damaged: write the file again)"
    )]
    BadDimensions {
        /// The file.
        path: PathBuf,
        /// Columns declared.
        nx: i64,
        /// Rows declared.
        ny: i64,
        /// Sections declared.
        nz: i64,
    },
    /// The MRC data mode is not one we read (we read 0, 1, 2, 6, 12 and 101).
    #[error(
        "{path}: MRC mode {mode} ({what}) is not supported (convert it to mode 0 int8, 1 int16, 2 float32, 6 uint16, 12 float16 or 101 4-bit)"
    )]
    UnsupportedMode {
        /// The file.
        path: PathBuf,
        /// The mode in the header.
        mode: i32,
        /// What that mode is, in words.
        what: &'static str,
    },
    /// The file is shorter than its header says (truncated, or a header that lies).
    #[error(
        "{path}: file is truncated or its header lies: the header needs {expected} bytes but the file has {actual} (the file is incomplete: copy or export it again)"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes the header implies (header + extended header + data).
        expected: u64,
        /// Bytes actually present.
        actual: u64,
    },
    /// The declared size exceeds [`MAX_VOXELS`].
    #[error(
        "{path}: {voxels} voxels declared, more than the {limit} this program reads at once (crop or bin it first)"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Voxels declared.
        voxels: u128,
        /// The limit.
        limit: u64,
    },
    /// A stack or volume was given where a single 2D image is needed.
    #[error(
        "{path}: expected a single 2D image but the file holds a {kind:?} of {width}×{height}×{depth} (x×y×z)"
    )]
    NotAnImage {
        /// The file.
        path: PathBuf,
        /// What it holds.
        kind: ContentKind,
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
        /// Sections.
        depth: usize,
    },
}

impl IoError {
    /// An [`IoError::Invalid`] for `path` with `reason`.
    pub(crate) fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        IoError::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// An [`IoError::Os`] for `path`.
    pub(crate) fn os(path: &Path, source: std::io::Error) -> Self {
        IoError::Os {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// One 2D image (a micrograph).
    Image,
    /// A stack of 2D images (`.mrcs`, MRC ispg 0 with nz > 1, multi-page TIFF without ImageJ
    /// `slices=`).
    Stack,
    /// A 3D volume (tomogram, map; MRC ispg ≠ 0 with nz > 1, ImageJ TIFF with `slices=` > 1).
    Volume,
}

/// File formats told apart by [`read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Mrc,
    Tiff,
}

/// Decides the format from the first bytes (TIFF magic) and the extension. MRC has no magic
/// number at offset 0, so anything that is not TIFF is tried as MRC.
fn sniff(path: &Path, head: &[u8]) -> Format {
    let tiff_magic = head.len() >= 4
        && (head[..4] == [0x49, 0x49, 0x2A, 0x00]
            || head[..4] == [0x4D, 0x4D, 0x00, 0x2A]
            || head[..4] == [0x49, 0x49, 0x2B, 0x00]
            || head[..4] == [0x4D, 0x4D, 0x00, 0x2B]);
    if tiff_magic {
        return Format::Tiff;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match ext.as_deref() {
        // A `.tif` whose magic is wrong is reported by the TIFF reader, which says so clearly.
        Some("tif" | "tiff") => Format::Tiff,
        _ => Format::Mrc,
    }
}

/// Reads any supported file into a volume of sections (`depth` = 1 for a single image).
///
/// The format is told by content (TIFF magic bytes) and extension: TIFF for `.tif .tiff`,
/// otherwise MRC (`.mrc .mrcs .map .rec .st` and anything else with a plausible MRC header).
/// A folder is read as an OME-Zarr store ([`omezarr::read`]: its finest level).
/// Values are converted to `f32`; shape is `depth` (z) × `height` (y) × `width` (x), x fastest,
/// as numpy shows the file (`array[z, y, x]`). The pixel size is in Å when the file states it
/// (see [`mrc::read`] and [`tiff::read`] for the rules), else `None`.
///
/// # Errors
/// [`IoError`] describing why the file cannot be read: missing, not MRC/TIFF, truncated, bad
/// dimensions, unsupported mode or pixel format, too large.
pub fn read(path: &Path) -> Result<(ContentKind, Volume), IoError> {
    if path.is_dir() {
        return read_folder(path);
    }
    let (head, n) = first_bytes(path)?;
    match sniff(path, &head[..n]) {
        Format::Tiff => tiff::read(path),
        Format::Mrc => mrc::read(path),
    }
}

/// A folder given where a file is read: an OME-Zarr store (its finest level, or the level
/// folder named) or a clear error.
fn read_folder(path: &Path) -> Result<(ContentKind, Volume), IoError> {
    if omezarr::is_ome_zarr(path) {
        return omezarr::read(path);
    }
    Err(IoError::invalid(
        path,
        "a folder, not an image file (give an MRC or TIFF file, or an OME-Zarr store's root)",
    ))
}

/// Reads a volume (MRC volume or TIFF stack, see [`read`]) and refuses a single section:
/// `what` names what the caller expects ("map", "tomogram") for the message.
///
/// # Errors
/// Those of [`read`], and [`IoError::Invalid`] naming the file and its shape when it holds
/// one section (a 2D image).
pub fn read_volume(path: &Path, what: &str) -> Result<Volume, IoError> {
    let (_, v) = read(path)?;
    if v.depth < 2 {
        return Err(IoError::Invalid {
            path: path.to_path_buf(),
            reason: format!(
                "a 2D image ({}×{}), not a {what} (give a 3D MRC or a TIFF stack)",
                v.width, v.height
            ),
        });
    }
    Ok(v)
}

/// The pixel size (Å/px) a file states, as [`read`] would return it, `None` when unknown:
/// from the header alone for MRC (no data read), from the whole file for TIFF.
///
/// # Errors
/// As [`read`].
pub fn read_header_pixel_size(path: &Path) -> Result<Option<f32>, IoError> {
    let (head, n) = first_bytes(path)?;
    match sniff(path, &head[..n]) {
        Format::Tiff => Ok(tiff::read(path)?.1.pixel_size_angstrom),
        Format::Mrc => Ok(mrc::read_info(path)?.pixel_size_angstrom),
    }
}

/// The pixel size (Å/px) a file's header states, even where [`read`] takes it as unset (an
/// MRC cell of exactly 1 Å/px, what many writers put when the size is unknown): the value to
/// compare with another file's size. TIFF: as [`read_header_pixel_size`].
///
/// # Errors
/// As [`read`].
pub fn stated_pixel_size(path: &Path) -> Result<Option<f32>, IoError> {
    let (head, n) = first_bytes(path)?;
    match sniff(path, &head[..n]) {
        Format::Tiff => Ok(tiff::read(path)?.1.pixel_size_angstrom),
        Format::Mrc => {
            let info = mrc::read_info(path)?;
            Ok(info.pixel_size_angstrom.or(info.stated_pixel_size))
        }
    }
}

/// Whether [`read`] would read `path` as MRC (not TIFF by magic bytes or extension).
///
/// # Errors
/// [`IoError::Os`] when the file cannot be opened or read.
pub(crate) fn sniff_is_mrc(path: &Path) -> Result<bool, IoError> {
    let (head, n) = first_bytes(path)?;
    Ok(sniff(path, &head[..n]) == Format::Mrc)
}

/// The first (up to) 4 bytes of a file and how many there are.
fn first_bytes(path: &Path) -> Result<([u8; 4], usize), IoError> {
    use std::io::Read;
    let mut head = [0u8; 4];
    let n = {
        let mut f = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
        let mut got = 0;
        loop {
            match f.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(k) => {
                    got += k;
                    if got == head.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(IoError::os(path, e)),
            }
        }
        got
    };
    Ok((head, n))
}

/// Reads a single 2D image (micrograph) from any supported file (see [`read`]).
///
/// A file with one section is returned as an [`Image`] of `height` rows × `width` columns.
///
/// # Errors
/// Those of [`read`], and [`IoError::NotAnImage`] (naming the shape) for a stack or volume
/// with more than one section.
pub fn read_micrograph(path: &Path) -> Result<Image, IoError> {
    let (kind, volume) = read(path)?;
    volume_to_image(path, kind, volume)
}

/// Turns a one-section volume into an image, or reports the shape.
pub(crate) fn volume_to_image(
    path: &Path,
    kind: ContentKind,
    volume: Volume,
) -> Result<Image, IoError> {
    if volume.depth != 1 {
        return Err(IoError::NotAnImage {
            path: path.to_path_buf(),
            kind,
            width: volume.width,
            height: volume.height,
            depth: volume.depth,
        });
    }
    Ok(Image {
        width: volume.width,
        height: volume.height,
        data: volume.data,
        pixel_size_angstrom: volume.pixel_size_angstrom,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_of_paths_written_anywhere() {
        assert_eq!(file_name_in("J3/motioncorrected/mic.mrc"), "mic.mrc");
        assert_eq!(file_name_in("C:\\data\\mic.mrc"), "mic.mrc");
        assert_eq!(file_name_in("mic.mrc"), "mic.mrc");
        assert_eq!(file_name_in("dir/"), "");
    }

    /// MotionCor2's `-SplitSum 1` names: the dose-weighted sum and both halves share a base.
    #[test]
    fn motioncor2_names_share_a_base() {
        for stem in ["mic_DW", "mic_EVN", "mic_ODD", "mic_even", "mic_odd", "mic"] {
            assert_eq!(micrograph_base(stem), "mic", "{stem}");
        }
        // One suffix only, and only at the end.
        assert_eq!(micrograph_base("mic_DW_EVN"), "mic_DW");
        assert_eq!(micrograph_base("mic_EVN_2"), "mic_EVN_2");
    }

    #[test]
    fn sniff_tells_tiff_by_magic_and_extension() {
        assert_eq!(sniff(Path::new("a.mrc"), b"II*\0"), Format::Tiff);
        assert_eq!(sniff(Path::new("a.mrc"), b"MM\0*"), Format::Tiff);
        assert_eq!(sniff(Path::new("a.TIF"), b"\0\0\0\0"), Format::Tiff);
        assert_eq!(sniff(Path::new("a.map"), b"\x10\0\0\0"), Format::Mrc);
        assert_eq!(sniff(Path::new("noext"), b""), Format::Mrc);
    }

    #[test]
    fn missing_file_is_an_os_error() {
        let err = read(Path::new("/nonexistent/definitely/not/here.mrc")).unwrap_err();
        assert!(matches!(err, IoError::Os { .. }), "{err}");
    }
}
