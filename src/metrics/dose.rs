//! Lower exposures from one counting-mode sum by binomial thinning, for dose titration
//! (Bepler et al. 2020, Topaz-Denoise, Results 3 and Methods "Short exposure micrograph
//! processing", where shorter exposures were made by summing fewer frames).
//!
//! If a pixel's count is n ~ Poisson(λ), keeping each electron with probability p gives
//! Binomial(n, p) ~ Poisson(pλ): the same image at p times the exposure. Two disjoint thinned
//! copies (each electron goes to the first copy with probability p, to the second with p, to
//! neither with 1 − 2p) are independent Poisson(pλ) images of the same signal, so the even/odd
//! estimators ([`super::frank_al_ali_snr`], [`super::topaz_even_odd_snr`]) measure the SNR of
//! one image of exposure p × the full exposure. That is why p ≤ ½.

use super::count_split::{CountCheck, counts_of, split_pixel_counts};
use super::{CountSplitOptions, GainEstimate, MetricsError, check_image, mean_of};
use crate::image::Image;

/// Two independent thinned copies of a counting-mode sum ([`thin_counts_pair`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ThinnedPair {
    /// g · a with a ~ Binomial(n, p): about p of the counts, in the input's units.
    pub first: Image,
    /// g · b with b ~ Binomial(n − a, p / (1 − p)): another p of the counts, disjoint from
    /// `first`.
    pub second: Image,
    /// The fraction p of the exposure each copy holds.
    pub fraction: f64,
    /// Gain g used (image units per count).
    pub gain: f64,
    /// The estimate, when the gain was estimated.
    pub gain_estimate: Option<GainEstimate>,
    /// Pixels that were not integer counts × gain (rounded; only with `force`).
    pub non_integer_pixels: usize,
}

/// Two disjoint binomially thinned copies of a counting-mode sum, each holding a fraction
/// `fraction` (p, in (0, ½]) of the electrons: per pixel, n = round(value / g), a ~
/// Binomial(n, p), b ~ Binomial(n − a, p / (1 − p)); the copies are g·a and g·b. For Poisson
/// counts they are independent Poisson(pλ) images (multinomial thinning), i.e. two
/// independent exposures of p × the dose with the same signal. p = ½ is [`super::split_counts`]'s
/// split in law (a and n − a).
///
/// `options`: gain, seed, force and tolerance exactly as for [`super::split_counts`] (same
/// checks, same errors). Deterministic given the seed (one random stream per row). Shape and
/// pixel size are kept.
///
/// # Errors
/// As [`super::split_counts`], and [`MetricsError::InvalidParameter`] for p outside (0, ½].
pub fn thin_counts_pair(
    image: &Image,
    fraction: f64,
    options: &CountSplitOptions,
) -> Result<ThinnedPair, MetricsError> {
    check_fraction(fraction)?;
    let CountCheck {
        gain,
        gain_estimate,
        non_integer,
        ..
    } = counts_of(image, options)?;
    let q = fraction / (1.0 - fraction);
    let (first, second) = split_pixel_counts(image, gain, options.seed ^ 0x7468_696e, |rng, n| {
        let a = rng.binomial(n, fraction);
        (a, rng.binomial(n - a, q))
    });
    Ok(ThinnedPair {
        first,
        second,
        fraction,
        gain,
        gain_estimate,
        non_integer_pixels: non_integer,
    })
}

fn check_fraction(p: f64) -> Result<(), MetricsError> {
    if p > 0.0 && p <= 0.5 {
        Ok(())
    } else {
        Err(MetricsError::InvalidParameter {
            what: "thinning fraction",
            requirement: "in (0, 0.5] (two disjoint thinned copies need p ≤ ½)",
            value: p,
        })
    }
}

/// Exposure of a counting-mode sum in e/Å²: the mean count per pixel (mean value / `gain`)
/// over the pixel area (pixel size²). `None` without a known pixel size or for a gain that
/// is not finite and > 0.
///
/// # Errors
/// [`MetricsError::BadImage`].
pub fn exposure_per_square_angstrom(image: &Image, gain: f64) -> Result<Option<f64>, MetricsError> {
    check_image("image", image)?;
    let Some(p) = image
        .pixel_size_angstrom
        .filter(|p| p.is_finite() && *p > 0.0)
    else {
        return Ok(None);
    };
    if !(gain.is_finite() && gain > 0.0) {
        return Ok(None);
    }
    Ok(Some(mean_of(&image.data) / gain / (p as f64).powi(2)))
}

