//! Topaz `.sav` weights (PyTorch pickles, legacy or zip): `models::load_topaz` (2D, the
//! architecture recognised from the state dict's keys and shapes), and `load_topaz3d` for
//! inputs whose state dict has a 3D first convolution (`ModelSpec::is_volume_model`; the 3D
//! network has 2.9 M parameters, too slow to build on every input).
#![no_main]

#[path = "common.rs"]
mod common;

use cryolens::models::{ModelSpec, load_topaz, topaz3d::load_topaz3d};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::temp_file("model.sav", data);
    let device = cryolens::device::ComputeDevice::cpu("fuzz").burn;
    let _ = load_topaz(&input.path, &device);
    if ModelSpec::File(input.path.clone()).is_volume_model() {
        let _ = load_topaz3d(&input.path, &device);
    }
});
