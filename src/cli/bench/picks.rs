//! `cryolens bench --what picks`: heavy use of the picking GUI, measured without a display on
//! synthetic sessions with known sizes: the single view's pick overlay with 100,000 picks on
//! one micrograph (building and tessellating its shapes), hit-testing by the spatial index
//! against a linear scan, the micrograph list and autosave of a 5,000-micrograph session, and
//! the peak memory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use eframe::egui;

use crate::gui::panels::micrograph_list;
use crate::gui::panels::picking::PickTool;
use crate::gui::viewer::ViewTransform;
use crate::picking::autosave::{Autosaver, write_parts};
use crate::picking::{JsonCache, PickIndex, PickSession, SessionPick};
use crate::rng::Rng;

use super::spectra::best_of;
use super::{BenchArgs, load_average_1min, peak_rss_mib, reset_peak_rss};

/// Side of the synthetic micrograph (px).
pub const MICROGRAPH_SIDE_PX: f64 = 4096.0;
/// Picks on the heavy micrograph.
pub const HEAVY_PICKS: usize = 100_000;
/// Micrographs in the large session.
pub const SESSION_MICROGRAPHS: usize = 5_000;
/// Particle radius of the benchmark (px): 150 Å at 1.875 Å/px.
pub const RADIUS_PX: f64 = 40.0;
/// Size of the headless window the overlay is drawn into (points).
pub const WINDOW: (f32, f32) = (1280.0, 900.0);

/// `n` picks uniformly over the synthetic micrograph (seed `seed`); every third is an autopick
/// with a score in [0, 1).
pub fn random_picks(n: usize, seed: u64) -> Vec<SessionPick> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|k| SessionPick {
            x: rng.uniform() * MICROGRAPH_SIDE_PX,
            y: rng.uniform() * MICROGRAPH_SIDE_PX,
            score: (k % 3 == 0).then(|| rng.uniform()),
            z: None,
        })
        .collect()
}

/// One frame of the overlay in a headless egui context: draws the picks of `tool` at `zoom`
/// (centred on the micrograph) and tessellates; returns (shapes, vertices, indices).
fn overlay_frame(
    ctx: &egui::Context,
    tool: &PickTool,
    zoom: f32,
    unbounded: bool,
) -> (usize, usize, usize) {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(WINDOW.0, WINDOW.1),
        )),
        ..Default::default()
    };
    let transform = ViewTransform {
        zoom,
        center: egui::Vec2::splat(0.5 * MICROGRAPH_SIDE_PX as f32),
        fit: false,
    };
    let out = ctx.run_ui(input, |ui| {
        let rect = ui.max_rect();
        let painter = ui.painter_at(rect);
        if unbounded {
            // What the overlay did before: every visible pick stroked.
            for p in tool.session.picks(tool.session.current) {
                let c = crate::gui::panels::picking::pick_to_screen(&transform, rect, p);
                if rect.expand(RADIUS_PX as f32 * zoom).contains(c) {
                    let stroke = egui::Stroke::new(1.5, egui::Color32::GREEN);
                    painter.circle_stroke(c, (RADIUS_PX as f32 * zoom).max(3.0), stroke);
                    painter.circle_filled(c, 1.5, egui::Color32::GREEN);
                }
            }
        } else {
            tool.draw(&painter, rect, &transform, RADIUS_PX);
        }
    });
    let shapes = out.shapes.len();
    let prims = ctx.tessellate(out.shapes, out.pixels_per_point);
    let (mut vertices, mut indices) = (0, 0);
    for p in prims {
        if let egui::epaint::Primitive::Mesh(m) = p.primitive {
            vertices += m.vertices.len();
            indices += m.indices.len();
        }
    }
    (shapes, vertices, indices)
}

/// The 5,000-micrograph session: `per_micrograph` random picks each, micrograph 0 with
/// [`HEAVY_PICKS`].
fn large_session(per_micrograph: usize) -> PickSession {
    let paths: Vec<PathBuf> = (0..SESSION_MICROGRAPHS)
        .map(|i| PathBuf::from(format!("/data/Micrographs/mic_{i:05}.mrc")))
        .collect();
    let mut s = PickSession::new(paths);
    for (i, m) in s.micrographs.iter_mut().enumerate() {
        let n = if i == 0 { HEAVY_PICKS } else { per_micrograph };
        m.picks = random_picks(n, i as u64);
    }
    s.touch();
    s
}

