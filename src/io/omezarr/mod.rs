//! OME-Zarr volumes, opened lazily: OME-NGFF 0.4 on Zarr v2 (how the CZ cryoET Data Portal
//! serves tomograms: `TS_026.zarr/0`, `/1`, `/2`, Blosc-compressed chunks) and 0.5 on Zarr v3.
//! The chunks are read and decoded by the `zarrs` crate; this module reads the `multiscales`
//! metadata, picks a level and serves it as a [`VolumeSource`], so a view decodes only the
//! chunks it shows, as the memory-mapped MRC path does.
//!
//! Axes: the last three axes are z, y, x (a 2D image: y, x); axes before them (time,
//! channel) must have one element. Voxel size: each level's `scale` transformation (times
//! the multiscale's own, when given) in the axes' unit (`angstrom`, `nanometer`,
//! `micrometer`…) converted to Å; unknown without a unit. Values: int8/16/32, uint8/16/32,
//! float16/32/64, converted to `f32`; chunks never written read as the array's fill value.
//!
//! Which level: [`open_level`] opens the one asked for; [`open_for_view`] the finest whose
//! XY section is at most [`view_max_side`] pixels a side (4096 unless
//! `CRYOLENS_ZARR_MAX_SIDE` says otherwise), what a view can show; a path that names a level
//! itself (`TS_026.zarr/0`) opens that level.

mod metadata;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use zarrs::array::{Array, data_type};
use zarrs::filesystem::FilesystemStore;

use crate::image::Volume;
use crate::io::source::VolumeSource;
use crate::io::{ContentKind, IoError};
pub use metadata::{Level, Multiscales, is_ome_zarr, read_multiscales};
use metadata::{level_of, open_array, open_store};

/// Largest XY side (pixels) of the level [`open_for_view`] picks by default.
pub const DEFAULT_VIEW_MAX_SIDE: usize = 4096;

/// Environment variable overriding [`DEFAULT_VIEW_MAX_SIDE`].
pub const VIEW_MAX_SIDE_ENV: &str = "CRYOLENS_ZARR_MAX_SIDE";

/// Decoded chunks kept per open volume, in bytes of `f32` (a layer of the portal's 256³
/// chunks across a 1k tomogram is 192 MiB).
const CHUNK_CACHE_BYTES: usize = 512 << 20;

/// The largest XY side [`open_for_view`] picks: `CRYOLENS_ZARR_MAX_SIDE` when set to a
/// positive whole number, else [`DEFAULT_VIEW_MAX_SIDE`].
pub fn view_max_side() -> usize {
    std::env::var(VIEW_MAX_SIDE_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&v: &usize| v > 0)
        .unwrap_or(DEFAULT_VIEW_MAX_SIDE)
}

/// Opens level `level` (an index into [`Multiscales::levels`]) of the store at `root`.
///
/// # Errors
/// As [`read_multiscales`]; [`IoError::Invalid`] for a level the store does not have or a data
/// type we do not read.
pub fn open_level(root: &Path, level: usize) -> Result<OmeZarrVolume, IoError> {
    let ms = read_multiscales(root)?;
    let n = ms.levels.len();
    if level >= n {
        return Err(IoError::invalid(
            root,
            format!("no level {level}: the store has {n} (0 to {})", n - 1),
        ));
    }
    OmeZarrVolume::new(ms, level)
}

/// Opens `path` for viewing: a level folder (`store.zarr/1`) as that level; a store's root
/// as its finest level whose XY section is at most `max_side` pixels a side (its coarsest
/// when none is).
///
/// # Errors
/// As [`open_level`].
pub fn open_for_view(path: &Path, max_side: usize) -> Result<OmeZarrVolume, IoError> {
    if let Some((root, level)) = level_of(path) {
        return open_level(&root, level);
    }
    let ms = read_multiscales(path)?;
    let fits = |l: &Level| l.shape.0.max(l.shape.1) <= max_side;
    let level = ms
        .levels
        .iter()
        .position(fits)
        .unwrap_or(ms.levels.len() - 1);
    OmeZarrVolume::new(ms, level)
}

