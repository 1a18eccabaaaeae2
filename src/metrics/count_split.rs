//! Count splitting: two half-dose images with independent noise from one counting-mode sum.
//!
//! A counting-mode sum holds, per pixel, n · g with n ~ Poisson(λ) the detected electrons and
//! g the gain (image units per electron). Splitting each n into a ~ Binomial(n, ½) and
//! n − a gives two independent Poisson(λ/2) images (Poisson thinning) of the same signal,
//! the pair that the even/odd estimators of this module need (Palovcak et al. 2020
//! supplement eq. 4–6: same signal, independent zero-mean noise), without the movie frames.

use rayon::prelude::*;

use super::{MetricsError, check_image};
use crate::image::Image;
use crate::rng::Rng;

/// Where the gain (image units per count) comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GainSource {
    /// The given gain (finite, > 0).
    Given(f64),
    /// Estimated from the image by [`estimate_gain`] (noise variance from neighbour
    /// differences over the mean, snapped to the value lattice when there is one).
    Estimate,
    /// The plain variance / mean of all pixels ([`GainEstimate::variance_over_mean`]),
    /// which signal variation inflates by g · var(λ)/mean(λ).
    VarianceOverMean,
}

/// Result of [`estimate_gain`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GainEstimate {
    /// The gain chosen: `quantum` if found, else `difference_variance_over_mean`.
    pub gain: f64,
    /// Variance / mean of all pixels (population variance). For counts × g with a uniform
    /// dose this is g; signal variation makes it larger by g · var(λ)/mean(λ).
    pub variance_over_mean: f64,
    /// Noise variance / mean, the noise variance taken as half the variance of the
    /// differences between neighbouring pixels (along x and along y, averaged): smooth
    /// signal cancels in the differences, so this is ≈ g even with strong contrast, as long
    /// as the noise is uncorrelated between pixels (true of counting detectors).
    pub difference_variance_over_mean: f64,
    /// The spacing q of the lattice the values lie on (every value within 0.05 of an integer
    /// multiple of q), when the values are on one with `difference_variance_over_mean` in
    /// [¾ q, 1.5 q], i.e. consistent with Poisson counts × q.
    pub quantum: Option<f64>,
}

