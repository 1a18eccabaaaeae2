//! Model JSON sidecars (`models::format`): 2D (`read_meta`), 3D (`read_meta_3d`,
//! `is_model_3d`) and crefDenoiser sidecars, each followed by building the network the JSON
//! names and loading (absent) weights into it, as opening a model does.
#![no_main]

#[path = "common.rs"]
mod common;

use cryolens::models::format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = common::temp_file("model.json", data);
    let weights = input.dir.path().join("model.safetensors");
    let _ = format::read_meta::<serde_json::Value>(&weights);
    let _ = format::read_meta_3d::<serde_json::Value>(&weights);
    let _ = format::is_model_3d(&weights);
    let device = cryolens::device::ComputeDevice::cpu("fuzz").burn;
    std::fs::write(&weights, b"").expect("writing the empty weights");
    let _ = format::load_model::<serde_json::Value>(&weights, &device);
    let _ = format::load_wdsr_model::<serde_json::Value>(&weights, &device);
    let _ = format::load_model_3d::<serde_json::Value>(&weights, &device);
    let _ = format::load_cref_model(&weights.to_string_lossy(), &device);
});
