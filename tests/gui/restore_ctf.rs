//! A restore model trained on phase-flipped micrographs in the GUI: the CTF comes from the
//! RELION STAR the session was opened from (CTF columns), per micrograph, and denoising flips
//! in and back exactly as `cryolens denoise --ctf` does; a micrograph opened without a CTF
//! is refused with a message saying where to get one, and reading the CTF with "CTF…"
//! (`import_ctf`) lets it denoise.

use std::time::Duration;

use cryolens::denoise::{PhaseFlip, RestoreDenoiser, TileConfig};
use cryolens::device::ComputeDevice;
use cryolens::gui::{self, Source, View};
use cryolens::jobs::Progress;
use cryolens::models::ModelSpec;
use egui::{Key, Vec2};

use crate::harness::{harness_with_session, setup, wait_for};
use crate::restore_model::{RESTORE_SMALL, ctf_star_text, max_abs_diff, save_restore_model};

fn fei_crop() -> cryolens::image::Image {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc");
    cryolens::io::read_micrograph(&path)
        .unwrap()
        .crop(0, 3200, 300, 256)
}

#[test]
fn session_star_ctf_flips_restore_models() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // SAFETY: serialised by SERIAL; no other thread reads the environment now.
    unsafe { std::env::set_var("CRYOLENS_MODELS_DIR", d) };
    let image = fei_crop();
    let pixel = image.pixel_size_angstrom.unwrap() as f64;
    let mic = d.join("mic_DW.mrc");
    cryolens::io::mrc::write_image(&mic, &image).unwrap();
    // As the GUI reads it (the header's pixel size is rounded through the cell size).
    let image = cryolens::io::read_micrograph(&mic).unwrap();
    let star = d.join("micrographs_ctf.star");
    std::fs::write(
        &star,
        ctf_star_text("mic_DW.mrc", (10_500.0, 10_200.0, 30.0), pixel),
    )
    .unwrap();
    let weights = save_restore_model(d, RESTORE_SMALL, 4.5, Some(star.clone()));

    // Opened from the STAR: its micrographs and their CTFs.
    let source = gui::source_of(&[star.to_string_lossy().into_owned()]).unwrap();
    assert_eq!(source, Source::Star(star.clone()));
    let size = Vec2::new(1000.0, 700.0);
    let mut h = harness_with_session(source, &d.join("session.json"), size);
    wait_for(
        &mut h,
        "the micrograph to load",
        Duration::from_secs(60),
        |a| a.image_size() == Some((300, 256)),
    );
    assert_eq!(h.state().ctf_file(), Some(star.as_path()));
    let ctf = h.state().ctf_for(0).expect("the STAR's CTF for mic_DW.mrc");
    assert_eq!(ctf.defocus_u_angstrom, 10_500.0);
    assert!(h.state_mut().select_model(RESTORE_SMALL));
    h.key_press(Key::Num2);
    wait_for(&mut h, "restore denoising", Duration::from_secs(120), |a| {
        a.denoised(RESTORE_SMALL).is_some()
    });
    assert_eq!(h.state().view(), View::Denoised);
    let shown = h.state().denoised(RESTORE_SMALL).unwrap().unwrap().clone();
    let den =
        RestoreDenoiser::load(&ModelSpec::File(weights), &ComputeDevice::cpu("test")).unwrap();
    let (t, p) = (TileConfig::default(), Progress::new());
    let want = den
        .denoise_flipped(
            &image,
            Some(PhaseFlip {
                ctf: &ctf,
                flip_back: true,
            }),
            &t,
            &p,
        )
        .unwrap();
    let scale = want.stats().std as f32;
    let diff = max_abs_diff(&shown, &want);
    assert!(diff < 1e-4 * scale, "GUI vs library: {diff} (σ {scale})");
    drop(h);

    // Opened as a plain file: no CTF, so the model is refused with directions; "CTF…"
    // (import_ctf) gives it one and denoising succeeds.
    let mut h = harness_with_session(Source::File(mic.clone()), &d.join("plain.json"), size);
    wait_for(
        &mut h,
        "the micrograph to load",
        Duration::from_secs(60),
        |a| a.image_size() == Some((300, 256)),
    );
    assert_eq!(h.state().ctf_file(), None);
    assert!(h.state_mut().select_model(RESTORE_SMALL));
    h.key_press(Key::Num2);
    wait_for(&mut h, "the refusal", Duration::from_secs(120), |a| {
        a.denoised(RESTORE_SMALL).is_some()
    });
    let err = h
        .state()
        .denoised(RESTORE_SMALL)
        .unwrap()
        .unwrap_err()
        .to_owned();
    assert!(
        err.contains("phase-flipped") && err.contains("CTF…"),
        "{err}"
    );
    h.state_mut().import_ctf(&star).unwrap();
    wait_for(
        &mut h,
        "denoising with the CTF read",
        Duration::from_secs(120),
        |a| a.denoised(RESTORE_SMALL).is_some_and(|r| r.is_ok()),
    );
    let shown = h.state().denoised(RESTORE_SMALL).unwrap().unwrap().clone();
    let diff = max_abs_diff(&shown, &want);
    assert!(diff < 1e-4 * scale, "GUI (CTF…) vs library: {diff}");
    drop(h);
    unsafe { std::env::remove_var("CRYOLENS_MODELS_DIR") };
}
