//! What each fuzz target does with one input: call the public parser on the bytes (written to
//! a temporary file where the API takes a path) and ignore the result; a panic is the bug.
//! Shared by the fuzz targets (`fuzz/fuzz_targets/<target>.rs`) and by the stable test
//! `tests/fuzz_regressions.rs`, which feeds every committed regression input through the same
//! function.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cryolens::io::coords;
use cryolens::io::mapped::{MappedVolume, VolumeSource};
use cryolens::io::star;
use cryolens::picking::PickSession;

/// What a target does with one input.
pub type Feed = fn(&[u8]);

/// The fuzz targets of parsers, by name (the folders of `tests/data/fuzz-regressions/`); the
/// model-file targets are in `fuzz/models/fuzz_targets/feed_models.rs`.
pub const TARGETS: [(&str, Feed); 6] = [
    ("mrc", mrc),
    ("tiff", tiff),
    ("star", star),
    ("coords", coords),
    ("ctf", ctf),
    ("session", session),
];

/// A private temporary folder holding one input file; removed on drop.
pub struct TempInput {
    /// The folder.
    pub dir: tempfile::TempDir,
    /// The input file in it.
    pub path: PathBuf,
}

impl TempInput {
    /// Writes `data` as `name` in a new temporary folder.
    pub fn new(name: &str, data: &[u8]) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join(name);
        std::fs::write(&path, data).expect("writing the input");
        Self { dir, path }
    }

    /// Another file's path in the folder.
    pub fn sibling(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// MRC header and data: `io::mrc::read_bytes`, and from a file `io::read` and the
/// memory-mapped reader (first and last section).
pub fn mrc(data: &[u8]) {
    let _ = cryolens::io::mrc::read_bytes(data);
    let input = TempInput::new("input.mrc", data);
    let _ = cryolens::io::read(&input.path);
    if let Ok(m) = MappedVolume::open(&input.path) {
        let (depth, _, _) = m.shape();
        if depth > 0 {
            let _ = m.section(0);
            let _ = m.section(depth - 1);
        }
    }
}

/// TIFF images and stacks: `io::tiff::read_bytes`.
pub fn tiff(data: &[u8]) {
    let _ = cryolens::io::tiff::read_bytes(data);
}

/// STAR files: `io::star::parse` and `parse_lenient`, each result written back.
pub fn star(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = star::parse(&text) {
        let _ = star::to_string(&file, &star::WriteOptions::relion());
    }
    if let Ok((file, _warnings)) = star::parse_lenient(&text) {
        let _ = star::to_string(&file, &star::WriteOptions::relion());
    }
}

/// Every coordinate format of `io::coords`: RELION (strict, lenient, coordinate-file index),
/// Topaz, EMAN `.box`, crYOLO `.cbox` and `.coords`.
pub fn coords(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = coords::parse_relion(&text, "mic.mrc");
    let _ = coords::parse_relion_lenient(&text, "mic.mrc");
    let _ = coords::parse_relion_index(&text);
    let _ = coords::parse_topaz(&text);
    let _ = coords::parse_eman_box(&text);
    let _ = coords::parse_cbox(&text);
    let _ = coords::parse_cryolo_coords(&text);
}

/// CTF files: RELION CTF STAR and CTFFIND output.
pub fn ctf(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = cryolens::ctf::parse_ctf_star(&text);
    let _ = cryolens::ctf::parse_ctffind(&text);
}

/// Picking session files (JSON), a loaded session written back.
pub fn session(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = PickSession::from_json(&text, Path::new("session.json")) {
        let _ = s.to_json();
    }
}
