//! The analysis panel: count splitting refused on non-count data then forced, FRC / SSNR /
//! spectra tabs, CSV export, the 2D spectrum with CTF rings from a RELION STAR, region
//! labelling; half-map FSC against a known crossing; one SSNR and signal / noise / bias curve
//! per comparison pane.

use std::path::Path;
use std::time::Duration;

use cryolens::gui::{Source, View};
use egui::{Key, Vec2};
use egui_kittest::kittest::Queryable;

use crate::harness::{
    click, harness_with_session, save_screenshot, screen_of, setup, started_app, wait_for,
};

#[test]
fn analysis_panel_refuses_non_counts_then_measures_forced_split() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let session_file = dir.path().join("session.json");
    let mut h = harness_with_session(Source::Sample, &session_file, Vec2::new(1300.0, 900.0));
    wait_for(&mut h, "the sample to show", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    });
    h.key_press(Key::A);
    h.step();
    h.get_by_label("denoise halves").click();
    h.step();
    h.get_by_label("Analyse").click();
    h.step();
    wait_for(&mut h, "the analysis", Duration::from_secs(120), |a| {
        !a.is_analysing()
    });
    // The sample's values are not on one gain lattice: count splitting is refused, clearly.
    assert!(h.state().analysis().is_none());
    let err = h
        .state()
        .analysis_error()
        .expect("refusal shown")
        .to_string();
    assert!(
        err.contains("force"),
        "the refusal says how to force it: {err}"
    );
    h.get_by_label("force count split").click();
    h.step();
    h.get_by_label("Analyse").click();
    h.step();
    wait_for(
        &mut h,
        "the forced analysis",
        Duration::from_secs(120),
        |a| !a.is_analysing(),
    );
    let a = h.state().analysis().expect("analysis done").clone();
    assert!(
        a.raw_snr.snr > 0.0 && a.raw_snr.snr < 1.0,
        "{:?}",
        a.raw_snr
    );
    assert!(a.pixel_size_angstrom.is_some());
    assert!(a.raw_frc.rings.len() > 100);
    // Raw halves of a counting exposure: FRC high at low frequency, ≈ 0 near Nyquist.
    let n = a.raw_frc.rings.len();
    let low: f64 = a.raw_frc.rings[..5]
        .iter()
        .map(|r| r.value.frc)
        .sum::<f64>()
        / 5.0;
    let high: f64 = a.raw_frc.rings[n - 20..]
        .iter()
        .map(|r| r.value.frc)
        .sum::<f64>()
        / 20.0;
    assert!(low > 0.2 && high.abs() < 0.05, "FRC low {low}, high {high}");
    assert!(a.spectra[0].as_ref().is_some_and(|s| s.len() > 100));
    // Every plot tab draws.
    for tab in ["Power spectra", "SSNR", "Signal / noise / bias", "FRC"] {
        h.get_by_label(tab).click();
        h.step();
    }
    let csv = h.state_mut().export_analysis_csv().unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("frequency_per_angstrom,resolution_angstrom,frc_raw"));
    assert_eq!(text.lines().count(), n + 1);

    // The 2D spectrum with CTF rings from a RELION STAR.
    h.get_by_label("2D spectrum + CTF").click();
    wait_for(&mut h, "the 2D spectrum", Duration::from_secs(60), |a| {
        a.has_spectrum()
    });
    let star = dir.path().join("micrographs_ctf.star");
    std::fs::write(
        &star,
        "data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnVoltage #2\n_rlnSphericalAberration #3\n\
         _rlnAmplitudeContrast #4\n_rlnMicrographPixelSize #5\n1 300 2.7 0.1 0.8538\n\n\
         data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\n_rlnDefocusU #3\n\
         _rlnDefocusV #4\n_rlnDefocusAngle #5\nother.mrc 1 20000 20000 0\nsample.mrc 1 10550 10400 30\n",
    )
    .unwrap();
    assert_eq!(h.state_mut().import_ctf(&star).unwrap(), "sample.mrc");
    assert_eq!(h.state().ctf().defocus_u_angstrom, 10550.0);
    h.step();

    // Region labelling: R, a click (signal) and a right click (background) make one pair.
    h.key_press(Key::R);
    h.step();
    let picks_before = h.state().session().picks(0).len();
    let (s, b) = (screen_of(&h, 300.0, 300.0), screen_of(&h, 700.0, 700.0));
    click(&mut h, s, egui::PointerButton::Primary);
    click(&mut h, b, egui::PointerButton::Secondary);
    assert!(h.query_by_label_contains("1 pairs").is_some());
    assert!(h.query_by_label("Topaz SNR (dB)").is_some());
    assert_eq!(
        h.state().session().picks(0).len(),
        picks_before,
        "labelling does not pick"
    );
}

