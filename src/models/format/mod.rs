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
//! [`sidecar`] holds what every kind shares (the writer, the exact-fit weight loader, the data
//! summary, the provenance). [`names`]: a bare model name resolves to `NAME.safetensors` +
//! `NAME.json` in the user's trained-models folder, then in the bundled models
//! ([`find_trained_model`]).

pub mod cref;
pub mod cref_tf;
pub mod model2d;
pub mod model3d;
pub mod names;
pub mod sidecar;

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
pub use names::{BUNDLED_DEFAULT_MODEL, find_trained_model, list_trained_models, resolve_output};
pub use sidecar::{
    DataSummary, Provenance, load_weights_into, meta_path, utc_now_iso8601, write_model_files,
};
