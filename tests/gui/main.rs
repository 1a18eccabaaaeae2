//! GUI tests: the real `CryolensApp`, built as `gui::run` builds it, driven by egui_kittest and
//! rendered headless by egui-wgpu (lavapipe; `WGPU_BACKEND=vulkan` is set if unset).
//!
//! The tests check properties of rendered frames, not exact snapshots (software rendering and
//! timing text make pixel-exact snapshots flaky). They run one at a time (a global lock in
//! `harness::setup`) because some of them change the process environment (one points
//! `CRYOLENS_MODELS_DIR` at an empty folder).
//!
//! One module per concern: `harness` (building and driving the app), `measure` (statistics
//! of rendered frames), then the tests: `views`, `models`, `picking`, `heavy`, `analysis`, `compare`,
//! `volume`, `training`, `restore_ctf`, `gallery`, `live`, and the `#[ignore]`d `screenshots` writers.
//!
//! `cargo test --release --test gui -- --ignored --exact screenshots::screenshots` writes
//! `screenshots/*.png`.

mod analysis;
mod compare;
mod gallery;
mod harness;
mod heavy;
mod live;
mod measure;
mod models;
mod nt2c;
mod omezarr;
mod picking;
mod restore_ctf;
#[path = "../common/restore_model.rs"]
mod restore_model;
mod screenshots;
mod training;
mod truth;
mod views;
mod volume;