/// One row of the table: what, the figure, how it was measured.
fn row(what: &str, value: String, how: &str) {
    println!("| {what} | {value} | {how} |");
}

/// `cryolens bench --what picks`: prints a Markdown table (see the module documentation);
/// `--repeats` (default 5) is the number of timed runs per figure (the best is reported),
/// `--picks-per-micrograph` the picks of each micrograph of the 5,000-micrograph session
/// (default 200).
///
/// # Errors
/// A temporary folder that cannot be created or written.
pub fn run_picks(args: &BenchArgs) -> Result<()> {
    reset_peak_rss();
    let repeats = args.repeats.unwrap_or(5).max(1);
    let per = args.picks_per_micrograph;
    println!(
        "synthetic: {HEAVY_PICKS} picks on a {MICROGRAPH_SIDE_PX}² micrograph (radius {RADIUS_PX} px); \
         a session of {SESSION_MICROGRAPHS} micrographs with {per} picks each (the first with {HEAVY_PICKS}); \
         best of {repeats}"
    );
    println!("\n| measure | value | how |\n|---|---|---|");

    // 1. The overlay with 100,000 picks.
    let mut one = PickSession::new(vec![PathBuf::from("heavy.mrc")]);
    one.micrographs[0].picks = random_picks(HEAVY_PICKS, 1);
    one.touch();
    let tool = PickTool::new(one, None);
    let ctx = egui::Context::default();
    let fit = WINDOW.1 / MICROGRAPH_SIDE_PX as f32;
    for (label, zoom) in [("fit", fit), ("1×", 1.0), ("4×", 4.0)] {
        let (s, (shapes, vertices, indices)) =
            best_of(repeats, || Ok(overlay_frame(&ctx, &tool, zoom, false)))?;
        row(
            &format!("overlay frame, 100k picks, zoom {label}"),
            format!("{:.2} ms", s * 1e3),
            &format!(
                "{shapes} shapes, {vertices} vertices, {indices} indices (build + tessellate)"
            ),
        );
    }
    let (s, (shapes, vertices, indices)) =
        best_of(1, || Ok(overlay_frame(&ctx, &tool, fit, true)))?;
    row(
        "before: every visible pick stroked, zoom fit",
        format!("{:.0} ms", s * 1e3),
        &format!(
            "{shapes} shapes, {vertices} vertices, {indices} indices = {:.0} MiB of index buffer",
            indices as f64 * 4.0 / (1 << 20) as f64
        ),
    );

    // 2. Hit-testing: the index against a linear scan, 10,000 random clicks.
    let picks = tool.session.picks(0);
    let mut rng = Rng::new(9);
    let clicks: Vec<(f64, f64)> = (0..10_000)
        .map(|_| {
            (
                rng.uniform() * MICROGRAPH_SIDE_PX,
                rng.uniform() * MICROGRAPH_SIDE_PX,
            )
        })
        .collect();
    let (build_s, index) = best_of(repeats, || Ok(PickIndex::build(picks, RADIUS_PX, |_| true)))?;
    let (index_s, found) = best_of(repeats, || {
        Ok(clicks
            .iter()
            .map(|&(x, y)| index.nearest(x, y, RADIUS_PX))
            .collect::<Vec<_>>())
    })?;
    let (linear_s, brute) = best_of(1, || {
        Ok(clicks
            .iter()
            .map(|&(x, y)| {
                picks
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i, (p.x - x).powi(2) + (p.y - y).powi(2)))
                    .filter(|&(_, d2)| d2 <= RADIUS_PX * RADIUS_PX)
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i)
            })
            .collect::<Vec<_>>())
    })?;
    anyhow::ensure!(found == brute, "the index and the linear scan disagree");
    let n = clicks.len() as f64;
    row(
        "hit-test, 100k picks: index",
        format!("{:.2} µs per click", index_s / n * 1e6),
        &format!("10,000 random clicks, radius {RADIUS_PX} px; same answers as the scan"),
    );
    row(
        "hit-test, 100k picks: linear scan",
        format!("{:.0} µs per click", linear_s / n * 1e6),
        "the same clicks",
    );
    row(
        "index build, 100k picks",
        format!("{:.2} ms", build_s * 1e3),
        "once per edit, on the first click after it",
    );
    drop(tool);

    // 3. The 5,000-micrograph session: list frame, autosave.
    let mut session = large_session(per);
    let total: usize = session.micrographs.iter().map(|m| m.picks.len()).sum();
    let thumbnails = std::collections::HashMap::new();
    let list_ctx = egui::Context::default();
    let (list_s, rows) = best_of(repeats, || {
        let mut rows = 0..0;
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(240.0, WINDOW.1),
            )),
            ..Default::default()
        };
        let _ = list_ctx.run_ui(input, |ui| {
            rows = micrograph_list::show(ui, &session, &thumbnails, false).visible;
        });
        Ok(rows)
    })?;
    row(
        "micrograph list frame, 5,000 micrographs",
        format!("{:.2} ms", list_s * 1e3),
        &format!("rows {rows:?} laid out (show_rows), no thumbnails"),
    );
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let path = dir.path().join("cryolens_session.json");
    let (full_s, parts) = best_of(
        repeats,
        || Ok(session.json_parts(&mut JsonCache::default())),
    )?;
    let bytes: usize = parts.iter().map(|p| p.len()).sum();
    row(
        &format!("serialise the whole session ({total} picks)"),
        format!("{:.0} ms", full_s * 1e3),
        &format!(
            "{:.1} MiB of JSON; once, on the first save",
            bytes as f64 / (1 << 20) as f64
        ),
    );
    let (write_s, ()) = best_of(repeats, || write_parts(&path, &parts))?;
    row(
        "atomic write of the session file",
        format!("{:.0} ms", write_s * 1e3),
        "temporary file, fsync, rename, fsync of the folder",
    );
    let mut cache = JsonCache::default();
    let _ = session.json_parts(&mut cache);
    let mut k = 0;
    let (edit_s, parts) = best_of(repeats, || {
        k += 1;
        session.add(1 + k % 100, 10.0, 10.0);
        Ok(session.json_parts(&mut cache))
    })?;
    row(
        "autosave after an edit: UI thread",
        format!("{:.2} ms", edit_s * 1e3),
        "the edited micrograph re-serialised, the others' parts shared",
    );
    let saver = Autosaver::new(&path);
    let (save_s, ()) = best_of(repeats, || {
        saver.submit_parts(parts.clone());
        saver.flush().map_err(anyhow::Error::msg)
    })?;
    row(
        "autosave after an edit: saver thread",
        format!("{:.0} ms", save_s * 1e3),
        "submit + write on the autosave thread until on disk",
    );
    let (load_s, loaded) = best_of(1, || Ok(PickSession::load(&path)?))?;
    anyhow::ensure!(
        loaded.micrographs.len() == SESSION_MICROGRAPHS,
        "the session did not read back"
    );
    row(
        "open: read and parse the session file",
        format!("{:.0} ms", load_s * 1e3),
        "on a worker thread",
    );
    let paths: Vec<PathBuf> = loaded.micrographs.iter().map(|m| m.path.clone()).collect();
    let mut merged = loaded;
    let (merge_s, ()) = best_of(1, || {
        merged.merge_paths(&paths);
        Ok(())
    })?;
    row(
        "open: merge the folder's 5,000 paths",
        format!("{:.1} ms", merge_s * 1e3),
        "on a worker thread",
    );
    drop((merged, session, parts, saver));
    row(
        "peak memory",
        format!("{:.0} MiB", peak_rss_mib()),
        "peak RSS of the whole run (VmHWM)",
    );
    if let Some(load) = load_average_1min().filter(|&l| l > 1.5) {
        println!("\nnote: 1-minute load average {load:.1}: other work shared the CPU.");
    }
    Ok(())
}
