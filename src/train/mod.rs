//! Noise2noise training of 2D denoisers (Topaz's architectures and restore's WDSR U-net),
//! interactive: start it on a background thread, poll its metrics and a live preview each
//! frame, pause, resume, cancel, resume after a crash.
//!
//! Source: Lehtinen et al. 2018 (Noise2Noise: a network trained to map one noisy observation
//! to another independent one learns the clean signal, eq. 2–3) as applied to cryo-EM by
//! Bepler et al. 2020 (Topaz-Denoise, Methods "Training": even/odd halves, L0/L1/L2 losses,
//! Adagrad lr 10⁻³, 800 px crops, batch 4, rotations and mirrors) and by Palovcak et al. 2020.
//! Both directions are used: each crop pair (A, B) gives f(A) → B and f(B) → A.
//!
//! restore (Palovcak et al. 2020, supplement S2.1–S2.3) trains its WDSR U-net
//! ([`crate::models::wdsr`], architecture `wdsr` or `restore`) on micrographs Fourier cropped
//! to max_resolution/2 Å/px, band-passed and optionally phase flipped
//! ([`data::RestorePreprocessing`]), 192 px crops in batches of 10, Adam lr 10⁻⁴ × 0.25 every
//! 25 epochs of 500 steps, 100 epochs ([`TrainConfig::restore`]).
//!
//! Gradients of Topaz's architectures on a CPU come from our native kernels ([`native`]:
//! hand-written backward passes, equal to autodiff's to f32 rounding); the WDSR U-net on a CPU
//! and every model on a GPU use burn's autodiff (Flex, or wgpu). See [`GradientEngine`].
//!
//! ```text
//! GUI / CLI ──start(TrainRun, device)──▶ TrainHandle ──status()/history()/preview()──▶ drawn each frame
//!                                          └─ pause()/resume()/cancel()/finish_now()
//! ```

pub mod checkpoint;
pub mod cref;
pub mod data;
pub mod loss;
pub mod native;
pub mod volume;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdaGradConfig, AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::device::ComputeDevice;
use crate::image::Image;
use crate::jobs::{Job, Progress};
use crate::models::wdsr::{WdsrConfig, WdsrUNet};
use crate::models::{ModelSpec, TopazArch, TopazConfig, TopazModel};
use crate::rng::Rng;

pub use checkpoint::{ArchJson, DataSummary, ModelMeta};
pub use data::{
    Batch, DataOptions, Holdout, PairSource, RestorePreprocessing, TrainingData,
    count_split_sources, pairs_from_dir, pairs_from_lists,
};
pub use loss::LossKind;

/// The optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adagrad (Topaz's default), ε = 10⁻¹⁰ as PyTorch.
    Adagrad,
    /// Adam, β = (0.9, 0.999), ε = 10⁻⁸ as PyTorch.
    Adam,
}

/// A step decay of the learning rate: lr · factor^⌊epoch / every_epochs⌋ (restore: × 0.25
/// every 25 epochs, Palovcak et al. 2020, supplement S2.3).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepDecay {
    /// Factor applied at each decay (0 < factor ≤ 1).
    pub factor: f64,
    /// Epochs between decays (≥ 1).
    pub every_epochs: u64,
}

impl StepDecay {
    /// The learning rate at (0-based) `epoch` starting from `lr`.
    pub fn rate(&self, lr: f64, epoch: u64) -> f64 {
        lr * self.factor.powi((epoch / self.every_epochs.max(1)) as i32)
    }
}

/// Names accepted for restore's WDSR U-net.
pub const WDSR_NAMES: [&str; 2] = ["wdsr", "restore"];

/// Whether `name` selects restore's WDSR U-net (`wdsr` or `restore`).
pub fn is_wdsr_architecture(name: &str) -> bool {
    WDSR_NAMES.contains(&name)
}

/// Everything that shapes a training run (saved in checkpoints and in the model's JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Architecture name: `unet`, `unet-small`, `fcnn`, `affine`, `unet-v0.2.1`, or `wdsr`
    /// (alias `restore`: restore's WDSR U-net) (ignored when `from_pretrained` is set: the
    /// pretrained model's architecture is used).
    pub architecture: String,
    /// Dimensions of the WDSR U-net when `architecture` is `wdsr` (`None`: the paper's,
    /// [`WdsrConfig::paper`]).
    #[serde(default)]
    pub wdsr: Option<WdsrConfig>,
    /// Start from these weights (a `--model` value: Topaz name, Topaz state dict, or a Cryolens
    /// model) instead of a random initialisation.
    pub from_pretrained: Option<String>,
    /// The loss.
    pub loss: LossKind,
    /// The optimiser.
    pub optimizer: OptimizerKind,
    /// Learning rate (Topaz: 10⁻³).
    pub learning_rate: f64,
    /// Step decay of the learning rate (`None`: constant).
    #[serde(default)]
    pub lr_decay: Option<StepDecay>,
    /// Epochs.
    pub epochs: u64,
    /// Steps per epoch; `None`: one crop per training pair per epoch, as Topaz
    /// (⌈training pairs / batch⌉).
    pub steps_per_epoch: Option<u64>,
    /// Train both directions (A → B and B → A) on every crop pair; otherwise A → B only.
    pub both_directions: bool,
    /// Crops, batches, holdout, seed.
    pub data: DataOptions,
    /// Validate every this many steps; 0: at the end of every epoch.
    pub validate_every_steps: u64,
    /// Checkpoint every this many steps; 0: at the end of every epoch.
    pub checkpoint_every_steps: u64,
    /// Make a preview every this many steps; 0: with every validation.
    pub preview_every_steps: u64,
    /// Side of the held-out preview region in px.
    pub preview_size_px: usize,
}

