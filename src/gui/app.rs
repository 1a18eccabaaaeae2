//! The application: the struct of sub-states, the per-frame job polling ([`CryolensApp`]'s
//! `logic`) and the layout of the panels (`ui`).
//!
//! The UI thread never computes science: reading files, denoising, low-pass filtering, the
//! model install and the file dialogs all run as jobs ([`super::jobs::AppJobs`]), polled once
//! per frame; while any runs the app asks for a repaint every 100 ms (400 ms on a software
//! rasteriser), never an immediate one, so headless tests settle. What the app does lives by
//! role in `commands/`, `views/`, `panels/`, `shortcuts.rs` and `queries.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eframe::egui;

use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Job;
use crate::paths::topaz_dir;
use crate::picking::PickSession;

use super::jobs::AppJobs;
use super::loading::document;
use super::marks_gpu;
use super::panels::analysis::AnalysisPanel;
use super::panels::contrast::{ColourMap, Contrast};
use super::panels::help;
use super::panels::micrograph_list;
use super::panels::models::ModelsState;
use super::panels::picking::PickTool;
use super::panels::status;
use super::panels::toolbar::{self, ToolbarInfo};
use super::panels::training::TrainingPanel;
use super::state::{
    AppOptions, DocModel, Document, LowpassKey, SessionCtf, SessionCtfState, SessionFile, Source,
    View, ViewSettings, VolumeState,
};
use super::viewer::{self, ViewTransform};
use super::views::compare::{CompareState, PaneContext};
use super::views::gallery::GalleryView;
use super::views::orthoviews::Orthoviews;

