//! The desktop application (eframe with the wgpu renderer), split by role:
//!
//! - [`app`]: the struct of sub-states, the per-frame polling of every job (`logic`), and the
//!   layout of the panels (`ui`).
//! - [`state`]: plain data, no egui: the open document and its views cached by key
//!   (`document`), the derived views' settings and keys (`derived`), the volume's navigation
//!   (`volume`), region-SNR boxes and their cached SNR (`regions`), the views (`view`), the
//!   images ready to show (`view_image`), the session's CTF table and its import job (`ctf`).
//! - [`commands`]: every panel's and view's Action handled in one place (`commands/mod.rs`:
//!   it also builds their read-only contexts), and the app's commands by role: opening and
//!   navigation (`open`), derived views (`derived`), volumes (`volume`), the analysis panel's
//!   jobs (`analysis`, `halfmaps`), files in and out (`exchange`).
//! - [`shortcuts`]: key bindings (listed by the help window, `?`).
//! - [`views`]: the central area: single view, comparison panes and orthoviews, each drawn
//!   from a read-only context, changing only the state handed to it mutably (pan and zoom,
//!   picks, region boxes) and returning what the app applies.
//! - [`panels`]: toolbar, side panel, status bar, help, micrograph list, models, training,
//!   analysis (with its tabs and its jobs), half-maps and crefDenoiser (`cref`), contrast,
//!   picking. Panels own their state and jobs and return Actions; none takes the whole app.
//! - [`viewer`]: pan/zoom, GPU textures and the paint callback running
//!   `shaders/micrograph.wgsl`.
//! - [`jobs`] (the app's job slots; the panels' own live in the panels), [`job_slot`] (one
//!   typed slot: start cancels the previous job, poll, progress), [`dialogs`] (file dialogs
//!   as jobs), [`loading`] (job bodies: reading micrographs, denoising, half-maps, training
//!   pairs).
//! - [`queries`]: the read-only accessors (what tests and the status bar read).
//!
//! The science the jobs run lives in the library (`crate::analysis`, `crate::denoise`,
//! `crate::fourier`, …); nothing here computes on the UI thread.

pub mod app;
pub mod commands;
pub mod dialogs;
pub mod frame_times;
pub mod job_slot;
pub mod jobs;
pub mod loading;
pub mod marks_gpu;
pub mod panels;
pub mod queries;
pub mod shortcuts;
pub mod state;
pub mod strip_pipeline;
pub mod viewer;
pub mod views;

use std::sync::Arc;

use eframe::egui_wgpu::{self, wgpu};

pub use app::CryolensApp;
pub use state::{AppOptions, SessionFile, Source, View};

/// Starts the GUI on `inputs` (micrograph files, folders, globs or a RELION micrographs
/// STAR, see [`crate::picking::expand_input`]), or on the bundled sample when empty. Blocks
/// until the window closes; pending picks are saved first.
///
/// # Errors
/// An input naming nothing; the window or the wgpu renderer could not be created (no display,
/// no GPU driver at all).
pub fn run(inputs: &[String]) -> anyhow::Result<()> {
    let source = source_of(inputs)?;
    eframe::run_native(
        "Cryolens",
        native_options(),
        Box::new(move |cc| Ok(Box::new(CryolensApp::new(cc, source)))),
    )
    .map_err(|e| anyhow::anyhow!("could not start the GUI: {e}"))
}

/// The [`Source`] for command-line inputs.
///
/// # Errors
/// An input naming no micrograph.
pub fn source_of(inputs: &[String]) -> anyhow::Result<Source> {
    if inputs.is_empty() {
        return Ok(Source::Sample);
    }
    if let [one] = inputs
        && std::path::Path::new(one)
            .join(crate::screen::TABLE_NAME)
            .is_file()
    {
        return Ok(Source::Screening(one.into()));
    }
    if let [one] = inputs
        && one.ends_with(".star")
        && std::path::Path::new(one).is_file()
    {
        return Ok(Source::Star(one.into()));
    }
    let mut paths = Vec::new();
    for input in inputs {
        paths.extend(crate::picking::expand_input(input)?);
    }
    Ok(if paths.len() == 1 {
        Source::File(paths.remove(0))
    } else {
        Source::Micrographs(paths)
    })
}

/// eframe's options for Cryolens: the wgpu renderer, with the device asked for the adapter's
/// full `max_texture_dimension_2d` (see [`raise_texture_limit`]).
pub fn native_options() -> eframe::NativeOptions {
    let mut options = eframe::NativeOptions {
        renderer: eframe::Renderer::Wgpu,
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("Cryolens")
            .with_inner_size([1280.0, 900.0])
            .with_min_inner_size([640.0, 420.0]),
        ..Default::default()
    };
    options.wgpu_options.wgpu_setup = raise_texture_limit(options.wgpu_options.wgpu_setup);
    options
}

/// Replaces the device descriptor of a `CreateNew` wgpu setup so that the device is created
/// with the adapter's own `max_texture_dimension_2d` (egui-wgpu asks for 8192 by default,
/// though e.g. lavapipe and most desktop GPUs offer 16384 or more). Micrographs larger than
/// the limit are still drawn, split into several textures. An `Existing` setup is returned
/// unchanged.
pub fn raise_texture_limit(setup: egui_wgpu::WgpuSetup) -> egui_wgpu::WgpuSetup {
    match setup {
        egui_wgpu::WgpuSetup::CreateNew(mut create) => {
            create.device_descriptor = Arc::new(device_descriptor);
            egui_wgpu::WgpuSetup::CreateNew(create)
        }
        existing => existing,
    }
}

/// egui-wgpu's default device request, with the texture limit raised to the adapter's.
fn device_descriptor(adapter: &wgpu::Adapter) -> wgpu::DeviceDescriptor<'static> {
    let base = if adapter.get_info().backend == wgpu::Backend::Gl {
        wgpu::Limits::downlevel_webgl2_defaults()
    } else {
        wgpu::Limits::default()
    };
    let offered = adapter.limits().max_texture_dimension_2d;
    wgpu::DeviceDescriptor {
        label: Some("cryolens wgpu device"),
        required_limits: wgpu::Limits {
            max_texture_dimension_2d: offered,
            ..base
        },
        ..Default::default()
    }
}
