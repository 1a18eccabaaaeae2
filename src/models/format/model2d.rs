//! The 2D (micrograph) denoiser sidecar: [`ModelMeta`] with format [`MODEL_FORMAT`], the
//! architecture it names ([`ArchJson`]: a Topaz architecture or restore's WDSR U-net),
//! restore's preprocessing recorded for inference ([`RestorePreprocessing`]), and the
//! writer and loaders of 2D models.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};
use burn::module::Module;
use burn::prelude::Device;
use burn::store::ModuleSnapshot;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::sidecar::{
    DataSummary, Provenance, load_weights_into, meta_path, read_sidecar, write_model_files,
};
use crate::models::topaz::{TopazConfig, TopazModel};
use crate::models::wdsr::{WdsrConfig, WdsrUNet};

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

/// restore's preprocessing of training data (Palovcak et al. 2020, supplement S2.1), recorded
/// in checkpoints and in the model's JSON (`training.data.restore`) so inference repeats it
/// (`crate::restore::PreprocessConfig` with the same two numbers, plus the phase flip).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestorePreprocessing {
    /// Highest resolution kept, Å: micrographs are Fourier cropped to a pixel size of half of
    /// it (restore's `--max_resolution`; default 3.0 Å).
    pub max_resolution_angstrom: f64,
    /// Frequencies below 1/this (Å⁻¹) are removed (200 Å).
    pub highpass_angstrom: f64,
    /// A RELION STAR file with each micrograph's CTF: when given, the halves are phase
    /// flipped (their spectra multiplied by the sign of the CTF).
    pub ctf_star: Option<PathBuf>,
}

impl Default for RestorePreprocessing {
    /// Max resolution 3.0 Å, band-pass from 200 Å (restore's defaults, as
    /// `crate::restore::PreprocessConfig::default`), no phase flip.
    fn default() -> Self {
        Self {
            max_resolution_angstrom: 3.0,
            highpass_angstrom: 200.0,
            ctf_star: None,
        }
    }
}

impl RestorePreprocessing {
    /// Whether the training data are phase flipped.
    pub fn phase_flip(&self) -> bool {
        self.ctf_star.is_some()
    }
}

/// The part of a 2D model's `training` record that inference reads: restore's preprocessing.
/// Everything else the trainer recorded is skipped (read it with the trainer's own config
/// type as [`ModelMeta`]'s parameter).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct InferenceSettings {
    /// The training data's options.
    #[serde(default)]
    pub data: InferenceData,
}

/// The part of the recorded data options that inference reads.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct InferenceData {
    /// restore's preprocessing (`None`: the halves were used as read, or a Topaz
    /// architecture).
    #[serde(default)]
    pub restore: Option<RestorePreprocessing>,
}

/// The JSON sidecar of a trained 2D model (`NAME.json` beside `NAME.safetensors`). `T` is the
/// training record: the trainer's configuration (the 2D trainer's `TrainConfig`) or a view of
/// it such as [`InferenceSettings`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta<T> {
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
    pub training: T,
    /// The data.
    pub data: DataSummary,
    /// Pixel size of the training data in Å/px, if known.
    pub pixel_size_angstrom: Option<f32>,
    /// Steps, final losses, date, command line, device, version, notes.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// Writes `model` (a Topaz model, a WDSR U-net, or the 2D trainer's `TrainableModel`) as
/// `weights` (safetensors) and its `meta` beside it, both atomically.
///
/// # Errors
/// Serialisation or I/O failures.
pub fn save_model<M: Module + ModuleSnapshot, T: Serialize>(
    model: &M,
    meta: &ModelMeta<T>,
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

/// Reads a model's JSON sidecar, its training record as `T`.
///
/// # Errors
/// Missing or unreadable JSON; another format or a newer version; a training record that is
/// not a `T`.
pub fn read_meta<T: DeserializeOwned>(weights: &Path) -> Result<ModelMeta<T>> {
    let (path, meta): (_, ModelMeta<T>) = read_sidecar(weights)?;
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

/// Loads a Cryolens model of a Topaz architecture (`NAME.safetensors` + `NAME.json`) onto
/// `device`.
///
/// # Errors
/// Unreadable files, a JSON that is not a Cryolens model, a restore (WDSR) model (load it
/// with [`load_wdsr_model`] or `crate::denoise::RestoreDenoiser`), weights that do not fit
/// the architecture the JSON names (missing, unexpected or mis-shaped tensors).
pub fn load_model<T: DeserializeOwned>(
    weights: &Path,
    device: &Device,
) -> Result<(TopazModel, TopazConfig, ModelMeta<T>)> {
    load_arch(
        weights,
        |meta| {
            let config = meta.architecture.topaz().ok_or_else(|| {
                anyhow!(
                    "{} is a restore (WDSR U-net) model, not a Topaz architecture",
                    weights.display()
                )
            })?;
            config
                .check()
                .map_err(|e| anyhow!("{}: {e}", meta_path(weights).display()))?;
            Ok(config)
        },
        |config| (TopazModel::init(*config, device), config.describe()),
    )
}

/// Loads a Cryolens restore model (WDSR U-net, `NAME.safetensors` + `NAME.json`) onto
/// `device`.
///
/// # Errors
/// Unreadable files, a JSON that is not a Cryolens model or names a Topaz architecture,
/// weights that do not fit the WDSR dimensions the JSON names.
pub fn load_wdsr_model<T: DeserializeOwned>(
    weights: &Path,
    device: &Device,
) -> Result<(WdsrUNet, WdsrConfig, ModelMeta<T>)> {
    load_arch(
        weights,
        |meta| {
            let config = meta.architecture.wdsr().ok_or_else(|| {
                anyhow!(
                    "{} is a Topaz-architecture model ({}), not a restore (WDSR) model",
                    weights.display(),
                    meta.architecture_name
                )
            })?;
            config
                .check()
                .map_err(|e| anyhow!("{}: {e}", meta_path(weights).display()))?;
            Ok(config)
        },
        |config| (config.init(device), config.describe()),
    )
}

/// Reads the sidecar of `weights`, takes from it the architecture `pick` accepts (or its
/// error), builds the network with `init` (which also describes it for errors) and loads the
/// weights into it, requiring an exact fit.
fn load_arch<T: DeserializeOwned, C, M: ModuleSnapshot>(
    weights: &Path,
    pick: impl FnOnce(&ModelMeta<T>) -> Result<C>,
    init: impl FnOnce(&C) -> (M, String),
) -> Result<(M, C, ModelMeta<T>)> {
    let meta = read_meta(weights)?;
    let config = pick(&meta)?;
    let (mut model, what) = init(&config);
    load_weights_into(&mut model, weights, &what)?;
    Ok((model, config, meta))
}
