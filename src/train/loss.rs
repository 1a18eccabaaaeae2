//! Noise2noise losses: L2, L1 and the annealed L0 of Lehtinen et al. 2018 ("Noise2Noise:
//! learning image restoration without clean data", section 3.1), as used by Topaz-Denoise
//! (Bepler et al. 2020, Methods "Training": `--criteria L0|L1|L2`).
//!
//! With d = prediction − target, element-wise and averaged over all pixels of the batch:
//! L2 = mean(d²), L1 = mean(|d|), L0 = mean((|d| + ε)^γ) with ε = 10⁻⁸ and γ annealed
//! linearly from 2 to 0 over training ([`l0_gamma`]). [`scalar`] reads a loss tensor's value
//! (2D, 3D and crefDenoiser training).

use anyhow::{Result, anyhow};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// ε of the L0 loss (Topaz's value).
pub const L0_EPSILON: f64 = 1e-8;

/// Which noise2noise loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Mean squared error: the noisy target's mean (Topaz's default).
    L2,
    /// Mean absolute error: the median.
    L1,
    /// (|d| + ε)^γ with γ annealed 2 → 0: approaches the mode.
    L0,
}

impl LossKind {
    /// "l2", "l1" or "l0".
    pub fn name(self) -> &'static str {
        match self {
            LossKind::L2 => "l2",
            LossKind::L1 => "l1",
            LossKind::L0 => "l0",
        }
    }
}

/// γ of the L0 loss at `step` of `total_steps`: 2 · (1 − step / total), linear from 2 at the
/// first step towards 0 at the end (Lehtinen et al. 2018, section 3.1). Topaz anneals per
/// epoch with the same line; we anneal per step.
pub fn l0_gamma(step: u64, total_steps: u64) -> f64 {
    if total_steps == 0 {
        return 2.0;
    }
    (2.0 * (1.0 - step as f64 / total_steps as f64)).clamp(0.0, 2.0)
}

/// The loss of `prediction` against `target` (same shape `[n, 1, y, x]`), as a one-element
/// tensor (differentiable when the inputs are tracked). `gamma` is used by L0 only.
pub fn loss<const D: usize>(
    kind: LossKind,
    prediction: Tensor<D>,
    target: Tensor<D>,
    gamma: f64,
) -> Tensor<1> {
    let d = prediction - target;
    match kind {
        LossKind::L2 => d.clone().mul(d).mean(),
        LossKind::L1 => d.abs().mean(),
        LossKind::L0 => d.abs().add_scalar(L0_EPSILON).powf_scalar(gamma).mean(),
    }
}

/// The same loss on plain slices, in f64 (reference for tests and host-side validation).
///
/// # Panics
/// Never; slices of different lengths are compared over the shorter one.
pub fn loss_host(kind: LossKind, prediction: &[f32], target: &[f32], gamma: f64) -> f64 {
    let n = prediction.len().min(target.len());
    if n == 0 {
        return 0.0;
    }
    let sum: f64 = prediction
        .iter()
        .zip(target)
        .map(|(&p, &t)| {
            let d = (p as f64 - t as f64).abs();
            match kind {
                LossKind::L2 => d * d,
                LossKind::L1 => d,
                LossKind::L0 => (d + L0_EPSILON).powf(gamma),
            }
        })
        .sum();
    sum / n as f64
}

/// The value of a one-element loss tensor.
///
/// # Errors
/// A backend failure, or an empty tensor.
pub fn scalar(t: Tensor<1>) -> Result<f64> {
    let data = t
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?;
    let v = data
        .iter::<f32>()
        .next()
        .ok_or_else(|| anyhow!("empty loss tensor"))?;
    Ok(v as f64)
}
