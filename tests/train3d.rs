//! 3D noise2noise training (`cryolens::train::trainer3d`, issue 7) on even/odd tomograms with a
//! known truth. No real even/odd tomograms are available offline, so the truth S is the real
//! tomogram crop `../shared/golden/particleannotation_3d.mrc` (202×115×112, z y x) low-passed
//! by exp(−(f/0.08)²) (f in cycles/voxel; `halfmap::radial_filter`): the crop's own high
//! frequencies are noise (blurring it by a 1-voxel Gaussian leaves a correlation of 0.40 with
//! itself), so a denoiser could not approach it. Each half is S plus its own white Gaussian
//! noise of σ = 2 σ_S (correlation with S ≈ 1/√5 ≈ 0.45), as in a tomogram whose signal lies at
//! low frequencies under white shot noise.
//!
//! A few steps of the tiny 3D U-net (`unet-3d-tiny`, 32³ crops) must lower the validation loss
//! on the held-out slab and denoise that slab (never trained on) much closer to S than the
//! noisy half is; the saved model, found through `ModelSpec` and loaded by the tomogram
//! denoiser, must reproduce the network the run ended with.

mod common;

use cryolens::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
use cryolens::device::ComputeDevice;
use cryolens::image::{Image, Volume};
use cryolens::jobs::Progress;
use cryolens::models::ModelSpec;
use cryolens::models::topaz3d::Kernels3d;
use cryolens::models::{format, load_any_3d};
use cryolens::rng::Rng;
use cryolens::train::{
    CubeSymmetry, LossKind, OptimizerKind, Train3dConfig, Train3dRun, TrainEnd, VolumePairData,
    check_pair, start_3d,
};

use burn::prelude::*;

/// The real tomogram crop.
fn real() -> Volume {
    let (_, v) = cryolens::io::read(&common::golden("particleannotation_3d.mrc"))
        .expect("read the real tomogram crop");
    assert_eq!((v.depth, v.height, v.width), (202, 115, 112));
    v
}

/// The truth: the real crop low-passed by exp(−(f/0.08)²).
fn truth() -> Volume {
    cryolens::analysis::halfmap::radial_filter(&real(), |f| (-(f / 0.08).powi(2)).exp())
}

/// `truth` plus white Gaussian noise of σ = `factor` × σ(truth), stream `stream` of seed 7.
fn noisy(truth: &Volume, factor: f64, stream: u64) -> Volume {
    let sigma = factor * cryolens::image::stats_of(&truth.data).std;
    let mut rng = Rng::stream(7, stream);
    Volume {
        data: truth
            .data
            .iter()
            .map(|&v| (v as f64 + sigma * rng.normal()) as f32)
            .collect(),
        ..truth.clone()
    }
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let img = |v: &[f32]| Image::new(v.len(), 1, v.to_vec()).expect("image");
    cryolens::metrics::correlation(&img(a), &img(b)).expect("correlation")
}

fn tiny_config() -> Train3dConfig {
    Train3dConfig {
        architecture: "unet-3d-tiny".into(),
        loss: LossKind::L2,
        optimizer: OptimizerKind::Adam,
        learning_rate: 3e-3,
        epochs: 3,
        steps_per_epoch: 10,
        batch: 1,
        crop_voxels: 32,
        holdout_fraction: 0.1,
        validation_crops: 4,
        both_directions: false,
        ..Train3dConfig::default()
    }
}

