//! Signal, noise and bias variances of noisy and denoised even/odd halves, Palovcak et al.
//! 2020, supplement section S3 (eq. 9–24), over the whole image and per Fourier ring.

use super::frc::{RingCurve, RingSpectra};
use super::{MetricsError, check_same, cov_slices, denoise_halves};
use crate::image::Image;

/// Variances of the components of M_i = S + Nn_i and D_i = S + Nd_i + B (Palovcak et al.
/// 2020 supplement eq. 4, 9) and the ratios built from them. Variances are in squared image
/// units (per ring: power spectral density per pixel, see
/// [`super::spectral_covariance`]); ratios are linear (use [`super::to_db`] for dB).
///
/// Estimates are differences of sample covariances, so on noisy data (small images, rings
/// with few components or little power) they can come out negative; ratios then follow
/// IEEE division (negative, or ±∞ for a zero denominator).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VarianceEstimate {
    /// var(S) = cov(M₁, M₂) (eq. 15).
    pub signal: f64,
    /// var(Nn) = [cov(M₁,M₁) cov(M₂,M₂)]^½ − cov(M₁, M₂) (eq. 16): noise of one noisy half.
    pub noise_noisy: f64,
    /// var(Nd) = [cov(D₁,D₁) cov(D₂,D₂)]^½ − cov(D₁, D₂) (eq. 17): noise left in one
    /// denoised half.
    pub noise_denoised: f64,
    /// var(B) = cov(D₁, D₂) + cov(M₁, M₂) − [cov(M₁, D₂) + cov(M₂, D₁)] (eq. 18, see
    /// [`variance_estimate`] for the form used).
    pub bias: f64,
    /// SNR of a noisy half, var(S)/var(Nn) (eq. 19; equals cc/(1 − cc), eq. 22).
    pub snr_noisy: f64,
    /// SNR of a denoised half, var(S)/var(Nd) (eq. 20).
    pub snr_denoised: f64,
    /// Signal-to-noise-and-bias ratio of a denoised half, var(S)/(var(Nd) + var(B))
    /// (main text, section on Fig. 3).
    pub snbr: f64,
    /// Signal-to-bias ratio, var(S)/var(B) (eq. 23).
    pub sbr: f64,
}

impl VarianceEstimate {
    /// From the covariances (or ring covariances) of M₁, M₂, D₁, D₂.
    #[allow(clippy::too_many_arguments)]
    fn from_covariances(
        m11: f64,
        m22: f64,
        m12: f64,
        d11: f64,
        d22: f64,
        d12: f64,
        m1d2: f64,
        m2d1: f64,
    ) -> Self {
        let signal = m12;
        let noise_noisy = (m11 * m22).max(0.0).sqrt() - m12;
        let noise_denoised = (d11 * d22).max(0.0).sqrt() - d12;
        let bias = d12 + m12 - (m1d2 + m2d1);
        Self::from_variances(signal, noise_noisy, noise_denoised, bias)
    }

    /// From the four variances, with the ratios of eq. 19, 20, 23 and the SNBR of the main
    /// text (IEEE division: a zero denominator gives ±∞).
    pub fn from_variances(signal: f64, noise_noisy: f64, noise_denoised: f64, bias: f64) -> Self {
        Self {
            signal,
            noise_noisy,
            noise_denoised,
            bias,
            snr_noisy: signal / noise_noisy,
            snr_denoised: signal / noise_denoised,
            snbr: signal / (noise_denoised + bias),
            sbr: signal / bias,
        }
    }
}

