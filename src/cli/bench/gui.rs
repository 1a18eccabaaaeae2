//! `cryolens bench --what gui`: frame times of the real app, driven headless on wgpu through
//! `egui_kittest` (the GUI tests' harness): a 4k micrograph with 1,000 picks at 1280×800 and
//! 1920×1080, timing each frame (`step`: input, layout, tessellation; `render`: the wgpu
//! draw and read-back of the frame) while panning, zooming, dragging the contrast, switching
//! views and with four linked comparison panes; whether the app asks for frames when idle;
//! and the open-to-first-frame time.
//!
//! The renderer is whatever wgpu picks (`WGPU_BACKEND` chooses; lavapipe without a GPU).
//! The selected model is `affine`, so that its denoised view is ready within a second and no
//! background job competes with the frames.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use eframe::egui;
use eframe::egui_wgpu::{self, wgpu};
use egui_kittest::Harness;
use egui_kittest::wgpu::WgpuTestRenderer;

use crate::gui::{AppOptions, CryolensApp, SessionFile, Source, View};
use crate::picking::{PickSession, SessionPick};
use crate::rng::Rng;

use super::{BenchArgs, default_input, load_average_1min};

/// Frames timed per interaction.
const FRAMES: usize = 40;
/// Picks on the micrograph.
const PICKS: usize = 1_000;

/// What happens before frame `i` of an interaction (input events, a setting changed).
type Interaction = Box<dyn FnMut(&mut Harness<'_, CryolensApp>, usize)>;

/// One interaction's frame times, ms.
struct Row {
    window: (f32, f32),
    what: &'static str,
    median: f64,
    p95: f64,
    /// Median of the frame's CPU part (`step`: input, layout, tessellation), ms.
    step_median: f64,
}

/// Runs every case and prints the table.
///
/// # Errors
/// An unreadable input, the app not showing it within two minutes, no `affine` model
/// installed (`cryolens models install topaz`).
pub fn run_gui(args: &BenchArgs) -> Result<()> {
    let input = args.input.clone().unwrap_or_else(default_input);
    let dir = tempfile::tempdir()?;
    let session_file = dir.path().join("session.json");
    let (w, h) = crate::io::read_micrograph(&input)
        .map(|m| (m.width as f64, m.height as f64))
        .with_context(|| format!("reading {}", input.display()))?;
    let mut session = PickSession::new(vec![input.clone()]);
    let mut rng = Rng::new(11);
    let picks = (0..PICKS)
        .map(|_| SessionPick::manual(rng.uniform() * w, rng.uniform() * h))
        .collect();
    session.replace(0, picks);
    crate::io::atomic::write_atomically(&session_file, session.to_json().as_bytes())?;
    println!("input: {} ({w}×{h} px), {PICKS} picks", input.display());
    println!(
        "renderer: wgpu through egui_kittest (WGPU_BACKEND={}); load average {:.1}",
        std::env::var("WGPU_BACKEND").unwrap_or_else(|_| "unset".into()),
        load_average_1min().unwrap_or(f64::NAN)
    );
    let mut rows = Vec::new();
    let mut opens = Vec::new();
    for window in [(1280.0, 800.0), (1920.0, 1080.0)] {
        let (open, idle, mut r) = run_window(&input, &session_file, window)?;
        opens.push((window, open, idle));
        rows.append(&mut r);
    }
    println!(
        "| window | interaction | frame median ms | frame p95 ms | of which UI (layout, tessellation) median ms |"
    );
    println!("|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {}×{} | {} | {:.1} | {:.1} | {:.1} |",
            r.window.0, r.window.1, r.what, r.median, r.p95, r.step_median
        );
    }
    for ((ww, wh), open, idle) in opens {
        println!(
            "{ww}×{wh}: open to first frame {open:.2} s (app start, wgpu set-up, reading, \
             statistics, texture upload); idle: {idle} of 20 frames after settling asked for another"
        );
    }
    Ok(())
}

