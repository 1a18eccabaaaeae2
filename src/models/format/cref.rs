//! The crefDenoiser sidecar (Agarwal et al. 2024): [`CrefModelMeta`] with format
//! [`CREF_MODEL_FORMAT`], the layout of every Cryolens model (`NAME.safetensors` +
//! `NAME.json`, see [`super`]), its writer and loader. the crefDenoiser trainer (`train::cref`) trains the
//! network and fills the sidecar.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use super::names::{find_trained_model, resolve_output};
use super::sidecar::{load_weights_into, meta_path, write_model_files};
use crate::models::cref::{CrefConfig, CrefUNet};

/// Format name in [`CrefModelMeta::format`].
pub const CREF_MODEL_FORMAT: &str = "cryolens-cref-denoiser";
/// Version of the crefDenoiser model format.
pub const CREF_MODEL_FORMAT_VERSION: u32 = 1;

/// The JSON sidecar of a saved crefDenoiser (`NAME.json` beside `NAME.safetensors`, the
/// layout of [`super`]'s model format, with its own format name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrefModelMeta {
    /// [`CREF_MODEL_FORMAT`].
    pub format: String,
    /// [`CREF_MODEL_FORMAT_VERSION`].
    pub version: u32,
    /// Network dimensions and architecture (`net.arch`; sidecars without it hold the literal
    /// network, [`crate::models::cref::CrefArch::Literal`]).
    pub net: CrefConfig,
    /// Trainable scalars.
    pub parameters: usize,
    /// Patch edge trained on (voxels).
    pub patch_px: usize,
    /// Random patches per epoch.
    pub patches_per_epoch: usize,
    /// Patches per optimiser step (1 in models saved before batches existed).
    #[serde(default = "one")]
    pub batch_size: usize,
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

fn one() -> usize {
    1
}

/// Where `--save-model NAME` writes: a bare name goes to the trained-models folder
/// (`…/trained/NAME.safetensors`), a path ending in `.safetensors` is used as is, any other
/// path is a folder receiving `model.safetensors` (as `cryolens train --output`).
pub fn cref_model_path(name: &str) -> PathBuf {
    resolve_output(name)
}

/// Writes `model` as `weights` (safetensors) and `meta` beside it (`.json`), both atomically
/// (temporary file, fsync, rename).
///
/// # Errors
/// Serialisation or I/O failures.
pub fn save_cref_model(model: &CrefUNet, meta: &CrefModelMeta, weights: &Path) -> Result<()> {
    write_model_files(
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
    let path = PathBuf::from(name_or_path);
    let weights = if path.is_file() {
        path
    } else {
        find_trained_model(name_or_path).ok_or_else(|| {
            anyhow!(
                "no crefDenoiser model {name_or_path:?} (a .safetensors path, or a name in {})",
                crate::paths::trained_models_dir().display()
            )
        })?
    };
    let meta_path = meta_path(&weights);
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
    meta.net
        .check()
        .map_err(|e| anyhow!("{}: {e}", meta_path.display()))?;
    let mut model = CrefUNet::new(meta.net, device);
    load_weights_into(
        &mut model,
        &weights,
        &format!("a crefDenoiser U-net with {:?}", meta.net),
    )?;
    Ok((model, meta))
}

/// The sidecar of a network imported from `source` (nothing trained here: zeros).
pub fn imported_cref_meta(model: &CrefUNet, source: &Path) -> CrefModelMeta {
    CrefModelMeta {
        format: CREF_MODEL_FORMAT.into(),
        version: CREF_MODEL_FORMAT_VERSION,
        net: CrefConfig::default(),
        parameters: model.num_parameters(),
        patch_px: 96,
        patches_per_epoch: 0,
        batch_size: 6,
        epochs_run: 0,
        best_epoch: 0,
        learning_rate: 0.0,
        final_loss: 0.0,
        validation_score: 0.0,
        validation_identity: 0.0,
        pixel_size_angstrom: None,
        sources: vec![format!("tensorflow checkpoint {}", source.display())],
        created_utc: super::utc_now_iso8601(),
        cryolens_version: env!("CARGO_PKG_VERSION").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::cref::CrefArch;

    #[test]
    fn sidecars_without_arch_are_the_literal_network_and_models_round_trip() {
        // A sidecar's `net` as written before `arch` existed.
        let old: CrefConfig =
            serde_json::from_str(r#"{"filters":16,"kernel":3,"leak":0.1}"#).unwrap();
        assert_eq!(old.arch, CrefArch::Literal);
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        for arch in [CrefArch::Literal, CrefArch::Published] {
            let net = CrefConfig {
                arch,
                ..CrefConfig::default()
            };
            let model = CrefUNet::new(net, &device);
            let mut meta = imported_cref_meta(&model, dir.path());
            meta.net = net;
            let path = dir.path().join(format!("{arch:?}.safetensors"));
            save_cref_model(&model, &meta, &path).unwrap();
            let (back, m) = load_cref_model(path.to_str().unwrap(), &device).unwrap();
            assert_eq!(m.net.arch, arch);
            assert_eq!(back.num_parameters(), model.num_parameters());
        }
    }
}
