//! crefDenoiser training on one pair of half-maps, applying a trained network, and the
//! paper's evaluation (Agarwal et al. 2024, `shared/seeds/003_*`).
//!
//! Training (sections 2.1, 2.4, 2.5): both half-maps are masked and standardised
//! independently (mean 0, σ 1). Each epoch draws `patches_per_epoch` cubic patches (96³ in the
//! paper; any multiple of 32 here, e.g. 32³ for a 64³ map) at uniformly random positions,
//! rejecting positions wholly outside the mask, and, with `augment`, applies one of the 48
//! rotations/reflections of the cube (axis permutation × flips) to each: one small map gives
//! many distinct training samples, as the paper's 55,176 patches from 3,286 maps do. The
//! network input is the average of the two half-map patches (a "full" map, noise N/√2); the
//! loss is L_C (eq. 5), the mean over shells of |C_ref(s) − FSC_FD(s)|, FSC_FD between that
//! input patch and the network's output patch, C_ref (eq. 4) from the FSC of the patch's two
//! half-map patches (FSC and C_ref are invariant under the cube's symmetries). Adam (β = 0.9,
//! 0.999, ε = 10⁻⁸), learning rate 3·10⁻⁴ multiplied by 0.7 every 10 epochs (section 2.5).
//!
//! Validation (section 2.5: "after each epoch, the model's performance was evaluated on the
//! validation set, and the model weights were saved"): with a single map there is no held-out
//! map, so each epoch ends with an *independent-noise check*: the network denoises each
//! standardised first half-map alone, and the score is the mean over shells 1…Nyquist of
//! FSC(D(M₁), M₂) (masked). For X independent of N₂,
//! FSC(X, M₂) = FSC(X, S)·[P_S/(P_S + P_N)]^½ per shell, so the score ranks networks exactly
//! as their FSC against the unknown truth S would, and the identity (X = M₁) scores
//! mean FSC(M₁, M₂). L_C alone cannot: it is degenerate (any output with FSC_FD = C_ref
//! minimises it, including the input plus structured junk), and on one map it is driven to ~0
//! while the map gets worse. The epoch with the best score is kept; training stops after
//! `patience_epochs` epochs without improvement.
//!
//! The kept network is applied ([`apply_cref`]) to the whole standardised average
//! (zero-padded to a multiple of 32 per axis, cropped back) and to the standardised second
//! half-map (for the paper's FSC-0.5(D₂, M₁), section 3.2); outputs are mapped back to the
//! input's mean and σ. With `flip_average` the output is the mean of the network's outputs
//! for the 8 axis flips of the map (flipped back): the network is trained on all cube
//! symmetries, so what it learnt about the map is (nearly) equivariant and survives the
//! average, while the part of its output that merely decorrelates it from the input — the
//! degenerate L_C solutions, uncorrelated with the truth — differs between flips and is
//! averaged down. On synthetic half-maps of the 80S ribosome (tests/cref.rs) this is what
//! turns "no better than the input" into a better map against the truth.
//!
//! Evaluation ([`evaluate_cref`], section 3.1, Fig. 1): RMSE over shells between FSC_FD(s)²
//! (denoised map vs half-map average) and C_ref(s)² (from the global half-map FSC), against
//! the identity map's RMSE (FSC_FD = 1); FSC-0.5 resolutions of (M₁, M₂) and (D₂, M₁)
//! (section 3.2, Fig. 2); and, when the truth is known (synthetic half-maps), FSC-0.5 and
//! mean FSC (shells 1…Nyquist) of the average and of the denoised map against the truth.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::device::ComputeDevice;
use crate::halfmap::HalfMaps;
use crate::image::Volume;
use crate::jobs::Progress;
use crate::metrics::RingCurve;
use crate::metrics::fsc::{FscShell, fsc, fsc_crossing};
use crate::models::cref::{CrefConfig, CrefUNet, FscLoss};
use crate::rng::Rng;

