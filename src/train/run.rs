//! The one training loop, for 2D and 3D models alike (`run_loop`, generic over a
//! `Trainer`): validation and a preview at step 0 (or, resuming, a preview of where the run
//! stands), then steps gated by pause/cancel/finish (`control::gate`), each followed
//! by the status update; validation at its interval and at the last step, previews with every
//! validation or at their own interval, checkpoints at theirs (trainers that keep them), and
//! the model written at the end unless cancelled (after a last checkpoint).
//!
//! The trainer ([`super::trainer2d`], [`super::trainer3d`]) owns the model, the optimiser and
//! the data and says how to take a step, validate, preview, checkpoint and save; the loop owns
//! the schedule, the metric history, the best validation loss and the step meter. Beside it,
//! what both trainers build from: [`ModelSlot`] (the model between steps), [`directions`]
//! (inputs and targets of a batch), [`weighted_mean`] (validation),
//! [`Position::provenance`] (the model's record) and [`announce`] (progress and totals).
//!
//! The loss of step s uses L0's γ at s ([`super::loss::l0_gamma`] over the run's total
//! steps; 2 for L1/L2), so every number depends on (seed, step) only.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, anyhow, bail};
use burn::prelude::*;

use super::checkpoint;
use super::control::{
    Gate, MetricPoint, Preview, StepMeter, TrainEnd, TrainOutcome, TrainPhase, TrainShared, gate,
    mark_ended,
};
use super::loss::{self, LossKind};
use crate::device::ComputeDevice;
use crate::jobs::Progress;
use crate::models::format::{self, Provenance};

/// A model kind's side of training: burn's `TrainStep` in effect (the model, its optimiser
/// and data), with what the loop asks of it.
pub(super) trait Trainer {
    /// Takes optimisation step `step` (0-based) with L0's `gamma`; returns the loss before
    /// the step. A non-finite loss leaves the model unchanged (the loop then fails).
    ///
    /// # Errors
    /// Data, backend or native-kernel failures.
    fn step(&mut self, step: u64, gamma: f64) -> Result<f64>;

    /// The mean validation loss with L0's `gamma`.
    ///
    /// # Errors
    /// Backend failures.
    fn validate(&self, gamma: f64) -> Result<f64>;

    /// A preview made with the current weights after `step` steps.
    ///
    /// # Errors
    /// Backend failures.
    fn preview(&self, step: u64) -> Result<Preview>;

    /// Writes a checkpoint of the run at `at` (the default keeps none). The loop calls it at
    /// the schedule's checkpoint interval and once more at the end of the run, cancelled or
    /// not (so a cancelled run can resume).
    ///
    /// # Errors
    /// I/O or serialisation failures.
    fn checkpoint(&mut self, _at: &Position, _shared: &TrainShared) -> Result<()> {
        Ok(())
    }

    /// Writes the trained model at `at` to [`Trainer::output`] (not called when the run was
    /// cancelled).
    ///
    /// # Errors
    /// I/O or serialisation failures.
    fn save(&mut self, at: &Position) -> Result<()>;

    /// The progress bar's message after a step: the epoch's mean loss and the throughput
    /// (`crops_per_second`, smoothed).
    fn progress_message(&self, epoch_loss: f64, crops_per_second: f64) -> String;

    /// The model's weights file (`X.safetensors`; checkpoints go to `X.checkpoints/`).
    fn output(&self) -> &Path;
}

/// When the loop validates, previews and checkpoints.
#[derive(Clone, Copy, Debug)]
pub(super) struct Schedule {
    /// Steps in the run.
    pub(super) total: u64,
    /// Steps per epoch (≥ 1).
    pub(super) steps_per_epoch: u64,
    /// The loss (L0 anneals γ over `total`).
    pub(super) loss: LossKind,
    /// Validate every this many steps; 0: at the end of every epoch (and always at the last).
    pub(super) validate_every: u64,
    /// Preview every this many steps; 0: with every validation.
    pub(super) preview_every: u64,
    /// Checkpoint every this many steps (0: at the end of every epoch), `None`: never.
    pub(super) checkpoint_every: Option<u64>,
    /// Crops through the network per step (both directions count).
    pub(super) crops_per_step: usize,
    /// Whether the validation at step 0 counts towards the best validation loss.
    pub(super) best_includes_step_0: bool,
}

/// Where a run stands (a checkpoint restores it).
#[derive(Clone, Debug, Default)]
pub(super) struct Position {
    /// Steps completed.
    pub(super) step: u64,
    /// Metric points so far.
    pub(super) history: Vec<MetricPoint>,
    /// Best validation loss so far.
    pub(super) best_validation_loss: Option<f64>,
    /// Training time in seconds (earlier sessions included).
    pub(super) elapsed_seconds: f64,
}

