//! The application state: the open micrograph, its cached views, the background jobs, and
//! the layout (toolbar, side panel, viewer, status bar).
//!
//! The UI thread never computes science: reading files, denoising, low-pass filtering, the
//! model install and the file dialog all run as [`Job`]s, polled once per frame; while any
//! runs the app asks for a repaint every 100 ms (400 ms on a software rasteriser), never an
//! immediate one, so headless tests settle.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui::{Key, Rect};

use crate::denoise::{TileConfig, TopazDenoiser};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::fourier;
use crate::image::Volume;
use crate::io::{self, ContentKind};
use crate::jobs::{Job, Progress};
use crate::models::{ModelSpec, TopazArch, install, topaz_dir};

use super::contrast::{self, ColourMap, Contrast};
use super::models_panel::{self, ModelsAction, ModelsState};
use super::status::{self, StatusInfo};
use super::viewer::{self, ViewImage, ViewTransform};

/// The real micrograph bundled with Cryolens (1024×1024 crop, 0.8538 Å/px).
static SAMPLE_MRC: &[u8] = include_bytes!("../../assets/sample.mrc");

/// What to open at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The bundled sample micrograph.
    Sample,
    /// A file on disk.
    File(PathBuf),
}

/// The three ways of looking at a micrograph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// The micrograph as read.
    Raw,
    /// Denoised by the selected Topaz model.
    Denoised,
    /// Low-passed by Fourier binning.
    Lowpass,
}

impl View {
    /// All views, in toolbar order (keys 1, 2, 3).
    pub const ALL: [View; 3] = [View::Raw, View::Denoised, View::Lowpass];

    /// Toolbar label (also the accessible name of its button).
    pub fn name(self) -> &'static str {
        match self {
            View::Raw => "Raw",
            View::Denoised => "Denoised",
            View::Lowpass => "Low-pass",
        }
    }

    fn index(self) -> usize {
        match self {
            View::Raw => 0,
            View::Denoised => 1,
            View::Lowpass => 2,
        }
    }
}

/// A micrograph that was read, before it becomes the open document.
struct Loaded {
    name: String,
    note: Option<String>,
    raw: ViewImage,
}

/// The open micrograph and every view computed from it.
struct Document {
    name: String,
    note: Option<String>,
    raw: Arc<ViewImage>,
    /// Denoised images by model name.
    denoised: HashMap<&'static str, Arc<ViewImage>>,
    /// Low-passed images by bin factor (in hundredths).
    lowpass: HashMap<u32, Arc<ViewImage>>,
    /// Models whose denoising failed on this document (not retried automatically).
    denoise_failed: HashMap<&'static str, String>,
}

impl Document {
    fn keep_ids(&self) -> Vec<u64> {
        std::iter::once(self.raw.id)
            .chain(self.denoised.values().map(|v| v.id))
            .chain(self.lowpass.values().map(|v| v.id))
            .collect()
    }
}

/// A job with what it computes for.
struct Keyed<K, T> {
    key: K,
    job: Job<T>,
}

/// The Cryolens desktop application.
pub struct CryolensApp {
    doc: Option<Document>,
    view: View,
    transform: ViewTransform,
    contrast: [Contrast; 3],
    colour_map: ColourMap,
    lowpass_factor: f32,
    models: ModelsState,
    device: Option<ComputeDevice>,
    device_job: Option<Job<ComputeDevice>>,
    load_job: Option<Keyed<String, Loaded>>,
    denoise_job: Option<Keyed<&'static str, ViewImage>>,
    lowpass_job: Option<Keyed<u32, ViewImage>>,
    install_job: Option<Job<Vec<PathBuf>>>,
    dialog_job: Option<Keyed<Instant, Option<PathBuf>>>,
    error: Option<String>,
    info: Option<String>,
    max_texture_side: Option<u32>,
    hover: Option<(usize, usize, f32)>,
    viewer_rect: Option<Rect>,
    show_help: bool,
    /// How often to poll running jobs: each poll repaints, which costs a whole CPU core at
    /// 10 Hz on a software rasteriser (lavapipe), so it is slower there.
    poll_interval: Duration,
}

