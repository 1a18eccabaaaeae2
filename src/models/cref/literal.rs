//! crefDenoiser's U-net as section 2.3 of the paper reads literally (139,361 parameters), the
//! network of Cryolens' crefDenoiser models saved before the published one
//! ([`super::published`]) became the default; kept so that those models still load
//! (`"arch": "literal"`, the default of a sidecar that names no architecture).
//!
//! Five contracting blocks, each one 3³ convolution with 16 filters, a leaky ReLU and 2×2×2
//! max pooling; a bottleneck convolution (16 filters) with a leaky ReLU; five expanding blocks,
//! each ×2 nearest up-sampling (Keras `UpSampling3D`), concatenation with the contracting
//! block's features at that scale (before pooling), and two 3³ convolutions with 16 filters
//! and leaky ReLUs; a 3³ output convolution with one filter. Every convolution has a bias
//! (k³ = 27, weights c_in·c_out·27 + c_out biases):
//!
//! | part | layers | parameters |
//! |---|---|---|
//! | contracting | 1→16, then 4 × 16→16 | 448 + 4·6,928 = 28,160 |
//! | bottleneck | 16→16 | 6,928 |
//! | expanding | 5 × (32→16, 16→16) | 5·(13,840 + 6,928) = 103,840 |
//! | output | 16→1 | 433 |
//! | total | | **139,361** |
//!
//! The paper states 322,881: the authors' released network ([`super::published`]) differs
//! from this reading (pooled skips, the raw input as a skip, 32-filter expanding blocks).

use burn::nn::conv::Conv3d;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

use super::up2;
use crate::models::topaz3d::{conv, pool3};

/// The literal reading of section 2.3 (see the module docs). Input `[batch, 1, z, y, x]`,
/// every axis a multiple of 32 (five poolings).
#[derive(Module, Debug)]
pub struct CrefLiteralUNet {
    /// Contracting convolutions, 1→f then f→f (before each pooling).
    pub enc: Vec<Conv3d>,
    /// Bottleneck convolution f→f.
    pub bottleneck: Conv3d,
    /// Expanding blocks, deepest first: conv 2f→f, conv f→f each.
    pub dec: Vec<Conv3d>,
    /// Output convolution f→1, linear.
    pub out: Conv3d,
    /// Leaky ReLU slope.
    pub leak: f64,
}

impl CrefLiteralUNet {
    /// Randomly initialised network: `f` filters, `k`³ kernels, leaky ReLU slope `leak`.
    pub fn new(f: usize, k: usize, leak: f64, device: &Device) -> Self {
        let enc = (0..5)
            .map(|i| conv(if i == 0 { 1 } else { f }, f, k, device))
            .collect();
        let dec = (0..5)
            .flat_map(|_| [conv(2 * f, f, k, device), conv(f, f, k, device)])
            .collect();
        Self {
            enc,
            bottleneck: conv(f, f, k, device),
            dec,
            out: conv(f, 1, k, device),
            leak,
        }
    }

    /// `[batch, 1, z, y, x]` (each axis a multiple of 32) → same shape.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let act = |t: Tensor<5>| leaky_relu(t, self.leak);
        let mut skips = Vec::with_capacity(5);
        let mut h = x;
        for c in &self.enc {
            let f = act(c.forward(h));
            skips.push(f.clone());
            h = pool3(f);
        }
        h = act(self.bottleneck.forward(h));
        for (pair, skip) in self.dec.chunks(2).zip(skips.into_iter().rev()) {
            h = Tensor::cat(vec![up2(h), skip], 1);
            h = act(pair[0].forward(h));
            h = act(pair[1].forward(h));
        }
        self.out.forward(h)
    }
}
