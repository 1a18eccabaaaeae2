//! The micrograph views on the bundled sample: raw, low-pass, denoised and merged render and
//! switch (keys, toolbar, model combo box), zoom and fit, hover read-out and help; tiled
//! textures render like one texture; a bad file shows an error and the app keeps running;
//! `gui::run`'s native options request the adapter's texture limit; the merged view follows
//! the merge sliders.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cryolens::gui::{self, Source, View};
use egui::{Key, Role, Vec2};
use egui_kittest::kittest::{NodeT, Queryable};

use crate::harness::{
    harness, harness_with_session, render_viewer, save_screenshot, setup, viewer_luminance,
    wait_for,
};
use crate::measure::{luminance, mean_abs_diff, roughness, std_of};

#[test]
fn sample_views_render_and_switch() {
    let _guard = setup();
    let t0 = Instant::now();
    let mut h = harness(Source::Sample, None, Vec2::new(1100.0, 1000.0));
    wait_for(&mut h, "the sample to load", Duration::from_secs(30), |a| {
        a.image_size().is_some()
    });
    assert_eq!(h.state().image_size(), Some((1024, 1024)));
    assert!(h.state().error().is_none(), "{:?}", h.state().error());
    let side = h.state().max_texture_side().expect("wgpu renderer");
    assert!(
        side > 8192,
        "texture limit not raised above egui-wgpu's 8192 default: {side}"
    );

    // Raw: the image area is not blank.
    assert_eq!(h.state().view(), View::Raw);
    let raw = viewer_luminance(&mut h);
    let raw_std = std_of(&raw);
    assert!(
        raw_std > 15.0,
        "raw view looks blank (σ of grey levels {raw_std})"
    );

    // Key 3: low-pass, computed in the background, then shown.
    h.key_press(Key::Num3);
    wait_for(&mut h, "the low-pass view", Duration::from_secs(60), |a| {
        a.view() == View::Lowpass && a.has_view(View::Lowpass)
    });
    let low = viewer_luminance(&mut h);
    assert!(std_of(&low) > 15.0, "low-pass view looks blank");
    assert!(
        mean_abs_diff(&raw, &low) > 5.0,
        "low-pass render equals raw"
    );
    let (raw_r, low_r) = (roughness(&raw) / raw_std, roughness(&low) / std_of(&low));
    eprintln!("neighbour difference / σ: raw {raw_r:.3}, low-pass {low_r:.3}");
    assert!(
        low_r < 0.8 * raw_r,
        "low-pass not smoother: {low_r} vs {raw_r}"
    );

    // Toolbar: back to raw; the frame is the raw one again (views are cached).
    h.get_by_label("Raw").click();
    h.step();
    assert_eq!(h.state().view(), View::Raw);
    let (frame, rect) = render_viewer(&mut h);
    assert!(
        mean_abs_diff(&raw, &luminance(&frame, rect)) < 0.5,
        "raw view changed after switching back"
    );

    // Choose the fast affine model in the combo box, then wait for denoising.
    h.get_by_role_and_label(Role::ComboBox, "Model").click();
    h.run_steps(3);
    h.get_by_label("affine").click();
    h.step();
    assert_eq!(h.state().selected_model(), Some("affine"));
    wait_for(
        &mut h,
        "denoising with affine",
        Duration::from_secs(120),
        |a| a.has_view(View::Denoised),
    );
    h.get_by_label("Denoised").click();
    h.step();
    assert_eq!(h.state().view(), View::Denoised);
    let den = viewer_luminance(&mut h);
    assert!(std_of(&den) > 15.0, "denoised view looks blank");
    assert!(
        mean_abs_diff(&raw, &den) > 5.0,
        "denoised render equals raw"
    );
    let den_r = roughness(&den) / std_of(&den);
    eprintln!("neighbour difference / σ: denoised {den_r:.3}");
    assert!(
        den_r < 0.8 * raw_r,
        "denoised not smoother: {den_r} vs {raw_r}"
    );
    let device = h.state().device_description().expect("device detected");
    assert!(
        h.query_by_label(&device).is_some(),
        "status bar does not show the device '{device}'"
    );

    // Key 1 again; cursor position and value in the status bar.
    h.key_press(Key::Num1);
    h.step();
    assert_eq!(h.state().view(), View::Raw);
    let rect = h.state().viewer_rect().unwrap();
    h.hover_at(rect.center());
    h.step();
    h.step();
    let (x, y, v) = h.state().hover().expect("hover reported");
    assert!(
        (500..=524).contains(&x) && (500..=524).contains(&y),
        "cursor at image centre, got {x},{y}"
    );
    assert_eq!(Some(v), h.state().raw_value(x, y));
    assert!(
        h.query_by_label_contains(&format!("x {x}, y {y}:"))
            .is_some(),
        "status bar lacks the cursor"
    );

    // Wheel zooms around the cursor; F fits again.
    let fit_zoom = h.state().zoom();
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: Vec2::new(0.0, 120.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::NONE,
        source: egui::MouseWheelSource::Wheel,
    });
    // egui smooths wheel scrolling over several frames.
    h.run_steps(60);
    assert!(
        h.state().zoom() > fit_zoom * 1.05,
        "wheel did not zoom in: {} vs {fit_zoom}",
        h.state().zoom()
    );
    h.key_press(Key::F);
    h.run_steps(2);
    let zoom = h.state().zoom();
    let r = h.state().viewer_rect().unwrap();
    let expected = (r.width() / 1024.0).min(r.height() / 1024.0);
    assert!(
        (zoom - expected).abs() < 1e-4,
        "F did not fit: {zoom} vs {expected}"
    );

    // Pressing the help button shows the shortcuts.
    h.get_by_label("?").click();
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("raw / denoised / low-pass / merged view")
            .is_some()
    );
    eprintln!(
        "sample_views_render_and_switch: {:.1} s",
        t0.elapsed().as_secs_f32()
    );
}

