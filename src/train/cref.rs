//! crefDenoiser training on one pair of half-maps, and its evaluation (Agarwal et al. 2024,
//! `shared/seeds/003_*`).
//!
//! Training (section 2.4): both half-maps are masked and standardised independently (mean 0,
//! σ 1), cut into cubic patches (96³ in the paper; any multiple of 32 here, e.g. 32³ for a 64³
//! map), patches lying wholly outside the mask are dropped. The network input is the average
//! of the two half-map patches; the loss is L_C (eq. 5), the mean over shells of
//! |C_ref(s) − FSC_FD(s)|, FSC_FD between the input patch and the network's output patch.
//! The paper's dataset consists of half-map *patch pairs* and C_ref (eq. 4) is computed from
//! "readily available FSC_half curves"; we take FSC_half per patch pair (from the two masked,
//! standardised half-map patches), once before training, so the target matches the patch the
//! loss is evaluated on ([`CrefTrainConfig::c_ref_per_patch`] = false takes it from the whole
//! maps' FSC instead). Adam (β = 0.9, 0.999, ε = 10⁻⁸), learning rate 3·10⁻⁴ multiplied by
//! 0.7 every 10 epochs (a staircase; section 2.4 "reduced exponentially with a decay rate of
//! k = 0.7 every ten epochs").
//!
//! The trained network is then applied to the whole standardised average (zero-padded up to
//! a multiple of 32 per axis, cropped back) and to the standardised second half-map (for the
//! paper's FSC-0.5(D₂, M₁) comparison, section 3.2); outputs are mapped back to the input's
//! mean and σ.
//!
//! Evaluation ([`evaluate_cref`], section 3.1, Fig. 1): RMSE over shells between FSC_FD(s)²
//! (denoised map vs half-map average) and C_ref(s)² (from the global half-map FSC), against
//! the identity map's RMSE (FSC_FD = 1); FSC-0.5 resolutions of (M₁, M₂) and (D₂, M₁)
//! (section 3.2, Fig. 2); and, when the truth is known (synthetic half-maps), FSC-0.5 of the
//! average and of the denoised map against the truth.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::device::ComputeDevice;
use crate::halfmap::HalfMaps;
use crate::image::Volume;
use crate::jobs::Progress;
use crate::metrics::fsc::{fsc, fsc_crossing};
use crate::models::cref::{CrefConfig, CrefUNet, FscLoss};
use crate::synthetic::Rng;

/// Options of [`train_cref`].
#[derive(Clone, Debug)]
pub struct CrefTrainConfig {
    /// Passes over all patches.
    pub epochs: usize,
    /// Patch edge in voxels, a multiple of 32 (paper: 96).
    pub patch_px: usize,
    /// Distance between patch starts in voxels (≤ `patch_px`; the paper tiles without
    /// overlap, `patch_px`). The last patch per axis is moved to end at the map's edge.
    pub stride_px: usize,
    /// Initial Adam learning rate (3·10⁻⁴).
    pub learning_rate: f64,
    /// Learning-rate factor applied every `decay_every_epochs` epochs (0.7).
    pub decay_rate: f64,
    /// Epochs between learning-rate decays (10).
    pub decay_every_epochs: usize,
    /// Fourier shell width in voxels for FSC and C_ref (1).
    pub shell_width: f32,
    /// Network dimensions.
    pub net: CrefConfig,
    /// Seed of the patch order per epoch (the weights' initialisation is burn's).
    pub seed: u64,
    /// Where to train (CPU Flex or a GPU through wgpu).
    pub device: ComputeDevice,
    /// Take C_ref per patch from the patch pair's FSC (true, the default) or from the whole
    /// maps' masked FSC, sampled at each patch shell's frequency (false).
    pub c_ref_per_patch: bool,
}

impl Default for CrefTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            patch_px: 96,
            stride_px: 96,
            learning_rate: 3e-4,
            decay_rate: 0.7,
            decay_every_epochs: 10,
            shell_width: 1.0,
            net: CrefConfig::default(),
            seed: 1,
            device: ComputeDevice::flex("crefDenoiser training"),
            c_ref_per_patch: true,
        }
    }
}

/// What [`train_cref`] produced.
#[derive(Clone, Debug)]
pub struct CrefOutcome {
    /// The denoised half-map average D, `[z][y][x]` like the inputs, in the average's units
    /// (mapped back to its mean and σ).
    pub denoised: Volume,
    /// The denoised second half-map D₂ (same network), for FSC-0.5(D₂, M₁).
    pub denoised_half2: Volume,
    /// Mean L_C over all patches with the untrained network (before the first step).
    pub initial_loss: f64,
    /// Mean L_C over the steps of each epoch (one entry per epoch).
    pub loss_history: Vec<f64>,
    /// Mean L_C over all patches with the trained network.
    pub final_loss: f64,
    /// Number of training patches per epoch.
    pub patches: usize,
    /// Seconds spent training (excluding the final inference).
    pub train_seconds: f64,
}

