//! The `#[ignore]`d screenshot writers: `screenshots/*.png` of the views on the bundled sample
//! (and fei-extended when present), picking on ucsf-1142, the analysis panel, and the bundled
//! models on ucsf-1142. Run one with `cargo test --release --test gui -- --ignored --exact
//! screenshots::NAME`. (Other tests also write screenshots when `CRYOLENS_SCREENSHOTS` is set.)

use std::path::Path;
use std::time::Duration;

use cryolens::gui::{CryolensApp, Source, View};
use egui::{Key, Rect, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use image::RgbaImage;

use crate::harness::{
    click, harness, harness_with_session, render_viewer, screen_of, setup, started_app, wait_for,
};
use crate::measure::{luminance, roughness};

/// Writes `screenshots/{raw,denoised,lowpass,raw_denoised}.png` from the bundled sample
/// (denoised with unet), and `screenshots/fei-*.png` from the large FEI micrograph when it is
/// present. Slow (unet on the CPU): run with `--ignored`.
#[test]
#[ignore]
fn screenshots() {
    let _guard = setup();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    std::fs::create_dir_all(&out).unwrap();
    shoot(Source::Sample, &out, "", true);
    let fei = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc");
    if fei.is_file() && std::env::var_os("CRYOLENS_SKIP_FEI").is_none() {
        shoot(Source::File(fei), &out, "fei-", false);
    }
}

fn shoot(source: Source, out: &Path, prefix: &str, side_by_side: bool) {
    let mut h = harness(source, None, Vec2::new(1400.0, 950.0));
    h.set_render_cursor(false);
    wait_for(
        &mut h,
        "the micrograph to load",
        Duration::from_secs(120),
        |a| a.image_size().is_some(),
    );
    assert_eq!(
        h.state().selected_model(),
        Some("unet"),
        "unet must be installed for the screenshots"
    );
    let save = |h: &mut Harness<'_, CryolensApp>, name: &str| {
        let (frame, rect) = render_viewer(h);
        frame.save(out.join(format!("{prefix}{name}.png"))).unwrap();
        let image_rect = h.state().image_rect().expect("image shown");
        (frame, image_rect.intersect(rect).shrink(1.0))
    };
    let raw = save(&mut h, "raw");
    h.key_press(Key::Num3);
    wait_for(&mut h, "low-pass", Duration::from_secs(120), |a| {
        a.has_view(View::Lowpass)
    });
    save(&mut h, "lowpass");
    h.key_press(Key::Num2);
    wait_for(
        &mut h,
        "denoising with unet",
        Duration::from_secs(1200),
        |a| a.has_view(View::Denoised),
    );
    let den = save(&mut h, "denoised");
    h.key_press(Key::Num4);
    wait_for(&mut h, "the merge", Duration::from_secs(300), |a| {
        a.merged_is_current()
    });
    save(&mut h, "merged");
    if side_by_side {
        let crop = |(f, r): &(RgbaImage, Rect)| {
            image::imageops::crop_imm(
                f,
                r.left() as u32,
                r.top() as u32,
                r.width() as u32,
                r.height() as u32,
            )
            .to_image()
        };
        let (a, b) = (crop(&raw), crop(&den));
        let gap = 8;
        let mut both = RgbaImage::from_pixel(
            a.width() + gap + b.width(),
            a.height().max(b.height()),
            image::Rgba([255, 255, 255, 255]),
        );
        image::imageops::replace(&mut both, &a, 0, 0);
        image::imageops::replace(&mut both, &b, (a.width() + gap) as i64, 0);
        both.save(out.join(format!("{prefix}raw_denoised.png")))
            .unwrap();
    }
}

/// `screenshots/picking-ucsf-denoised.png`: a session over both real micrographs, picking on
/// ucsf-1142 denoised by unet with its RELION autopick STAR imported (threshold 0.1) and two
/// manual picks added by clicks.
#[test]
#[ignore]
fn picking_screenshot() {
    let _guard = setup();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/micrographs");
    let ucsf = data.join("ucsf-1142/Ucsf_stack_1142_DW.mrc");
    let fei = data.join("fei-extended/fei-extended.mrc");
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with_session(
        Source::Micrographs(vec![ucsf, fei]),
        &dir.path().join("session.json"),
        Vec2::new(1500.0, 950.0),
    );
    h.set_render_cursor(false);
    wait_for(&mut h, "ucsf-1142 to load", Duration::from_secs(120), |a| {
        a.image_size().is_some()
    });
    h.state_mut()
        .import_picks(&data.join("ucsf-1142/Ucsf_stack_1142_DW_autopick.star"))
        .unwrap();
    h.key_press(Key::Num2);
    wait_for(
        &mut h,
        "denoising with unet",
        Duration::from_secs(600),
        |a| a.has_view(View::Denoised),
    );
    render_viewer(&mut h);
    for (x, y) in [(250.0, 620.0), (660.0, 560.0)] {
        let pos = screen_of(&h, x, y);
        click(&mut h, pos, egui::PointerButton::Primary);
    }
    h.remove_cursor();
    h.step();
    let frame = h.render().unwrap();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    frame.save(out.join("picking-ucsf-denoised.png")).unwrap();
}