/// Population mean and variance in f64.
fn mean_var(v: &[f32]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

/// Largest |v/q − round(v/q)| over `values`.
fn lattice_deviation(values: &[f32], q: f64) -> f64 {
    values
        .par_iter()
        .with_min_len(4096)
        .map(|&v| {
            let c = v as f64 / q;
            (c - c.round()).abs()
        })
        .reduce(|| 0.0, f64::max)
}

/// Estimates the gain g (image units per count) of a counting-mode sum.
///
/// Poisson counts n times g have noise variance g² λ and mean g λ, so g ≈ noise variance /
/// mean. The noise variance is taken as half the variance of neighbour differences
/// (x and y), which removes smooth signal ([`GainEstimate::difference_variance_over_mean`];
/// the plain variance/mean of all pixels is reported too). Then, if the values lie on a
/// lattice q·n (q = the smallest gap between distinct values of a sample of ≤ 2¹⁸ pixels,
/// refined by least squares, checked on every pixel to 0.05 counts) and the estimate lies in
/// [¾ q, 1.5 q], the gain is that exact q. Integer-valued data whose noise variance/mean is
/// far from 1 (a gain-normalised sum stored as integers) therefore get the estimate, not 1.
///
/// # Errors
/// [`MetricsError::BadImage`]; [`MetricsError::GainEstimation`] if the mean is ≤ 0, the
/// image is constant or neighbouring pixels never differ.
pub fn estimate_gain(image: &Image) -> Result<GainEstimate, MetricsError> {
    check_image("image", image)?;
    let (mean, var) = mean_var(&image.data);
    if mean <= 0.0 {
        return Err(MetricsError::GainEstimation {
            reason: format!("the mean ({mean}) is not positive, so these are not counts"),
        });
    }
    if var <= 0.0 {
        return Err(MetricsError::GainEstimation {
            reason: "the image is constant".into(),
        });
    }
    let vm = var / mean;
    let dvm = difference_variance(image) / mean;
    if !(dvm.is_finite() && dvm > 0.0) {
        return Err(MetricsError::GainEstimation {
            reason: "neighbouring pixels do not differ, so there is no shot noise to measure"
                .into(),
        });
    }
    let quantum = find_quantum(&image.data, dvm);
    Ok(GainEstimate {
        gain: quantum.unwrap_or(dvm),
        variance_over_mean: vm,
        difference_variance_over_mean: dvm,
        quantum,
    })
}

/// Half the variance of the differences between neighbouring pixels along x and along y
/// (averaged; the variance of the whole image for a 1 × 1 image).
fn difference_variance(image: &Image) -> f64 {
    let (w, h) = (image.width, image.height);
    let d = &image.data;
    // (count, sum, sum of squares) of the differences, in f64.
    let moments = |diffs: &mut dyn Iterator<Item = f64>| {
        let (mut n, mut s, mut ss) = (0.0f64, 0.0f64, 0.0f64);
        for v in diffs {
            n += 1.0;
            s += v;
            ss += v * v;
        }
        (ss / n - (s / n).powi(2)) / 2.0
    };
    let mut parts = Vec::new();
    if w >= 2 {
        let mut dx = (0..h)
            .flat_map(|y| (0..w - 1).map(move |x| d[y * w + x + 1] as f64 - d[y * w + x] as f64));
        parts.push(moments(&mut dx));
    }
    if h >= 2 {
        let mut dy = (0..(h - 1) * w).map(|i| d[i + w] as f64 - d[i] as f64);
        parts.push(moments(&mut dy));
    }
    if parts.is_empty() {
        return mean_var(d).1;
    }
    parts.iter().sum::<f64>() / parts.len() as f64
}

/// The most electrons per pixel a counting-mode sum is taken to hold on average (a 4×-binned
/// exposure of 100 e⁻/Å² at 1 Å/px holds 1,600). A finer lattice than mean / this is the
/// float format's own spacing (one unit in the last place), not a count.
pub const MAX_COUNTS_PER_PIXEL: f64 = 1e5;

/// The lattice spacing of the values, if they lie on one compatible with `vm` and no finer
/// than [`MAX_COUNTS_PER_PIXEL`] allows.
fn find_quantum(values: &[f32], vm: f64) -> Option<f64> {
    const SAMPLE: usize = 1 << 18;
    let stride = values.len().div_ceil(SAMPLE).max(1);
    let mut sample: Vec<f32> = values.iter().step_by(stride).copied().collect();
    sample.sort_unstable_by(f32::total_cmp);
    let eps = 1e-3 * vm;
    let q0 = sample
        .windows(2)
        .map(|w| w[1] as f64 - w[0] as f64)
        .filter(|&d| d > eps)
        .fold(f64::INFINITY, f64::min);
    if !(q0.is_finite() && (0.75 * q0..=1.5 * q0).contains(&vm)) {
        return None;
    }
    // Least-squares refinement q = Σ v k / Σ k² with k = round(v / q0).
    let (mut vk, mut kk) = (0.0f64, 0.0f64);
    for &v in &sample {
        let k = (v as f64 / q0).round();
        vk += v as f64 * k;
        kk += k * k;
    }
    let q = if kk > 0.0 { vk / kk } else { q0 };
    let mean = sample.iter().map(|&v| f64::from(v)).sum::<f64>() / sample.len().max(1) as f64;
    if mean / q > MAX_COUNTS_PER_PIXEL {
        return None;
    }
    (lattice_deviation(values, q) <= 0.05).then_some(q)
}

/// Options of [`split_counts`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountSplitOptions {
    /// The gain, given or estimated.
    pub gain: GainSource,
    /// Seed of the binomial draws (same seed, same halves).
    pub seed: u64,
    /// Split even if the values are not counts × gain (negative or off the integer lattice):
    /// values / gain are then rounded to the nearest count, negatives to 0.
    pub force: bool,
    /// Largest |value/gain − round(value/gain)| (in counts) accepted as an integer count,
    /// in (0, 0.5).
    pub tolerance: f64,
}

impl Default for CountSplitOptions {
    /// Estimated gain, seed 0, not forced, tolerance 0.05 counts.
    fn default() -> Self {
        Self {
            gain: GainSource::Estimate,
            seed: 0,
            force: false,
            tolerance: 0.05,
        }
    }
}

/// The two halves of a count split and what was found about the input.
#[derive(Clone, Debug, PartialEq)]
pub struct CountSplit {
    /// g · a with a ~ Binomial(n, ½), in the input's units (about half its values).
    pub half1: Image,
    /// g · (n − a).
    pub half2: Image,
    /// Gain g used (image units per count).
    pub gain: f64,
    /// The estimate, when the gain was estimated.
    pub gain_estimate: Option<GainEstimate>,
    /// Pixels with value/gain below −tolerance (set to 0 counts when forced).
    pub negative_pixels: usize,
    /// Pixels with value/gain more than the tolerance from an integer (rounded when forced).
    pub non_integer_pixels: usize,
    /// Largest |value/gain − round(value/gain)| in counts.
    pub max_deviation: f64,
}

/// What [`counts_of`] found: the gain and how well the values fit counts × gain.
#[derive(Clone, Copy, Debug)]
pub(super) struct CountCheck {
    /// Gain g (image units per count).
    pub gain: f64,
    /// The estimate, when the gain was estimated.
    pub gain_estimate: Option<GainEstimate>,
    /// Pixels with value/g below −tolerance.
    pub negative: usize,
    /// Pixels more than the tolerance from an integer count.
    pub non_integer: usize,
    /// Largest |value/g − round(value/g)|.
    pub max_deviation: f64,
}