impl Default for TrainConfig {
    /// unet-small from scratch, L2, Adagrad lr 10⁻³, 10 epochs, both directions, Topaz's crops
    /// and batches ([`DataOptions::default`]), preview 512 px.
    fn default() -> Self {
        Self {
            architecture: "unet-small".into(),
            wdsr: None,
            from_pretrained: None,
            loss: LossKind::L2,
            optimizer: OptimizerKind::Adagrad,
            learning_rate: 1e-3,
            lr_decay: None,
            epochs: 10,
            steps_per_epoch: None,
            both_directions: true,
            data: DataOptions::default(),
            validate_every_steps: 0,
            checkpoint_every_steps: 0,
            preview_every_steps: 0,
            preview_size_px: 512,
        }
    }
}

impl TrainConfig {
    /// restore's training defaults (Palovcak et al. 2020, supplement S2.1 and S2.3): the
    /// paper's WDSR U-net, L2, Adam lr 10⁻⁴ × 0.25 every 25 epochs, 100 epochs of 500 steps,
    /// 192 px crops in batches of 10, data preprocessed with [`RestorePreprocessing::default`]
    /// (max resolution 4.5 Å, band-pass from 200 Å, no phase flip).
    pub fn restore() -> Self {
        let base = Self::default();
        Self {
            architecture: "wdsr".into(),
            wdsr: Some(WdsrConfig::paper()),
            optimizer: OptimizerKind::Adam,
            learning_rate: 1e-4,
            lr_decay: Some(StepDecay {
                factor: 0.25,
                every_epochs: 25,
            }),
            epochs: 100,
            steps_per_epoch: Some(500),
            data: DataOptions {
                crop_px: 192,
                batch: 10,
                restore: Some(RestorePreprocessing::default()),
                ..base.data.clone()
            },
            ..base
        }
    }

    /// Whether this run trains restore's WDSR U-net.
    pub fn is_wdsr(&self) -> bool {
        is_wdsr_architecture(&self.architecture)
    }

    /// The learning rate of (0-based) `epoch`.
    pub fn learning_rate_at(&self, epoch: u64) -> f64 {
        match &self.lr_decay {
            Some(d) => d.rate(self.learning_rate, epoch),
            None => self.learning_rate,
        }
    }

    /// The fields a resumed run must share with its checkpoint (all but epochs and the
    /// validation/checkpoint/preview intervals).
    fn same_run_as(&self, other: &TrainConfig) -> bool {
        let strip = |c: &TrainConfig| TrainConfig {
            epochs: 0,
            validate_every_steps: 0,
            checkpoint_every_steps: 0,
            preview_every_steps: 0,
            preview_size_px: 0,
            ..c.clone()
        };
        strip(self) == strip(other)
    }
}

/// A run: configuration, data, where the model goes.
#[derive(Clone, Debug)]
pub struct TrainRun {
    /// The configuration.
    pub config: TrainConfig,
    /// The training pairs.
    pub sources: Vec<PairSource>,
    /// The model's weights file (`X.safetensors`; `X.json` and `X.checkpoints/` go beside it).
    pub output: PathBuf,
    /// Continue from the checkpoint in `X.checkpoints/` (an error if there is none).
    pub resume: bool,
    /// Recorded in the model's JSON ("cryolens train …" or "gui").
    pub command_line: String,
    /// Free-form notes recorded in the model's JSON.
    pub notes: String,
}

/// One point of the loss curves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Steps completed.
    pub step: u64,
    /// Epochs completed (fractional).
    pub epoch: f64,
    /// Mean training loss of the steps since the previous point (normalised units), if any.
    pub train_loss: Option<f64>,
    /// Validation loss at this step, if measured.
    pub validation_loss: Option<f64>,
    /// γ of the L0 loss at this step (2 for L1/L2, unused).
    pub gamma: f64,
}

/// What the run is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TrainPhase {
    /// Reading data, building the model.
    #[default]
    Loading,
    /// Taking optimisation steps.
    Training,
    /// Measuring the validation loss.
    Validating,
    /// Denoising the preview region.
    Previewing,
    /// Paused by the user.
    Paused,
    /// Writing a checkpoint or the model.
    Saving,
    /// Finished: the model is written.
    Finished,
    /// Cancelled: a checkpoint is written, no model.
    Cancelled,
    /// Failed with an error.
    Failed,
}

/// A snapshot of the run for display (cheap to clone; poll it each frame).
#[derive(Clone, Debug, Default)]
pub struct TrainStatus {
    /// What it is doing.
    pub phase: TrainPhase,
    /// Steps completed.
    pub step: u64,
    /// Steps in the run.
    pub total_steps: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Epochs completed (fractional).
    pub epoch: f64,
    /// Epochs in the run.
    pub epochs: u64,
    /// Loss of the last step.
    pub last_step_loss: Option<f64>,
    /// Mean training loss over the current epoch so far.
    pub train_loss: Option<f64>,
    /// Last validation loss.
    pub validation_loss: Option<f64>,
    /// Best validation loss.
    pub best_validation_loss: Option<f64>,
    /// Crops through the network (forward and backward) per second, over recent steps; each
    /// direction of a crop pair counts as one crop.
    pub crops_per_second: f64,
    /// Estimated seconds to the end.
    pub eta_seconds: Option<f64>,
    /// Seconds of training so far (resumed runs include earlier sessions).
    pub elapsed_seconds: f64,
    /// The compute device, in words.
    pub device: String,
    /// The model, in words.
    pub architecture: String,
    /// Incremented whenever a new preview is available.
    pub preview_generation: u64,
    /// The last error, when failed.
    pub error: Option<String>,
}

