//! Cryolens' own model format: how a trained 2D, 3D or crefDenoiser model is written, read,
//! named and found.
//!
//! **Layout**: `NAME.safetensors` (the weights, tensor names as in Topaz's state dicts with
//! every `nn.Sequential` renumbered contiguously: `enc1.0.weight`, `dec1.2.bias`, …; for
//! restore's WDSR U-net the module's field paths, `down.0.layers.1.expand.v`, …; `format` and
//! `architecture` in the safetensors metadata) and beside it `NAME.json` (the sidecar:
//! architecture, the training record, data summary, pixel size, restore's preprocessing, date,
//! command line). Both are written atomically (temporary file, fsync, rename) and made
//! readable by everyone ([`write_model_files`]).
//!
//! One sidecar per model kind, each with its own `format` name:
//! - [`model2d`]: micrograph denoisers ([`ModelMeta`], [`MODEL_FORMAT`]);
//! - [`model3d`]: tomogram denoisers ([`Model3dMeta`], [`MODEL_FORMAT_3D`]);
//! - [`cref`]: crefDenoiser half-map denoisers ([`CrefModelMeta`], [`CREF_MODEL_FORMAT`]).
//!
//! The 2D and 3D sidecars end with the same [`Provenance`] (steps, final losses, date,
//! command line, device, version, notes), flattened into the JSON object. Their `training`
//! field is the trainer's configuration, a type parameter here: the format does not know the
//! trainers (each trainer reads and writes it with its own config type; inference reads
//! only what it needs, e.g. [`InferenceSettings`]).
//!
//! Names: a bare model name resolves to `NAME.safetensors` + `NAME.json` in the user's
//! trained-models folder, then in the bundled models ([`find_trained_model`]).

pub mod cref;
pub mod model2d;
pub mod model3d;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::{Deserialize, Serialize};

use crate::io::atomic::write_atomically;
use crate::paths::{bundled_models_dir, trained_models_dir};

pub use cref::{
    CREF_MODEL_FORMAT, CREF_MODEL_FORMAT_VERSION, CrefModelMeta, cref_model_path, load_cref_model,
    save_cref_model,
};
pub use model2d::{
    ArchJson, InferenceData, InferenceSettings, MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelMeta,
    RestorePreprocessing, load_model, load_wdsr_model, read_meta, save_model,
};
pub use model3d::{
    MODEL_FORMAT_3D, MODEL_FORMAT_3D_VERSION, Model3dMeta, is_model_3d, load_model_3d,
    read_meta_3d, save_model_3d,
};

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

/// How a 2D or 3D model came to be: the end of its run and who made it when. Flattened into
/// the sidecar (its fields are the last keys of `NAME.json`, in this order).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// Steps trained.
    pub steps: u64,
    /// Last validation loss (normalised units), if measured.
    pub final_validation_loss: Option<f64>,
    /// Last epoch's mean training loss (3D: mean training loss since the previous
    /// validation).
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

/// Writes a model as Cryolens stores every model (2D, 3D, crefDenoiser): `weights`
/// (safetensors, `format` and `architecture` in its metadata) and `meta` as JSON beside it
/// ([`meta_path`]), each atomically (write, fsync, rename), readable by everyone. The folder
/// is created when missing.
///
/// # Errors
/// Serialisation or I/O failures.
pub fn write_model_files<M: ModuleSnapshot, T: Serialize>(
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

/// Loads safetensors `weights` into `model`, requiring an exact fit (`what` names the
/// architecture in errors).
///
/// # Errors
/// Unreadable weights; missing, unexpected or mis-shaped tensors.
pub fn load_weights_into<M: ModuleSnapshot>(
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
