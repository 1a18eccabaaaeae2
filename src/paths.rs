//! The user's Cryolens folders: where installed and trained models and session files live.
//!
//! Everything is under one data folder: `$CRYOLENS_MODELS_DIR` names the models folder
//! directly (tests and shared installations use it); otherwise it is
//! `~/.local/share/cryolens/models` on Linux (the platform's user data folder). Sessions go
//! beside it in `sessions/`. Nothing here touches the disk: callers create folders when they
//! write into them.

use std::path::{Path, PathBuf};

/// Where models are installed: `$CRYOLENS_MODELS_DIR` if set, else the user's data directory
/// (`~/.local/share/cryolens/models` on Linux).
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CRYOLENS_MODELS_DIR") {
        return PathBuf::from(d);
    }
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("cryolens")
        .join("models")
}

/// Folder holding Topaz's `.sav` files: `models_dir()/topaz`.
pub fn topaz_dir() -> PathBuf {
    models_dir().join("topaz")
}

/// Folder of models trained with `cryolens train --output NAME`: `models_dir()/trained`.
pub fn trained_models_dir() -> PathBuf {
    models_dir().join("trained")
}

/// Folder of the models shipped with Cryolens (`assets/models` of the source tree).
pub fn bundled_models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join("models")
}

/// Where the GUI's **Simulate…** writes its simulations: `simulations/` in the user's
/// Cryolens data folder, beside `sessions/`.
pub fn simulations_dir() -> PathBuf {
    sessions_dir().with_file_name("simulations")
}

/// The folder for session files that cannot live beside their micrographs (and the bundled
/// sample's): `sessions/` in the user's Cryolens data folder (`~/.local/share/cryolens`, or
/// beside `$CRYOLENS_MODELS_DIR`).
pub fn sessions_dir() -> PathBuf {
    models_dir()
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        .join("sessions")
}
