//! The 2D trainer: Topaz's architectures and restore's WDSR U-net on pairs of micrographs
//! ([`train`], started on a thread by [`start`]), run by the one loop ([`super::run`]).
//!
//! It prepares the run (data, model, optimiser, a checkpoint to resume from), then gives the
//! loop its side of each step: a seeded batch ([`TrainingData::train_batch`]), the learning
//! rate of the step's epoch ([`TrainConfig::learning_rate_at`]), the gradients (native
//! kernels or autodiff, [`GradientEngine`]) applied by Adagrad or Adam; validation on the
//! fixed held-out crops (both directions when configured); a preview of the held-out region
//! with Topaz's SNR 10·log10(cc/(1−cc)) against the other half; checkpoints; and the model
//! ([`crate::models::format::ModelMeta`]) at the end. A resumed run continues from its
//! checkpoint exactly where an uninterrupted run would be.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::checkpoint::{self, CheckpointState};
use super::config::{
    TrainConfig, TrainRun, check_learning_rate, make_optimizer, run_architecture_name,
};
use super::control::{Preview, TrainHandle, TrainOutcome, TrainPhase, TrainShared, spawn};
use super::data::{Batch, Holdout, PairSource, TrainingData};
use super::loss::{self, scalar};
use super::model2d::{
    GradientEngine, Net2d, TrainableModel, denoise_normalised, describe_architecture,
    gradient_engine, initial_model,
};
use super::native;
use super::run::{
    ModelSlot, Position, Schedule, Trainer, announce, directions, run_loop, training_device,
    weighted_mean,
};
use crate::device::ComputeDevice;
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::format::{self, ArchJson, DataSummary, ModelMeta};

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

/// Inputs and targets of a batch as `[crops, 1, c, c]` tensors ([`directions`]).
fn batch_tensors(batch: &Batch, both: bool, device: &Device) -> (Tensor<4>, Tensor<4>, usize) {
    let c = batch.crop_px;
    let (x, y, n) = directions(&batch.a, &batch.b, batch.n, both);
    let tensor = |v| Tensor::from_data(TensorData::new(v, [n, 1, c, c]), device);
    (tensor(x), tensor(y), n)
}

/// Mean validation loss of `model` over `batches` (both directions when configured).
pub(super) fn validate(
    model: &TrainableModel,
    batches: &[Batch],
    cfg: &TrainConfig,
    gamma: f64,
    device: &Device,
) -> Result<f64> {
    let eval = model.valid();
    let plain = device.clone().without_autodiff();
    weighted_mean(batches.iter().map(|b| {
        let (x, y, n) = batch_tensors(b, cfg.both_directions, &plain);
        Ok((
            scalar(loss::loss(cfg.loss, eval.forward_net(x), y, gamma))?,
            n,
        ))
    }))
}

/// Half A of the held-out `region` denoised by `model` after `step` steps, with Topaz's SNR
/// against half B.
///
/// # Errors
/// A backend failure.
pub(super) fn make_preview(
    model: &TrainableModel,
    region: &(Image, Image),
    step: u64,
    device: &Device,
) -> Result<Preview> {
    let denoised = denoise_normalised(model, &region.0, device)?;
    Ok(Preview::new(step, region.0.clone(), denoised, &region.1))
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

/// The 2D trainer's state between steps.
struct Trainer2d<'a> {
    run: &'a TrainRun,
    data: TrainingData,
    model: ModelSlot<TrainableModel>,
    optim: ModuleOptimizer,
    engine: GradientEngine,
    /// The autodiff training device.
    ad: Device,
    val_batches: Vec<Batch>,
    preview_region: (Image, Image),
    steps_per_epoch: u64,
    ckdir: PathBuf,
    /// The checkpoint written next (configuration and data names fixed).
    state: CheckpointState,
    arch: ArchJson,
    arch_text: String,
    device_name: String,
}