impl CryolensApp {
    /// Creates the app on eframe's creation context and starts opening `source`.
    pub fn new(cc: &eframe::CreationContext<'_>, source: Source) -> Self {
        Self::with_tile_cap(cc, source, None)
    }

    /// As [`CryolensApp::new`], with textures split into tiles of at most `tile_cap` pixels a
    /// side (below the device's own limit); tests use it to exercise tiling.
    pub fn with_tile_cap(
        cc: &eframe::CreationContext<'_>,
        source: Source,
        tile_cap: Option<u32>,
    ) -> Self {
        let max_texture_side = cc
            .wgpu_render_state
            .as_ref()
            .map(|rs| viewer::install(rs, tile_cap));
        let software = cc.wgpu_render_state.as_ref().is_none_or(|rs| {
            rs.adapter.get_info().device_type == eframe::egui_wgpu::wgpu::DeviceType::Cpu
        });
        let poll_interval = Duration::from_millis(if software { 400 } else { 100 });
        let device_job = Job::spawn("device", |p| {
            p.set_message("detecting compute device");
            Ok(ComputeDevice::select(DeviceChoice::Auto)?)
        });
        let mut app = Self {
            doc: None,
            view: View::Raw,
            transform: ViewTransform::default(),
            contrast: [Contrast::default(); 3],
            colour_map: ColourMap::default(),
            lowpass_factor: 4.0,
            models: ModelsState::scan(),
            device: None,
            device_job: Some(device_job),
            load_job: None,
            denoise_job: None,
            lowpass_job: None,
            install_job: None,
            dialog_job: None,
            error: None,
            info: None,
            max_texture_side,
            hover: None,
            viewer_rect: None,
            show_help: false,
            poll_interval,
        };
        app.open(source);
        app
    }

    /// Starts reading `source` in the background; the current document stays until it loads.
    pub fn open(&mut self, source: Source) {
        let name = match &source {
            Source::Sample => "bundled sample".to_string(),
            Source::File(p) => p.display().to_string(),
        };
        let job = Job::spawn("load", move |p| {
            p.set_message("reading");
            let (label, result) = match &source {
                Source::Sample => (
                    "sample.mrc (bundled)".to_string(),
                    io::mrc::read_bytes(SAMPLE_MRC),
                ),
                Source::File(path) => (
                    path.file_name().map_or_else(
                        || path.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    ),
                    io::read(path),
                ),
            };
            let (kind, volume) = result?;
            let (image, note) = pick_section(kind, &volume)?;
            image
                .check_finite()
                .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            p.set_message("computing statistics");
            Ok(Loaded {
                name: label,
                note,
                raw: ViewImage::new(image),
            })
        });
        self.load_job = Some(Keyed { key: name, job });
    }

    /// The view being shown.
    pub fn view(&self) -> View {
        self.view
    }

    /// Switches to `view` (computing it in the background if needed).
    pub fn set_view(&mut self, view: View) {
        self.view = view;
    }

    /// True while any background job (load, denoise, low-pass, install, dialog, device) runs.
    pub fn is_busy(&self) -> bool {
        self.device_job.is_some()
            || self.load_job.is_some()
            || self.denoise_job.is_some()
            || self.lowpass_job.is_some()
            || self.install_job.is_some()
            || self.dialog_job.is_some()
    }

    /// True while the micrograph is being read.
    pub fn is_loading(&self) -> bool {
        self.load_job.is_some()
    }

    /// True while the file dialog is open.
    pub fn is_choosing_file(&self) -> bool {
        self.dialog_job.is_some()
    }

    /// The informational message shown in the banner, if any.
    pub fn info(&self) -> Option<&str> {
        self.info.as_deref()
    }

    /// True while a denoising job runs.
    pub fn is_denoising(&self) -> bool {
        self.denoise_job.is_some()
    }

    /// Width and height of the open micrograph.
    pub fn image_size(&self) -> Option<(usize, usize)> {
        self.doc
            .as_ref()
            .map(|d| (d.raw.image.width, d.raw.image.height))
    }

