//! The comparison panes: region SNR in each pane's label on the bundled sample (raw,
//! low-pass, denoised, merged; swipe), and the bundled restore model denoising and compared
//! in a pane of its own beside Topaz's unet.

use std::path::Path;
use std::time::Duration;

use cryolens::gui::{CryolensApp, Source, View};
use egui::{Key, Vec2};
use egui_kittest::Harness;

use crate::harness::{save_screenshot, setup, started_app, viewer_luminance, wait_for};
use crate::measure::roughness;

/// Labels region-SNR boxes on the bundled sample. Particles are dark: signal boxes on the 4
/// darkest, background on the 4 brightest spots (64 px boxes, at least 128 px apart) of the
/// low-passed sample.
fn label_sample_regions(h: &mut Harness<'_, CryolensApp>) {
    let (_, v) = cryolens::io::mrc::read(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/sample.mrc"
    )))
    .unwrap();
    let smooth = cryolens::fourier::gaussian_lowpass(&v.section(0), 12.0);
    let spots = |dark: bool| {
        let mut cand: Vec<(f32, usize, usize)> = (64..960)
            .step_by(16)
            .flat_map(|y| (64..960).step_by(16).map(move |x| (x, y)))
            .map(|(x, y)| {
                let v = smooth.get(x, y);
                (if dark { v } else { -v }, x, y)
            })
            .collect();
        cand.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut chosen: Vec<(usize, usize)> = Vec::new();
        for (_, x, y) in cand {
            if chosen
                .iter()
                .all(|&(a, b)| a.abs_diff(x).max(b.abs_diff(y)) >= 128)
            {
                chosen.push((x, y));
            }
            if chosen.len() == 4 {
                break;
            }
        }
        chosen
    };
    for ((sx, sy), (bx, by)) in spots(true).into_iter().zip(spots(false)) {
        h.state_mut().add_region(sx as f64, sy as f64, false);
        h.state_mut().add_region(bx as f64, by as f64, true);
    }
}

/// The region SNR (dB) in a comparison pane's label ("… region SNR −3.2 dB").
fn pane_db(label: &str) -> f64 {
    let t = label.split("region SNR ").nth(1).expect(label);
    t.trim_end_matches(" dB").parse().unwrap()
}

/// The four-pane comparison on the sample (raw, low-pass, unet, merged) with region SNR from
/// boxes on the darkest (particles) and brightest (ice) spots of the low-passed sample.
#[test]
fn comparison_panes_with_region_snr() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1400.0, 950.0),
        "the sample",
        |a| a.has_view(View::Raw),
    );
    for (key, view) in [
        (Key::Num2, View::Denoised),
        (Key::Num4, View::Merged),
        (Key::Num3, View::Lowpass),
    ] {
        h.key_press(key);
        wait_for(&mut h, view.name(), Duration::from_secs(600), |a| {
            a.has_view(view) && (view != View::Merged || a.merged_is_current())
        });
    }
    label_sample_regions(&mut h);
    h.state_mut().set_compare(
        true,
        &[View::Raw, View::Lowpass, View::Denoised, View::Merged],
        false,
    );
    h.step();
    h.step();
    let labels = h.state().compare_labels().to_vec();
    assert_eq!(labels.len(), 4, "{labels:?}");
    let (raw, low, den) = (
        pane_db(&labels[0]),
        pane_db(&labels[1]),
        pane_db(&labels[2]),
    );
    assert!(den > raw + 3.0 && low > raw, "{labels:?}");
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "compare-four-panes.png");
        eprintln!("{labels:?}");
    }
    // Swipe between raw and denoised.
    h.state_mut()
        .set_compare(true, &[View::Raw, View::Denoised], true);
    h.step();
    h.step();
    assert_eq!(h.state().compare_labels().len(), 2);
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "compare-swipe.png");
    }
}

/// restore in the GUI: the bundled restore model (`assets/models/cryolens-restore-small`, the
/// WDSR U-net trained by count splitting fei-extended) is listed, denoises the sample (Fourier
/// crop to 2.25 Å/px, WDSR U-net, unbinning) smoother than raw, merges, and compares: four
/// panes raw | low-pass | Topaz unet | restore (a pane with its own model), where both
/// denoisers gain region SNR over raw.
#[test]
fn restore_model_denoises_and_compares() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1400.0, 950.0),
        "the sample",
        |a| a.has_view(View::Raw),
    );
    const RESTORE: &str = "cryolens-restore-small";
    assert!(
        h.state_mut().select_model(RESTORE),
        "the bundled restore model is listed"
    );
    for (key, view) in [
        (Key::Num2, View::Denoised),
        (Key::Num4, View::Merged),
        (Key::Num3, View::Lowpass),
    ] {
        h.key_press(key);
        wait_for(&mut h, view.name(), Duration::from_secs(600), |a| {
            a.has_view(view) && (view != View::Merged || a.merged_is_current())
        });
    }
    h.key_press(Key::Num2);
    let den = viewer_luminance(&mut h);
    h.key_press(Key::Num1);
    let raw = viewer_luminance(&mut h);
    assert!(
        roughness(&den) < 0.8 * roughness(&raw),
        "restore {} vs raw {}",
        roughness(&den),
        roughness(&raw)
    );
    label_sample_regions(&mut h);
    // Topaz's unet as the selected model when installed (the test suite installs it), restore
    // in a pane of its own; else restore and its merge.
    let unet = h.state_mut().select_model("unet");
    let panes = if unet {
        [View::Raw, View::Lowpass, View::Denoised, View::Denoised]
    } else {
        [View::Raw, View::Lowpass, View::Denoised, View::Merged]
    };
    h.state_mut().set_compare(true, &panes, false);
    if unet {
        assert!(h.state_mut().set_pane_model(3, Some(RESTORE)));
    }
    wait_for(&mut h, "every pane", Duration::from_secs(600), |a| {
        a.has_view(View::Denoised)
            && !a
                .compare_labels()
                .iter()
                .any(|l| l.contains("not computed"))
            && a.compare_labels().len() == 4
    });
    h.step();
    let labels = h.state().compare_labels().to_vec();
    eprintln!("{labels:?}");
    let restore_pane = if unet { 3 } else { 2 };
    assert!(labels[restore_pane].contains(RESTORE), "{labels:?}");
    if unet {
        assert!(labels[2].contains("(unet)"), "{labels:?}");
    }
    let raw = pane_db(&labels[0]);
    for pane in [2, 3] {
        assert!(pane_db(&labels[pane]) > raw + 3.0, "{labels:?}");
    }
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "compare-restore.png");
    }
}