impl Trainer for Trainer2d<'_> {
    fn step(&mut self, step: u64, gamma: f64) -> Result<f64> {
        let cfg = &self.run.config;
        let batch = self.data.train_batch(step)?;
        let lr = cfg.learning_rate_at(step / self.steps_per_epoch);
        let (model, value) = train_step(
            self.model.take()?,
            &mut self.optim,
            &batch,
            self.engine,
            cfg,
            gamma,
            lr,
            &self.ad,
        )?;
        self.model.put(model);
        Ok(value)
    }

    fn validate(&self, gamma: f64) -> Result<f64> {
        validate(
            self.model.get()?,
            &self.val_batches,
            &self.run.config,
            gamma,
            &self.ad,
        )
    }

    fn preview(&self, step: u64) -> Result<Preview> {
        make_preview(self.model.get()?, &self.preview_region, step, &self.ad)
    }

    fn checkpoint(&mut self, at: &Position, shared: &TrainShared) -> Result<()> {
        shared.update(|s| s.phase = TrainPhase::Saving);
        self.state.step = at.step;
        self.state.history = at.history.clone();
        self.state.best_validation_loss = at.best_validation_loss;
        self.state.elapsed_seconds = at.elapsed_seconds;
        checkpoint::save_checkpoint(&self.ckdir, self.model.get()?, &self.optim, &mut self.state)
    }

    fn save(&mut self, at: &Position) -> Result<()> {
        let run = self.run;
        let data = &self.data;
        let meta = ModelMeta {
            format: format::MODEL_FORMAT.into(),
            version: format::MODEL_FORMAT_VERSION,
            architecture: self.arch,
            architecture_name: self.arch_text.clone(),
            training: run.config.clone(),
            data: DataSummary {
                sources: self.state.sources.clone(),
                train_pairs: data.train_pairs().len(),
                validation_pairs: data.val_pairs().len(),
                holdout: describe_holdout(data.holdout()),
                count_split: data
                    .sources()
                    .iter()
                    .any(|s| matches!(s, PairSource::CountSplit { .. })),
            },
            pixel_size_angstrom: data.pixel_size_angstrom(),
            provenance: at.provenance(&run.command_line, &self.device_name, &run.notes),
        };
        format::save_model(self.model.get()?, &meta, &run.output)
    }

    fn progress_message(&self, epoch_loss: f64, crops_per_second: f64) -> String {
        format!("loss {epoch_loss:.4}, {crops_per_second:.2} crops/s")
    }

    fn output(&self) -> &Path {
        &self.run.output
    }
}

/// Starts `run` on a background thread on `device` (a GPU device trains on wgpu, any CPU
/// device on burn Flex).
pub fn start(run: TrainRun, device: ComputeDevice) -> TrainHandle {
    spawn("train", move |progress, shared| {
        train(&run, &device, progress, shared)
    })
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
    check_learning_rate(cfg.learning_rate)?;
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
    let mut optim = make_optimizer(cfg.optimizer);
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
    let arch_name = run_architecture_name(&arch_text, cfg.from_pretrained.as_deref());
    let val_batches = data.validation_batches()?;
    let preview_region = data.preview_region(cfg.preview_size_px)?;
    let crops_per_step = if cfg.both_directions { 2 } else { 1 } * cfg.data.batch;
    let schedule = Schedule {
        total,
        steps_per_epoch: spe,
        loss: cfg.loss,
        validate_every: cfg.validate_every_steps,
        preview_every: cfg.preview_every_steps,
        checkpoint_every: Some(cfg.checkpoint_every_steps),
        crops_per_step,
        best_includes_step_0: false,
    };
    let at = Position {
        step: state.step,
        history: state.history.clone(),
        best_validation_loss: state.best_validation_loss,
        elapsed_seconds: state.elapsed_seconds,
    };
    announce(
        progress,
        shared,
        &schedule,
        &at,
        format!("training {arch_text}"),
        &arch_name,
    );
    let mut trainer = Trainer2d {
        run,
        data,
        model: ModelSlot::new(model),
        optim,
        engine,
        ad,
        val_batches,
        preview_region,
        steps_per_epoch: spe,
        ckdir,
        state,
        arch,
        arch_text,
        device_name,
    };
    run_loop(&mut trainer, &schedule, at, progress, shared)
}
