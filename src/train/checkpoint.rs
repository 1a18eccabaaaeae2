//! Checkpoints of a training run, and Cryolens' own model format.
//!
//! **Model format**: `NAME.safetensors` (the weights, tensor names as in Topaz's state dicts
//! with every `nn.Sequential` renumbered contiguously: `enc1.0.weight`, `dec1.2.bias`, …; for
//! restore's WDSR U-net the module's field paths, `down.0.layers.1.expand.v`, …) and
//! beside it `NAME.json` ([`ModelMeta`]: architecture, loss, optimiser, data summary, pixel
//! size, restore's preprocessing, date, command line). Both are written atomically
//! (temporary file, fsync, rename).
//!
//! **Checkpoints** live in a folder (`NAME.checkpoints/` beside the model): for step s,
//! `step-s.model.bpk` (burnpack weights, with burn's parameter ids) and `step-s.optim.bpk`
//! (the optimiser state: Adagrad's sums of squared gradients or Adam's moments, keyed by the
//! parameter ids), then `checkpoint.json` ([`CheckpointState`]) naming step s is replaced
//! atomically; older step files are deleted afterwards. A crash at any point leaves the
//! previous complete checkpoint readable. Batches are a function of (seed, step) only, so
//! resuming from step s replays exactly what an uninterrupted run does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::Device;
use burn::store::{ModuleRecord, ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::io::atomic::{write_atomically, write_atomically_with};
use crate::paths::{bundled_models_dir, trained_models_dir};
use crate::models::wdsr::{WdsrConfig, WdsrUNet};
use crate::models::{TopazConfig, TopazModel};

use super::{MetricPoint, TrainConfig};

/// File format name in [`ModelMeta::format`].
pub const MODEL_FORMAT: &str = "cryolens-denoiser";
/// Version of the model format.
pub const MODEL_FORMAT_VERSION: u32 = 1;

/// A trainable architecture with its dimensions, as stored in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case")]
pub enum ArchJson {
    /// restore's WDSR U-net (Palovcak et al. 2020, supplement S2.2).
    Wdsr(WdsrConfig),
    /// Topaz `affine`.
    Affine {
        /// Filter width (px).
        size: usize,
    },
    /// Topaz `fcnn`.
    Fcnn {
        /// Filters.
        nf: usize,
        /// Kernel width (px).
        width: usize,
    },
    /// Topaz `unet-small`.
    UnetSmall {
        /// Filters.
        nf: usize,
        /// First-layer width (px).
        width: usize,
        /// Output-block width (px).
        top_width: usize,
    },
    /// Topaz `unet`.
    Unet {
        /// Filters.
        nf: usize,
        /// First-layer width (px).
        base_width: usize,
        /// Output-block width (px).
        top_width: usize,
    },
}

impl From<TopazConfig> for ArchJson {
    fn from(c: TopazConfig) -> Self {
        match c {
            TopazConfig::Affine { size } => ArchJson::Affine { size },
            TopazConfig::Fcnn { nf, width } => ArchJson::Fcnn { nf, width },
            TopazConfig::UNetSmall {
                nf,
                width,
                top_width,
            } => ArchJson::UnetSmall {
                nf,
                width,
                top_width,
            },
            TopazConfig::UNet {
                nf,
                base_width,
                top_width,
            } => ArchJson::Unet {
                nf,
                base_width,
                top_width,
            },
        }
    }
}

impl From<WdsrConfig> for ArchJson {
    fn from(c: WdsrConfig) -> Self {
        ArchJson::Wdsr(c)
    }
}

impl ArchJson {
    /// The Topaz dimensions, `None` for a WDSR U-net.
    pub fn topaz(self) -> Option<TopazConfig> {
        Some(match self {
            ArchJson::Wdsr(_) => return None,
            ArchJson::Affine { size } => TopazConfig::Affine { size },
            ArchJson::Fcnn { nf, width } => TopazConfig::Fcnn { nf, width },
            ArchJson::UnetSmall {
                nf,
                width,
                top_width,
            } => TopazConfig::UNetSmall {
                nf,
                width,
                top_width,
            },
            ArchJson::Unet {
                nf,
                base_width,
                top_width,
            } => TopazConfig::UNet {
                nf,
                base_width,
                top_width,
            },
        })
    }

    /// The WDSR U-net's dimensions, `None` for a Topaz architecture.
    pub fn wdsr(self) -> Option<WdsrConfig> {
        match self {
            ArchJson::Wdsr(c) => Some(c),
            _ => None,
        }
    }
}

/// What the training data were, for the model's JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// Pairs used (names: file paths, "(count split)" for split exposures).
    pub sources: Vec<String>,
    /// Pairs trained on.
    pub train_pairs: usize,
    /// Pairs held out (or the held-out rows, see `holdout`).
    pub validation_pairs: usize,
    /// How the holdout was made ("pairs", "bottom rows", "none").
    pub holdout: String,
    /// True when halves came from count splitting.
    pub count_split: bool,
}

