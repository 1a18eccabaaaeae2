//! What views draw volumes from: [`VolumeSource`], served by a loaded [`Volume`], a
//! memory-mapped MRC ([`super::mapped::MappedVolume`]) and an OME-Zarr level
//! ([`super::omezarr::OmeZarrVolume`]) alike.

use std::path::Path;

use crate::image::{Axis, Image, Volume, slab_from_rows};

use super::IoError;

/// A volume that views draw from, whether it is held in memory or read on demand.
///
/// Shape: `depth` sections (z) × `height` rows (y) × `width` columns (x), x fastest, as
/// [`Volume`]. Images come back as [`Volume::slab`] gives them (XY: width × height; XZ:
/// width × depth, rows = z; YZ: depth × height, columns = z).
pub trait VolumeSource: Send + Sync + std::fmt::Debug {
    /// (width, height, depth) in voxels.
    fn shape(&self) -> (usize, usize, usize);

    /// Voxel size in Å, if known.
    fn pixel_size_angstrom(&self) -> Option<f32>;

    /// Fills `out` with the voxels (x0..x0 + out.len(), y, z). The caller keeps the run
    /// inside the volume (panics otherwise, like slice indexing).
    fn read_row(&self, z: usize, y: usize, x0: usize, out: &mut [f32]);

    /// The section perpendicular to `axis` at `index` averaged over `thickness` sections, as
    /// [`Volume::slab`] (index clamped, thickness 0 taken as 1), reading only those voxels.
    fn slab(&self, axis: Axis, index: usize, thickness: usize) -> Image {
        slab_from_rows(
            self.shape(),
            self.pixel_size_angstrom(),
            axis,
            index,
            thickness,
            |z, y, x0, out| self.read_row(z, y, x0, out),
        )
    }

    /// XY section `z` (clamped into the volume).
    fn section(&self, z: usize) -> Image {
        self.slab(Axis::Z, z, 1)
    }

    /// The sub-block of `size` = (w, h, d) voxels from corner `origin` = (x0, y0, z0), as a
    /// [`Volume`] (z-major, x fastest).
    ///
    /// # Errors
    /// [`IoError::Invalid`] when the block is empty or leaves the volume (path `<volume>`).
    fn block(
        &self,
        origin: (usize, usize, usize),
        size: (usize, usize, usize),
    ) -> Result<Volume, IoError> {
        let (x0, y0, z0) = origin;
        let (w, h, d) = size;
        let (vw, vh, vd) = self.shape();
        let inside =
            |o: usize, n: usize, len: usize| n > 0 && o.checked_add(n).is_some_and(|e| e <= len);
        if !(inside(x0, w, vw) && inside(y0, h, vh) && inside(z0, d, vd)) {
            return Err(IoError::invalid(
                Path::new("<volume>"),
                format!(
                    "block of {w}×{h}×{d} at ({x0}, {y0}, {z0}) is empty or leaves the {vw}×{vh}×{vd} volume"
                ),
            ));
        }
        let mut data = vec![0.0f32; w * h * d];
        for (i, row) in data.chunks_exact_mut(w).enumerate() {
            let (y, z) = (y0 + i % h, z0 + i / h);
            self.read_row(z, y, x0, row);
        }
        Ok(Volume {
            width: w,
            height: h,
            depth: d,
            data,
            pixel_size_angstrom: self.pixel_size_angstrom(),
        })
    }

    /// The whole volume in memory (for whole-volume work such as 3D denoising).
    ///
    /// # Errors
    /// As [`VolumeSource::block`] (never for a non-empty volume).
    fn to_volume(&self) -> Result<Volume, IoError> {
        self.block((0, 0, 0), self.shape())
    }

    /// Median and robust σ (1.4826 × median absolute deviation) from a sample of about
    /// `max_values` voxels: whole rows, evenly spaced, of up to 16 evenly spaced XY sections
    /// (at least one row per section), for a contrast that holds across the volume without
    /// reading all of it.
    /// `(0, 0)` for an empty volume.
    fn robust_sample_stats(&self, max_values: usize) -> (f32, f32) {
        robust_sample(self, max_values)
    }

    /// Contrast statistics for every section of this volume (median, robust σ), when they
    /// should come from the whole volume rather than from each section: `None` for a loaded
    /// volume (each section's own statistics are cheap), [`VolumeSource::robust_sample_stats`]
    /// of 10⁶ voxels, computed once, for a mapped one.
    fn contrast_stats(&self) -> Option<(f32, f32)> {
        None
    }

    /// Whether the voxels are read from a file on demand (memory-mapped MRC, OME-Zarr chunks).
    fn is_mapped(&self) -> bool {
        false
    }

    /// The first read that failed since the last call (e.g. an OME-Zarr chunk that could not
    /// be decoded; its voxels read as NaN), taken so that the next view reports its own;
    /// `None` when every read succeeded or reads cannot fail.
    fn take_read_error(&self) -> Option<String> {
        None
    }

    /// What the source is, when more than its file says (e.g. "OME-Zarr level 1 of 3 …").
    fn describe(&self) -> Option<String> {
        None
    }
}

/// [`VolumeSource::robust_sample_stats`] of any source.
fn robust_sample<S: VolumeSource + ?Sized>(this: &S, max_values: usize) -> (f32, f32) {
    let (w, h, d) = this.shape();
    if w * h * d == 0 {
        return (0.0, 0.0);
    }
    // Whole rows (contiguous in the file), evenly spaced in y, of evenly spaced sections.
    let sections = d.min(16);
    let rows = (max_values / sections).div_ceil(w).clamp(1, h);
    let mut values = Vec::with_capacity(sections * rows * w);
    let mut row = vec![0.0f32; w];
    for s in 0..sections {
        let z = (2 * s + 1) * d / (2 * sections);
        for r in 0..rows {
            let y = (2 * r + 1) * h / (2 * rows);
            this.read_row(z, y, 0, &mut row);
            values.extend(row.iter().copied().filter(|v| v.is_finite()));
        }
    }
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let median = |v: &mut Vec<f32>| {
        let m = v.len() / 2;
        *v.select_nth_unstable_by(m, f32::total_cmp).1
    };
    let med = median(&mut values);
    let mut dev: Vec<f32> = values.iter().map(|v| (v - med).abs()).collect();
    (med, 1.4826 * median(&mut dev))
}

impl VolumeSource for Volume {
    fn shape(&self) -> (usize, usize, usize) {
        (self.width, self.height, self.depth)
    }

    fn pixel_size_angstrom(&self) -> Option<f32> {
        self.pixel_size_angstrom
    }

    fn read_row(&self, z: usize, y: usize, x0: usize, out: &mut [f32]) {
        let start = (z * self.height + y) * self.width + x0;
        out.copy_from_slice(&self.data[start..start + out.len()]);
    }

    fn slab(&self, axis: Axis, index: usize, thickness: usize) -> Image {
        Volume::slab(self, axis, index, thickness)
    }
}
