//! Image-quality metrics for denoising without ground truth: signal, noise and bias variances
//! from even/odd halves (Palovcak et al. 2020), correlation SNR (Frank & Al-Ali 1975), Booth's
//! spectrum-based SSNR (Booth et al. 2004), Topaz-Denoise's even/odd and labelled-region SNRs
//! (Bepler et al. 2020), NT2C's region SNR (Li et al. 2022), Fourier ring correlation and
//! spectral SNR, count splitting of counting-mode sums into two halves with independent noise,
//! and binomial thinning to lower exposures for dose titration ([`dose`]); [`synthetic`] makes
//! images whose signal, noise and bias are known, the ground truth these estimators are tested
//! against.
//!
//! Conventions.
//! * Images are `height` rows (y) × `width` columns (x), row-major ([`crate::image`]).
//!   Every function taking several images requires equal shapes and, where both are known,
//!   equal pixel sizes (within 0.01 %); an unknown pixel size (`None`) matches any.
//! * Variances and covariances are population moments over pixels, divisor N, accumulated
//!   in f64 (Palovcak et al. supplement eq. 14), in squared image units.
//! * Fourier rings: see [`spectral_covariance`]. Frequencies are in Å⁻¹ when a pixel size is
//!   known, in cycles/pixel otherwise ([`FrequencyUnit`]); rings go up to Nyquist.
//! * No function panics on its inputs: shape and pixel-size mismatches, empty or non-finite
//!   images, boxes outside the image and non-count data come back as [`MetricsError`].
//!
//! Sources (in `shared/seeds/`): Palovcak, Asarnow, Campbell, Yu & Cheng, IUCrJ (2020),
//! doi:10.1107/S2052252520013184, main text Fig. 2e and supplement section S3 (eq. 8–24);
//! Bepler et al., Nat. Commun. 11 (2020) 5208, Methods "Signal-to-noise quantification" and
//! Suppl. Table 2; Li et al., Bioinformatics (2022), NT2C, section 3 and eq. 5.

mod booth;
mod count_split;
pub mod dose;
mod frc;
pub mod fsc;
mod fsc_scalar;
mod region;
pub mod synthetic;
pub mod truth;
mod variance;

pub use booth::{BoothPoint, booth_ssnr, spectrum_minima};
pub use count_split::{
    CountSplit, CountSplitOptions, GainEstimate, GainSource, MAX_COUNTS_PER_PIXEL, estimate_gain,
    split_counts,
};
pub use dose::{ThinnedPair, exposure_per_square_angstrom, poisson_snr, thin_counts_pair};
pub use frc::{FrcValue, Ring, RingCurve, frc, spectral_covariance};
pub use fsc_scalar::{FscScalar, fsc_scalar};
pub use region::{Region, RegionPair, RegionSnr, region_snr_nt2c, region_snr_topaz};
pub use variance::{
    VarianceEstimate, variance_estimate, variance_estimate_rings, variance_estimate_with,
};

use crate::image::{Image, ImageError};

