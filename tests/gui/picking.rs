//! Particle picking in the GUI: imported picks, clicks landing on the right pixel at several
//! zoom levels, undo / redo, removing and dragging picks, RELION export with exact contents,
//! and the session restored after a restart.

use std::time::Duration;

use cryolens::gui::{CryolensApp, Source, View};
use cryolens::picking::exchange::ExportFormat;
use egui::{Key, Vec2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use crate::harness::{click, harness_with_session, render_viewer, screen_of, setup, wait_for};

fn picks_of(h: &Harness<'_, CryolensApp>) -> Vec<(f64, f64)> {
    let s = h.state().session();
    s.picks(s.current).iter().map(|p| (p.x, p.y)).collect()
}

#[test]
fn picking_clicks_undo_redo_export_and_restore() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let session_file = dir.path().join("session.json");
    let mut h = harness_with_session(Source::Sample, &session_file, Vec2::new(1000.0, 760.0));
    wait_for(&mut h, "the sample to show", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    });
    render_viewer(&mut h);

    // Known picks, imported from a RELION coordinate file.
    let coords = dir.path().join("known.star");
    std::fs::write(
        &coords,
        "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n100 200\n300 400\n500 600\n",
    )
    .unwrap();
    assert_eq!(h.state_mut().import_picks(&coords).unwrap(), 3);
    h.step();
    let known = vec![(100.0, 200.0), (300.0, 400.0), (500.0, 600.0)];
    assert_eq!(picks_of(&h), known);

    // Clicks at known pixels land there (±1 px) at three zoom levels.
    let targets = [(700.0, 150.0), (560.0, 470.0), (430.0, 520.0)];
    for (k, &(x, y)) in targets.iter().enumerate() {
        if k > 0 {
            // Zoom in around the target's neighbourhood with the keyboard.
            for _ in 0..(2 * k) {
                h.key_press(Key::Plus);
            }
            h.step();
            h.step();
        }
        let pos = screen_of(&h, x, y);
        assert!(
            h.state().viewer_rect().unwrap().contains(pos),
            "target {k} off screen at zoom {}",
            h.state().zoom()
        );
        click(&mut h, pos, egui::PointerButton::Primary);
        let got = *picks_of(&h).last().unwrap();
        assert_eq!(picks_of(&h).len(), 4 + k, "zoom {}", h.state().zoom());
        assert!(
            (got.0 - x).abs() <= 1.0 && (got.1 - y).abs() <= 1.0,
            "clicked ({x}, {y}) at zoom {}: stored {got:?}",
            h.state().zoom()
        );
    }
    // Undo the three clicks, redo one, undo it again.
    for _ in 0..3 {
        h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    }
    h.step();
    assert_eq!(picks_of(&h), known);
    h.key_press_modifiers(egui::Modifiers::COMMAND | egui::Modifiers::SHIFT, Key::Z);
    h.step();
    assert_eq!(picks_of(&h).len(), 4);
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(picks_of(&h), known);

    // Fit, then a right click near (300, 400) removes that pick.
    h.key_press(Key::F);
    h.step();
    h.step();
    let near = screen_of(&h, 303.0, 398.0);
    click(&mut h, near, egui::PointerButton::Secondary);
    assert_eq!(picks_of(&h), vec![(100.0, 200.0), (500.0, 600.0)]);

    // Dragging the pick at (500, 600) moves it; one undo puts it back exactly.
    let from = screen_of(&h, 500.0, 600.0);
    let to = screen_of(&h, 560.0, 640.0);
    h.hover_at(from);
    h.step();
    h.drag_at(from);
    h.step();
    for i in 1..=5 {
        h.hover_at(from + (to - from) * (i as f32 / 5.0));
        h.step();
    }
    h.drop_at(to);
    h.step();
    h.step();
    let moved = picks_of(&h)[1];
    assert!(
        (moved.0 - 560.0).abs() <= 1.0 && (moved.1 - 640.0).abs() <= 1.0,
        "dragged to {moved:?}"
    );
    assert_eq!(picks_of(&h).len(), 2, "a drag must not add picks");
    h.key_press_modifiers(egui::Modifiers::COMMAND, Key::Z);
    h.step();
    assert_eq!(picks_of(&h), vec![(100.0, 200.0), (500.0, 600.0)]);

    // Export: RELION's files, exact contents.
    let out = dir.path().join("ManualPick/job005");
    let files = h
        .state_mut()
        .export_picks(&out, ExportFormat::Relion)
        .unwrap();
    assert_eq!(
        files,
        vec![
            out.join("sample_manualpick.star"),
            out.join("manualpick.star")
        ]
    );
    // The provenance line, then RELION's layout.
    assert_eq!(
        std::fs::read_to_string(out.join("sample_manualpick.star")).unwrap(),
        format!("# Written by Cryolens {}\n", env!("CARGO_PKG_VERSION"))
            + "\n# version 30001\n\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n\
         100.000000  200.000000\n500.000000  600.000000\n\n"
    );

    // Quit (dropping the app saves) and reopen: the picks are back.
    drop(h);
    let mut h = harness_with_session(Source::Sample, &session_file, Vec2::new(1000.0, 760.0));
    wait_for(
        &mut h,
        "the sample to show again",
        Duration::from_secs(60),
        |a| a.has_view(View::Raw),
    );
    assert_eq!(picks_of(&h), vec![(100.0, 200.0), (500.0, 600.0)]);
}

/// A damaged `cryolens_session.json` beside the micrographs is set aside, and the notice
/// saying so stays on screen after the micrograph has loaded, until dismissed.
#[test]
fn damaged_session_notice_survives_loading_until_dismissed() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let mic = dir.path().join("mic_001.mrc");
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample.mrc"),
        &mic,
    )
    .unwrap();
    std::fs::write(dir.path().join("cryolens_session.json"), b"{ not json").unwrap();
    let mut h = crate::harness::harness(Source::File(mic), None, Vec2::new(1000.0, 760.0));
    wait_for(
        &mut h,
        "the micrograph to show",
        Duration::from_secs(60),
        |a| a.has_view(View::Raw) && a.viewer_rect().is_some() && !a.is_loading(),
    );
    for _ in 0..3 {
        h.step();
    }
    let notice = h
        .state()
        .notice()
        .expect("notice kept after loading")
        .to_string();
    assert!(notice.contains("could not be read"), "{notice}");
    assert!(h.state().error().is_none());
    assert!(
        h.query_by_label_contains("The picking session could not be read")
            .is_some()
    );
    // The damaged file was kept aside, not overwritten.
    let aside = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("unreadable"));
    assert!(aside, "damaged session not kept aside");
    h.get_by_label("Dismiss notice").click();
    h.step();
    h.step();
    assert!(h.state().notice().is_none());
}
