//! Training from the GUI: the training panel's start, pause, continue, cancel, resume and
//! finish on the sample; crefDenoiser training in the Half-maps tab on synthetic half-maps of
//! the 80S ribosome, its evaluation numbers, and opening the denoised map.

use std::path::Path;
use std::time::Duration;

use cryolens::gui::{CryolensApp, Source, View};
use egui::{Key, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::harness::{harness_with_session, save_screenshot, setup, started_app, wait_for};

/// The training panel drives a tiny run on the sample: start, pause, continue, cancel (a
/// checkpoint is kept), resume, finish; the model file is written and the curves filled.
#[test]
fn training_panel_start_pause_cancel_resume_finish() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with_session(
        Source::Sample,
        &dir.path().join("session.json"),
        Vec2::new(1200.0, 900.0),
    );
    wait_for(
        &mut h,
        "the sample and device",
        Duration::from_secs(60),
        |a| a.has_view(View::Raw) && a.device_description().is_some(),
    );
    h.key_press(Key::T);
    h.step();
    let model = dir.path().join("gui-tiny.safetensors");
    {
        let t = h.state_mut().training_panel();
        t.config.architecture = "affine".into();
        t.config.data.crop_px = 64;
        t.config.data.batch = 2;
        t.config.epochs = 2;
        t.config.steps_per_epoch = Some(300);
        t.config.validate_every_steps = 50;
        t.config.preview_every_steps = 50;
        t.config.checkpoint_every_steps = 50;
        t.config.preview_size_px = 64;
        t.force_split = true;
        t.name = model.display().to_string();
    }
    h.step();
    h.get_by_label("Start training").click();
    h.step();
    h.step();
    assert!(
        h.state().training_outcome().is_none(),
        "{:?}",
        h.state().training_outcome()
    );
    h.get_by_label("Pause").click();
    h.step();
    h.step();
    let steps = |h: &Harness<'_, CryolensApp>| h.state().training_status().map(|s| s.0);
    std::thread::sleep(Duration::from_millis(500));
    h.step();
    let paused_at = steps(&h);
    std::thread::sleep(Duration::from_millis(800));
    h.step();
    assert_eq!(steps(&h), paused_at, "paused: no steps");
    h.get_by_label("Continue").click();
    h.step();
    wait_for(&mut h, "a few steps", Duration::from_secs(120), |a| {
        !h_history_empty(a)
    });
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        // Mid-run: after two previews.
        wait_for(&mut h, "two previews", Duration::from_secs(120), |a| {
            a.training_status().is_some_and(|(s, _)| s >= 120)
        });
        h.get_by_label("Pause").click();
        h.step();
        h.remove_cursor();
        h.step();
        h.step();
        save_screenshot(&mut h, "training-panel.png");
        h.get_by_label("Continue").click();
        h.step();
    }
    h.get_by_label("Cancel training").click();
    wait_for(&mut h, "the cancel", Duration::from_secs(120), |a| {
        outcome(a).is_some()
    });
    let msg = outcome(h.state()).unwrap();
    assert!(
        msg.contains("Cancelled") || msg.contains("Model written"),
        "{msg}"
    );
    if msg.contains("Cancelled") {
        assert!(!model.exists());
        h.get_by_label("Resume").click();
        h.step();
        wait_for(&mut h, "the resumed run", Duration::from_secs(300), |a| {
            outcome(a).is_some()
        });
        let msg = outcome(h.state()).unwrap();
        assert!(msg.contains("Model written"), "{msg}");
    }
    assert!(model.is_file(), "model written");
    assert!(model.with_extension("json").is_file());
}

fn h_history_empty(a: &CryolensApp) -> bool {
    a.training_status().is_none_or(|(step, _)| step == 0)
}

fn outcome(a: &CryolensApp) -> Option<String> {
    a.training_outcome()
}