/// Options of [`train_cref`].
#[derive(Clone, Debug)]
pub struct CrefTrainConfig {
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Patch edge in voxels, a multiple of 32 (paper: 96).
    pub patch_px: usize,
    /// Random patches (one optimiser step each) per epoch.
    pub patches_per_epoch: usize,
    /// Apply a random one of the cube's 48 rotations/reflections to each patch.
    pub augment: bool,
    /// Stop after this many epochs without a better independent-noise score (0: never stop
    /// early; the best epoch is kept either way).
    pub patience_epochs: usize,
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
    /// Average the network's output over the 8 axis flips of the map when applying it (test-time
    /// augmentation; the network is trained on all 48 cube symmetries).
    pub flip_average: bool,
    /// Seed of the weights' initialisation (burn's generator, process-global) and of the patch
    /// positions and symmetries.
    pub seed: u64,
    /// Where to train (CPU Flex or a GPU through wgpu).
    pub device: ComputeDevice,
}

impl Default for CrefTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 20,
            patch_px: 96,
            patches_per_epoch: 32,
            augment: true,
            patience_epochs: 5,
            learning_rate: 3e-4,
            decay_rate: 0.7,
            decay_every_epochs: 10,
            shell_width: 1.0,
            net: CrefConfig::default(),
            flip_average: true,
            seed: 1,
            device: ComputeDevice::flex("crefDenoiser training"),
        }
    }
}

/// What [`train_cref`] produced.
#[derive(Clone, Debug)]
pub struct CrefOutcome {
    /// The kept network (best independent-noise score), without autodiff.
    pub model: CrefUNet,
    /// The denoised half-map average D, `[z][y][x]` like the inputs, in the average's units
    /// (mapped back to its mean and σ).
    pub denoised: Volume,
    /// The denoised second half-map D₂ (same network), for FSC-0.5(D₂, M₁).
    pub denoised_half2: Volume,
    /// Mean L_C over the fixed monitor patches (the non-overlapping grid) with the untrained
    /// network.
    pub initial_loss: f64,
    /// Mean L_C over the steps of each epoch run (one entry per epoch).
    pub loss_history: Vec<f64>,
    /// Mean L_C over the monitor patches with the kept network.
    pub final_loss: f64,
    /// Independent-noise score after each epoch (see the module docs; higher is better).
    pub validation_history: Vec<f64>,
    /// The identity's score, mean FSC(M₁, M₂) over shells 1…Nyquist.
    pub validation_identity: f64,
    /// Epoch (1-based) whose network was kept.
    pub best_epoch: usize,
    /// Patches (optimiser steps) per epoch.
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
    /// Mean FSC over shells 1…Nyquist of the average against the truth, when given.
    pub mean_fsc_average_vs_truth: Option<f64>,
    /// Same for the denoised map.
    pub mean_fsc_denoised_vs_truth: Option<f64>,
    /// FSC(M₁, M₂) per shell, with C_ref (eq. 4) in each shell's `c_ref`.
    pub halves_curve: RingCurve<FscShell>,
    /// FSC_FD per shell: denoised map vs half-map average.
    pub fsc_fd_curve: RingCurve<FscShell>,
    /// FSC of the average against the truth, when given.
    pub average_vs_truth_curve: Option<RingCurve<FscShell>>,
    /// FSC of the denoised map against the truth, when given.
    pub denoised_vs_truth_curve: Option<RingCurve<FscShell>>,
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

/// Patch starts along an axis of length `n`: 0, patch, …, with the last ending at `n`.
fn grid_starts(n: usize, patch: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..=(n - patch)).step_by(patch).collect();
    if *s.last().unwrap_or(&0) != n - patch {
        s.push(n - patch);
    }
    s
}

