//! Scores of an image against the noise-free truth it should show (a simulation's
//! `truth.mrc`, [`crate::simulate`]): what no real micrograph allows, and what judges a
//! denoiser without estimating its signal. PSNR, SSIM (Wang et al. 2004, the index
//! Noise-Transfer2Clean reports; its eq. 3 is the same formula over one window), and the
//! Fourier ring correlation with the truth and where it falls below 0.5.
//!
//! All three compare values as they are, in the truth's units (a simulation's noisy
//! micrograph and its truth are both counts per pixel; denoisers and low-passes keep their
//! input's units), so an image off in scale or offset scores lower, as it should. The data
//! range L of PSNR and SSIM is the truth's max − min.

use rayon::prelude::*;

use super::{FrcValue, MetricsError, RingCurve, check_same, frc};
use crate::image::Image;

/// Wang et al. 2004's constants: c₁ = (K₁ L)², c₂ = (K₂ L)².
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// The Gaussian window of SSIM: σ = 1.5 px, 11 taps (Wang et al. 2004).
const SSIM_SIGMA: f64 = 1.5;
const SSIM_RADIUS: usize = 5;

/// An image's scores against the truth.
#[derive(Clone, Debug, PartialEq)]
pub struct TruthScores {
    /// Peak SNR, 10 log₁₀(L² / MSE), dB (L: the truth's max − min); +∞ for an exact copy.
    pub psnr_db: f64,
    /// Mean SSIM over the image (Gaussian windows, σ 1.5 px; borders of 5 px left out), in
    /// [−1, 1], 1 for an exact copy.
    pub ssim: f64,
    /// The FRC with the truth per ring (ring width as asked).
    pub frc: RingCurve<FrcValue>,
    /// The frequency where the FRC with the truth first falls below 0.5 (linear between
    /// rings), in the curve's unit (Å⁻¹ with a pixel size, else cycles/px); `None` when it
    /// stays above up to Nyquist, or is below 0.5 from the first ring (a CTF leaves the
    /// lowest frequencies of a phase-contrast image with little signal): see `frc_mean`.
    pub frc_half_frequency: Option<f64>,
    /// The FRC with the truth averaged over all Fourier components up to Nyquist (each ring
    /// weighted by its components), in [−1, 1]: 1 for an exact copy.
    pub frc_mean: f64,
}

impl TruthScores {
    /// The FRC-0.5 resolution, 1 / [`TruthScores::frc_half_frequency`] (Å with a pixel size,
    /// else px).
    pub fn frc_half_resolution(&self) -> Option<f64> {
        self.frc_half_frequency.map(|f| 1.0 / f)
    }
}

/// PSNR, SSIM and FRC of `image` against `truth` (same shape; rings `ring_width` Fourier
/// pixels wide).
///
/// # Errors
/// Malformed images, different shapes or pixel sizes ([`MetricsError`]); a constant truth
/// (no data range).
pub fn score_against_truth(
    image: &Image,
    truth: &Image,
    ring_width: f32,
) -> Result<TruthScores, MetricsError> {
    let frc = frc(image, truth, ring_width)?;
    let starts_above = frc.rings.first().is_some_and(|r| r.value.frc >= 0.5);
    let points = frc.rings.iter().map(|r| (r.frequency, r.value.frc));
    let crossing = super::first_crossing(points, 0.5).filter(|_| starts_above);
    let components: usize = frc.rings.iter().map(|r| r.components).sum();
    let frc_mean = frc
        .rings
        .iter()
        .map(|r| r.value.frc * r.components as f64)
        .sum::<f64>()
        / components.max(1) as f64;
    Ok(TruthScores {
        psnr_db: psnr_db(image, truth)?,
        ssim: ssim(image, truth)?,
        frc_half_frequency: crossing,
        frc_mean,
        frc,
    })
}

