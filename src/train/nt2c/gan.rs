//! WGAN-GP training of Noise-Transfer2Clean's noise synthesiser (Li et al. 2022, §2.1.2,
//! eq. 2; Gulrajani et al. 2017): on real noise patches ([`super::patches`]), the critic
//! minimises D(fake) − D(real) + λ (‖∇D(x̂)‖ − 1)² with x̂ on the line between a real and a
//! fake patch, and the generator minimises −D(fake); `critic_steps` critic steps per
//! generator step, Adam (β₁ 0, β₂ 0.9) for both, λ = 10 (Gulrajani et al.'s defaults; the
//! paper does not give its own).
//!
//! burn differentiates once, and the penalty needs the gradient of a gradient norm. The norm
//! ‖∇D(x̂)‖ is the derivative of D along the gradient's own direction u = ∇D/‖∇D‖, so it is
//! taken as the central difference [D(x̂ + h u) − D(x̂ − h u)] / 2h, with u from one backward
//! pass and held constant: a function of the critic's weights that burn can differentiate.
//! The critic is piecewise linear (leaky ReLU), so for small h this is exact away from the
//! kinks (`fd_gradient_norm_matches_autodiff` checks it).
//!
//! Patches are normalised by the mean and σ of all real noise patches before training, and
//! each 64² crop the critic sees is made zero-mean (the ice's local level is not noise);
//! [`NoiseGan::sample`] undoes the normalisation, so samples come in the micrograph's units
//! around the patches' mean.

use anyhow::{Result, bail};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::image::Image;
use crate::models::nt2c::{GAN_PATCH_PX, NoiseCritic, NoiseGenerator};
use crate::rng::Rng;
use crate::train::loss::scalar;

/// Training settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GanConfig {
    /// Channels of the generator's latent field (white Gaussian noise, 64 × 64 each).
    pub latent: usize,
    /// Network width w (the critic's widest layer has 8w channels, the generator's w).
    pub width: usize,
    /// Patches per step.
    pub batch: usize,
    /// Generator steps.
    pub steps: usize,
    /// Critic steps per generator step.
    pub critic_steps: usize,
    /// Gradient-penalty weight λ.
    pub lambda: f64,
    /// Adam's learning rate, both networks.
    pub learning_rate: f64,
    /// Seed of the weights, the crops and the latent draws.
    pub seed: u64,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self {
            latent: 4,
            width: 16,
            batch: 16,
            steps: 2000,
            critic_steps: 5,
            lambda: 10.0,
            learning_rate: 1e-4,
            seed: 0,
        }
    }
}

/// A trained synthesiser and its history.
#[derive(Debug)]
pub struct NoiseGan {
    /// The generator.
    pub generator: NoiseGenerator,
    /// Channels of the latent field.
    pub latent: usize,
    /// Mean and σ of the real patches (to put samples back in their units).
    pub normalisation: (f64, f64),
    /// The critic's loss after each generator step (its estimate of −W plus the penalty).
    pub critic_losses: Vec<f64>,
}

/// Central-difference step of the gradient-norm estimate, in normalised units.
const FD_STEP: f64 = 1e-2;

/// The per-sample ‖∇ₓ D(x)‖ at `x` (`[b, 1, 64, 64]`, constant), as a function of the critic's
/// weights that burn can differentiate (see the module docs).
pub fn fd_gradient_norm(critic: &NoiseCritic, x: Tensor<4>) -> Tensor<1> {
    let device = x.device();
    let dims = x.dims();
    let probe = Tensor::<4>::from_data(x.clone().into_data(), &device).require_grad();
    let grads = critic.forward(probe.clone()).sum().backward();
    let g = match probe.grad(&grads) {
        Some(g) => Tensor::<4>::from_data(g.into_data(), &device),
        None => Tensor::zeros(dims, &device),
    };
    let norm = crate::models::norm_per_first_axis(g.clone());
    let u = g / norm;
    let up = critic.forward(x.clone() + u.clone() * FD_STEP);
    let down = critic.forward(x - u * FD_STEP);
    (up - down) / (2.0 * FD_STEP)
}

