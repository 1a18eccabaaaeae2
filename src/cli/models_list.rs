//! `cryolens models list` and the default model: every model Cryolens can use, where it
//! comes from and under which licence, and which one `denoise` takes when none is named.

use std::path::PathBuf;

use crate::models::format::{BUNDLED_DEFAULT_MODEL, list_trained_models};
use crate::models::{TopazArch, installed_topaz_models};
use crate::paths::{bundled_models_dir, topaz_dir};

/// One usable model: its `--model` name, what it is, where its files are, its licence.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEntry {
    /// The name `--model` takes.
    pub name: String,
    /// What it is ("Topaz 2D, pretrained", "bundled", "trained here"…).
    pub kind: &'static str,
    /// Architecture and notes, one line.
    pub description: String,
    /// The weights file.
    pub path: PathBuf,
    /// The licence of the weights.
    pub licence: &'static str,
}

const TOPAZ_LICENCE: &str = "GPL-3.0 (Topaz, Bepler et al. 2020; stays on this machine)";

/// Every model found: Topaz's installed 2D and 3D models, the bundled ones, and the models
/// trained or imported by the user (`cryolens train`, `train-3d`, `cref --save-model`,
/// `models import cref`), in that order.
pub fn catalogue() -> Vec<ModelEntry> {
    let mut out: Vec<ModelEntry> = installed_topaz_models()
        .into_iter()
        .map(|a| ModelEntry {
            name: a.name().into(),
            kind: "Topaz 2D, pretrained",
            description: a.config().describe(),
            path: topaz_dir().join(a.weights_file()),
            licence: TOPAZ_LICENCE,
        })
        .collect();
    for a in crate::models::topaz3d::Topaz3dArch::ALL {
        let path = topaz_dir().join(a.weights_file());
        if path.is_file() {
            out.push(ModelEntry {
                name: a.name().into(),
                kind: "Topaz 3D, pretrained",
                description: "3D U-net for tomograms".into(),
                path,
                licence: TOPAZ_LICENCE,
            });
        }
    }
    let bundled = bundled_models_dir();
    for (name, path) in list_trained_models() {
        let is_bundled = path.starts_with(&bundled);
        out.push(ModelEntry {
            description: describe_trained(&path),
            kind: if is_bundled {
                "bundled with Cryolens"
            } else {
                "trained or imported here"
            },
            licence: if is_bundled {
                "MIT OR Apache-2.0 (assets/models/README.md)"
            } else {
                "yours (imported weights keep their source's terms)"
            },
            name,
            path,
        });
    }
    out
}

/// The architecture line of a Cryolens model's JSON sidecar (`architecture_name`), or what
/// is wrong with it.
fn describe_trained(weights: &std::path::Path) -> String {
    let meta = crate::models::format::meta_path(weights);
    match std::fs::read(&meta)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    {
        Some(v) => v
            .get("architecture_name")
            .and_then(|a| a.as_str())
            .map_or_else(|| "Cryolens model".into(), str::to_string),
        None => format!("unreadable sidecar {}", meta.display()),
    }
}

/// The model `denoise` uses when none is named, the same rule as the GUI's first selection:
/// Topaz's `unet` when installed, else the first installed Topaz model, else the bundled
/// [`BUNDLED_DEFAULT_MODEL`].
pub fn default_model_name() -> String {
    let topaz = installed_topaz_models();
    if topaz.contains(&TopazArch::UNet) {
        TopazArch::UNet.name().into()
    } else {
        topaz
            .first()
            .map_or(BUNDLED_DEFAULT_MODEL, |a| a.name())
            .into()
    }
}

/// Prints [`catalogue`] as a table, then the default model.
pub fn print_list() {
    println!("models folder: {}", crate::paths::models_dir().display());
    let models = catalogue();
    let width = models
        .iter()
        .map(|m| m.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:<24}  {:<56}  licence",
        "name", "kind", "description"
    );
    for m in &models {
        println!(
            "{:<width$}  {:<24}  {:<56}  {}",
            m.name, m.kind, m.description, m.licence
        );
    }
    if !models.iter().any(|m| m.kind.starts_with("Topaz")) {
        println!("no Topaz models installed: run `cryolens models install topaz`");
    }
    println!("default for `cryolens denoise`: {}", default_model_name());
}
