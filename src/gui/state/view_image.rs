//! An image ready to show: its values with the display statistics and histogram computed on
//! the worker that made it (never on the UI thread). Plain data: the viewer uploads it, the
//! contrast panel draws its histogram.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::image::{Image, Stats};

static NEXT_IMAGE_ID: AtomicU64 = AtomicU64::new(1);

/// An image ready to be shown: the values plus what the UI needs about them (statistics,
/// histogram), computed on the worker thread that produced the image.
#[derive(Debug)]
pub struct ViewImage {
    /// Unique id (keys the GPU textures).
    pub id: u64,
    /// The values.
    pub image: Image,
    /// Display statistics: `mean` is the median and `std` the robust σ (1.4826 × median
    /// absolute deviation), so that ice contamination, carbon or hot pixels do not flatten
    /// the contrast of the particles; `min` and `max` are the true extremes.
    pub stats: Stats,
    /// Value histogram around the mean, for the contrast panel.
    pub histogram: Histogram,
    /// Topaz's display window (black, white) in image units: the 16× low-pass copy's mean ±
    /// 4σ ([`crate::analysis::section::topaz_display_window`]), for the contrast preset.
    pub topaz_window: (f32, f32),
    /// For a preview ([`ViewImage::preview`]): the size of the micrograph `image` is shown
    /// over (`image` is a binned copy, stretched to it).
    pub shown_over: Option<(usize, usize)>,
    /// Box-binned copies for drawing zoomed out, 2×, 4×, 8×, … per axis (images with a
    /// side of at least 1024 pixels only, see [`reduced_levels`]).
    pub reduced: Vec<Image>,
}

/// Images with a side at least this long get reduced copies.
const REDUCED_MIN_SIDE: usize = 1024;

/// Levels stop once the longer side is below this.
const REDUCED_MIN_LEVEL_SIDE: usize = 256;

/// The copies of `image` the viewer draws when zoomed out: level `k` (from 1) is the mean of
/// each 2^k × 2^k block (an odd last row or column of the level before is dropped), down to a
/// longer side of [`REDUCED_MIN_LEVEL_SIDE`]. The viewer draws the coarsest level whose
/// pixels are no larger than a screen pixel and averages the one or two texels per axis
/// each screen pixel covers there, so every frame reads at most 4 texels per pixel whatever
/// the zoom (a 4k micrograph on 1920×1080 read 16 from the full image; on software Vulkan
/// the frame took 110–200 ms against 65–75 ms for a 1k micrograph; `cryolens bench --what
/// gui`). Empty below [`REDUCED_MIN_SIDE`].
pub fn reduced_levels(image: &Image) -> Vec<Image> {
    let mut levels: Vec<Image> = Vec::new();
    if image.width.max(image.height) < REDUCED_MIN_SIDE {
        return levels;
    }
    loop {
        let prev = levels.last().unwrap_or(image);
        let (w, h) = (prev.width / 2, prev.height / 2);
        if w == 0 || h == 0 || prev.width.max(prev.height) < 2 * REDUCED_MIN_LEVEL_SIDE {
            return levels;
        }
        let mut out = Image::zeros(w, h);
        let d = &prev.data;
        for (y, row) in out.data.chunks_exact_mut(w).enumerate() {
            let (r0, r1) = (2 * y * prev.width, (2 * y + 1) * prev.width);
            for (x, v) in row.iter_mut().enumerate() {
                let c = 2 * x;
                *v = 0.25 * (d[r0 + c] + d[r0 + c + 1] + d[r1 + c] + d[r1 + c + 1]);
            }
        }
        levels.push(out);
    }
}

impl ViewImage {
    /// Computes statistics and histogram of `image` (call from a worker, not the UI thread).
    pub fn new(image: Image) -> Self {
        let stats = robust_stats(&image);
        let histogram = Histogram::of(&image.data, &stats);
        let topaz_window = crate::analysis::section::topaz_display_window(&image);
        let reduced = reduced_levels(&image);
        Self {
            id: NEXT_IMAGE_ID.fetch_add(1, Ordering::Relaxed),
            image,
            stats,
            histogram,
            topaz_window,
            shown_over: None,
            reduced,
        }
    }

    /// A binned copy of a `width × height` micrograph's view, shown stretched over it (the
    /// denoised preview, [`crate::denoise::Denoiser2d::preview`]); statistics are the copy's.
    pub fn preview(image: Image, width: usize, height: usize) -> Self {
        Self {
            shown_over: Some((width, height)),
            ..Self::new(image)
        }
    }

    /// The size the image is shown at, in micrograph pixels (width, height): its own, or the
    /// micrograph's for a preview.
    pub fn display_size(&self) -> (usize, usize) {
        self.shown_over
            .unwrap_or((self.image.width, self.image.height))
    }