/// Trains the synthesiser on `patches` (real noise, each at least 64 × 64; random 64 × 64 crops
/// are taken) on `device` (an autodiff device), reporting one step per generator step through
/// `progress`.
///
/// # Errors
/// No patch, or one smaller than 64 × 64; patches without variance; a zero batch or step
/// count; a non-finite loss; cancellation.
pub fn train_gan(
    patches: &[Image],
    config: &GanConfig,
    device: &Device,
    progress: &crate::jobs::Progress,
) -> Result<NoiseGan> {
    let p = GAN_PATCH_PX;
    if patches.is_empty() {
        bail!("no noise patches to learn from (lower the background threshold to find some)");
    }
    if let Some(small) = patches.iter().find(|im| im.width < p || im.height < p) {
        bail!(
            "a {}×{} noise patch is smaller than the synthesiser's {p}×{p}",
            small.width,
            small.height
        );
    }
    if config.batch == 0 || config.steps == 0 || config.critic_steps == 0 {
        bail!("batch, steps and critic steps must be positive");
    }
    let all = patches
        .iter()
        .flat_map(|im| im.data.iter().map(|&v| f64::from(v)));
    let n = patches.iter().map(|im| im.data.len()).sum::<usize>() as f64;
    let mean = all.clone().sum::<f64>() / n;
    let sd = (all.map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    if !(sd > 0.0 && sd.is_finite()) {
        bail!("the noise patches have no variance");
    }
    let mut rng = Rng::new(config.seed);
    device.seed(config.seed);
    let mut generator = NoiseGenerator::new(config.latent, config.width, device);
    let mut critic = NoiseCritic::new(config.width, device);
    let adam = || -> ModuleOptimizer { AdamConfig::new().with_beta_1(0.0).with_beta_2(0.9).init() };
    let (mut opt_g, mut opt_c) = (adam(), adam());
    let b = config.batch;
    let real_batch = |rng: &mut Rng| -> Tensor<4> {
        let mut data = Vec::with_capacity(b * p * p);
        for _ in 0..b {
            let im = &patches[(rng.next_u64() % patches.len() as u64) as usize];
            let x0 = (rng.next_u64() % (im.width - p + 1) as u64) as usize;
            let y0 = (rng.next_u64() % (im.height - p + 1) as u64) as usize;
            let start = data.len();
            for y in y0..y0 + p {
                let row = &im.data[y * im.width + x0..y * im.width + x0 + p];
                data.extend(row.iter().map(|&v| ((f64::from(v) - mean) / sd) as f32));
            }
            // Zero-mean crops: the ice's local level is not noise (re-weighting's γ sets the
            // level), and a critic that could tell patches by their level would teach the
            // generator nothing about the noise.
            let crop = &mut data[start..];
            let level = crop.iter().map(|&v| f64::from(v)).sum::<f64>() / crop.len() as f64;
            crop.iter_mut().for_each(|v| *v -= level as f32);
        }
        Tensor::from_data(TensorData::new(data, [b, 1, p, p]), device)
    };
    let latent = |rng: &mut Rng| -> Tensor<4> {
        let z: Vec<f32> = (0..b * config.latent * p * p)
            .map(|_| rng.normal() as f32)
            .collect();
        Tensor::from_data(TensorData::new(z, [b, config.latent, p, p]), device)
    };
    progress.start(config.steps as u64, "NT2C noise synthesiser (WGAN-GP)");
    let mut critic_losses = Vec::with_capacity(config.steps);
    for step in 0..config.steps {
        if progress.is_cancelled() {
            bail!("noise synthesiser training cancelled");
        }
        let mut last = 0.0;
        for _ in 0..config.critic_steps {
            let real = real_batch(&mut rng);
            let fake = generator.forward(latent(&mut rng)).detach();
            let eps: Vec<f32> = (0..b).map(|_| rng.uniform() as f32).collect();
            let eps =
                Tensor::<1>::from_data(TensorData::new(eps, [b]), device).reshape([b, 1, 1, 1]);
            let between = (real.clone() * eps.clone() + fake.clone() * (eps.neg() + 1.0)).detach();
            let slope = fd_gradient_norm(&critic, between);
            let penalty = (slope - 1.0).powf_scalar(2.0).mean() * config.lambda;
            let loss = critic.forward(fake).mean() - critic.forward(real).mean() + penalty;
            last = scalar(loss.clone())?;
            if !last.is_finite() {
                bail!("the critic's loss became {last} at step {}", step + 1);
            }
            let grads = GradientsParams::from_grads(loss.backward(), &critic);
            critic = opt_c.step(config.learning_rate, critic, grads);
        }
        critic_losses.push(last);
        let loss = critic
            .forward(generator.forward(latent(&mut rng)))
            .mean()
            .neg();
        let grads = GradientsParams::from_grads(loss.backward(), &generator);
        generator = opt_g.step(config.learning_rate, generator, grads);
        progress.step();
    }
    Ok(NoiseGan {
        generator,
        latent: config.latent,
        normalisation: (mean, sd),
        critic_losses,
    })
}

impl NoiseGan {
    /// `count` synthetic 64 × 64 noise patches in the real patches' units, from latent draws
    /// seeded by `seed`.
    ///
    /// # Errors
    /// A backend failure.
    pub fn sample(&self, count: usize, seed: u64, device: &Device) -> Result<Vec<Image>> {
        let p = GAN_PATCH_PX;
        let mut rng = Rng::new(seed);
        let z: Vec<f32> = (0..count * self.latent * p * p)
            .map(|_| rng.normal() as f32)
            .collect();
        let z = Tensor::<4>::from_data(TensorData::new(z, [count, self.latent, p, p]), device);
        let data = self
            .generator
            .forward(z)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| anyhow::anyhow!("backend failure: {e:?}"))?;
        let (mean, sd) = self.normalisation;
        data.chunks(p * p)
            .map(|c| {
                let v = c
                    .iter()
                    .map(|&x| (f64::from(x) * sd + mean) as f32)
                    .collect();
                Ok(Image::new(p, p, v)?)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    /// The central difference along the gradient's direction equals the gradient's norm.
    #[test]
    fn fd_gradient_norm_matches_autodiff() {
        let device = device();
        device.seed(4);
        let critic = NoiseCritic::new(2, &device);
        let mut rng = Rng::new(8);
        let x: Vec<f32> = (0..2 * 64 * 64).map(|_| rng.normal() as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(x, [2, 1, 64, 64]), &device);
        let fd = fd_gradient_norm(&critic, x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let probe = x.require_grad();
        let grads = critic.forward(probe.clone()).sum().backward();
        let g = probe
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (k, chunk) in g.chunks(64 * 64).enumerate() {
            let exact = chunk.iter().map(|v| v * v).sum::<f32>().sqrt();
            assert!(
                (fd[k] - exact).abs() < 0.02 * exact,
                "sample {k}: {} vs {exact}",
                fd[k]
            );
        }
    }

    /// On real patches of white noise (σ 3 about 10), the generator learns their spread from
    /// next to nothing: its samples' σ moves a good part of the way to the real one, about
    /// the real mean.
    #[test]
    fn the_generator_learns_the_noise_spread() {
        let device = device();
        let mut rng = Rng::new(2);
        let patches: Vec<Image> = (0..8)
            .map(|_| {
                let v = (0..96 * 96)
                    .map(|_| (10.0 + 3.0 * rng.normal()) as f32)
                    .collect();
                Image::new(96, 96, v).unwrap()
            })
            .collect();
        let config = GanConfig {
            latent: 4,
            width: 8,
            batch: 8,
            steps: 120,
            learning_rate: 3e-3,
            seed: 1,
            ..GanConfig::default()
        };
        let sd_of = |gan: &NoiseGan| {
            let s = gan.sample(8, 5, &device).unwrap();
            let all: Vec<f64> = s
                .iter()
                .flat_map(|im| im.data.iter().map(|&v| f64::from(v)))
                .collect();
            let m = all.iter().sum::<f64>() / all.len() as f64;
            (all.iter().map(|v| (v - m).powi(2)).sum::<f64>() / all.len() as f64).sqrt()
        };
        let untrained = train_gan(
            &patches,
            &GanConfig { steps: 1, ..config },
            &device,
            &crate::jobs::Progress::new(),
        )
        .unwrap();
        let trained = train_gan(&patches, &config, &device, &crate::jobs::Progress::new()).unwrap();
        let (before, after) = (sd_of(&untrained), sd_of(&trained));
        // 120 steps of a width-8 pair close over 40 % of the gap (a narrower generator can
        // start with every channel of a layer dead: few ReLU channels on non-negative input).
        assert!(
            (after - 3.0).abs() < 0.6 * (before - 3.0).abs(),
            "σ of samples: {before} untrained, {after} trained, 3 real"
        );
        let s = trained.sample(4, 6, &device).unwrap();
        let mean = s.iter().map(|im| im.stats().mean).sum::<f64>() / 4.0;
        assert!((mean - 10.0).abs() < 1.0, "samples' mean {mean}, real 10");
        assert!(trained.critic_losses.iter().all(|l| l.is_finite()));
    }

    #[test]
    fn bad_inputs_are_refused() {
        let device = device();
        let p = crate::jobs::Progress::new();
        let c = GanConfig::default();
        assert!(
            train_gan(&[], &c, &device, &p)
                .unwrap_err()
                .to_string()
                .contains("no noise")
        );
        let small = Image::new(32, 32, vec![1.0; 1024]).unwrap();
        assert!(train_gan(&[small], &c, &device, &p).is_err());
        let flat = Image::new(64, 64, vec![1.0; 4096]).unwrap();
        assert!(
            train_gan(&[flat], &c, &device, &p)
                .unwrap_err()
                .to_string()
                .contains("variance")
        );
    }
}