/// The `p`³ patch of `v` starting at `[z0, y0, x0]`, seen through cube symmetry `sym`
/// (0…47, [`super::volume::CubeSymmetry`]; 0 is the identity).
fn cut(v: &Volume, [z0, y0, x0]: [usize; 3], p: usize, sym: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(p * p * p);
    for z in z0..z0 + p {
        for y in y0..y0 + p {
            let row = (z * v.height + y) * v.width;
            out.extend_from_slice(&v.data[row + x0..row + x0 + p]);
        }
    }
    if sym.is_multiple_of(48) {
        out
    } else {
        super::volume::CubeSymmetry((sym % 48) as u8).apply(&out, p)
    }
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

/// The standardised maps and what cutting patches from them needs.
struct Prepared {
    m1: Volume,
    m2: Volume,
    avg: Volume,
    mask: Option<Volume>,
    p: usize,
    shell_width: f32,
    num_shells: usize,
}

impl Prepared {
    fn patch(&self, at: [usize; 3], sym: usize) -> Result<Patch> {
        let p = self.p;
        let curve = fsc(
            &cube(cut(&self.m1, at, p, 0), p, &self.m1),
            &cube(cut(&self.m2, at, p, 0), p, &self.m1),
            self.shell_width,
            None,
        )?;
        let mut c_ref = vec![0.0f32; self.num_shells];
        for r in &curve.rings {
            if r.index < self.num_shells {
                c_ref[r.index] = r.value.c_ref as f32;
            }
        }
        Ok(Patch {
            input: cut(&self.avg, at, p, sym),
            c_ref,
        })
    }

    fn inside_mask(&self, at: [usize; 3]) -> bool {
        match &self.mask {
            Some(m) => cut(m, at, self.p, 0).iter().any(|v| *v != 0.0),
            None => true,
        }
    }

    /// A random position with some mask inside, or `None` after many tries.
    fn random_position(&self, rng: &mut Rng) -> Option<[usize; 3]> {
        let v = &self.avg;
        let p = self.p;
        let mut pick = |n: usize| (rng.next_u64() % (n - p + 1) as u64) as usize;
        (0..200)
            .map(|_| [pick(v.depth), pick(v.height), pick(v.width)])
            .find(|at| self.inside_mask(*at))
    }
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

/// Mean FSC over shells 1…Nyquist of `a` and `b` (masked by `mask`).
fn mean_fsc(a: &Volume, b: &Volume, shell_width: f32, mask: Option<&Volume>) -> Result<f64> {
    let c = fsc(a, b, shell_width, mask)?;
    Ok(mean_of(&c))
}

fn mean_of(c: &RingCurve<FscShell>) -> f64 {
    let n = c.rings.len().max(1) as f64;
    c.rings.iter().map(|r| r.value.fsc).sum::<f64>() / n
}

/// Checks the training options against a map of `shape` `[z, y, x]`.
fn check_config(cfg: &CrefTrainConfig, shape: [usize; 3]) -> Result<()> {
    let p = cfg.patch_px;
    if p == 0 || !p.is_multiple_of(32) {
        bail!(
            "the patch edge must be a positive multiple of 32 voxels (five 2× poolings); got {p}"
        );
    }
    if shape.iter().any(|n| p > *n) {
        bail!(
            "the patch edge ({p} voxels) exceeds the map ({} × {} × {} voxels, x × y × z)",
            shape[2],
            shape[1],
            shape[0]
        );
    }
    if cfg.epochs == 0 || cfg.patches_per_epoch == 0 {
        bail!("at least one epoch of at least one patch is needed");
    }
    if !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
        bail!("the learning rate must be > 0; got {}", cfg.learning_rate);
    }
    Ok(())
}

/// Trains a crefDenoiser U-net on one pair of half-maps and denoises their average (see the
/// module docs for the procedure and its sources).
///
/// `half1`, `half2`: `[z][y][x]` half-maps of the same shape and voxel size; `mask`: same
/// shape, 0…1, multiplied in before standardising and into the independent-noise check.
/// `progress` counts one step per patch, one per epoch's check and one for the final
/// inference (its total assumes no early stop; an early stop jumps to the end); cancelling it
/// stops training with an error.
///
/// # Errors
/// Mismatched shapes or voxel sizes, non-finite values, a constant map, a patch edge that is
/// not a positive multiple of 32 or exceeds a map axis, no patch position inside the mask,
/// zero epochs or patches, a non-finite loss, cancellation, backend failures.
pub fn train_cref(
    half1: &Volume,
    half2: &Volume,
    mask: Option<&Volume>,
    cfg: &CrefTrainConfig,
    progress: &Progress,
) -> Result<CrefOutcome> {
    train_cref_observed(half1, half2, mask, cfg, progress, &mut |_| {})
}

/// One finished epoch, as [`train_cref_observed`] reports it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CrefEpoch {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean L_C over the epoch's steps.
    pub loss: f64,
    /// Independent-noise score after the epoch (mean FSC, higher is better).
    pub validation: f64,
    /// The input's independent-noise score.
    pub validation_identity: f64,
}

