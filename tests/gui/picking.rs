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

/// Whether a pixel is a manual pick's green (the micrograph itself is grey).
fn is_mark(p: &image::Rgba<u8>) -> bool {
    let [r, g, b, _] = p.0;
    g > 150 && g as i32 - r as i32 > 80 && g as i32 - b as i32 > 60
}

/// Distance from `c` to the outermost mark pixel along `dir` (screen pixels), looking up to
/// `max` pixels out; `None` when no mark pixel is there.
fn ring_reach(frame: &image::RgbaImage, c: egui::Pos2, dir: (i32, i32), max: i32) -> Option<f32> {
    let (cx, cy) = (c.x.floor() as i32, c.y.floor() as i32);
    (4..=max)
        .filter(|&k| {
            let (x, y) = (cx + dir.0 * k, cy + dir.1 * k);
            x >= 0
                && y >= 0
                && (x as u32) < frame.width()
                && (y as u32) < frame.height()
                && is_mark(frame.get_pixel(x as u32, y as u32))
        })
        .max()
        .map(|k| k as f32)
}

/// The marks drawn on the GPU (one instanced quad per pick): a circle (or, after `B`, a box)
/// round each pick with a dot at its centre, the same size on every side, hollow, and no
/// mark colour anywhere else in the viewer.
#[test]
fn pick_marks_circle_each_pick_and_nothing_else() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let session_file = dir.path().join("session.json");
    let mut h = harness_with_session(Source::Sample, &session_file, Vec2::new(900.0, 700.0));
    wait_for(&mut h, "the sample to show", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    });
    let coords = dir.path().join("known.star");
    std::fs::write(
        &coords,
        "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n200 250\n700 300\n450 800\n",
    )
    .unwrap();
    assert_eq!(h.state_mut().import_picks(&coords).unwrap(), 3);
    let picks = picks_of(&h);
    for boxes in [false, true] {
        if boxes {
            h.key_press(Key::B);
        }
        h.remove_cursor();
        let (frame, viewer) = render_viewer(&mut h);
        let centres: Vec<egui::Pos2> = picks.iter().map(|&(x, y)| screen_of(&h, x, y)).collect();
        let mut radii = Vec::new();
        for c in &centres {
            assert!(
                is_mark(frame.get_pixel(c.x as u32, c.y as u32)),
                "no centre dot at {c:?}"
            );
            let reach: Vec<f32> = [(1, 0), (-1, 0), (0, 1), (0, -1)]
                .iter()
                .map(|&d| ring_reach(&frame, *c, d, 80).expect("an outline on every side"))
                .collect();
            let (lo, hi) = reach
                .iter()
                .fold((f32::MAX, 0.0f32), |(l, h), &r| (l.min(r), h.max(r)));
            assert!(hi - lo <= 2.0, "outline not centred on the pick: {reach:?}");
            radii.push(hi);
            // Hollow: halfway out, the micrograph shows through.
            let half = (lo / 2.0).round();
            let inner = frame.get_pixel((c.x + half) as u32, c.y as u32);
            assert!(!is_mark(inner), "filled mark at {c:?}");
            if boxes {
                // A box's corner is on its outline; a circle's bounding-box corner is not.
                let corner = (c.x + hi - 0.5, c.y + hi - 0.5);
                let on = (-1..=1).any(|d| {
                    is_mark(
                        frame.get_pixel((corner.0 as i32 + d) as u32, (corner.1 as i32 + d) as u32),
                    )
                });
                assert!(on, "no box corner at {corner:?}");
            }
        }
        assert!(
            radii.iter().all(|r| (r - radii[0]).abs() <= 1.0),
            "{radii:?}"
        );
        // Nothing of the mark colour outside the marks.
        let r = radii[0] + 3.0;
        let stray = (viewer.min.y as u32..viewer.max.y as u32)
            .flat_map(|y| (viewer.min.x as u32..viewer.max.x as u32).map(move |x| (x, y)))
            .filter(|&(x, y)| is_mark(frame.get_pixel(x, y)))
            .filter(|&(x, y)| {
                centres.iter().all(|c| {
                    let d = (x as f32 - c.x).abs().max((y as f32 - c.y).abs());
                    d > r
                })
            })
            .count();
        assert_eq!(
            stray, 0,
            "mark pixels away from every pick (boxes: {boxes})"
        );
    }
}
