//! Noise-Transfer2Clean's GAN noise synthesiser (Li et al. 2022, §2.1.2, Fig. 2): a generator
//! of six transposed convolutions from a latent vector to a 64 × 64 noise patch, and a critic
//! of six convolutions from a patch to one unbounded score (a Wasserstein critic: no sigmoid,
//! no batch normalisation, since the gradient penalty is taken per sample).
//!
//! Shapes: latent `[batch, latent]`; patches `[batch, 1, 64, 64]` (y, x); scores `[batch]`.
//! Widths: the generator goes latent → 8w → 4w → 2w → w → w → 1 channels over 1 → 4 → 8 → 16
//! → 32 → 64 → 64 pixels (ReLU between, linear output); the critic 1 → w → 2w → 4w → 8w → 8w
//! → 1 over 64 → 32 → 16 → 8 → 4 → 4 → 1 (leaky ReLU 0.2 between).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, relu};

/// Side of the noise patches the networks make and judge, pixels.
pub const GAN_PATCH_PX: usize = 64;

/// (kernel, stride, padding) of each layer, shared by both networks in mirror order.
const LAYERS: [(usize, usize, usize); 6] = [
    (4, 1, 0),
    (4, 2, 1),
    (4, 2, 1),
    (4, 2, 1),
    (4, 2, 1),
    (3, 1, 1),
];

/// The generator: latent vector → 64 × 64 noise patch.
#[derive(Module, Debug)]
pub struct NoiseGenerator {
    /// The six transposed convolutions, input first.
    pub layers: Vec<ConvTranspose2d>,
}

impl NoiseGenerator {
    /// A randomly initialised generator from `latent` dimensions with width `width`.
    pub fn new(latent: usize, width: usize, device: &Device) -> Self {
        let channels = [latent, 8 * width, 4 * width, 2 * width, width, width, 1];
        let layers = LAYERS
            .iter()
            .enumerate()
            .map(|(i, &(k, s, p))| {
                ConvTranspose2dConfig::new([channels[i], channels[i + 1]], [k, k])
                    .with_stride([s, s])
                    .with_padding([p, p])
                    .init(device)
            })
            .collect();
        Self { layers }
    }

    /// `[batch, latent]` → `[batch, 1, 64, 64]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [b, l] = z.dims();
        let mut h = z.reshape([b, l, 1, 1]);
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
        let z = Tensor::<2>::zeros([3, 16], &device);
        let x = g.forward(z);
        assert_eq!(x.dims(), [3, 1, GAN_PATCH_PX, GAN_PATCH_PX]);
        assert_eq!(c.forward(x).dims(), [3]);
        assert_eq!(g.layers.len(), 6);
        assert_eq!(c.layers.len(), 6);
    }
}