#[test]
fn training_lowers_validation_loss_denoises_towards_truth_and_round_trips() {
    let s = truth();
    let (even, odd) = (noisy(&s, 2.0, 1), noisy(&s, 2.0, 2));
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("tiny3d.safetensors");
    let names = ["even (S + N1)".to_string(), "odd (S + N2)".to_string()];
    let cfg = tiny_config();
    let run = Train3dRun {
        config: cfg.clone(),
        even: even.clone(),
        odd: odd.clone(),
        names: names.clone(),
        output: output.clone(),
        command_line: "tests/train3d.rs".into(),
        notes: "low-passed particleannotation_3d + white noise 2 σ per half".into(),
    };
    let handle = start_3d(run, ComputeDevice::cpu("test"));
    let shared = handle.shared().clone();
    let outcome = handle.wait().expect("training runs");
    assert_eq!(outcome.end, TrainEnd::Completed);
    assert_eq!(outcome.steps, 30);

    // Validation loss on the held-out slab: one point per epoch plus the start, decreasing.
    let vals: Vec<f64> = outcome
        .history
        .iter()
        .filter_map(|p| p.validation_loss)
        .collect();
    assert_eq!(vals.len(), 4, "history {:?}", outcome.history);
    let (first, last) = (vals[0], vals[3]);
    println!("validation loss {vals:?}");
    assert!(
        last < 0.92 * first,
        "validation loss did not fall: {first:.4} → {last:.4}"
    );

    // The saved model is found and loaded as a 3D model.
    let spec = ModelSpec::parse(output.to_str().expect("utf-8 path")).expect("spec");
    assert!(spec.is_volume_model());
    let device = ComputeDevice::cpu("test");
    let denoiser = Topaz3dDenoiser::load(&spec, &device).expect("load the trained model");
    assert!(
        denoiser.describe().contains("6 filters"),
        "{}",
        denoiser.describe()
    );
    let meta = format::read_meta_3d::<Train3dConfig>(&output).expect("meta");
    assert_eq!(meta.provenance.steps, 30);
    assert_eq!(meta.volume_shape, [202, 115, 112]);
    assert_eq!(meta.training, cfg);

    // The held-out slab (never a training crop) denoised by the saved model is closer to the
    // truth than the noisy half.
    let data = VolumePairData::new(&even, &odd, &names, &cfg).expect("data");
    let slab = data.holdout_box().expect("holdout").clone();
    assert_eq!(slab, [170..202, 0..115, 0..112]);
    let den = denoiser
        .denoise_region(&even, &VolumeTileConfig::default(), &slab, &Progress::new())
        .expect("denoise the slab");
    let truth_slab = common::voxels_in(&s, &slab);
    let (c_noisy, c_den) = (
        correlation(&common::voxels_in(&even, &slab), &truth_slab),
        correlation(&den, &truth_slab),
    );
    println!(
        "correlation with the truth on the held-out slab: noisy {c_noisy:.4}, denoised {c_den:.4}"
    );
    assert!(
        c_den > c_noisy + 0.2,
        "denoised slab correlates {c_den:.4} with the truth, the noisy half {c_noisy:.4}"
    );

    // Round trip: the last preview was made with the in-memory network at the end of the run
    // (middle section of the first validation crop); the saved model reproduces it.
    let preview = shared.preview().expect("preview");
    assert_eq!(preview.step, 30);
    let (model, _) = load_any_3d(&spec, &device.burn).expect("load the network itself");
    let (a, _) = data.crop_pair(data.validation_origins()[0], CubeSymmetry(0));
    let c = cfg.crop_voxels;
    let x = Tensor::<5>::from_data(TensorData::new(a, [1, 1, c, c, c]), &device.burn);
    let out = model
        .forward_regions(x, &[[0..c, 0..c, 0..c]], Kernels3d::NativeCpu)
        .remove(0)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output");
    let mid = &out[c / 2 * c * c..(c / 2 + 1) * c * c];
    let max = mid
        .iter()
        .zip(&preview.denoised.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max < 1e-6,
        "saved model differs from the trained one by {max}"
    );

    // Saving the loaded model again gives a file that loads to the same outputs.
    let again = dir.path().join("again.safetensors");
    format::save_model_3d(&model, &meta, &again).expect("save again");
    let (model2, meta2) = format::load_model_3d(&again, &device.burn).expect("load again");
    assert_eq!(meta2, meta);
    let (a, _) = data.crop_pair(data.validation_origins()[0], CubeSymmetry(0));
    let x = Tensor::<5>::from_data(TensorData::new(a, [1, 1, c, c, c]), &device.burn);
    let out2 = model2
        .forward_regions(x, &[[0..c, 0..c, 0..c]], Kernels3d::NativeCpu)
        .remove(0)
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 output");
    assert_eq!(out, out2);
}