/// Reads `path` whole (a level folder as that level, a store's root as its finest level).
///
/// # Errors
/// As [`open_level`]; [`IoError::Invalid`] when the level does not fit in memory or a chunk
/// cannot be decoded.
pub fn read(path: &Path) -> Result<(ContentKind, Volume), IoError> {
    let v = match level_of(path) {
        Some((root, level)) => open_level(&root, level)?,
        None => open_level(path, 0)?,
    };
    let (w, h, d) = v.shape();
    crate::io::limits::check_fits(path, "reading this OME-Zarr level", (w * h * d * 4) as u64)?;
    let volume = v.to_volume()?;
    if let Some(e) = v.take_read_error() {
        return Err(IoError::invalid(path, e));
    }
    Ok((v.kind(), volume))
}

/// A level of an OME-Zarr store, decoded chunk by chunk where a view reads it.
///
/// Shape and axis order as [`Volume`] (z-major, x fastest).
pub struct OmeZarrVolume {
    multiscales: Multiscales,
    level: usize,
    array: Array<FilesystemStore>,
    /// Number of axes of the array (the spatial ones last, any before them of length one).
    dims: usize,
    /// Whether the array has a z axis (else a 2D image).
    has_z: bool,
    /// Chunk shape (x, y, z) in voxels (z 1 for a 2D image).
    chunk: (usize, usize, usize),
    read: ChunkReader,
    cache: Mutex<ChunkCache>,
    /// The first chunk that could not be decoded (its voxels read as NaN).
    error: Mutex<Option<String>>,
    /// [`VolumeSource::contrast_stats`], computed on first use.
    contrast: std::sync::OnceLock<(f32, f32)>,
}

impl std::fmt::Debug for OmeZarrVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmeZarrVolume")
            .field("root", &self.multiscales.root)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl OmeZarrVolume {
    fn new(multiscales: Multiscales, level: usize) -> Result<Self, IoError> {
        let root = multiscales.root.clone();
        let store = open_store(&root)?;
        let path = &multiscales.levels[level].path;
        let array = open_array(&root, &store, path)?;
        let read = chunk_reader(&array).ok_or_else(|| {
            IoError::invalid(
                &root,
                format!(
                    "level {path}: data type {} is not read (int8–32, uint8–32, float16–64 are)",
                    array.data_type()
                ),
            )
        })?;
        let dims = array.shape().len();
        let has_z = multiscales.spatial_axes == 3;
        let zero = vec![0u64; dims];
        let cs = array.chunk_shape(&zero).map_err(|e| {
            IoError::invalid(&root, format!("level {path}: no regular chunk shape ({e})"))
        })?;
        let c = |k: usize| cs[dims - k].get() as usize;
        let chunk = (c(1), c(2), if has_z { c(3) } else { 1 });
        Ok(Self {
            dims,
            has_z,
            chunk,
            multiscales,
            level,
            array,
            read,
            cache: Mutex::new(ChunkCache::default()),
            error: Mutex::new(None),
            contrast: std::sync::OnceLock::new(),
        })
    }

    /// The store's levels.
    pub fn multiscales(&self) -> &Multiscales {
        &self.multiscales
    }

    /// The index of the level served.
    pub fn level(&self) -> usize {
        self.level
    }

    /// A 2D image, or a volume (tomograms and maps are; OME-Zarr has no stacks).
    pub fn kind(&self) -> ContentKind {
        if self.shape().2 > 1 {
            ContentKind::Volume
        } else {
            ContentKind::Image
        }
    }

    /// The chunk holding voxel (x, y, z) (leading axes at 0), the voxel's offset in the
    /// decoded chunk, and how many voxels of its row the chunk holds from x on.
    fn locate(&self, x: usize, y: usize, z: usize) -> (Vec<u64>, usize, usize) {
        let (cx, cy, cz) = self.chunk;
        let mut index = vec![0u64; self.dims];
        if self.has_z {
            index[self.dims - 3] = (z / cz) as u64;
        }
        index[self.dims - 2] = (y / cy) as u64;
        index[self.dims - 1] = (x / cx) as u64;
        // Leading axes have one element, so their offset is 0 whatever their chunk length.
        let offset = ((z % cz) * cy + y % cy) * cx + x % cx;
        (index, offset, cx - x % cx)
    }

    /// The decoded chunk at `index`, from the cache or the store.
    fn chunk(&self, index: &[u64]) -> Result<Arc<Vec<f32>>, String> {
        if let Some(c) = self.cache.lock().map_err(|e| e.to_string())?.get(index) {
            return Ok(c);
        }
        let values = Arc::new((self.read)(&self.array, index).map_err(|e| e.to_string())?);
        self.cache
            .lock()
            .map_err(|e| e.to_string())?
            .insert(index.to_vec(), values.clone());
        Ok(values)
    }

    fn note_error(&self, e: String) {
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
    }
}

