//! Tomograms and volumes: sections, slab averaging, picks carrying z and exported with
//! `_rlnCoordinateZ`; whole-volume denoising by Topaz's unet-3d-10a; XZ / YZ orthoviews of a
//! memory-mapped tomogram following the raw, low-pass and denoised views.

use std::path::Path;
use std::time::Duration;

use cryolens::gui::{CryolensApp, Source, View};
use egui::{Key, Rect, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::harness::{
    click, harness_with_session, render_viewer, save_screenshot, screen_of, setup, started_app,
    viewer_luminance, wait_for,
};
use crate::measure::{luminance, mean_abs_diff, roughness};

#[test]
fn tomogram_sections_orthoviews_and_picks_with_z() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let tomo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/tomograms/particleannotation/3d_test_data.tif");
    let mut h = harness_with_session(
        Source::File(tomo),
        &dir.path().join("session.json"),
        Vec2::new(1100.0, 800.0),
    );
    wait_for(&mut h, "the tomogram", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    });
    let (depth, z) = h.state().section().expect("a volume");
    assert_eq!((depth, z), (202, 101));
    assert_eq!(h.state().image_size(), Some((112, 115)));
    h.key_press(Key::ArrowUp);
    wait_for(&mut h, "section 102", Duration::from_secs(30), |a| {
        a.section() == Some((202, 102))
    });
    h.key_press_modifiers(egui::Modifiers::SHIFT, Key::ArrowDown);
    wait_for(&mut h, "section 92", Duration::from_secs(30), |a| {
        a.section() == Some((202, 92))
    });
    wait_for(&mut h, "orthoviews", Duration::from_secs(30), |a| {
        a.has_orthoviews()
    });
    // A pick on a section carries its z.
    render_viewer(&mut h);
    let pos = screen_of(&h, 50.0, 60.0);
    click(&mut h, pos, egui::PointerButton::Primary);
    let s = h.state().session();
    let p = s.picks(0)[0];
    assert!((p.x - 50.0).abs() <= 1.0 && (p.y - 60.0).abs() <= 1.0);
    assert_eq!(p.z, Some(92.0));
    // Slab averaging smooths the section.
    let thin = roughness(&viewer_luminance(&mut h));
    h.state_mut().set_slab_thickness(9);
    wait_for(&mut h, "the slab", Duration::from_secs(30), |a| {
        !a.is_busy()
    });
    let thick = roughness(&viewer_luminance(&mut h));
    assert!(thick < thin, "slab of 9: roughness {thick} vs {thin}");
    let out = dir.path().join("export");
    let files = h
        .state_mut()
        .export_picks(&out, cryolens::picking::exchange::ExportFormat::Relion)
        .unwrap();
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("_rlnCoordinateZ"), "{text}");
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        h.key_press(Key::Num2);
        wait_for(
            &mut h,
            "the denoised section",
            Duration::from_secs(120),
            |a| a.has_view(View::Denoised),
        );
        h.remove_cursor();
        h.step();
        save_screenshot(&mut h, "tomogram-orthoviews.png");
    }
}

/// A tomogram denoised whole by Topaz's unet-3d-10a from the GUI: the denoised view then
/// shows the denoised volume's sections (cylindra's 14-protofilament microtubule crop).
#[test]
fn tomogram_denoised_by_the_3d_unet() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let tomo =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/tomograms/cylindra/14pf_MT.tif");
    let mut h = started_app(
        Source::File(tomo),
        dir.path(),
        Vec2::new(1100.0, 800.0),
        "the tomogram and device",
        |a| a.has_view(View::Raw) && a.device_description().is_some(),
    );
    let raw = viewer_luminance(&mut h);
    h.get_by_label("Denoise volume (unet-3d-10a)").click();
    h.step();
    wait_for(&mut h, "the 3D denoising", Duration::from_secs(600), |a| {
        a.has_denoised_volume() && !a.is_busy()
    });
    h.key_press(Key::Num2);
    wait_for(
        &mut h,
        "the denoised section",
        Duration::from_secs(60),
        |a| a.has_view(View::Denoised),
    );
    let den = viewer_luminance(&mut h);
    assert!(
        roughness(&den) < 0.8 * roughness(&raw),
        "denoised {} vs raw {}",
        roughness(&den),
        roughness(&raw)
    );
    // Moving through sections keeps the 3D-denoised view.
    h.key_press(Key::ArrowUp);
    wait_for(&mut h, "the next section", Duration::from_secs(60), |a| {
        a.has_view(View::Denoised) && !a.is_busy()
    });
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        h.remove_cursor();
        h.step();
        save_screenshot(&mut h, "tomogram-unet-3d.png");
    }
}

