//! What every Cryolens model file shares: the writer of `NAME.safetensors` + `NAME.json`
//! ([`write_model_files`], atomic, readable by everyone), the exact-fit weight loader
//! ([`load_weights_into`]), the sidecar's path ([`meta_path`]) and reader of the 2D and 3D
//! sidecars (`read_sidecar`), the data summary and the
//! provenance (steps, final losses, date, command line, device, version, notes) that end the
//! 2D and 3D sidecars.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::io::atomic::write_atomically;
use crate::models::checks::{load_checked, same_name};

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

/// Reads the sidecar of the 2D or 3D model `weights`: its path ([`meta_path`]) and its JSON
/// as `T`.
///
/// # Errors
/// A missing or unreadable sidecar (the error names it and says what a model's files are);
/// JSON that is not a `T` ("parsing PATH").
pub(super) fn read_sidecar<T: DeserializeOwned>(weights: &Path) -> Result<(PathBuf, T)> {
    let path = meta_path(weights);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (a Cryolens model is NAME.safetensors plus NAME.json)",
            path.display()
        )
    })?;
    let value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok((path, value))
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
/// architecture in errors) and finite values ([`crate::models::checks::load_checked`]).
///
/// # Errors
/// One line naming the file once: unreadable weights, the first missing, unexpected or
/// mis-shaped tensor, or a weight holding NaN or infinite values.
pub fn load_weights_into<M: ModuleSnapshot>(
    model: &mut M,
    weights: &Path,
    what: &str,
) -> Result<()> {
    let mut store = SafetensorsStore::from_file(weights)
        .skip_enum_variants(true)
        .allow_partial(true)
        .validate(false);
    load_checked(model, &mut store, what, same_name)
        .map_err(|e| anyhow!("{}: {e}", weights.display()))
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
