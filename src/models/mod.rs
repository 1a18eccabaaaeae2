//! Denoising models: where their weights live, how they are named, how they load.
//!
//! One module per model family (`topaz` now; `restore`, `cref`, `nt2c` later). Weights of
//! Topaz's pretrained models are GPL-3.0 and never shipped with Cryolens: `cryolens models
//! install topaz` unpacks them from the `topaz-em` wheel into [`crate::paths::models_dir`].

pub mod checks;
pub mod cref;
pub mod export;
pub mod fit;
pub mod format;
pub mod install;
pub mod native;
pub mod native3d;
pub mod nt2c;
pub mod topaz;
pub mod topaz3d;
pub(crate) mod unet;
pub mod wdsr;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::prelude::{Device, Tensor};

use crate::paths::topaz_dir;
use burn::store::{ModuleSnapshot, PytorchStore};

pub use topaz::{TopazArch, TopazConfig, TopazModel};
pub use topaz3d::Topaz3dArch;

/// Errors finding or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A pretrained model whose weights are not installed.
    #[error(
        "Topaz model '{name}' is not installed (looked for {path}); run `cryolens models install topaz` \
         or press \"Install Topaz models\" in the app"
    )]
    NotInstalled {
        /// Model name.
        name: String,
        /// Where the weights were expected.
        path: PathBuf,
    },
    /// `--model` named neither a known model nor an existing file.
    #[error(
        "unknown model '{0}': expected one of unet, unet-small, fcnn, affine, unet-v0.2.1, unet-3d-10a, unet-3d-20a, or a path to a Topaz state dict"
    )]
    Unknown(String),
    /// The file could not be read as a PyTorch state dict of a Topaz architecture, or its
    /// tensors do not fit it or hold non-finite values ([`checks`]).
    #[error("{path}: {reason}")]
    BadWeights {
        /// The weights file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A Cryolens model file (safetensors + JSON) that does not load; the message names the
    /// file.
    #[error("{0}")]
    Format(String),
}

/// Which model a user asked for (`--model` value or GUI choice).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ModelSpec {
    /// One of Topaz's pretrained models, by name.
    Topaz(TopazArch),
    /// One of Topaz's pretrained 3D (tomogram) models, by name.
    Topaz3d(Topaz3dArch),
    /// A PyTorch state dict (or whole pickled module) of a Topaz 2D architecture.
    File(PathBuf),
}

impl ModelSpec {
    /// Parses `unet|unet-small|fcnn|affine|unet-v0.2.1|unet-3d-10a|unet-3d-20a|PATH`.
    ///
    /// # Errors
    /// [`ModelError::Unknown`] if it is neither a model name nor an existing file.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        if let Some(a) = TopazArch::from_name(s) {
            return Ok(ModelSpec::Topaz(a));
        }
        if let Some(a) = Topaz3dArch::from_name(s) {
            return Ok(ModelSpec::Topaz3d(a));
        }
        // A Cryolens-trained model by name (`NAME.safetensors` + `NAME.json`).
        if let Some(p) = format::find_trained_model(s) {
            return Ok(ModelSpec::File(p));
        }
        let p = PathBuf::from(s);
        if p.is_file() {
            Ok(ModelSpec::File(p))
        } else {
            Err(ModelError::Unknown(s.to_string()))
        }
    }

    /// A short label for menus and file names ("unet", or the file stem).
    pub fn label(&self) -> String {
        match self {
            ModelSpec::Topaz(a) => a.name().to_string(),
            ModelSpec::Topaz3d(a) => a.name().to_string(),
            ModelSpec::File(p) => p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Whether this is a 3D (tomogram) model: Topaz's `unet-3d-*`, a Cryolens model trained
    /// with `train-3d` (its JSON names the 3D format), or a state dict whose first
    /// convolution is 3D (5-dimensional `enc1.0.weight`).
    pub fn is_volume_model(&self) -> bool {
        match self {
            ModelSpec::Topaz(_) => false,
            ModelSpec::Topaz3d(_) => true,
            ModelSpec::File(p) if p.extension().is_some_and(|e| e == "safetensors") => {
                format::is_model_3d(p)
            }
            ModelSpec::File(p) => state_dict_shapes(p)
                .ok()
                .and_then(|s| s.get("enc1.0.weight").map(|d| d.len() == 5))
                .unwrap_or(false),
        }
    }

    /// The weights file this spec refers to.
    ///
    /// # Errors
    /// [`ModelError::NotInstalled`] when a pretrained model's file is absent.
    pub fn weights_path(&self) -> Result<PathBuf, ModelError> {
        let (name, file) = match self {
            ModelSpec::File(p) => return Ok(p.clone()),
            ModelSpec::Topaz(a) => (a.name(), a.weights_file()),
            ModelSpec::Topaz3d(a) => (a.name(), a.weights_file()),
        };
        let path = topaz_dir().join(file);
        if path.is_file() {
            Ok(path)
        } else {
            Err(ModelError::NotInstalled {
                name: name.into(),
                path,
            })
        }
    }
}

/// The L2 norm of each `[n, …]` slice of a 4D tensor over its last three axes, shaped
/// `[n, 1, 1, 1]` for broadcasting, at least 10⁻¹² (weight norm's per-filter norm, the
/// gradient penalty's per-sample norm).
pub(crate) fn norm_per_first_axis(t: Tensor<4>) -> Tensor<4> {
    t.powf_scalar(2.0)
        .sum_dim(3)
        .sum_dim(2)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12)
}

