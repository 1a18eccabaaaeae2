//! The vitreous ice slab: its mean inner potential and a random-phase background, both from one
//! model of the ice as water molecules (one O and two H scattering as free atoms, Peng 1996).
//!
//! - Number density of vitreous (low-density amorphous) ice: ρ = 0.0314 molecules/Å³
//!   (0.94 g/cm³).
//! - Mean inner potential: V̄ = ρ · (h²/2πm₀e) · f_w(0), f_w = f_O + 2 f_H, about 4.57 V.
//! - Projected through a slab of thickness T, the potential fluctuates about V̄ T with the
//!   power spectrum of ρT molecules per Å² scattering independently, damped at low frequencies
//!   by the structure factor of the liquid-like ice:
//!   S(q) = ρ T |(h²/2πm₀e) f_w(q)|² · (1 − (1 − S₀) exp(−q²/q_c²)) (V·Å)²·Å², with
//!   S₀ = 0.06 (water's compressibility limit) and q_c = 0.32 Å⁻¹ (its first diffraction peak,
//!   d ≈ 3.1 Å). A simple model, not a fit to measured ice.
//! - The background is a random-phase field: every Fourier coefficient has the amplitude S
//!   prescribes and a uniformly random phase (Hermitian, so the field is real), mean 0.

use rayon::prelude::*;
use rustfft::num_complex::Complex;

use super::fft2::{fft2, ifft2_real};
use super::scattering::{POTENTIAL_PER_SCATTERING_FACTOR, ScatteringFactor};
use crate::rng::Rng;

/// Number density of vitreous ice, water molecules per Å³.
pub const ICE_MOLECULES_PER_ANGSTROM3: f64 = 0.0314;

/// Low-frequency limit of the ice's structure factor.
const STRUCTURE_FACTOR_ZERO: f64 = 0.06;

/// Frequency (Å⁻¹) where the structure factor rises to 1.
const STRUCTURE_FACTOR_TURNOVER: f64 = 0.32;

/// Scattering factor of one water molecule (free atoms), Å, at q Å⁻¹.
fn water_factor(q: f64) -> f64 {
    let o = ScatteringFactor::of(8).map_or(0.0, |f| f.at(q));
    let h = ScatteringFactor::of(1).map_or(0.0, |f| f.at(q));
    o + 2.0 * h
}

/// Mean inner potential of the ice, V (see the module documentation).
pub fn mean_potential_volts() -> f64 {
    ICE_MOLECULES_PER_ANGSTROM3 * POTENTIAL_PER_SCATTERING_FACTOR * water_factor(0.0)
}

/// Power spectrum S(q) of the projected ice potential's fluctuations, (V·Å)²·Å², for a slab of
/// `thickness_angstrom` (see the module documentation).
pub fn background_spectrum(q: f64, thickness_angstrom: f64) -> f64 {
    let f = POTENTIAL_PER_SCATTERING_FACTOR * water_factor(q);
    let structure = 1.0
        - (1.0 - STRUCTURE_FACTOR_ZERO)
            * (-(q * q) / (STRUCTURE_FACTOR_TURNOVER * STRUCTURE_FACTOR_TURNOVER)).exp();
    ICE_MOLECULES_PER_ANGSTROM3 * thickness_angstrom * f * f * structure
}

/// The random-phase fluctuation of the ice's projected potential (V·Å, mean 0, pixel
/// averages like the particles' potential) on a row-major `size × size` grid of
/// `pixel_size_angstrom`, deterministic for `seed`.
///
/// Coefficient k of the unnormalised DFT has modulus |G_k| = √(n · S(q_k)) · A_k / p, n = size²
/// pixels, A_k = sinc(k_x/size) · sinc(k_y/size) the pixel aperture ([`pixel_aperture`]), so
/// that the pixel variance is Σ_k S(q_k) A_k² / (n p²); its phase is that of a white Gaussian
/// field's coefficient (uniform, Hermitian).
pub fn random_phase_background(
    size: usize,
    pixel_size_angstrom: f64,
    thickness_angstrom: f64,
    seed: u64,
) -> Vec<f64> {
    let n = size * size;
    let white: Vec<f64> = (0..size)
        .into_par_iter()
        .flat_map_iter(|row| {
            let mut rng = Rng::stream(seed, row as u64);
            (0..size).map(move |_| rng.normal()).collect::<Vec<_>>()
        })
        .collect();
    let mut spectrum = fft2(&white, size);
    let dq = 1.0 / (size as f64 * pixel_size_angstrom);
    let scale = (n as f64).sqrt() / pixel_size_angstrom;
    spectrum
        .par_chunks_mut(size)
        .enumerate()
        .for_each(|(ky, row)| {
            let fy = signed(ky, size) * dq;
            for (kx, c) in row.iter_mut().enumerate() {
                let fx = signed(kx, size) * dq;
                let modulus = c.norm();
                if (kx == 0 && ky == 0) || modulus == 0.0 {
                    *c = Complex::new(0.0, 0.0);
                    continue;
                }
                let q = (fx * fx + fy * fy).sqrt();
                let amplitude = background_spectrum(q, thickness_angstrom).sqrt()
                    * scale
                    * pixel_aperture(kx, size)
                    * pixel_aperture(ky, size);
                *c *= amplitude / modulus;
            }
        });
    ifft2_real(&mut spectrum, size)
}

/// The transfer of averaging over a pixel at frequency index k of an n-point DFT:
/// sinc(f) = sin(πf)/(πf), f = k/n cycles per pixel (signed).
pub fn pixel_aperture(k: usize, n: usize) -> f64 {
    let x = std::f64::consts::PI * signed(k, n) / n as f64;
    if x == 0.0 { 1.0 } else { x.sin() / x }
}

/// Frequency index k of an n-point DFT as a signed integer (k or k − n).
pub fn signed(k: usize, n: usize) -> f64 {
    if k <= n / 2 {
        k as f64
    } else {
        k as f64 - n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_inner_potential_of_ice() {
        // 0.0314 · 47.877 · (1.9834 + 2 · 0.5288) ≈ 4.57 V (measured values: 3.5–4.9 V).
        assert!((mean_potential_volts() - 4.572).abs() < 0.01);
    }

    #[test]
    fn background_has_the_prescribed_variance() {
        let (size, p, t) = (128, 1.0, 300.0);
        let field = random_phase_background(size, p, t, 11);
        let mean = field.iter().sum::<f64>() / field.len() as f64;
        let var = field.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / field.len() as f64;
        // Σ_k S(q_k) sinc²(kx/n) sinc²(ky/n) / (n p²) over the grid, computed independently.
        let dq = 1.0 / (size as f64 * p);
        let mut expected = 0.0;
        for ky in 0..size {
            for kx in 0..size {
                if kx == 0 && ky == 0 {
                    continue;
                }
                let q = (signed(kx, size).powi(2) + signed(ky, size).powi(2)).sqrt() * dq;
                let aperture = |k: usize| {
                    let f = std::f64::consts::PI * signed(k, size) / size as f64;
                    if f == 0.0 { 1.0 } else { (f.sin() / f).powi(2) }
                };
                expected += background_spectrum(q, t) * aperture(kx) * aperture(ky);
            }
        }
        expected /= (size * size) as f64 * p * p;
        assert!(mean.abs() < 1e-6 * expected.sqrt());
        assert!((var / expected - 1.0).abs() < 1e-6, "{var} vs {expected}");
    }
}
