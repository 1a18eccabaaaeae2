//! MRC (MRC2014, <https://www.ccpem.ac.uk/mrc_format/mrc2014.php>) read and write.
//!
//! Reading goes through the `mrc` crate, guarded by our own checks of the 1024-byte header
//! against the file length *before* anything is read, so that a truncated file, a header that
//! lies, zero/negative dimensions or an unknown mode give an [`IoError`](super::IoError) and never a panic or
//! an absurd allocation (the crate call is also wrapped in `catch_unwind` as a last resort).
//!
//! Modes read: 0 (int8; unsigned when an IMOD header says so), 1 (int16), 2 (float32),
//! 6 (uint16), 12 (float16) and 101 (4-bit packed, two voxels a byte with the first in the
//! low nibble, each row starting on a byte: SerialEM's counting-mode frames), all converted
//! to `f32`. Extended headers (FEI1/FEI2, CCP4, SERI…)
//! are skipped by their declared size (`nsymbt`). Big- and little-endian files are read.
//!
//! Writing is our own little-endian MRC2014 encoder (mode 2 float32, or mode 6 uint16 with
//! [`write_image_u16`]) with correct `dmin/dmax/dmean/rms` (rms = population standard
//! deviation, as `mrcfile` computes it), the pixel size in the cell (`xlen = nx · Å/px`),
//! `NVERSION` 20141 and machine stamp `DD`; the files pass `mrcfile.validate`. Their text labels
//! say where they came from: program and version, model and its checksum, the command
//! ([`crate::io::provenance`], read back with [`read_labels`]).
//!
//! # Files
//! `header` checks and encodes the 1024-byte header, `read` reads voxels through the crate,
//! `write` holds our encoder; the functions are re-exported here (`crate::io::mrc::…`).

mod header;
mod read;
mod write;

#[cfg(test)]
mod tests;

pub(crate) use header::data_bytes;
pub use header::read_labels;
pub use read::{read, read_bytes, read_info};
pub use write::{write_image, write_image_u16, write_volume};

use super::ContentKind;

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
    /// Pixel size in Å/pixel from the cell (`xlen / mx`), `None` when unknown (see [`read()`]).
    pub pixel_size_angstrom: Option<f32>,
    /// The cell's x pixel size (`xlen / mx`) whenever it is positive, including the 1.0 Å/px
    /// that `pixel_size_angstrom` reads as unset: what to compare when another file states a
    /// different size (1 Å against 2 Å is a mismatch, not "unknown against 2 Å").
    pub stated_pixel_size: Option<f32>,
    /// Image, stack or volume (see [`read()`]).
    pub kind: ContentKind,
}