/// Checks `image` and `options`, finds the gain and checks that the values are counts × gain
/// (the checks and errors of [`split_counts`]).
pub(super) fn counts_of(
    image: &Image,
    options: &CountSplitOptions,
) -> Result<CountCheck, MetricsError> {
    check_image("image", image)?;
    let tol = options.tolerance;
    if !(tol > 0.0 && tol < 0.5) {
        return Err(MetricsError::InvalidParameter {
            what: "count tolerance",
            requirement: "in (0, 0.5) counts",
            value: tol,
        });
    }
    let (gain, gain_estimate) = match options.gain {
        GainSource::Given(g) => {
            if !(g.is_finite() && g > 0.0) {
                return Err(MetricsError::InvalidParameter {
                    what: "gain",
                    requirement: "a finite number > 0",
                    value: g,
                });
            }
            (g, None)
        }
        GainSource::Estimate => {
            let e = estimate_gain(image)?;
            (e.gain, Some(e))
        }
        GainSource::VarianceOverMean => {
            let e = estimate_gain(image)?;
            (e.variance_over_mean, Some(e))
        }
    };
    let (negative, non_integer, max_dev, max_count) = image
        .data
        .par_iter()
        .with_min_len(4096)
        .map(|&v| {
            let c = v as f64 / gain;
            let dev = (c - c.round()).abs();
            (
                usize::from(c < -tol),
                usize::from(dev > tol),
                dev,
                c.round().max(0.0),
            )
        })
        .reduce(
            || (0, 0, 0.0, 0.0),
            |a, b| (a.0 + b.0, a.1 + b.1, a.2.max(b.2), a.3.max(b.3)),
        );
    if (negative > 0 || non_integer > 0) && !options.force {
        return Err(MetricsError::NotCounts {
            gain,
            negative,
            non_integer,
            tolerance: tol,
            max_deviation: max_dev,
        });
    }
    if max_count > (1u64 << 31) as f64 {
        return Err(MetricsError::InvalidParameter {
            what: "gain",
            requirement: "large enough that the counts (value / gain) stay below 2³¹",
            value: gain,
        });
    }
    Ok(CountCheck {
        gain,
        gain_estimate,
        negative,
        non_integer,
        max_deviation: max_dev,
    })
}

/// The count of one pixel value: round(value / gain), negatives 0.
pub(super) fn count_of(value: f32, gain: f64) -> u64 {
    (value as f64 / gain).round().max(0.0) as u64
}

/// Two images drawn from the counts of `image`: each pixel's electron count n
/// ([`count_of`] its value and `gain`) becomes counts (a, b) = `draw(rng, n)`, and the two
/// images hold gain·a and gain·b (image units, shape and pixel size of `image`). Row r draws
/// from `Rng::stream(seed, r)`, so the result does not depend on the thread count.
pub(super) fn split_pixel_counts(
    image: &Image,
    gain: f64,
    seed: u64,
    draw: impl Fn(&mut Rng, u64) -> (u64, u64) + Sync,
) -> (Image, Image) {
    let w = image.width;
    let mut first = image.clone();
    let mut second = image.clone();
    first
        .data
        .par_chunks_mut(w)
        .zip(second.data.par_chunks_mut(w))
        .enumerate()
        .for_each(|(row, (r1, r2))| {
            let mut rng = Rng::stream(seed, row as u64);
            for (a_out, b_out) in r1.iter_mut().zip(r2.iter_mut()) {
                // Both start as the input value.
                let (a, b) = draw(&mut rng, count_of(*a_out, gain));
                *a_out = (gain * a as f64) as f32;
                *b_out = (gain * b as f64) as f32;
            }
        });
    (first, second)
}