/// Paper-style evaluation of a denoised map (see the module docs). Resolutions are in Å
/// (voxels when the voxel size is unknown); `None` when the FSC stays ≥ 0.5 up to Nyquist.
#[derive(Clone, Debug)]
pub struct CrefEvaluation {
    /// RMSE over shells 1…Nyquist of FSC_FD(s)² − C_ref(s)² for the identity (D = average,
    /// FSC_FD = 1).
    pub rmse_identity: f64,
    /// Same for the denoised map.
    pub rmse_denoised: f64,
    /// FSC-0.5 of the half-maps (M₁, M₂).
    pub fsc05_halves: Option<f64>,
    /// FSC-0.5 of (D₂, M₁).
    pub fsc05_denoised_half: Option<f64>,
    /// FSC-0.5 of the average against the truth, when given.
    pub fsc05_average_vs_truth: Option<f64>,
    /// FSC-0.5 of the denoised map against the truth, when given.
    pub fsc05_denoised_vs_truth: Option<f64>,
}

/// Masked, standardised copy of `v` (mean 0, σ 1 over all voxels after masking).
fn standardise(v: &Volume, mask: Option<&Volume>) -> Result<Volume> {
    let data: Vec<f32> = match mask {
        Some(m) => v.data.iter().zip(&m.data).map(|(a, b)| a * b).collect(),
        None => v.data.clone(),
    };
    let (mean, sd) = mean_sd(&data);
    if sd.is_nan() || sd <= 0.0 {
        bail!("a half-map is constant (after masking): nothing to denoise");
    }
    Ok(Volume {
        data: data
            .iter()
            .map(|x| ((*x as f64 - mean) / sd) as f32)
            .collect(),
        ..v.clone()
    })
}

fn mean_sd(data: &[f32]) -> (f64, f64) {
    let n = data.len().max(1) as f64;
    let mean = data.iter().map(|x| *x as f64).sum::<f64>() / n;
    let var = data.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Patch starts along an axis of length `n`: 0, stride, …, with the last ending at `n`.
fn starts(n: usize, patch: usize, stride: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..=(n - patch)).step_by(stride).collect();
    if *s.last().unwrap_or(&0) != n - patch {
        s.push(n - patch);
    }
    s
}

fn cut(v: &Volume, [z0, y0, x0]: [usize; 3], p: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(p * p * p);
    for z in z0..z0 + p {
        for y in y0..y0 + p {
            let row = (z * v.height + y) * v.width;
            out.extend_from_slice(&v.data[row + x0..row + x0 + p]);
        }
    }
    out
}

fn cube(data: Vec<f32>, p: usize, like: &Volume) -> Volume {
    Volume {
        width: p,
        height: p,
        depth: p,
        data,
        pixel_size_angstrom: like.pixel_size_angstrom,
    }
}

/// One training patch: the average's voxels and C_ref per shell of its half-map pair.
struct Patch {
    input: Vec<f32>,
    c_ref: Vec<f32>,
}

fn tensor5(data: Vec<f32>, p: usize, device: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(data, [1, 1, p, p, p]), device)
}

fn scalar(t: Tensor<1>) -> Result<f64> {
    let d = t
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?;
    d.iter::<f32>()
        .next()
        .map(|v| v as f64)
        .ok_or_else(|| anyhow!("empty loss tensor"))
}