/// `screenshots/analysis-*.png`: the analysis panel on the bundled sample (a 1024² crop of
/// fei-extended), count-split halves denoised by unet: signal / noise / bias and SSNR.
#[test]
#[ignore]
fn analysis_screenshot() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1500.0, 1000.0),
        "the sample",
        |a| a.has_view(View::Raw),
    );
    h.key_press(Key::Num2);
    wait_for(&mut h, "denoising", Duration::from_secs(600), |a| {
        a.has_view(View::Denoised)
    });
    h.key_press(Key::A);
    h.step();
    h.get_by_label("force count split").click();
    h.step();
    h.get_by_label("Analyse").click();
    h.step();
    wait_for(&mut h, "the analysis", Duration::from_secs(600), |a| {
        !a.is_analysing()
    });
    assert!(h.state().analysis().is_some_and(|a| a.denoised.is_some()));
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    for (tab, name) in [
        ("Signal / noise / bias", "analysis-signal-noise-bias"),
        ("SSNR", "analysis-ssnr"),
        ("Power spectra", "analysis-spectra"),
    ] {
        h.get_by_label(tab).click();
        h.remove_cursor();
        h.step();
        h.step();
        h.render()
            .unwrap()
            .save(out.join(format!("{name}.png")))
            .unwrap();
    }
    // Thon rings of the sample with the defocus found by a 1D search on fei-extended.
    h.get_by_label("2D spectrum + CTF").click();
    wait_for(&mut h, "the 2D spectrum", Duration::from_secs(60), |a| {
        a.has_spectrum()
    });
    let star = dir.path().join("ctf.star");
    std::fs::write(
        &star,
        "data_micrographs\nloop_\n_rlnMicrographName #1\n_rlnVoltage #2\n_rlnSphericalAberration #3\n\
         _rlnAmplitudeContrast #4\n_rlnDefocusU #5\n_rlnDefocusV #6\n_rlnDefocusAngle #7\n\
         sample.mrc 300 2.7 0.1 10550 10550 0\n",
    )
    .unwrap();
    h.state_mut().import_ctf(&star).unwrap();
    h.remove_cursor();
    h.step();
    h.step();
    h.render()
        .unwrap()
        .save(out.join("analysis-spectrum-ctf.png"))
        .unwrap();
}

