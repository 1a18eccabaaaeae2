//! Crops and batches of 2D training pairs ([`TrainingData`]): the holdout (whole pairs, or
//! the bottom rows of every pair), seeded training batches (a function of `(seed, step)`
//! only: one [`Rng::stream`] per crop, the same rotation/mirror on both halves), fixed
//! validation crops and the preview region.

use std::sync::Arc;

use anyhow::{Result, anyhow, bail};

use super::options::{Batch, DataOptions, Holdout};
use super::pairs::{LoadedPair, PairSource, PairStore, Preprocessor};
use crate::image::Image;
use crate::rng::Rng;

/// One crop position (top-left corner) and transform in a pair.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CropSpec {
    pair: usize,
    x0: usize,
    y0: usize,
    size: usize,
    rot90: u8,
    mirror: bool,
}

/// The data of one training run: sources, the holdout split and the sampling rules.
pub struct TrainingData {
    store: PairStore,
    options: DataOptions,
    holdout: Holdout,
    train_pairs: Vec<usize>,
    val_pairs: Vec<usize>,
    /// (width, height) of every pair, checked at construction.
    shapes: Vec<(usize, usize)>,
    pixel_size_angstrom: Option<f32>,
}

impl TrainingData {
    /// Opens the pairs (each is read once to check its shape), decides the holdout and checks
    /// that crops fit.
    ///
    /// # Errors
    /// No sources; a bad pair (see [`load_pair`](super::load_pair)); a crop larger than the training or
    /// held-out area; batch 0; holdout outside [0, 1).
    pub fn new(sources: Vec<PairSource>, options: DataOptions) -> Result<Self> {
        if sources.is_empty() {
            bail!("no training pairs");
        }
        if options.batch == 0 {
            bail!("batch size must be at least 1");
        }
        if options.crop_px < 8 {
            bail!("crop must be at least 8 px (got {})", options.crop_px);
        }
        if !(0.0..1.0).contains(&options.holdout_fraction) {
            bail!(
                "holdout fraction must be in [0, 1), got {}",
                options.holdout_fraction
            );
        }
        let preprocess = options
            .restore
            .as_ref()
            .map(Preprocessor::new)
            .transpose()?;
        let store = PairStore::new(sources, options.seed, options.cache_pairs)
            .with_preprocessing(preprocess)
            .with_force_sampling(options.force_sampling);
        let n = store.sources().len();
        let mut shapes = Vec::with_capacity(n);
        let mut pixel_size = None;
        for i in 0..n {
            let p = store.get(i)?;
            shapes.push((p.width, p.height));
            if i == 0 {
                pixel_size = p.pixel_size_angstrom;
            }
        }
        let n_val = (n as f64 * options.holdout_fraction).round() as usize;
        let holdout = if options.holdout_fraction == 0.0 {
            Holdout::None
        } else if n >= 2 && n_val >= 1 && n_val < n {
            let mut order: Vec<usize> = (0..n).collect();
            shuffle(&mut order, &mut Rng::stream(options.seed, 0x4841_4C44));
            let mut val: Vec<usize> = order[..n_val].to_vec();
            val.sort_unstable();
            Holdout::Pairs(val)
        } else {
            Holdout::BottomRows {
                fraction: options.holdout_fraction,
            }
        };
        let (train_pairs, val_pairs) = match &holdout {
            Holdout::Pairs(v) => ((0..n).filter(|i| !v.contains(i)).collect(), v.clone()),
            _ => ((0..n).collect(), (0..n).collect()),
        };
        let data = Self {
            store,
            options,
            holdout,
            train_pairs,
            val_pairs,
            shapes,
            pixel_size_angstrom: pixel_size,
        };
        for &i in &data.train_pairs {
            let (w, h) = data.train_area(i);
            if data.options.crop_px > w || data.options.crop_px > h {
                bail!(
                    "crop {} px does not fit the training area of {} ({}×{} px after the holdout); \
                     use a smaller --crop",
                    data.options.crop_px,
                    data.store.sources()[i].name(),
                    w,
                    h
                );
            }
        }
        for &i in &data.val_pairs {
            let (_, _, w, h) = data.val_area(i);
            if w < 8 || h < 8 {
                bail!(
                    "held-out area of {} is only {}×{} px; use a larger --holdout",
                    data.store.sources()[i].name(),
                    w,
                    h
                );
            }
        }
        Ok(data)
    }