/// [`train_cref`], calling `on_epoch` after every epoch (for live curves).
///
/// # Errors
/// As [`train_cref`].
pub fn train_cref_observed(
    half1: &Volume,
    half2: &Volume,
    mask: Option<&Volume>,
    cfg: &CrefTrainConfig,
    progress: &Progress,
    on_epoch: &mut dyn FnMut(&CrefEpoch),
) -> Result<CrefOutcome> {
    let maps = HalfMaps::new(half1.clone(), half2.clone(), mask.cloned())?;
    let shape = [half1.depth, half1.height, half1.width];
    check_config(cfg, shape)?;
    let p = cfg.patch_px;
    let m1 = standardise(&maps.half1, maps.mask.as_ref())?;
    let m2 = standardise(&maps.half2, maps.mask.as_ref())?;
    let avg = HalfMaps::new(m1.clone(), m2.clone(), None)?.average();
    let ad = crate::train::training_device(&cfg.device);
    let plan = FscLoss::new([p, p, p], cfg.shell_width, &ad)?;
    let ns = plan.num_shells();
    let prep = Prepared {
        m1,
        m2,
        avg,
        mask: maps.mask.clone(),
        p,
        shell_width: cfg.shell_width,
        num_shells: ns,
    };
    // Fixed monitor patches: the non-overlapping grid, as the paper tiles its maps.
    let mut monitor = Vec::new();
    for &z in &grid_starts(shape[0], p) {
        for &y in &grid_starts(shape[1], p) {
            for &x in &grid_starts(shape[2], p) {
                if prep.inside_mask([z, y, x]) {
                    monitor.push(prep.patch([z, y, x], 0)?);
                }
            }
        }
    }
    if monitor.is_empty() {
        bail!("no {p}³ patch overlaps the mask");
    }

    // burn's weight initialisation draws from the backend's (process-global) generator.
    ad.seed(cfg.seed);
    let mut model = CrefUNet::new(cfg.net, &ad);
    let mut optim: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let total = (cfg.epochs * (cfg.patches_per_epoch + 1) + 1) as u64;
    progress.start(total, "crefDenoiser: training");

    let loss_of = |model: &CrefUNet, patch: &Patch| -> Tensor<1> {
        let x = tensor5(patch.input.clone(), p, &ad);
        let target = Tensor::<1>::from_data(TensorData::new(patch.c_ref.clone(), [ns]), &ad);
        plan.loss(x.clone(), model.forward(x), target)
    };
    let monitor_loss = |model: &CrefUNet| -> Result<f64> {
        let mut s = 0.0;
        for patch in &monitor {
            s += scalar(loss_of(model, patch))?;
        }
        Ok(s / monitor.len() as f64)
    };
    let mask_ref = maps.mask.as_ref();
    let check = |model: &CrefUNet| -> Result<f64> {
        let d1 = apply(model, &prep.m1, &prep.m1, &ad, false)?;
        mean_fsc(&d1, &prep.m2, cfg.shell_width, mask_ref)
    };

    let t0 = Instant::now();
    let initial_loss = monitor_loss(&model)?;
    let validation_identity = mean_fsc(&prep.m1, &prep.m2, cfg.shell_width, mask_ref)?;
    let mut rng = Rng::new(cfg.seed);
    let mut loss_history = Vec::with_capacity(cfg.epochs);
    let mut validation_history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<(f64, usize, CrefUNet)> = None;
    for epoch in 0..cfg.epochs {
        let lr = cfg.learning_rate
            * cfg
                .decay_rate
                .powi((epoch / cfg.decay_every_epochs.max(1)) as i32);
        let mut sum = 0.0;
        for _ in 0..cfg.patches_per_epoch {
            if progress.is_cancelled() {
                bail!("crefDenoiser training cancelled");
            }
            let at = prep
                .random_position(&mut rng)
                .ok_or_else(|| anyhow!("no {p}³ patch position overlaps the mask"))?;
            let sym = if cfg.augment {
                (rng.next_u64() % 48) as usize
            } else {
                0
            };
            let patch = prep.patch(at, sym)?;
            let l = loss_of(&model, &patch);
            let v = scalar(l.clone())?;
            if !v.is_finite() {
                bail!("the L_C loss became {v} in epoch {}", epoch + 1);
            }
            sum += v;
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(lr, model, grads);
            progress.step();
        }
        let mean = sum / cfg.patches_per_epoch as f64;
        loss_history.push(mean);
        let score = check(&model)?;
        validation_history.push(score);
        progress.step();
        progress.set_message(format!(
            "crefDenoiser: epoch {}/{}, L_C {mean:.4}, independent-noise FSC {score:.4} (input {validation_identity:.4})",
            epoch + 1,
            cfg.epochs
        ));
        on_epoch(&CrefEpoch {
            epoch: epoch + 1,
            loss: mean,
            validation: score,
            validation_identity,
        });
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, epoch + 1, model.clone()));
        } else if cfg.patience_epochs > 0
            && best
                .as_ref()
                .is_some_and(|b| epoch + 1 - b.1 >= cfg.patience_epochs)
        {
            break;
        }
    }
    let (_, best_epoch, model) = best.ok_or_else(|| anyhow!("no epoch was run"))?;
    let final_loss = monitor_loss(&model)?;
    let train_seconds = t0.elapsed().as_secs_f64();
    let model = model.valid();
    let (denoised, denoised_half2) = apply_cref(&model, &maps, cfg.flip_average)?;
    let (done, total) = progress.counts();
    for _ in done..total {
        progress.step();
    }
    Ok(CrefOutcome {
        model,
        denoised,
        denoised_half2,
        initial_loss,
        loss_history,
        final_loss,
        validation_history,
        validation_identity,
        best_epoch,
        patches: cfg.patches_per_epoch,
        train_seconds,
    })
}

