//! Gradients through the native 2D kernels, for training steps: the weight and input
//! gradients of a convolution, a chain of convolutions with leaky ReLUs, and Topaz's U-net
//! topology ([`NetPlan`]), equal (to f32 rounding) to burn's autodiff over the same network
//! (`tests/train_native.rs`).
//!
//! Backward rules (stride-1 "same" convolution Y = W ⋆ X + b, padding k/2, odd k):
//! - dX = the same convolution of dY with the kernel flipped in y and x and its input and
//!   output channels swapped ([`Conv2dWeights::flipped`]);
//! - dW[tap, i, o] = Σ over pixels im2col(X)[pixel, tap, i] · dY[pixel, o];
//! - db[o] = Σ over pixels dY[pixel, o];
//! - leaky ReLU: dZ = dA where the activation is ≥ 0, slope·dA where it is negative (the
//!   activation has the sign of its pre-activation);
//! - 2×2 max pooling: the gradient goes to the window's first maximum;
//! - nearest up-sampling: each source pixel sums the gradients of the pixels it was copied to;
//! - channel concatenation: the gradient splits by channels.
//!
//! Everything here runs on the calling thread (gemm threading as [`Scratch::par`] says); the
//! caller spreads batch items over threads and sums their [`ConvGrad`]s.

use std::ops::Range;

use super::conv2d::{Conv2dWeights, IMPLICIT_MIN_ROW, Scratch, conv_image};
use super::im2col::{im2col, pad_image};
use super::matmul::{gemm_strided, matmul_ext};
use super::pool::{pool, pool_backward, up_cat, up_cat_backward};
use super::tensor::Hwc;
use super::{Band, band_px};

/// One convolution's weights in both packings: forward (`[tap][cin][cout]`) and the
/// input-gradient kernel (`[tap][cout][cin]`, taps reversed).
#[derive(Clone, Debug)]
pub struct TrainConv2d {
    /// Weights and bias.
    pub conv: Conv2dWeights,
    /// [`Conv2dWeights::flipped`] of `conv`.
    pub flipped: Vec<f32>,
}

impl TrainConv2d {
    /// Both packings of `conv`.
    pub fn new(conv: Conv2dWeights) -> Self {
        let flipped = conv.flipped();
        Self { conv, flipped }
    }
}

/// Gradient of one convolution: weights packed as [`Conv2dWeights`] (`[tap][cin][cout]`),
/// bias summed in f64.
#[derive(Clone, Debug)]
pub struct ConvGrad {
    /// `[tap][cin][cout]`.
    pub weight: Vec<f32>,
    /// `cout` values.
    pub bias: Vec<f64>,
}

impl ConvGrad {
    /// Zeros shaped like `conv`'s parameters.
    pub fn zeros(conv: &Conv2dWeights) -> Self {
        ConvGrad {
            weight: vec![0.0; conv.weights.len()],
            bias: vec![0.0; conv.cout],
        }
    }

    /// Adds `other` (same shapes).
    pub fn add(&mut self, other: &ConvGrad) {
        for (a, b) in self.weight.iter_mut().zip(&other.weight) {
            *a += b;
        }
        for (a, b) in self.bias.iter_mut().zip(&other.bias) {
            *a += b;
        }
    }

    /// The weight gradient in PyTorch's (and burn's) layout `[cout][cin][k][k]`.
    pub fn weight_oihw(&self, conv: &Conv2dWeights) -> Vec<f32> {
        let (taps, cin, cout) = (conv.k * conv.k, conv.cin, conv.cout);
        let mut w = vec![0.0f32; self.weight.len()];
        for t in 0..taps {
            for i in 0..cin {
                for o in 0..cout {
                    w[(o * cin + i) * taps + t] = self.weight[(t * cin + i) * cout + o];
                }
            }
        }
        w
    }
}

