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
    /// A copy reduced by [`REDUCED_FACTOR`] per axis for drawing zoomed out (large images
    /// only, see [`reduced`]).
    pub reduced: Option<Image>,
}

/// Reduction of [`ViewImage::reduced`] per axis.
pub const REDUCED_FACTOR: usize = 4;

/// Images with a side at least this long get a reduced copy.
const REDUCED_MIN_SIDE: usize = 2048;

/// The copy of `image` the viewer draws when each screen pixel covers at least
/// [`REDUCED_FACTOR`] image pixels: per 4 × 4 block, the mean of its central 2 × 2 pixels,
/// which is what bilinear sampling of the full image at the block's centre returns, so the
/// zoomed-out view looks as before while the GPU reads a texture 16× smaller (on software
/// Vulkan a 4k micrograph's frame took 110–200 ms against 65–75 ms for a 1k one;
/// `cryolens bench --what gui`). `None` below [`REDUCED_MIN_SIDE`].
pub fn reduced(image: &Image) -> Option<Image> {
    let f = REDUCED_FACTOR;
    let (w, h) = (image.width / f, image.height / f);
    if image.width.max(image.height) < REDUCED_MIN_SIDE || w == 0 || h == 0 {
        return None;
    }
    let mut out = Image::zeros(w, h);
    for y in 0..h {
        let (r0, r1) = ((y * f + 1) * image.width, (y * f + 2) * image.width);
        for x in 0..w {
            let c = x * f + 1;
            let d = &image.data;
            out.data[y * w + x] = 0.25 * (d[r0 + c] + d[r0 + c + 1] + d[r1 + c] + d[r1 + c + 1]);
        }
    }
    Some(out)
}

impl ViewImage {
    /// Computes statistics and histogram of `image` (call from a worker, not the UI thread).
    pub fn new(image: Image) -> Self {
        let stats = robust_stats(&image);
        let histogram = Histogram::of(&image.data, &stats);
        let topaz_window = crate::analysis::section::topaz_display_window(&image);
        let reduced = reduced(&image);
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