/// A held-out region denoised with the weights of `step`.
#[derive(Clone, Debug)]
pub struct Preview {
    /// Steps completed when it was made.
    pub step: u64,
    /// Half A of the region, normalised (mean 0, σ 1 over the whole micrograph).
    pub raw: Image,
    /// The network's output on `raw`, same units.
    pub denoised: Image,
    /// Topaz's SNR in dB of the denoised region against the independent half B
    /// (10·log10(cc/(1−cc))), `None` when undefined.
    pub snr_db: Option<f64>,
}

/// State shared between the training thread and whoever watches it.
#[derive(Debug, Default)]
pub struct TrainShared {
    paused: AtomicBool,
    finish_now: AtomicBool,
    preview_generation: AtomicU64,
    status: Mutex<TrainStatus>,
    history: Mutex<Vec<MetricPoint>>,
    preview: Mutex<Option<Arc<Preview>>>,
}

impl TrainShared {
    /// A fresh shared state.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn update(&self, f: impl FnOnce(&mut TrainStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// The current status.
    pub fn status(&self) -> TrainStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// All metric points so far.
    pub fn history(&self) -> Vec<MetricPoint> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Metric points from index `from` on (for incremental polling).
    pub fn history_since(&self, from: usize) -> Vec<MetricPoint> {
        self.history
            .lock()
            .map(|h| h.get(from..).map(|s| s.to_vec()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// The latest preview.
    pub fn preview(&self) -> Option<Arc<Preview>> {
        self.preview.lock().ok().and_then(|p| p.clone())
    }

    /// Pauses after the current step.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes a paused run.
    pub fn resume(&self) {
        self.paused.store(false, Ordering::Relaxed);
    }

    /// Whether a pause was requested.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Stops after the current step and writes the model as if the run had finished.
    pub fn finish_now(&self) {
        self.finish_now.store(true, Ordering::Relaxed);
    }

    fn push_point(&self, p: MetricPoint) {
        if let Ok(mut h) = self.history.lock() {
            h.push(p);
        }
    }

    fn set_preview(&self, p: Preview) {
        if let Ok(mut slot) = self.preview.lock() {
            *slot = Some(Arc::new(p));
        }
        let g = self.preview_generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.update(|s| s.preview_generation = g);
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainEnd {
    /// All steps done; the model is written.
    Completed,
    /// Stopped early by [`TrainShared::finish_now`]; the model is written.
    Stopped,
    /// Cancelled; a checkpoint is written (resume with `resume: true`), no model.
    Cancelled,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct TrainOutcome {
    /// How it ended.
    pub end: TrainEnd,
    /// Steps completed.
    pub steps: u64,
    /// The model's weights file (also loadable as `ModelSpec::parse(path)`), unless cancelled.
    pub model_path: Option<PathBuf>,
    /// The checkpoint folder.
    pub checkpoint_dir: PathBuf,
    /// Metric history.
    pub history: Vec<MetricPoint>,
    /// Last validation loss.
    pub final_validation_loss: Option<f64>,
    /// Mean crops per second over the run's training steps (this session).
    pub crops_per_second: f64,
}

/// A run on a background thread; poll it from the GUI thread.
pub struct TrainHandle {
    job: Job<TrainOutcome>,
    shared: Arc<TrainShared>,
}

impl TrainHandle {
    /// Step progress and the cancel flag (the same [`Progress`] every job has).
    pub fn progress(&self) -> &Arc<Progress> {
        &self.job.progress
    }

    /// The shared state (status, history, preview, pause).
    pub fn shared(&self) -> &Arc<TrainShared> {
        &self.shared
    }

    /// Current status; see [`TrainShared::status`].
    pub fn status(&self) -> TrainStatus {
        self.shared.status()
    }

    /// All metric points so far.
    pub fn history(&self) -> Vec<MetricPoint> {
        self.shared.history()
    }

    /// Latest preview.
    pub fn preview(&self) -> Option<Arc<Preview>> {
        self.shared.preview()
    }

    /// Pause after the current step.
    pub fn pause(&self) {
        self.shared.pause();
    }

    /// Resume.
    pub fn resume(&self) {
        self.shared.resume();
    }

    /// Cancel: a checkpoint is written, then the run ends with [`TrainEnd::Cancelled`].
    pub fn cancel(&self) {
        self.job.progress.cancel();
    }

    /// Stop now and write the model ([`TrainEnd::Stopped`]).
    pub fn finish_now(&self) {
        self.shared.finish_now();
    }

    /// The outcome once the run has ended (returned once), `None` while it runs.
    pub fn try_result(&mut self) -> Option<Result<TrainOutcome>> {
        self.job.try_take()
    }

    /// Blocks until the run ends.
    ///
    /// # Errors
    /// The run's error.
    pub fn wait(self) -> Result<TrainOutcome> {
        self.job.wait()
    }
}

/// Starts `run` on a background thread on `device` (a GPU device trains on wgpu, any CPU
/// device on burn Flex).
pub fn start(run: TrainRun, device: ComputeDevice) -> TrainHandle {
    let shared = TrainShared::new();
    let s = Arc::clone(&shared);
    let job = Job::spawn("train", move |progress| {
        let r = train(&run, &device, progress, &s);
        if let Err(e) = &r {
            s.update(|st| {
                st.phase = TrainPhase::Failed;
                st.error = Some(format!("{e:#}"));
            });
        }
        r
    });
    TrainHandle { job, shared }
}

/// The autodiff device training runs on: wgpu for a GPU device, burn Flex otherwise.
pub fn training_device(device: &ComputeDevice) -> Device {
    if device.is_gpu() {
        device.burn.clone().autodiff()
    } else {
        Device::flex().autodiff()
    }
}

/// Resolves the architecture name.
///
/// # Errors
/// An unknown name.
pub fn architecture_config(name: &str) -> Result<TopazConfig> {
    TopazArch::from_name(name)
        .map(|a| a.config())
        .ok_or_else(|| {
            anyhow!(
                "unknown architecture '{name}': expected unet, unet-small, fcnn, affine, unet-v0.2.1 or wdsr (restore)"
            )
        })
}

/// The architecture a run from scratch builds: restore's WDSR U-net for `wdsr`/`restore`
/// (dimensions from `cfg.wdsr`, else the paper's), else a Topaz architecture.
///
/// # Errors
/// An unknown name; WDSR dimensions that cannot work (0 filters, levels, blocks or kernel).
pub fn resolve_architecture(cfg: &TrainConfig) -> Result<ArchJson> {
    if cfg.is_wdsr() {
        let w = cfg.wdsr.unwrap_or_else(WdsrConfig::paper);
        if w.filters == 0
            || w.expansion == 0
            || w.levels == 0
            || w.blocks_per_level == 0
            || w.kernel_size == 0
            || w.decoder_kernel_size == 0
            || !(w.reduction > 0.0 && w.reduction.is_finite())
        {
            bail!("invalid WDSR dimensions {w:?}: every size must be at least 1");
        }
        return Ok(ArchJson::Wdsr(w));
    }
    Ok(architecture_config(&cfg.architecture)?.into())
}

/// A network the training loop can train: one of Topaz's 2D architectures or restore's WDSR
/// U-net. Both map `[batch, 1, y, x]` to the same shape in normalised units.
///
/// On a CPU, Topaz models take the native training step, the WDSR U-net burn's autodiff
/// ([`gradient_engine`]).
// One value per training run: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum TrainableModel {
    /// A Topaz architecture.
    Topaz(TopazModel),
    /// restore's WDSR U-net.
    Wdsr(WdsrUNet),
}

/// A 2D denoising network: `[batch, 1, y, x]` → same shape, normalised units.
pub trait Net2d: Module {
    /// The forward pass (any y, x: the WDSR U-net pads to its alignment).
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4>;
}

impl Net2d for TopazModel {
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x)
    }
}

impl Net2d for WdsrUNet {
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_padded(x)
    }
}

impl Net2d for TrainableModel {
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            TrainableModel::Topaz(m) => m.forward(x),
            TrainableModel::Wdsr(m) => m.forward_padded(x),
        }
    }
}