/// Errors of the metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// An input image is malformed (buffer length, empty, non-finite values).
    #[error("{what}: {source}")]
    BadImage {
        /// Which input.
        what: &'static str,
        /// What is wrong.
        source: ImageError,
    },
    /// Two inputs differ in shape.
    #[error(
        "{what} is {got_w}×{got_h} pixels but {reference} is {ref_w}×{ref_h}; the images must have the same shape"
    )]
    ShapeMismatch {
        /// The input that differs.
        what: &'static str,
        /// The input it was compared with.
        reference: &'static str,
        /// Its width.
        got_w: usize,
        /// Its height.
        got_h: usize,
        /// Reference width.
        ref_w: usize,
        /// Reference height.
        ref_h: usize,
    },
    /// Two inputs have different known pixel sizes.
    #[error(
        "{what} has a pixel size of {got} Å but {reference} has {expected} Å; the images must have the same sampling"
    )]
    PixelSizeMismatch {
        /// The input that differs.
        what: &'static str,
        /// The input it was compared with.
        reference: &'static str,
        /// Its pixel size (Å/px).
        got: f32,
        /// Reference pixel size (Å/px).
        expected: f32,
    },
    /// A parameter is out of range.
    #[error("{what} must be {requirement} (got {value})")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// The value given.
        value: f64,
    },
    /// A quantity that must vary is constant (a zero variance in a denominator).
    #[error("{what} has zero variance, so the ratio is undefined")]
    ZeroVariance {
        /// Which quantity.
        what: String,
    },
    /// The denoiser given to an even/odd estimator failed.
    #[error("the denoiser failed on the {half} half: {source:#}")]
    Denoiser {
        /// Which half: "even" or "odd", "first" or "second".
        half: &'static str,
        /// Its error.
        source: anyhow::Error,
    },
    /// No region pairs were given.
    #[error("no signal/background region pairs were given")]
    NoRegions,
    /// A region is empty or not inside the image.
    #[error(
        "{which} box of pair {pair} (x={x}, y={y}, width={width}, height={height}) {problem} of the {image_w}×{image_h} image"
    )]
    BadRegion {
        /// Index of the pair (from 0).
        pair: usize,
        /// "signal" or "background".
        which: &'static str,
        /// Box left column.
        x: usize,
        /// Box top row.
        y: usize,
        /// Box width.
        width: usize,
        /// Box height.
        height: usize,
        /// "is empty" or "reaches outside".
        problem: &'static str,
        /// Image width.
        image_w: usize,
        /// Image height.
        image_h: usize,
    },
    /// The image does not look like counts × gain (see [`split_counts`]).
    #[error(
        "the image does not hold counts × gain {gain}: {negative} negative pixels, {non_integer} pixels whose value / gain is more than {tolerance} from an integer (largest deviation {max_deviation:.3}); this is not a plain counting sum (e.g. a dose-weighted or gain-normalised float image). Give the exact gain, or force the split to round to counts"
    )]
    NotCounts {
        /// Gain used (image units per count).
        gain: f64,
        /// Pixels below −tolerance × gain.
        negative: usize,
        /// Pixels off the integer lattice by more than the tolerance.
        non_integer: usize,
        /// Tolerance in counts.
        tolerance: f64,
        /// Largest |value/gain − round(value/gain)|.
        max_deviation: f64,
    },
    /// The gain cannot be estimated (mean ≤ 0 or variance 0).
    #[error("cannot estimate the gain: {reason}")]
    GainEstimation {
        /// Why.
        reason: String,
    },
}

/// Unit of the frequency axis of a [`RingCurve`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrequencyUnit {
    /// Å⁻¹ (the pixel size was known).
    PerAngstrom,
    /// Cycles per pixel (no pixel size).
    PerPixel,
}

/// Checks that an image's buffer matches its shape, that it is not empty and that every
/// value is finite.
pub(crate) fn check_image(what: &'static str, im: &Image) -> Result<(), MetricsError> {
    let bad = |source| MetricsError::BadImage { what, source };
    if im.width == 0 || im.height == 0 {
        return Err(bad(ImageError::Empty {
            width: im.width,
            height: im.height,
        }));
    }
    let expected = im.width.saturating_mul(im.height);
    if im.data.len() != expected {
        return Err(bad(ImageError::ShapeMismatch {
            width: im.width,
            height: im.height,
            len: im.data.len(),
            expected,
        }));
    }
    im.check_finite().map_err(bad)
}