/// The pretrained Topaz models that are installed, in menu order.
pub fn installed_topaz_models() -> Vec<TopazArch> {
    TopazArch::ALL
        .into_iter()
        .filter(|a| topaz_dir().join(a.weights_file()).is_file())
        .collect()
}

/// Reads the tensor names and shapes of a PyTorch state dict.
fn state_dict_shapes(path: &Path) -> Result<HashMap<String, Vec<usize>>, ModelError> {
    let reader = burn::store::pytorch_reader::PytorchReader::new(path).map_err(|e| {
        ModelError::BadWeights {
            path: path.into(),
            reason: format!(
                "cannot load as a PyTorch state dict: {}",
                e.to_string().lines().next().unwrap_or("")
            ),
        }
    })?;
    Ok(reader
        .tensors()
        .iter()
        .map(|(k, t)| (k.clone(), t.shape().to_vec()))
        .collect())
}

/// Loads a Topaz 2D model from a PyTorch state dict (legacy or zip `torch.save` format),
/// recognising its architecture from the tensor names and shapes.
///
/// # Errors
/// [`ModelError::BadWeights`] if the file is unreadable, not a Topaz architecture, or any
/// tensor is missing, unexpected or of the wrong shape.
pub fn load_topaz(path: &Path, device: &Device) -> Result<(TopazModel, TopazConfig), ModelError> {
    let bad = |reason: String| ModelError::BadWeights {
        path: path.into(),
        reason,
    };
    // Cryolens' own format (`cryolens train`): safetensors weights + JSON sidecar.
    if path.extension().is_some_and(|e| e == "safetensors") {
        return format::load_model::<serde::de::IgnoredAny>(path, device)
            .map(|(model, config, _)| (model, config))
            .map_err(|e| ModelError::Format(format!("{e:#}")));
    }
    let shapes = state_dict_shapes(path)?;
    let config = TopazConfig::infer(&shapes).map_err(bad)?;
    let mut model = TopazModel::init(config, device);
    load_state_dict(&mut model, path, &config.describe())?;
    Ok((model, config))
}

/// Loads the PyTorch state dict at `path` into `model` (Topaz's `nn.Sequential` indices
/// renumbered contiguously), requiring an exact fit; `what` names the architecture in errors.
///
/// # Errors
/// [`ModelError::BadWeights`] if the file is unreadable, any tensor is missing, unexpected or
/// of the wrong shape, or any weight holds NaN or infinite values (one line naming the
/// tensor by its name in the file; [`checks::load_checked`]).
pub(crate) fn load_state_dict<M: ModuleSnapshot>(
    model: &mut M,
    path: &Path,
    what: &str,
) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::BadWeights {
        path: path.into(),
        reason,
    };
    // Unexpected tensors are named as the file names them, before the store renumbers
    // Topaz's `nn.Sequential` indices.
    let expected: std::collections::HashSet<String> = model
        .collect(None, None, true)
        .iter()
        .map(|t| export::topaz_name(&t.name))
        .collect();
    let mut unexpected: Vec<String> = state_dict_shapes(path)?
        .into_keys()
        .filter(|k| !expected.contains(k))
        .collect();
    unexpected.sort();
    if let Some(first) = unexpected.first() {
        let more = match unexpected.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Err(bad(format!(
            "unexpected tensor {first}{more} (not part of {what})"
        )));
    }
    let mut store = PytorchStore::from_file(path)
        .map_indices_contiguous(true)
        .skip_enum_variants(true)
        .allow_partial(true)
        .validate(false);
    checks::load_checked(model, &mut store, what, export::topaz_name).map_err(bad)?;
    Ok(())
}

/// Loads any 3D model a [`ModelSpec`] names (Topaz's `unet-3d-*`, a 3D state dict, or a
/// Cryolens 3D model, [`format::model3d`]) with its dimensions.
///
/// # Errors
/// A 2D model, weights not installed, unreadable or mis-shaped weights.
pub fn load_any_3d(
    spec: &ModelSpec,
    device: &Device,
) -> anyhow::Result<(topaz3d::UNet3d, topaz3d::UNet3dConfig)> {
    if let ModelSpec::Topaz(a) = spec {
        anyhow::bail!(
            "'{}' is a 2D model; volumes need a 3D model ({}, or one trained with train-3d)",
            a.name(),
            Topaz3dArch::ALL.map(|a| a.name()).join(", ")
        );
    }
    let path = spec.weights_path()?;
    if path.extension().is_some_and(|e| e == "safetensors") {
        let (m, meta) = format::load_model_3d::<serde::de::IgnoredAny>(&path, device)?;
        Ok((m, meta.architecture))
    } else {
        Ok((
            topaz3d::load_topaz3d(&path, device)?,
            topaz3d::UNet3dConfig::PRETRAINED,
        ))
    }
}