/// Splits a counting-mode sum into two halves with independent Poisson noise and the same
/// signal ("count splitting", issue 3 item 2).
///
/// `image`: values n · g (n = electron counts per pixel, g = gain in image units per count).
/// Each pixel's count n = round(value/g) is split into a ~ Binomial(n, ½) and n − a; the
/// halves are g·a and g·(n − a), so they add up to the input, each holds half the dose,
/// and if n ~ Poisson(λ) then a and n − a are independent Poisson(λ/2) (binomial thinning):
/// same signal g·λ/2, independent noise, as required by the even/odd estimators
/// ([`super::variance_estimate`], [`super::frc`], [`super::frank_al_ali_snr`]). SNRs measured
/// on the halves are those of a half-dose image (the full sum has twice the SNR).
///
/// Data that are not counts are refused unless `options.force`: any value/g below
/// −tolerance, or more than `tolerance` from an integer (float dose-weighted or
/// gain-normalised sums). Forced, values/g are rounded and negatives set to 0. The split is
/// deterministic given `options.seed` (one random stream per row, whatever the thread
/// count). Shape and pixel size are kept.
///
/// # Errors
/// [`MetricsError::BadImage`]; [`MetricsError::InvalidParameter`] for a given gain that is
/// not finite and > 0, a tolerance outside (0, 0.5), or counts above 2³¹ (a gain far too
/// small); [`MetricsError::GainEstimation`] (see [`estimate_gain`]);
/// [`MetricsError::NotCounts`] for non-count data without `force`.
pub fn split_counts(
    image: &Image,
    options: &CountSplitOptions,
) -> Result<CountSplit, MetricsError> {
    let CountCheck {
        gain,
        gain_estimate,
        negative,
        non_integer,
        max_deviation: max_dev,
    } = counts_of(image, options)?;
    let (half1, half2) = split_pixel_counts(image, gain, options.seed, |rng, n| {
        let a = rng.binomial_half(n);
        (a, n - a)
    });
    Ok(CountSplit {
        half1,
        half2,
        gain,
        gain_estimate,
        negative_pixels: negative,
        non_integer_pixels: non_integer,
        max_deviation: max_dev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_image(gain: f32) -> Image {
        let mut r = Rng::new(5);
        let data = (0..64 * 64)
            .map(|i| gain * r.poisson(3.0 + 6.0 * (i / 64) as f64 / 64.0) as f32)
            .collect();
        Image::new(64, 64, data).unwrap()
    }

    #[test]
    fn halves_add_up_and_are_deterministic() {
        let im = counts_image(2.5);
        let opts = CountSplitOptions {
            seed: 3,
            ..CountSplitOptions::default()
        };
        let s = split_counts(&im, &opts).unwrap();
        assert!((s.gain - 2.5).abs() < 1e-6, "{}", s.gain);
        assert!(s.gain_estimate.unwrap().quantum.is_some());
        for ((a, b), v) in s.half1.data.iter().zip(&s.half2.data).zip(&im.data) {
            assert!((a + b - v).abs() < 1e-3);
            assert!(*a >= 0.0 && *b >= 0.0);
        }
        assert_eq!(s, split_counts(&im, &opts).unwrap());
        let other = split_counts(&im, &CountSplitOptions { seed: 4, ..opts }).unwrap();
        assert_ne!(s.half1, other.half1);
    }

    #[test]
    fn non_counts_are_refused_unless_forced() {
        let mut im = counts_image(1.0);
        im.data.iter_mut().for_each(|v| *v *= 0.731);
        let given = CountSplitOptions {
            gain: GainSource::Given(1.0),
            ..CountSplitOptions::default()
        };
        let err = split_counts(&im, &given).unwrap_err();
        assert!(matches!(err, MetricsError::NotCounts { .. }), "{err}");
        assert!(err.to_string().contains("force"), "{err}");
        let forced = split_counts(
            &im,
            &CountSplitOptions {
                force: true,
                ..given
            },
        )
        .unwrap();
        assert!(forced.non_integer_pixels > 0);
        let mut neg = counts_image(1.0);
        neg.data[0] = -3.0;
        assert!(matches!(
            split_counts(&neg, &given),
            Err(MetricsError::NotCounts { negative: 1, .. })
        ));
        assert!(matches!(
            split_counts(
                &neg,
                &CountSplitOptions {
                    gain: GainSource::Given(f64::NAN),
                    ..given
                }
            ),
            Err(MetricsError::InvalidParameter { .. })
        ));
        let zero = Image::new(4, 4, vec![0.0; 16]).unwrap();
        assert!(matches!(
            split_counts(&zero, &CountSplitOptions::default()),
            Err(MetricsError::GainEstimation { .. })
        ));
    }

    #[test]
    fn the_float_format_spacing_is_not_a_count() {
        // Float data near 6800 lie on the f32 spacing 2⁻¹¹; with noise whose variance/mean
        // matches that spacing (as a real dose-weighted micrograph's did), the spacing looked
        // like a gain of 0.0005 and 1.4·10⁷ counts per pixel.
        let ulp = 2f64.powi(-11);
        let sigma = (ulp * 6802.0).sqrt();
        let mut r = Rng::new(9);
        let data = (0..256 * 256)
            .map(|_| (6802.0 + sigma * r.normal()) as f32)
            .collect();
        let im = Image::new(256, 256, data).unwrap();
        let g = estimate_gain(&im).unwrap();
        assert!(g.quantum.is_none(), "{g:?}");
        assert!(matches!(
            split_counts(&im, &CountSplitOptions::default()),
            Err(MetricsError::NotCounts { .. })
        ));
    }
}