    /// Whether `view` is computed (for the selected model / bin factor) and shows instantly.
    pub fn has_view(&self, view: View) -> bool {
        self.view_image(view).is_some()
    }

    /// The selected denoising model's name.
    pub fn selected_model(&self) -> Option<&'static str> {
        self.models.selected.map(|a| a.name())
    }

    /// The error shown in the banner, if any.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The viewer's rectangle on screen in the last frame (points).
    pub fn viewer_rect(&self) -> Option<Rect> {
        self.viewer_rect
    }

    /// Where the micrograph lies on screen in the last frame (points; may extend past the
    /// viewer when zoomed in).
    pub fn image_rect(&self) -> Option<Rect> {
        let (w, h) = self.image_size()?;
        Some(
            self.transform
                .image_rect(self.viewer_rect?, egui::vec2(w as f32, h as f32)),
        )
    }

    /// The largest texture side the viewer uses (the wgpu device's limit, or a test cap);
    /// `None` without a wgpu renderer.
    pub fn max_texture_side(&self) -> Option<u32> {
        self.max_texture_side
    }

    /// The compute device's description once detected.
    pub fn device_description(&self) -> Option<String> {
        self.device.as_ref().map(ComputeDevice::describe)
    }

    /// The pixel under the cursor in the last frame and its value in the current view.
    pub fn hover(&self) -> Option<(usize, usize, f32)> {
        self.hover
    }

    /// Current zoom in screen points per image pixel.
    pub fn zoom(&self) -> f32 {
        self.transform.zoom
    }

    /// Value of the raw micrograph at `(x, y)`.
    pub fn raw_value(&self, x: usize, y: usize) -> Option<f32> {
        self.doc.as_ref().and_then(|d| d.raw.value_at(x, y))
    }

    /// The low-pass bin factor.
    pub fn lowpass_factor(&self) -> f32 {
        self.lowpass_factor
    }

    fn lowpass_key(&self) -> u32 {
        (self.lowpass_factor * 100.0).round() as u32
    }

    fn view_image(&self, view: View) -> Option<&Arc<ViewImage>> {
        let doc = self.doc.as_ref()?;
        match view {
            View::Raw => Some(&doc.raw),
            View::Denoised => doc.denoised.get(self.models.selected?.name()),
            View::Lowpass => doc.lowpass.get(&self.lowpass_key()),
        }
    }

    /// Polls every job, stores results, and starts the jobs the current state calls for.
    fn poll_jobs(&mut self) {
        if let Some(job) = &mut self.device_job
            && let Some(result) = job.try_take()
        {
            self.device =
                Some(result.unwrap_or_else(|e| {
                    ComputeDevice::cpu(format!("device detection failed: {e}"))
                }));
            self.device_job = None;
        }
        if let Some(k) = &mut self.load_job
            && let Some(result) = k.job.try_take()
        {
            let name = std::mem::take(&mut k.key);
            self.load_job = None;
            match result {
                Ok(loaded) => self.set_document(loaded),
                Err(e) => {
                    let e = format!("{e:#}");
                    self.error = Some(if e.contains(&name) {
                        format!("Could not open {e}")
                    } else {
                        format!("Could not open {name}: {e}")
                    });
                }
            }
        }
        if let Some(k) = &mut self.denoise_job
            && let Some(result) = k.job.try_take()
        {
            let model = k.key;
            self.denoise_job = None;
            if let Some(doc) = &mut self.doc {
                match result {
                    Ok(img) => {
                        doc.denoised.insert(model, Arc::new(img));
                    }
                    Err(e) => {
                        doc.denoise_failed.insert(model, format!("{e:#}"));
                    }
                }
            }
        }
        if let Some(k) = &mut self.lowpass_job
            && let Some(result) = k.job.try_take()
        {
            let key = k.key;
            self.lowpass_job = None;
            match result {
                Ok(img) => {
                    if let Some(doc) = &mut self.doc {
                        doc.lowpass.insert(key, Arc::new(img));
                    }
                }
                Err(e) => self.error = Some(format!("Low-pass failed: {e:#}")),
            }
        }
        if let Some(job) = &mut self.install_job
            && let Some(result) = job.try_take()
        {
            self.install_job = None;
            match result {
                Ok(files) => {
                    self.models.refresh();
                    self.info = Some(format!(
                        "Installed {} Topaz model files into {}",
                        files.len(),
                        topaz_dir().display()
                    ));
                    if let Some(doc) = &mut self.doc {
                        doc.denoise_failed.clear();
                    }
                }
                Err(e) => self.error = Some(format!("Installing Topaz models failed: {e:#}")),
            }
        }
        if let Some(k) = &mut self.dialog_job
            && let Some(result) = k.job.try_take()
        {
            let quick = k.key.elapsed() < Duration::from_millis(1500);
            self.dialog_job = None;
            match result {
                Ok(Some(path)) => self.open(Source::File(path)),
                Ok(None) if quick => {
                    self.info = Some(
                        "No file chosen. If no dialog appeared, the desktop's file-chooser portal is missing: \
                         start `cryolens FILE`, or drop a file onto this window."
                            .into(),
                    )
                }
                Ok(None) => {}
                Err(e) => self.error = Some(format!("File dialog failed: {e:#}")),
            }
        }
        self.start_jobs();
    }

    fn set_document(&mut self, loaded: Loaded) {
        // Jobs for the previous document are abandoned.
        if let Some(k) = self.denoise_job.take() {
            k.job.progress.cancel();
        }
        self.lowpass_job = None;
        self.doc = Some(Document {
            name: loaded.name,
            note: loaded.note,
            raw: Arc::new(loaded.raw),
            denoised: HashMap::new(),
            lowpass: HashMap::new(),
            denoise_failed: HashMap::new(),
        });
        self.transform = ViewTransform::default();
        self.error = None;
    }

    /// Starts denoising with the selected model and low-pass at the current factor when
    /// they are not computed yet.
    fn start_jobs(&mut self) {
        let Some(doc) = &self.doc else { return };
        // Denoising: the selected model, once the device is known.
        if let (Some(arch), Some(device)) = (self.models.selected, &self.device) {
            let name = arch.name();
            if let Some(k) = &self.denoise_job
                && k.key != name
            {
                k.job.progress.cancel();
                self.denoise_job = None;
            }
            if self.denoise_job.is_none()
                && self.install_job.is_none()
                && !doc.denoised.contains_key(name)
                && !doc.denoise_failed.contains_key(name)
            {
                let raw = Arc::clone(&doc.raw);
                let device = device.clone();
                let job = Job::spawn("denoise", move |p| denoise_job(arch, &device, &raw, p));
                self.denoise_job = Some(Keyed { key: name, job });
            }
        }
        // Low-pass at the current factor (one job at a time; the newest factor follows).
        let key = self.lowpass_key();
        if self.lowpass_job.is_none() && !doc.lowpass.contains_key(&key) {
            let raw = Arc::clone(&doc.raw);
            let factor = self.lowpass_factor;
            let job = Job::spawn("lowpass", move |p| {
                p.set_message(format!("binning by {factor}×"));
                Ok(ViewImage::new(fourier::bin_lowpass(&raw.image, factor)))
            });
            self.lowpass_job = Some(Keyed { key, job });
        }
    }

    fn open_dialog(&mut self) {
        if self.dialog_job.is_some() {
            return;
        }
        let job = Job::spawn("open dialog", |_| {
            let dialog = rfd::AsyncFileDialog::new()
                .set_title("Open a micrograph")
                .add_filter(
                    "Micrographs (MRC, TIFF)",
                    &["mrc", "mrcs", "map", "rec", "st", "tif", "tiff"],
                )
                .add_filter("All files", &["*"]);
            Ok(pollster::block_on(dialog.pick_file()).map(|f| f.path().to_path_buf()))
        });
        self.dialog_job = Some(Keyed {
            key: Instant::now(),
            job,
        });
    }

    fn start_install(&mut self) {
        if self.install_job.is_some() {
            return;
        }
        self.install_job = Some(Job::spawn("install models", |p| {
            install::install_topaz(&install::WheelSource::default(), &topaz_dir(), p)
        }));
    }

    fn handle_models_action(&mut self, action: ModelsAction) {
        match action {
            ModelsAction::None => {}
            ModelsAction::Select(arch) => self.models.selected = Some(arch),
            ModelsAction::Retry => {
                if let (Some(doc), Some(a)) = (&mut self.doc, self.models.selected) {
                    doc.denoise_failed.remove(a.name());
                }
            }
            ModelsAction::Cancel => {
                if let Some(k) = self.denoise_job.take() {
                    k.job.progress.cancel();
                    if let Some(doc) = &mut self.doc {
                        doc.denoise_failed
                            .insert(k.key, "denoising cancelled".into());
                    }
                }
            }
            ModelsAction::Install => self.start_install(),
        }
    }

    /// Keyboard shortcuts (ignored while a text field has the focus).
    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (views, fit, open, zoom_in, zoom_out, help) = ctx.input_mut(|i| {
            let views = [Key::Num1, Key::Num2, Key::Num3].map(|k| i.key_pressed(k));
            let open = i.consume_key(egui::Modifiers::COMMAND, Key::O) || i.key_pressed(Key::O);
            (
                views,
                i.key_pressed(Key::F),
                open,
                i.key_pressed(Key::Plus) || i.key_pressed(Key::Equals),
                i.key_pressed(Key::Minus),
                i.key_pressed(Key::Questionmark) || i.key_pressed(Key::F1),
            )
        });
        for (pressed, view) in views.into_iter().zip(View::ALL) {
            if pressed {
                self.set_view(view);
            }
        }
        if fit {
            self.transform.fit = true;
        }
        if open {
            self.open_dialog();
        }
        if zoom_in {
            self.zoom_step(1.25);
        }
        if zoom_out {
            self.zoom_step(0.8);
        }
        if help {
            self.show_help = !self.show_help;
        }
    }

    fn zoom_step(&mut self, factor: f32) {
        if let (Some(rect), Some((w, h))) = (self.viewer_rect, self.image_size()) {
            self.transform
                .zoom_around(rect, egui::vec2(w as f32, h as f32), rect.center(), factor);
        }
    }

    fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui
                .button("Open…")
                .on_hover_text("Open a micrograph (O, Ctrl+O)")
                .clicked()
            {
                self.open_dialog();
            }
            ui.separator();
            for (i, view) in View::ALL.into_iter().enumerate() {
                let ready = self.has_view(view);
                let r = ui
                    .selectable_label(self.view == view, view.name())
                    .on_hover_text(format!(
                        "Key {}{}",
                        i + 1,
                        if ready { "" } else { " (not computed yet)" }
                    ));
                if r.clicked() {
                    self.set_view(view);
                }
            }
            ui.separator();
            if ui
                .button("Fit")
                .on_hover_text("Fit the micrograph to the window (F)")
                .clicked()
            {
                self.transform.fit = true;
            }
            if ui.button("Zoom in").on_hover_text("+").clicked() {
                self.zoom_step(1.25);
            }
            if ui.button("Zoom out").on_hover_text("−").clicked() {
                self.zoom_step(0.8);
            }
            ui.label(format!("{:.0} %", self.transform.zoom * 100.0));
            ui.separator();
            if ui.button("?").on_hover_text("Keyboard shortcuts").clicked() {
                self.show_help = !self.show_help;
            }
            if let Some(doc) = &self.doc {
                ui.separator();
                ui.label(&doc.name);
            }
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("Contrast");
        let histogram = self.view_image(self.view).map(|v| v.histogram.clone());
        let idx = self.view.index();
        contrast::controls(
            ui,
            &mut self.contrast[idx],
            &mut self.colour_map,
            histogram.as_ref(),
        );
        ui.label(egui::RichText::new(format!("applies to the {} view", self.view.name())).weak());
        ui.separator();

        ui.heading("Low-pass");
        ui.add(
            egui::Slider::new(&mut self.lowpass_factor, 1.0..=16.0)
                .step_by(0.5)
                .text("Bin factor"),
        )
        .on_hover_text("Topaz-style binning: Fourier crop by this factor");
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        ui.label(match pixel {
            Some(p) => format!(
                "≈ {:.1} Å resolution (2 × {p:.4} Å × {})",
                2.0 * p * self.lowpass_factor,
                self.lowpass_factor
            ),
            None => format!("{}× Nyquist (pixel size unknown)", self.lowpass_factor),
        });
        ui.separator();

        ui.heading("Denoising");
        let failed = self
            .doc
            .as_ref()
            .zip(self.models.selected)
            .is_some_and(|(d, a)| d.denoise_failed.contains_key(a.name()));
        let action = models_panel::show(
            ui,
            &self.models,
            self.denoise_job.as_ref().map(|k| &*k.job.progress),
            self.install_job.as_ref().map(|j| &*j.progress),
            failed,
        );
        self.handle_models_action(action);
    }

    /// The central area when the current view is not ready.
    fn placeholder(&mut self, ui: &mut egui::Ui) {
        let mut action = None;
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            let Some(doc) = &self.doc else {
                if self.load_job.is_some() {
                    ui.spinner();
                    ui.label("Reading the micrograph…");
                } else {
                    ui.label("No micrograph open. Press O to open one, or drop a file here.");
                }
                return;
            };
            match self.view {
                View::Raw => {}
                View::Denoised => {
                    if self.models.installed.is_empty() {
                        ui.heading("No Topaz model is installed");
                        ui.label(
                            "Denoising needs Topaz's pretrained weights (GPL-3.0). They are unpacked from \
                             the topaz-em package into the models folder:",
                        );
                        ui.monospace(topaz_dir().display().to_string());
                        action = models_panel::install_button(ui, self.install_job.as_ref().map(|j| &*j.progress));
                    } else if let Some(k) = &self.denoise_job {
                        ui.spinner();
                        ui.label(format!("Denoising with {}…", k.key));
                        ui.add(egui::ProgressBar::new(k.job.progress.fraction()).desired_width(300.0).show_percentage());
                        if ui.button("Cancel denoising").clicked() {
                            action = Some(ModelsAction::Cancel);
                        }
                    } else if let Some(err) =
                        self.models.selected.and_then(|a| doc.denoise_failed.get(a.name()))
                    {
                        ui.colored_label(ui.visuals().error_fg_color, format!("Denoising failed: {err}"));
                        if ui.button("Retry denoising").clicked() {
                            action = Some(ModelsAction::Retry);
                        }
                    } else if self.device.is_none() {
                        ui.spinner();
                        ui.label("Detecting the compute device…");
                    } else {
                        ui.spinner();
                    }
                }
                View::Lowpass => {
                    ui.spinner();
                    ui.label(format!("Low-passing (bin {}×)…", self.lowpass_factor));
                }
            }
        });
        if let Some(a) = action {
            self.handle_models_action(a);
        }
    }

    fn help_window(&mut self, ctx: &egui::Context) {
        let mut open = self.show_help;
        egui::Window::new("Keyboard shortcuts")
            .open(&mut open)
            .resizable(false)
            .collapsible(false)
            .show(ctx, |ui| {
                egui::Grid::new("shortcuts")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (k, what) in [
                            ("1 / 2 / 3", "raw / denoised / low-pass view"),
                            ("F", "fit the micrograph to the window"),
                            ("+ / −", "zoom in / out"),
                            ("wheel", "zoom around the cursor"),
                            ("drag", "pan"),
                            ("double-click", "fit"),
                            ("O, Ctrl+O", "open a file"),
                            ("? or F1", "this help"),
                        ] {
                            ui.monospace(k);
                            ui.label(what);
                            ui.end_row();
                        }
                    });
            });
        self.show_help = open;
    }

    fn status_info(&self) -> StatusInfo {
        let mut jobs: Vec<(&'static str, Arc<Progress>)> = Vec::new();
        if let Some(k) = &self.load_job {
            jobs.push(("reading", Arc::clone(&k.job.progress)));
        }
        if let Some(k) = &self.denoise_job {
            jobs.push(("denoising", Arc::clone(&k.job.progress)));
        }
        if let Some(k) = &self.lowpass_job {
            jobs.push(("low-pass", Arc::clone(&k.job.progress)));
        }
        if let Some(j) = &self.install_job {
            jobs.push(("installing", Arc::clone(&j.progress)));
        }
        let doc = self.doc.as_ref();
        StatusInfo {
            device: self.device.as_ref().map_or_else(
                || "detecting compute device…".into(),
                ComputeDevice::describe,
            ),
            pixel_size: doc.and_then(|d| d.raw.image.pixel_size_angstrom),
            dims: self.image_size(),
            hover: self.hover,
            note: doc.and_then(|d| d.note.clone()),
            jobs,
        }
    }
}

