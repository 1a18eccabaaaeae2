//! Noise-Transfer2Clean's GAN noise synthesiser (Li et al. 2022, §2.1.2, Fig. 2): a generator
//! of six transposed convolutions from a latent field to a 64 × 64 noise patch, and a critic
//! of six convolutions from a patch to one unbounded score (a Wasserstein critic: no sigmoid,
//! no batch normalisation, since the gradient penalty is taken per sample).
//!
//! The paper does not give the generator's input. A latent *vector* (DCGAN's, upsampled by
//! stride-2 layers) cannot make shot noise: its outputs span as many dimensions as the vector
//! has, while 64² independent pixels need 4096 (measured with a 64-long vector on fei-extended's
//! background: synthesised σ 229 against the real 609, a spectrum of lines at the stride
//! harmonics instead of a flat one, the critic separating them at −116 after 300 steps). Our
//! generator takes a latent *field* of white Gaussian noise, `latent` channels of 64 × 64, and
//! its six transposed convolutions (3 × 3, stride 1) learn to colour and shape it: any
//! stationary spectrum within its 13-pixel reach and any marginal distribution. On the same
//! patches, 200 steps at Adam 4·10⁻⁴ give σ 560 against 609, a radial spectrum within 10 %
//! of the real one from 0.19 cycles/px to Nyquist (short of it below: the field reaches 13
//! pixels), and a critic loss of −22.5.
//!
//! Shapes: latent `[batch, latent, 64, 64]`; patches `[batch, 1, 64, 64]` (y, x); scores
//! `[batch]`. Widths: the generator goes latent → w → w → w/2 → w/2 → w/2 → 1 channels at 64 × 64
//! (ReLU between, linear output); the critic 1 → w → 2w → 4w → 8w → 8w → 1 over 64 → 32 → 16 →
//! 8 → 4 → 4 → 1 (leaky ReLU 0.2 between).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu};

/// Side of the noise patches the networks make and judge, pixels.
pub const GAN_PATCH_PX: usize = 64;

/// (kernel, stride, padding) of each critic layer, last first (the order a DCGAN generator
/// would upsample in).
const LAYERS: [(usize, usize, usize); 6] = [
    (4, 1, 0),
    (4, 2, 1),
    (4, 2, 1),
    (4, 2, 1),
    (4, 2, 1),
    (3, 1, 1),
];

/// The generator: latent field → 64 × 64 noise patch.
#[derive(Module, Debug)]
pub struct NoiseGenerator {
    /// The six transposed convolutions, input first.
    pub layers: Vec<ConvTranspose2d>,
}

impl NoiseGenerator {
    /// A randomly initialised generator from `latent` channels with width `width`.
    pub fn new(latent: usize, width: usize, device: &Device) -> Self {
        let half = width.div_ceil(2);
        let channels = [latent, width, width, half, half, half, 1];
        let layers = (0..6)
            .map(|i| {
                ConvTranspose2dConfig::new([channels[i], channels[i + 1]], [3, 3])
                    .with_padding([1, 1])
                    .init(device)
            })
            .collect();
        Self { layers }
    }

    /// `[batch, latent, 64, 64]` → `[batch, 1, 64, 64]`.
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let mut h = z;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }
}

/// The critic: 64 × 64 patch → one score.
#[derive(Module, Debug)]
pub struct NoiseCritic {
    /// The six convolutions, input first.
    pub layers: Vec<Conv2d>,
}

impl NoiseCritic {
    /// A randomly initialised critic of width `width`.
    pub fn new(width: usize, device: &Device) -> Self {
        let channels = [1, width, 2 * width, 4 * width, 8 * width, 8 * width, 1];
        // The generator's layers in reverse: stride-2 downsamplings, the 3×3, then 4×4 → 1.
        let order = [
            LAYERS[1], LAYERS[2], LAYERS[3], LAYERS[4], LAYERS[5], LAYERS[0],
        ];
        let layers = order
            .iter()
            .enumerate()
            .map(|(i, &(k, s, p))| {
                Conv2dConfig::new([channels[i], channels[i + 1]], [k, k])
                    .with_stride([s, s])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .init(device)
            })
            .collect();
        Self { layers }
    }

    /// `[batch, 1, 64, 64]` → `[batch]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        let b = x.dims()[0];
        let mut h = x;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = leaky_relu(h, 0.2);
            }
        }
        h.reshape([b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_layer_table() {
        let device = Device::flex();
        let g = NoiseGenerator::new(16, 2, &device);
        let c = NoiseCritic::new(2, &device);
        let z = Tensor::<4>::zeros([3, 16, GAN_PATCH_PX, GAN_PATCH_PX], &device);
        let x = g.forward(z);
        assert_eq!(x.dims(), [3, 1, GAN_PATCH_PX, GAN_PATCH_PX]);
        assert_eq!(c.forward(x).dims(), [3]);
        assert_eq!(g.layers.len(), 6);
        assert_eq!(c.layers.len(), 6);
    }
}
