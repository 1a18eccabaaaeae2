//! Native CPU training step for Topaz's 2D denoisers: forward pass that keeps what the
//! backward pass needs, hand-written backward pass, loss and gradients of every parameter,
//! equal (to f32 rounding) to burn's autodiff over the same model and batch.
//!
//! Why: measured on 2 cores (`cryolens bench --what train`, unet-small, 4 pairs of 256², both
//! directions): burn Flex with autodiff 0.45 crops/s, Topaz's PyTorch step 1.23, this step 2.59.
//! Here every convolution (forward, input gradient, weight
//! gradient) is a banded im2col plus one `gemm` product per band, on channels-last images
//! ([`Hwc`]), the kernels of [`crate::models::native`]; batch items run in parallel on rayon
//! (each thread does a whole item's forward and backward pass), their gradients are summed.
//!
//! Backward rules (stride-1 "same" convolution Y = W ⋆ X + b, padding k/2, odd k):
//! - dX = the same convolution of dY with the kernel flipped in y and x and its input and
//!   output channels swapped;
//! - dW[tap, i, o] = Σ over pixels im2col(X)[pixel, tap, i] · dY[pixel, o];
//! - db[o] = Σ over pixels dY[pixel, o];
//! - leaky ReLU: dZ = dA where the activation is ≥ 0, 0.1·dA where it is negative (the
//!   activation has the sign of its pre-activation);
//! - 2×2 max pooling: the gradient goes to the window's first maximum;
//! - nearest up-sampling: each source pixel sums the gradients of the pixels it was copied to;
//! - channel concatenation: the gradient splits by channels.
//!
//! Losses follow [`super::loss`] exactly (mean over every pixel of every direction's crop;
//! both directions stack `[A; B] → [B; A]`).
//!
//! The training loop ([`super::train`]) takes this step for Topaz architectures on a CPU
//! device ([`super::gradient_engine`]); burn's optimiser applies the gradients.

use std::ops::Range;

use anyhow::{Result, anyhow, bail};
use burn::module::{Param, ParamId};
use burn::nn::conv::Conv2d;
use burn::optim::GradientsParams;
use burn::prelude::*;
use rayon::prelude::*;

use super::data::Batch;
use super::loss::{L0_EPSILON, LossKind};
use crate::models::TopazModel;
use crate::models::native::{
    Hwc, NativeConv, bias_act, gemm_strided, im2col, matmul_ext, pool, up_cat,
};
use crate::models::topaz::LEAK;

/// One convolution's weights in both packings, with the ids of its burn parameters.
struct TrainConv {
    /// Weights `[tap][cin][cout]` and bias (see [`NativeConv`]).
    conv: NativeConv,
    /// `[tap][cout][cin]` with taps reversed: the kernel of the input-gradient convolution.
    flipped: Vec<f32>,
    weight_id: ParamId,
    bias_id: Option<ParamId>,
    /// Device of the plain (non-autodiff) tensors the gradients go on.
    device: Device,
}

impl TrainConv {
    fn from_burn(conv: &Conv2d) -> Result<Self> {
        let dims = conv.weight.val().dims();
        if dims[2] != dims[3] || dims[2].is_multiple_of(2) {
            bail!("native training needs square odd kernels, found {dims:?}");
        }
        let nc = NativeConv::from_burn(conv);
        let (k, cin, cout) = (nc.k, nc.cin, nc.cout);
        if nc.weights.len() != k * k * cin * cout || nc.bias.len() != cout {
            bail!("could not read the weights of a {k}×{k} convolution {cin}→{cout} (not f32?)");
        }
        let taps = k * k;
        let mut flipped = vec![0.0f32; nc.weights.len()];
        for t in 0..taps {
            let src = &nc.weights[(taps - 1 - t) * cin * cout..(taps - t) * cin * cout];
            let dst = &mut flipped[t * cout * cin..(t + 1) * cout * cin];
            for i in 0..cin {
                for o in 0..cout {
                    dst[o * cin + i] = src[i * cout + o];
                }
            }
        }
        Ok(Self {
            conv: nc,
            flipped,
            weight_id: conv.weight.id,
            bias_id: conv.bias.as_ref().map(|b: &Param<Tensor<1>>| b.id),
            device: conv.weight.val().device().without_autodiff(),
        })
    }
}

