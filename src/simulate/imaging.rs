//! From the specimen's phase to counts: weak-phase image formation through RELION's CTF, the
//! electron dose, the detector (ideal or a parametric counting detector) and shot noise split
//! into even and odd frame sums.
//!
//! # Image formation
//! The exit wave of a weak phase object with amplitude contrast Q is ψ ≈ 1 + iφ − ηφ,
//! η = Q/√(1 − Q²), φ = σ V_z the phase (rad). To first order in φ its intensity after the
//! objective lens is I(r) = 1 − (2/√(1 − Q²)) F⁻¹[CTF(q) · E(q) · Φ(q)](r), with CTF RELION's
//! (−sin χ, [`crate::ctf::Ctf`]: positive at low frequencies in underfocus, so a protein,
//! whose potential is higher than the ice's, is dark) and E(q) = exp(−B q²/4) its B-factor
//! envelope (`_rlnCtfBfactor`). A constant phase has no contrast, so φ's mean is removed
//! first. Expected counts per pixel are dose · p² · I (e⁻/px).
//!
//! # Detectors
//! - `ideal`: every electron counted once in the pixel it hits; counts are Poisson with the
//!   expected counts as mean; MTF = 1, DQE = 1.
//! - `k3`, `falcon`: counting detectors (K3-like, Falcon-4-like), parametric: each electron is
//!   counted in a pixel displaced by a random offset, so the expected image is blurred by the
//!   MTF(f) = sinc(f) · exp(−f²/(2 f_c²)) (f in cycles/pixel: the pixel aperture times a
//!   Gaussian point spread), and a fraction d of the electrons is counted twice (same pixel),
//!   so counts are N₁ + 2N₂ with N₁ ~ Poisson((1 − d) λ), N₂ ~ Poisson(d λ): mean (1 + d) λ,
//!   variance (1 + 3d) λ, DQE(0) = (1 + d)²/(1 + 3d), DQE(f) = DQE(0) · MTF(f)². Parameters:
//!   K3-like f_c = 1.09 (MTF 0.57 at Nyquist), d = 0.126 (DQE(0) 0.92); Falcon-like f_c = 0.59
//!   (MTF 0.45 at Nyquist), d = 0.2 (DQE(0) 0.9). Illustrative values, not calibrations.
//!
//! # Frames
//! The exposure is `frames` frames of equal dose; frames 0, 2, 4, … sum to `even`, 1, 3, 5, …
//! to `odd`. Sums of independent Poisson frames are Poisson, so each half is drawn at once with
//! its share of the dose: the halves are independent and `noisy = even + odd` exactly.

use rayon::prelude::*;
use rustfft::num_complex::Complex;

use super::fft2::{fft2, ifft2_real};
use super::ice::signed;
use crate::ctf::Ctf;
use crate::rng::Rng;

/// The detector model (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detector {
    /// Pure Poisson counting, MTF = DQE = 1.
    Ideal,
    /// A K3-like counting detector.
    K3,
    /// A Falcon-4-like counting detector.
    Falcon,
}

impl Detector {
    /// Parses `ideal`, `k3` or `falcon` (any case).
    ///
    /// # Errors
    /// A message listing the choices.
    pub fn parse(word: &str) -> Result<Self, String> {
        match word.trim().to_ascii_lowercase().as_str() {
            "ideal" => Ok(Self::Ideal),
            "k3" => Ok(Self::K3),
            "falcon" => Ok(Self::Falcon),
            other => Err(format!(
                "unknown detector `{other}` (choose ideal, k3 or falcon)"
            )),
        }
    }

    /// (Gaussian MTF width f_c in cycles/pixel, double-count fraction d); `None` for ideal.
    fn parameters(self) -> Option<(f64, f64)> {
        match self {
            Self::Ideal => None,
            Self::K3 => Some((1.09, 0.126)),
            Self::Falcon => Some((0.59, 0.2)),
        }
    }

    /// MTF at `f` cycles/pixel (0 ≤ |f| ≤ 0.5 on the grid).
    pub fn mtf(self, f: f64) -> f64 {
        let Some((fc, _)) = self.parameters() else {
            return 1.0;
        };
        let x = std::f64::consts::PI * f;
        let sinc = if x.abs() < 1e-12 { 1.0 } else { x.sin() / x };
        sinc * (-(f * f) / (2.0 * fc * fc)).exp()
    }

    /// DQE at zero frequency: (1 + d)²/(1 + 3d).
    pub fn dqe_zero(self) -> f64 {
        let d = self.parameters().map_or(0.0, |(_, d)| d);
        (1.0 + d).powi(2) / (1.0 + 3.0 * d)
    }

    /// Mean counts per incident electron (1 + d).
    pub fn gain(self) -> f64 {
        1.0 + self.parameters().map_or(0.0, |(_, d)| d)
    }
}

