//! The NT2C window: the Training panel's NT2C… opens it; Run NT2C runs the pipeline on the open
//! micrograph (a crop of the real fei-extended exposure, CFTR's atomic model, a budget of
//! seconds) in the background, registers the fine denoiser, and shows each stage from the
//! work folder: background patches, real and synthesised noise with spectra and histograms,
//! the loss curves.
//!
//! With `CRYOLENS_NT2C_WORK=DIR` (the work folder of a full `cryolens nt2c` run) the window then
//! shows that run and `screenshots/nt2c-stages.png` is written from it.

use std::time::Duration;

use cryolens::gui::{Source, View};
use egui::Vec2;
use egui_kittest::kittest::Queryable;

use crate::harness::{harness_with_session, save_screenshot, setup, wait_for};

#[test]
fn nt2c_window_runs_the_pipeline_and_shows_every_stage() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    // SAFETY: tests hold the SERIAL lock taken by `setup`.
    unsafe { std::env::set_var("CRYOLENS_MODELS_DIR", &models) };
    let fei = cryolens::io::read_micrograph(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/micrographs/fei-extended/fei-extended.mrc"),
    )
    .unwrap();
    let mic = dir.path().join("fei_crop.mrc");
    cryolens::io::mrc::write_image(&mic, &fei.crop(1200, 1200, 640, 640)).unwrap();
    let mut h = harness_with_session(
        Source::File(mic.clone()),
        &dir.path().join("session.json"),
        Vec2::new(1400.0, 1100.0),
    );
    wait_for(&mut h, "the micrograph", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.image_size() == Some((640, 640))
    });
    let panel = h.state_mut().nt2c_panel();
    panel.set_atoms(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/atomic_models/6msm.pdb"),
    );
    panel.set_budget(2, 2, 3);
    panel.set_work_root(dir.path().join("nt2c"));
    panel.open = true;
    for _ in 0..3 {
        h.step();
    }
    h.get_by_label("Run NT2C").click();
    wait_for(&mut h, "NT2C", Duration::from_secs(300), |a| !a.is_busy());
    let panel = h.state_mut().nt2c_panel();
    assert_eq!(panel.error(), None);
    assert_eq!(panel.log_lines().len(), 7, "{:?}", panel.log_lines());
    let a = panel.artefacts().expect("the stages are shown");
    assert!(!a.patches.is_empty() && a.patch_px == 320);
    assert!(a.enhanced.as_ref().is_some_and(|(_, im)| im.width == 640));
    assert_eq!(a.synthetic_noise.len(), 64);
    assert!(!a.real_noise.is_empty() && a.real_noise[0].width == 64);
    assert_eq!(a.critic_loss.len(), 3);
    assert!(!a.validation[0].is_empty() && !a.validation[1].is_empty());
    assert!(a.report.is_some());
    // The fine denoiser is registered under the window's name.
    assert!(models.join("trained/nt2c.safetensors").is_file());
    h.step();
    h.get_by_label("Real noise (64² centres)");
    if let Some(work) = std::env::var_os("CRYOLENS_NT2C_WORK") {
        h.state_mut()
            .nt2c_panel()
            .show_work_folder(std::path::Path::new(&work))
            .unwrap();
        for _ in 0..4 {
            h.step();
        }
        save_screenshot(&mut h, "nt2c-stages.png");
        // Scrolled to the spectra, histograms and loss curves.
        h.hover_at(egui::pos2(300.0, 700.0));
        h.step();
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: Vec2::new(0.0, -900.0),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        });
        h.run_steps(60);
        save_screenshot(&mut h, "nt2c-stages-curves.png");
    }
    // SAFETY: as above.
    unsafe { std::env::remove_var("CRYOLENS_MODELS_DIR") };
}
