//! Synthetic ground truth for the estimators of [`crate::metrics`]: images whose signal,
//! noise and denoiser bias are all known.
//!
//! The model is the one of Palovcak et al. 2020 (supplement, eq. 1, 4 and 9): two noisy
//! halves M_i = S + N_i (i = 1, 2) of the same signal S with independent noise N_i, and a
//! known deterministic "denoiser" D(M) = a · G_σ(M) + b, a linear Gaussian low-pass G_σ scaled
//! by `a` plus a fixed bias field `b`. Because it is linear, each denoised half splits exactly
//! into D_i = S + Nd_i + B with
//! * remaining noise Nd_i = a · G_σ(N_i),
//! * bias (false signal) B = a · G_σ(S) + b − S, the same in both halves,
//!
//! so var(S), var(Nn), var(Nd) and var(B) are computed from the noise-free components
//! ([`SyntheticSet::truth`]), and per Fourier ring by applying
//! [`crate::metrics::spectral_covariance`] to the components.
//!
//! Everything is deterministic given the seed: the generator [`crate::rng::Rng`] is a self-contained
//! xoshiro256** seeded with SplitMix64, so results do not change with dependency versions.
//! Images are row-major `height` rows × `width` columns ([`crate::image`]).

use crate::fourier::gaussian_lowpass;
use crate::image::Image;
use crate::rng::Rng;

/// Population variance (divisor n) of an image's values, accumulated in f64.
fn variance(im: &Image) -> f64 {
    let s = im.stats();
    s.std * s.std
}

/// A smooth random field: white Gaussian noise (seeded) convolved periodically with a
/// Gaussian of σ = `sigma_px` pixels ([`gaussian_lowpass`]), then shifted and scaled to
/// mean 0 and population variance 1 exactly.
///
/// Shape `height` rows × `width` columns, no pixel size. Its power spectrum is
/// ∝ exp(−4π²σ²f²) (f in cycles/px), so it is periodic (no edge effects in Fourier space)
/// and its power falls to 1/e at f = 1/(2πσ). `sigma_px ≤ 0` gives white noise.
/// A zero dimension gives an empty image.
pub fn smooth_field(width: usize, height: usize, sigma_px: f32, seed: u64) -> Image {
    let mut rng = Rng::new(seed);
    let data: Vec<f32> = (0..width * height).map(|_| rng.normal() as f32).collect();
    let white = Image {
        width,
        height,
        data,
        pixel_size_angstrom: None,
    };
    let mut field = gaussian_lowpass(&white, sigma_px);
    let s = field.stats();
    let scale = if s.std > 0.0 { 1.0 / s.std } else { 1.0 };
    field
        .data
        .iter_mut()
        .for_each(|v| *v = ((*v as f64 - s.mean) * scale) as f32);
    field
}

/// Noise added to the signal in each noisy half.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NoiseModel {
    /// Additive white Gaussian noise of standard deviation `sigma` (image units), variance
    /// σ², independent of the signal.
    Gaussian {
        /// Standard deviation σ.
        sigma: f64,
    },
    /// Shot noise of a counting detector: each half is `gain` × Poisson(S / `gain`), so the
    /// signal S (which must be ≥ 0, see [`SyntheticConfig::signal_mean`]) is `gain` × the
    /// expected counts and the noise variance at a pixel is `gain` × S (mean `gain` × mean S).
    Poisson {
        /// Image units per detected electron (> 0).
        gain: f64,
    },
}

/// The known denoiser D(M) = `scale` · G_σ(M) + b: Gaussian low-pass of σ = `sigma_px`
/// pixels ([`gaussian_lowpass`]), multiplied by `scale`, plus a fixed bias field b
/// (`bias_field`, same shape as the images; `None` for none).
///
/// Linear in M, so D(S + N) = D(S) + `scale`·G_σ(N): the noise part and the bias
/// B = D(S) − S are known exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct KnownDenoiser {
    /// Multiplier a of the low-passed image.
    pub scale: f32,
    /// Gaussian low-pass σ in pixels (≤ 0: no low-pass).
    pub sigma_px: f32,
    /// Additive field b (image units), or `None`.
    pub bias_field: Option<Image>,
}