impl TrainableModel {
    /// A randomly initialised model of `arch` on `device`, every parameter drawn from `seed`.
    pub fn init_seeded(arch: ArchJson, seed: u64, device: &Device) -> Self {
        let mut rng = Rng::stream(seed, 0x1417);
        match arch.topaz() {
            Some(config) => {
                TrainableModel::Topaz(TopazModel::init(config, device).map(&mut SeededInit {
                    rng: &mut rng,
                    fan_in: 1,
                }))
            }
            None => {
                let w = arch.wdsr().unwrap_or_else(WdsrConfig::paper);
                TrainableModel::Wdsr(w.init(device).map(&mut SeededWeightNormInit {
                    rng: &mut rng,
                    norms: None,
                }))
            }
        }
    }
}

/// Re-draws every parameter from our seeded generator with PyTorch's default convolution
/// initialisation (weights and biases uniform in ±1/√fan_in, fan_in = inputs × kernel area),
/// so a run is reproducible from its seed alone.
struct SeededInit<'a> {
    rng: &'a mut Rng,
    fan_in: usize,
}

impl ModuleMapper for SeededInit<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let dims = t.dims();
            if D == 4 {
                self.fan_in = dims[1] * dims[2] * dims[3];
            }
            let bound = 1.0 / (self.fan_in.max(1) as f64).sqrt();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| ((self.rng.uniform() * 2.0 - 1.0) * bound) as f32)
                .collect();
            Tensor::from_data(TensorData::new(values, dims), &t.device())
        })
    }
}

/// Seeded initialisation of weight-normalised convolutions (parameters visited as v, g, bias):
/// v Kaiming-uniform in ±1/√fan_in (burn's and PyTorch's default), g = ‖v‖ per output
/// channel (so w = v at the start, Salimans & Kingma 2016), bias 0.
struct SeededWeightNormInit<'a> {
    rng: &'a mut Rng,
    /// ‖v‖ per output channel of the last direction drawn, consumed by the next 1-D
    /// parameter (its gain); the 1-D parameter after that is the bias.
    norms: Option<Vec<f32>>,
}

impl ModuleMapper for SeededWeightNormInit<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let dims = t.dims();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = if D == 4 {
                let fan_in = (dims[1] * dims[2] * dims[3]).max(1);
                let bound = 1.0 / (fan_in as f64).sqrt();
                let v: Vec<f32> = (0..n)
                    .map(|_| ((self.rng.uniform() * 2.0 - 1.0) * bound) as f32)
                    .collect();
                let per = n / dims[0].max(1);
                self.norms = Some(
                    v.chunks(per.max(1))
                        .map(|c| c.iter().map(|x| x * x).sum::<f32>().sqrt())
                        .collect(),
                );
                v
            } else {
                match self.norms.take() {
                    Some(g) if g.len() == n => g,
                    _ => vec![0.0; n],
                }
            };
            Tensor::from_data(TensorData::new(values, dims), &t.device())
        })
    }
}

