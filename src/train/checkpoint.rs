//! Checkpoints of a 2D training run.
//!
//! Checkpoints live in a folder (`NAME.checkpoints/` beside the model): for step s,
//! `step-s.model.bpk` (burnpack weights, with burn's parameter ids) and `step-s.optim.bpk`
//! (the optimiser state: Adagrad's sums of squared gradients or Adam's moments, keyed by the
//! parameter ids), then `checkpoint.json` ([`CheckpointState`]) naming step s is replaced
//! atomically; older step files are deleted afterwards. A crash at any point leaves the
//! previous complete checkpoint readable. Batches are a function of (seed, step) only, so
//! resuming from step s replays exactly what an uninterrupted run does.
//!
//! The finished model is written in [`crate::models::format`]'s layout.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::control::MetricPoint;
use crate::io::atomic::{write_atomically, write_atomically_with};

/// What `checkpoint.json` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Steps completed.
    pub step: u64,
    /// The run's configuration (a resumed run must match it in everything that shapes the
    /// batches and the model).
    pub config: TrainConfig,
    /// Metrics so far (the GUI's curves continue after a resume).
    pub history: Vec<MetricPoint>,
    /// Best validation loss so far.
    pub best_validation_loss: Option<f64>,
    /// Weights file name in the checkpoint folder.
    pub model_file: String,
    /// Optimiser-state file name in the checkpoint folder.
    pub optimizer_file: String,
    /// Training time so far in seconds.
    pub elapsed_seconds: f64,
    /// Names of the training pairs, in order (a resumed run must use the same data).
    pub sources: Vec<String>,
}

/// The checkpoint folder of a model written to `weights`: `X.safetensors` → `X.checkpoints/`.
pub fn checkpoint_dir(weights: &Path) -> PathBuf {
    weights.with_extension("checkpoints")
}

/// Saves a checkpoint of `model` and `optimizer` after `state.step` steps into `dir`
/// (created if needed), then removes the files of older checkpoints.
///
/// # Errors
/// I/O or serialisation failures (the previous checkpoint stays valid).
pub fn save_checkpoint<M: Module>(
    dir: &Path,
    model: &M,
    optimizer: &ModuleOptimizer,
    state: &mut CheckpointState,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let model_file = format!("step-{:09}.model.bpk", state.step);
    let optim_file = format!("step-{:09}.optim.bpk", state.step);
    write_atomically_with(&dir.join(&model_file), |p| {
        model
            .clone()
            .into_record()
            .save(p)
            .map_err(|e| anyhow!("writing weights: {e:?}"))
    })?;
    write_atomically_with(&dir.join(&optim_file), |p| {
        optimizer
            .save(p)
            .map_err(|e| anyhow!("writing optimiser state: {e:?}"))
    })?;
    state.model_file = model_file.clone();
    state.optimizer_file = optim_file.clone();
    write_atomically(
        &dir.join("checkpoint.json"),
        &serde_json::to_vec_pretty(state)?,
    )?;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("step-") && name != model_file && name != optim_file {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Reads `dir/checkpoint.json`; `None` when there is no checkpoint.
///
/// # Errors
/// A checkpoint file that exists but cannot be parsed.
pub fn read_checkpoint(dir: &Path) -> Result<Option<CheckpointState>> {
    let path = dir.join("checkpoint.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)?;
    Ok(Some(
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?,
    ))
}

/// Restores the weights and optimiser state of checkpoint `state` from `dir` into `model`
/// (built with the same architecture on the training device) and `optimizer` (same kind).
///
/// # Errors
/// Missing or corrupt files, weights of another architecture.
pub fn restore_checkpoint<M: Module>(
    dir: &Path,
    state: &CheckpointState,
    model: M,
    optimizer: ModuleOptimizer,
) -> Result<(M, ModuleOptimizer)> {
    let record = ModuleRecord::load(dir.join(&state.model_file))
        .map_err(|e| anyhow!("reading checkpoint weights {}: {e:?}", state.model_file))?;
    let model = model
        .try_load_record(record)
        .map_err(|e| anyhow!("checkpoint weights do not fit the model: {e:?}"))?;
    let optimizer = optimizer
        .load(dir.join(&state.optimizer_file))
        .map_err(|e| anyhow!("reading optimiser state {}: {e:?}", state.optimizer_file))?;
    Ok((model, optimizer))
}
