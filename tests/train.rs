//! Noise2noise training (`cryolens::train`): learning on synthetic pairs with known signal,
//! checkpoint + resume = uninterrupted run, the saved model loads through `ModelSpec` and
//! denoises, the losses on known values, and clear errors for bad inputs.

use std::path::Path;
use std::sync::Arc;

use cryolens::denoise::{TileConfig, TopazDenoiser};
use cryolens::device::ComputeDevice;
use cryolens::image::Image;
use cryolens::jobs::Progress;
use cryolens::metrics::synthetic::{NoiseModel, SyntheticConfig, generate};
use cryolens::models::ModelSpec;
use cryolens::models::format;
use cryolens::train::{
    self, DataOptions, LossKind, OptimizerKind, PairSource, TrainConfig, TrainEnd, TrainRun,
    TrainShared, TrainingData, loss,
};

/// Synthetic pairs: smooth signal (σ 3 px, std 1) + independent Gaussian noise σ 1.5 per half.
fn synthetic_pairs(n: usize, size: usize) -> (Vec<PairSource>, Vec<Image>) {
    let mut sources = Vec::new();
    let mut signals = Vec::new();
    for i in 0..n {
        let set = generate(&SyntheticConfig {
            width: size,
            height: size,
            signal_sigma_px: 3.0,
            noise: NoiseModel::Gaussian { sigma: 1.5 },
            bias_std: 0.0,
            seed: 100 + i as u64,
            ..SyntheticConfig::default()
        });
        let [a, b] = set.noisy;
        sources.push(PairSource::InMemory {
            name: format!("synthetic {i}"),
            even: Arc::new(a),
            odd: Arc::new(b),
        });
        signals.push(set.signal);
    }
    (sources, signals)
}

fn tiny_config(epochs: u64) -> TrainConfig {
    TrainConfig {
        architecture: "affine".into(),
        loss: LossKind::L2,
        optimizer: OptimizerKind::Adam,
        learning_rate: 3e-3,
        epochs,
        steps_per_epoch: Some(10),
        data: DataOptions {
            crop_px: 48,
            batch: 4,
            holdout_fraction: 0.34,
            seed: 7,
            validation_crops: 8,
            ..DataOptions::default()
        },
        preview_size_px: 64,
        ..TrainConfig::default()
    }
}

fn run_to_end(run: &TrainRun) -> train::TrainOutcome {
    let shared = TrainShared::new();
    train::train(run, &ComputeDevice::flex("test"), &Progress::new(), &shared).expect("training")
}

fn run_in(dir: &Path, name: &str, config: TrainConfig, sources: Vec<PairSource>) -> TrainRun {
    TrainRun {
        config,
        sources,
        output: dir.join(format!("{name}.safetensors")),
        resume: false,
        command_line: "test".into(),
        notes: String::new(),
    }
}

/// Model output on a fixed input (compares two models' weights through what they compute).
fn outputs(path: &Path, input: &Image) -> Vec<f32> {
    let (model, _, _) = format::load_model::<TrainConfig>(path, &burn::prelude::Device::flex())
        .expect("load model");
    train::denoise_normalised(&model, input, &burn::prelude::Device::flex())
        .expect("forward")
        .data
}