impl Position {
    /// The last validation loss and the last mean training loss in the history.
    pub(super) fn final_losses(&self) -> (Option<f64>, Option<f64>) {
        (
            self.history.iter().rev().find_map(|p| p.validation_loss),
            self.history.iter().rev().find_map(|p| p.train_loss),
        )
    }

    /// The model's provenance when written now at this position: steps, final losses, the
    /// date, `command_line`, `device`, this Cryolens version and `notes`.
    pub(super) fn provenance(&self, command_line: &str, device: &str, notes: &str) -> Provenance {
        let (final_validation_loss, final_train_loss) = self.final_losses();
        Provenance {
            steps: self.step,
            final_validation_loss,
            final_train_loss,
            created_utc: format::utc_now_iso8601(),
            command_line: command_line.to_owned(),
            device: device.to_owned(),
            cryolens_version: env!("CARGO_PKG_VERSION").into(),
            notes: notes.to_owned(),
        }
    }
}

/// A trainer's model between steps: always there, except after a step that failed while the
/// optimiser held it.
pub(super) struct ModelSlot<M>(Option<M>);

impl<M> ModelSlot<M> {
    /// A slot holding `model`.
    pub(super) fn new(model: M) -> Self {
        Self(Some(model))
    }

    /// The model.
    ///
    /// # Errors
    /// The model was lost in a failed step.
    pub(super) fn get(&self) -> Result<&M> {
        self.0.as_ref().ok_or_else(lost_model)
    }

    /// Takes the model out (for the optimiser); [`ModelSlot::put`] puts it back.
    ///
    /// # Errors
    /// The model was lost in a failed step.
    pub(super) fn take(&mut self) -> Result<M> {
        self.0.take().ok_or_else(lost_model)
    }

    /// Puts the (updated) model back.
    pub(super) fn put(&mut self, model: M) {
        self.0 = Some(model);
    }
}

fn lost_model() -> anyhow::Error {
    anyhow!("the model was lost in a failed step")
}

/// Inputs and targets of a batch of `n` crop pairs (`a` and `b` hold the crops one after
/// another): `[A; B] → [B; A]` and 2n crops with both directions, `A → B` and n crops
/// otherwise.
pub(super) fn directions(
    a: &[f32],
    b: &[f32],
    n: usize,
    both: bool,
) -> (Vec<f32>, Vec<f32>, usize) {
    if both {
        ([a, b].concat(), [b, a].concat(), 2 * n)
    } else {
        (a.to_vec(), b.to_vec(), n)
    }
}

/// The mean of per-batch losses weighted by their crop counts (0 without batches): the
/// validation loss over `(loss, crops)` of each validation batch.
///
/// # Errors
/// The first failure among `batches`.
pub(super) fn weighted_mean(
    batches: impl IntoIterator<Item = Result<(f64, usize)>>,
) -> Result<f64> {
    let (mut sum, mut count) = (0.0, 0usize);
    for b in batches {
        let (l, n) = b?;
        sum += l * n as f64;
        count += n;
    }
    Ok(sum / count.max(1) as f64)
}

/// Announces a run about to enter [`run_loop`] at `at`: starts `progress` (`title`, one step
/// per optimisation step, the steps already done counted) and gives `shared` the history, the
/// totals, the position and the `architecture` shown.
pub(super) fn announce(
    progress: &Progress,
    shared: &TrainShared,
    schedule: &Schedule,
    at: &Position,
    title: String,
    architecture: &str,
) {
    let (total, spe) = (schedule.total, schedule.steps_per_epoch);
    shared.set_history(at.history.clone());
    progress.start(total, title);
    for _ in 0..at.step.min(total) {
        progress.step();
    }
    shared.update(|s| {
        s.total_steps = total;
        s.steps_per_epoch = spe;
        s.epochs = total / spe;
        s.step = at.step;
        s.epoch = at.step as f64 / spe as f64;
        s.architecture = architecture.to_owned();
        s.best_validation_loss = at.best_validation_loss;
        s.elapsed_seconds = at.elapsed_seconds;
    });
}

/// The autodiff device training runs on: wgpu for a GPU device, burn Flex otherwise.
pub fn training_device(device: &ComputeDevice) -> Device {
    if device.is_gpu() {
        device.burn.clone().autodiff()
    } else {
        Device::flex().autodiff()
    }
}