/// The app on `input` at `window` points: (open-to-first-frame seconds, idle frames that
/// asked for a repaint, the interactions' rows).
fn run_window(
    input: &std::path::Path,
    session_file: &std::path::Path,
    window: (f32, f32),
) -> Result<(f64, usize, Vec<Row>)> {
    let setup = crate::gui::raise_texture_limit(egui_kittest::wgpu::default_wgpu_setup());
    // The renderer the window has (eframe's defaults: dithering, hardware texture filtering),
    // not kittest's predictable one, which filters textures in the shader.
    let render_state =
        egui_kittest::wgpu::create_render_state(setup, egui_wgpu::RendererOptions::default());
    let mut screen = Screen::new(&render_state, window);
    let options = AppOptions {
        session_file: SessionFile::At(session_file.to_path_buf()),
        ..AppOptions::default()
    };
    let source = Source::File(PathBuf::from(input));
    let start = Instant::now();
    let mut h = Harness::builder()
        .with_size(egui::Vec2::new(window.0, window.1))
        .with_pixels_per_point(1.0)
        .renderer(WgpuTestRenderer::from_render_state(render_state))
        .build_eframe(move |cc| CryolensApp::with_options(cc, source, options));
    h.set_render_cursor(false);
    wait(&mut h, "the micrograph to show", |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    })?;
    screen.draw(&h)?;
    let open = start.elapsed().as_secs_f64();
    if !h.state_mut().select_model("affine") {
        bail!("the affine model is not installed (cryolens models install topaz)");
    }
    h.state_mut().set_view(View::Denoised);
    wait(&mut h, "the denoised and low-pass views", |a| {
        a.has_view(View::Denoised) && a.has_view(View::Lowpass) && !a.is_busy()
    })?;
    let centre = h
        .state()
        .viewer_rect()
        .map(|r| r.center())
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut timed = |h: &mut Harness<'_, CryolensApp>,
                     screen: &mut Screen,
                     what: &'static str,
                     mut before: Interaction|
     -> Result<()> {
        let mut ms = Vec::with_capacity(FRAMES);
        let mut step_ms = Vec::with_capacity(FRAMES);
        for i in 0..FRAMES {
            before(h, i);
            let t = Instant::now();
            h.step();
            step_ms.push(t.elapsed().as_secs_f64() * 1e3);
            screen.draw(h)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        step_ms.sort_by(f64::total_cmp);
        rows.push(Row {
            window,
            what,
            median: ms[ms.len() / 2],
            step_median: step_ms[step_ms.len() / 2],
            p95: ms[(ms.len() * 95 / 100).min(ms.len() - 1)],
        });
        Ok(())
    };
    timed(
        &mut h,
        &mut screen,
        "pan (middle-button drag)",
        Box::new(move |h, i| {
            let p = centre + egui::vec2(3.0 * i as f32, 2.0 * i as f32);
            let input = h.input_mut();
            if i == 0 {
                input.events.push(egui::Event::PointerMoved(centre));
                input.events.push(egui::Event::PointerButton {
                    pos: centre,
                    button: egui::PointerButton::Middle,
                    pressed: true,
                    modifiers: egui::Modifiers::NONE,
                });
            }
            input.events.push(egui::Event::PointerMoved(p));
        }),
    )?;
    h.input_mut().events.push(egui::Event::PointerButton {
        pos: centre,
        button: egui::PointerButton::Middle,
        pressed: false,
        modifiers: egui::Modifiers::NONE,
    });
    h.step();
    timed(
        &mut h,
        &mut screen,
        "zoom (wheel)",
        Box::new(move |h, i| {
            let sign = if i < FRAMES / 2 { 1.0 } else { -1.0 };
            let input = h.input_mut();
            input.events.push(egui::Event::PointerMoved(centre));
            input.events.push(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, 40.0 * sign),
                phase: egui::TouchPhase::Move,
                modifiers: egui::Modifiers::NONE,
                source: egui::MouseWheelSource::Wheel,
            });
        }),
    )?;
    timed(
        &mut h,
        &mut screen,
        "contrast drag",
        Box::new(|h, i| {
            let s = 2.0 + (i % 10) as f32 * 0.1;
            h.state_mut().set_contrast(-s, s);
        }),
    )?;
    let views = [View::Raw, View::Denoised, View::Lowpass];
    timed(
        &mut h,
        &mut screen,
        "view switch (raw, denoised, low-pass)",
        Box::new(move |h, i| h.state_mut().set_view(views[i % 3])),
    )?;
    h.state_mut().set_compare(
        true,
        &[View::Raw, View::Denoised, View::Lowpass, View::Raw],
        false,
    );
    h.step();
    h.step();
    timed(
        &mut h,
        &mut screen,
        "4 linked compare panes, zooming",
        Box::new(move |h, i| {
            let c = h
                .state()
                .compare_rects()
                .first()
                .map(|r| r.center())
                .unwrap_or(centre);
            let input = h.input_mut();
            input.events.push(egui::Event::PointerMoved(c));
            input.events.push(egui::Event::MouseWheel {
                unit: egui::MouseWheelUnit::Point,
                delta: egui::vec2(0.0, if i % 2 == 0 { 30.0 } else { -30.0 }),
                phase: egui::TouchPhase::Move,
                modifiers: egui::Modifiers::NONE,
                source: egui::MouseWheelSource::Wheel,
            });
        }),
    )?;
    // Idle: no input; after five frames for egui to settle (animations end, hover states
    // update), does the app ask for another frame?
    h.run_steps(5);
    let mut asked = 0;
    for _ in 0..20 {
        h.step();
        if h.ctx.has_requested_repaint() {
            asked += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((open, asked, rows))
}

/// Steps until `done` holds (two minutes at most).
fn wait(
    h: &mut Harness<'_, CryolensApp>,
    what: &str,
    done: impl Fn(&CryolensApp) -> bool,
) -> Result<()> {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            h.step();
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(120) {
            bail!("timed out after 2 min waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The window's frame without a window: egui's output drawn into a texture of the window's
/// size with the app's renderer, as eframe draws into its surface before presenting; the
/// time includes waiting for the device to finish (no read-back: a window does not read its
/// frame back).
struct Screen {
    render_state: egui_wgpu::RenderState,
    target: wgpu::TextureView,
    size_px: [u32; 2],
}

impl Screen {
    fn new(render_state: &egui_wgpu::RenderState, window: (f32, f32)) -> Self {
        let size_px = [window.0.round() as u32, window.1.round() as u32];
        let texture = render_state
            .device
            .create_texture(&wgpu::TextureDescriptor {
                label: Some("bench window"),
                size: wgpu::Extent3d {
                    width: size_px[0],
                    height: size_px[1],
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: render_state.target_format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
                view_formats: &[],
            });
        Self {
            render_state: render_state.clone(),
            target: texture.create_view(&wgpu::TextureViewDescriptor::default()),
            size_px,
        }
    }

    /// Draws the harness's last output (its texture changes were applied by `step`).
    fn draw(&mut self, h: &Harness<'_, CryolensApp>) -> Result<()> {
        let rs = &self.render_state;
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: self.size_px,
            pixels_per_point: h.ctx.pixels_per_point(),
        };
        let jobs = h
            .ctx
            .tessellate(h.output().shapes.clone(), screen.pixels_per_point);
        let mut renderer = rs.renderer.write();
        let mut encoder = rs
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        let user = renderer.update_buffers(&rs.device, &rs.queue, &mut encoder, &jobs, &screen);
        {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("bench window"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &self.target,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                            store: wgpu::StoreOp::Store,
                        },
                        depth_slice: None,
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            renderer.render(&mut pass, &jobs, &screen);
        }
        let index = rs
            .queue
            .submit(user.into_iter().chain(std::iter::once(encoder.finish())));
        rs.device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(Duration::from_secs(60)),
            })
            .map_err(|e| anyhow::anyhow!("wgpu: {e}"))?;
        Ok(())
    }
}