/// Gradient of one convolution: weights packed as [`NativeConv`] (`[tap][cin][cout]`), bias.
#[derive(Clone)]
struct ConvGrad {
    weight: Vec<f32>,
    bias: Vec<f64>,
}

impl ConvGrad {
    fn add(&mut self, other: &ConvGrad) {
        for (a, b) in self.weight.iter_mut().zip(&other.weight) {
            *a += b;
        }
        for (a, b) in self.bias.iter_mut().zip(&other.bias) {
            *a += b;
        }
    }
}

/// The network's shape, as ranges into the list of convolutions.
enum Plan {
    /// Convolutions in order, leaky ReLU after all but the last (affine, fcnn).
    Chain(Range<usize>),
    /// U-net: `enc[i]` (pooled after), `bottom`, `dec[j]` (up-sampled input concatenated
    /// with the skip `p[L−1−j]`; the last one with a linear output), `p[0]` = the input.
    UNet {
        enc: Vec<Range<usize>>,
        bottom: Range<usize>,
        dec: Vec<Range<usize>>,
    },
}

/// A Topaz 2D model's weights, read out of the burn module, ready for native training steps.
pub struct NativeTrainNet {
    convs: Vec<TrainConv>,
    plan: Plan,
}

/// Activations of a chain of convolutions: `acts[0]` its input, `acts[i + 1]` the output of
/// convolution `i` (after its activation).
struct Tape {
    acts: Vec<Hwc>,
}

impl Tape {
    fn output(&self) -> &Hwc {
        // A tape always holds its input.
        &self.acts[self.acts.len() - 1]
    }
}

/// Per-thread scratch: the im2col band.
struct Scratch {
    col: Vec<f32>,
    par: gemm::Parallelism,
}

/// Smallest `k·cin` (the inner dimension of one kernel row) for which a convolution runs as
/// `k` products over overlapping rows of the zero-padded input ([`conv_rows`]) rather than
/// through an explicit im2col.
const IMPLICIT_MIN_ROW: usize = 64;

/// Output pixels per product in the training kernels.
const BAND_PX: usize = 512;

/// Zero-padded copy of `x`: `(h + 2p) × (w + 2p) × c` followed by `slack` zeros.
fn pad_image(x: &Hwc, p: usize, slack: usize) -> Vec<f32> {
    let (h, w, c) = (x.height, x.width, x.channels);
    let wp = w + 2 * p;
    let mut out = vec![0.0f32; (h + 2 * p) * wp * c + slack];
    for (y, row) in x.data.chunks_exact(w * c).enumerate() {
        let at = ((y + p) * wp + p) * c;
        out[at..at + w * c].copy_from_slice(row);
    }
    out
}

/// "Same" convolution of the padded image `xp` ([`pad_image`] of an `h × w × cin` image,
/// slack ≥ k·cin) with `[tap][cin][cout]` weights, in the padded-width layout: output row `y`
/// holds `w + 2p` pixels of which the first `w` are the result. For each band of output rows
/// and each kernel row `ky`, one product whose left matrix is the padded input read with a
/// row stride of `cin` (pixel `q` of the band and its `k·cin` taps are contiguous).
#[allow(clippy::too_many_arguments)]
fn conv_rows(
    xp: &[f32],
    h: usize,
    w: usize,
    cin: usize,
    k: usize,
    weights: &[f32],
    cout: usize,
    par: gemm::Parallelism,
) -> Vec<f32> {
    let p = k / 2;
    let wp = w + 2 * p;
    let row = k * cin;
    let mut out = vec![0.0f32; h * wp * cout];
    let rows_per_band = (BAND_PX / wp).max(1);
    for (bi, dst) in out.chunks_mut(rows_per_band * wp * cout).enumerate() {
        let oy0 = bi * rows_per_band;
        let m = dst.len() / cout;
        for ky in 0..k {
            let lhs = &xp[(oy0 + ky) * wp * cin..];
            let rhs = &weights[ky * row * cout..(ky + 1) * row * cout];
            gemm_strided(m, cout, row, dst, cout, lhs, cin, 1, rhs, cout, ky > 0, par);
        }
    }
    out
}

