//! Memory-mapped MRC volumes: a multi-GB tomogram opens without being read whole, and each
//! view reads only the voxels it shows (an XY section, a slab, an XZ/YZ orthosection, a
//! sub-block).
//!
//! The header is checked by [`super::mrc::read_info`] against the file length *before* the
//! file is mapped, and the mapping's length is checked again, so a truncated file or a header
//! that lies is an [`IoError`], never a panic or a SIGBUS from reading past the end of the
//! file. (A file truncated by another program *while* it is mapped can still fault; that is
//! the nature of memory maps.)
//!
//! Values are decoded on demand to `f32` by the same rules as [`super::mrc::read`]: modes 0
//! (int8; unsigned when the IMOD stamp says bytes are unsigned), 1 (int16), 2 (float32),
//! 6 (uint16), 12 (float16) and 101 (4-bit packed, rows starting on a byte), little- or
//! big-endian, the extended header skipped by its
//! declared size; so every section, slab and block equals the loaded [`crate::image::Volume`]'s exactly.
//!
//! [`VolumeSource`] (defined in [`super::source`], re-exported here) is what views draw from:
//! a loaded [`crate::image::Volume`], a [`MappedVolume`] and an OME-Zarr level all serve it,
//! and [`open_volume`] picks one by format and file size (threshold [`mmap_min_bytes`]).

use std::path::{Path, PathBuf};

use crate::image::{Axis, Image, slab_from_rows};

use super::mrc::{HEADER_BYTES, MrcInfo};
pub use super::source::VolumeSource;
use super::{ContentKind, IoError};

/// Default size (bytes) from which [`open_volume`] maps an MRC instead of reading it: 512 MiB.
pub const DEFAULT_MMAP_MIN_BYTES: u64 = 512 << 20;

/// Environment variable overriding [`DEFAULT_MMAP_MIN_BYTES`] (a byte count; `0` maps every
/// MRC, which tests use to exercise mapping on small files).
pub const MMAP_MIN_BYTES_ENV: &str = "CRYOLENS_MMAP_MIN_BYTES";

/// The file size (bytes) from which [`open_volume`] maps an MRC: `CRYOLENS_MMAP_MIN_BYTES` when
/// set to a whole number, else [`DEFAULT_MMAP_MIN_BYTES`].
pub fn mmap_min_bytes() -> u64 {
    std::env::var(MMAP_MIN_BYTES_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MMAP_MIN_BYTES)
}

/// How the voxels of a mapped file are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    I8,
    U8,
    I16,
    U16,
    F32,
    F16,
    /// Mode 101: two voxels a byte, the first in the low nibble, each row starting on a byte.
    U4,
}

impl Encoding {
    /// Bytes per voxel, rounded up (a whole byte for [`Encoding::U4`]; see `row_bytes`).
    fn bytes(self) -> usize {
        match self {
            Encoding::I8 | Encoding::U8 | Encoding::U4 => 1,
            Encoding::I16 | Encoding::U16 | Encoding::F16 => 2,
            Encoding::F32 => 4,
        }
    }
}

/// An MRC file mapped into memory, decoded to `f32` only where a view reads it.
///
/// Shape and axis order as [`crate::image::Volume`]; `kind` and `pixel_size_angstrom` as [`super::mrc::read`]
/// decides them.
#[derive(Debug)]
pub struct MappedVolume {
    path: PathBuf,
    map: memmap2::Mmap,
    info: MrcInfo,
    /// Byte offset of voxel (0, 0, 0).
    data_offset: usize,
    encoding: Encoding,
    big_endian: bool,
    /// [`VolumeSource::contrast_stats`], computed on first use.
    contrast: std::sync::OnceLock<(f32, f32)>,
}