#[test]
fn tiny_run_learns_and_saved_model_denoises() {
    let dir = tempfile::tempdir().unwrap();
    let (sources, signals) = synthetic_pairs(3, 128);
    let run = run_in(dir.path(), "affine-n2n", tiny_config(6), sources.clone());
    let out = run_to_end(&run);
    assert_eq!(out.end, TrainEnd::Completed);
    assert_eq!(out.steps, 60);
    let first = out.history.first().unwrap().validation_loss.unwrap();
    let last = out.final_validation_loss.unwrap();
    // Normalised halves: var 1 = signal share + noise share (noise 1.5² / (1 + 1.5²) ≈ 0.69).
    // An untrained random filter is far above; a learnt low-pass approaches the noise floor.
    assert!(
        last < 0.8 * first && last < 0.95,
        "validation loss {first} -> {last}"
    );
    assert!(out.history.iter().skip(1).all(|p| p.train_loss.is_some()));

    // The model and its JSON are written; ModelSpec takes the path; TopazDenoiser runs it.
    let weights = out.model_path.unwrap();
    let meta = format::read_meta::<TrainConfig>(&weights).unwrap();
    assert_eq!(meta.provenance.steps, 60);
    assert_eq!(meta.training.loss, LossKind::L2);
    assert_eq!(meta.data.validation_pairs, 1);
    let spec = ModelSpec::parse(weights.to_str().unwrap()).unwrap();
    let den = TopazDenoiser::load(&spec, &ComputeDevice::cpu("test")).unwrap();
    let Some(PairSource::InMemory { even, .. }) = sources.first() else {
        unreachable!()
    };
    let d = den
        .denoise(even, &TileConfig::default(), &Progress::new())
        .unwrap();
    assert_eq!((d.width, d.height), (even.width, even.height));
    let cc_raw = cryolens::metrics::correlation(even, &signals[0]).unwrap();
    let cc_den = cryolens::metrics::correlation(&d, &signals[0]).unwrap();
    assert!(
        cc_den > cc_raw + 0.1,
        "denoised cc with the truth {cc_den} vs raw {cc_raw}"
    );
}

#[test]
fn cancel_and_resume_equals_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (sources, _) = synthetic_pairs(3, 96);
    let mut config = tiny_config(3);
    config.optimizer = OptimizerKind::Adagrad;
    config.learning_rate = 1e-2;
    config.steps_per_epoch = Some(4);
    config.data.crop_px = 32;

    let full = run_to_end(&run_in(dir.path(), "full", config.clone(), sources.clone()));
    assert_eq!(full.steps, 12);

    // Cancel a background run after a few steps, then resume it to the end.
    let run = run_in(dir.path(), "resumed", config.clone(), sources.clone());
    let handle = train::start(run.clone(), ComputeDevice::flex("test"));
    while handle.status().step < 3 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    handle.cancel();
    let cancelled = handle.wait().unwrap();
    assert_eq!(cancelled.end, TrainEnd::Cancelled);
    assert!(cancelled.model_path.is_none());
    assert!(
        cancelled.steps >= 3 && cancelled.steps < 12,
        "{}",
        cancelled.steps
    );
    let resumed = run_to_end(&TrainRun {
        resume: true,
        ..run.clone()
    });
    assert_eq!(resumed.end, TrainEnd::Completed);
    assert_eq!(resumed.steps, 12);

    let probe = synthetic_pairs(1, 40).0.remove(0);
    let PairSource::InMemory { even, .. } = probe else {
        unreachable!()
    };
    let a = outputs(&full.model_path.unwrap(), &even);
    let b = outputs(&resumed.model_path.unwrap(), &even);
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-4, "resumed run differs by {max_diff}");
    // The metric history continues across the resume.
    let steps: Vec<u64> = resumed.history.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 4, 8, 12]);

    // Resuming with other settings is refused clearly.
    let mut other = run.clone();
    other.resume = true;
    other.config.learning_rate = 0.5;
    let shared = TrainShared::new();
    let err = train::train(&other, &ComputeDevice::flex("t"), &Progress::new(), &shared)
        .unwrap_err()
        .to_string();
    assert!(err.contains("other settings"), "{err}");
}