/// Trains a crefDenoiser U-net on one pair of half-maps and denoises their average (see the
/// module docs for the procedure and its sources).
///
/// `half1`, `half2`: `[z][y][x]` half-maps of the same shape and voxel size; `mask`: same
/// shape, 0…1, multiplied in before standardising. `progress` counts one step per patch per
/// epoch plus one for the final inference; cancelling it stops training with an error.
///
/// # Errors
/// Mismatched shapes or voxel sizes, non-finite values, a constant map, a patch edge that is
/// not a positive multiple of 32 or exceeds a map axis, a stride of 0 or above the patch, no
/// patch inside the mask, zero epochs, a non-finite loss, cancellation, backend failures.
pub fn train_cref(
    half1: &Volume,
    half2: &Volume,
    mask: Option<&Volume>,
    cfg: &CrefTrainConfig,
    progress: &Progress,
) -> Result<CrefOutcome> {
    let maps = HalfMaps::new(half1.clone(), half2.clone(), mask.cloned())?;
    let p = cfg.patch_px;
    if p == 0 || !p.is_multiple_of(32) {
        bail!(
            "the patch edge must be a positive multiple of 32 voxels (five 2× poolings); got {p}"
        );
    }
    if p > half1.depth || p > half1.height || p > half1.width {
        bail!(
            "the patch edge ({p} voxels) exceeds the map ({} × {} × {} voxels, x × y × z)",
            half1.width,
            half1.height,
            half1.depth
        );
    }
    if cfg.stride_px == 0 || cfg.stride_px > p {
        bail!(
            "the patch stride must be 1…{p} voxels; got {}",
            cfg.stride_px
        );
    }
    if cfg.epochs == 0 {
        bail!("at least one epoch is needed");
    }
    let m1 = standardise(&maps.half1, maps.mask.as_ref())?;
    let m2 = standardise(&maps.half2, maps.mask.as_ref())?;
    let avg = HalfMaps::new(m1.clone(), m2.clone(), None)?.average();

    let mut patches = Vec::new();
    for &z in &starts(half1.depth, p, cfg.stride_px) {
        for &y in &starts(half1.height, p, cfg.stride_px) {
            for &x in &starts(half1.width, p, cfg.stride_px) {
                if let Some(m) = &maps.mask
                    && cut(m, [z, y, x], p).iter().all(|v| *v == 0.0)
                {
                    continue;
                }
                let (a, b) = (cut(&m1, [z, y, x], p), cut(&m2, [z, y, x], p));
                let curve = fsc(
                    &cube(a, p, half1),
                    &cube(b, p, half1),
                    cfg.shell_width,
                    None,
                )?;
                patches.push((curve, cut(&avg, [z, y, x], p)));
            }
        }
    }
    if patches.is_empty() {
        bail!("no {p}³ patch overlaps the mask");
    }
    let n_min = half1.depth.min(half1.height).min(half1.width) as f64;
    let global: Option<Vec<f32>> = if cfg.c_ref_per_patch {
        None
    } else {
        let curve = maps.fsc(cfg.shell_width)?.curve;
        let len = curve.rings.iter().map(|r| r.index + 1).max().unwrap_or(1);
        let mut g = vec![0.0f32; len];
        for r in &curve.rings {
            g[r.index] = r.value.c_ref as f32;
        }
        Some(g)
    };
    let ad = crate::train::training_device(&cfg.device);
    let plan = FscLoss::new([p, p, p], cfg.shell_width, &ad)?;
    let ns = plan.num_shells();
    let patches: Vec<Patch> = patches
        .into_iter()
        .map(|(curve, input)| {
            let mut c_ref = vec![0.0f32; ns];
            for r in &curve.rings {
                if r.index < ns {
                    c_ref[r.index] = r.value.c_ref as f32;
                }
            }
            if let Some(g) = &global {
                // Patch shell s is at s/p cycles/voxel: the global shell at that frequency.
                for (s, c) in c_ref.iter_mut().enumerate().skip(1) {
                    let k = ((s as f64 * n_min / p as f64).round() as usize).min(g.len() - 1);
                    *c = g[k];
                }
            }
            Patch { input, c_ref }
        })
        .collect();

    let mut model = CrefUNet::new(cfg.net, &ad);
    let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let total = (cfg.epochs * patches.len() + 1) as u64;
    progress.start(total, "crefDenoiser: training");

    let loss_of = |model: &CrefUNet, patch: &Patch| -> Tensor<1> {
        let x = tensor5(patch.input.clone(), p, &ad);
        let target = Tensor::<1>::from_data(TensorData::new(patch.c_ref.clone(), [ns]), &ad);
        plan.loss(x.clone(), model.forward(x), target)
    };
    let mean_loss = |model: &CrefUNet| -> Result<f64> {
        let mut s = 0.0;
        for patch in &patches {
            s += scalar(loss_of(model, patch))?;
        }
        Ok(s / patches.len() as f64)
    };

    let t0 = Instant::now();
    let initial_loss = mean_loss(&model)?;
    let mut rng = Rng::new(cfg.seed);
    let mut order: Vec<usize> = (0..patches.len()).collect();
    let mut loss_history = Vec::with_capacity(cfg.epochs);
    for epoch in 0..cfg.epochs {
        let lr = cfg.learning_rate
            * cfg
                .decay_rate
                .powi((epoch / cfg.decay_every_epochs.max(1)) as i32);
        for i in (1..order.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        let mut sum = 0.0;
        for &k in &order {
            if progress.is_cancelled() {
                bail!("crefDenoiser training cancelled");
            }
            let l = loss_of(&model, &patches[k]);
            let v = scalar(l.clone())?;
            if !v.is_finite() {
                bail!("the L_C loss became {v} in epoch {}", epoch + 1);
            }
            sum += v;
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(lr, model, grads);
            progress.step();
        }
        let mean = sum / patches.len() as f64;
        loss_history.push(mean);
        progress.set_message(format!(
            "crefDenoiser: epoch {}/{}, L_C {mean:.4}",
            epoch + 1,
            cfg.epochs
        ));
    }
    let final_loss = mean_loss(&model)?;
    let train_seconds = t0.elapsed().as_secs_f64();

    let raw_avg = maps.average();
    let denoised = apply(&model, &avg, &raw_avg, &ad)?;
    let denoised_half2 = apply(&model, &m2, &maps.half2, &ad)?;
    progress.step();
    Ok(CrefOutcome {
        denoised,
        denoised_half2,
        initial_loss,
        loss_history,
        final_loss,
        patches: patches.len(),
        train_seconds,
    })
}

/// Runs the network (no gradients) on the whole standardised map `x`, zero-padded to a
/// multiple of 32 per axis, and maps the output to the mean and σ of `like`.
fn apply(model: &CrefUNet, x: &Volume, like: &Volume, device: &Device) -> Result<Volume> {
    let plain = device.clone().without_autodiff();
    let up = |n: usize| n.div_ceil(32) * 32;
    let (d, h, w) = (up(x.depth), up(x.height), up(x.width));
    let mut padded = vec![0.0f32; d * h * w];
    for z in 0..x.depth {
        for y in 0..x.height {
            let src = (z * x.height + y) * x.width;
            let dst = (z * h + y) * w;
            padded[dst..dst + x.width].copy_from_slice(&x.data[src..src + x.width]);
        }
    }
    let t = Tensor::<5>::from_data(TensorData::new(padded, [1, 1, d, h, w]), &plain);
    let out = model
        .valid()
        .forward(t)
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("unexpected output type: {e:?}"))?;
    let mut data = Vec::with_capacity(x.data.len());
    for z in 0..x.depth {
        for y in 0..x.height {
            let src = (z * h + y) * w;
            data.extend_from_slice(&out[src..src + x.width]);
        }
    }
    let (mo, so) = mean_sd(&data);
    let (ml, sl) = mean_sd(&like.data);
    let scale = if so > 0.0 { sl / so } else { 0.0 };
    Ok(Volume {
        data: data
            .iter()
            .map(|v| ((*v as f64 - mo) * scale + ml) as f32)
            .collect(),
        ..like.clone()
    })
}