/// The intensity per incident electron, I(r), of a phase image (rad, row-major `n × n`, pixel
/// `pixel_size_angstrom`) through the CTF with envelope B `b_factor` (Å²), weak-phase (see
/// the module documentation).
pub fn weak_phase_intensity(
    phase: &[f64],
    n: usize,
    pixel_size_angstrom: f64,
    ctf: &Ctf,
    b_factor: f64,
) -> Vec<f64> {
    let mean = phase.iter().sum::<f64>() / phase.len().max(1) as f64;
    let centred: Vec<f64> = phase.iter().map(|v| v - mean).collect();
    let mut spectrum = fft2(&centred, n);
    let q = ctf.amplitude_contrast;
    let gain = -2.0 / (1.0 - q * q).sqrt();
    let dq = 1.0 / (n as f64 * pixel_size_angstrom);
    spectrum
        .par_chunks_mut(n)
        .enumerate()
        .for_each(|(ky, row)| {
            let sy = signed(ky, n) * dq;
            for (kx, c) in row.iter_mut().enumerate() {
                let sx = signed(kx, n) * dq;
                let s2 = sx * sx + sy * sy;
                *c *= gain * ctf.value(sx, sy) * (-b_factor * s2 / 4.0).exp();
            }
        });
    spectrum[0] = Complex::new(0.0, 0.0);
    ifft2_real(&mut spectrum, n)
        .into_iter()
        .map(|d| 1.0 + d)
        .collect()
}

/// Expected counts per pixel (the noise-free truth) of an intensity image for `dose_per_pixel`
/// electrons per pixel: dose · I, blurred by the detector's MTF and times its gain (1 + d);
/// clamped at 0.
pub fn expected_counts(
    intensity: &[f64],
    n: usize,
    dose_per_pixel: f64,
    detector: Detector,
) -> Vec<f64> {
    let counts: Vec<f64> = intensity.iter().map(|i| i * dose_per_pixel).collect();
    let blurred = if detector == Detector::Ideal {
        counts
    } else {
        let mut spectrum = fft2(&counts, n);
        spectrum
            .par_chunks_mut(n)
            .enumerate()
            .for_each(|(ky, row)| {
                let fy = signed(ky, n) / n as f64;
                for (kx, c) in row.iter_mut().enumerate() {
                    let fx = signed(kx, n) / n as f64;
                    *c *= detector.mtf(fx) * detector.mtf(fy);
                }
            });
        ifft2_real(&mut spectrum, n)
    };
    let gain = detector.gain();
    blurred.into_iter().map(|v| (v * gain).max(0.0)).collect()
}

/// Counts of one half of the exposure: per pixel, the detector's counting statistics with mean
/// `share` × `truth` (see the module documentation), rows drawn from independent streams of
/// `seed` so the result does not depend on the thread count.
pub fn sample_counts(
    truth: &[f64],
    n: usize,
    share: f64,
    detector: Detector,
    seed: u64,
) -> Vec<f32> {
    let d = detector.parameters().map_or(0.0, |(_, d)| d);
    let gain = detector.gain();
    truth
        .par_chunks(n)
        .enumerate()
        .flat_map_iter(|(row, values)| {
            let mut rng = Rng::stream(seed, row as u64);
            values
                .iter()
                .map(|&t| {
                    // Electrons arriving in this pixel's share of the exposure.
                    let lambda = share * t / gain;
                    let count = if d > 0.0 {
                        rng.poisson((1.0 - d) * lambda) + 2 * rng.poisson(d * lambda)
                    } else {
                        rng.poisson(lambda)
                    };
                    count as f32
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detectors_have_the_documented_transfer() {
        assert_eq!(Detector::Ideal.mtf(0.5), 1.0);
        assert!((Detector::K3.mtf(0.5) - 0.573).abs() < 0.01);
        assert!((Detector::Falcon.mtf(0.5) - 0.447).abs() < 0.01);
        assert!((Detector::K3.dqe_zero() - 0.92).abs() < 0.005);
        assert!((Detector::Falcon.dqe_zero() - 0.9).abs() < 0.005);
        assert_eq!(Detector::parse("K3"), Ok(Detector::K3));
        assert!(Detector::parse("de64").is_err());
    }

    #[test]
    fn counting_statistics_of_a_counting_detector() {
        // Mean (1 + d) λ and variance (1 + 3d) λ per electron rate λ.
        let n = 256;
        let truth = vec![20.0 * Detector::Falcon.gain(); n * n];
        let c = sample_counts(&truth, n, 1.0, Detector::Falcon, 5);
        let mean = c.iter().map(|&v| f64::from(v)).sum::<f64>() / c.len() as f64;
        let var = c
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / c.len() as f64;
        assert!((mean / 24.0 - 1.0).abs() < 0.01, "{mean}");
        assert!((var / 32.0 - 1.0).abs() < 0.03, "{var}");
    }
}
