//! **Watch folder…**: the live pane follows a folder as micrographs land in it (screened by the
//! engine of `cryolens screen --watch`), the gallery grows row by row, a banner shows when the
//! newest one crosses the threshold typed into "reject if", and the data set's histograms
//! and per-ring curves (restore Fig. 3a/3b) are drawn from what was screened.

use std::path::Path;
use std::time::Duration;

use cryolens::gui::Source;
use egui::{Role, Vec2};
use egui_kittest::kittest::Queryable;

use crate::harness::{save_screenshot, started_app, wait_for};

#[test]
fn watch_folder_screens_arrivals_live_with_a_threshold_banner() {
    let _guard = crate::harness::setup();
    let dir = tempfile::tempdir().unwrap();
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    let fei = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc");
    std::fs::copy(&fei, incoming.join("exposure_0001.mrc")).unwrap();
    let mut h = started_app(
        Source::Sample,
        dir.path(),
        Vec2::new(1300.0, 1000.0),
        "the sample denoised (model and device ready)",
        |a| a.selected_model().is_some() && a.device_description().is_some(),
    );
    h.state_mut().watch(incoming.clone());
    assert_eq!(h.state().error(), None);
    wait_for(
        &mut h,
        "the first exposure screened and in the gallery",
        Duration::from_secs(240),
        |a| {
            let (g, open, _) = a.gallery();
            open && g.is_some_and(|g| g.len() == 1) && a.live().is_some_and(|l| l.0 == 1)
        },
    );
    let out = incoming.join("cryolens_screening");
    assert!(out.join("screening.csv").is_file());
    let (_, running, newest) = h.state().live().unwrap();
    assert!(running);
    let first = newest.unwrap();
    assert!(first.micrograph.ends_with("exposure_0001.mrc"));
    let (raw, snbr) = (first.snr_raw_db.unwrap(), first.snbr_db.unwrap());
    // The fei exposure's count split gives a real SNR; the denoiser's SNBR is above it.
    assert!(raw < 0.0 && snbr > raw, "SNR raw {raw} dB, SNBR {snbr} dB");
    assert!(out.join(first.ring_curves.unwrap()).is_file());

    // A second exposure lands: screened without any action, appended to the gallery.
    std::fs::copy(&fei, incoming.join("exposure_0002.mrc")).unwrap();
    wait_for(
        &mut h,
        "the second exposure",
        Duration::from_secs(240),
        |a| a.gallery().0.is_some_and(|g| g.len() == 2) && a.live().is_some_and(|l| l.0 == 2),
    );
    let (g, _, _) = h.state().gallery();
    assert!(
        g.unwrap().rows()[1]
            .micrograph
            .ends_with("exposure_0002.mrc")
    );
    assert!(
        h.query_by_label_contains("crosses").is_none(),
        "no banner without a threshold"
    );

    // A threshold the newest crosses raises the banner; one it does not cross, none.
    let rule = format!("snr_raw_db>{:.1}", raw - 10.0);
    h.get_by_role_and_label(Role::TextInput, "reject if")
        .click();
    h.run_steps(2);
    h.get_by_role_and_label(Role::TextInput, "reject if")
        .type_text(&rule);
    h.run_steps(3);
    assert!(
        h.query_by_label_contains("crosses snr_raw_db>").is_some(),
        "banner for {rule}"
    );

    // Fig. 3a: histograms of the two exposures; Fig. 3b: their mean per-ring curves.
    h.get_by_label("histograms").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("SNBR denoised: mean").is_some());
    h.get_by_label("per ring").click();
    wait_for(
        &mut h,
        "the per-ring curves",
        Duration::from_secs(30),
        |a| a.gallery_curves() == Some(2),
    );
    if std::env::var_os("CRYOLENS_SAVE_SCREENSHOTS").is_some() {
        save_screenshot(&mut h, "live.png");
        h.get_by_label("histograms").click();
        h.run_steps(3);
        save_screenshot(&mut h, "gallery_histograms.png");
    }

    h.state_mut().stop_watch();
    wait_for(&mut h, "the watch to stop", Duration::from_secs(240), |a| {
        a.live().is_some_and(|l| !l.1)
    });
    // Stopping loses nothing: both rows and their files are on disk.
    let table = cryolens::screen::ScreenTable::open(&out).unwrap();
    assert_eq!(table.rows().len(), 2);
}