/// Peak SNR of `image` against `truth`: 10 log₁₀(L² / MSE) dB with L the truth's max − min.
///
/// # Errors
/// As [`score_against_truth`].
pub fn psnr_db(image: &Image, truth: &Image) -> Result<f64, MetricsError> {
    check_same(&[("truth", truth), ("image", image)])?;
    let range = data_range(truth)?;
    let mse = image
        .data
        .iter()
        .zip(&truth.data)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum::<f64>()
        / image.data.len() as f64;
    Ok(10.0 * (range * range / mse).log10())
}

/// Mean structural similarity of `image` to `truth` (Wang et al. 2004): local means,
/// variances and covariance under an 11-tap Gaussian window of σ 1.5 px, c₁ = (0.01 L)²,
/// c₂ = (0.03 L)² with L the truth's max − min, averaged over the pixels whose window lies
/// inside the image (the whole image when it is smaller than a window).
///
/// # Errors
/// As [`score_against_truth`].
pub fn ssim(image: &Image, truth: &Image) -> Result<f64, MetricsError> {
    check_same(&[("truth", truth), ("image", image)])?;
    let range = data_range(truth)?;
    let (w, h) = (image.width, image.height);
    if w <= 2 * SSIM_RADIUS || h <= 2 * SSIM_RADIUS {
        return Ok(ssim_global(&image.data, &truth.data, range));
    }
    let x: Vec<f64> = image.data.iter().map(|&v| f64::from(v)).collect();
    let y: Vec<f64> = truth.data.iter().map(|&v| f64::from(v)).collect();
    let blur = |v: &[f64]| gaussian_blur(v, w, h);
    let product =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(p, q)| p * q).collect() };
    let (mx, my) = (blur(&x), blur(&y));
    let (xx, yy, xy) = (
        blur(&product(&x, &x)),
        blur(&product(&y, &y)),
        blur(&product(&x, &y)),
    );
    let (c1, c2) = ((K1 * range).powi(2), (K2 * range).powi(2));
    let r = SSIM_RADIUS;
    let total: f64 = (r..h - r)
        .into_par_iter()
        .map(|row| {
            (r..w - r)
                .map(|col| {
                    let i = row * w + col;
                    let (ux, uy) = (mx[i], my[i]);
                    let vx = xx[i] - ux * ux;
                    let vy = yy[i] - uy * uy;
                    let cov = xy[i] - ux * uy;
                    ((2.0 * ux * uy + c1) * (2.0 * cov + c2))
                        / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
                })
                .sum::<f64>()
        })
        .sum();
    Ok(total / ((w - 2 * r) * (h - 2 * r)) as f64)
}

/// SSIM of two equally long sets of values taken as one window (Noise-Transfer2Clean eq. 3:
/// means, variances and covariance over the whole patch), c₁ = (0.01 L)², c₂ = (0.03 L)² for
/// data range `range`. 1 for identical values; 0 for empty input.
pub fn ssim_global(a: &[f32], b: &[f32], range: f64) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mean = |v: &[f32]| v[..n].iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut va, mut vb, mut cov) = (0.0, 0.0, 0.0);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (f64::from(x) - ma, f64::from(y) - mb);
        va += dx * dx;
        vb += dy * dy;
        cov += dx * dy;
    }
    let k = n as f64;
    let (va, vb, cov) = (va / k, vb / k, cov / k);
    let (c1, c2) = ((K1 * range).powi(2), (K2 * range).powi(2));
    ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
}

/// The truth's max − min.
fn data_range(truth: &Image) -> Result<f64, MetricsError> {
    let s = truth.stats();
    let range = f64::from(s.max) - f64::from(s.min);
    if range > 0.0 && range.is_finite() {
        Ok(range)
    } else {
        Err(MetricsError::ZeroVariance {
            what: "the truth (constant: no data range to score against)".into(),
        })
    }
}