    /// The binning of a preview (micrograph pixels per image pixel), `None` for a full view.
    pub fn preview_binning(&self) -> Option<f32> {
        self.shown_over
            .map(|(w, _)| w as f32 / self.image.width.max(1) as f32)
    }

    /// The value at pixel `(x, y)`, if inside.
    pub fn value_at(&self, x: usize, y: usize) -> Option<f32> {
        let (dw, dh) = self.display_size();
        if x >= dw || y >= dh {
            return None;
        }
        // A preview's pixel under micrograph pixel (x, y).
        let (x, y) = (x * self.image.width / dw, y * self.image.height / dh);
        (x < self.image.width && y < self.image.height).then(|| self.image.get(x, y))
    }
}

/// Median and robust σ (1.4826 × MAD) of `image`, from at most ≈ 1 M evenly strided samples,
/// with the true min and max; falls back to mean and σ when the MAD is 0 (e.g. mostly
/// constant images).
pub fn robust_stats(image: &Image) -> Stats {
    let full = image.stats();
    let stride = (image.data.len() / 1_000_000).max(1);
    let mut v: Vec<f32> = image
        .data
        .iter()
        .step_by(stride)
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() {
        return full;
    }
    let mid = v.len() / 2;
    let median = *v.select_nth_unstable_by(mid, f32::total_cmp).1;
    for x in &mut v {
        *x = (*x - median).abs();
    }
    let mad = *v.select_nth_unstable_by(mid, f32::total_cmp).1;
    let sigma = 1.4826 * f64::from(mad);
    if !(sigma > 0.0 && sigma.is_finite()) {
        return full;
    }
    Stats {
        mean: f64::from(median),
        std: sigma,
        ..full
    }
}

/// Counts of values in equal bins over `[mean − RANGE·σ, mean + RANGE·σ]` (clamped to the
/// data's range); values outside fall in the end bins.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Left edge of the first bin, in σ from the mean.
    pub from_sigma: f32,
    /// Right edge of the last bin, in σ from the mean.
    pub to_sigma: f32,
    /// Counts per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// Half-width of the histogram range in σ.
    pub const RANGE: f32 = 6.0;
    /// Number of bins.
    pub const BINS: usize = 96;

    /// Histogram of `values` whose statistics are `stats`.
    pub fn of(values: &[f32], stats: &Stats) -> Self {
        let std = if stats.std > 0.0 && stats.std.is_finite() {
            stats.std
        } else {
            1.0
        };
        let lo_data = (stats.min as f64 - stats.mean) / std;
        let hi_data = (stats.max as f64 - stats.mean) / std;
        let from = (-Self::RANGE as f64).max(lo_data);
        let to = (Self::RANGE as f64).min(hi_data).max(from + 1e-3);
        let mut counts = vec![0u64; Self::BINS];
        let scale = Self::BINS as f64 / (to - from);
        for &v in values {
            if !v.is_finite() {
                continue;
            }
            let s = (v as f64 - stats.mean) / std;
            let bin = ((s - from) * scale)
                .floor()
                .clamp(0.0, (Self::BINS - 1) as f64) as usize;
            counts[bin] += 1;
        }
        Self {
            from_sigma: from as f32,
            to_sigma: to as f32,
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduced_levels_are_block_means_down_to_the_minimum_side() {
        // Values with known block means: v(x, y) = x + 1000 y is linear, so the mean of a
        // 2^k block is its centre's value.
        let (w, h) = (1100, 1030);
        let data = (0..w * h)
            .map(|i| ((i % w) + 1000 * (i / w)) as f32)
            .collect();
        let image = Image::new(w, h, data).unwrap();
        let levels = reduced_levels(&image);
        let sizes: Vec<(usize, usize)> = levels.iter().map(|l| (l.width, l.height)).collect();
        assert_eq!(sizes, vec![(550, 515), (275, 257)]);
        for (k, level) in levels.iter().enumerate() {
            let f = (2usize << k) as f32;
            for &(x, y) in &[(0, 0), (level.width - 1, level.height - 1), (17, 200)] {
                let centre_x = f * x as f32 + 0.5 * (f - 1.0);
                let centre_y = f * y as f32 + 0.5 * (f - 1.0);
                let want = centre_x + 1000.0 * centre_y;
                let got = level.data[y * level.width + x];
                assert!(
                    (got - want).abs() <= want * 1e-6,
                    "level {k} ({x}, {y}): {got} vs {want}"
                );
            }
        }
        assert!(reduced_levels(&Image::zeros(1023, 600)).is_empty());
    }
}