/// The Cryolens desktop application. Its parts are visible to the rest of `gui` (commands,
/// views, panels); outside, only its methods.
pub struct CryolensApp {
    /// The open micrograph and its views.
    pub(super) doc: Option<Document>,
    /// Documents of recently shown or prefetched micrographs (at most
    /// [`super::state::CACHE_DOCS`]).
    pub(super) cache: Vec<Document>,
    /// The view being shown.
    pub(super) view: View,
    /// Pan and zoom, shared by all views.
    pub(super) transform: ViewTransform,
    /// Contrast of each view (indexed by [`View::index`]).
    pub(super) contrast: [Contrast; 4],
    /// The debug frame-time readout, when `CRYOLENS_FRAME_TIMES=1`.
    pub(super) frame_times: Option<super::frame_times::FrameTimes>,
    pub(super) colour_map: ColourMap,
    /// Low-pass and merge sliders.
    pub(super) settings: ViewSettings,
    /// Slab thickness and orthoview cursor of volumes.
    pub(super) volume_view: VolumeState,
    /// Installed models and the selected one.
    pub(super) models: ModelsState,
    pub(super) device: Option<ComputeDevice>,
    /// Every background job.
    pub(super) jobs: AppJobs,
    pub(super) error: Option<String>,
    pub(super) info: Option<String>,
    /// A notice that stays until dismissed (a damaged session file set aside): loading a
    /// micrograph clears `error`, not this.
    pub(super) notice: Option<String>,
    pub(super) max_texture_side: Option<u32>,
    /// The pixel under the cursor in the last frame and its value.
    pub(super) hover: Option<(usize, usize, f32)>,
    /// The viewer's rectangle in the last frame.
    pub(super) viewer_rect: Option<egui::Rect>,
    pub(super) show_help: bool,
    /// The picking session and tool.
    pub(super) picks: PickTool,
    /// Micrograph list thumbnails by session index.
    pub(super) thumbnails: HashMap<usize, egui::TextureHandle>,
    /// Micrographs whose thumbnail could not be made.
    pub(super) thumbnail_failed: HashSet<usize>,
    /// The micrograph list's rows shown in the last frame (thumbnails are made for those).
    pub(super) list_visible: std::ops::Range<usize>,
    /// Bring the current micrograph into view in the list (after N / P).
    pub(super) scroll_list: bool,
    pub(super) session_choice: SessionFile,
    /// The session being opened, installed once its first micrograph is read.
    pub(super) pending_open: Option<(PickTool, Option<SessionCtf>)>,
    /// The CTFs of the session's micrographs (from its STAR, or read with "CTF…"), for models
    /// trained on phase-flipped micrographs, and the job reading a CTF file.
    pub(super) ctf: SessionCtfState,
    /// The analysis panel (key A).
    pub(super) analysis: AnalysisPanel,
    /// The egui context (for textures made when jobs finish).
    pub(super) egui_ctx: egui::Context,
    /// The training panel (key T).
    pub(super) training: TrainingPanel,
    /// Side-by-side comparison (key C) and where it was drawn in the last frame.
    pub(super) compare: CompareState,
    /// The XZ and YZ orthoviews of a volume.
    pub(super) orthoviews: Orthoviews,
    /// The gallery of a screening folder (key G).
    pub(super) gallery: GalleryView,
    /// The Simulate… window and its job.
    pub(super) simulate: crate::gui::panels::simulate::SimulatePanel,
    /// The NT2C window and its run.
    pub(super) nt2c: crate::gui::panels::nt2c::Nt2cPanel,
    /// Result of the last plot PNG export (set by the screenshot callback).
    pub(super) png_message: Arc<Mutex<Option<Result<String, String>>>>,
    /// How often to poll running jobs: each poll repaints, which costs a whole CPU core at
    /// 10 Hz on a software rasteriser (lavapipe), so it is slower there.
    pub(super) poll_interval: Duration,
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
        Self::with_options(
            cc,
            source,
            AppOptions {
                tile_cap,
                ..AppOptions::default()
            },
        )
    }

    /// As [`CryolensApp::new`], with [`AppOptions`].
    pub fn with_options(
        cc: &eframe::CreationContext<'_>,
        source: Source,
        options: AppOptions,
    ) -> Self {
        let tile_cap = options.tile_cap;
        let max_texture_side = cc.wgpu_render_state.as_ref().map(|rs| {
            marks_gpu::install(rs);
            viewer::install(rs, tile_cap)
        });
        let software = cc.wgpu_render_state.as_ref().is_none_or(|rs| {
            rs.adapter.get_info().device_type == eframe::egui_wgpu::wgpu::DeviceType::Cpu
        });
        let poll_interval = Duration::from_millis(if software { 400 } else { 100 });
        let device_job = Job::spawn("device", |p| {
            p.set_message("detecting compute device");
            Ok(ComputeDevice::select(DeviceChoice::Auto)?)
        });
        let mut jobs = AppJobs::default();
        jobs.device.start((), device_job);
        let mut app = Self {
            doc: None,
            cache: Vec::new(),
            view: View::Raw,
            transform: ViewTransform::default(),
            contrast: [Contrast::default(); 4],
            frame_times: super::frame_times::FrameTimes::from_env(),
            colour_map: ColourMap::default(),
            settings: ViewSettings::default(),
            volume_view: VolumeState::default(),
            models: ModelsState::scan(),
            device: None,
            jobs,
            error: None,
            info: None,
            notice: None,
            max_texture_side,
            hover: None,
            viewer_rect: None,
            show_help: false,
            picks: PickTool::new(PickSession::default(), None),
            thumbnails: HashMap::new(),
            thumbnail_failed: HashSet::new(),
            list_visible: 0..0,
            scroll_list: false,
            session_choice: options.session_file,
            pending_open: None,
            ctf: SessionCtfState::default(),
            analysis: AnalysisPanel::default(),
            egui_ctx: cc.egui_ctx.clone(),
            training: TrainingPanel::default(),
            compare: CompareState::default(),
            orthoviews: Orthoviews::default(),
            gallery: GalleryView::default(),
            simulate: Default::default(),
            nt2c: Default::default(),
            png_message: Arc::default(),
            poll_interval,
        };
        app.open(source);
        app
    }

    /// Polls every job, stores results, and starts the jobs the current state calls for; then
    /// the key bindings and dropped files.
    fn logic(&mut self, ctx: &egui::Context) {
        self.poll_session();
        if let Some(((), result)) = self.jobs.device.poll() {
            self.device =
                Some(result.unwrap_or_else(|e| {
                    ComputeDevice::cpu(format!("device detection failed: {e}"))
                }));
        }
        if let Some((key, result)) = self.jobs.load.poll() {
            let name = key;
            if self
                .pending_open
                .as_ref()
                .is_some_and(|(t, _)| result.is_ok() || t.session.micrographs.len() > 1)
            {
                self.install_pending_session();
            }
            self.pending_open = None;
            match result {
                Ok(loaded) if loaded.index != self.picks.session.current => {
                    self.store_thumbnail(loaded.index, &loaded.thumbnail);
                    self.cache.push(document(loaded, None));
                }
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
        if let Some((key, result)) = self.jobs.denoise.poll() {
            let DocModel { index, model } = key;
            if let Some(doc) = self.doc_mut(index) {
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
        if let Some((key, result)) = self.jobs.preview.poll() {
            let DocModel { index, model } = key;
            if let Some(doc) = self.doc_mut(index) {
                doc.previewed.insert(model);
                // A failed preview says nothing the full job will not: it reports errors.
                if let Ok(Some(img)) = result {
                    doc.denoised_preview.insert(model, Arc::new(img));
                }
            }
        }
        if let Some((key, result)) = self.jobs.lowpass.poll() {
            let LowpassKey { index, factor } = key;
            match result {
                Ok(img) => {
                    if let Some(doc) = self.doc_mut(index) {
                        doc.lowpass.insert(factor, Arc::new(img));
                    }
                }
                Err(e) => self.error = Some(format!("Low-pass failed: {e:#}")),
            }
        }
        if let Some(((), result)) = self.jobs.install.poll() {
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
        if let Some((key, result)) = self.jobs.dialog.poll() {
            let quick = key.elapsed() < Duration::from_millis(1500);
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
        self.poll_picking_jobs();
        self.poll_analysis();
        self.update_pane_curves();
        self.poll_merge();
        self.poll_volume();
        self.poll_volume_denoise();
        if self.training.poll(ctx).is_some() {
            self.models.refresh();
        }
        self.start_picking_jobs();
        let gallery = self.gallery.poll(ctx);
        self.handle_gallery_action(gallery);
        if let crate::gui::panels::simulate::SimulateAction::Open(path) = self.simulate.poll() {
            self.open(Source::File(path));
        }
        if self.nt2c.poll() {
            self.models.refresh();
        }
        self.shortcuts(ctx);
        if let Some(path) =
            ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()))
        {
            self.open(Source::File(path));
        }
    }
}

impl eframe::App for CryolensApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        if let Some(f) = &mut self.frame_times {
            f.frame(frame.info().cpu_usage);
        }
        self.logic(&ctx);

        let info = ToolbarInfo {
            view: self.view,
            ready: View::ALL.map(|v| self.has_view(v)),
            zoom: self.transform.zoom,
            name: self.doc.as_ref().map(|d| d.name.as_str()),
        };
        let action = egui::Panel::top("toolbar")
            .show(ui, |ui| toolbar::show(ui, &info))
            .inner;
        self.handle_toolbar_action(action);
        egui::Panel::bottom("status").show(ui, |ui| status::show(ui, &self.status_info()));
        if self.training.open {
            egui::Panel::bottom("training")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| self.training_ui(ui));
        }
        if self.analysis.open {
            egui::Panel::bottom("analysis")
                .resizable(true)
                .default_size(330.0)
                .show(ui, |ui| self.analysis_ui(ui));
        }
        if self.error.is_some() || self.info.is_some() || self.notice.is_some() {
            egui::Panel::top("messages").show(ui, |ui| {
                status::messages(ui, &mut self.error, &mut self.notice, &mut self.info)
            });
        }
        egui::Panel::right("controls")
            .resizable(false)
            .default_size(270.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_ui(ui));
            });
        if self.picks.session.micrographs.len() > 1 {
            let scroll = std::mem::take(&mut self.scroll_list);
            let list = egui::Panel::left("micrographs")
                .resizable(true)
                .default_size(220.0)
                .show(ui, |ui| {
                    micrograph_list::show(ui, &self.picks.session, &self.thumbnails, scroll)
                })
                .inner;
            self.list_visible = list.visible;
            if let Some(i) = list.chosen {
                self.go_to(i);
            }
        }

        self.hover = None;
        if self.section().is_some() {
            egui::Panel::bottom("orthoviews")
                .resizable(true)
                .default_size(200.0)
                .min_size(120.0)
                .show(ui, |ui| {
                    let shape = self.doc.as_ref().and_then(|d| d.volume.as_ref());
                    self.orthoviews.show(ui, shape.map(|(v, _)| v.shape()));
                });
        }
        let radius = self.pick_radius_px();
        self.picks.section = self.section().map(|(_, z)| (z as f64, radius));
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                if self.gallery.open {
                    let action = self.gallery.show(ui);
                    self.handle_gallery_action(action);
                    return;
                }
                if self.compare.open
                    && let Some(doc) = &self.doc
                {
                    let index = Some(doc.index);
                    let panel = &mut self.analysis;
                    let cx = PaneContext {
                        doc,
                        selected: self.models.selected,
                        settings: &self.settings,
                        contrast: &self.contrast,
                        colour_map: self.colour_map,
                        gpu_ready: self.max_texture_side.is_some(),
                        analysis: panel
                            .result
                            .as_ref()
                            .filter(|(i, _)| Some(*i) == index)
                            .map(|(_, a)| &**a),
                        regions: &panel.regions,
                    };
                    self.viewer_rect = self.compare.show(
                        ui,
                        &cx,
                        &mut self.transform,
                        &mut panel.region_snr,
                        &mut panel.truth_scores,
                    );
                    return;
                }
                self.single_view_ui(ui);
            });
        if self.simulate.open {
            self.simulate.show(&ctx);
        }
        if self.nt2c.open {
            let micrograph = self.current_micrograph_file();
            self.nt2c
                .show(&ctx, micrograph.as_deref(), self.device.clone());
        }
        if self.show_help {
            help::show(&ctx, &mut self.show_help);
        }
        self.picks.autosave();
        // Poll running jobs without an immediate repaint (headless tests must settle).
        if self.is_busy() {
            ctx.request_repaint_after(self.poll_interval);
        }
    }
}

impl Drop for CryolensApp {
    /// Saves pending picks before the app goes away (window closed, test harness dropped).
    fn drop(&mut self) {
        let _ = self.picks.flush();
    }
}