    /// The options.
    pub fn options(&self) -> &DataOptions {
        &self.options
    }

    /// The holdout decision.
    pub fn holdout(&self) -> &Holdout {
        &self.holdout
    }

    /// Pair indices used for training.
    pub fn train_pairs(&self) -> &[usize] {
        &self.train_pairs
    }

    /// Pair indices used for validation.
    pub fn val_pairs(&self) -> &[usize] {
        &self.val_pairs
    }

    /// The sources.
    pub fn sources(&self) -> &[PairSource] {
        self.store.sources()
    }

    /// Pixel size of the first pair (Å/px, after restore's binning when preprocessing), if
    /// its header has one.
    pub fn pixel_size_angstrom(&self) -> Option<f32> {
        self.pixel_size_angstrom
    }

    /// Pair `index`, normalised (through the cache).
    ///
    /// # Errors
    /// As [`load_pair`](super::load_pair).
    pub fn pair(&self, index: usize) -> Result<Arc<LoadedPair>> {
        self.store.get(index)
    }

    /// Rows held out at the bottom of pair `i` (0 unless [`Holdout::BottomRows`]).
    fn held_rows(&self, i: usize) -> usize {
        match self.holdout {
            Holdout::BottomRows { fraction } => {
                ((self.shapes[i].1 as f64) * fraction).round() as usize
            }
            _ => 0,
        }
    }

    /// (width, height) of the area training crops come from (top rows).
    fn train_area(&self, i: usize) -> (usize, usize) {
        let (w, h) = self.shapes[i];
        (w, h - self.held_rows(i))
    }

    /// (x0, y0, width, height) of the held-out area of pair `i`.
    pub fn val_area(&self, i: usize) -> (usize, usize, usize, usize) {
        let (w, h) = self.shapes[i];
        match self.holdout {
            Holdout::BottomRows { .. } => {
                let r = self.held_rows(i);
                (0, h - r, w, r)
            }
            _ => (0, 0, w, h),
        }
    }

    /// The crop `c` (global crop counter: step · batch + j) of the training stream. Pairs are
    /// visited in a fresh random order each pass over the training set (one crop per pair per
    /// pass, as Topaz's epochs); position and transform come from the crop's own random
    /// stream.
    fn train_crop(&self, c: u64) -> CropSpec {
        let n = self.train_pairs.len() as u64;
        let cycle = c / n;
        let pos = (c % n) as usize;
        let mut order: Vec<usize> = self.train_pairs.clone();
        shuffle(
            &mut order,
            &mut Rng::stream(self.options.seed, 0x0BDE_0000 + cycle),
        );
        let pair = order[pos];
        let (w, h) = self.train_area(pair);
        let size = self.options.crop_px;
        let mut rng = Rng::stream(self.options.seed, 0x1000_0000_0000 + c);
        let x0 = (rng.uniform() * (w - size + 1) as f64) as usize;
        let y0 = (rng.uniform() * (h - size + 1) as f64) as usize;
        let (rot90, mirror) = if self.options.augment {
            ((rng.next_u64() % 4) as u8, rng.next_u64() & 1 == 1)
        } else {
            (0, false)
        };
        CropSpec {
            pair,
            x0: x0.min(w - size),
            y0: y0.min(h - size),
            size,
            rot90,
            mirror,
        }
    }

    fn cut(&self, specs: &[CropSpec]) -> Result<Batch> {
        let size = specs.first().map(|s| s.size).unwrap_or(0);
        let mut a = Vec::with_capacity(specs.len() * size * size);
        let mut b = Vec::with_capacity(specs.len() * size * size);
        for s in specs {
            let p = self.store.get(s.pair)?;
            for (half, out) in [(&p.a, &mut a), (&p.b, &mut b)] {
                let mut crop =
                    crop_transformed(half, p.width, s.x0, s.y0, s.size, s.rot90, s.mirror);
                if self.options.normalise_patches {
                    zscore(&mut crop);
                }
                out.extend(crop);
            }
        }
        Ok(Batch {
            a,
            b,
            n: specs.len(),
            crop_px: size,
        })
    }