/// Signal, noise and bias variances from two noisy halves and their denoised versions,
/// Palovcak et al. 2020 supplement eq. 15–20 and 23 (with eq. 14 covariances over all
/// pixels).
///
/// Inputs (all the same shape and sampling): `m1`, `m2` the noisy even/odd halves
/// M_i = S + Nn_i with independent zero-mean noise (eq. 4–6); `d1 = D(m1)`, `d2 = D(m2)`
/// the same deterministic denoiser applied to each, D_i = S + Nd_i + B (eq. 9).
///
/// Eq. 18 as printed, var(B) = cov(D₁,D₂) + [cov(M₁,M₁)cov(M₂,M₂)]^½ − 2cov(M₁,D₂), does
/// not follow from the model: with eq. 12, cov(D₁,D₂) = var(S+B), cov(M₁,D₂) =
/// var(S) + cov(S,B), and [var(M₁)var(M₂)]^½ = var(S) + var(Nn), so the printed form gives
/// var(B) + var(Nn). We use the form that does follow, var(B) = cov(D₁,D₂) + cov(M₁,M₂) −
/// 2cov(M₁,D₂), with cov(M₁,D₂) replaced by the mean of cov(M₁,D₂) and cov(M₂,D₁) (same
/// expectation, lower variance).
///
/// # Errors
/// [`MetricsError::BadImage`], [`MetricsError::ShapeMismatch`],
/// [`MetricsError::PixelSizeMismatch`].
pub fn variance_estimate(
    m1: &Image,
    m2: &Image,
    d1: &Image,
    d2: &Image,
) -> Result<VarianceEstimate, MetricsError> {
    check_same(&[
        ("noisy half 1", m1),
        ("noisy half 2", m2),
        ("denoised half 1", d1),
        ("denoised half 2", d2),
    ])?;
    let c = |a: &Image, b: &Image| cov_slices(&a.data, &b.data);
    Ok(VarianceEstimate::from_covariances(
        c(m1, m1),
        c(m2, m2),
        c(m1, m2),
        c(d1, d1),
        c(d2, d2),
        c(d1, d2),
        c(m1, d2),
        c(m2, d1),
    ))
}

/// The estimates of [`variance_estimate`] per Fourier ring, Palovcak et al. 2020
/// supplement eq. 24: every covariance is replaced by the ring covariance
/// cov(X(k), Y(k)) = N_k⁻¹ Σ Re[X(k)ᵢ Y(k)ᵢ*] ([`super::spectral_covariance`]), each ring
/// being treated as an independent random variable. Signal, noise and bias powers are power
/// spectral densities per pixel (squared image units); `snr_noisy` is the spectral SNR of
/// one noisy half.
///
/// `ring_width` in Fourier pixels; rings, frequency axis (Å⁻¹ if a pixel size is known,
/// cycles/px otherwise) and Nyquist limit as in [`RingCurve`], the same as [`super::frc`].
/// Per-ring estimates are noisy where a ring has few components or little signal: widen the
/// rings to average more components.
///
/// # Errors
/// As [`variance_estimate`], and [`MetricsError::InvalidParameter`] for a ring width that
/// is not finite and > 0.
pub fn variance_estimate_rings(
    m1: &Image,
    m2: &Image,
    d1: &Image,
    d2: &Image,
    ring_width: f32,
) -> Result<RingCurve<VarianceEstimate>, MetricsError> {
    let s = RingSpectra::new(
        &[
            ("noisy half 1", m1),
            ("noisy half 2", m2),
            ("denoised half 1", d1),
            ("denoised half 2", d2),
        ],
        ring_width,
    )?;
    let (m11, m22, m12) = (s.cross(0, 0), s.cross(1, 1), s.cross(0, 1));
    let (d11, d22, d12) = (s.cross(2, 2), s.cross(3, 3), s.cross(2, 3));
    let (m1d2, m2d1) = (s.cross(0, 3), s.cross(1, 2));
    Ok(s.curve(|r| {
        VarianceEstimate::from_covariances(
            m11[r], m22[r], m12[r], d11[r], d22[r], d12[r], m1d2[r], m2d1[r],
        )
    }))
}

/// [`variance_estimate`] with the denoiser given as a function: D₁ = `denoise(m1)`,
/// D₂ = `denoise(m2)`.
///
/// # Errors
/// As [`variance_estimate`], and [`MetricsError::Denoiser`] if `denoise` fails.
pub fn variance_estimate_with<F>(
    m1: &Image,
    m2: &Image,
    denoise: F,
) -> Result<VarianceEstimate, MetricsError>
where
    F: Fn(&Image) -> anyhow::Result<Image>,
{
    check_same(&[("noisy half 1", m1), ("noisy half 2", m2)])?;
    let [d1, d2] = denoise_halves(denoise, [("first", m1), ("second", m2)])?;
    variance_estimate(m1, m2, &d1, &d2)
}