#[test]
fn mismatched_or_unusable_halves_are_refused_clearly() {
    let s = real();
    let names = ["a_EVN.mrc".to_string(), "a_ODD.mrc".to_string()];
    // Different shapes: the error names both files.
    let mut smaller = s.clone();
    smaller.depth = 201;
    smaller.data.truncate(201 * 115 * 112);
    let e = check_pair(&s, &smaller, &names).expect_err("shape mismatch");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("a_EVN.mrc") && msg.contains("a_ODD.mrc"),
        "{msg}"
    );
    assert!(msg.contains("202") && msg.contains("201"), "{msg}");
    // Different voxel sizes.
    let coarse = Volume {
        pixel_size_angstrom: Some(20.0),
        ..s.clone()
    };
    let fine = Volume {
        pixel_size_angstrom: Some(10.0),
        ..s.clone()
    };
    let e = check_pair(&fine, &coarse, &names).expect_err("voxel size mismatch");
    assert!(format!("{e:#}").contains("voxel size"), "{e:#}");
    // The same checks guard the data set and the run.
    let cfg = tiny_config();
    assert!(VolumePairData::new(&s, &smaller, &names, &cfg).is_err());
    // Crops below 32 voxels, or too large for the volume and its held-out slab.
    for crop in [16, 120] {
        let cfg = Train3dConfig {
            crop_voxels: crop,
            ..tiny_config()
        };
        assert!(
            VolumePairData::new(&s, &s, &names, &cfg).is_err(),
            "crop {crop}"
        );
    }
    // A 2D model cannot train or denoise volumes.
    let Err(e) = load_any_3d(&ModelSpec::parse("unet").expect("spec"), &Device::flex()) else {
        panic!("a 2D model was accepted as a 3D one");
    };
    assert!(format!("{e:#}").contains("2D model"), "{e:#}");
}

#[test]
fn batches_depend_on_seed_and_step_only_and_stay_out_of_the_held_out_slab() {
    let s = real();
    // Mark the held-out slab: with augmentation off, every training crop must come from
    // voxels with z < 170, so crops of a volume holding z as its value stay below 170.
    let zvol = Volume {
        data: (0..s.data.len())
            .map(|i| (i / (115 * 112)) as f32)
            .collect(),
        ..s.clone()
    };
    let names = ["z".to_string(), "z".to_string()];
    let cfg = Train3dConfig {
        augment: false,
        batch: 3,
        ..tiny_config()
    };
    let data = VolumePairData::new(&zvol, &zvol, &names, &cfg).expect("data");
    let mean = zvol.data.iter().map(|&v| v as f64).sum::<f64>() / zvol.data.len() as f64;
    let var = zvol
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / zvol.data.len() as f64;
    let limit = ((170.0 - mean) / var.sqrt()) as f32;
    for step in 0..20 {
        let b = data.train_batch(step);
        assert_eq!(b.a.len(), 3 * 32 * 32 * 32);
        assert!(b.a.iter().all(|&v| v < limit), "step {step} reads the slab");
    }
    let cfg_aug = tiny_config();
    let d1 = VolumePairData::new(&s, &noisy(&s, 1.0, 3), &names, &cfg_aug).expect("data");
    let d2 = VolumePairData::new(&s, &noisy(&s, 1.0, 3), &names, &cfg_aug).expect("data");
    assert_eq!(d1.train_batch(5).a, d2.train_batch(5).a);
    assert_eq!(d1.train_batch(5).b, d2.train_batch(5).b);
    assert_ne!(d1.train_batch(5).a, d1.train_batch(6).a);
    // Validation crops lie inside the slab.
    for o in data.validation_origins() {
        assert!(o[0] >= 170 && o[0] + 32 <= 202, "{o:?}");
    }
}