/// The bundled models on a real micrograph the GUI opens from disk (ucsf-1142, which neither
/// model was trained on). Its header has no pixel size, so the restore pane says why it
/// cannot run instead of waiting; then the panes raw | low-pass | cryolens-unet-small | Topaz
/// unet (when installed; else the bundled model alone), the denoised panes smoother than raw.
/// Writes `screenshots/ucsf-bundled-models.png`; run with `--ignored` (reads the shared data).
#[test]
#[ignore]
fn bundled_models_on_ucsf_screenshot() {
    let _guard = setup();
    let ucsf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness_with_session(
        Source::Micrographs(vec![ucsf]),
        &dir.path().join("session.json"),
        Vec2::new(1400.0, 950.0),
    );
    h.set_render_cursor(false);
    wait_for(&mut h, "ucsf-1142 to load", Duration::from_secs(120), |a| {
        a.has_view(View::Raw)
    });
    assert!(h.state_mut().select_model("cryolens-unet-small"));
    h.state_mut().set_compare(
        true,
        &[View::Raw, View::Lowpass, View::Denoised, View::Denoised],
        false,
    );
    assert!(
        h.state_mut()
            .set_pane_model(3, Some("cryolens-restore-small"))
    );
    h.key_press(Key::Num3);
    wait_for(&mut h, "restore to refuse", Duration::from_secs(300), |a| {
        a.compare_labels()
            .get(3)
            .is_some_and(|l| l.contains("failed") && l.contains("pixel size"))
    });
    let unet = h.state_mut().set_pane_model(3, Some("unet"));
    if !unet {
        h.state_mut()
            .set_compare(true, &[View::Raw, View::Lowpass, View::Denoised], false);
    }
    wait_for(&mut h, "every pane", Duration::from_secs(600), |a| {
        a.has_view(View::Lowpass)
            && !a
                .compare_labels()
                .iter()
                .any(|l| l.contains("not computed") || l.contains("failed"))
    });
    h.step();
    eprintln!("{:?}", h.state().compare_labels());
    let frame = h.render().unwrap();
    let rects = h.state().compare_rects().to_vec();
    let rough: Vec<f32> = rects
        .iter()
        .map(|r| roughness(&luminance(&frame, r.shrink(40.0))))
        .collect();
    eprintln!("roughness per pane: {rough:?}");
    for pane in 2..rects.len() {
        assert!(rough[pane] < 0.8 * rough[0], "{rough:?}");
    }
    frame
        .save(Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots/ucsf-bundled-models.png"))
        .unwrap();
}

/// The analyses the papers show, on a 1024² crop of fei-extended (real counts, 47.6 e/Å²):
/// `screenshots/analysis-dose-titration.png` (SNR against exposure, Topaz-Denoise Fig. 3),
/// `analysis-ssnr-booth.png` (Booth's SSNR beside the FRC-based one),
/// `contrast-topaz.png` (Topaz's display normalisation), `lowpass-gaussian.png` (the
/// low-pass view as a Gaussian of σ 20 Å) and `analysis-half-map-shells.png` (signal / noise
/// per shell with FSC_scalar and the correlated-damping caveat) on synthetic half-maps of the
/// ribosome map. Run with `--ignored` (reads the shared data).
#[test]
#[ignore]
fn paper_analyses_screenshot() {
    let _guard = setup();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let fei =
        cryolens::io::read_micrograph(&data.join("micrographs/fei-extended/fei-extended.mrc"))
            .unwrap();
    let crop = dir.path().join("fei-crop.mrc");
    cryolens::io::mrc::write_image(&crop, &fei.crop(1024, 1024, 1024, 1024)).unwrap();
    let mut h = harness_with_session(
        Source::Micrographs(vec![crop]),
        &dir.path().join("session.json"),
        Vec2::new(1500.0, 1000.0),
    );
    h.set_render_cursor(false);
    wait_for(&mut h, "the crop", Duration::from_secs(120), |a| {
        a.has_view(View::Raw)
    });
    // Topaz's display normalisation on the raw view.
    h.get_by_label("Topaz").click();
    h.step();
    let (frame, _) = render_viewer(&mut h);
    frame.save(out.join("contrast-topaz.png")).unwrap();
    // The low-pass view as a Gaussian of σ 20 Å.
    h.get_by_label("Gaussian (Å)").click();
    h.step();
    h.key_press(Key::Num3);
    wait_for(
        &mut h,
        "the Gaussian low-pass",
        Duration::from_secs(120),
        |a| a.has_view(View::Lowpass),
    );
    let (frame, _) = render_viewer(&mut h);
    frame.save(out.join("lowpass-gaussian.png")).unwrap();
    h.key_press(Key::Num1);
    h.key_press(Key::A);
    h.step();
    h.get_by_label("denoise halves").click();
    h.get_by_label("force count split").click();
    h.step();
    h.get_by_label("Analyse").click();
    h.step();
    wait_for(&mut h, "the analysis", Duration::from_secs(600), |a| {
        !a.is_analysing()
    });
    assert!(h.state().analysis().is_some_and(|a| !a.booth.is_empty()));
    h.get_by_label("SSNR").click();
    h.remove_cursor();
    h.step();
    h.step();
    h.render()
        .unwrap()
        .save(out.join("analysis-ssnr-booth.png"))
        .unwrap();
    // Dose titration, denoised with the bundled small model (fast on the CPU).
    assert!(h.state_mut().select_model("cryolens-unet-small"));
    h.get_by_label("denoise halves").click();
    h.get_by_label("Dose titration").click();
    h.step();
    h.get_by_label("Titrate").click();
    h.step();
    wait_for(&mut h, "the titration", Duration::from_secs(1200), |a| {
        !a.is_titrating()
    });
    let t = h.state().titration().expect("a titration");
    eprintln!("{}", t.table());
    h.remove_cursor();
    h.step();
    h.step();
    h.render()
        .unwrap()
        .save(out.join("analysis-dose-titration.png"))
        .unwrap();
    // Signal / noise per shell of synthetic half-maps (SNR 20·exp(−(f/0.2)²)).
    let (_, truth) = cryolens::io::read(
        &data.join("maps/zarr_particle_tools/ribo80s_emd_3883_866_64_resized.mrc"),
    )
    .unwrap();
    let snr = |f: f64| 20.0 * (-(f / 0.2).powi(2)).exp();
    let halves = cryolens::analysis::halfmap::synthetic_half_maps(&truth, snr, 5).unwrap();
    let (a, b) = (dir.path().join("half1.mrc"), dir.path().join("half2.mrc"));
    cryolens::io::mrc::write_volume(&a, &halves.halves.half1).unwrap();
    cryolens::io::mrc::write_volume(&b, &halves.halves.half2).unwrap();
    h.get_by_label("Half-map FSC").click();
    h.state_mut().open_half_maps(&a, &b).unwrap();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("FSC_scalar").is_some());
    h.render()
        .unwrap()
        .save(out.join("analysis-half-map-shells.png"))
        .unwrap();
}