/// Checks every image ([`check_image`]) and that all have the shape of the first and
/// compatible pixel sizes. Returns the first known pixel size (finite > 0).
pub(crate) fn check_same(images: &[(&'static str, &Image)]) -> Result<Option<f32>, MetricsError> {
    let Some(&(ref_name, reference)) = images.first() else {
        return Ok(None);
    };
    let mut known: Option<(&'static str, f32)> = None;
    for &(what, im) in images {
        check_image(what, im)?;
        if (im.width, im.height) != (reference.width, reference.height) {
            return Err(MetricsError::ShapeMismatch {
                what,
                reference: ref_name,
                got_w: im.width,
                got_h: im.height,
                ref_w: reference.width,
                ref_h: reference.height,
            });
        }
        if let Some(p) = im.pixel_size_angstrom.filter(|p| p.is_finite() && *p > 0.0) {
            match known {
                None => known = Some((what, p)),
                Some((first, q)) if (p - q).abs() > 1e-4 * q => {
                    return Err(MetricsError::PixelSizeMismatch {
                        what,
                        reference: first,
                        got: p,
                        expected: q,
                    });
                }
                Some(_) => {}
            }
        }
    }
    Ok(known.map(|(_, p)| p))
}

/// Mean of a slice in f64.
pub(crate) fn mean_of(values: &[f32]) -> f64 {
    values.iter().map(|&v| v as f64).sum::<f64>() / values.len().max(1) as f64
}

/// Population covariance of two equally long slices (no checks).
pub(crate) fn cov_slices(a: &[f32], b: &[f32]) -> f64 {
    let (ma, mb) = (mean_of(a), mean_of(b));
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - ma) * (y as f64 - mb))
        .sum();
    s / a.len().max(1) as f64
}

/// Covariance of two images, Palovcak et al. 2020 supplement eq. 14:
/// cov(X, Y) = N⁻¹ Σᵢ (Xᵢ − X̄)(Yᵢ − Ȳ) over the N pixels. var(X) = cov(X, X) (eq. 10).
///
/// Both images must have the same shape (any size); the result is in squared image units.
///
/// # Errors
/// [`MetricsError::BadImage`], [`MetricsError::ShapeMismatch`],
/// [`MetricsError::PixelSizeMismatch`].
pub fn covariance(x: &Image, y: &Image) -> Result<f64, MetricsError> {
    check_same(&[("first image", x), ("second image", y)])?;
    Ok(cov_slices(&x.data, &y.data))
}

/// Pearson correlation coefficient of two images, Palovcak et al. 2020 supplement eq. 21:
/// cc(X, Y) = cov(X, Y) / [var(X) var(Y)]^½ (dimensionless, in [−1, 1]).
///
/// # Errors
/// As [`covariance`], and [`MetricsError::ZeroVariance`] if either image is constant.
pub fn correlation(x: &Image, y: &Image) -> Result<f64, MetricsError> {
    check_same(&[("first image", x), ("second image", y)])?;
    correlation_unchecked(x, y)
}

fn correlation_unchecked(x: &Image, y: &Image) -> Result<f64, MetricsError> {
    let vx = cov_slices(&x.data, &x.data);
    let vy = cov_slices(&y.data, &y.data);
    for (v, what) in [(vx, "the first image"), (vy, "the second image")] {
        if v <= 0.0 {
            return Err(MetricsError::ZeroVariance { what: what.into() });
        }
    }
    Ok(cov_slices(&x.data, &y.data) / (vx * vy).sqrt())
}

/// The first frequency where a curve of (frequency, value) points, in increasing
/// frequency, falls below `threshold`, linear between the point before and the first below
/// (from (0, 1) before the first point); `None` when it never does. The crossing rule of FSC
/// and FRC resolutions ([`fsc::fsc_crossing`], [`truth::score_against_truth`]).
pub fn first_crossing(curve: impl IntoIterator<Item = (f64, f64)>, threshold: f64) -> Option<f64> {
    let mut prev = (0.0f64, 1.0f64);
    for (f, v) in curve {
        if v < threshold {
            let (f0, v0) = prev;
            let t = if v0 > v {
                (v0 - threshold) / (v0 - v)
            } else {
                1.0
            };
            return Some(f0 + t.clamp(0.0, 1.0) * (f - f0));
        }
        prev = (f, v);
    }
    None
}

/// 10 · log10(`linear`) (decibels); `None` when `linear` is not finite and > 0 (no
/// measurable signal, or cc ≥ 1).
pub fn to_db(linear: f64) -> Option<f64> {
    (linear.is_finite() && linear > 0.0).then(|| 10.0 * linear.log10())
}

/// A correlation-based SNR: the correlation coefficient and the SNR it implies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnrEstimate {
    /// Correlation coefficient p between the two images.
    pub cc: f64,
    /// SNR = p / (1 − p), linear (variance ratio); +∞ for p = 1, negative for p < 0.
    pub snr: f64,
    /// 10 · log10(SNR) in dB, `None` when SNR ≤ 0 or infinite.
    pub snr_db: Option<f64>,
}