/// Accumulates the weight gradient `im2col(x)ᵀ · dz` into `g.weight` (`[tap][cin][cout]`) and
/// `Σ dz` into `g.bias`; `dz` is `h × w × cout`.
pub fn conv_weight_grad(
    x: &Hwc,
    k: usize,
    dz: &[f32],
    cout: usize,
    g: &mut ConvGrad,
    s: &mut Scratch,
) {
    let (h, w, cin) = (x.height, x.width, x.channels);
    let kdim = k * k * cin;
    let band_px = band_px(Band::Training);
    if k * cin >= IMPLICIT_MIN_ROW {
        // Per kernel row ky: dW[ky] (k·cin × cout) += Σ over pixels of the pixel's padded
        // input row segment (overlapping rows, stride cin) times dz, with dz laid out at the
        // padded width and zero in the extra columns.
        let p = k / 2;
        let wp = w + 2 * p;
        let row = k * cin;
        let xp = pad_image(x, p, k * cin);
        let mut dzp = vec![0.0f32; h * wp * cout];
        for (dst, src) in dzp
            .chunks_exact_mut(wp * cout)
            .zip(dz.chunks_exact(w * cout))
        {
            dst[..w * cout].copy_from_slice(src);
        }
        let rows_per_band = (4 * band_px / wp).max(1);
        for (bi, rhs) in dzp.chunks(rows_per_band * wp * cout).enumerate() {
            let oy0 = bi * rows_per_band;
            let m = rhs.len() / cout;
            for ky in 0..k {
                let lhs = &xp[(oy0 + ky) * wp * cin..];
                let dst = &mut g.weight[ky * row * cout..(ky + 1) * row * cout];
                // (row × m) · (m × cout): the left matrix is the transpose of the pixels'
                // segments, element (tap i, pixel q) at lhs[q·cin + i].
                gemm_strided(row, cout, m, dst, cout, lhs, 1, cin, rhs, cout, true, s.par);
            }
        }
    } else {
        if s.col.len() < band_px * kdim {
            s.col.resize(band_px * kdim, 0.0);
        }
        for (b, band) in dz.chunks(band_px * cout).enumerate() {
            let m = band.len() / cout;
            im2col(&x.data, h, w, cin, k, b * band_px, m, &mut s.col);
            matmul_ext(
                kdim,
                cout,
                m,
                &mut g.weight,
                &s.col,
                true,
                band,
                true,
                s.par,
            );
        }
    }
    let mut sums = vec![0.0f32; cout];
    for px in dz.chunks_exact(cout) {
        for (a, v) in sums.iter_mut().zip(px) {
            *a += v;
        }
    }
    for (a, v) in g.bias.iter_mut().zip(&sums) {
        *a += *v as f64;
    }
}

/// Activations of a chain of convolutions: `acts[0]` its input, `acts[i + 1]` the output of
/// convolution `i` (after its activation).
pub struct Tape {
    acts: Vec<Hwc>,
}

impl Tape {
    /// The chain's output (its input for an empty chain).
    pub fn output(&self) -> &Hwc {
        // A tape always holds its input.
        &self.acts[self.acts.len() - 1]
    }

    /// The chain's input.
    pub fn input(&self) -> &Hwc {
        &self.acts[0]
    }
}

/// Runs `convs` on `x` ([`conv_image`]) with a leaky ReLU of slope `leak` after each (none
/// after the last when `linear_last`), keeping every activation.
pub fn chain_forward(
    convs: &[TrainConv2d],
    x: Hwc,
    leak: f32,
    linear_last: bool,
    s: &mut Scratch,
) -> Tape {
    let n = convs.len();
    let mut acts = Vec::with_capacity(n + 1);
    acts.push(x);
    for (i, c) in convs.iter().enumerate() {
        let act = (!(linear_last && i + 1 == n)).then_some(leak);
        let y = conv_image(
            &acts[i],
            c.conv.k,
            &c.conv.weights,
            Some((&c.conv.bias, act)),
            c.conv.cout,
            s,
        );
        acts.push(y);
    }
    Tape { acts }
}

/// Back-propagates `dout` (gradient of the chain's output) through the chain of
/// [`chain_forward`] (same `leak` and `linear_last`), accumulating parameter gradients into
/// `grads` (same indexing as `convs`); returns the gradient of the chain's input when
/// `need_input_grad`.
#[allow(clippy::too_many_arguments)]
pub fn chain_backward(
    convs: &[TrainConv2d],
    grads: &mut [ConvGrad],
    mut tape: Tape,
    mut dout: Hwc,
    leak: f32,
    linear_last: bool,
    need_input_grad: bool,
    s: &mut Scratch,
) -> Option<Hwc> {
    let n = convs.len();
    for i in (0..n).rev() {
        let c = &convs[i];
        let out = tape.acts.pop()?;
        if !(linear_last && i + 1 == n) {
            for (d, a) in dout.data.iter_mut().zip(&out.data) {
                if *a < 0.0 {
                    *d *= leak;
                }
            }
        }
        drop(out);
        let input = &tape.acts[i];
        conv_weight_grad(input, c.conv.k, &dout.data, c.conv.cout, &mut grads[i], s);
        if i == 0 && !need_input_grad {
            return None;
        }
        dout = conv_image(&dout, c.conv.k, &c.flipped, None, c.conv.cin, s);
    }
    Some(dout)
}

/// A network's shape, as ranges into its list of convolutions.
#[derive(Clone, Debug)]
pub enum NetPlan {
    /// Convolutions in order, leaky ReLU after all but the last (Topaz's affine, fcnn).
    Chain(Range<usize>),
    /// U-net: `enc[i]` (pooled after), `bottom`, `dec[j]` (up-sampled input concatenated
    /// with the skip `p[L−1−j]`; the last one with a linear output), `p[0]` = the input.
    UNet {
        /// Encoder blocks, finest first.
        enc: Vec<Range<usize>>,
        /// The coarsest block (not pooled).
        bottom: Range<usize>,
        /// Decoder blocks, coarsest first.
        dec: Vec<Range<usize>>,
    },
}