/// The 2D image to show for a file's contents: the image itself, or the middle section of a
/// stack or volume (with a note saying so).
fn pick_section(
    kind: ContentKind,
    volume: &Volume,
) -> anyhow::Result<(crate::image::Image, Option<String>)> {
    if volume.width == 0 || volume.height == 0 || volume.depth == 0 {
        anyhow::bail!(
            "the file holds no pixels ({}×{}×{})",
            volume.width,
            volume.height,
            volume.depth
        );
    }
    if volume.depth == 1 {
        return Ok((volume.section(0), None));
    }
    let z = volume.depth / 2;
    let what = match kind {
        ContentKind::Stack => "stack",
        _ => "volume",
    };
    Ok((
        volume.section(z),
        Some(format!(
            "{what} of {} sections: showing section {z} (volume viewing comes in a later version)",
            volume.depth
        )),
    ))
}

fn denoise_job(
    arch: TopazArch,
    device: &ComputeDevice,
    raw: &ViewImage,
    p: &Progress,
) -> anyhow::Result<ViewImage> {
    p.set_message(format!("loading {}", arch.name()));
    let denoiser = TopazDenoiser::load(&ModelSpec::Topaz(arch), device)?;
    let out = denoiser.denoise(&raw.image, &TileConfig::default(), p)?;
    p.set_message("computing statistics");
    Ok(ViewImage::new(out))
}