impl SnrEstimate {
    fn from_cc(cc: f64) -> Self {
        let snr = cc / (1.0 - cc);
        Self {
            cc,
            snr,
            snr_db: to_db(snr),
        }
    }
}

/// SNR of one of two images of the same signal with independent noise, from their
/// correlation coefficient: SNR = cc / (1 − cc) (Frank & Al-Ali 1975; Bershad & Rockmore
/// 1974; Palovcak et al. 2020 supplement eq. 8, 21–22; Bepler et al. 2020 Methods), in linear
/// units and in dB (10·log10).
///
/// `a`, `b`: two noisy images (e.g. even/odd frame sums) of the same shape, any units. The
/// SNR is var(S)/var(N) of *one* image (not of their sum, which is twice that), assuming
/// equal noise variances.
///
/// # Errors
/// As [`correlation`].
pub fn frank_al_ali_snr(a: &Image, b: &Image) -> Result<SnrEstimate, MetricsError> {
    Ok(SnrEstimate::from_cc(correlation(a, b)?))
}

/// Topaz-Denoise's even/odd SNR of a denoiser (Bepler et al. 2020, Methods
/// "Signal-to-noise quantification", second method, and Supplementary Table 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvenOddSnr {
    /// p = cc(denoise(odd), even) and SNR = p/(1 − p).
    pub denoised_odd_vs_even: SnrEstimate,
    /// p = cc(denoise(even), odd) and SNR = p/(1 − p).
    pub denoised_even_vs_odd: SnrEstimate,
    /// Mean of the two dB values (Topaz's reported SNR); `None` if either is undefined.
    pub snr_db: Option<f64>,
}