/// Convolution of `x` with `k·k·cin × cout` weights (`[tap][cin][cout]`), then bias and the
/// leaky ReLU (when `bias` is given with `true`).
fn conv_image(
    x: &Hwc,
    k: usize,
    weights: &[f32],
    bias: Option<(&[f32], bool)>,
    cout: usize,
    s: &mut Scratch,
) -> Hwc {
    let (h, w, cin) = (x.height, x.width, x.channels);
    let kdim = k * k * cin;
    let mut out = vec![0.0f32; h * w * cout];
    if k * cin >= IMPLICIT_MIN_ROW {
        let p = k / 2;
        let wp = w + 2 * p;
        let xp = pad_image(x, p, k * cin);
        let full = conv_rows(&xp, h, w, cin, k, weights, cout, s.par);
        for (dst, src) in out
            .chunks_exact_mut(w * cout)
            .zip(full.chunks_exact(wp * cout))
        {
            dst.copy_from_slice(&src[..w * cout]);
            if let Some((bias, leaky)) = bias {
                bias_act(dst, bias, leaky);
            }
        }
    } else {
        if s.col.len() < BAND_PX * kdim {
            s.col.resize(BAND_PX * kdim, 0.0);
        }
        for (b, band) in out.chunks_mut(BAND_PX * cout).enumerate() {
            let m = band.len() / cout;
            im2col(&x.data, h, w, cin, k, b * BAND_PX, m, &mut s.col);
            matmul_ext(m, cout, kdim, band, &s.col, false, weights, false, s.par);
            if let Some((bias, leaky)) = bias {
                bias_act(band, bias, leaky);
            }
        }
    }
    Hwc {
        height: h,
        width: w,
        channels: cout,
        data: out,
    }
}