/// Applies a trained crefDenoiser to a pair: (denoised average, denoised second half-map),
/// both `[z][y][x]` like the inputs and in their units. The maps are masked and standardised
/// as for training; the network runs on the whole map (zero-padded to a multiple of 32 per
/// axis) on the model's device.
///
/// # Errors
/// A constant map, backend failures.
pub fn apply_cref(
    model: &CrefUNet,
    maps: &HalfMaps,
    flip_average: bool,
) -> Result<(Volume, Volume)> {
    let device = model
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex);
    let m1 = standardise(&maps.half1, maps.mask.as_ref())?;
    let m2 = standardise(&maps.half2, maps.mask.as_ref())?;
    let avg = HalfMaps::new(m1, m2.clone(), None)?.average();
    let denoised = apply(model, &avg, &maps.average(), &device, flip_average)?;
    let denoised_half2 = apply(model, &m2, &maps.half2, &device, flip_average)?;
    Ok((denoised, denoised_half2))
}

/// Runs the network (no gradients) on the whole standardised map `x`, zero-padded to a
/// multiple of 32 per axis, and maps the output to the mean and σ of `like`.
fn apply(
    model: &CrefUNet,
    x: &Volume,
    like: &Volume,
    device: &Device,
    flips: bool,
) -> Result<Volume> {
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
    let net = model.valid();
    let out = if flips {
        let flip = |mut u: Tensor<5>, bits: usize| {
            for axis in 0..3 {
                if bits >> axis & 1 == 1 {
                    u = u.flip([2 + axis]);
                }
            }
            u
        };
        let mut sum = net.forward(t.clone());
        for bits in 1..8 {
            sum = sum + flip(net.forward(flip(t.clone(), bits)), bits);
        }
        sum
    } else {
        net.forward(t)
    };
    let out = out
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

/// The paper's evaluation of a denoised average `denoised` and denoised second half-map
/// `denoised_half2` for the half-maps `maps` (mask applied to every FSC), plus FSC against
/// `truth` (`[z][y][x]`, same shape) when it is known. `shell_width` in Fourier voxels. See
/// [`CrefEvaluation`] and the module docs (sections 3.1–3.2).
///
/// # Errors
/// Volumes of other shapes than the half-maps, a bad shell width.
pub fn evaluate_cref(
    maps: &HalfMaps,
    denoised: &Volume,
    denoised_half2: &Volume,
    truth: Option<&Volume>,
    shell_width: f32,
) -> Result<CrefEvaluation> {
    let mask = maps.mask.as_ref();
    let avg = maps.average();
    let halves = maps.fsc(shell_width)?;
    let fd = fsc(denoised, &avg, shell_width, mask)?;
    let (mut e_id, mut e_dn, mut n) = (0.0, 0.0, 0usize);
    for (h, d) in halves.curve.rings.iter().zip(&fd.rings) {
        let c2 = h.value.c_ref.powi(2);
        e_id += (1.0 - c2).powi(2);
        e_dn += (d.value.fsc.powi(2) - c2).powi(2);
        n += 1;
    }
    let n = n.max(1) as f64;
    let res05 = |c: &RingCurve<FscShell>| fsc_crossing(c, 0.5).map(|c| c.resolution);
    let (t_avg, t_dn) = match truth {
        Some(t) => (
            Some(fsc(&avg, t, shell_width, mask)?),
            Some(fsc(denoised, t, shell_width, mask)?),
        ),
        None => (None, None),
    };
    Ok(CrefEvaluation {
        rmse_identity: (e_id / n).sqrt(),
        rmse_denoised: (e_dn / n).sqrt(),
        fsc05_halves: halves.at_05.map(|c| c.resolution),
        fsc05_denoised_half: res05(&fsc(denoised_half2, &maps.half1, shell_width, mask)?),
        fsc05_average_vs_truth: t_avg.as_ref().and_then(res05),
        fsc05_denoised_vs_truth: t_dn.as_ref().and_then(res05),
        mean_fsc_average_vs_truth: t_avg.as_ref().map(mean_of),
        mean_fsc_denoised_vs_truth: t_dn.as_ref().map(mean_of),
        halves_curve: halves.curve,
        fsc_fd_curve: fd,
        average_vs_truth_curve: t_avg,
        denoised_vs_truth_curve: t_dn,
    })
}

/// Format name in [`CrefModelMeta::format`].
pub const CREF_MODEL_FORMAT: &str = "cryolens-cref-denoiser";
/// Version of the crefDenoiser model format.
pub const CREF_MODEL_FORMAT_VERSION: u32 = 1;

/// The JSON sidecar of a saved crefDenoiser (`NAME.json` beside `NAME.safetensors`, the
/// layout of [`crate::train::checkpoint`]'s model format, with its own format name).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrefModelMeta {
    /// [`CREF_MODEL_FORMAT`].
    pub format: String,
    /// [`CREF_MODEL_FORMAT_VERSION`].
    pub version: u32,
    /// Network dimensions.
    pub net: CrefConfig,
    /// Trainable scalars.
    pub parameters: usize,
    /// Patch edge trained on (voxels).
    pub patch_px: usize,
    /// Random patches per epoch.
    pub patches_per_epoch: usize,
    /// Epochs run (including those after the kept one, before an early stop).
    pub epochs_run: usize,
    /// Epoch (1-based) whose weights these are.
    pub best_epoch: usize,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// L_C on the monitor patches with these weights.
    pub final_loss: f64,
    /// Independent-noise score of these weights and of the input (mean FSC).
    pub validation_score: f64,
    /// The input's independent-noise score.
    pub validation_identity: f64,
    /// Voxel size of the training maps in Å, if known.
    pub pixel_size_angstrom: Option<f32>,
    /// The maps trained on (paths, or "gui"/"synthetic").
    pub sources: Vec<String>,
    /// UTC date and time written, ISO 8601.
    pub created_utc: String,
    /// Cryolens version that trained it.
    pub cryolens_version: String,
}