/// `denoise` applied to two halves in order, each given as `(half, image)`; a failure is
/// [`MetricsError::Denoiser`] naming its half ("odd", "first", …).
fn denoise_halves<F>(
    denoise: F,
    halves: [(&'static str, &Image); 2],
) -> Result<[Image; 2], MetricsError>
where
    F: Fn(&Image) -> anyhow::Result<Image>,
{
    let run = |(half, image): (&'static str, &Image)| {
        denoise(image).map_err(|source| MetricsError::Denoiser { half, source })
    };
    let [a, b] = halves;
    Ok([run(a)?, run(b)?])
}

/// Topaz-Denoise's SNR from two independent halves: SNR = 10 · log10(p / (1 − p)) dB with p
/// the correlation between the denoised odd-frame micrograph and the raw even-frame one; done
/// both ways (denoised even vs raw odd too) and the two dB values averaged, as in Bepler et
/// al. 2020 (Methods, "Signal-to-noise quantification"; Suppl. Table 2).
///
/// `even`, `odd`: the two half sums (same shape and sampling). `denoise`: any denoiser; its
/// output must have the input's shape. Measures how well the denoised image predicts an
/// independent noisy observation of the signal.
///
/// # Errors
/// As [`correlation`] (inputs and outputs of the denoiser are checked),
/// [`MetricsError::Denoiser`] if `denoise` fails.
pub fn topaz_even_odd_snr<F>(
    even: &Image,
    odd: &Image,
    denoise: F,
) -> Result<EvenOddSnr, MetricsError>
where
    F: Fn(&Image) -> anyhow::Result<Image>,
{
    check_same(&[("even half", even), ("odd half", odd)])?;
    let [d_odd, d_even] = denoise_halves(denoise, [("odd", odd), ("even", even)])?;
    topaz_even_odd_snr_of(even, odd, &d_even, &d_odd)
}

/// [`topaz_even_odd_snr`] with the halves already denoised: `denoised_even` = D(`even`),
/// `denoised_odd` = D(`odd`) (for callers that use the denoised halves for other estimates
/// too, e.g. [`variance_estimate`]).
///
/// # Errors
/// As [`correlation`] (all four images are checked for shape and sampling).
pub fn topaz_even_odd_snr_of(
    even: &Image,
    odd: &Image,
    denoised_even: &Image,
    denoised_odd: &Image,
) -> Result<EvenOddSnr, MetricsError> {
    let (d_even, d_odd) = (denoised_even, denoised_odd);
    check_same(&[
        ("even half", even),
        ("odd half", odd),
        ("denoised odd half", d_odd),
        ("denoised even half", d_even),
    ])?;
    let a = SnrEstimate::from_cc(correlation_unchecked(d_odd, even)?);
    let b = SnrEstimate::from_cc(correlation_unchecked(d_even, odd)?);
    let snr_db = match (a.snr_db, b.snr_db) {
        (Some(x), Some(y)) => Some(0.5 * (x + y)),
        _ => None,
    };
    Ok(EvenOddSnr {
        denoised_odd_vs_even: a,
        denoised_even_vs_odd: b,
        snr_db,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn im(w: usize, h: usize, f: impl Fn(usize) -> f32) -> Image {
        Image::new(w, h, (0..w * h).map(f).collect()).unwrap()
    }

    #[test]
    fn covariance_matches_closed_form() {
        let a = im(2, 2, |i| i as f32);
        let b = im(2, 2, |i| 2.0 * i as f32 + 1.0);
        assert!((covariance(&a, &b).unwrap() - 2.5).abs() < 1e-12);
        assert!((correlation(&a, &b).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mismatches_are_errors() {
        let a = im(4, 4, |i| i as f32);
        let b = im(4, 3, |i| i as f32);
        assert!(matches!(
            covariance(&a, &b),
            Err(MetricsError::ShapeMismatch { .. })
        ));
        let c = a.clone().with_pixel_size(Some(1.0));
        let d = a.clone().with_pixel_size(Some(2.0));
        assert!(matches!(
            covariance(&c, &d),
            Err(MetricsError::PixelSizeMismatch { .. })
        ));
        assert!(covariance(&a, &d).is_ok());
        let mut e = a.clone();
        e.data[3] = f32::NAN;
        assert!(matches!(
            covariance(&a, &e),
            Err(MetricsError::BadImage { .. })
        ));
        let mut f = a.clone();
        f.data.pop();
        assert!(matches!(
            covariance(&a, &f),
            Err(MetricsError::BadImage { .. })
        ));
        let flat = im(4, 4, |_| 1.0);
        assert!(matches!(
            correlation(&a, &flat),
            Err(MetricsError::ZeroVariance { .. })
        ));
        let bad = |_: &Image| -> anyhow::Result<Image> { anyhow::bail!("no model") };
        let err = topaz_even_odd_snr(&a, &a, bad).unwrap_err();
        assert!(err.to_string().contains("no model"), "{err}");
    }

    #[test]
    fn db_conversion() {
        assert_eq!(to_db(10.0), Some(10.0));
        assert_eq!(to_db(0.0), None);
        assert_eq!(to_db(-1.0), None);
        let s = SnrEstimate::from_cc(0.5);
        assert!((s.snr - 1.0).abs() < 1e-12 && s.snr_db.unwrap().abs() < 1e-12);
    }
}
