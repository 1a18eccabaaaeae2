//! Native CPU training step for Topaz's 2D denoisers: the model glue between burn and the
//! native kernels' backward pass ([`crate::kernels::backward`]). It reads the weights and
//! parameter ids out of the burn module, runs the forward and backward pass of every batch
//! item, with the loss and its gradient, and hands burn's optimiser the gradients of every
//! parameter, equal (to f32 rounding) to burn's autodiff over the same model and batch.
//!
//! Why: measured on 2 cores (`cryolens bench --what train`, unet-small, 4 pairs of 256², both
//! directions): burn Flex with autodiff 0.45 crops/s, Topaz's PyTorch step 1.23, this step 2.59.
//! Batch items run in parallel on rayon (each thread does a whole item's forward and backward
//! pass), their gradients are summed.
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
use crate::kernels::backward::backprop;
use crate::kernels::conv2d::Scratch;
use crate::kernels::{ConvGrad, Hwc, NetPlan, TrainConv2d};
use crate::models::TopazModel;
use crate::models::native::conv_weights;
use crate::models::topaz::LEAK;

/// The ids of one convolution's burn parameters, and the device its gradients go on.
struct ConvParams {
    weight_id: ParamId,
    bias_id: Option<ParamId>,
    /// Device of the plain (non-autodiff) tensors the gradients go on.
    device: Device,
}

/// Reads one convolution: its weights for the kernels and its parameter ids.
fn read_conv(conv: &Conv2d) -> Result<(TrainConv2d, ConvParams)> {
    let dims = conv.weight.val().dims();
    if dims[2] != dims[3] || dims[2].is_multiple_of(2) {
        bail!("native training needs square odd kernels, found {dims:?}");
    }
    let nc = conv_weights(conv);
    let (k, cin, cout) = (nc.k, nc.cin, nc.cout);
    if nc.weights.len() != k * k * cin * cout || nc.bias.len() != cout {
        bail!("could not read the weights of a {k}×{k} convolution {cin}→{cout} (not f32?)");
    }
    let params = ConvParams {
        weight_id: conv.weight.id,
        bias_id: conv.bias.as_ref().map(|b: &Param<Tensor<1>>| b.id),
        device: conv.weight.val().device().without_autodiff(),
    };
    Ok((TrainConv2d::new(nc), params))
}

/// A Topaz 2D model's weights, read out of the burn module, ready for native training steps.
pub struct NativeTrainNet {
    convs: Vec<TrainConv2d>,
    params: Vec<ConvParams>,
    plan: NetPlan,
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
        let mut params = Vec::new();
        let mut push = |list: &[Conv2d]| -> Result<Range<usize>> {
            let start = convs.len();
            for c in list {
                let (conv, p) = read_conv(c)?;
                convs.push(conv);
                params.push(p);
            }
            Ok(start..convs.len())
        };
        let plan = match model {
            TopazModel::Affine(m) => NetPlan::Chain(push(std::slice::from_ref(&m.filter))?),
            TopazModel::Fcnn(m) => NetPlan::Chain(push(&m.net)?),
            TopazModel::UNetSmall(_) | TopazModel::UNet(_) => {
                let blocks = model.unet_blocks().ok_or_else(|| anyhow!("not a U-net"))?;
                let (bottom, pooled) = blocks
                    .encoder
                    .split_last()
                    .ok_or_else(|| anyhow!("a U-net without an encoder"))?;
                let mut enc = Vec::new();
                for l in pooled {
                    enc.push(push(l)?);
                }
                let bottom = push(bottom)?;
                let mut dec = Vec::new();
                for l in &blocks.decoder {
                    dec.push(push(l)?);
                }
                NetPlan::UNet { enc, bottom, dec }
            }
        };
        if convs.iter().any(|c| c.conv.cin == 0 || c.conv.cout == 0) {
            bail!("a convolution has no channels");
        }
        Ok(Self {
            convs,
            params,
            plan,
        })
    }

    fn zero_grads(&self) -> Vec<ConvGrad> {
        self.convs
            .iter()
            .map(|c| ConvGrad::zeros(&c.conv))
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
        let x = Hwc::image(input.to_vec(), size, size);
        let loss = |prediction: &[f32]| loss_and_grad(kind, prediction, target, gamma, count);
        backprop(&self.convs, &self.plan, x, LEAK as f32, loss, grads, s)
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
        let min = 1usize << self.plan.depth();
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
            let mut s = Scratch::new(par);
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
        for ((c, p), g) in self.convs.iter().zip(&self.params).zip(grads) {
            let (k, cin, cout) = (c.conv.k, c.conv.cin, c.conv.cout);
            let w = g.weight_oihw(&c.conv);
            out.register(
                p.weight_id,
                Tensor::<4>::from_data(TensorData::new(w, [cout, cin, k, k]), &p.device),
            );
            if let Some(id) = p.bias_id {
                let b: Vec<f32> = g.bias.iter().map(|&v| v as f32).collect();
                out.register(
                    id,
                    Tensor::<1>::from_data(TensorData::new(b, [cout]), &p.device),
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