/// Accumulates the weight gradient `im2col(x)ᵀ · dz` into `g.weight` (`[tap][cin][cout]`) and
/// `Σ dz` into `g.bias`; `dz` is `h × w × cout`.
fn conv_weight_grad(x: &Hwc, k: usize, dz: &[f32], cout: usize, g: &mut ConvGrad, s: &mut Scratch) {
    let (h, w, cin) = (x.height, x.width, x.channels);
    let kdim = k * k * cin;
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
        let rows_per_band = (4 * BAND_PX / wp).max(1);
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
        if s.col.len() < BAND_PX * kdim {
            s.col.resize(BAND_PX * kdim, 0.0);
        }
        for (b, band) in dz.chunks(BAND_PX * cout).enumerate() {
            let m = band.len() / cout;
            im2col(&x.data, h, w, cin, k, b * BAND_PX, m, &mut s.col);
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

fn chain_forward(convs: &[TrainConv], x: Hwc, linear_last: bool, s: &mut Scratch) -> Tape {
    let n = convs.len();
    let mut acts = Vec::with_capacity(n + 1);
    acts.push(x);
    for (i, c) in convs.iter().enumerate() {
        let leaky = !(linear_last && i + 1 == n);
        let y = conv_image(
            &acts[i],
            c.conv.k,
            &c.conv.weights,
            Some((&c.conv.bias, leaky)),
            c.conv.cout,
            s,
        );
        acts.push(y);
    }
    Tape { acts }
}

/// Back-propagates `dout` (gradient of the chain's output) through the chain, accumulating
/// parameter gradients into `grads` (same indexing as `convs`); returns the gradient of the
/// chain's input when `need_input_grad`.
fn chain_backward(
    convs: &[TrainConv],
    grads: &mut [ConvGrad],
    mut tape: Tape,
    mut dout: Hwc,
    linear_last: bool,
    need_input_grad: bool,
    s: &mut Scratch,
) -> Option<Hwc> {
    let n = convs.len();
    for i in (0..n).rev() {
        let c = &convs[i];
        let out = tape.acts.pop()?;
        if !(linear_last && i + 1 == n) {
            let slope = LEAK as f32;
            for (d, a) in dout.data.iter_mut().zip(&out.data) {
                if *a < 0.0 {
                    *d *= slope;
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

/// Gradient of 2×2 max pooling (floor mode): each pooled gradient goes to the first maximum
/// of its window in `pre` (the pooled tensor's input).
fn pool_backward(dp: &Hwc, pre: &Hwc) -> Hwc {
    let c = pre.channels;
    let (w, ph, pw) = (pre.width, dp.height, dp.width);
    let mut data = vec![0.0f32; pre.data.len()];
    for y in 0..ph {
        for x in 0..pw {
            let i00 = ((2 * y) * w + 2 * x) * c;
            let i01 = i00 + c;
            let i10 = i00 + w * c;
            let i11 = i10 + c;
            let g = &dp.data[(y * pw + x) * c..(y * pw + x + 1) * c];
            for (ch, &gv) in g.iter().enumerate() {
                let mut best = i00 + ch;
                for idx in [i01 + ch, i10 + ch, i11 + ch] {
                    if pre.data[idx] > pre.data[best] {
                        best = idx;
                    }
                }
                data[best] += gv;
            }
        }
    }
    Hwc {
        height: pre.height,
        width: pre.width,
        channels: c,
        data,
    }
}

/// Gradient of [`up_cat`]`(small, skip)`: (gradient of `small`, gradient of `skip`).
fn up_cat_backward(dcat: &Hwc, small: &Hwc, skip_channels: usize) -> (Hwc, Hwc) {
    let (h, w) = (dcat.height, dcat.width);
    let (c1, c2) = (small.channels, skip_channels);
    let c = c1 + c2;
    // Same source indices as the forward (PyTorch nearest: ⌊dst · in/out⌋ in f32).
    let sy = small.height as f32 / h as f32;
    let sx = small.width as f32 / w as f32;
    let src_x: Vec<usize> = (0..w)
        .map(|xo| ((xo as f32 * sx).floor() as usize).min(small.width - 1))
        .collect();
    let mut ds = vec![0.0f32; small.data.len()];
    let mut dk = vec![0.0f32; h * w * c2];
    for yo in 0..h {
        let yi = ((yo as f32 * sy).floor() as usize).min(small.height - 1);
        for (xo, &xi) in src_x.iter().enumerate() {
            let px = &dcat.data[(yo * w + xo) * c..(yo * w + xo + 1) * c];
            let a = (yi * small.width + xi) * c1;
            for (d, v) in ds[a..a + c1].iter_mut().zip(&px[..c1]) {
                *d += v;
            }
            dk[(yo * w + xo) * c2..(yo * w + xo + 1) * c2].copy_from_slice(&px[c1..]);
        }
    }
    (
        Hwc {
            height: small.height,
            width: small.width,
            channels: c1,
            data: ds,
        },
        Hwc {
            height: h,
            width: w,
            channels: c2,
            data: dk,
        },
    )
}

fn add_into(a: &mut Hwc, b: &Hwc) {
    for (x, y) in a.data.iter_mut().zip(&b.data) {
        *x += y;
    }
}

/// Loss sum over one image (f64) and the gradient of `sum / count` with respect to the
/// prediction, as [`super::loss::loss`] defines the loss.
fn loss_and_grad(
    kind: LossKind,
    prediction: &[f32],
    target: &[f32],
    gamma: f64,
    count: f64,
) -> (f64, Vec<f32>) {
    let mut sum = 0.0f64;
    let grad = prediction
        .iter()
        .zip(target)
        .map(|(&p, &t)| {
            let d = p as f64 - t as f64;
            let sign = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                0.0
            };
            let (l, g) = match kind {
                LossKind::L2 => (d * d, 2.0 * d),
                LossKind::L1 => (d.abs(), sign),
                LossKind::L0 => {
                    let a = d.abs() + L0_EPSILON;
                    let l = a.powf(gamma);
                    (l, gamma * l / a * sign)
                }
            };
            sum += l;
            (g / count) as f32
        })
        .collect();
    (sum, grad)
}

impl NativeTrainNet {
    /// Reads the weights (and parameter ids) of every convolution of `model`.
    ///
    /// # Errors
    /// Weights that are not f32 or kernels that are not square and odd.
    pub fn from_model(model: &TopazModel) -> Result<Self> {
        let mut convs = Vec::new();
        let push = |list: &[Conv2d], convs: &mut Vec<TrainConv>| -> Result<Range<usize>> {
            let start = convs.len();
            for c in list {
                convs.push(TrainConv::from_burn(c)?);
            }
            Ok(start..convs.len())
        };
        let plan = match model {
            TopazModel::Affine(m) => {
                Plan::Chain(push(std::slice::from_ref(&m.filter), &mut convs)?)
            }
            TopazModel::Fcnn(m) => Plan::Chain(push(&m.net, &mut convs)?),
            TopazModel::UNetSmall(m) => {
                let mut enc = Vec::new();
                for l in [&m.enc1, &m.enc2, &m.enc3] {
                    enc.push(push(l, &mut convs)?);
                }
                let bottom = push(&m.enc4, &mut convs)?;
                let mut dec = Vec::new();
                for l in [&m.dec3, &m.dec2, &m.dec1] {
                    dec.push(push(l, &mut convs)?);
                }
                Plan::UNet { enc, bottom, dec }
            }
            TopazModel::UNet(m) => {
                let mut enc = Vec::new();
                for l in [&m.enc1, &m.enc2, &m.enc3, &m.enc4, &m.enc5] {
                    enc.push(push(l, &mut convs)?);
                }
                let bottom = push(&m.enc6, &mut convs)?;
                let mut dec = Vec::new();
                for l in [&m.dec5, &m.dec4, &m.dec3, &m.dec2, &m.dec1] {
                    dec.push(push(l, &mut convs)?);
                }
                Plan::UNet { enc, bottom, dec }
            }
        };
        if convs.iter().any(|c| c.conv.cin == 0 || c.conv.cout == 0) {
            bail!("a convolution has no channels");
        }
        Ok(Self { convs, plan })
    }

    /// Poolings between the input and the coarsest level (0 for affine and fcnn).
    fn depth(&self) -> usize {
        match &self.plan {
            Plan::Chain(_) => 0,
            Plan::UNet { enc, .. } => enc.len(),
        }
    }

    fn zero_grads(&self) -> Vec<ConvGrad> {
        self.convs
            .iter()
            .map(|c| ConvGrad {
                weight: vec![0.0; c.conv.weights.len()],
                bias: vec![0.0; c.conv.cout],
            })
            .collect()
    }

    /// Forward and backward pass of one `size × size` image against `target`: the loss sum over
    /// its pixels, gradients (of the batch mean, `count` pixels in all) added to `grads`.
    #[allow(clippy::too_many_arguments)]
    fn item(
        &self,
        input: &[f32],
        target: &[f32],
        size: usize,
        kind: LossKind,
        gamma: f64,
        count: f64,
        grads: &mut [ConvGrad],
        s: &mut Scratch,
    ) -> f64 {
        let x = Hwc {
            height: size,
            width: size,
            channels: 1,
            data: input.to_vec(),
        };
        let c = &self.convs;
        match &self.plan {
            Plan::Chain(r) => {
                let tape = chain_forward(&c[r.clone()], x, true, s);
                let (sum, g) = loss_and_grad(kind, &tape.output().data, target, gamma, count);
                let dout = Hwc {
                    height: size,
                    width: size,
                    channels: 1,
                    data: g,
                };
                chain_backward(
                    &c[r.clone()],
                    &mut grads[r.clone()],
                    tape,
                    dout,
                    true,
                    false,
                    s,
                );
                sum
            }
            Plan::UNet { enc, bottom, dec } => {
                let depth = enc.len();
                // Encoder: enc_tapes[i].acts[0] = p[i], pooled output = p[i + 1].
                let mut enc_tapes: Vec<Tape> = Vec::with_capacity(depth);
                let mut p = x;
                for r in enc {
                    let tape = chain_forward(&c[r.clone()], p, false, s);
                    p = pool(tape.output());
                    enc_tapes.push(tape);
                }
                let bottom_tape = chain_forward(&c[bottom.clone()], p, false, s);
                let mut dec_tapes: Vec<Tape> = Vec::with_capacity(depth);
                for (j, r) in dec.iter().enumerate() {
                    let h = match dec_tapes.last() {
                        Some(t) => t.output(),
                        None => bottom_tape.output(),
                    };
                    let skip = &enc_tapes[depth - 1 - j].acts[0];
                    let cat = up_cat(h, skip);
                    dec_tapes.push(chain_forward(&c[r.clone()], cat, j + 1 == depth, s));
                }
                let (sum, g) = loss_and_grad(
                    kind,
                    &dec_tapes[depth - 1].output().data,
                    target,
                    gamma,
                    count,
                );
                let mut dh = Hwc {
                    height: size,
                    width: size,
                    channels: 1,
                    data: g,
                };
                // Gradients of p[1..depth] arriving through the skips.
                let mut dskip: Vec<Option<Hwc>> = (0..depth).map(|_| None).collect();
                for j in (0..depth).rev() {
                    let r = dec[j].clone();
                    let tape = dec_tapes.pop().expect("one tape per decoder");
                    let linear = j + 1 == depth;
                    let dcat =
                        chain_backward(&c[r.clone()], &mut grads[r], tape, dh, linear, true, s)
                            .expect("input gradient requested");
                    let small = match dec_tapes.last() {
                        Some(t) => t.output(),
                        None => bottom_tape.output(),
                    };
                    let s_idx = depth - 1 - j;
                    let skip_c = enc_tapes[s_idx].acts[0].channels;
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
                        add_into(&mut dp, &ds);
                    }
                    let tape = enc_tapes.pop().expect("one tape per encoder");
                    let da = pool_backward(&dp, tape.output());
                    let r = enc[i].clone();
                    match chain_backward(&c[r.clone()], &mut grads[r], tape, da, false, i > 0, s) {
                        Some(d) => dp = d,
                        None => break,
                    }
                }
                sum
            }
        }
    }

    /// Loss of the model on `batch` and its gradient with respect to every parameter, as burn
    /// autodiff computes them for `loss::loss(kind, model.forward(x), y, gamma)` with
    /// `(x, y)` = `[A; B] → [B; A]` (both directions) or `A → B`.
    ///
    /// Returns the loss (mean over all crops and pixels, see [`super::loss`]) and the gradients
    /// registered by parameter id on the plain (non-autodiff) device of the weights, in burn's
    /// shapes (`[cout, cin, k, k]` weights, `[cout]` biases), ready for `optim.step`.
    ///
    /// # Errors
    /// A batch whose arrays do not hold `n` crops of `crop_px²`, or crops too small for the
    /// model's poolings (at least 2^poolings px: 8 for unet-small, 32 for unet).
    pub fn step(
        &self,
        batch: &Batch,
        both_directions: bool,
        kind: LossKind,
        gamma: f64,
    ) -> Result<(f64, GradientsParams)> {
        let (n, size) = (batch.n, batch.crop_px);
        let px = size * size;
        if n == 0 || size == 0 {
            bail!("empty batch");
        }
        if batch.a.len() != n * px || batch.b.len() != n * px {
            bail!(
                "batch arrays hold {} and {} values, expected {n} crops of {size}² = {}",
                batch.a.len(),
                batch.b.len(),
                n * px
            );
        }
        let min = 1usize << self.depth();
        if size < min {
            bail!("crops of {size} px are too small for this model (at least {min} px)");
        }
        if kind == LossKind::L0 && !(gamma.is_finite() && gamma >= 0.0) {
            bail!("γ of the L0 loss must be finite and ≥ 0, got {gamma}");
        }
        // (input, target) per item.
        let mut items: Vec<(&[f32], &[f32])> = Vec::new();
        for i in 0..n {
            items.push((
                &batch.a[i * px..(i + 1) * px],
                &batch.b[i * px..(i + 1) * px],
            ));
        }
        if both_directions {
            for i in 0..n {
                items.push((
                    &batch.b[i * px..(i + 1) * px],
                    &batch.a[i * px..(i + 1) * px],
                ));
            }
        }
        let count = (items.len() * px) as f64;
        let threads = rayon::current_num_threads().max(1);
        // Enough items to feed every thread: one item per thread at a time; otherwise one item
        // at a time with gemm's own threads.
        let item_parallel = items.len() >= threads;
        let par = if item_parallel {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        let run = |chunk: &[(&[f32], &[f32])]| -> (f64, Vec<ConvGrad>) {
            let mut grads = self.zero_grads();
            let mut s = Scratch {
                col: Vec::new(),
                par,
            };
            let mut sum = 0.0;
            for (x, t) in chunk {
                sum += self.item(x, t, size, kind, gamma, count, &mut grads, &mut s);
            }
            (sum, grads)
        };
        let (sum, grads) = if item_parallel {
            items
                .par_chunks(1)
                .map(run)
                .reduce_with(|(s1, mut g1), (s2, g2)| {
                    for (a, b) in g1.iter_mut().zip(&g2) {
                        a.add(b);
                    }
                    (s1 + s2, g1)
                })
                .ok_or_else(|| anyhow!("empty batch"))?
        } else {
            run(&items)
        };
        let value = sum / count;
        let mut out = GradientsParams::new();
        for (c, g) in self.convs.iter().zip(grads) {
            let (k, cin, cout) = (c.conv.k, c.conv.cin, c.conv.cout);
            let taps = k * k;
            let mut w = vec![0.0f32; g.weight.len()];
            for t in 0..taps {
                for i in 0..cin {
                    for o in 0..cout {
                        w[(o * cin + i) * taps + t] = g.weight[(t * cin + i) * cout + o];
                    }
                }
            }
            out.register(
                c.weight_id,
                Tensor::<4>::from_data(TensorData::new(w, [cout, cin, k, k]), &c.device),
            );
            if let Some(id) = c.bias_id {
                let b: Vec<f32> = g.bias.iter().map(|&v| v as f32).collect();
                out.register(
                    id,
                    Tensor::<1>::from_data(TensorData::new(b, [cout]), &c.device),
                );
            }
        }
        Ok((value, out))
    }
}

/// One native training step: reads the weights of `model` ([`NativeTrainNet::from_model`])
/// and returns the loss on `batch` and the gradients of every parameter
/// ([`NativeTrainNet::step`]), numerically equal to burn autodiff's on the same batch, for
/// `optim.step(lr, model, grads)`.
///
/// `gamma` is γ of the L0 loss ([`super::loss::l0_gamma`]), ignored by L1 and L2.
///
/// # Errors
/// See [`NativeTrainNet::from_model`] and [`NativeTrainNet::step`].
pub fn native_step(
    model: &TopazModel,
    batch: &Batch,
    both_directions: bool,
    loss: LossKind,
    gamma: f64,
) -> Result<(f64, GradientsParams)> {
    NativeTrainNet::from_model(model)?.step(batch, both_directions, loss, gamma)
}
