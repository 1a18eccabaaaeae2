//! Building the app under test and driving it: the global test lock and environment
//! (`setup`), the app exactly as `gui::run` creates it on kittest's headless wgpu renderer
//! (`harness`, `harness_with_session`, `started_app`), stepping until a job is done (`wait_for`), rendering
//! the viewer (`render_viewer`, `viewer_luminance`), screen coordinates of micrograph pixels and clicks
//! (`screen_of`, `click`), and whole-window screenshots (`save_screenshot`).
//!
//! The tests run one at a time (the `SERIAL` lock taken by `setup`) because some of them
//! change the process environment (`CRYOLENS_MODELS_DIR`, `CRYOLENS_MMAP_MIN_BYTES`).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cryolens::gui::{self, AppOptions, CryolensApp, SessionFile, Source};
use egui::{Rect, Vec2};
use egui_kittest::Harness;
use image::RgbaImage;

static SERIAL: Mutex<()> = Mutex::new(());
static DUMPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Serialises the tests and sets the wgpu backend once, before any wgpu instance exists.
pub fn setup() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if std::env::var_os("WGPU_BACKEND").is_none() {
        // SAFETY: tests hold SERIAL, and no other thread of this process reads the
        // environment while it is changed (no harness exists yet).
        unsafe { std::env::set_var("WGPU_BACKEND", "vulkan") };
    }
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Vulkan's window-system layers complain on every instance without one.
        let dir = std::env::temp_dir().join(format!("cryolens-xdg-{}", std::process::id()));
        if std::fs::create_dir_all(&dir).is_ok() {
            // SAFETY: as above.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", dir) };
        }
    }
    guard
}

/// The app exactly as `gui::run` creates it (plus an optional tile cap), on kittest's
/// software-preferring wgpu setup with Cryolens' raised texture limit.
pub fn harness(source: Source, tile_cap: Option<u32>, size: Vec2) -> Harness<'static, CryolensApp> {
    let setup = gui::raise_texture_limit(egui_kittest::wgpu::default_wgpu_setup());
    Harness::builder()
        .with_size(size)
        .with_pixels_per_point(1.0)
        .wgpu_setup(setup)
        .build_eframe(move |cc| match tile_cap {
            None => CryolensApp::new(cc, source),
            Some(cap) => CryolensApp::with_tile_cap(cc, source, Some(cap)),
        })
}

/// The app with a picking session saved into `session_file`.
pub fn harness_with_session(
    source: Source,
    session_file: &Path,
    size: Vec2,
) -> Harness<'static, CryolensApp> {
    let setup = gui::raise_texture_limit(egui_kittest::wgpu::default_wgpu_setup());
    let options = AppOptions {
        session_file: SessionFile::At(session_file.to_path_buf()),
        ..AppOptions::default()
    };
    Harness::builder()
        .with_size(size)
        .with_pixels_per_point(1.0)
        .wgpu_setup(setup)
        .build_eframe(move |cc| CryolensApp::with_options(cc, source, options))
}

/// The start of most tests: the app on `source` with its picking session saved in
/// `dir/session.json`, the mouse cursor left out of rendered frames, stepped until `ready`
/// holds (`what` names it if that takes more than 60 s).
pub fn started_app(
    source: Source,
    dir: &Path,
    size: Vec2,
    what: &str,
    ready: impl Fn(&CryolensApp) -> bool,
) -> Harness<'static, CryolensApp> {
    let mut h = harness_with_session(source, &dir.join("session.json"), size);
    h.set_render_cursor(false);
    wait_for(&mut h, what, Duration::from_secs(60), ready);
    h
}

/// Steps the harness until `done` holds, or panics after `timeout`.
pub fn wait_for(
    h: &mut Harness<'_, CryolensApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&CryolensApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Renders and returns the viewer's area (a 2 px border trimmed) as luminance values.
pub fn render_viewer(h: &mut Harness<'_, CryolensApp>) -> (RgbaImage, Rect) {
    h.step();
    let frame = h.render().expect("render");
    let rect = h.state().viewer_rect().expect("viewer shown").shrink(2.0);
    if let Some(dir) = std::env::var_os("CRYOLENS_TEST_DUMP") {
        let n = DUMPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _ = frame.save(Path::new(&dir).join(format!("frame-{n:02}.png")));
    }
    (frame, rect)
}

/// [`render_viewer`] as luminance rows ([`crate::measure::luminance`]).
pub fn viewer_luminance(h: &mut Harness<'_, CryolensApp>) -> Vec<Vec<f32>> {
    let (frame, rect) = render_viewer(h);
    crate::measure::luminance(&frame, rect)
}

/// Renders the whole window into `screenshots/NAME`.
pub fn save_screenshot(h: &mut Harness<'_, CryolensApp>, name: &str) {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    h.render().unwrap().save(shots.join(name)).unwrap();
}

/// Screen position of the centre of micrograph pixel `(x, y)` in the last frame.
pub fn screen_of(h: &Harness<'_, CryolensApp>, x: f64, y: f64) -> egui::Pos2 {
    let r = h.state().image_rect().expect("image shown");
    let z = h.state().zoom();
    egui::pos2(
        r.min.x + (x as f32 + 0.5) * z,
        r.min.y + (y as f32 + 0.5) * z,
    )
}

pub fn click(h: &mut Harness<'_, CryolensApp>, pos: egui::Pos2, button: egui::PointerButton) {
    h.hover_at(pos);
    h.step();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.step();
    h.step();
}