/// The Half-maps tab's "Train crefDenoiser" button: a one-epoch run on a 32³ crop of
/// synthetic half-maps of the 80S ribosome (known truth) shows progress, then the curves and
/// the evaluation numbers, and "Open denoised map" opens the result in the volume viewer;
/// "Apply model" then applies a saved crefDenoiser to the same half-maps without training.
#[test]
fn cref_training_in_the_half_maps_tab() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let map = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/maps/zarr_particle_tools/ribo80s_emd_3883_866_64_resized.mrc");
    let (_, full) = cryolens::io::read(&map).unwrap();
    // Central 32³ crop: a tiny map keeps the run short.
    let mut data = Vec::with_capacity(32 * 32 * 32);
    for z in 16..48 {
        for y in 16..48 {
            let row = (z * 64 + y) * 64;
            data.extend_from_slice(&full.data[row + 16..row + 48]);
        }
    }
    let truth = cryolens::image::Volume {
        width: 32,
        height: 32,
        depth: 32,
        data,
        pixel_size_angstrom: full.pixel_size_angstrom,
    };
    let snr = |f: f64| 20.0 * (-(f / 0.2).powi(2)).exp();
    let halves = cryolens::analysis::halfmap::synthetic_half_maps(&truth, snr, 5).unwrap();
    let (a, b, t) = (
        dir.path().join("half1.mrc"),
        dir.path().join("half2.mrc"),
        dir.path().join("truth.mrc"),
    );
    cryolens::io::mrc::write_volume(&a, &halves.halves.half1).unwrap();
    cryolens::io::mrc::write_volume(&b, &halves.halves.half2).unwrap();
    cryolens::io::mrc::write_volume(&t, &truth).unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1400.0, 950.0),
        "the sample",
        |a| a.has_view(View::Raw),
    );
    h.state_mut().open_half_maps(&a, &b).unwrap();
    h.state_mut().set_cref_truth(&t).unwrap();
    {
        let p = h.state_mut().cref_panel_mut();
        p.epochs = 1;
        p.patch_px = 32;
        p.patches_per_epoch = 2;
    }
    h.step();
    h.get_by_label("Train crefDenoiser").click();
    h.step();
    assert!(h.state().is_cref_training(), "{:?}", h.state().error());
    h.step();
    assert!(h.query_by_label("Cancel training").is_some());
    wait_for(
        &mut h,
        "crefDenoiser training",
        Duration::from_secs(300),
        |a| !a.is_cref_training(),
    );
    let r = h
        .state()
        .cref_result()
        .cloned()
        .expect("a crefDenoiser result");
    assert_eq!(r.epochs_run, 1);
    let e = &r.evaluation;
    assert!(e.rmse_identity.is_finite() && e.rmse_denoised.is_finite());
    assert!(e.denoised_vs_truth_curve.is_some() && !e.fsc_fd_curve.rings.is_empty());
    assert!(e.mean_fsc_denoised_vs_truth.is_some_and(|v| v.is_finite()));
    assert_eq!(
        (r.denoised.width, r.denoised.height, r.denoised.depth),
        (32, 32, 32)
    );
    assert!(
        h.query_by_label_contains("RMSE(FSC_FD^2, C_ref^2)")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("against the truth: FSC-0.5")
            .is_some()
    );
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "cref-halfmaps.png");
    }
    h.get_by_label("Open denoised map").click();
    wait_for(&mut h, "the denoised map", Duration::from_secs(60), |a| {
        a.section().is_some_and(|(depth, _)| depth == 32)
    });
    // "Apply model": a saved (untrained) published crefDenoiser on the same half-maps.
    let weights = dir.path().join("cref-random.safetensors");
    let model = cryolens::models::cref::CrefUNet::new(
        cryolens::models::cref::CrefConfig::default(),
        &burn::prelude::Device::flex(),
    );
    let meta = cryolens::models::format::cref::imported_cref_meta(&model, dir.path());
    cryolens::models::format::save_cref_model(&model, &meta, &weights).unwrap();
    h.state_mut().cref_panel_mut().model_name = weights.display().to_string();
    h.step();
    h.get_by_label("Apply model").click();
    h.step();
    wait_for(
        &mut h,
        "applying the model",
        Duration::from_secs(120),
        |a| !a.is_cref_training() && a.cref_result().is_some_and(|r| r.applied_model.is_some()),
    );
    let r = h.state().cref_result().cloned().unwrap();
    assert_eq!(r.epochs_run, 0);
    assert_eq!(
        (r.denoised.width, r.denoised.height, r.denoised.depth),
        (32, 32, 32)
    );
    assert!(r.evaluation.rmse_denoised.is_finite());
    h.step();
    assert!(h.query_by_label_contains("applied ").is_some());
}