/// The JSON sidecar of a trained model (`NAME.json` beside `NAME.safetensors`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_FORMAT_VERSION`].
    pub version: u32,
    /// Architecture and dimensions.
    pub architecture: ArchJson,
    /// Short architecture name ("unet-small", …).
    pub architecture_name: String,
    /// Everything the run was configured with (loss, optimiser, lr, crop, batch, epochs,
    /// seed, data options, pretrained start).
    pub training: TrainConfig,
    /// The data.
    pub data: DataSummary,
    /// Pixel size of the training data in Å/px, if known.
    pub pixel_size_angstrom: Option<f32>,
    /// Steps trained.
    pub steps: u64,
    /// Last validation loss (normalised units), if measured.
    pub final_validation_loss: Option<f64>,
    /// Last epoch's mean training loss.
    pub final_train_loss: Option<f64>,
    /// UTC date and time the model was written, ISO 8601.
    pub created_utc: String,
    /// The command line (CLI) or "gui".
    pub command_line: String,
    /// Device the run used.
    pub device: String,
    /// Cryolens version that trained it.
    pub cryolens_version: String,
    /// Free-form notes (e.g. how the data were prepared).
    #[serde(default)]
    pub notes: String,
}

/// The sidecar path of a model's weights: `X.safetensors` → `X.json`.
pub fn meta_path(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

/// Writes `model` (a Topaz model, a WDSR U-net, or [`super::TrainableModel`]) as `weights`
/// (safetensors) and its `meta` beside it, both atomically.
///
/// # Errors
/// Serialisation or I/O failures.
pub fn save_model<M: Module + ModuleSnapshot>(
    model: &M,
    meta: &ModelMeta,
    weights: &Path,
) -> Result<()> {
    write_model_files(
        &model.valid(),
        MODEL_FORMAT,
        &meta.architecture_name,
        meta,
        weights,
    )
}

/// Writes a model as Cryolens stores every model (2D, 3D, crefDenoiser): `weights`
/// (safetensors, `format` and `architecture` in its metadata) and `meta` as JSON beside it
/// ([`meta_path`]), each atomically (write, fsync, rename), readable by everyone. The folder
/// is created when missing.
///
/// # Errors
/// Serialisation or I/O failures.
pub(crate) fn write_model_files<M: ModuleSnapshot, T: Serialize>(
    model: &M,
    format: &str,
    architecture: &str,
    meta: &T,
    weights: &Path,
) -> Result<()> {
    if let Some(dir) = weights.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut store = SafetensorsStore::from_bytes(None)
        .skip_enum_variants(true)
        .metadata("format", format)
        .metadata("architecture", architecture);
    model
        .save_into(&mut store)
        .map_err(|e| anyhow!("serialising weights: {e}"))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| anyhow!("serialising weights: {e}"))?;
    write_atomically(weights, &bytes)?;
    let json = serde_json::to_vec_pretty(meta)?;
    write_atomically(&meta_path(weights), &json)?;
    // Temporary files are created private (0600); a model is an ordinary shareable file.
    #[cfg(unix)]
    for p in [weights.to_path_buf(), meta_path(weights)] {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644));
    }
    Ok(())
}

/// Reads a model's JSON sidecar.
///
/// # Errors
/// Missing or unreadable JSON; another format or a newer version.
pub fn read_meta(weights: &Path) -> Result<ModelMeta> {
    let path = meta_path(weights);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (a Cryolens model is NAME.safetensors plus NAME.json)",
            path.display()
        )
    })?;
    let meta: ModelMeta =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if meta.format != MODEL_FORMAT || meta.version > MODEL_FORMAT_VERSION {
        bail!(
            "{}: format {:?} version {} is not a Cryolens denoiser this version reads ({MODEL_FORMAT} ≤ {MODEL_FORMAT_VERSION})",
            path.display(),
            meta.format,
            meta.version
        );
    }
    Ok(meta)
}