impl MappedVolume {
    /// Maps the MRC file at `path` after checking its header against the file length.
    ///
    /// # Errors
    /// Those of [`super::mrc::read_info`] (not an MRC, bad dimensions, unsupported mode,
    /// truncated file or lying header, too many voxels), [`IoError::Os`] when the file cannot
    /// be opened or mapped, and [`IoError::Truncated`] when the file shrank between the header
    /// check and the mapping.
    pub fn open(path: &Path) -> Result<Self, IoError> {
        let info = super::mrc::read_info(path)?;
        let file = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
        // SAFETY: the map is only read, and its length is checked against the header below;
        // the file being changed by another process while mapped is outside our control (as
        // for any reader of a file that is being rewritten).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| IoError::os(path, e))?;
        let head: &[u8; HEADER_BYTES] = map
            .get(..HEADER_BYTES)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| IoError::Truncated {
                path: path.to_path_buf(),
                expected: HEADER_BYTES as u64,
                actual: map.len() as u64,
            })?;
        // Orthosections touch one run per row all over the file: without read-ahead they
        // read only the pages they need (XY slabs ask for theirs explicitly, see `slab`).
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        let (header, _) = ::mrc::Header::decode_from_bytes_with_info(head);
        let big_endian = header.detect_endian() == ::mrc::FileEndian::BigEndian;
        let encoding = match info.mode {
            0 if header.detect_imod().is_some_and(|i| !i.bytes_are_signed) => Encoding::U8,
            0 => Encoding::I8,
            1 => Encoding::I16,
            2 => Encoding::F32,
            6 => Encoding::U16,
            12 => Encoding::F16,
            101 => Encoding::U4,
            mode => {
                return Err(IoError::UnsupportedMode {
                    path: path.to_path_buf(),
                    mode,
                    what: "not mappable",
                });
            }
        };
        let data_offset = HEADER_BYTES + info.nsymbt;
        let expected = data_offset as u64
            + super::mrc::data_bytes(
                info.mode,
                encoding.bytes() as u64,
                info.nx as u64,
                info.ny as u64,
                info.nz as u64,
            );
        if (map.len() as u64) < expected {
            return Err(IoError::Truncated {
                path: path.to_path_buf(),
                expected,
                actual: map.len() as u64,
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            map,
            info,
            data_offset,
            encoding,
            big_endian,
            contrast: std::sync::OnceLock::new(),
        })
    }

    /// The checked header facts (shape, mode, kind, pixel size).
    pub fn info(&self) -> &MrcInfo {
        &self.info
    }

    /// Image, stack or volume, as [`super::mrc::read`] decides.
    pub fn kind(&self) -> ContentKind {
        self.info.kind
    }

    /// The mapped file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the mapped file in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.map.len() as u64
    }

    /// Decodes `out.len()` voxels starting at voxel `first` (storage order).
    fn decode(&self, first: usize, out: &mut [f32]) {
        if self.encoding == Encoding::U4 {
            return self.decode_packed(first, out);
        }
        let b = self.encoding.bytes();
        let start = self.data_offset + first * b;
        let bytes = &self.map[start..start + out.len() * b];
        let be = self.big_endian;
        match self.encoding {
            Encoding::I8 => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &v)| *o = f32::from(v as i8)),
            Encoding::U8 => out
                .iter_mut()
                .zip(bytes)
                .for_each(|(o, &v)| *o = f32::from(v)),
            Encoding::I16 => decode_chunks(bytes, out, |c: [u8; 2]| {
                f32::from(if be {
                    i16::from_be_bytes(c)
                } else {
                    i16::from_le_bytes(c)
                })
            }),
            Encoding::U16 => decode_chunks(bytes, out, |c: [u8; 2]| {
                f32::from(if be {
                    u16::from_be_bytes(c)
                } else {
                    u16::from_le_bytes(c)
                })
            }),
            Encoding::F16 => decode_chunks(bytes, out, |c: [u8; 2]| {
                half::f16::from_bits(if be {
                    u16::from_be_bytes(c)
                } else {
                    u16::from_le_bytes(c)
                })
                .to_f32()
            }),
            Encoding::F32 => decode_chunks(bytes, out, |c: [u8; 4]| {
                if be {
                    f32::from_be_bytes(c)
                } else {
                    f32::from_le_bytes(c)
                }
            }),
            Encoding::U4 => unreachable!("decoded by decode_packed"),
        }
    }

    /// [`Self::decode`] for mode 101: voxel x of row r sits in byte `r · ceil(nx / 2) + x / 2`,
    /// low nibble for even x.
    fn decode_packed(&self, first: usize, out: &mut [f32]) {
        let nx = self.info.nx;
        let row_bytes = nx.div_ceil(2);
        for (i, o) in out.iter_mut().enumerate() {
            let (row, x) = ((first + i) / nx, (first + i) % nx);
            let byte = self.map[self.data_offset + row * row_bytes + x / 2];
            *o = f32::from(if x % 2 == 0 { byte & 0x0f } else { byte >> 4 });
        }
    }
}