/// `values` (rows of `w`) blurred by the normalised 11-tap Gaussian of σ 1.5 px, separably,
/// edges clamped.
fn gaussian_blur(values: &[f64], w: usize, h: usize) -> Vec<f64> {
    let r = SSIM_RADIUS as isize;
    let taps: Vec<f64> = (-r..=r)
        .map(|k| (-((k * k) as f64) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp())
        .collect();
    let norm: f64 = taps.iter().sum();
    let taps: Vec<f64> = taps.iter().map(|t| t / norm).collect();
    let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
    let mut rows = vec![0.0; values.len()];
    rows.par_chunks_mut(w).enumerate().for_each(|(y, out)| {
        let line = &values[y * w..(y + 1) * w];
        for (x, o) in out.iter_mut().enumerate() {
            *o = taps
                .iter()
                .enumerate()
                .map(|(k, t)| t * line[clamp(x as isize + k as isize - r, w)])
                .sum();
        }
    });
    let mut out = vec![0.0; values.len()];
    out.par_chunks_mut(w).enumerate().for_each(|(y, line)| {
        for (x, o) in line.iter_mut().enumerate() {
            *o = taps
                .iter()
                .enumerate()
                .map(|(k, t)| t * rows[clamp(y as isize + k as isize - r, h) * w + x])
                .sum();
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn pattern(w: usize, h: usize) -> Image {
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                10.0 + 3.0 * (x * 0.21).sin() * (y * 0.13).cos()
            })
            .collect();
        Image::new(w, h, data).unwrap()
    }

    #[test]
    fn an_exact_copy_scores_perfectly() {
        let t = pattern(64, 48);
        let s = score_against_truth(&t, &t, 1.0).unwrap();
        assert!(s.psnr_db.is_infinite());
        assert!((s.ssim - 1.0).abs() < 1e-12);
        assert_eq!(s.frc_half_frequency, None);
        assert!((s.frc_mean - 1.0).abs() < 1e-9);
    }

    /// Additive white noise of σ: MSE = σ², so PSNR = 20 log₁₀(L / σ); SSIM falls with σ;
    /// the FRC with the truth crosses 0.5 where the signal's ring power equals the noise's.
    #[test]
    fn noise_lowers_every_score_by_the_known_amounts() {
        let t = pattern(256, 256);
        let range = 6.0; // 10 ± 3
        let mut rng = Rng::new(5);
        let noisy = |sigma: f64, rng: &mut Rng| {
            let data = t
                .data
                .iter()
                .map(|&v| v + (sigma * rng.normal()) as f32)
                .collect();
            Image::new(256, 256, data).unwrap()
        };
        let a = noisy(0.3, &mut rng);
        let b = noisy(1.5, &mut rng);
        let psnr = psnr_db(&a, &t).unwrap();
        let want = 20.0 * (range / 0.3f64).log10();
        // The truth's range is a hair under 6 (sampled sine).
        assert!((psnr - want).abs() < 0.15, "{psnr} vs {want}");
        let (sa, sb) = (ssim(&a, &t).unwrap(), ssim(&b, &t).unwrap());
        assert!(sa > sb && sa < 1.0 && sb > 0.0, "{sa} {sb}");
        assert!(psnr_db(&b, &t).unwrap() < psnr - 10.0);
    }

    #[test]
    fn global_ssim_is_eq_3() {
        let a = [1.0f32, 2.0, 3.0, 4.0];
        assert!((ssim_global(&a, &a, 3.0) - 1.0).abs() < 1e-12);
        let b = [4.0f32, 3.0, 2.0, 1.0];
        // Same means and variances, covariance −var: (2μ² + c1)(−2v + c2) / ((2μ² + c1)(2v + c2)).
        let (v, c2) = (1.25, (0.03f64 * 3.0).powi(2));
        let want = (-2.0 * v + c2) / (2.0 * v + c2);
        assert!((ssim_global(&a, &b, 3.0) - want).abs() < 1e-12);
    }

    #[test]
    fn a_constant_truth_and_mismatched_shapes_are_errors() {
        let flat = Image::new(16, 16, vec![1.0; 256]).unwrap();
        assert!(psnr_db(&pattern(16, 16), &flat).is_err());
        assert!(ssim(&pattern(16, 16), &pattern(16, 12)).is_err());
    }
}
