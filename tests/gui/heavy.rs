//! Heavy use: a micrograph with 100,000 picks renders (the overlay merges what is too dense to
//! stroke, so the mesh stays bounded) and a right click removes the nearest pick.

use std::time::Duration;

use cryolens::gui::state::SAMPLE_NAME;
use cryolens::gui::{Source, View};
use cryolens::picking::overlay::MAX_CELLS;
use cryolens::picking::{PickSession, SessionPick};
use egui::Vec2;

use crate::harness::{click, harness_with_session, render_viewer, screen_of, setup, wait_for};

#[test]
fn hundred_thousand_picks_render_bounded_and_hit_test() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let session_file = dir.path().join("session.json");
    // The sample is 1024² or larger: 100,000 picks on a jittered lattice over its first 1000².
    let mut session = PickSession::new(vec![SAMPLE_NAME.into()]);
    let picks: Vec<SessionPick> = (0..100_000)
        .map(|k| {
            let (i, j) = ((k % 317) as f64, (k / 317) as f64);
            SessionPick::manual(
                i * 3.15 + (k % 7) as f64 * 0.3,
                j * 3.15 + (k % 5) as f64 * 0.4,
            )
        })
        .collect();
    session.replace(0, picks);
    std::fs::write(&session_file, session.to_json()).unwrap();

    let mut h = harness_with_session(Source::Sample, &session_file, Vec2::new(640.0, 480.0));
    wait_for(&mut h, "the sample to show", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    });
    assert_eq!(h.state().session().picks(0).len(), 100_000);
    render_viewer(&mut h);
    let shapes = h.output().shapes.clone();
    let n_shapes = shapes.len();
    let indices: usize = h
        .ctx
        .tessellate(shapes, 1.0)
        .iter()
        .map(|p| match &p.primitive {
            egui::epaint::Primitive::Mesh(m) => m.indices.len(),
            egui::epaint::Primitive::Callback(_) => 0,
        })
        .sum();
    // The overlay is one mesh of at most MAX_CELLS cells (6 indices each); the rest of the UI
    // is a few hundred shapes. Stroking 100,000 circles made tens of millions of indices.
    assert!(n_shapes < 2_000, "{n_shapes} shapes");
    assert!(indices < 6 * MAX_CELLS + 200_000, "{indices} indices");

    // A right click near a pick removes the pick nearest to where it landed (±1 px).
    let before = h.state().session().picks(0).to_vec();
    let target = before[50_123];
    let pos = screen_of(&h, target.x, target.y);
    click(&mut h, pos, egui::PointerButton::Secondary);
    let after = h.state().session().picks(0).to_vec();
    assert_eq!(after.len(), 99_999);
    let removed = (0..after.len())
        .find(|&i| before[i] != after[i])
        .map_or(before[after.len()], |i| before[i]);
    let d = |p: &SessionPick| ((p.x - target.x).powi(2) + (p.y - target.y).powi(2)).sqrt();
    let nearest = before.iter().map(d).fold(f64::INFINITY, f64::min);
    assert!(
        d(&removed) <= nearest + 2.0,
        "removed {removed:?}, {} px away",
        d(&removed)
    );
}