#[test]
fn tiled_textures_render_like_one_texture() {
    let _guard = setup();
    let size = Vec2::new(900.0, 640.0);
    let mut whole = harness(Source::Sample, None, size);
    let mut tiled = harness(Source::Sample, Some(300), size);
    for h in [&mut whole, &mut tiled] {
        wait_for(h, "the sample to load", Duration::from_secs(30), |a| {
            a.image_size().is_some()
        });
        // Magnify so that tile seams would show as lines of wrong pixels.
        let fit = h.state().zoom();
        for _ in 0..4 {
            h.key_press(Key::Plus);
            h.step();
        }
        let zoom = h.state().zoom();
        assert!(zoom > 2.0 * fit, "+ did not zoom in: {zoom} vs {fit}");
    }
    assert_eq!(tiled.state().max_texture_side(), Some(300));
    let (fa, ra) = render_viewer(&mut whole);
    let (fb, rb) = render_viewer(&mut tiled);
    assert_eq!(ra, rb);
    let (a, b) = (luminance(&fa, ra), luminance(&fb, rb));
    assert!(std_of(&b) > 15.0, "tiled render looks blank");
    let d = mean_abs_diff(&a, &b);
    assert!(
        d < 0.5,
        "4×4 tiles render differently from one texture (mean |Δ| {d})"
    );
}

#[test]
fn bad_file_shows_an_error_and_the_app_keeps_running() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("garbage.mrc");
    std::fs::write(&bad, b"this is not an MRC file").unwrap();
    let mut h = harness(Source::File(bad.clone()), None, Vec2::new(900.0, 600.0));
    wait_for(&mut h, "the read to fail", Duration::from_secs(30), |a| {
        !a.is_loading()
    });
    let err = h.state().error().expect("an error is shown").to_string();
    assert!(err.contains("garbage.mrc"), "{err}");
    assert!(h.query_by_label_contains("Could not open").is_some());
    // Opening the sample afterwards works.
    h.state_mut().open(Source::Sample);
    wait_for(&mut h, "the sample to load", Duration::from_secs(30), |a| {
        a.image_size().is_some()
    });
    assert!(h.state().error().is_none());
    let missing = PathBuf::from("/nonexistent/file.mrc");
    h.state_mut().open(Source::File(missing));
    wait_for(&mut h, "the read to fail", Duration::from_secs(30), |a| {
        !a.is_loading()
    });
    assert!(h.state().error().is_some());
    assert_eq!(
        h.state().image_size(),
        Some((1024, 1024)),
        "the open micrograph stays"
    );
    // The banner says the OS error once, on one line (the error chain repeats it).
    h.run_steps(2);
    let node = h
        .query_by_label_contains("Could not open")
        .expect("the banner")
        .accesskit_node();
    // A `Role::Label` keeps its text in `value`.
    let banner = node.value().or_else(|| node.label()).unwrap_or_default();
    assert_eq!(banner.matches("(os error 2)").count(), 1, "{banner}");
    assert!(!banner.contains('\n'), "{banner}");

    // O opens the file dialog in the background. Without a session bus (CI) there is no
    // portal: it returns at once with no file, and the app says how else to open one. (With
    // a desktop session a real dialog would open, so the check is skipped there.)
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        h.key_press(Key::O);
        h.step();
        assert!(
            h.state().is_choosing_file(),
            "O did not open the file dialog"
        );
        wait_for(
            &mut h,
            "the file dialog to return",
            Duration::from_secs(60),
            |a| !a.is_choosing_file(),
        );
        assert!(
            h.state()
                .info()
                .is_some_and(|i| i.contains("No file chosen"))
        );
        assert_eq!(h.state().image_size(), Some((1024, 1024)));
    }
}