/// Decodes fixed-size little chunks of `bytes` into `out`.
fn decode_chunks<const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
        *o = f(c.try_into().expect("chunks_exact gives N bytes"));
    }
}

impl VolumeSource for MappedVolume {
    fn shape(&self) -> (usize, usize, usize) {
        (self.info.nx, self.info.ny, self.info.nz)
    }

    fn pixel_size_angstrom(&self) -> Option<f32> {
        self.info.pixel_size_angstrom
    }

    fn read_row(&self, z: usize, y: usize, x0: usize, out: &mut [f32]) {
        let (w, h, d) = self.shape();
        assert!(
            z < d && y < h && x0 + out.len() <= w,
            "row run outside the mapped volume"
        );
        self.decode((z * h + y) * w + x0, out);
    }

    fn contrast_stats(&self) -> Option<(f32, f32)> {
        Some(
            *self
                .contrast
                .get_or_init(|| self.robust_sample_stats(1_000_000)),
        )
    }

    fn is_mapped(&self) -> bool {
        true
    }

    fn slab(&self, axis: Axis, index: usize, thickness: usize) -> Image {
        let (w, h, d) = self.shape();
        if axis == Axis::Z && d > 0 {
            // An XY slab is contiguous in the file: ask for all of it at once.
            let t = thickness.max(1);
            let index = index.min(d - 1);
            let first = index.saturating_sub((t - 1) / 2);
            let last = (index + t / 2 + 1).min(d);
            let b = self.encoding.bytes();
            #[cfg(unix)]
            let _ = self.map.advise_range(
                memmap2::Advice::WillNeed,
                self.data_offset + first * w * h * b,
                (last - first) * w * h * b,
            );
        }
        slab_from_rows(
            (w, h, d),
            self.pixel_size_angstrom(),
            axis,
            index,
            thickness,
            |z, y, x0, out| self.read_row(z, y, x0, out),
        )
    }
}

/// Opens a file for viewing: an MRC of at least [`mmap_min_bytes`] bytes is mapped
/// ([`MappedVolume`]); an OME-Zarr store is read chunk by chunk at the level that fits a view
/// ([`super::omezarr::open_for_view`]); anything smaller, and every TIFF, is read whole by
/// [`super::read`].
///
/// # Errors
/// Those of [`super::read`], [`MappedVolume::open`] and [`super::omezarr::open_for_view`].
pub fn open_volume(
    path: &Path,
) -> Result<(ContentKind, std::sync::Arc<dyn VolumeSource>), IoError> {
    if super::omezarr::is_ome_zarr(path) {
        let v = super::omezarr::open_for_view(path, super::omezarr::view_max_side())?;
        return Ok((v.kind(), std::sync::Arc::new(v)));
    }
    let len = std::fs::metadata(path)
        .map_err(|e| IoError::os(path, e))?
        .len();
    if len >= mmap_min_bytes() && super::sniff_is_mrc(path)? {
        let m = MappedVolume::open(path)?;
        return Ok((m.kind(), std::sync::Arc::new(m)));
    }
    let (kind, v) = super::read(path)?;
    Ok((kind, std::sync::Arc::new(v)))
}