impl KnownDenoiser {
    /// D(M) = a · G_σ(M) + b (without b when `add_bias` is false, for the noise part).
    fn apply_inner(&self, m: &Image, add_bias: bool) -> Image {
        let mut out = gaussian_lowpass(m, self.sigma_px);
        let b = self
            .bias_field
            .as_ref()
            .filter(|b| add_bias && b.data.len() == out.data.len());
        match b {
            Some(b) => out
                .data
                .iter_mut()
                .zip(&b.data)
                .for_each(|(v, bv)| *v = *v * self.scale + bv),
            None => out.data.iter_mut().for_each(|v| *v *= self.scale),
        }
        out
    }

    /// Denoises `m`: a · G_σ(m) + b (b added only if its shape matches `m`). Shape and pixel
    /// size are kept.
    pub fn apply(&self, m: &Image) -> Image {
        self.apply_inner(m, true)
    }
}

/// Parameters of [`generate`].
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    /// Columns (x).
    pub width: usize,
    /// Rows (y).
    pub height: usize,
    /// Pixel size in Å/px given to every image (or `None`).
    pub pixel_size_angstrom: Option<f32>,
    /// Smoothness of the signal: σ in pixels of the Gaussian filter of [`smooth_field`].
    pub signal_sigma_px: f32,
    /// Mean of the signal S (image units; for Poisson noise, `gain` × mean counts per half).
    pub signal_mean: f64,
    /// Standard deviation of the signal S around its mean (image units).
    pub signal_std: f64,
    /// Noise of each half.
    pub noise: NoiseModel,
    /// Denoiser multiplier a.
    pub denoiser_scale: f32,
    /// Denoiser low-pass σ in pixels.
    pub denoiser_sigma_px: f32,
    /// Standard deviation of the denoiser's additive bias field b (a smooth field of σ =
    /// `bias_sigma_px`, independent of S); 0 for none.
    pub bias_std: f64,
    /// Smoothness (σ in pixels) of the bias field b.
    pub bias_sigma_px: f32,
    /// Seed of every random draw.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    /// 512 × 512 pixels of 1 Å, signal σ 4 px with mean 0 and std 1, Gaussian noise σ 2
    /// (SNR 0.25), denoiser 0.8 · G₁.₅(M) + a field of std 0.3 (σ 12 px), seed 1.
    fn default() -> Self {
        Self {
            width: 512,
            height: 512,
            pixel_size_angstrom: Some(1.0),
            signal_sigma_px: 4.0,
            signal_mean: 0.0,
            signal_std: 1.0,
            noise: NoiseModel::Gaussian { sigma: 2.0 },
            denoiser_scale: 0.8,
            denoiser_sigma_px: 1.5,
            bias_std: 0.3,
            bias_sigma_px: 12.0,
            seed: 1,
        }
    }
}

/// The true variances of the components (population variances over all pixels, computed
/// from the noise-free components of the realisation: var(Nn) and var(Nd) are means over the
/// two halves, B = D(S) − S), with the ratios of Palovcak et al. 2020 (supplement eq. 19, 20,
/// 23, and SNBR of the main text): the same quantities the estimators return.
pub type Truth = super::VarianceEstimate;

/// A realisation of the model: signal, two noisy halves, their denoised versions, and the
/// noise-free components of each. All images have the configured shape and pixel size.
#[derive(Clone, Debug)]
pub struct SyntheticSet {
    /// S.
    pub signal: Image,
    /// N₁, N₂ (M_i − S).
    pub noise: [Image; 2],
    /// M₁, M₂.
    pub noisy: [Image; 2],
    /// D₁ = D(M₁), D₂ = D(M₂).
    pub denoised: [Image; 2],
    /// Nd₁, Nd₂ = a · G_σ(N_i).
    pub denoised_noise: [Image; 2],
    /// B = D(S) − S (includes the field b).
    pub bias: Image,
    /// The denoiser that made `denoised`.
    pub denoiser: KnownDenoiser,
    /// True variances and ratios.
    pub truth: Truth,
}