/// The paper's evaluation of `outcome` for the half-maps `maps` (mask applied to every FSC),
/// plus the FSC-0.5 against `truth` (`[z][y][x]`, same shape) when it is known. `shell_width`
/// in Fourier voxels. See [`CrefEvaluation`] and the module docs (sections 3.1–3.2).
///
/// # Errors
/// Volumes of other shapes than the half-maps, a bad shell width.
pub fn evaluate_cref(
    maps: &HalfMaps,
    outcome: &CrefOutcome,
    truth: Option<&Volume>,
    shell_width: f32,
) -> Result<CrefEvaluation> {
    let mask = maps.mask.as_ref();
    let avg = maps.average();
    let halves = maps.fsc(shell_width)?;
    let fd = fsc(&outcome.denoised, &avg, shell_width, mask)?;
    let (mut e_id, mut e_dn, mut n) = (0.0, 0.0, 0usize);
    for (h, d) in halves.curve.rings.iter().zip(&fd.rings) {
        let c2 = h.value.c_ref.powi(2);
        e_id += (1.0 - c2).powi(2);
        e_dn += (d.value.fsc.powi(2) - c2).powi(2);
        n += 1;
    }
    let n = n.max(1) as f64;
    let res05 = |a: &Volume, b: &Volume| -> Result<Option<f64>> {
        Ok(fsc_crossing(&fsc(a, b, shell_width, mask)?, 0.5).map(|c| c.resolution))
    };
    let (t_avg, t_dn) = match truth {
        Some(t) => (res05(&avg, t)?, res05(&outcome.denoised, t)?),
        None => (None, None),
    };
    Ok(CrefEvaluation {
        rmse_identity: (e_id / n).sqrt(),
        rmse_denoised: (e_dn / n).sqrt(),
        fsc05_halves: halves.at_05.map(|c| c.resolution),
        fsc05_denoised_half: res05(&outcome.denoised_half2, &maps.half1)?,
        fsc05_average_vs_truth: t_avg,
        fsc05_denoised_vs_truth: t_dn,
    })
}