impl eframe::App for CryolensApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.poll_jobs();
        self.shortcuts(&ctx);
        if let Some(path) =
            ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()))
        {
            self.open(Source::File(path));
        }

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
        egui::Panel::bottom("status").show(ui, |ui| status::show(ui, &self.status_info()));
        if self.error.is_some() || self.info.is_some() {
            egui::Panel::top("messages").show(ui, |ui| {
                if let Some(err) = self.error.clone() {
                    ui.horizontal_wrapped(|ui| {
                        ui.colored_label(ui.visuals().error_fg_color, err);
                        if ui.button("Dismiss error").clicked() {
                            self.error = None;
                        }
                    });
                }
                if let Some(info) = self.info.clone() {
                    ui.horizontal_wrapped(|ui| {
                        ui.label(info);
                        if ui.button("Dismiss").clicked() {
                            self.info = None;
                        }
                    });
                }
            });
        }
        egui::Panel::right("controls")
            .resizable(false)
            .default_size(270.0)
            .show(ui, |ui| self.side_panel(ui));

        self.hover = None;
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                let view = self.view_image(self.view).cloned();
                match (view, &self.doc) {
                    (Some(view), Some(doc)) => {
                        let keep = doc.keep_ids();
                        let out = viewer::show(
                            ui,
                            &mut self.transform,
                            &view,
                            self.contrast[self.view.index()],
                            self.colour_map,
                            keep,
                            self.max_texture_side.is_some(),
                        );
                        self.hover = out.hover;
                        self.viewer_rect = out.rect;
                    }
                    _ => self.placeholder(ui),
                }
            });
        if self.show_help {
            self.help_window(&ctx);
        }
        // Poll running jobs without an immediate repaint (headless tests must settle).
        if self.is_busy() {
            ctx.request_repaint_after(self.poll_interval);
        }
    }
}
