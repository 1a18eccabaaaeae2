//! A simulated micrograph (`cryolens simulate`'s outputs) opened in the GUI: the comparison
//! shows the noise-free truth in its last pane and labels every other pane with its PSNR
//! and SSIM against it, the same numbers the library computes for those images.

use std::time::Duration;

use cryolens::gui::{Source, View};
use cryolens::metrics::truth::{psnr_db, ssim};
use cryolens::simulate::{self, SimulationConfig, Specimen, outputs};
use egui::{Key, Vec2};
use egui_kittest::kittest::Queryable;

use crate::harness::{harness_with_session, save_screenshot, setup, wait_for};

/// "… PSNR 21.30 dB · SSIM 0.612" → (21.30, 0.612).
fn scores(label: &str) -> (f64, f64) {
    let psnr = label.split("PSNR ").nth(1).expect(label);
    let psnr: f64 = psnr.split(" dB").next().unwrap().parse().unwrap();
    let ssim: f64 = label
        .split("SSIM ")
        .nth(1)
        .expect(label)
        .trim()
        .parse()
        .unwrap();
    (psnr, ssim)
}

#[test]
fn a_simulated_micrograph_is_compared_with_its_truth() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let model = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/atomic_models/6msm.pdb");
    // CFTR (128 kDa, ≈ 133 Å across) at 2 Å/px, 2 µm under focus: particles of ≈ 66 px.
    let config = SimulationConfig {
        size: 512,
        pixel_size_angstrom: 2.0,
        defocus_um: 2.0,
        b_factor: 50.0,
        particles: 5,
        seed: 11,
        ..SimulationConfig::new(Specimen::Atoms(model))
    };
    let sim = simulate::simulate(&config, &cryolens::jobs::Progress::new()).unwrap();
    let out = dir.path().join("sim");
    outputs::write_outputs(&out, &config, &sim).unwrap();
    assert_eq!(
        outputs::truth_beside(&out.join("even.mrc")),
        Some((out.join("truth.mrc"), 0.5))
    );
    assert_eq!(outputs::truth_beside(&out.join("truth.mrc")), None);

    let mut h = harness_with_session(
        Source::File(out.join("noisy.mrc")),
        &dir.path().join("session.json"),
        Vec2::new(1300.0, 800.0),
    );
    wait_for(
        &mut h,
        "the simulated micrograph",
        Duration::from_secs(60),
        |a| a.has_view(View::Raw) && a.viewer_rect().is_some(),
    );
    h.key_press(Key::Num3);
    wait_for(&mut h, "the low-pass", Duration::from_secs(60), |a| {
        a.has_view(View::Lowpass)
    });
    h.state_mut()
        .set_compare(true, &[View::Raw, View::Lowpass, View::Raw], false);
    wait_for(&mut h, "the scores", Duration::from_secs(60), |a| {
        let l = a.compare_labels();
        l.len() == 3 && l[..2].iter().all(|l| l.contains("SSIM"))
    });
    let labels = h.state().compare_labels().to_vec();
    assert!(labels[2].starts_with("Truth"), "{labels:?}");
    let (raw_psnr, raw_ssim) = scores(&labels[0]);
    let (low_psnr, low_ssim) = scores(&labels[1]);
    // The library's numbers for the raw micrograph.
    let noisy = cryolens::io::read_micrograph(&out.join("noisy.mrc")).unwrap();
    let truth = cryolens::io::read_micrograph(&out.join("truth.mrc")).unwrap();
    assert!(
        (raw_psnr - psnr_db(&noisy, &truth).unwrap()).abs() < 0.01,
        "{labels:?}"
    );
    assert!(
        (raw_ssim - ssim(&noisy, &truth).unwrap()).abs() < 0.001,
        "{labels:?}"
    );
    // The low-pass pane's numbers are the library's for the low-passed micrograph (at this
    // dose the 4× binning throws away more true detail, CTF rings included, than noise).
    let low = cryolens::fourier::bin_lowpass(&noisy, h.state().lowpass_factor());
    assert!(
        (low_psnr - psnr_db(&low, &truth).unwrap()).abs() < 0.01,
        "{labels:?}"
    );
    assert!(
        (low_ssim - ssim(&low, &truth).unwrap()).abs() < 0.001,
        "{labels:?}"
    );
    assert!(raw_ssim < 1.0 && low_ssim < raw_ssim, "{labels:?}");
    save_screenshot(&mut h, "compare-truth.png");
}

/// Simulate… in the GUI: the window's button runs the simulation in the background, and the
/// simulated micrograph opens with its truth.
#[test]
fn simulate_window_makes_and_opens_a_micrograph_with_its_truth() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with_session(
        Source::Sample,
        &dir.path().join("session.json"),
        Vec2::new(1300.0, 800.0),
    );
    wait_for(&mut h, "the sample", Duration::from_secs(60), |a| {
        a.has_view(View::Raw)
    });
    let panel = h.state_mut().simulate_panel();
    panel.set_atoms(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/atomic_models/6msm.pdb"),
    );
    panel.set_field(384, 3);
    panel.set_output_root(dir.path().join("simulations"));
    h.get_by_label("Simulate…").click();
    for _ in 0..3 {
        h.step();
    }
    save_screenshot(&mut h, "simulate-window.png");
    h.get_by_label("Simulate").click();
    wait_for(
        &mut h,
        "the simulated micrograph",
        Duration::from_secs(120),
        |a| a.image_size() == Some((384, 384)) && a.has_view(View::Raw),
    );
    let out = dir.path().join("simulations/6msm-384px-seed1");
    assert!(out.join("truth.mrc").is_file() && out.join("simulation.json").is_file());
    assert_eq!(h.state_mut().simulate_panel().error(), None);
    h.state_mut()
        .set_compare(true, &[View::Raw, View::Raw], false);
    wait_for(&mut h, "the truth pane", Duration::from_secs(60), |a| {
        let l = a.compare_labels();
        l.len() == 2 && l[1].starts_with("Truth") && l[0].contains("SSIM")
    });
}
