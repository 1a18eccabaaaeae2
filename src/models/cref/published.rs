//! crefDenoiser's U-net as the authors released it (Agarwal et al. 2024, section 2.3; 322,881
//! parameters, the count the paper states), the default network of new crefDenoiser models
//! and the one `cryolens models import cref` fills from the authors' TensorFlow checkpoint.
//!
//! With f = 16 filters, 3³ kernels with biases ('same' padding), leaky ReLU (slope 0.1) after
//! every convolution but the output, 2×2×2 max pooling and ×2 nearest up-sampling:
//!
//! | part | layers (c_in→c_out) | parameters |
//! |---|---|---|
//! | contracting block 1 | 1→16, 16→16, pool → P₁ | 448 + 6,928 |
//! | contracting blocks 2–4 | 16→16, pool → P₂, P₃, P₄ | 3 · 6,928 |
//! | contracting block 5 | 16→16, pool → P₅, 16→16 | 2 · 6,928 |
//! | | | **42,016** |
//! | expanding, 1/16 scale | up, cat P₄ → 32; 32→32, 32→32 | 27,680 + 27,680 |
//! | expanding, 1/8 … 1/2 | up, cat P₃ / P₂ / P₁ → 48; 48→32, 32→32 | 3 · (41,504 + 27,680) |
//! | | | **262,912** |
//! | full scale | up, cat input → 33; 33→16, 16→8 | 14,272 + 3,464 = **17,736** |
//! | output | 8→1, linear | **217** |
//! | total | | **322,881** |
//!
//! The skips carry the *pooled* outputs of the contracting blocks plus the raw input;
//! concatenation puts the up-sampled features first (Keras `Concatenate()([up, skip])`).
//! [`CrefPublishedUNet::convs`] lists the 18 convolutions in Keras' layer order (the order of
//! `layer_with_weights-N` in a TensorFlow checkpoint).

use burn::nn::conv::Conv3d;
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;

use super::up2;
use crate::models::topaz3d::{conv, pool3};

/// The released crefDenoiser network (see the module docs). Input `[batch, 1, z, y, x]`, every
/// axis a multiple of 32 (five poolings).
#[derive(Module, Debug)]
pub struct CrefPublishedUNet {
    /// Contracting convolutions: 1→f, f→f (block 1), f→f ×3 (blocks 2–4), f→f, f→f (block 5,
    /// around its pooling).
    pub enc: Vec<Conv3d>,
    /// Expanding convolutions, deepest first, two per scale: (2f or 3f)→2f, 2f→2f.
    pub dec: Vec<Conv3d>,
    /// Full-scale convolutions (2f+1)→f, f→f/2 and the linear output f/2→1.
    pub head: Vec<Conv3d>,
    /// Leaky ReLU slope.
    pub leak: f64,
}

impl CrefPublishedUNet {
    /// Randomly initialised network: `f` filters (16 published), `k`³ kernels, slope `leak`.
    pub fn new(f: usize, k: usize, leak: f64, device: &Device) -> Self {
        let mut enc = vec![conv(1, f, k, device)];
        enc.extend((0..6).map(|_| conv(f, f, k, device)));
        let dec = (0..4)
            .flat_map(|i| {
                let cin = if i == 0 { 2 * f } else { 3 * f };
                [conv(cin, 2 * f, k, device), conv(2 * f, 2 * f, k, device)]
            })
            .collect();
        let head = vec![
            conv(2 * f + 1, f, k, device),
            conv(f, f / 2, k, device),
            conv(f / 2, 1, k, device),
        ];
        Self {
            enc,
            dec,
            head,
            leak,
        }
    }

    /// The 18 convolutions in Keras' layer order: `enc`, `dec`, `head`.
    pub fn convs(&self) -> impl Iterator<Item = &Conv3d> {
        self.enc.iter().chain(&self.dec).chain(&self.head)
    }

    /// The 18 convolutions in Keras' layer order, mutable (to load weights).
    pub fn convs_mut(&mut self) -> impl Iterator<Item = &mut Conv3d> {
        self.enc
            .iter_mut()
            .chain(self.dec.iter_mut())
            .chain(self.head.iter_mut())
    }

    /// `[batch, 1, z, y, x]` (each axis a multiple of 32) → same shape.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let act = |t: Tensor<5>| leaky_relu(t, self.leak);
        let e = &self.enc;
        let mut skips = Vec::with_capacity(4);
        let mut h = pool3(act(e[1].forward(act(e[0].forward(x.clone())))));
        for c in &e[2..5] {
            skips.push(h.clone());
            h = pool3(act(c.forward(h)));
        }
        skips.push(h.clone());
        h = pool3(act(e[5].forward(h)));
        h = act(e[6].forward(h));
        for (pair, skip) in self.dec.chunks(2).zip(skips.into_iter().rev()) {
            h = Tensor::cat(vec![up2(h), skip], 1);
            h = act(pair[0].forward(h));
            h = act(pair[1].forward(h));
        }
        h = Tensor::cat(vec![up2(h), x], 1);
        h = act(self.head[0].forward(h));
        h = act(self.head[1].forward(h));
        self.head[2].forward(h)
    }
}
