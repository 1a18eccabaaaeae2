//! Model installation from the GUI: with an empty models folder the bundled model denoises
//! and the "Install Topaz models" button is offered; the (network, `#[ignore]`d) install
//! through that button, after which unet denoises.

use std::path::Path;
use std::time::Duration;

use cryolens::gui::{CryolensApp, Source, View};
use egui::{Key, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::harness::{harness, setup, viewer_luminance, wait_for};
use crate::measure::roughness;

/// The app on the sample with `CRYOLENS_MODELS_DIR` pointed at the empty folder `empty`
/// (the caller holds `setup`'s guard and removes the variable afterwards), the sample loaded.
fn sample_without_models(empty: &Path) -> Harness<'static, CryolensApp> {
    // SAFETY: serialised by SERIAL; no other thread reads the environment now.
    unsafe { std::env::set_var("CRYOLENS_MODELS_DIR", empty) };
    let mut h = harness(Source::Sample, None, Vec2::new(1000.0, 700.0));
    wait_for(&mut h, "the sample to load", Duration::from_secs(30), |a| {
        a.image_size().is_some()
    });
    h
}

#[test]
fn no_model_installed_offers_the_install_button() {
    let _guard = setup();
    let empty = tempfile::tempdir().unwrap();
    let mut h = sample_without_models(empty.path());
    // Without Topaz's models the bundled model denoises, and the install button is offered.
    assert_eq!(h.state().selected_model(), Some("cryolens-unet-small"));
    assert!(
        !h.get_all_by_label("Install Topaz models")
            .collect::<Vec<_>>()
            .is_empty()
    );
    h.key_press(Key::Num2);
    wait_for(
        &mut h,
        "denoising with the bundled model",
        Duration::from_secs(300),
        |a| a.has_view(View::Denoised),
    );
    let den = viewer_luminance(&mut h);
    h.key_press(Key::Num1);
    let raw = viewer_luminance(&mut h);
    assert!(
        roughness(&den) < 0.85 * roughness(&raw),
        "denoised {} vs raw {}",
        roughness(&den),
        roughness(&raw)
    );
    drop(h);
    unsafe { std::env::remove_var("CRYOLENS_MODELS_DIR") };
}

/// The "Install Topaz models" button installs into an empty models folder (pip download of
/// the topaz-em wheel: needs the network, so ignored by default), then denoising starts.
#[test]
#[ignore]
fn install_button_installs_then_denoises() {
    let _guard = setup();
    let empty = tempfile::tempdir().unwrap();
    let mut h = sample_without_models(empty.path());
    h.key_press(Key::Num2);
    h.run_steps(2);
    h.get_all_by_label("Install Topaz models")
        .next()
        .unwrap()
        .click();
    h.run_steps(2);
    wait_for(&mut h, "the install", Duration::from_secs(300), |a| {
        a.selected_model().is_some() || a.error().is_some()
    });
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    assert_eq!(h.state().selected_model(), Some("unet"));
    wait_for(&mut h, "denoising", Duration::from_secs(300), |a| {
        a.has_view(View::Denoised)
    });
    drop(h);
    unsafe { std::env::remove_var("CRYOLENS_MODELS_DIR") };
}