/// The model at step 0: random (seeded) or pretrained, with gradients enabled, on `device`.
fn initial_model(cfg: &TrainConfig, device: &Device) -> Result<(TrainableModel, ArchJson)> {
    let (model, arch) = match &cfg.from_pretrained {
        Some(name) => {
            let spec = ModelSpec::parse(name)?;
            let path = spec.weights_path()?;
            let is_wdsr = path.extension().is_some_and(|e| e == "safetensors")
                && checkpoint::read_meta(&path)
                    .is_ok_and(|m| matches!(m.architecture, ArchJson::Wdsr(_)));
            if is_wdsr {
                let (m, c, _) = checkpoint::load_wdsr_model(&path, device)
                    .with_context(|| format!("loading pretrained model {name}"))?;
                (TrainableModel::Wdsr(m), ArchJson::Wdsr(c))
            } else {
                let (m, c) = crate::models::load_topaz(&path, device)
                    .with_context(|| format!("loading pretrained model {name}"))?;
                (TrainableModel::Topaz(m), c.into())
            }
        }
        None => {
            let arch = resolve_architecture(cfg)?;
            (
                TrainableModel::init_seeded(arch, cfg.data.seed, device),
                arch,
            )
        }
    };
    Ok((model.set_require_grad(true), arch))
}

/// Describes an architecture ("unet-small (48 filters, widths 11/5)", "WDSR U-net (…)").
pub fn describe_architecture(arch: ArchJson) -> String {
    match (arch.topaz(), arch.wdsr()) {
        (Some(t), _) => t.describe(),
        (_, Some(w)) => w.describe(),
        _ => String::new(),
    }
}

/// How gradients are computed: our native CPU kernels ([`native`], Topaz architectures on a
/// CPU device) or burn's autodiff (wgpu on a GPU, Flex on the CPU for the WDSR U-net).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientEngine {
    /// [`native::native_step`]: hand-written forward and backward passes.
    Native,
    /// burn's autodiff over the training device.
    Autodiff,
}

/// The engine a run uses: native for a Topaz architecture on a CPU device (the same
/// gradients as autodiff to f32 rounding, `tests/train_native.rs`, several times faster),
/// autodiff otherwise.
pub fn gradient_engine(model: &TrainableModel, device: &ComputeDevice) -> GradientEngine {
    match model {
        TrainableModel::Topaz(_) if !device.is_gpu() => GradientEngine::Native,
        _ => GradientEngine::Autodiff,
    }
}

/// Loss and throughput bookkeeping of a training loop (2D and 3D): a moving average of
/// crops/s (each step weighs 0.2), the mean training loss since the last validation and over
/// the current epoch, and the time spent in steps.
pub(crate) struct StepMeter {
    crops_per_step: usize,
    rate_ema: Option<f64>,
    since: (f64, u64),
    epoch: (f64, u64),
    train_seconds: f64,
    train_steps: u64,
}

impl StepMeter {
    pub(crate) fn new(crops_per_step: usize) -> Self {
        Self {
            crops_per_step,
            rate_ema: None,
            since: (0.0, 0),
            epoch: (0.0, 0),
            train_seconds: 0.0,
            train_steps: 0,
        }
    }

    /// Records one step's loss and duration (s); returns the smoothed crops/s.
    pub(crate) fn record(&mut self, loss: f64, seconds: f64) -> f64 {
        self.train_seconds += seconds;
        self.train_steps += 1;
        let rate = self.crops_per_step as f64 / seconds.max(1e-9);
        let ema = self.rate_ema.map_or(rate, |r| 0.8 * r + 0.2 * rate);
        self.rate_ema = Some(ema);
        self.since = (self.since.0 + loss, self.since.1 + 1);
        self.epoch = (self.epoch.0 + loss, self.epoch.1 + 1);
        ema
    }

    /// Seconds that `steps` more steps take at the smoothed rate.
    pub(crate) fn eta(&self, steps: u64) -> f64 {
        let rate = self.rate_ema.unwrap_or(f64::NAN);
        steps as f64 * self.crops_per_step as f64 / rate
    }

    /// Mean loss of the current epoch's steps (NaN before the first).
    pub(crate) fn epoch_loss(&self) -> f64 {
        self.epoch.0 / self.epoch.1 as f64
    }

    /// Mean loss since the previous call (`None` when no step was taken since), and restarts.
    pub(crate) fn take_since(&mut self) -> Option<f64> {
        let (sum, n) = std::mem::take(&mut self.since);
        (n > 0).then(|| sum / n as f64)
    }

    /// Starts a new epoch's mean.
    pub(crate) fn end_epoch(&mut self) {
        self.epoch = (0.0, 0);
    }

    /// Crops per second over all steps recorded (0 before any).
    pub(crate) fn mean_rate(&self) -> f64 {
        if self.train_seconds > 0.0 {
            (self.train_steps * self.crops_per_step as u64) as f64 / self.train_seconds
        } else {
            0.0
        }
    }
}

/// Marks a run's end in the shared status: cancelled, or finished (completed or stopped).
pub(crate) fn mark_ended(shared: &TrainShared, end: TrainEnd) {
    shared.update(|s| {
        s.phase = if end == TrainEnd::Cancelled {
            TrainPhase::Cancelled
        } else {
            TrainPhase::Finished
        };
        s.eta_seconds = Some(0.0);
    });
}

/// What a training loop does next ([`gate`]).
pub(crate) enum Gate {
    /// Take a step.
    Step,
    /// Paused: ask again.
    Wait,
    /// Stop: cancelled, or asked to finish now.
    End(TrainEnd),
}

