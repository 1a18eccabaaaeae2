//! The 3D (tomogram) denoiser sidecar: [`Model3dMeta`] with format [`MODEL_FORMAT_3D`], its
//! writer and loaders. `ModelSpec::parse(NAME)` finds such a model and
//! `crate::denoise::volume::Topaz3dDenoiser` loads it (through `crate::models::load_any_3d`).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::Device;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::sidecar::{
    DataSummary, Provenance, load_weights_into, meta_path, read_sidecar, write_model_files,
};
use crate::models::topaz3d::{UNet3d, UNet3dConfig};

/// File format name in [`Model3dMeta::format`].
pub const MODEL_FORMAT_3D: &str = "cryolens-denoiser-3d";
/// Version of the 3D model format.
pub const MODEL_FORMAT_3D_VERSION: u32 = 1;

/// The JSON sidecar of a trained 3D model (`NAME.json` beside `NAME.safetensors`). `T` is the
/// training record (the 3D trainer's `Train3dConfig`, or `serde::de::IgnoredAny` to skip it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model3dMeta<T> {
    /// [`MODEL_FORMAT_3D`].
    pub format: String,
    /// [`MODEL_FORMAT_3D_VERSION`].
    pub version: u32,
    /// Architecture dimensions.
    pub architecture: UNet3dConfig,
    /// e.g. "3D U-net (48 filters, widths 7/3, output 64/32)".
    pub architecture_name: String,
    /// The run's configuration (loss, optimiser, lr, crop, batch, epochs, seed, pretrained
    /// start).
    pub training: T,
    /// The data (the two halves, held-out slab).
    pub data: DataSummary,
    /// Shape of the training tomograms `[z, y, x]` in voxels.
    pub volume_shape: [usize; 3],
    /// Voxel size of the training data in Å, if known.
    pub voxel_size_angstrom: Option<f32>,
    /// Steps, final losses (the training loss: mean since the previous validation), date,
    /// command line, device, version, notes (e.g. how the halves were made).
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// Writes `model` as `weights` (safetensors, Topaz's state-dict names with contiguous
/// `nn.Sequential` indices) and `meta` beside it, both atomically.
///
/// # Errors
/// Serialisation or I/O failures.
pub fn save_model_3d<T: Serialize>(
    model: &UNet3d,
    meta: &Model3dMeta<T>,
    weights: &Path,
) -> Result<()> {
    write_model_files(
        model,
        MODEL_FORMAT_3D,
        &meta.architecture_name,
        meta,
        weights,
    )
}

/// Whether `weights` (`X.safetensors`) has a JSON sidecar naming the 3D model format.
pub fn is_model_3d(weights: &Path) -> bool {
    std::fs::read_to_string(meta_path(weights))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(MODEL_FORMAT_3D))
}

/// Reads a 3D model's JSON sidecar, its training record as `T`.
///
/// # Errors
/// Missing or unreadable JSON; another format (a 2D model) or a newer version.
pub fn read_meta_3d<T: DeserializeOwned>(weights: &Path) -> Result<Model3dMeta<T>> {
    let (path, value): (_, serde_json::Value) = read_sidecar(weights)?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != MODEL_FORMAT_3D {
        bail!(
            "{} is not a 3D model (format {format:?}, expected {MODEL_FORMAT_3D:?}); 2D models \
             denoise micrographs",
            path.display()
        );
    }
    let meta: Model3dMeta<T> =
        serde_json::from_value(value).with_context(|| format!("parsing {}", path.display()))?;
    if meta.version > MODEL_FORMAT_3D_VERSION {
        bail!(
            "{}: version {} is newer than this Cryolens reads ({MODEL_FORMAT_3D_VERSION})",
            path.display(),
            meta.version
        );
    }
    Ok(meta)
}

/// Loads a Cryolens 3D model (`NAME.safetensors` + `NAME.json`) onto `device`.
///
/// # Errors
/// Unreadable files, a JSON that is not a 3D model, weights that do not fit the architecture
/// the JSON names.
pub fn load_model_3d<T: DeserializeOwned>(
    weights: &Path,
    device: &Device,
) -> Result<(UNet3d, Model3dMeta<T>)> {
    let meta = read_meta_3d(weights)?;
    meta.architecture
        .check()
        .map_err(|e| anyhow!("{}: {e}", meta_path(weights).display()))?;
    let mut model = UNet3d::with_config(&meta.architecture, device);
    load_weights_into(&mut model, weights, &meta.architecture.describe())?;
    Ok((model, meta))
}