/// Loads safetensors `weights` into `model`, requiring an exact fit (`what` names the
/// architecture in errors).
pub(crate) fn load_weights_into<M: ModuleSnapshot>(
    model: &mut M,
    weights: &Path,
    what: &str,
) -> Result<()> {
    let mut store = SafetensorsStore::from_file(weights).skip_enum_variants(true);
    let result = model
        .load_from(&mut store)
        .map_err(|e| anyhow!("loading {}: {e}", weights.display()))?;
    if !result.errors.is_empty() || !result.missing.is_empty() || !result.unused.is_empty() {
        bail!(
            "{} does not fit {what}: missing {:?}, unexpected {:?}, errors {:?}",
            weights.display(),
            result.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
            result.unused,
            result.errors
        );
    }
    Ok(())
}

/// Loads a Cryolens model of a Topaz architecture (`NAME.safetensors` + `NAME.json`) onto
/// `device`.
///
/// # Errors
/// Unreadable files, a JSON that is not a Cryolens model, a restore (WDSR) model (load it
/// with [`load_wdsr_model`] or `crate::denoise::RestoreDenoiser`), weights that do not fit
/// the architecture the JSON names (missing, unexpected or mis-shaped tensors).
pub fn load_model(weights: &Path, device: &Device) -> Result<(TopazModel, TopazConfig, ModelMeta)> {
    let meta = read_meta(weights)?;
    let Some(config) = meta.architecture.topaz() else {
        bail!(
            "{} is a restore (WDSR U-net) model, not a Topaz architecture",
            weights.display()
        );
    };
    let mut model = TopazModel::init(config, device);
    load_weights_into(&mut model, weights, &config.describe())?;
    Ok((model, config, meta))
}

/// Loads a Cryolens restore model (WDSR U-net, `NAME.safetensors` + `NAME.json`) onto
/// `device`.
///
/// # Errors
/// Unreadable files, a JSON that is not a Cryolens model or names a Topaz architecture,
/// weights that do not fit the WDSR dimensions the JSON names.
pub fn load_wdsr_model(
    weights: &Path,
    device: &Device,
) -> Result<(WdsrUNet, WdsrConfig, ModelMeta)> {
    let meta = read_meta(weights)?;
    let Some(config) = meta.architecture.wdsr() else {
        bail!(
            "{} is a Topaz-architecture model ({}), not a restore (WDSR) model",
            weights.display(),
            meta.architecture_name
        );
    };
    let mut model = config.init(device);
    load_weights_into(&mut model, weights, &config.describe())?;
    Ok((model, config, meta))
}

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

/// UTC now as `YYYY-MM-DDTHH:MM:SSZ` (civil-from-days, Howard Hinnant's algorithm).
pub fn utc_now_iso8601() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Name of the default model shipped in `assets/models/` (usable as `--model` with no download).
pub const BUNDLED_DEFAULT_MODEL: &str = "cryolens-unet-small";

/// Resolves a trained model's name to its weights: `NAME.safetensors` with its `NAME.json`
/// in [`trained_models_dir`], then in [`bundled_models_dir`]. `None` when `name` contains a
/// path separator or no such model exists.
pub fn find_trained_model(name: &str) -> Option<PathBuf> {
    if name.is_empty()
        || name.contains('/')
        || name.contains('\\')
        || name.ends_with(".safetensors")
    {
        return None;
    }
    [trained_models_dir(), bundled_models_dir()]
        .into_iter()
        .map(|d| d.join(format!("{name}.safetensors")))
        .find(|p| p.is_file() && meta_path(p).is_file())
}

/// The trained models that can be named (user-trained first, then bundled): (name, weights).
pub fn list_trained_models() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in [trained_models_dir(), bundled_models_dir()] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<(String, PathBuf)> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors") && meta_path(p).is_file())
            .filter_map(|p| {
                let stem = p.file_stem()?.to_string_lossy().into_owned();
                Some((stem, p))
            })
            .collect();
        found.sort();
        for f in found {
            if !out.iter().any(|(n, _)| *n == f.0) {
                out.push(f);
            }
        }
    }
    out
}

/// Where `cryolens train --output X` writes the weights: a bare name goes to
/// [`trained_models_dir`]`/X.safetensors`; a path ending in `.safetensors` is used as is;
/// any other path is a folder that receives `model.safetensors`.
pub fn resolve_output(output: &str) -> PathBuf {
    let p = PathBuf::from(output);
    if p.extension().is_some_and(|e| e == "safetensors") {
        p
    } else if !output.contains('/') && !output.contains('\\') && !p.is_dir() {
        trained_models_dir().join(format!("{output}.safetensors"))
    } else {
        p.join("model.safetensors")
    }
}