    /// The training batch of `step` (deterministic in `(seed, step)`).
    ///
    /// # Errors
    /// A pair that fails to load.
    pub fn train_batch(&self, step: u64) -> Result<Batch> {
        let bsz = self.options.batch as u64;
        let specs: Vec<CropSpec> = (0..bsz).map(|j| self.train_crop(step * bsz + j)).collect();
        self.cut(&specs)
    }

    /// The fixed validation crops, in batches of at most `batch`: `validation_crops` crops
    /// spread over the held-out pairs (round robin), side min(crop, held-out area), at
    /// positions drawn once from the seed, without augmentation.
    ///
    /// # Errors
    /// A pair that fails to load.
    pub fn validation_batches(&self) -> Result<Vec<Batch>> {
        let count = self.options.validation_crops.max(1);
        let size = self
            .val_pairs
            .iter()
            .map(|&i| {
                let (_, _, w, h) = self.val_area(i);
                w.min(h)
            })
            .min()
            .unwrap_or(0)
            .min(self.options.crop_px);
        let mut specs = Vec::with_capacity(count);
        for k in 0..count {
            let pair = self.val_pairs[k % self.val_pairs.len()];
            let (x, y, w, h) = self.val_area(pair);
            let mut rng = Rng::stream(self.options.seed, 0x7A11_0000 + k as u64);
            let dx = ((rng.uniform() * (w - size + 1) as f64) as usize).min(w - size);
            let dy = ((rng.uniform() * (h - size + 1) as f64) as usize).min(h - size);
            specs.push(CropSpec {
                pair,
                x0: x + dx,
                y0: y + dy,
                size,
                rot90: 0,
                mirror: false,
            });
        }
        specs
            .chunks(self.options.batch)
            .map(|c| self.cut(c))
            .collect()
    }

    /// A held-out region for previews: the centre `size`×`size` (or smaller) square of the
    /// first validation pair's held-out area, both halves normalised, with the pair's (mean, σ)
    /// of half A. Returns (half A, half B) as images with the pair's pixel size.
    ///
    /// # Errors
    /// A pair that fails to load.
    pub fn preview_region(&self, size: usize) -> Result<(Image, Image)> {
        let pair = self.val_pairs[0];
        let (x, y, w, h) = self.val_area(pair);
        let s = size.min(w).min(h);
        let (x0, y0) = (x + (w - s) / 2, y + (h - s) / 2);
        let p = self.store.get(pair)?;
        let make = |v: &[f32]| {
            let mut crop = crop_transformed(v, p.width, x0, y0, s, 0, false);
            if self.options.normalise_patches {
                zscore(&mut crop);
            }
            Image::new(s, s, crop)
                .map(|im| im.with_pixel_size(p.pixel_size_angstrom))
                .map_err(|e| anyhow!("{e}"))
        };
        Ok((make(&p.a)?, make(&p.b)?))
    }
}