/// The luminance of the XZ and YZ orthoviews drawn in the last frame (1 px border trimmed).
fn orthoview_luminance(h: &mut Harness<'_, CryolensApp>) -> Vec<Vec<Vec<f32>>> {
    h.step();
    let frame = h.render().expect("render");
    let rects = h.state().orthoview_rects().to_vec();
    assert_eq!(rects.len(), 2, "two orthoviews drawn");
    // Skip the label in the top left corner: the lower 3/4 of each view.
    rects
        .iter()
        .map(|r| {
            let r = r.shrink(1.0);
            let top = r.top() + r.height() / 4.0;
            luminance(&frame, Rect::from_min_max(egui::pos2(r.left(), top), r.max))
        })
        .collect()
}

/// A tomogram above the mapping threshold (forced to 0 bytes by `CRYOLENS_MMAP_MIN_BYTES`) is
/// memory-mapped, and its XZ/YZ orthoviews show what the XY view shows: raw, low-pass, and
/// after Topaz's unet-3d-10a has run, the denoised volume (cylindra's 14-protofilament
/// microtubule crop, written as MRC).
#[test]
fn mapped_tomogram_orthoviews_follow_the_denoised_view() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let tif =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/tomograms/cylindra/14pf_MT.tif");
    let (_, volume) = cryolens::io::read(&tif).unwrap();
    let mrc = dir.path().join("14pf_MT.mrc");
    cryolens::io::mrc::write_volume(&mrc, &volume).unwrap();
    // SAFETY: tests hold SERIAL; the variable is read only by the loader started below.
    unsafe { std::env::set_var(cryolens::io::mapped::MMAP_MIN_BYTES_ENV, "0") };
    let mut h = started_app(
        Source::File(mrc),
        dir.path(),
        Vec2::new(1100.0, 800.0),
        "the tomogram and device",
        |a| a.has_view(View::Raw) && a.device_description().is_some(),
    );
    // SAFETY: as above; the loader has finished.
    unsafe { std::env::remove_var(cryolens::io::mapped::MMAP_MIN_BYTES_ENV) };
    assert_eq!(h.state().volume_is_mapped(), Some(true));
    assert_eq!(h.state().section(), Some((volume.depth, volume.depth / 2)));
    wait_for(&mut h, "raw orthoviews", Duration::from_secs(30), |a| {
        a.orthoview_shows() == Some(View::Raw)
    });
    let raw = orthoview_luminance(&mut h);
    // Low-pass: the orthosections are low-passed too.
    h.key_press(Key::Num3);
    wait_for(
        &mut h,
        "low-pass orthoviews",
        Duration::from_secs(60),
        |a| a.orthoview_shows() == Some(View::Lowpass),
    );
    let low = orthoview_luminance(&mut h);
    // Without a denoised volume the denoised view's orthoviews stay raw.
    h.key_press(Key::Num2);
    wait_for(
        &mut h,
        "raw orthoviews again",
        Duration::from_secs(30),
        |a| a.orthoview_shows() == Some(View::Raw),
    );
    h.get_by_label("Denoise volume (unet-3d-10a)").click();
    h.step();
    wait_for(&mut h, "the 3D denoising", Duration::from_secs(600), |a| {
        a.has_denoised_volume() && !a.is_busy()
    });
    wait_for(
        &mut h,
        "denoised orthoviews",
        Duration::from_secs(60),
        |a| a.orthoview_shows() == Some(View::Denoised) && !a.is_busy(),
    );
    let den = orthoview_luminance(&mut h);
    for (i, name) in ["XZ", "YZ"].iter().enumerate() {
        let (r, l, d) = (roughness(&raw[i]), roughness(&low[i]), roughness(&den[i]));
        assert!(l < 0.8 * r, "{name}: low-pass roughness {l} vs raw {r}");
        assert!(d < 0.8 * r, "{name}: denoised roughness {d} vs raw {r}");
        assert!(
            mean_abs_diff(&den[i], &low[i]) > 1.0,
            "{name}: denoised differs from low-pass"
        );
    }
    // Back to raw: the raw orthosections again.
    h.key_press(Key::Num1);
    wait_for(&mut h, "raw orthoviews", Duration::from_secs(30), |a| {
        a.orthoview_shows() == Some(View::Raw)
    });
    if std::env::var_os("CRYOLENS_SCREENSHOTS").is_some() {
        h.key_press(Key::Num2);
        wait_for(
            &mut h,
            "denoised orthoviews",
            Duration::from_secs(60),
            |a| a.orthoview_shows() == Some(View::Denoised) && !a.is_busy(),
        );
        h.remove_cursor();
        h.step();
        save_screenshot(&mut h, "tomogram-orthoviews-denoised.png");
    }
}
