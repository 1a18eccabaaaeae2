//! Export of 2D models as Topaz-loadable PyTorch state dicts: the exported file must load back
//! (through the same reader that loads Topaz's own `.sav` files) into a model that computes
//! exactly what the original computes, with Topaz's parameter names.

mod common;

use burn::prelude::Device;
use cryolens::models::export::{export_topaz, topaz_state_dict};
use cryolens::models::format::BUNDLED_DEFAULT_MODEL;
use cryolens::models::{TopazArch, load_topaz};
use cryolens::paths::bundled_models_dir;

/// A 96×96 crop of the real micrograph, standardised.
fn crop() -> cryolens::image::Image {
    let m =
        cryolens::io::read_micrograph(&common::data("micrographs/fei-extended/fei-extended.mrc"))
            .expect("read fei-extended");
    let (x0, y0, n) = (1000, 1200, 96);
    let mut v = Vec::with_capacity(n * n);
    for y in y0..y0 + n {
        v.extend_from_slice(&m.data[y * m.width + x0..y * m.width + x0 + n]);
    }
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let v = v.iter().map(|&x| ((x as f64 - mean) / sd) as f32).collect();
    cryolens::image::Image::new(n, n, v).unwrap()
}

fn round_trip(weights: &std::path::Path) {
    let device = Device::flex();
    let (model, config) = load_topaz(weights, &device).expect("load original");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exported.pt");
    export_topaz(&model, &out).expect("export");
    let (back, back_config) = load_topaz(&out, &device).expect("load the export");
    assert_eq!(
        config, back_config,
        "architecture recognised from the export"
    );
    let a = topaz_state_dict(&model).unwrap();
    let b = topaz_state_dict(&back).unwrap();
    assert_eq!(a, b, "every parameter survives the round trip bit for bit");
    let image = crop();
    let ya = cryolens::train::denoise_normalised(&model, &image, &device).unwrap();
    let yb = cryolens::train::denoise_normalised(&back, &image, &device).unwrap();
    assert_eq!(ya.data, yb.data);
    assert!(ya.stats().std > 0.0);
}

#[test]
fn bundled_model_round_trips_through_a_topaz_state_dict() {
    let path = bundled_models_dir().join(format!("{BUNDLED_DEFAULT_MODEL}.safetensors"));
    round_trip(&path);
    let (model, _) = load_topaz(&path, &Device::flex()).unwrap();
    let names: Vec<String> = topaz_state_dict(&model)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    // Topaz's UDenoiseNetSmall names (Sequential indices skip the LeakyReLU layers).
    for expected in ["enc1.0.weight", "dec3.2.weight", "dec1.4.bias"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[test]
fn topaz_pretrained_models_round_trip() {
    common::ensure_topaz_weights();
    for arch in [TopazArch::Affine, TopazArch::Fcnn, TopazArch::UNet] {
        let path = cryolens::paths::topaz_dir().join(arch.weights_file());
        round_trip(&path);
    }
}
