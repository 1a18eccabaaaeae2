//! Shared helpers for integration tests: the `cryolens` binary and its failures, paths to the
//! shared real data and golden outputs, and the Topaz weights (installed on first use with `cryolens models install topaz`'s code).

#![allow(dead_code)]

pub mod coord_files;
pub mod restore_data;
pub mod restore_model;

use std::path::PathBuf;
use std::sync::Once;

use cryolens::jobs::Progress;
use cryolens::models::{self, install};

/// The `cryolens` binary of this build, as a command to complete and run.
pub fn cryolens() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_cryolens"))
}

/// Asserts that a run of the binary failed with `expected` in its stderr and without a panic;
/// returns the stderr.
pub fn assert_clear_failure(run: &std::process::Output, expected: &str) -> String {
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(!run.status.success(), "succeeded; stderr: {stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

/// Asserts that a run of the binary succeeded (showing its stdout and stderr when not);
/// returns the stdout.
pub fn assert_success(run: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "failed; stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

/// `../shared/data/...` relative to the crate root.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data")
        .join(rel)
}

/// `../shared/golden/...` relative to the crate root.
pub fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/golden")
        .join(rel)
}

static INSTALL: Once = Once::new();

/// Makes sure Topaz's pretrained 2D weights are installed (pip download of the topaz-em wheel
/// on a fresh machine, as `cryolens models install topaz` does). Panics with the installer's
/// message if that is impossible: the parity tests cannot run without Topaz's weights.
pub fn ensure_topaz_weights() {
    INSTALL.call_once(|| {
        if models::installed_topaz_models().len() >= 4 {
            return;
        }
        let progress = Progress::new();
        if let Err(e) = install::install_topaz(
            &install::WheelSource::default(),
            &cryolens::paths::topaz_dir(),
            &progress,
        ) {
            panic!("Topaz weights are needed for this test and could not be installed: {e:#}");
        }
    });
}

/// `golden:NAME` → `../shared/golden/NAME`, anything else → `../shared/data/...`.
pub fn golden_or_data(spec: &str) -> PathBuf {
    match spec.strip_prefix("golden:") {
        Some(name) => golden(name),
        None => data(spec),
    }
}

/// The voxels of `v` inside `region` (`[z, y, x]` ranges), in `[z][y][x]` order.
pub fn voxels_in(
    v: &cryolens::image::Volume,
    region: &cryolens::models::topaz3d::VoxelBox,
) -> Vec<f32> {
    let mut out = Vec::new();
    for z in region[0].clone() {
        for y in region[1].clone() {
            let row = (z * v.height + y) * v.width;
            out.extend_from_slice(&v.data[row + region[2].start..row + region[2].end]);
        }
    }
    out
}

/// Max |a − b| / σ(b): the largest difference in units of the reference's standard deviation.
pub fn max_rel_diff(a: &cryolens::image::Image, b: &cryolens::image::Image) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let sigma = b.stats().std;
    let max = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max);
    max / sigma
}