/// The SNR (signal variance over noise variance, linear) of one Poisson image with expected
/// counts `fraction` × `expected_counts` per pixel, from the truth: with λ the expected
/// counts, signal variance p² var(λ) and noise variance p mean(λ), so SNR = p · var(λ) /
/// mean(λ): proportional to the exposure (shot noise only, no other noise). Any gain cancels.
///
/// # Errors
/// [`MetricsError::BadImage`]; [`MetricsError::InvalidParameter`] if the mean of
/// `expected_counts` is not > 0 or `fraction` is not > 0.
pub fn poisson_snr(expected_counts: &Image, fraction: f64) -> Result<f64, MetricsError> {
    check_image("expected counts", expected_counts)?;
    let mean = mean_of(&expected_counts.data);
    if mean.is_nan() || mean <= 0.0 {
        return Err(MetricsError::InvalidParameter {
            what: "mean expected count",
            requirement: "> 0",
            value: mean,
        });
    }
    if !(fraction > 0.0 && fraction.is_finite()) {
        return Err(MetricsError::InvalidParameter {
            what: "exposure fraction",
            requirement: "> 0",
            value: fraction,
        });
    }
    let var = super::cov_slices(&expected_counts.data, &expected_counts.data);
    Ok(fraction * var / mean)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::GainSource;
    use crate::rng::Rng;

    #[test]
    fn binomial_sampler_has_the_right_moments() {
        let mut r = Rng::new(11);
        for &(n, p) in &[(40u64, 0.1), (40, 0.3), (40, 0.8), (100_000, 0.2)] {
            let k = 20_000;
            let xs: Vec<f64> = (0..k).map(|_| r.binomial(n, p) as f64).collect();
            let m = xs.iter().sum::<f64>() / k as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / k as f64;
            let (em, ev) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!(
                (m - em).abs() < 5.0 * (ev / k as f64).sqrt(),
                "{n} {p}: {m}"
            );
            assert!((v / ev - 1.0).abs() < 0.05, "{n} {p}: {v} vs {ev}");
        }
    }

    #[test]
    fn thinned_copies_are_disjoint_and_independent() {
        let mut r = Rng::new(2);
        let data: Vec<f32> = (0..128 * 128)
            .map(|_| 3.0 * r.poisson(20.0) as f32)
            .collect();
        let im = Image::new(128, 128, data).unwrap();
        let opts = CountSplitOptions {
            gain: GainSource::Given(3.0),
            ..CountSplitOptions::default()
        };
        let t = thin_counts_pair(&im, 0.25, &opts).unwrap();
        for ((a, b), v) in t.first.data.iter().zip(&t.second.data).zip(&im.data) {
            assert!(a + b <= v + 1e-3);
        }
        // Each copy is Poisson(5) × 3: mean 15, variance 45; independent of the other.
        let (m, v) = (
            mean_of(&t.first.data),
            super::super::cov_slices(&t.first.data, &t.first.data),
        );
        assert!(
            (m - 15.0).abs() < 0.2 && (v / 45.0 - 1.0).abs() < 0.05,
            "{m} {v}"
        );
        let c = crate::metrics::correlation(&t.first, &t.second).unwrap();
        assert!(c.abs() < 0.03, "{c}");
        assert!(thin_counts_pair(&im, 0.6, &opts).is_err());
        assert!(thin_counts_pair(&im, 0.0, &opts).is_err());
    }

    #[test]
    fn exposure_is_mean_count_over_pixel_area() {
        let im = Image::new(2, 2, vec![20.0; 4])
            .unwrap()
            .with_pixel_size(Some(2.0));
        let e = exposure_per_square_angstrom(&im, 2.0).unwrap().unwrap();
        assert!((e - 2.5).abs() < 1e-12);
        let none = Image::new(2, 2, vec![20.0; 4]).unwrap();
        assert_eq!(exposure_per_square_angstrom(&none, 2.0).unwrap(), None);
    }
}
