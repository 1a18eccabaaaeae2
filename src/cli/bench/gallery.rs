//! `cryolens bench --what gallery`: the screening gallery over a large data set, measured
//! without a display: a screening folder of `--micrographs` rows (10,000 by default) whose
//! thumbnails cycle through 64 distinct 512² PNGs, opened in a headless egui context as the
//! app opens it (the table read by a worker, thumbnails decoded by workers); then frames
//! scrolled by the mouse wheel, laid out and tessellated; then the peak memory.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use eframe::egui;

use crate::gui::views::gallery::GalleryView;
use crate::rng::Rng;
use crate::screen::{ScreenRow, ScreenTable};

use super::{BenchArgs, load_average_1min, peak_rss_mib, reset_peak_rss};

/// Distinct thumbnails the rows cycle through.
const DISTINCT: usize = 64;
/// Their side, pixels (the screening default).
const SIDE: u32 = 512;
/// The headless window, points.
const WINDOW: (f32, f32) = (1600.0, 1000.0);

/// Writes a screening folder of `n` micrographs into `dir`: `DISTINCT` thumbnails (blobs on
/// noise, denoised and raw), and `screening.csv` with random metrics in realistic ranges.
fn write_folder(dir: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(dir.join("thumbnails"))?;
    std::fs::create_dir_all(dir.join("raw"))?;
    let mut rng = Rng::new(7);
    for k in 0..DISTINCT {
        let blobs: Vec<(f64, f64)> = (0..120)
            .map(|_| {
                (
                    rng.uniform() * f64::from(SIDE),
                    rng.uniform() * f64::from(SIDE),
                )
            })
            .collect();
        let image = image::GrayImage::from_fn(SIDE, SIDE, |x, y| {
            let near = blobs
                .iter()
                .any(|&(bx, by)| (f64::from(x) - bx).hypot(f64::from(y) - by) < 9.0);
            let v = if near { 60.0 } else { 170.0 } + 25.0 * rng.normal();
            image::Luma([v.clamp(0.0, 255.0) as u8])
        });
        image.save(dir.join(format!("thumbnails/t{k:02}.png")))?;
        image.save(dir.join(format!("raw/t{k:02}.png")))?;
    }
    let mut table = ScreenTable::open(dir)?;
    for i in 0..n {
        let k = i % DISTINCT;
        table.upsert(ScreenRow {
            micrograph: format!("/data/GridSquare_{}/Data/FoilHole_{i:06}.mrc", i / 500),
            acquisition_time: Some(format!("2026-12-05T{:02}:{:02}:00", (i / 60) % 24, i % 60)),
            width_px: Some(4096),
            height_px: Some(4096),
            pixel_size_angstrom: Some(0.83),
            snr_raw_db: Some(-12.0 + 3.0 * rng.normal()),
            snr_denoised_db: Some(-4.0 + 2.0 * rng.normal()),
            snbr_db: Some(1.0 + 2.0 * rng.normal()),
            ice_ring_db: Some(rng.uniform().powi(8) * 6.0),
            thumbnail: Some(format!("thumbnails/t{k:02}.png")),
            raw_thumbnail: Some(format!("raw/t{k:02}.png")),
            ..Default::default()
        });
    }
    table.save()
}

/// Seconds since the first call (the frames' clock: egui animates scrolling by it).
fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// One frame of the gallery: input events, poll, show, tessellate; returns the frame's
/// wall time.
fn frame(ctx: &egui::Context, view: &mut GalleryView, events: Vec<egui::Event>) -> Duration {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(WINDOW.0, WINDOW.1),
        )),
        events,
        time: Some(clock()),
        ..Default::default()
    };
    let started = Instant::now();
    let out = ctx.run_ui(input, |ui| {
        view.poll(ui.ctx());
        egui::CentralPanel::default().show(ui, |ui| {
            view.show(ui);
        });
    });
    let _ = ctx.tessellate(out.shapes, out.pixels_per_point);
    started.elapsed()
}

/// Frames until `done` holds (at most 120 s); the time taken.
fn until(
    ctx: &egui::Context,
    view: &mut GalleryView,
    what: &str,
    done: impl Fn(&GalleryView) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    while !done(view) {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the gallery did not reach {what} in 120 s"
        );
        frame(ctx, view, Vec::new());
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(started.elapsed())
}

/// `cryolens bench --what gallery`: prints a Markdown table of the times to open the gallery
/// and to fill the first screen, the frame times while scrolling, and the peak memory.
///
/// # Errors
/// A temporary folder that cannot be written; a gallery that does not open.
pub fn run_gallery(args: &BenchArgs) -> Result<()> {
    let n = args.micrographs;
    let tmp = tempfile::tempdir().context("creating a temporary folder")?;
    let dir = tmp.path().join("screening");
    write_folder(&dir, n)?;
    reset_peak_rss();
    println!(
        "synthetic screening folder: {n} micrographs, {DISTINCT} distinct {SIDE}² thumbnails, \
         window {}×{} points; load average {:.2}",
        WINDOW.0,
        WINDOW.1,
        load_average_1min().unwrap_or(f64::NAN)
    );
    println!("\n| measure | value | how |\n|---|---|---|");
    let ctx = egui::Context::default();
    let mut view = GalleryView::default();
    view.open_dir(dir.clone());
    let opened = until(&ctx, &mut view, "an open table", |v| v.gallery().is_some())?;
    println!(
        "| open: table read, grid laid out | {:.2} s | `screening.csv` of {n} rows read by a worker, first frame drawn |",
        opened.as_secs_f64()
    );
    let filled = until(&ctx, &mut view, "a full first screen", |v| {
        v.textures() >= v.visible().len().min(n) && !v.visible().is_empty()
    })?;
    println!(
        "| first screen of thumbnails | {:.2} s more | {} thumbnails decoded by workers, shrunk to the cell |",
        filled.as_secs_f64(),
        view.visible().len()
    );
    // Scroll: the wheel over the grid, one notch a frame, frames paced at 60 Hz.
    let centre = egui::pos2(WINDOW.0 / 2.0, WINDOW.1 * 0.7);
    frame(&ctx, &mut view, vec![egui::Event::PointerMoved(centre)]);
    let mut times = Vec::new();
    for _ in 0..300 {
        let took = frame(&ctx, &mut view, vec![GalleryView::wheel_notch()]);
        times.push(took.as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_micros(16_667).saturating_sub(took));
    }
    let scrolled_to = view.visible().start;
    let refilled = until(&ctx, &mut view, "a full screen after scrolling", |v| {
        v.textures() >= v.visible().len().min(n)
    })?;
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let p95 = times[times.len() * 95 / 100];
    println!(
        "| frame while scrolling | {mean:.1} ms mean, {p95:.1} ms p95 | 300 frames, one wheel notch each (layout, plot of {n} points, tessellation; no GPU upload) |"
    );
    println!(
        "| screen filled after the scroll | {:.2} s | scrolled to micrograph {scrolled_to} of {n}; its thumbnails decoded |",
        refilled.as_secs_f64()
    );
    println!(
        "| textures kept | {} | at most {} |",
        view.textures(),
        crate::gui::views::gallery::MAX_TEXTURES
    );
    println!(
        "| peak memory | {:.0} MiB | peak resident set of this process from the open on |",
        peak_rss_mib()
    );
    Ok(())
}
