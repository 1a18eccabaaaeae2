//! What each model-file (and wheel) fuzz target does with one input (see `fuzz/fuzz_targets/feed.rs`,
//! whose `TempInput` this uses): load it as opening a model does and ignore the result; a
//! panic is the bug. Shared by the targets in `fuzz/models/` and `tests/fuzz_regressions.rs`.

#![allow(dead_code)]

use cryolens::models::format;
use cryolens::models::{ModelSpec, load_topaz, topaz3d::load_topaz3d};

use super::feed::{Feed, TempInput};

/// The model-file fuzz targets, by name (the folders of `tests/data/fuzz-regressions/`).
pub const TARGETS: [(&str, Feed); 4] = [
    ("model_json", model_json),
    ("safetensors", safetensors),
    ("topaz_sav", topaz_sav),
    ("wheel", wheel),
];

/// The sidecar of the small affine model that the `safetensors` target loads weights for.
const AFFINE_SIDECAR: &str = include_str!("../../seeds/affine.json");

/// The CPU device (burn's Flex backend) the model loaders build networks on.
fn cpu() -> cryolens::device::ComputeDevice {
    cryolens::device::ComputeDevice::cpu("fuzz")
}

/// Model JSON sidecars: 2D, 3D and crefDenoiser, each followed by building the network the
/// JSON names and loading (empty) weights into it, as opening a model does.
pub fn model_json(data: &[u8]) {
    let input = TempInput::new("model.json", data);
    let weights = input.sibling("model.safetensors");
    let _ = format::read_meta::<serde_json::Value>(&weights);
    let _ = format::read_meta_3d::<serde_json::Value>(&weights);
    let _ = format::is_model_3d(&weights);
    std::fs::write(&weights, b"").expect("writing the empty weights");
    let device = cpu().burn;
    let _ = format::load_model::<serde_json::Value>(&weights, &device);
    let _ = format::load_wdsr_model::<serde_json::Value>(&weights, &device);
    let _ = format::load_model_3d::<serde_json::Value>(&weights, &device);
    let _ = format::load_cref_model(&weights.to_string_lossy(), &device);
}

/// Safetensors weights: the input is `NAME.safetensors` beside a valid sidecar of a 3×3
/// affine model, loaded with `models::load_topaz`.
pub fn safetensors(data: &[u8]) {
    let input = TempInput::new("model.safetensors", data);
    std::fs::write(input.sibling("model.json"), AFFINE_SIDECAR).expect("writing the sidecar");
    let _ = load_topaz(&input.path, &cpu().burn);
}

/// Topaz `.sav` weights (PyTorch pickles, legacy or zip): `models::load_topaz` (2D, the
/// architecture recognised from the state dict), and `load_topaz3d` when the state dict's
/// first convolution is 3D (`ModelSpec::is_volume_model`; the 3D network has 2.9 M
/// parameters, too slow to build for every input).
pub fn topaz_sav(data: &[u8]) {
    let input = TempInput::new("model.sav", data);
    let device = cpu().burn;
    let _ = load_topaz(&input.path, &device);
    if ModelSpec::File(input.path.clone()).is_volume_model() {
        let _ = load_topaz3d(&input.path, &device);
    }
}

/// Topaz wheels (zip): `models::install::extract_weights` into a temporary folder (with the
/// weights it extracts loaded as models, where the installer checks them).
pub fn wheel(data: &[u8]) {
    let input = TempInput::new("topaz_em.whl", data);
    let _ = cryolens::models::install::extract_weights(&input.path, &input.sibling("out"));
}
