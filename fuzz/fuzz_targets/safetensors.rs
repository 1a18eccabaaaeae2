//! Safetensors weights of a Cryolens model: the input is `NAME.safetensors` beside a fixed,
//! valid sidecar of the small affine 2D model, loaded with `models::load_topaz`.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

const SIDECAR: &str = include_str!("../seeds/affine.json");

fuzz_target!(|data: &[u8]| {
    let input = common::temp_file("model.safetensors", data);
    std::fs::write(input.dir.path().join("model.json"), SIDECAR).expect("writing the sidecar");
    let device = cryolens::device::ComputeDevice::cpu("fuzz").burn;
    let _ = cryolens::models::load_topaz(&input.path, &device);
});