/// Half-map FSC in the analysis panel: synthetic half-maps of the ribosome map whose FSC
/// crosses 0.5 at 8.66 Å / (0.2·√ln 20) = 25.02 Å by construction.
#[test]
fn half_map_fsc_in_the_analysis_panel() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let map = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/maps/zarr_particle_tools/ribo80s_emd_3883_866_64_resized.mrc");
    let (_, truth) = cryolens::io::read(&map).unwrap();
    let snr = |f: f64| 20.0 * (-(f / 0.2).powi(2)).exp();
    let halves = cryolens::analysis::halfmap::synthetic_half_maps(&truth, snr, 5).unwrap();
    let (a, b) = (dir.path().join("half1.mrc"), dir.path().join("half2.mrc"));
    cryolens::io::mrc::write_volume(&a, &halves.halves.half1).unwrap();
    cryolens::io::mrc::write_volume(&b, &halves.halves.half2).unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1200.0, 900.0),
        "the sample",
        |a| a.has_view(View::Raw),
    );
    h.state_mut().open_half_maps(&a, &b).unwrap();
    h.step();
    h.step();
    let (r0143, r05) = h.state().half_map_resolutions().unwrap();
    let expected_05 = 8.66 / (0.2 * 20f64.ln().sqrt());
    let r05 = r05.expect("FSC crosses 0.5");
    assert!(
        (r05 - expected_05).abs() / expected_05 < 0.05,
        "{r05} vs {expected_05}"
    );
    assert!(r0143.expect("crosses 0.143") < r05);
    assert!(h.query_by_label_contains("FSC = 0.5 at").is_some());
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "analysis-half-map-fsc.png");
    }
}

/// With the comparison open (raw, low-pass, unet, merged), the analysis panel's SSNR and
/// signal / noise / bias plots carry one curve per pane, measured on the sample's count-split
/// halves filtered as each pane shows them.
#[test]
fn analysis_overlays_the_curves_of_all_comparison_panes() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1400.0, 1000.0),
        "the sample and device",
        |a| a.has_view(View::Raw) && a.device_description().is_some(),
    );
    h.key_press(Key::A);
    h.step();
    h.get_by_label("force count split").click();
    h.step();
    h.get_by_label("Analyse").click();
    h.step();
    wait_for(&mut h, "the analysis", Duration::from_secs(600), |a| {
        !a.is_analysing()
    });
    let raw_ssnr: Vec<f64> = {
        let a = h.state().analysis().expect("an analysis");
        a.raw_frc.rings.iter().map(|r| r.value.ssnr_half).collect()
    };
    h.get_by_label("SSNR").click();
    let panes = [View::Raw, View::Lowpass, View::Denoised, View::Merged];
    h.state_mut().set_compare(true, &panes, false);
    wait_for(&mut h, "the pane curves", Duration::from_secs(600), |a| {
        a.pane_curves().is_some() && !a.is_busy()
    });
    let curves = h.state().pane_curves().unwrap().to_vec();
    let labels: Vec<&str> = curves.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels.len(), 4, "{labels:?}");
    assert_eq!(labels[0], "Raw");
    assert_eq!(labels[1], "Low-pass");
    assert!(labels[2].starts_with("Denoised (") && labels[3].starts_with("Merged ("));
    // One labelled curve per pane in the panel.
    let shown = h.query_all_by_label_contains("pane curve ").count();
    assert_eq!(shown, 4, "pane curve labels in the panel");
    // The raw pane is the analysis' raw SSNR (same halves, same estimator), with no bias and
    // unchanged noise.
    let ssnr = |i: usize| -> Vec<f64> {
        curves[i]
            .frc
            .rings
            .iter()
            .map(|r| r.value.ssnr_half)
            .collect()
    };
    assert_eq!(ssnr(0), raw_ssnr);
    for r in &curves[0].rings.rings {
        let tolerance = 1e-6 * r.value.noise_noisy.abs();
        assert!(r.value.bias.abs() <= tolerance, "raw bias {:?}", r.value);
        assert!((r.value.noise_denoised - r.value.noise_noisy).abs() <= tolerance);
    }
    // Low-pass and denoised panes remove noise above their cutoff: less noise power in the
    // outer half of the rings than raw, and the low-pass and unet curves differ.
    let outer_noise = |i: usize| -> f64 {
        let rings = &curves[i].rings.rings;
        rings[rings.len() / 2..]
            .iter()
            .map(|r| r.value.noise_denoised)
            .sum()
    };
    assert!(outer_noise(1) < 0.5 * outer_noise(0), "low-pass noise");
    assert!(outer_noise(2) < 0.5 * outer_noise(0), "denoised noise");
    assert_ne!(ssnr(1), ssnr(2));
    // Merged keeps the raw high frequencies: more outer noise than denoised.
    assert!(outer_noise(3) > outer_noise(2), "merged noise");
    h.get_by_label("Signal / noise / bias").click();
    h.step();
    h.step();
    assert_eq!(h.query_all_by_label_contains("pane curve ").count(), 4);
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        h.get_by_label("SSNR").click();
        h.remove_cursor();
        h.step();
        h.step();
        save_screenshot(&mut h, "analysis-compare.png");
        h.get_by_label("Signal / noise / bias").click();
        h.step();
        h.step();
        save_screenshot(&mut h, "analysis-compare-signal-noise-bias.png");
    }
    // Closing the comparison restores the panel's own curves.
    h.state_mut().set_compare(false, &[], false);
    h.step();
    h.step();
    assert!(h.state().pane_curves().is_none());
    assert_eq!(h.query_all_by_label_contains("pane curve ").count(), 0);
}