#[test]
fn losses_on_known_values() {
    let device = burn::prelude::Device::flex();
    let t = |v: &[f32]| {
        burn::prelude::Tensor::<1>::from_data(burn::prelude::TensorData::from(v), &device)
    };
    let p = [0.0f32, 1.0, 2.0, 3.0];
    let y = [1.0f32, 1.0, 1.0, 1.0];
    let val = |kind, gamma| {
        loss::loss(kind, t(&p), t(&y), gamma)
            .into_data()
            .iter::<f32>()
            .next()
            .unwrap() as f64
    };
    // d = (-1, 0, 1, 2): mean d² = 6/4, mean |d| = 4/4.
    assert!((val(LossKind::L2, 2.0) - 1.5).abs() < 1e-6);
    assert!((val(LossKind::L1, 2.0) - 1.0).abs() < 1e-6);
    // L0 with γ = 2 is L2, with γ = 1 is L1 (ε = 1e-8 is negligible here).
    assert!((val(LossKind::L0, 2.0) - 1.5).abs() < 1e-5);
    assert!((val(LossKind::L0, 1.0) - 1.0).abs() < 1e-5);
    // γ = 0.5: (1 + 0 + 1 + √2)/4, the zero residual contributing ε^0.5 = 1e-4.
    let expected = (2.0 + 2f64.sqrt() + 1e-4) / 4.0;
    assert!((val(LossKind::L0, 0.5) - expected).abs() < 1e-5);
    assert!((loss::loss_host(LossKind::L0, &p, &y, 0.5) - expected).abs() < 1e-7);
    // Annealing: γ goes 2 → 0 linearly over the run.
    assert_eq!(loss::l0_gamma(0, 100), 2.0);
    assert!((loss::l0_gamma(50, 100) - 1.0).abs() < 1e-12);
    assert!(loss::l0_gamma(99, 100) > 0.0);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let im =
        |w, h| Arc::new(Image::new(w, h, (0..w * h).map(|v| (v % 7) as f32).collect()).unwrap());
    let mismatched = vec![PairSource::InMemory {
        name: "pair".into(),
        even: im(64, 64),
        odd: im(64, 48),
    }];
    let err = TrainingData::new(mismatched, DataOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("different shapes") && err.contains("64×48"),
        "{err}"
    );

    let (sources, _) = synthetic_pairs(1, 64);
    let err = TrainingData::new(sources.clone(), DataOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("crop 800 px does not fit"), "{err}");

    let err = train::pairs_from_lists(&["a.mrc".into()], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 even files but 0 odd"), "{err}");
    let err = train::architecture_config("resnet")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown architecture"), "{err}");

    // Folder pairing: suffix conventions, and a half without its partner.
    let dir = tempfile::tempdir().unwrap();
    let write =
        |name: &str| cryolens::io::mrc::write_image(&dir.path().join(name), &im(32, 32)).unwrap();
    write("m1_EVN.mrc");
    write("m1_ODD.mrc");
    write("m2_even.mrc");
    write("m2_odd.mrc");
    let pairs = train::pairs_from_dir(dir.path()).unwrap();
    assert_eq!(pairs.len(), 2);
    write("m3_EVN.mrc");
    let err = train::pairs_from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("without a partner") && err.contains("m3_EVN"),
        "{err}"
    );

    // Count splitting refuses non-count data unless forced.
    let noncount = dir.path().join("float.mrc");
    let mut f = (*im(64, 64)).clone();
    f.data.iter_mut().for_each(|v| *v = *v * 1.37 + 10.3);
    cryolens::io::mrc::write_image(&noncount, &f).unwrap();
    let opts = DataOptions {
        crop_px: 16,
        holdout_fraction: 0.25,
        ..DataOptions::default()
    };
    let err = TrainingData::new(
        train::count_split_sources(std::slice::from_ref(&noncount), false),
        opts.clone(),
    )
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains("--force"), "{err:#}");
    let data =
        TrainingData::new(train::count_split_sources(&[noncount], true), opts.clone()).unwrap();
    // One pair: the bottom quarter of the rows is held out.
    assert!(matches!(data.holdout(), train::Holdout::BottomRows { .. }));
    assert_eq!(data.val_area(0), (0, 48, 64, 16));

    // An even/odd pair of 1.5 and 3 Å pixels is refused (as `analyze` refuses it), unless
    // forced; so is a pixel size of 1e30 Å.
    let write = |name: &str, p: f32| {
        let path = dir.path().join(name);
        cryolens::io::mrc::write_image(&path, &(*im(64, 64)).clone().with_pixel_size(Some(p)))
            .unwrap();
        path
    };
    let (even, odd) = (write("s_EVN.mrc", 1.5), write("s_ODD.mrc", 3.0));
    let pairs =
        train::pairs_from_lists(std::slice::from_ref(&even), std::slice::from_ref(&odd)).unwrap();
    let err = format!(
        "{:#}",
        TrainingData::new(pairs.clone(), opts.clone())
            .err()
            .unwrap()
    );
    assert!(
        err.contains("s_EVN.mrc") && err.contains("s_ODD.mrc") && err.contains("--force"),
        "{err}"
    );
    let analyze = cryolens::analysis::read_half_pair(&even, &odd, false).unwrap_err();
    assert!(format!("{analyze:#}").contains("--force"), "{analyze:#}");
    let forced = DataOptions {
        force_sampling: true,
        ..opts.clone()
    };
    assert!(TrainingData::new(pairs, forced).is_ok());
    let (even, odd) = (write("h_EVN.mrc", 1e30), write("h_ODD.mrc", 1e30));
    let pairs = train::pairs_from_lists(&[even], &[odd]).unwrap();
    let err = format!("{:#}", TrainingData::new(pairs, opts).err().unwrap());
    assert!(
        err.contains("e30") && err.contains("not plausible"),
        "{err}"
    );
}

