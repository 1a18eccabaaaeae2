//! Watching and steering a training run from another thread, shared by the 2D and 3D loops:
//! the status and metric history ([`TrainShared`], [`TrainStatus`], [`MetricPoint`]), live
//! previews ([`Preview`]), the handle the GUI and CLI poll ([`TrainHandle`]: pause, resume,
//! cancel, finish now), the pause/cancel/finish gate checked before every step (`gate`),
//! the step meter (smoothed crops/s, ETA, mean losses) and the end marker.
//!
//! ```text
//! GUI / CLI ──start(run, device)──▶ TrainHandle ──status()/history()/preview()──▶ drawn each frame
//!                                       └─ pause()/resume()/cancel()/finish_now()
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::image::Image;
use crate::jobs::{Job, Progress};

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

impl Preview {
    /// The preview of `raw` denoised into `denoised` after `step` steps, with Topaz's SNR of
    /// `denoised` against `other`, the independent half of the same region.
    pub(super) fn new(step: u64, raw: Image, denoised: Image, other: &Image) -> Self {
        let snr_db = crate::metrics::correlation(&denoised, other)
            .ok()
            .and_then(|cc| crate::metrics::to_db(cc / (1.0 - cc)));
        Self {
            step,
            raw,
            denoised,
            snr_db,
        }
    }
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

    pub(super) fn update(&self, f: impl FnOnce(&mut TrainStatus)) {
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

    /// Replaces the metric history (a resumed run's).
    pub(super) fn set_history(&self, history: Vec<MetricPoint>) {
        if let Ok(mut h) = self.history.lock() {
            *h = history;
        }
    }

    pub(super) fn push_point(&self, p: MetricPoint) {
        if let Ok(mut h) = self.history.lock() {
            h.push(p);
        }
    }

    pub(super) fn set_preview(&self, p: Preview) {
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

/// Runs `train` on a background thread named `name`, marking the shared status failed (with
/// the error) when it fails; the handle polls it.
pub(super) fn spawn(
    name: &str,
    train: impl FnOnce(&Progress, &TrainShared) -> Result<TrainOutcome> + Send + 'static,
) -> TrainHandle {
    let shared = TrainShared::new();
    let s = Arc::clone(&shared);
    let job = Job::spawn(name, move |progress| {
        let r = train(progress, &s);
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