/// `gui::run`'s options ask the device for the adapter's own texture limit (egui-wgpu asks
/// for 8192).
#[test]
fn native_options_request_the_adapters_texture_limit() {
    let _guard = setup();
    let options = gui::native_options();
    assert_eq!(options.renderer, eframe::Renderer::Wgpu);
    let eframe::egui_wgpu::WgpuSetup::CreateNew(create) = options.wgpu_options.wgpu_setup else {
        panic!("expected a CreateNew wgpu setup");
    };
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
    let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    assert!(
        !adapters.is_empty(),
        "no wgpu adapter (install mesa-vulkan-drivers)"
    );
    for adapter in &adapters {
        let desc = (create.device_descriptor)(adapter);
        let offered = adapter.limits().max_texture_dimension_2d;
        assert_eq!(desc.required_limits.max_texture_dimension_2d, offered);
        // The device really can be created with it.
        let device = pollster::block_on(adapter.request_device(&desc));
        assert!(
            device.is_ok(),
            "{:?}: {:?}",
            adapter.get_info().name,
            device.err()
        );
    }
}

#[test]
fn merged_view_follows_the_sliders() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with_session(
        Source::Sample,
        &dir.path().join("session.json"),
        Vec2::new(1000.0, 760.0),
    );
    wait_for(&mut h, "the sample", Duration::from_secs(60), |a| {
        a.has_view(View::Raw)
    });
    let raw = viewer_luminance(&mut h);
    h.key_press(Key::Num2);
    wait_for(&mut h, "denoising", Duration::from_secs(600), |a| {
        a.has_view(View::Denoised)
    });
    let den = viewer_luminance(&mut h);
    h.key_press(Key::Num4);
    wait_for(&mut h, "the merge", Duration::from_secs(120), |a| {
        a.view() == View::Merged && a.merged_is_current()
    });
    let m8 = viewer_luminance(&mut h);
    // Raw high frequencies come back: rougher than denoised, smoother than raw.
    let (r_raw, r_den, r_m8) = (roughness(&raw), roughness(&den), roughness(&m8));
    assert!(
        r_den < r_m8 && r_m8 <= r_raw * 1.05,
        "raw {r_raw}, denoised {r_den}, merged {r_m8}"
    );
    // A coarser cutoff keeps more raw: the merge follows.
    h.state_mut().set_merge(30.0, 10.0);
    wait_for(&mut h, "the new merge", Duration::from_secs(120), |a| {
        a.merged_is_current()
    });
    let m30 = viewer_luminance(&mut h);
    assert!(mean_abs_diff(&m30, &m8) > 1.0);
    assert!(
        mean_abs_diff(&m30, &raw) < mean_abs_diff(&m8, &raw),
        "30 Å cutoff is closer to raw"
    );
    // The side panel's band normalisation: RMS instead of σ gives another merge (at 8 Å,
    // where the band holds more of the denoised power).
    h.get_by_label("RMS").click();
    h.run();
    h.state_mut().set_merge(8.0, 4.0);
    assert_eq!(
        h.state().merge_band_norm(),
        cryolens::fourier::merge::BandNorm::Rms
    );
    wait_for(&mut h, "the RMS merge", Duration::from_secs(120), |a| {
        a.merged_is_current()
    });
    let rms = viewer_luminance(&mut h);
    let d = mean_abs_diff(&rms, &m8);
    eprintln!("σ vs RMS band normalisation: mean |Δ| {d} grey levels");
    // Measured 0.14 grey levels (display contrast takes out most of the band's rescaling).
    assert!(d > 0.05, "RMS merge differs from the σ merge: {d}");
}

/// The denoised view shows a binned preview first (the sample is 1024², the preview's
/// longest side `PREVIEW_SIDE_PX`), drawn over the whole micrograph and labelled, then the full-resolution
/// view replaces it; the preview is the full view's picture: binned the same way, they
/// correlate strongly.
#[test]
fn denoised_view_shows_a_binned_preview_first() {
    let _guard = setup();
    let mut h = harness(Source::Sample, None, Vec2::new(900.0, 800.0));
    wait_for(&mut h, "the sample to load", Duration::from_secs(30), |a| {
        a.image_size().is_some()
    });
    h.key_press(Key::Num2);
    wait_for(&mut h, "the preview", Duration::from_secs(60), |a| {
        a.selected_model()
            .is_some_and(|m| a.denoised_preview(m).is_some())
    });
    let model = h.state().selected_model().unwrap();
    let preview = h.state().denoised_preview(model).unwrap().clone();
    if !h.state().has_view(View::Denoised) {
        save_screenshot(&mut h, "denoised-preview.png");
    }
    let side = cryolens::gui::loading::PREVIEW_SIDE_PX;
    assert_eq!((preview.width, preview.height), (side, side));
    wait_for(
        &mut h,
        "the full denoised view",
        Duration::from_secs(120),
        |a| a.has_view(View::Denoised),
    );
    let full = match h.state().denoised(model) {
        Some(Ok(img)) => img.clone(),
        other => panic!("no denoised image: {:?}", other.map(|r| r.err())),
    };
    assert_eq!((full.width, full.height), (1024, 1024));
    let binned = cryolens::fourier::fourier_crop(&full, side, side);
    let r = correlation(&preview.data, &binned.data);
    eprintln!("preview vs binned full view: r = {r:.3}");
    assert!(
        r > 0.8,
        "the preview is not the denoised picture: r = {r:.3}"
    );
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (
        a.iter().map(|&v| v as f64).sum::<f64>() / n,
        b.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64 - ma, y as f64 - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    sab / (saa * sbb).sqrt()
}
