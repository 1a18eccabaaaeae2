//! Shared by the fuzz targets: writing the input where an API only takes a path.

#![allow(dead_code)]

use std::path::PathBuf;

/// A private temporary folder holding `data` as `name`; the folder is removed on drop.
pub struct TempInput {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The written file.
    pub path: PathBuf,
}

/// Writes `data` to `name` in a fresh temporary folder.
pub fn temp_file(name: &str, data: &[u8]) -> TempInput {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, data).expect("writing the fuzz input");
    TempInput { dir, path }
}