#[test]
fn batches_are_reproducible_and_pairs_share_transforms() {
    let (sources, _) = synthetic_pairs(2, 64);
    let opts = DataOptions {
        crop_px: 24,
        batch: 3,
        holdout_fraction: 0.0,
        seed: 3,
        ..DataOptions::default()
    };
    let d1 = TrainingData::new(sources.clone(), opts.clone()).unwrap();
    let d2 = TrainingData::new(sources, opts).unwrap();
    assert_eq!(d1.train_batch(5).unwrap(), d2.train_batch(5).unwrap());
    assert_ne!(d1.train_batch(5).unwrap(), d1.train_batch(6).unwrap());
    // Halves of a pair come from the same place: their crops correlate like the full halves
    // (signal share ≈ 1/(1 + 1.5²) ≈ 0.31), not like unrelated crops.
    let b = d1.train_batch(0).unwrap();
    let n = b.crop_px * b.crop_px;
    for k in 0..b.n {
        let x = Image::new(b.crop_px, b.crop_px, b.a[k * n..(k + 1) * n].to_vec()).unwrap();
        let y = Image::new(b.crop_px, b.crop_px, b.b[k * n..(k + 1) * n].to_vec()).unwrap();
        let cc = cryolens::metrics::correlation(&x, &y).unwrap();
        assert!(cc > 0.1, "crop {k}: cc {cc}");
    }
}

