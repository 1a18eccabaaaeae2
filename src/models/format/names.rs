//! Model names: the bundled default model, resolving a bare name to its weights (the user's
//! trained models first, then the bundled ones), listing the nameable models, and where a
//! training run's `--output` goes.

use std::path::PathBuf;

use super::sidecar::meta_path;
use crate::paths::{bundled_models_dir, trained_models_dir};

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