impl CrefModelMeta {
    /// The sidecar of `outcome` trained with `cfg` on `sources` (voxel size `pixel_size`).
    pub fn new(
        outcome: &CrefOutcome,
        cfg: &CrefTrainConfig,
        sources: Vec<String>,
        pixel_size_angstrom: Option<f32>,
    ) -> Self {
        Self {
            format: CREF_MODEL_FORMAT.into(),
            version: CREF_MODEL_FORMAT_VERSION,
            net: cfg.net,
            parameters: outcome.model.num_parameters(),
            patch_px: cfg.patch_px,
            patches_per_epoch: cfg.patches_per_epoch,
            epochs_run: outcome.loss_history.len(),
            best_epoch: outcome.best_epoch,
            learning_rate: cfg.learning_rate,
            final_loss: outcome.final_loss,
            validation_score: outcome
                .validation_history
                .get(outcome.best_epoch.saturating_sub(1))
                .copied()
                .unwrap_or(f64::NAN),
            validation_identity: outcome.validation_identity,
            pixel_size_angstrom,
            sources,
            created_utc: crate::train::checkpoint::utc_now_iso8601(),
            cryolens_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Where `--save-model NAME` writes: a bare name goes to the trained-models folder
/// (`…/trained/NAME.safetensors`), a path ending in `.safetensors` is used as is, any other
/// path is a folder receiving `model.safetensors` (as `cryolens train --output`).
pub fn cref_model_path(name: &str) -> std::path::PathBuf {
    crate::train::checkpoint::resolve_output(name)
}

/// Writes `model` as `weights` (safetensors) and `meta` beside it (`.json`), both atomically
/// (temporary file, fsync, rename).
///
/// # Errors
/// Serialisation or I/O failures.
pub fn save_cref_model(
    model: &CrefUNet,
    meta: &CrefModelMeta,
    weights: &std::path::Path,
) -> Result<()> {
    use burn::module::Module;
    crate::train::checkpoint::write_model_files(
        &model.valid(),
        CREF_MODEL_FORMAT,
        "crefdenoiser-unet",
        meta,
        weights,
    )
}

/// Loads a saved crefDenoiser: `name_or_path` is a `.safetensors` path or the bare name of a
/// model in the trained-models folder. Returns the network on `device` and its sidecar.
///
/// # Errors
/// No such model, a JSON that is not a crefDenoiser of a version this reads, weights that do
/// not fit the architecture the JSON names.
pub fn load_cref_model(name_or_path: &str, device: &Device) -> Result<(CrefUNet, CrefModelMeta)> {
    use anyhow::Context;
    let path = std::path::PathBuf::from(name_or_path);
    let weights = if path.is_file() {
        path
    } else {
        crate::train::checkpoint::find_trained_model(name_or_path).ok_or_else(|| {
            anyhow!(
                "no crefDenoiser model {name_or_path:?} (a .safetensors path, or a name in {})",
                crate::paths::trained_models_dir().display()
            )
        })?
    };
    let meta_path = crate::train::checkpoint::meta_path(&weights);
    let text = std::fs::read_to_string(&meta_path)
        .with_context(|| format!("reading {}", meta_path.display()))?;
    let meta: CrefModelMeta = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a crefDenoiser model description",
            meta_path.display()
        )
    })?;
    if meta.format != CREF_MODEL_FORMAT || meta.version > CREF_MODEL_FORMAT_VERSION {
        bail!(
            "{}: format {:?} version {} is not a crefDenoiser this version reads",
            meta_path.display(),
            meta.format,
            meta.version
        );
    }
    let mut model = CrefUNet::new(meta.net, device);
    crate::train::checkpoint::load_weights_into(
        &mut model,
        &weights,
        &format!("a crefDenoiser U-net with {:?}", meta.net),
    )?;
    Ok((model, meta))
}