#[test]
fn bundled_default_model_loads_by_name_and_beats_raw_and_low_pass_on_held_out_rows() {
    let name = format::BUNDLED_DEFAULT_MODEL;
    let spec = ModelSpec::parse(name).expect("bundled model found by name");
    let den = TopazDenoiser::load(&spec, &ComputeDevice::cpu("test")).unwrap();
    let meta = format::read_meta::<TrainConfig>(&spec.weights_path().unwrap()).unwrap();
    assert_eq!(meta.data.holdout, "bottom 25 % of the rows of every pair");
    // Rows 3000.. of fei-extended were held out from training (bottom 25 % = rows 2878..).
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc");
    let region = cryolens::io::read_micrograph(&path)
        .unwrap()
        .crop(1000, 3000, 512, 512);
    let split = cryolens::metrics::split_counts(
        &region,
        &cryolens::metrics::CountSplitOptions {
            force: true,
            seed: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let raw = cryolens::metrics::frank_al_ali_snr(&split.half1, &split.half2).unwrap();
    let eo = cryolens::metrics::topaz_even_odd_snr(&split.half1, &split.half2, |h| {
        den.denoise(h, &TileConfig::default(), &Progress::new())
    })
    .unwrap();
    let (raw_db, den_db) = (raw.snr_db.unwrap_or(-40.0), eo.snr_db.unwrap());
    assert!(
        den_db > raw_db + 3.0,
        "denoised {den_db} dB vs raw {raw_db} dB"
    );
    // The same measure for Gaussian low-passes of σ 2–16 px: the model beats the best of them.
    let best_lowpass_db = (2..=16)
        .step_by(2)
        .map(|sigma| {
            cryolens::metrics::topaz_even_odd_snr(&split.half1, &split.half2, |h| {
                Ok(cryolens::fourier::gaussian_lowpass(h, sigma as f32))
            })
            .unwrap()
            .snr_db
            .unwrap()
        })
        .fold(f64::NEG_INFINITY, f64::max);
    println!("raw {raw_db:.2} dB, best low-pass {best_lowpass_db:.2} dB, {name} {den_db:.2} dB");
    assert!(
        den_db > best_lowpass_db,
        "denoised {den_db} dB vs best low-pass {best_lowpass_db} dB"
    );
}

/// The step decay of the learning rate, the `wdsr`/`restore` architecture names, and JSONs
/// written before these options existed (the bundled model's) still load.
#[test]
fn step_decay_wdsr_names_and_old_jsons() {
    let d = train::StepDecay {
        factor: 0.25,
        every_epochs: 25,
    };
    assert_eq!(d.rate(1e-4, 0), 1e-4);
    assert_eq!(d.rate(1e-4, 24), 1e-4);
    assert_eq!(d.rate(1e-4, 25), 0.25e-4);
    assert_eq!(d.rate(1e-4, 99), 1e-4 * 0.25f64.powi(3));
    assert!(train::is_wdsr_architecture("wdsr") && train::is_wdsr_architecture("restore"));
    let restore = TrainConfig {
        architecture: "restore".into(),
        ..TrainConfig::restore()
    };
    assert!(matches!(
        train::resolve_architecture(&restore).unwrap(),
        format::ArchJson::Wdsr(c) if c == cryolens::models::wdsr::WdsrConfig::paper()
    ));
    assert!(matches!(
        train::resolve_architecture(&TrainConfig::default()).unwrap(),
        format::ArchJson::UnetSmall { .. }
    ));
    // A bad decay is refused before any work.
    let bad = TrainConfig {
        lr_decay: Some(train::StepDecay {
            factor: 0.0,
            every_epochs: 5,
        }),
        ..tiny_config(1)
    };
    let dir = tempfile::tempdir().unwrap();
    let (sources, _) = synthetic_pairs(3, 64);
    let err = train::train(
        &run_in(dir.path(), "bad", bad, sources),
        &ComputeDevice::flex("test"),
        &Progress::new(),
        &TrainShared::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("decay"), "{err}");

    // A JSON written before lr_decay, wdsr and restore preprocessing existed: the bundled
    // model's with those keys removed.
    let bundled = format::find_trained_model(format::BUNDLED_DEFAULT_MODEL).unwrap();
    let text = std::fs::read_to_string(format::meta_path(&bundled)).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let training = json["training"].as_object_mut().unwrap();
    training.remove("lr_decay");
    training.remove("wdsr");
    training["data"].as_object_mut().unwrap().remove("restore");
    let old = dir.path().join("old.safetensors");
    std::fs::copy(&bundled, &old).unwrap();
    let old_text = serde_json::to_string_pretty(&json).unwrap();
    assert!(!old_text.contains("lr_decay") && !old_text.contains("\"restore\""));
    std::fs::write(format::meta_path(&old), old_text).unwrap();
    let meta = format::read_meta::<TrainConfig>(&old).unwrap();
    assert_eq!(meta.training.lr_decay, None);
    assert_eq!(meta.training.wdsr, None);
    assert_eq!(meta.training.data.restore, None);
    assert_eq!(
        meta.training.learning_rate_at(100),
        meta.training.learning_rate
    );
}