/// Checked before every training step (2D and 3D loops): cancel and "finish now" end the
/// run; while paused, the phase says so and the call sleeps 50 ms; otherwise the phase is
/// set to training.
pub(crate) fn gate(progress: &Progress, shared: &TrainShared) -> Gate {
    if progress.is_cancelled() {
        return Gate::End(TrainEnd::Cancelled);
    }
    if shared.finish_now.load(Ordering::Relaxed) {
        return Gate::End(TrainEnd::Stopped);
    }
    if shared.is_paused() {
        shared.update(|s| {
            s.phase = TrainPhase::Paused;
            s.eta_seconds = None;
        });
        std::thread::sleep(Duration::from_millis(50));
        return Gate::Wait;
    }
    shared.update(|s| s.phase = TrainPhase::Training);
    Gate::Step
}

/// One optimisation step on `batch`: the loss of `model` and its gradients (native kernels or
/// burn's autodiff, see [`GradientEngine`]) applied by `optim` at learning rate `lr`. Returns
/// the updated model and the loss before the step.
///
/// # Errors
/// A backend failure reading the loss; a batch the native step refuses.
#[allow(clippy::too_many_arguments)]
fn train_step(
    model: TrainableModel,
    optim: &mut ModuleOptimizer,
    batch: &Batch,
    engine: GradientEngine,
    cfg: &TrainConfig,
    gamma: f64,
    lr: f64,
    device: &Device,
) -> Result<(TrainableModel, f64)> {
    if let (GradientEngine::Native, TrainableModel::Topaz(m)) = (engine, &model) {
        let (value, grads) = native::native_step(m, batch, cfg.both_directions, cfg.loss, gamma)?;
        if !value.is_finite() {
            return Ok((model, value));
        }
        return Ok((optim.step(lr, model, grads), value));
    }
    let (x, y, _) = batch_tensors(batch, cfg.both_directions, device);
    let l = loss::loss(cfg.loss, model.forward_net(x), y, gamma);
    let value = scalar(l.clone())?;
    if !value.is_finite() {
        return Ok((model, value));
    }
    let grads = GradientsParams::from_grads(l.backward(), &model);
    Ok((optim.step(lr, model, grads), value))
}

fn make_optimizer(cfg: &TrainConfig) -> ModuleOptimizer {
    match cfg.optimizer {
        OptimizerKind::Adagrad => AdaGradConfig::new().with_epsilon(1e-10).init(),
        OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
    }
}

fn to_tensor(values: Vec<f32>, n: usize, size: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [n, 1, size, size]), device)
}

/// Inputs and targets of a batch: `[A; B] → [B; A]` with both directions, `A → B` otherwise.
fn batch_tensors(batch: &Batch, both: bool, device: &Device) -> (Tensor<4>, Tensor<4>, usize) {
    let (n, c) = (batch.n, batch.crop_px);
    if both {
        let mut x = batch.a.clone();
        x.extend_from_slice(&batch.b);
        let mut y = batch.b.clone();
        y.extend_from_slice(&batch.a);
        (
            to_tensor(x, 2 * n, c, device),
            to_tensor(y, 2 * n, c, device),
            2 * n,
        )
    } else {
        (
            to_tensor(batch.a.clone(), n, c, device),
            to_tensor(batch.b.clone(), n, c, device),
            n,
        )
    }
}

/// The value of a one-element loss tensor.
///
/// # Errors
/// A backend failure, or an empty tensor.
pub(crate) fn scalar(t: Tensor<1>) -> Result<f64> {
    let data = t
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?;
    let v = data
        .iter::<f32>()
        .next()
        .ok_or_else(|| anyhow!("empty loss tensor"))?;
    Ok(v as f64)
}

/// Mean validation loss of `model` over `batches` (both directions when configured).
fn validate(
    model: &TrainableModel,
    batches: &[Batch],
    cfg: &TrainConfig,
    gamma: f64,
    device: &Device,
) -> Result<f64> {
    let eval = model.valid();
    let plain = device.clone().without_autodiff();
    let (mut sum, mut count) = (0.0, 0usize);
    for b in batches {
        let (x, y, n) = batch_tensors(b, cfg.both_directions, &plain);
        let l = scalar(loss::loss(cfg.loss, eval.forward_net(x), y, gamma))?;
        sum += l * n as f64;
        count += n;
    }
    Ok(sum / count.max(1) as f64)
}

/// Runs `model` (a [`TopazModel`], [`WdsrUNet`] or [`TrainableModel`]; inference, no
/// gradients) on one normalised image of any size.
///
/// # Errors
/// A backend failure.
pub fn denoise_normalised<M: Net2d>(model: &M, image: &Image, device: &Device) -> Result<Image> {
    let plain = device.clone().without_autodiff();
    let x = Tensor::<4>::from_data(
        TensorData::new(image.data.clone(), [1, 1, image.height, image.width]),
        &plain,
    );
    let out = model
        .valid()
        .forward_net(x)
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?;
    let values = out
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("unexpected output type: {e:?}"))?;
    Image::new(image.width, image.height, values)
        .map(|im| im.with_pixel_size(image.pixel_size_angstrom))
        .map_err(|e| anyhow!("{e}"))
}

fn make_preview(
    model: &TrainableModel,
    region: &(Image, Image),
    step: u64,
    device: &Device,
) -> Result<Preview> {
    let denoised = denoise_normalised(model, &region.0, device)?;
    let snr_db = crate::metrics::correlation(&denoised, &region.1)
        .ok()
        .and_then(|cc| crate::metrics::to_db(cc / (1.0 - cc)));
    Ok(Preview {
        step,
        raw: region.0.clone(),
        denoised,
        snr_db,
    })
}