fn sub(a: &Image, b: &Image) -> Image {
    let mut out = a.clone();
    out.data.iter_mut().zip(&b.data).for_each(|(x, y)| *x -= y);
    out
}

/// Draws a [`SyntheticSet`] from `config` (deterministic given `config.seed`).
///
/// S = `signal_mean` + `signal_std` · [`smooth_field`]; each half gets independent noise of
/// `config.noise`; D = [`KnownDenoiser`] with the configured a, σ and a bias field
/// b = `bias_std` · [`smooth_field`] (own seed). For Poisson noise, negative signal values
/// are clamped to 0 counts (choose `signal_mean` ≥ a few `signal_std`).
/// A zero dimension gives empty images and NaN truths.
pub fn generate(config: &SyntheticConfig) -> SyntheticSet {
    let (w, h) = (config.width, config.height);
    let ps = config.pixel_size_angstrom;
    let field = smooth_field(w, h, config.signal_sigma_px, config.seed);
    let mut signal = field.clone().with_pixel_size(ps);
    signal.data.iter_mut().for_each(|v| {
        *v = (config.signal_mean + config.signal_std * *v as f64) as f32;
    });
    let noisy: [Image; 2] = std::array::from_fn(|i| {
        let mut rng = Rng::stream(config.seed, 1 + i as u64);
        let mut m = signal.clone();
        match config.noise {
            NoiseModel::Gaussian { sigma } => m
                .data
                .iter_mut()
                .for_each(|v| *v = (*v as f64 + sigma * rng.normal()) as f32),
            NoiseModel::Poisson { gain } => m
                .data
                .iter_mut()
                .for_each(|v| *v = (gain * rng.poisson(*v as f64 / gain) as f64) as f32),
        }
        m
    });
    let noise: [Image; 2] = std::array::from_fn(|i| sub(&noisy[i], &signal));
    let bias_field = (config.bias_std > 0.0).then(|| {
        let mut b = smooth_field(w, h, config.bias_sigma_px, config.seed ^ 0xB1A5);
        b.data
            .iter_mut()
            .for_each(|v| *v = (config.bias_std * *v as f64) as f32);
        b.with_pixel_size(ps)
    });
    let denoiser = KnownDenoiser {
        scale: config.denoiser_scale,
        sigma_px: config.denoiser_sigma_px,
        bias_field,
    };
    let denoised: [Image; 2] = std::array::from_fn(|i| denoiser.apply(&noisy[i]));
    let denoised_noise: [Image; 2] =
        std::array::from_fn(|i| denoiser.apply_inner(&noise[i], false));
    let bias = sub(&denoiser.apply(&signal), &signal);
    let var_s = variance(&signal);
    let var_nn = 0.5 * (variance(&noise[0]) + variance(&noise[1]));
    let var_nd = 0.5 * (variance(&denoised_noise[0]) + variance(&denoised_noise[1]));
    let var_b = variance(&bias);
    let truth = Truth::from_variances(var_s, var_nn, var_nd, var_b);
    SyntheticSet {
        signal,
        noise,
        noisy,
        denoised,
        denoised_noise,
        bias,
        denoiser,
        truth,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        VarianceEstimate, variance_estimate, variance_estimate_rings, variance_estimate_with,
    };
    use super::*;

    /// The default synthetic set at `width × height` pixels.
    fn of_size(width: usize, height: usize) -> SyntheticSet {
        generate(&SyntheticConfig {
            width,
            height,
            ..SyntheticConfig::default()
        })
    }

    #[test]
    fn rng_is_deterministic_and_uniform() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let n = 200_000;
        let mean = (0..n).map(|_| a.uniform()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        assert_ne!(Rng::stream(7, 1).next_u64(), Rng::stream(7, 2).next_u64());
    }

    #[test]
    fn samplers_have_the_right_moments() {
        let mut r = Rng::new(3);
        let n = 100_000;
        let moments = |xs: &[f64]| {
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
            (m, v)
        };
        let z: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let (m, v) = moments(&z);
        assert!(m.abs() < 0.02 && (v - 1.0).abs() < 0.02, "{m} {v}");
        for lambda in [0.3, 7.0, 75.0] {
            let p: Vec<f64> = (0..n).map(|_| r.poisson(lambda) as f64).collect();
            let (m, v) = moments(&p);
            assert!((m / lambda - 1.0).abs() < 0.02, "{lambda}: {m}");
            assert!((v / lambda - 1.0).abs() < 0.03, "{lambda}: {v}");
        }
        for count in [0u64, 1, 5, 64, 200, 1 << 20] {
            let b: Vec<f64> = (0..n).map(|_| r.binomial_half(count) as f64).collect();
            let (m, v) = moments(&b);
            assert!((m - count as f64 / 2.0).abs() < 0.02 * count as f64 + 1e-9);
            assert!((v - count as f64 / 4.0).abs() < 0.03 * count as f64 + 1e-9);
            assert!(b.iter().all(|&x| x <= count as f64));
        }
    }

    #[test]
    fn smooth_field_is_normalised() {
        let f = smooth_field(64, 48, 3.0, 9);
        let s = f.stats();
        assert!(s.mean.abs() < 1e-5 && (s.std - 1.0).abs() < 1e-5);
        assert_eq!(f, smooth_field(64, 48, 3.0, 9));
    }

    #[test]
    fn components_add_up() {
        let set = of_size(64, 64);
        for i in 0..2 {
            for p in 0..64 * 64 {
                let d = set.denoised[i].data[p];
                let parts = set.signal.data[p] + set.denoised_noise[i].data[p] + set.bias.data[p];
                assert!((d - parts).abs() < 1e-4, "{d} vs {parts}");
                let m = set.signal.data[p] + set.noise[i].data[p];
                assert!((set.noisy[i].data[p] - m).abs() < 1e-5);
            }
        }
        assert!(set.truth.signal > 0.0 && set.truth.bias > 0.0);
    }

    #[test]
    fn identity_denoiser_has_no_bias() {
        let set = of_size(128, 128);
        let [m1, m2] = &set.noisy;
        let e = variance_estimate(m1, m2, m1, m2).unwrap();
        assert!((e.noise_noisy - e.noise_denoised).abs() < 1e-9);
        assert!(e.bias.abs() < 1e-9, "{}", e.bias);
        let f = variance_estimate_with(m1, m2, |m| Ok(m.clone())).unwrap();
        assert_eq!(e, f);
    }

    #[test]
    fn rings_add_up_to_the_global_estimate() {
        // Noise-free halves (M = S, D = D(S)) of band-limited images: the ring values
        // weighted by their components add up to the global ones (Parseval), since nothing
        // lies beyond Nyquist.
        let set = of_size(96, 80);
        let s = &set.signal;
        let d = set.denoiser.apply(s);
        let g = variance_estimate(s, s, &d, &d).unwrap();
        let rings = variance_estimate_rings(s, s, &d, &d, 1.0).unwrap();
        let sum = |f: &dyn Fn(&VarianceEstimate) -> f64| {
            rings
                .rings
                .iter()
                .map(|r| r.components as f64 * f(&r.value))
                .sum::<f64>()
                / (96.0 * 80.0)
        };
        let sig = sum(&|v| v.signal);
        let bias = sum(&|v| v.bias);
        assert!((sig / g.signal - 1.0).abs() < 1e-4, "{sig} vs {}", g.signal);
        assert!((bias / g.bias - 1.0).abs() < 1e-4, "{bias} vs {}", g.bias);
        assert!((bias / set.truth.bias - 1.0).abs() < 1e-4);
        assert!(g.noise_noisy.abs() < 1e-6 && g.noise_denoised.abs() < 1e-6);
    }
}