/// Z-scores `values` in place: minus their mean, divided by their (population) standard
/// deviation, so they have mean 0 and standard deviation 1 (restore's per-patch
/// normalisation, supplement S2.1). A constant patch (σ below 10⁻¹² of its scale) is only
/// centred.
pub fn zscore(values: &mut [f32]) {
    if values.is_empty() {
        return;
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let std = var.sqrt();
    let scale = if std > 1e-12 * mean.abs().max(1.0) {
        1.0 / std
    } else {
        1.0
    };
    for v in values.iter_mut() {
        *v = ((*v as f64 - mean) * scale) as f32;
    }
}

/// Fisher–Yates shuffle with `rng`.
fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Cuts the `size`×`size` square at (`x0`, `y0`) out of a row-major image of `width` columns,
/// mirrors it left-right if `mirror`, then rotates it by `rot90` × 90° counter-clockwise.
/// Output row-major `[y * size + x]`. The 8 combinations are the symmetries of the square.
pub fn crop_transformed(
    data: &[f32],
    width: usize,
    x0: usize,
    y0: usize,
    size: usize,
    rot90: u8,
    mirror: bool,
) -> Vec<f32> {
    let n = size;
    let mut out = vec![0.0f32; n * n];
    for y in 0..n {
        for x in 0..n {
            // Undo the rotation: output (y, x) of a CCW rotation by k reads input (sy, sx).
            let (mut sy, mut sx) = (y, x);
            for _ in 0..(rot90 % 4) {
                // One CCW rotation: out[y][x] = in[x][n-1-y].
                let t = sy;
                sy = sx;
                sx = n - 1 - t;
            }
            if mirror {
                sx = n - 1 - sx;
            }
            out[y * n + x] = data[(y0 + sy) * width + x0 + sx];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every crop of a per-patch normalised batch has mean 0 and standard deviation 1 (each
    /// half on its own), whatever the level and contrast of the region it came from; the
    /// whole-micrograph normalisation leaves crops of a graded image off 0/1.
    #[test]
    fn patches_are_z_scored_one_by_one() {
        let (w, h) = (96usize, 96usize);
        // A ramp in level and contrast: crops differ in mean and σ.
        let make = |phase: f32| {
            let data: Vec<f32> = (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f32, (i / w) as f32);
                    5.0 * y + (1.0 + x / 10.0) * ((x * 0.7 + y * 1.3 + phase).sin())
                })
                .collect();
            Arc::new(Image::new(w, h, data).unwrap())
        };
        let source = || {
            vec![PairSource::InMemory {
                name: "ramp".into(),
                even: make(0.0),
                odd: make(1.0),
            }]
        };
        let options = DataOptions {
            crop_px: 24,
            batch: 6,
            holdout_fraction: 0.25,
            validation_crops: 3,
            normalise_patches: true,
            ..DataOptions::default()
        };
        let moments = |v: &[f32]| {
            let n = v.len() as f64;
            let m = v.iter().map(|&x| x as f64).sum::<f64>() / n;
            let s = (v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
            (m, s)
        };
        let data = TrainingData::new(source(), options.clone()).unwrap();
        let mut batches = data.validation_batches().unwrap();
        batches.push(data.train_batch(3).unwrap());
        for batch in &batches {
            let side = batch.crop_px * batch.crop_px;
            for crop in batch.a.chunks(side).chain(batch.b.chunks(side)) {
                let (m, s) = moments(crop);
                assert!(m.abs() < 1e-5, "patch mean {m}");
                assert!((s - 1.0).abs() < 1e-5, "patch std {s}");
            }
        }
        let (preview, _) = data.preview_region(16).unwrap();
        let (m, s) = moments(&preview.data);
        assert!(m.abs() < 1e-5 && (s - 1.0).abs() < 1e-5, "preview {m} {s}");
        // Whole-micrograph normalisation only: crops keep their region's level.
        let whole = TrainingData::new(
            source(),
            DataOptions {
                normalise_patches: false,
                ..options
            },
        )
        .unwrap();
        let b = whole.train_batch(3).unwrap();
        let side = b.crop_px * b.crop_px;
        assert!(
            b.a.chunks(side).any(|c| moments(c).0.abs() > 0.1),
            "crops of a graded image are not centred one by one"
        );
        // A constant patch is centred, not divided by 0.
        let mut flat = vec![2.5f32; 16];
        zscore(&mut flat);
        assert!(flat.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn transforms_are_the_eight_symmetries() {
        let n = 3;
        let data: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let mut seen = Vec::new();
        for r in 0..4 {
            for m in [false, true] {
                let t = crop_transformed(&data, n, 0, 0, n, r, m);
                let mut sorted = t.clone();
                sorted.sort_by(f32::total_cmp);
                assert_eq!(sorted, data, "a permutation");
                assert_eq!(t[4], 4.0, "centre fixed");
                seen.push(t);
            }
        }
        seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
        seen.dedup();
        assert_eq!(seen.len(), 8);
        // One CCW rotation moves the top-right corner (value 2) to the top-left.
        assert_eq!(crop_transformed(&data, n, 0, 0, n, 1, false)[0], 2.0);
    }
}