impl VolumeSource for OmeZarrVolume {
    fn shape(&self) -> (usize, usize, usize) {
        self.multiscales.levels[self.level].shape
    }

    fn pixel_size_angstrom(&self) -> Option<f32> {
        self.multiscales.levels[self.level].pixel_size_angstrom
    }

    fn read_row(&self, z: usize, y: usize, x0: usize, out: &mut [f32]) {
        let (w, h, d) = self.shape();
        assert!(
            z < d && y < h && x0 + out.len() <= w,
            "row run outside the OME-Zarr level"
        );
        let mut done = 0;
        while done < out.len() {
            let x = x0 + done;
            let (index, offset, left) = self.locate(x, y, z);
            let n = left.min(out.len() - done);
            match self.chunk(&index) {
                Ok(c) if c.len() >= offset + n => {
                    out[done..done + n].copy_from_slice(&c[offset..offset + n])
                }
                Ok(_) => {
                    out[done..done + n].fill(f32::NAN);
                    self.note_error(format!("chunk {index:?} is shorter than its shape"));
                }
                Err(e) => {
                    out[done..done + n].fill(f32::NAN);
                    self.note_error(format!("chunk {index:?}: {e}"));
                }
            }
            done += n;
        }
    }

    fn is_mapped(&self) -> bool {
        true
    }

    fn contrast_stats(&self) -> Option<(f32, f32)> {
        Some(
            *self
                .contrast
                .get_or_init(|| self.robust_sample_stats(1_000_000)),
        )
    }

    fn take_read_error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    fn describe(&self) -> Option<String> {
        let n = self.multiscales.levels.len();
        let (w, h, d) = self.shape();
        let px = self
            .pixel_size_angstrom()
            .map_or_else(String::new, |p| format!(", {p:.2} Å/px"));
        Some(format!(
            "OME-Zarr level {} of {n} ({w}×{h}×{d}{px}, read chunk by chunk)",
            self.level
        ))
    }
}

/// Decodes one chunk of an array of some data type to `f32`.
type ChunkReader =
    fn(&Array<FilesystemStore>, &[u64]) -> Result<Vec<f32>, zarrs::array::ArrayError>;

/// The [`ChunkReader`] for `array`'s data type, `None` for a type we do not read.
fn chunk_reader(array: &Array<FilesystemStore>) -> Option<ChunkReader> {
    macro_rules! reader {
        ($t:ty) => {
            (|a: &Array<FilesystemStore>, i: &[u64]| {
                let v: Vec<$t> = a.retrieve_chunk(i)?;
                Ok(v.into_iter().map(|x| x as f32).collect())
            }) as ChunkReader
        };
    }
    let t = array.data_type();
    let is = |d: zarrs::array::DataType| *t == d;
    Some(if is(data_type::float32()) {
        reader!(f32)
    } else if is(data_type::float64()) {
        reader!(f64)
    } else if is(data_type::int8()) {
        reader!(i8)
    } else if is(data_type::uint8()) {
        reader!(u8)
    } else if is(data_type::int16()) {
        reader!(i16)
    } else if is(data_type::uint16()) {
        reader!(u16)
    } else if is(data_type::int32()) {
        reader!(i32)
    } else if is(data_type::uint32()) {
        reader!(u32)
    } else if is(data_type::float16()) {
        |a: &Array<FilesystemStore>, i: &[u64]| {
            let v: Vec<half::f16> = a.retrieve_chunk(i)?;
            Ok(v.into_iter().map(half::f16::to_f32).collect())
        }
    } else {
        return None;
    })
}

/// Decoded chunks, the oldest dropped first once over [`CHUNK_CACHE_BYTES`].
#[derive(Default)]
struct ChunkCache {
    map: HashMap<Vec<u64>, Arc<Vec<f32>>>,
    order: VecDeque<Vec<u64>>,
    bytes: usize,
}

impl ChunkCache {
    fn get(&self, index: &[u64]) -> Option<Arc<Vec<f32>>> {
        self.map.get(index).cloned()
    }

    fn insert(&mut self, index: Vec<u64>, values: Arc<Vec<f32>>) {
        self.bytes += values.len() * 4;
        if self.map.insert(index.clone(), values).is_none() {
            self.order.push_back(index);
        }
        while self.bytes > CHUNK_CACHE_BYTES && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front()
                && let Some(v) = self.map.remove(&old)
            {
                self.bytes -= v.len() * 4;
            }
        }
    }
}