/// Runs `trainer` from `at` to the end of `schedule`, reporting through `progress` (one step
/// per optimisation step; cancel flag) and `shared` (status, metrics, previews, pause,
/// finish now); `progress` and the shared totals are set up by the caller ([`announce`]).
///
/// # Errors
/// A non-finite training loss, the trainer's failures.
pub(super) fn run_loop<T: Trainer>(
    trainer: &mut T,
    schedule: &Schedule,
    mut at: Position,
    progress: &Progress,
    shared: &TrainShared,
) -> Result<TrainOutcome> {
    let (total, spe) = (schedule.total, schedule.steps_per_epoch);
    let gamma_at = |step: u64| match schedule.loss {
        LossKind::L0 => loss::l0_gamma(step, total),
        _ => 2.0,
    };
    let preview_with_validation = schedule.preview_every == 0;

    if at.step == 0 {
        shared.update(|s| s.phase = TrainPhase::Validating);
        let v = trainer.validate(gamma_at(0))?;
        let p = MetricPoint {
            step: 0,
            epoch: 0.0,
            train_loss: None,
            validation_loss: Some(v),
            gamma: gamma_at(0),
        };
        at.history.push(p);
        shared.push_point(p);
        if schedule.best_includes_step_0 {
            at.best_validation_loss = Some(v);
        }
        let best = at.best_validation_loss;
        shared.update(|s| {
            s.validation_loss = Some(v);
            if schedule.best_includes_step_0 {
                s.best_validation_loss = best;
            }
            s.phase = TrainPhase::Previewing;
        });
        shared.set_preview(trainer.preview(0)?);
    } else if let Some(p) = at.history.last() {
        let v = p.validation_loss;
        shared.update(|s| {
            s.validation_loss = v;
            s.phase = TrainPhase::Previewing;
        });
        shared.set_preview(trainer.preview(at.step)?);
    }

    let session_start = Instant::now();
    let elapsed_before = at.elapsed_seconds;
    let elapsed = || elapsed_before + session_start.elapsed().as_secs_f64();
    let mut meter = StepMeter::new(schedule.crops_per_step);
    let mut end = TrainEnd::Completed;
    while at.step < total {
        match gate(progress, shared) {
            Gate::End(e) => {
                end = e;
                break;
            }
            Gate::Wait => continue,
            Gate::Step => {}
        }
        let t0 = Instant::now();
        let step = at.step;
        let value = trainer.step(step, gamma_at(step))?;
        if !value.is_finite() {
            bail!(
                "the training loss became {value} at step {step}: lower the learning rate (--lr)"
            );
        }
        at.step += 1;
        progress.step();
        let ema = meter.record(value, t0.elapsed().as_secs_f64());
        let s_now = at.step;
        let remaining = meter.eta(total - s_now);
        shared.update(|s| {
            s.step = s_now;
            s.epoch = s_now as f64 / spe as f64;
            s.last_step_loss = Some(value);
            s.train_loss = Some(meter.epoch_loss());
            s.crops_per_second = ema;
            s.eta_seconds = Some(remaining);
            s.elapsed_seconds = elapsed();
        });
        progress.set_message(trainer.progress_message(meter.epoch_loss(), ema));

        let epoch_end = s_now.is_multiple_of(spe);
        let due = |every: u64| {
            if every == 0 {
                epoch_end
            } else {
                s_now.is_multiple_of(every)
            }
        };
        let last = s_now == total;
        if due(schedule.validate_every) || last {
            shared.update(|s| s.phase = TrainPhase::Validating);
            let v = trainer.validate(gamma_at(s_now))?;
            let p = MetricPoint {
                step: s_now,
                epoch: s_now as f64 / spe as f64,
                train_loss: meter.take_since(),
                validation_loss: Some(v),
                gamma: gamma_at(s_now),
            };
            at.history.push(p);
            shared.push_point(p);
            let best = at.best_validation_loss.map_or(v, |b| b.min(v));
            at.best_validation_loss = Some(best);
            shared.update(|s| {
                s.validation_loss = Some(v);
                s.best_validation_loss = Some(best);
                if preview_with_validation {
                    s.phase = TrainPhase::Previewing;
                }
            });
            if preview_with_validation {
                shared.set_preview(trainer.preview(s_now)?);
            }
        }
        if !preview_with_validation && s_now.is_multiple_of(schedule.preview_every) {
            shared.update(|s| s.phase = TrainPhase::Previewing);
            shared.set_preview(trainer.preview(s_now)?);
        }
        if epoch_end {
            meter.end_epoch();
        }
        if let Some(every) = schedule.checkpoint_every
            && due(every)
            && !last
        {
            at.elapsed_seconds = elapsed();
            trainer.checkpoint(&at, shared)?;
        }
    }

    at.elapsed_seconds = elapsed();
    trainer.checkpoint(&at, shared)?;
    let model_path = if end == TrainEnd::Cancelled {
        None
    } else {
        shared.update(|s| s.phase = TrainPhase::Saving);
        trainer.save(&at)?;
        Some(trainer.output().to_path_buf())
    };
    mark_ended(shared, end);
    let (final_validation_loss, _) = at.final_losses();
    Ok(TrainOutcome {
        end,
        steps: at.step,
        model_path,
        checkpoint_dir: checkpoint::checkpoint_dir(trainer.output()),
        history: at.history,
        final_validation_loss,
        crops_per_second: meter.mean_rate(),
    })
}