impl NetPlan {
    /// Poolings between the input and the coarsest level (0 for a chain).
    pub fn depth(&self) -> usize {
        match self {
            NetPlan::Chain(_) => 0,
            NetPlan::UNet { enc, .. } => enc.len(),
        }
    }
}

/// Forward and backward pass of one single-channel image `x` through the network
/// `convs` / `plan` (leaky ReLU slope `leak`): `loss` maps the network's output (row-major,
/// one channel) to (loss value, gradient of the loss with respect to that output); the
/// parameter gradients are added to `grads` (same indexing as `convs`). Returns the loss value.
///
/// # Panics
/// When `grads` does not match `convs`, or (for a U-net) `x` is smaller than `2^depth`
/// pixels per axis.
#[allow(clippy::too_many_arguments)]
pub fn backprop(
    convs: &[TrainConv2d],
    plan: &NetPlan,
    x: Hwc,
    leak: f32,
    loss: impl FnOnce(&[f32]) -> (f64, Vec<f32>),
    grads: &mut [ConvGrad],
    s: &mut Scratch,
) -> f64 {
    let (height, width) = (x.height, x.width);
    let c = convs;
    match plan {
        NetPlan::Chain(r) => {
            let tape = chain_forward(&c[r.clone()], x, leak, true, s);
            let (sum, g) = loss(&tape.output().data);
            let dout = Hwc::image(g, height, width);
            chain_backward(
                &c[r.clone()],
                &mut grads[r.clone()],
                tape,
                dout,
                leak,
                true,
                false,
                s,
            );
            sum
        }
        NetPlan::UNet { enc, bottom, dec } => {
            let depth = enc.len();
            // Encoder: enc_tapes[i].input() = p[i], pooled output = p[i + 1].
            let mut enc_tapes: Vec<Tape> = Vec::with_capacity(depth);
            let mut p = x;
            for r in enc {
                let tape = chain_forward(&c[r.clone()], p, leak, false, s);
                p = pool(tape.output());
                enc_tapes.push(tape);
            }
            let bottom_tape = chain_forward(&c[bottom.clone()], p, leak, false, s);
            let mut dec_tapes: Vec<Tape> = Vec::with_capacity(depth);
            for (j, r) in dec.iter().enumerate() {
                let h = match dec_tapes.last() {
                    Some(t) => t.output(),
                    None => bottom_tape.output(),
                };
                let skip = enc_tapes[depth - 1 - j].input();
                let cat = up_cat(h, skip);
                dec_tapes.push(chain_forward(&c[r.clone()], cat, leak, j + 1 == depth, s));
            }
            let (sum, g) = loss(&dec_tapes[depth - 1].output().data);
            let mut dh = Hwc::image(g, height, width);
            // Gradients of p[1..depth] arriving through the skips.
            let mut dskip: Vec<Option<Hwc>> = (0..depth).map(|_| None).collect();
            for j in (0..depth).rev() {
                let r = dec[j].clone();
                let tape = dec_tapes.pop().expect("one tape per decoder");
                let linear = j + 1 == depth;
                let dcat = chain_backward(
                    &c[r.clone()],
                    &mut grads[r],
                    tape,
                    dh,
                    leak,
                    linear,
                    true,
                    s,
                )
                .expect("input gradient requested");
                let small = match dec_tapes.last() {
                    Some(t) => t.output(),
                    None => bottom_tape.output(),
                };
                let s_idx = depth - 1 - j;
                let skip_c = enc_tapes[s_idx].input().channels;
                let (d_small, d_skip) = up_cat_backward(&dcat, small, skip_c);
                if s_idx > 0 {
                    dskip[s_idx] = Some(d_skip);
                }
                dh = d_small;
            }
            let r = bottom.clone();
            let mut dp = chain_backward(
                &c[r.clone()],
                &mut grads[r],
                bottom_tape,
                dh,
                leak,
                false,
                true,
                s,
            )
            .expect("input gradient requested");
            for i in (0..depth).rev() {
                // dp holds the gradient of p[i + 1] from the deeper path; add the skip's.
                if i + 1 < depth
                    && let Some(ds) = dskip[i + 1].take()
                {
                    dp.add_assign(&ds);
                }
                let tape = enc_tapes.pop().expect("one tape per encoder");
                let da = pool_backward(&dp, tape.output());
                let r = enc[i].clone();
                match chain_backward(
                    &c[r.clone()],
                    &mut grads[r],
                    tape,
                    da,
                    leak,
                    false,
                    i > 0,
                    s,
                ) {
                    Some(d) => dp = d,
                    None => break,
                }
            }
            sum
        }
    }
}