fn describe_holdout(h: &Holdout) -> String {
    match h {
        Holdout::Pairs(v) => format!("{} whole pairs", v.len()),
        Holdout::BottomRows { fraction } => {
            format!("bottom {:.0} % of the rows of every pair", fraction * 100.0)
        }
        Holdout::None => "none (validation on training pairs)".into(),
    }
}

/// Runs a training run to its end on the calling thread, reporting through `progress`
/// (one step per optimisation step; cancel flag) and `shared` (status, metrics, previews,
/// pause). [`start`] runs this on a background thread.
///
/// # Errors
/// Bad data (see [`TrainingData::new`]), an unknown architecture or pretrained model, a
/// checkpoint that does not match the configuration, I/O failures, backend failures.
pub fn train(
    run: &TrainRun,
    device: &ComputeDevice,
    progress: &Progress,
    shared: &TrainShared,
) -> Result<TrainOutcome> {
    let cfg = &run.config;
    if cfg.epochs == 0 {
        bail!("epochs must be at least 1");
    }
    if !(cfg.learning_rate > 0.0 && cfg.learning_rate.is_finite()) {
        bail!("learning rate must be > 0, got {}", cfg.learning_rate);
    }
    if let Some(d) = &cfg.lr_decay
        && !(d.factor > 0.0 && d.factor <= 1.0 && d.every_epochs >= 1)
    {
        bail!(
            "learning-rate decay needs 0 < factor ≤ 1 and every ≥ 1 epoch, got factor {} every {} epochs",
            d.factor,
            d.every_epochs
        );
    }
    shared.update(|s| {
        s.phase = TrainPhase::Loading;
        s.device = if device.is_gpu() {
            device.describe()
        } else {
            "CPU".into()
        };
    });
    progress.set_message("loading training data");
    let data = TrainingData::new(run.sources.clone(), cfg.data.clone())?;
    let ad = training_device(device);
    let (mut model, arch) = initial_model(cfg, &ad)?;
    let engine = gradient_engine(&model, device);
    let threads = rayon::current_num_threads();
    let device_name = match (device.is_gpu(), engine) {
        (true, _) => format!("{} (burn autodiff)", device.describe()),
        (false, GradientEngine::Native) => {
            format!("CPU: native kernels, forward and backward, {threads} threads")
        }
        (false, GradientEngine::Autodiff) => {
            format!("CPU: burn Flex with autodiff, {threads} threads")
        }
    };
    shared.update(|s| s.device = device_name.clone());
    let arch_text = describe_architecture(arch);
    let mut optim = make_optimizer(cfg);
    let spe = cfg
        .steps_per_epoch
        .unwrap_or_else(|| data.train_pairs().len().div_ceil(cfg.data.batch) as u64)
        .max(1);
    let total = spe * cfg.epochs;
    let ckdir = checkpoint::checkpoint_dir(&run.output);
    let source_names: Vec<String> = data.sources().iter().map(|s| s.name()).collect();
    let mut state = checkpoint::CheckpointState {
        step: 0,
        config: cfg.clone(),
        history: Vec::new(),
        best_validation_loss: None,
        model_file: String::new(),
        optimizer_file: String::new(),
        elapsed_seconds: 0.0,
        sources: source_names.clone(),
    };
    if run.resume {
        let saved = checkpoint::read_checkpoint(&ckdir)?.ok_or_else(|| {
            anyhow!(
                "nothing to resume: no checkpoint in {} (start without --resume)",
                ckdir.display()
            )
        })?;
        if !saved.config.same_run_as(cfg) || saved.sources != source_names {
            bail!(
                "the checkpoint in {} was made with other settings or data; start a new run \
                 (another --output) or repeat the original options",
                ckdir.display()
            );
        }
        (model, optim) = checkpoint::restore_checkpoint(&ckdir, &saved, model, optim)?;
        state.step = saved.step;
        state.history = saved.history;
        state.best_validation_loss = saved.best_validation_loss;
        state.elapsed_seconds = saved.elapsed_seconds;
    }
    if let Ok(mut h) = shared.history.lock() {
        *h = state.history.clone();
    }
    let arch_name = match &cfg.from_pretrained {
        Some(p) => format!("{arch_text} (fine-tuned from {p})"),
        None => arch_text.clone(),
    };
    let val_batches = data.validation_batches()?;
    let preview_region = data.preview_region(cfg.preview_size_px)?;
    let crops_per_step = if cfg.both_directions { 2 } else { 1 } * cfg.data.batch;
    progress.start(total, format!("training {arch_text}"));
    for _ in 0..state.step.min(total) {
        progress.step();
    }
    let gamma_at = |step: u64| match cfg.loss {
        LossKind::L0 => loss::l0_gamma(step, total),
        _ => 2.0,
    };
    shared.update(|s| {
        s.total_steps = total;
        s.steps_per_epoch = spe;
        s.epochs = cfg.epochs;
        s.step = state.step;
        s.epoch = state.step as f64 / spe as f64;
        s.architecture = arch_name.clone();
        s.best_validation_loss = state.best_validation_loss;
        s.elapsed_seconds = state.elapsed_seconds;
    });

    let do_validate = |model: &TrainableModel, step: u64, shared: &TrainShared| -> Result<f64> {
        shared.update(|s| s.phase = TrainPhase::Validating);
        validate(model, &val_batches, cfg, gamma_at(step), &ad)
    };
    let do_preview = |model: &TrainableModel, step: u64, shared: &TrainShared| -> Result<()> {
        shared.update(|s| s.phase = TrainPhase::Previewing);
        shared.set_preview(make_preview(model, &preview_region, step, &ad)?);
        Ok(())
    };

    if state.step == 0 {
        let v = do_validate(&model, 0, shared)?;
        let p = MetricPoint {
            step: 0,
            epoch: 0.0,
            train_loss: None,
            validation_loss: Some(v),
            gamma: gamma_at(0),
        };
        state.history.push(p);
        shared.push_point(p);
        shared.update(|s| s.validation_loss = Some(v));
        do_preview(&model, 0, shared)?;
    } else if let Some(p) = state.history.last() {
        let v = p.validation_loss;
        shared.update(|s| s.validation_loss = v);
        do_preview(&model, state.step, shared)?;
    }

    let session_start = Instant::now();
    let elapsed_before = state.elapsed_seconds;
    let mut meter = StepMeter::new(crops_per_step);
    let mut end = TrainEnd::Completed;
    let save_ckpt = |model: &TrainableModel,
                     optim: &ModuleOptimizer,
                     state: &mut checkpoint::CheckpointState,
                     shared: &TrainShared|
     -> Result<()> {
        shared.update(|s| s.phase = TrainPhase::Saving);
        state.elapsed_seconds = elapsed_before + session_start.elapsed().as_secs_f64();
        checkpoint::save_checkpoint(&ckdir, model, optim, state)
    };

    while state.step < total {
        match gate(progress, shared) {
            Gate::End(e) => {
                end = e;
                break;
            }
            Gate::Wait => continue,
            Gate::Step => {}
        }
        let t0 = Instant::now();
        let step = state.step;
        let batch = data.train_batch(step)?;
        let lr = cfg.learning_rate_at(step / spe);
        let value;
        (model, value) = train_step(
            model,
            &mut optim,
            &batch,
            engine,
            cfg,
            gamma_at(step),
            lr,
            &ad,
        )?;
        if !value.is_finite() {
            bail!(
                "the training loss became {value} at step {step}: lower the learning rate (--lr)"
            );
        }
        state.step += 1;
        progress.step();
        let ema = meter.record(value, t0.elapsed().as_secs_f64());
        let s_now = state.step;
        let remaining = meter.eta(total - s_now);
        shared.update(|s| {
            s.step = s_now;
            s.epoch = s_now as f64 / spe as f64;
            s.last_step_loss = Some(value);
            s.train_loss = Some(meter.epoch_loss());
            s.crops_per_second = ema;
            s.eta_seconds = Some(remaining);
            s.elapsed_seconds = elapsed_before + session_start.elapsed().as_secs_f64();
        });
        progress.set_message(format!(
            "loss {:.4}, {:.2} crops/s",
            meter.epoch_loss(),
            ema
        ));

        let epoch_end = s_now.is_multiple_of(spe);
        let due = |every: u64| {
            if every == 0 {
                epoch_end
            } else {
                s_now.is_multiple_of(every)
            }
        };
        let last = s_now == total;
        if due(cfg.validate_every_steps) || last {
            let v = do_validate(&model, s_now, shared)?;
            let p = MetricPoint {
                step: s_now,
                epoch: s_now as f64 / spe as f64,
                train_loss: meter.take_since(),
                validation_loss: Some(v),
                gamma: gamma_at(s_now),
            };
            state.history.push(p);
            shared.push_point(p);
            let best = state.best_validation_loss.map_or(v, |b| b.min(v));
            state.best_validation_loss = Some(best);
            shared.update(|s| {
                s.validation_loss = Some(v);
                s.best_validation_loss = Some(best);
            });
            if cfg.preview_every_steps == 0 {
                do_preview(&model, s_now, shared)?;
            }
        }
        if cfg.preview_every_steps > 0 && s_now.is_multiple_of(cfg.preview_every_steps) {
            do_preview(&model, s_now, shared)?;
        }
        if epoch_end {
            meter.end_epoch();
        }
        if due(cfg.checkpoint_every_steps) && !last {
            save_ckpt(&model, &optim, &mut state, shared)?;
        }
    }

    save_ckpt(&model, &optim, &mut state, shared)?;
    let final_val = state.history.iter().rev().find_map(|p| p.validation_loss);
    let final_train = state.history.iter().rev().find_map(|p| p.train_loss);
    let mut model_path = None;
    if end != TrainEnd::Cancelled {
        let meta = ModelMeta {
            format: checkpoint::MODEL_FORMAT.into(),
            version: checkpoint::MODEL_FORMAT_VERSION,
            architecture: arch,
            architecture_name: arch_text.clone(),
            training: cfg.clone(),
            data: DataSummary {
                sources: source_names.clone(),
                train_pairs: data.train_pairs().len(),
                validation_pairs: data.val_pairs().len(),
                holdout: describe_holdout(data.holdout()),
                count_split: data
                    .sources()
                    .iter()
                    .any(|s| matches!(s, PairSource::CountSplit { .. })),
            },
            pixel_size_angstrom: data.pixel_size_angstrom(),
            steps: state.step,
            final_validation_loss: final_val,
            final_train_loss: final_train,
            created_utc: checkpoint::utc_now_iso8601(),
            command_line: run.command_line.clone(),
            device: device_name.clone(),
            cryolens_version: env!("CARGO_PKG_VERSION").into(),
            notes: run.notes.clone(),
        };
        checkpoint::save_model(&model, &meta, &run.output)?;
        model_path = Some(run.output.clone());
    }
    mark_ended(shared, end);
    Ok(TrainOutcome {
        end,
        steps: state.step,
        model_path,
        checkpoint_dir: ckdir,
        history: state.history,
        final_validation_loss: final_val,
        crops_per_second: meter.mean_rate(),
    })
}
