//! The 2D training loop ([`train`], started on a thread by [`start`]): validation at step 0,
//! then steps gated by pause/cancel/finish ([`super::control::gate`]), validation, previews
//! and checkpoints at their intervals, and the model written at the end (unless cancelled).
//! A resumed run continues from its checkpoint exactly where an uninterrupted run would be.

use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

use super::checkpoint;
use super::config::{TrainRun, make_optimizer};
use super::control::{
    Gate, MetricPoint, StepMeter, TrainEnd, TrainHandle, TrainOutcome, TrainPhase, TrainShared,
    gate, mark_ended, spawn,
};
use super::data::{PairSource, TrainingData};
use super::loss::{self, LossKind};
use super::trainer2d::{
    GradientEngine, TrainableModel, describe_architecture, describe_holdout, gradient_engine,
    initial_model, make_preview, train_step, validate,
};
use crate::device::ComputeDevice;
use crate::jobs::Progress;
use crate::models::format::{self, DataSummary, ModelMeta, Provenance};

/// Starts `run` on a background thread on `device` (a GPU device trains on wgpu, any CPU
/// device on burn Flex).
pub fn start(run: TrainRun, device: ComputeDevice) -> TrainHandle {
    spawn("train", move |progress, shared| {
        train(&run, &device, progress, shared)
    })
}

/// The autodiff device training runs on: wgpu for a GPU device, burn Flex otherwise.
pub fn training_device(device: &ComputeDevice) -> Device {
    if device.is_gpu() {
        device.burn.clone().autodiff()
    } else {
        Device::flex().autodiff()
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
    shared.set_history(state.history.clone());
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
            format: format::MODEL_FORMAT.into(),
            version: format::MODEL_FORMAT_VERSION,
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
            provenance: Provenance {
                steps: state.step,
                final_validation_loss: final_val,
                final_train_loss: final_train,
                created_utc: format::utc_now_iso8601(),
                command_line: run.command_line.clone(),
                device: device_name.clone(),
                cryolens_version: env!("CARGO_PKG_VERSION").into(),
                notes: run.notes.clone(),
            },
        };
        format::save_model(&model, &meta, &run.output)?;
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
