//! The application state: the open micrograph, its cached views, the background jobs, and
//! the layout (toolbar, side panel, viewer, status bar).
//!
//! The UI thread never computes science: reading files, denoising, low-pass filtering, the
//! model install and the file dialog all run as [`Job`]s, polled once per frame; while any
//! runs the app asks for a repaint every 100 ms (400 ms on a software rasteriser), never an
//! immediate one, so headless tests settle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;
use egui::{Key, Rect, Vec2};

use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::fourier;
use crate::fourier::merge::Merger;
use crate::image::Volume;
use crate::io::mapped::VolumeSource;
use crate::io::{self, ContentKind};
use crate::jobs::{Job, Progress};
use crate::models::install;
use crate::paths::{sessions_dir, topaz_dir};
use crate::picking::exchange::{self, ExportFormat};
use crate::picking::{PickSession, default_session_path};

use super::analysis_panel::{AnalysisAction, AnalysisPanel};
use super::compare::CompareState;
use super::contrast::{self, ColourMap, Contrast};
use super::micrograph_list;
use super::models_panel::{self, DenoiserChoice, ModelsAction, ModelsState};
use super::picking::{PickAction, PickTool};
use super::status::{self, StatusInfo};
use super::training_panel::{TrainingAction, TrainingPanel};
use super::viewer::{self, ViewImage, ViewTransform};

/// The real micrograph bundled with Cryolens (1024×1024 crop, 0.8538 Å/px).
static SAMPLE_MRC: &[u8] = include_bytes!("../../assets/sample.mrc");

/// The name the bundled sample has in a picking session.
pub const SAMPLE_NAME: &str = "sample.mrc (bundled)";

/// What to open at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The bundled sample micrograph.
    Sample,
    /// A file on disk (with the other micrographs of its folder's session, if one exists).
    File(PathBuf),
    /// A picking session over these micrographs (from a folder, a glob or a micrographs STAR:
    /// see [`crate::picking::expand_input`]).
    Micrographs(Vec<PathBuf>),
}

/// Where the picking session is saved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SessionFile {
    /// `cryolens_session.json` beside the micrographs (see
    /// [`crate::picking::default_session_path`]); the sample's in the user's data folder.
    #[default]
    Default,
    /// This file.
    At(PathBuf),
}

/// Options of [`CryolensApp::with_options`].
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Split textures into tiles of at most this many pixels a side (tests of tiling).
    pub tile_cap: Option<u32>,
    /// Where the picking session is saved.
    pub session_file: SessionFile,
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
    /// Denoised low frequencies merged with raw high frequencies (restore, Palovcak et al.
    /// 2020 S2.4), cutoff and edge width in Å from the side panel.
    Merged,
}

impl View {
    /// All views, in toolbar order (keys 1, 2, 3).
    pub const ALL: [View; 4] = [View::Raw, View::Denoised, View::Lowpass, View::Merged];

    /// Toolbar label (also the accessible name of its button).
    pub fn name(self) -> &'static str {
        match self {
            View::Raw => "Raw",
            View::Denoised => "Denoised",
            View::Lowpass => "Low-pass",
            View::Merged => "Merged",
        }
    }

    fn index(self) -> usize {
        match self {
            View::Raw => 0,
            View::Denoised => 1,
            View::Lowpass => 2,
            View::Merged => 3,
        }
    }
}

/// A micrograph that was read, before it becomes the open document.
struct Loaded {
    /// Its index in the picking session.
    index: usize,
    name: String,
    note: Option<String>,
    raw: ViewImage,
    /// The whole volume when the file is a tomogram, map or stack (memory-mapped when large).
    volume: Option<Arc<dyn VolumeSource>>,
    /// The micrograph list's thumbnail, made on the worker.
    thumbnail: egui::ColorImage,
}

/// The open micrograph and every view computed from it.
struct Document {
    /// Its index in the picking session.
    index: usize,
    name: String,
    note: Option<String>,
    raw: Arc<ViewImage>,
    /// Denoised images by model name.
    denoised: HashMap<&'static str, Arc<ViewImage>>,
    /// Low-passed images by bin factor (in hundredths).
    lowpass: HashMap<u32, Arc<ViewImage>>,
    /// Models whose denoising failed on this document (not retried automatically).
    denoise_failed: HashMap<&'static str, String>,
    /// The raw and denoised spectra of the merge, by model (transformed once per model).
    merger: HashMap<&'static str, Arc<Merger>>,
    /// The merged view and the (model, cutoff, width) it was made with.
    merged: Option<(MergeKey, Arc<ViewImage>)>,
    /// Why merging failed (e.g. no pixel size), by key.
    merge_failed: Option<(MergeKey, String)>,
    /// The volume of a tomogram/map/stack, and the XY section shown (z).
    volume: Option<(Arc<dyn VolumeSource>, usize)>,
    /// The volume denoised by a 3D model (its name), once computed.
    denoised_volume: Option<(&'static str, Arc<Volume>)>,
    /// The section of the denoised volume matching the raw section shown.
    denoised_section: Option<Arc<ViewImage>>,
}

/// A section of a volume and, when it was denoised by a 3D model, the same section of that.
type Sections = (ViewImage, Option<ViewImage>);

/// What an orthoview pair shows: (doc index, x, y, z, slab thickness, view, low-pass factor
/// in hundredths); the view is raw, denoised (when a denoised volume exists) or low-pass.
type OrthoKey = (usize, usize, usize, usize, usize, View, u32);

/// What the comparison panes' curves were computed for: micrograph index, the panes' views,
/// the model, and the low-pass factor, merge cutoff, merge width and ring width in
/// hundredths, and the forced count split.
#[derive(Clone, Debug, PartialEq)]
struct PaneCurvesKey {
    index: usize,
    panes: Vec<View>,
    model: Option<&'static str>,
    /// The model of each pane (its own for a denoised pane that has one, else the selected).
    pane_models: Vec<Option<&'static str>>,
    settings: [u32; 4],
    force_split: bool,
}

/// A merge job's result: the cached transforms and the merged view.
type MergeResult = (Arc<Merger>, ViewImage);

/// A prefetched micrograph and, when a model was selected, its denoised view.
type Prefetched = (Loaded, Option<(&'static str, ViewImage)>);

/// What a merged view was made from: model, cutoff and edge width in hundredths of Å.
type MergeKey = (&'static str, u32, u32);

impl Document {
    fn keep_ids(&self) -> Vec<u64> {
        std::iter::once(self.raw.id)
            .chain(self.denoised.values().map(|v| v.id))
            .chain(self.lowpass.values().map(|v| v.id))
            .chain(self.merged.iter().map(|(_, v)| v.id))
            .collect()
    }
}

/// A job with what it computes for.
struct Keyed<K, T> {
    key: K,
    job: Job<T>,
}

/// How many micrographs besides the open one keep their views in memory (the previous and
/// the prefetched next one, plus one).
const CACHE_DOCS: usize = 3;

/// The Cryolens desktop application.
pub struct CryolensApp {
    doc: Option<Document>,
    view: View,
    transform: ViewTransform,
    contrast: [Contrast; 4],
    colour_map: ColourMap,
    lowpass_factor: f32,
    /// Merge cutoff (Å): denoised below this resolution, raw above.
    merge_cutoff_angstrom: f32,
    /// Width of the merge's soft edge (Å).
    merge_width_angstrom: f32,
    merge_job: Option<Keyed<(usize, MergeKey), MergeResult>>,
    models: ModelsState,
    device: Option<ComputeDevice>,
    device_job: Option<Job<ComputeDevice>>,
    load_job: Option<Keyed<String, Loaded>>,
    /// Denoising (micrograph index, model) of the open micrograph.
    denoise_job: Option<Keyed<(usize, &'static str), ViewImage>>,
    /// Low-pass (micrograph index, bin factor key) of the open micrograph.
    lowpass_job: Option<Keyed<(usize, u32), ViewImage>>,
    install_job: Option<Job<Vec<PathBuf>>>,
    dialog_job: Option<Keyed<Instant, Option<PathBuf>>>,
    error: Option<String>,
    info: Option<String>,
    max_texture_side: Option<u32>,
    hover: Option<(usize, usize, f32)>,
    viewer_rect: Option<Rect>,
    show_help: bool,
    /// The picking session and tool.
    picks: PickTool,
    /// Documents of recently shown or prefetched micrographs (at most [`CACHE_DOCS`]).
    cache: Vec<Document>,
    /// Reading and denoising the next micrograph before the user gets there.
    prefetch_job: Option<Keyed<usize, Prefetched>>,
    /// Micrograph list thumbnails by session index.
    thumbnails: HashMap<usize, egui::TextureHandle>,
    /// Micrographs whose thumbnail could not be made.
    thumbnail_failed: std::collections::HashSet<usize>,
    thumbnail_job: Option<Keyed<usize, egui::ColorImage>>,
    /// Bring the current micrograph into view in the list (after N / P).
    scroll_list: bool,
    import_job: Option<Job<Option<PathBuf>>>,
    export_job: Option<Keyed<(Instant, ExportFormat), Option<PathBuf>>>,
    session_choice: SessionFile,
    /// The session being opened, installed once its first micrograph is read.
    pending_open: Option<PickTool>,
    /// The analysis panel (key A).
    analysis: AnalysisPanel,
    /// The egui context (for textures made when jobs finish).
    egui_ctx: egui::Context,
    /// The training panel (key T).
    training: TrainingPanel,
    /// Where the comparison was drawn in the last frame, and its pane labels.
    compare_rect: Option<Rect>,
    compare_labels: Vec<String>,
    /// The comparison panes' rectangles in the last frame.
    compare_pane_rects: Vec<Rect>,
    /// Side-by-side comparison (key C).
    compare: CompareState,
    /// Slab thickness (sections averaged) of volume views.
    slab_thickness: usize,
    /// Computing another XY section of the open volume (and of its denoised volume):
    /// (doc index, z, thickness).
    slice_job: Option<Keyed<(usize, usize, usize), Sections>>,
    /// Denoising the open volume with a 3D model.
    volume_denoise_job: Option<Keyed<(usize, &'static str), Volume>>,
    /// XZ and YZ orthoviews through the shared cursor: key (doc index, x, y, z, thickness).
    ortho: Option<(OrthoKey, [egui::TextureHandle; 2])>,
    ortho_job: Option<Keyed<OrthoKey, [egui::ColorImage; 2]>>,
    /// The shared cursor of the orthoviews (x, y), set by hovering the XY view.
    ortho_cursor: Option<(usize, usize)>,
    /// Where the XZ and YZ orthoviews were drawn in the last frame.
    ortho_rects: Vec<Rect>,
    /// Computing each comparison pane's SSNR and signal/noise/bias curves.
    pane_curves_job: Option<Keyed<PaneCurvesKey, Vec<crate::analysis::PaneCurves>>>,
    /// The last pane curves computed (or tried: `None` after a failure), and for what.
    pane_curves: Option<(PaneCurvesKey, Option<Arc<Vec<crate::analysis::PaneCurves>>>)>,
    /// The analysis of micrograph (index).
    analysis_job: Option<Keyed<usize, crate::analysis::Analysis>>,
    /// The 2D power spectrum of micrograph (index) for the analysis panel.
    spectrum_job: Option<Keyed<usize, (Option<f32>, egui::ColorImage)>>,
    /// The CTF file dialog.
    ctf_job: Option<Job<Option<PathBuf>>>,
    /// Choosing two half-maps and computing their FSC.
    half_map_job: Option<Job<Option<HalfMapFsc>>>,
    /// Training a crefDenoiser on the open half-maps, and its epochs so far.
    cref_job: Option<(Job<super::analysis_panel::CrefResult>, CrefEpochs)>,
    /// Choosing and reading the true map for the crefDenoiser evaluation.
    cref_truth_job: Option<Job<Option<(String, Volume)>>>,
    /// Result of the last plot PNG export (set by the screenshot callback).
    png_message: Arc<std::sync::Mutex<Option<Result<String, String>>>>,
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
            contrast: [Contrast::default(); 4],
            colour_map: ColourMap::default(),
            lowpass_factor: 4.0,
            merge_cutoff_angstrom: 8.0,
            merge_width_angstrom: 4.0,
            merge_job: None,
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
            picks: PickTool::new(PickSession::default(), None),
            cache: Vec::new(),
            prefetch_job: None,
            thumbnails: HashMap::new(),
            thumbnail_failed: Default::default(),
            thumbnail_job: None,
            scroll_list: false,
            import_job: None,
            export_job: None,
            session_choice: options.session_file,
            pending_open: None,
            analysis: AnalysisPanel::default(),
            egui_ctx: cc.egui_ctx.clone(),
            training: TrainingPanel::default(),
            compare_rect: None,
            compare_labels: Vec::new(),
            compare_pane_rects: Vec::new(),
            compare: CompareState::default(),
            slab_thickness: 1,
            slice_job: None,
            volume_denoise_job: None,
            ortho: None,
            ortho_job: None,
            ortho_cursor: None,
            ortho_rects: Vec::new(),
            pane_curves_job: None,
            pane_curves: None,
            analysis_job: None,
            spectrum_job: None,
            ctf_job: None,
            half_map_job: None,
            cref_job: None,
            cref_truth_job: None,
            png_message: Arc::default(),
            poll_interval,
        };
        app.open(source);
        app
    }

    /// Opens `source` as a picking session (restoring its saved picks) and starts reading its
    /// current micrograph in the background; the current document stays until it loads.
    pub fn open(&mut self, source: Source) {
        let paths: Vec<PathBuf> = match source {
            Source::Sample => vec![PathBuf::from(SAMPLE_NAME)],
            Source::File(p) => vec![absolute(&p)],
            Source::Micrographs(ps) => ps.iter().map(|p| absolute(p)).collect(),
        };
        if paths.is_empty() {
            self.error = Some("Nothing to open: no micrographs were given".into());
            return;
        }
        let file = match &self.session_choice {
            SessionFile::At(p) => p.clone(),
            SessionFile::Default if paths[0] == Path::new(SAMPLE_NAME) => {
                let dir = sessions_dir();
                let _ = std::fs::create_dir_all(&dir);
                dir.join("sample.json")
            }
            SessionFile::Default => default_session_path(&paths),
        };
        let mut note = None;
        let mut session = if file.exists() {
            match PickSession::load(&file) {
                Ok(mut s) => {
                    s.merge_paths(&paths);
                    s
                }
                Err(e) => {
                    // Never overwrite a session we cannot read: keep it, save beside it.
                    let aside =
                        file.with_extension(format!("unreadable-{}.json", std::process::id()));
                    let _ = std::fs::rename(&file, &aside);
                    note = Some(format!("{e}; it was kept as {}", aside.display()));
                    PickSession::new(paths.clone())
                }
            }
        } else {
            PickSession::new(paths.clone())
        };
        if let Some(i) = session.micrographs.iter().position(|m| m.path == paths[0]) {
            session.current = i;
        }
        if let Some(n) = note {
            self.error = Some(format!("The picking session could not be read: {n}"));
        }
        // The open session and micrograph stay until the new one's micrograph is read.
        let index = session.current;
        let path = session.micrographs[index].path.clone();
        self.pending_open = Some(PickTool::new(session, Some(&file)));
        self.load_job = Some(Keyed {
            key: path.display().to_string(),
            job: Job::spawn("load", move |p| load_micrograph(index, &path, p)),
        });
    }

    /// Replaces the session by the one being opened, dropping everything of the old one.
    fn install_pending_session(&mut self) {
        let Some(tool) = self.pending_open.take() else {
            return;
        };
        let _ = self.picks.flush();
        self.picks = tool;
        self.cache.clear();
        self.doc = None;
        if let Some(k) = self.prefetch_job.take() {
            k.job.progress.cancel();
        }
        if let Some(k) = self.denoise_job.take() {
            k.job.progress.cancel();
        }
        self.lowpass_job = None;
        self.thumbnails.clear();
        self.thumbnail_failed.clear();
        self.thumbnail_job = None;
        self.scroll_list = true;
    }

    /// Shows micrograph `index` of the session: at once when it is cached (prefetched or
    /// recently shown), else after reading it in the background. The view, zoom policy and
    /// contrast stay.
    pub fn go_to(&mut self, index: usize) {
        let Some(m) = self.picks.session.micrographs.get(index) else {
            return;
        };
        let path = m.path.clone();
        let _ = self.picks.flush();
        self.picks.session.current = index;
        self.scroll_list = true;
        if let Some(doc) = self.doc.take() {
            if doc.index == index {
                self.doc = Some(doc);
                return;
            }
            self.cache.push(doc);
        }
        if let Some(pos) = self.cache.iter().position(|d| d.index == index) {
            let doc = self.cache.remove(pos);
            self.doc = Some(doc);
            self.transform = ViewTransform::default();
            self.load_job = None;
        } else if self.prefetch_job.as_ref().is_some_and(|k| k.key == index) {
            // Being read (and denoised) already: shown when the prefetch finishes.
            self.load_job = None;
        } else {
            self.load_job = Some(Keyed {
                key: path.display().to_string(),
                job: Job::spawn("load", move |p| load_micrograph(index, &path, p)),
            });
        }
        while self.cache.len() > CACHE_DOCS {
            // Keep the neighbours of the current micrograph; drop the farthest.
            let far = (0..self.cache.len())
                .max_by_key(|&i| self.cache[i].index.abs_diff(index))
                .unwrap_or(0);
            self.cache.remove(far);
        }
    }

    /// The picking session (micrographs, picks, settings).
    pub fn session(&self) -> &PickSession {
        &self.picks.session
    }

    /// The session file picks are autosaved into, if any.
    pub fn session_file(&self) -> Option<&Path> {
        self.picks.session_file()
    }

    /// Writes all pending picks to the session file and waits (tests, exit).
    ///
    /// # Errors
    /// The last write's error.
    pub fn flush_picks(&mut self) -> Result<(), String> {
        self.picks.flush()
    }

    /// Undoes the last pick edit (switching to its micrograph).
    pub fn undo(&mut self) {
        if let Some(m) = self.picks.session.undo()
            && m != self.picks.session.current
        {
            self.go_to(m);
        }
    }

    /// Redoes the last undone pick edit (switching to its micrograph).
    pub fn redo(&mut self) {
        if let Some(m) = self.picks.session.redo()
            && m != self.picks.session.current
        {
            self.go_to(m);
        }
    }

    /// Exports all picks into `dir` in `format`; the files written.
    ///
    /// # Errors
    /// A failed write.
    pub fn export_picks(
        &mut self,
        dir: &Path,
        format: ExportFormat,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let files = exchange::export(&self.picks.session, format, dir)?;
        self.picks.last_export = Some(dir.to_path_buf());
        self.info = Some(format!(
            "Exported {} ({} files) into {}",
            format.label(),
            files.len(),
            dir.display()
        ));
        Ok(files)
    }

    /// Imports a coordinate file into the open micrograph with the panel's scale/flip.
    ///
    /// # Errors
    /// The file's errors.
    pub fn import_picks(&mut self, path: &Path) -> anyhow::Result<usize> {
        let mut options = self.picks.import_options;
        if options.flip_y_rows.is_some() {
            options.flip_y_rows = self.image_size().map(|(_, h)| h);
        }
        let m = self.picks.session.current;
        let n = exchange::import(&mut self.picks.session, m, path, options)?;
        self.info = Some(format!("Imported {n} picks from {}", path.display()));
        Ok(n)
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
            || self.prefetch_job.is_some()
            || self.thumbnail_job.is_some()
            || self.import_job.is_some()
            || self.export_job.is_some()
            || self.analysis_job.is_some()
            || self.merge_job.is_some()
            || self.spectrum_job.is_some()
            || self.ctf_job.is_some()
            || self.half_map_job.is_some()
            || self.cref_job.is_some()
            || self.cref_truth_job.is_some()
            || self.slice_job.is_some()
            || self.ortho_job.is_some()
            || self.volume_denoise_job.is_some()
            || self.pane_curves_job.is_some()
            || self.training.is_running()
    }

    /// True while the micrograph is being read.
    pub fn is_loading(&self) -> bool {
        self.load_job.is_some() || (self.doc.is_none() && self.prefetch_job.is_some())
    }

    /// True while the next micrograph is read and denoised ahead of time.
    pub fn is_prefetching(&self) -> bool {
        self.prefetch_job.is_some()
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

    /// Selects the installed model listed as `name` (as the side panel's model box does; the
    /// list is re-read first). Returns whether such a model is installed.
    pub fn select_model(&mut self, name: &str) -> bool {
        self.models.refresh();
        let found = self.models.installed.iter().find(|c| c.name() == name);
        if let Some(&choice) = found {
            self.models.selected = Some(choice);
        }
        found.is_some()
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

    /// The key of the merged view for the current model and sliders.
    fn merge_key(&self) -> Option<MergeKey> {
        let model = self.models.selected?.name();
        Some((
            model,
            (self.merge_cutoff_angstrom * 100.0).round() as u32,
            (self.merge_width_angstrom * 100.0).round() as u32,
        ))
    }

    /// Whether the merged view matches the current model and slider values.
    pub fn merged_is_current(&self) -> bool {
        self.doc
            .as_ref()
            .and_then(|d| d.merged.as_ref())
            .is_some_and(|(k, _)| Some(*k) == self.merge_key())
    }

    /// Merge cutoff and edge width in Å.
    pub fn merge_settings(&self) -> (f32, f32) {
        (self.merge_cutoff_angstrom, self.merge_width_angstrom)
    }

    /// Sets the merge cutoff and edge width (Å); the merged view follows in the background.
    pub fn set_merge(&mut self, cutoff_angstrom: f32, width_angstrom: f32) {
        self.merge_cutoff_angstrom = cutoff_angstrom;
        self.merge_width_angstrom = width_angstrom;
    }

    fn lowpass_key(&self) -> u32 {
        (self.lowpass_factor * 100.0).round() as u32
    }

    fn view_image(&self, view: View) -> Option<&Arc<ViewImage>> {
        let doc = self.doc.as_ref()?;
        match view {
            View::Raw => Some(&doc.raw),
            View::Denoised => doc
                .denoised_section
                .as_ref()
                .or_else(|| doc.denoised.get(self.models.selected?.name())),
            View::Lowpass => doc.lowpass.get(&self.lowpass_key()),
            // While sliders move, the last merge of the same model stays on screen.
            View::Merged => doc
                .merged
                .as_ref()
                .filter(|(k, _)| Some(k.0) == self.merge_key().map(|m| m.0))
                .map(|(_, v)| v),
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
            if self
                .pending_open
                .as_ref()
                .is_some_and(|t| result.is_ok() || t.session.micrographs.len() > 1)
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
        if let Some(k) = &mut self.denoise_job
            && let Some(result) = k.job.try_take()
        {
            let (index, model) = k.key;
            self.denoise_job = None;
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
        if let Some(k) = &mut self.lowpass_job
            && let Some(result) = k.job.try_take()
        {
            let (index, key) = k.key;
            self.lowpass_job = None;
            match result {
                Ok(img) => {
                    if let Some(doc) = self.doc_mut(index) {
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
        self.store_thumbnail(loaded.index, &loaded.thumbnail);
        self.doc = Some(document(loaded, None));
        self.transform = ViewTransform::default();
        self.error = None;
    }

    /// The open or a cached document of micrograph `index`.
    fn doc_mut(&mut self, index: usize) -> Option<&mut Document> {
        if self.doc.as_ref().is_some_and(|d| d.index == index) {
            return self.doc.as_mut();
        }
        self.cache.iter_mut().find(|d| d.index == index)
    }

    /// Polls the picking jobs: prefetch, thumbnails, import and export dialogs.
    fn poll_picking_jobs(&mut self, ctx: &egui::Context) {
        if let Some(k) = &mut self.prefetch_job
            && let Some(result) = k.job.try_take()
        {
            self.prefetch_job = None;
            if let Ok((loaded, denoised)) = result {
                let index = loaded.index;
                if self.doc.is_none() && index == self.picks.session.current {
                    self.set_document(loaded);
                    if let (Some(doc), Some((model, img))) = (&mut self.doc, denoised) {
                        doc.denoised.insert(model, Arc::new(img));
                    }
                } else if self.doc.as_ref().is_some_and(|d| d.index == index) {
                    // The user got there first: keep the denoised view.
                    if let (Some(doc), Some((model, img))) = (&mut self.doc, denoised) {
                        doc.denoised.entry(model).or_insert_with(|| Arc::new(img));
                    }
                } else if !self.cache.iter().any(|d| d.index == index) {
                    self.store_thumbnail(index, &loaded.thumbnail);
                    self.cache.push(document(loaded, denoised));
                }
            }
        }
        if let Some(k) = &mut self.thumbnail_job
            && let Some(result) = k.job.try_take()
        {
            let index = k.key;
            self.thumbnail_job = None;
            match result {
                Ok(img) => {
                    let tex = ctx.load_texture(
                        format!("thumbnail {index}"),
                        img,
                        egui::TextureOptions::LINEAR,
                    );
                    self.thumbnails.insert(index, tex);
                }
                Err(_) => {
                    self.thumbnail_failed.insert(index);
                }
            }
        }
        if let Some(job) = &mut self.import_job
            && let Some(result) = job.try_take()
        {
            self.import_job = None;
            match result {
                Ok(Some(path)) => {
                    if let Err(e) = self.import_picks(&path) {
                        self.error = Some(format!("Import failed: {e:#}"));
                    }
                }
                Ok(None) => {}
                Err(e) => self.error = Some(format!("File dialog failed: {e:#}")),
            }
        }
        if let Some(k) = &mut self.export_job
            && let Some(result) = k.job.try_take()
        {
            let (started, format) = k.key;
            self.export_job = None;
            let dir = match result {
                Ok(Some(dir)) => Some(dir),
                // No portal answered: export beside the session file.
                Ok(None) if started.elapsed() < Duration::from_millis(1500) => {
                    Some(self.default_export_dir())
                }
                Ok(None) => None,
                Err(e) => {
                    self.error = Some(format!("Folder dialog failed: {e:#}"));
                    None
                }
            };
            if let Some(dir) = dir
                && let Err(e) = self.export_picks(&dir, format)
            {
                self.error = Some(format!("Export failed: {e:#}"));
            }
        }
    }

    /// Where picks are exported when no folder is chosen: `cryolens_picks/` beside the
    /// session file.
    fn default_export_dir(&self) -> PathBuf {
        self.picks
            .session_file()
            .and_then(Path::parent)
            .map_or_else(
                || PathBuf::from("cryolens_picks"),
                |d| d.join("cryolens_picks"),
            )
    }

    /// Uploads a thumbnail made on a worker (no image work on the UI thread).
    fn store_thumbnail(&mut self, index: usize, img: &egui::ColorImage) {
        if self.thumbnails.contains_key(&index) {
            return;
        }
        let tex = self.egui_ctx.load_texture(
            format!("thumbnail {index}"),
            img.clone(),
            egui::TextureOptions::LINEAR,
        );
        self.thumbnails.insert(index, tex);
    }

    /// Background work for picking when nothing else runs: prefetch (read and denoise) the
    /// next micrograph, then thumbnails of the others, one at a time.
    fn start_picking_jobs(&mut self) {
        let foreground_busy = self.load_job.is_some()
            || self.denoise_job.is_some()
            || self.lowpass_job.is_some()
            || self.install_job.is_some();
        if foreground_busy || self.prefetch_job.is_some() || self.thumbnail_job.is_some() {
            return;
        }
        let session = &self.picks.session;
        let next = session.current + 1;
        if next < session.micrographs.len()
            && !self.cache.iter().any(|d| d.index == next)
            && self.doc.is_some()
        {
            let path = session.micrographs[next].path.clone();
            let model = self.models.selected.zip(self.device.clone());
            let job = Job::spawn("prefetch", move |p| {
                let loaded = load_micrograph(next, &path, p)?;
                let denoised = match model {
                    Some((arch, device)) if !p.is_cancelled() => {
                        denoise_job(arch, &device, &loaded.raw, p)
                            .ok()
                            .map(|img| (arch.name(), img))
                    }
                    _ => None,
                };
                Ok((loaded, denoised))
            });
            self.prefetch_job = Some(Keyed { key: next, job });
            return;
        }
        let missing = (0..session.micrographs.len()).find(|i| {
            !self.thumbnails.contains_key(i)
                && !self.thumbnail_failed.contains(i)
                && self.doc.as_ref().is_none_or(|d| d.index != *i)
        });
        if let Some(index) = missing {
            let path = session.micrographs[index].path.clone();
            let job = Job::spawn("thumbnail", move |p| {
                let loaded = load_micrograph(index, &path, p)?;
                Ok(micrograph_list::thumbnail(
                    &loaded.raw.image,
                    micrograph_list::THUMBNAIL_SIDE,
                ))
            });
            self.thumbnail_job = Some(Keyed { key: index, job });
        }
    }

    fn start_import(&mut self) {
        if self.import_job.is_some() {
            return;
        }
        self.import_job = Some(Job::spawn("import dialog", |_| {
            let dialog = rfd::AsyncFileDialog::new()
                .set_title("Import picks into this micrograph")
                .add_filter(
                    "Coordinates (RELION, Topaz, EMAN, crYOLO)",
                    &["star", "txt", "box", "cbox", "coords"],
                )
                .add_filter("All files", &["*"]);
            Ok(pollster::block_on(dialog.pick_file()).map(|f| f.path().to_path_buf()))
        }));
    }

    fn start_export(&mut self, format: ExportFormat) {
        if self.export_job.is_some() {
            return;
        }
        let start = self.default_export_dir();
        let job = Job::spawn("export dialog", move |_| {
            let dialog = rfd::AsyncFileDialog::new()
                .set_title("Export picks into folder")
                .set_directory(start.parent().unwrap_or(Path::new(".")));
            Ok(pollster::block_on(dialog.pick_folder()).map(|f| f.path().to_path_buf()))
        });
        self.export_job = Some(Keyed {
            key: (Instant::now(), format),
            job,
        });
    }

    /// Starts the analysis of the open micrograph (halves from an even/odd pair beside it, else
    /// count splitting; denoised with the selected model when asked).
    pub fn start_analysis(&mut self) {
        let Some(doc) = &self.doc else { return };
        if let Some(k) = self.analysis_job.take() {
            k.job.progress.cancel();
        }
        let index = doc.index;
        let raw = Arc::clone(&doc.raw);
        let denoised_view = self
            .models
            .selected
            .and_then(|a| doc.denoised.get(a.name()))
            .cloned();
        let path = self
            .picks
            .session
            .micrographs
            .get(index)
            .map(|m| m.path.clone())
            .filter(|p| p != Path::new(SAMPLE_NAME));
        let model = if self.analysis.with_denoiser {
            self.models.selected.zip(self.device.clone())
        } else {
            None
        };
        let split = crate::metrics::CountSplitOptions {
            force: self.analysis.force_split,
            ..Default::default()
        };
        let lowpass_factor = self.lowpass_factor;
        let ring_width = self.analysis.ring_width;
        self.analysis.error = None;
        let job = Job::spawn("analysis", move |p| {
            p.set_message("finding halves");
            let (m1, m2, source) =
                crate::analysis::halves_for(&raw.image, path.as_deref(), &split)?;
            let denoiser = match model {
                Some((arch, device)) => {
                    p.set_message(format!("loading {}", arch.name()));
                    Some(Denoiser2d::load(&arch.spec()?, &device)?)
                }
                None => None,
            };
            let input = crate::analysis::AnalysisInput {
                raw: &raw.image,
                denoised_view: denoised_view.as_ref().map(|v| &v.image),
                lowpass_factor,
                denoiser: denoiser.as_ref(),
                ring_width,
            };
            crate::analysis::analyze(&m1, &m2, source, &input, p)
        });
        self.analysis_job = Some(Keyed { key: index, job });
    }

    /// With the comparison and the analysis panel open and the analysis done, computes each
    /// pane's SSNR and signal/noise/bias curves on the halves (in the background; again when
    /// the panes, model or settings change) and hands them to the analysis panel.
    fn update_pane_curves(&mut self) {
        if let Some(k) = &mut self.pane_curves_job
            && let Some(result) = k.job.try_take()
        {
            let key = k.key.clone();
            self.pane_curves_job = None;
            let curves = match result {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    self.analysis.error = Some(format!("Curves of the comparison panes: {e:#}"));
                    None
                }
            };
            self.pane_curves = Some((key, curves));
        }
        self.analysis.pane_curves_progress = self
            .pane_curves_job
            .as_ref()
            .map(|k| (k.job.progress.fraction(), k.job.progress.message()));
        let wanted = self.compare.open && self.analysis.open && self.analysis().is_some();
        let Some(doc) = self.doc.as_ref().filter(|_| wanted) else {
            self.analysis.pane_curves = None;
            return;
        };
        let model = self.models.selected.filter(|_| self.device.is_some());
        let hundredths = |v: f32| (v * 100.0).round() as u32;
        let panes: Vec<View> = if self.compare.swipe {
            self.compare.panes.iter().take(2).copied().collect()
        } else {
            self.compare.panes.clone()
        };
        let choices: Vec<Option<DenoiserChoice>> = (0..panes.len())
            .map(|i| {
                self.compare
                    .pane_model(i, model)
                    .filter(|_| self.device.is_some())
            })
            .collect();
        let key = PaneCurvesKey {
            index: doc.index,
            pane_models: choices.iter().map(|c| c.map(|m| m.name())).collect(),
            panes,
            model: model.map(|m| m.name()),
            settings: [
                self.lowpass_key(),
                hundredths(self.merge_cutoff_angstrom),
                hundredths(self.merge_width_angstrom),
                hundredths(self.analysis.ring_width),
            ],
            force_split: self.analysis.force_split,
        };
        self.analysis.pane_curves = self
            .pane_curves
            .as_ref()
            .filter(|(k, _)| *k == key)
            .and_then(|(_, c)| c.clone());
        let current = self.pane_curves.as_ref().is_some_and(|(k, _)| *k == key);
        let running = self.pane_curves_job.as_ref().is_some_and(|k| k.key == key);
        if current || running {
            return;
        }
        if let Some(k) = self.pane_curves_job.take() {
            k.job.progress.cancel();
        }
        let raw = Arc::clone(&doc.raw);
        let path = self
            .picks
            .session
            .micrographs
            .get(doc.index)
            .map(|m| m.path.clone())
            .filter(|p| p != Path::new(SAMPLE_NAME));
        let split = crate::metrics::CountSplitOptions {
            force: key.force_split,
            ..Default::default()
        };
        let device = self.device.clone();
        let (lowpass_factor, cutoff, width, ring_width) = (
            self.lowpass_factor,
            self.merge_cutoff_angstrom,
            self.merge_width_angstrom,
            self.analysis.ring_width,
        );
        let job_key = key.clone();
        let job = Job::spawn("pane curves", move |p| {
            use crate::analysis::PaneFilter;
            p.set_message("finding halves");
            // The same halves as the analysis (same pair, or the same seeded count split).
            let (m1, m2, _) = crate::analysis::halves_for(&raw.image, path.as_deref(), &split)?;
            // One denoiser per model that a denoised or merged pane needs.
            let mut denoisers: Vec<(&'static str, Denoiser2d)> = Vec::new();
            if let Some(device) = &device {
                for (view, choice) in key.panes.iter().zip(&choices) {
                    if let (View::Denoised | View::Merged, Some(arch)) = (view, choice)
                        && !denoisers.iter().any(|(n, _)| *n == arch.name())
                    {
                        p.set_message(format!("loading {}", arch.name()));
                        denoisers.push((arch.name(), Denoiser2d::load(&arch.spec()?, device)?));
                    }
                }
            }
            let find = |c: &Option<DenoiserChoice>| {
                c.and_then(|arch| denoisers.iter().find(|(n, _)| *n == arch.name()))
                    .map(|(_, d)| d)
            };
            let mut panes = Vec::new();
            for (&view, choice) in key.panes.iter().zip(&choices) {
                let denoiser = find(choice);
                let filter = if view == View::Raw {
                    PaneFilter::Raw
                } else if view == View::Lowpass {
                    PaneFilter::Lowpass {
                        factor: lowpass_factor,
                    }
                } else if let (View::Denoised, Some(d)) = (view, denoiser) {
                    PaneFilter::Denoised(d)
                } else if let (View::Merged, Some(d), Some(_)) =
                    (view, denoiser, m1.pixel_size_angstrom)
                {
                    PaneFilter::Merged {
                        denoiser: d,
                        cutoff_angstrom: cutoff,
                        width_angstrom: width,
                    }
                } else {
                    // No model (or, to merge, no pixel size): this pane has no curves.
                    continue;
                };
                let label = match (view, denoiser) {
                    (View::Denoised | View::Merged, Some(d)) => {
                        format!("{} ({})", view.name(), d.label())
                    }
                    _ => view.name().to_string(),
                };
                panes.push((label, filter));
            }
            crate::analysis::pane_curves(&m1, &m2, &panes, ring_width, p)
        });
        self.pane_curves_job = Some(Keyed { key: job_key, job });
    }

    /// The curves of the comparison panes that the analysis panel overlays (one per pane with
    /// curves, in pane order), once computed for the current panes and settings.
    pub fn pane_curves(&self) -> Option<&[crate::analysis::PaneCurves]> {
        self.analysis.pane_curves.as_deref().map(Vec::as_slice)
    }

    /// The analysis of the open micrograph, once computed.
    pub fn analysis(&self) -> Option<&crate::analysis::Analysis> {
        self.analysis
            .current(self.doc.as_ref().map(|d| d.index))
            .map(|a| a.as_ref())
    }

    /// The open volume's depth and shown section z, when a volume is open.
    pub fn section(&self) -> Option<(usize, usize)> {
        self.doc
            .as_ref()
            .and_then(|d| d.volume.as_ref())
            .map(|(v, z)| (v.shape().2, *z))
    }

    /// Shows section `z` (clamped) of the open volume, averaged over the slab thickness; the
    /// derived views follow in the background.
    pub fn set_section(&mut self, z: usize) {
        let thickness = self.slab_thickness;
        let Some(doc) = &self.doc else { return };
        let Some((volume, _)) = &doc.volume else {
            return;
        };
        let z = z.min(volume.shape().2 - 1);
        let (index, volume) = (doc.index, Arc::clone(volume));
        let denoised = doc.denoised_volume.as_ref().map(|(_, v)| Arc::clone(v));
        let job = Job::spawn("section", move |p| {
            use crate::image::Axis;
            p.set_message(format!("section {z}"));
            Ok((
                section_view(&*volume, volume.slab(Axis::Z, z, thickness)),
                denoised.map(|d| ViewImage::new(d.slab(Axis::Z, z, thickness))),
            ))
        });
        self.slice_job = Some(Keyed {
            key: (index, z, thickness),
            job,
        });
    }

    /// Sets the slab thickness (sections averaged) and redraws the section.
    pub fn set_slab_thickness(&mut self, thickness: usize) {
        self.slab_thickness = thickness.max(1);
        if let Some((_, z)) = self.section() {
            self.set_section(z);
        }
    }

    /// Opens or closes the side-by-side comparison, with these pane views.
    pub fn set_compare(&mut self, open: bool, panes: &[View], swipe: bool) {
        self.compare.open = open;
        if !panes.is_empty() {
            self.compare.panes = panes.to_vec();
        }
        self.compare.models.resize(self.compare.panes.len(), None);
        self.compare.swipe = swipe;
    }

    /// Makes comparison pane `pane` (0-based) denoise with the installed model listed as
    /// `name` (`None`: the selected model). Returns whether the pane and model exist.
    pub fn set_pane_model(&mut self, pane: usize, name: Option<&str>) -> bool {
        self.models.refresh();
        let choice = match name {
            None => None,
            Some(n) => match self.models.installed.iter().find(|c| c.name() == n) {
                Some(&c) => Some(c),
                None => return false,
            },
        };
        self.compare.models.resize(self.compare.panes.len(), None);
        match self.compare.models.get_mut(pane) {
            Some(m) => {
                *m = choice;
                true
            }
            None => false,
        }
    }

    /// The denoised image of `model` for the open document, once computed (the denoised
    /// volume's section when a 3D model has run and `model` is the selected one).
    fn denoised_by(&self, model: DenoiserChoice) -> Option<&Arc<ViewImage>> {
        if Some(model) == self.models.selected {
            return self.view_image(View::Denoised);
        }
        self.doc.as_ref()?.denoised.get(model.name())
    }

    /// Labels a region for region SNR at micrograph pixel `(x, y)`: a signal box, or a
    /// background box (boxes of the analysis panel's size, paired in order).
    pub fn add_region(&mut self, x: f64, y: f64, background: bool) {
        if let Some((w, h)) = self.image_size() {
            self.analysis.label_at(x, y, background, (w, h));
        }
    }

    /// The rectangle of each comparison pane in the last frame (screen points).
    pub fn compare_rects(&self) -> &[Rect] {
        &self.compare_pane_rects
    }

    /// The label of each comparison pane shown in the last frame.
    pub fn compare_labels(&self) -> &[String] {
        &self.compare_labels
    }

    /// The SNR shown under a comparison pane: region SNR (Topaz's formula) when regions are
    /// labelled, else the analysis' even/odd figures for raw and denoised (when `even_odd`:
    /// they are the selected model's).
    fn pane_snr(&self, view: View, image: &crate::image::Image, even_odd: bool) -> String {
        let pairs = self.analysis.regions.pairs();
        if !pairs.is_empty() {
            return match crate::metrics::region_snr_topaz(image, &pairs) {
                Ok(s) => format!("region SNR {:.2} dB", s.snr_db),
                Err(_) => "region SNR n/a".into(),
            };
        }
        match (view, self.analysis().filter(|_| even_odd)) {
            (View::Raw, Some(a)) => a
                .raw_snr
                .snr_db
                .map_or_else(|| "SNR n/a".into(), |d| format!("even/odd SNR {d:.2} dB")),
            (View::Denoised, Some(a)) => a
                .denoised
                .as_ref()
                .and_then(|d| d.topaz_snr_db)
                .map_or_else(String::new, |d| format!("Topaz even/odd SNR {d:.2} dB")),
            _ => String::new(),
        }
    }

    /// The comparison panes in the central area.
    fn compare_view(&mut self, ui: &mut egui::Ui) {
        let area = ui.available_rect_before_wrap();
        self.compare_rect = Some(area);
        let rects = self.compare.layout(area);
        self.compare_pane_rects = rects.clone();
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        let keep = self
            .doc
            .as_ref()
            .map(Document::keep_ids)
            .unwrap_or_default();
        let model = self.models.selected.map_or("", |m| m.name());
        let mut labels = Vec::new();
        let swipe_x = area.left() + self.compare.split * area.width();
        let panes: Vec<(usize, View, Rect)> = if self.compare.swipe {
            self.compare
                .panes
                .iter()
                .take(2)
                .enumerate()
                .map(|(i, v)| (i, *v, area))
                .collect()
        } else {
            self.compare
                .panes
                .iter()
                .zip(rects)
                .enumerate()
                .map(|(i, (v, r))| (i, *v, r))
                .collect()
        };
        for (i, view, rect) in panes {
            let own = self
                .compare
                .pane_model(i, self.models.selected)
                .filter(|m| view == View::Denoised && Some(*m) != self.models.selected);
            let name = match (view, own) {
                (View::Denoised, Some(m)) => format!("{} ({})", view.name(), m.name()),
                (View::Denoised, None) => format!("{} ({model})", view.name()),
                _ => view.name().to_string(),
            };
            let img = match own {
                Some(m) => self.denoised_by(m).cloned(),
                None => self.view_image(view).cloned(),
            };
            let Some(img) = img else {
                // A denoiser that failed on this micrograph says why (e.g. restore without a
                // pixel size), instead of waiting for a result that will not come.
                let failed = match view {
                    View::Denoised | View::Merged => self
                        .compare
                        .pane_model(i, self.models.selected)
                        .and_then(|m| self.doc.as_ref()?.denoise_failed.get(m.name())),
                    _ => None,
                };
                let text = match failed {
                    Some(e) => format!("{name}: failed: {e}"),
                    None => format!("{name}: not computed yet"),
                };
                let galley = ui.painter().layout(
                    text.clone(),
                    egui::FontId::proportional(15.0),
                    egui::Color32::LIGHT_GRAY,
                    (rect.width() - 24.0).max(40.0),
                );
                let at = rect.center() - galley.size() / 2.0;
                ui.painter().galley(at, galley, egui::Color32::LIGHT_GRAY);
                labels.push(text);
                continue;
            };
            let mut clip = rect;
            if self.compare.swipe && i == 1 {
                clip.min.x = swipe_x;
            }
            let mut child =
                ui.new_child(egui::UiBuilder::new().max_rect(rect).id_salt(("pane", i)));
            child.set_clip_rect(clip.intersect(ui.clip_rect()));
            let out = viewer::show(
                &mut child,
                &mut self.transform,
                &img,
                viewer::Look {
                    contrast: self.contrast[view.index()],
                    colour_map: self.colour_map,
                    keep: keep.clone(),
                    gpu_ready: self.max_texture_side.is_some(),
                },
                viewer::Interaction {
                    pan: !(self.compare.swipe && i == 1),
                    zoom: !(self.compare.swipe && i == 1),
                    double_click_fit: true,
                },
            );
            if i == 0 {
                self.viewer_rect = out.rect;
            }
            // The analysis's even/odd SNR is the selected model's: another model's pane
            // shows region SNR only.
            let snr = self.pane_snr(view, &img.image, own.is_none());
            let label = if snr.is_empty() {
                name
            } else {
                format!("{name}  {snr}")
            };
            let painter = ui.painter_at(clip);
            let corner = if self.compare.swipe && i == 1 {
                Rect::from_min_max(egui::pos2(swipe_x, rect.top()), rect.max)
            } else {
                rect
            };
            super::compare::decorate(&painter, corner, &label, self.transform.zoom, pixel);
            labels.push(label);
        }
        if self.compare.swipe {
            ui.painter().vline(
                swipe_x,
                area.y_range(),
                egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 200, 40)),
            );
        }
        self.compare_labels = labels;
    }

    /// Denoises the open volume with Topaz's `unet-3d-10a` (96³ patches, 48 voxels padding,
    /// global normalisation) in the background; the denoised view then shows its sections.
    pub fn denoise_volume(&mut self) {
        let (Some(doc), Some(device)) = (&self.doc, &self.device) else {
            return;
        };
        let Some((volume, _)) = &doc.volume else {
            return;
        };
        let arch = crate::models::Topaz3dArch::UNet3d10A;
        let (volume, device) = (Arc::clone(volume), device.clone());
        let job = Job::spawn("denoise volume", move |p| {
            use crate::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
            p.set_message(format!("loading {}", arch.name()));
            let d = Topaz3dDenoiser::load(&crate::models::ModelSpec::Topaz3d(arch), &device)?;
            p.set_message("reading the volume");
            let volume = volume.to_volume()?;
            p.set_message(format!("{} on 96³ patches", arch.name()));
            d.denoise(&volume, &VolumeTileConfig::default(), p)
        });
        self.volume_denoise_job = Some(Keyed {
            key: (doc.index, arch.name()),
            job,
        });
    }

    /// Whether the open volume has been denoised by a 3D model.
    pub fn has_denoised_volume(&self) -> bool {
        self.doc
            .as_ref()
            .is_some_and(|d| d.denoised_volume.is_some())
    }

    fn poll_volume_denoise(&mut self) {
        if let Some(k) = &mut self.volume_denoise_job
            && let Some(result) = k.job.try_take()
        {
            let (index, name) = k.key;
            self.volume_denoise_job = None;
            match result {
                Ok(v) => {
                    if let Some(doc) = self.doc.as_mut().filter(|d| d.index == index) {
                        doc.denoised_volume = Some((name, Arc::new(v)));
                    }
                    if let Some((_, z)) = self.section() {
                        self.set_section(z);
                    }
                }
                Err(e) => self.error = Some(format!("Denoising the volume failed: {e:#}")),
            }
        }
    }

    /// Whether the XZ/YZ orthoviews are drawn.
    pub fn has_orthoviews(&self) -> bool {
        self.ortho.is_some()
    }

    /// The view the drawn XZ/YZ orthoviews show (raw, denoised or low-pass; they follow the XY
    /// view, denoised once a 3D model has denoised the volume), when drawn.
    pub fn orthoview_shows(&self) -> Option<View> {
        self.ortho.as_ref().map(|(k, _)| k.5)
    }

    /// Where the XZ and YZ orthoviews were drawn in the last frame (screen points).
    pub fn orthoview_rects(&self) -> &[Rect] {
        &self.ortho_rects
    }

    /// Whether the open volume is memory-mapped (read on demand; see
    /// [`crate::io::mapped::open_volume`]), `None` when no volume is open.
    pub fn volume_is_mapped(&self) -> Option<bool> {
        self.doc
            .as_ref()
            .and_then(|d| d.volume.as_ref())
            .map(|(v, _)| v.is_mapped())
    }

    fn poll_volume(&mut self) {
        if let Some(k) = &mut self.slice_job
            && let Some(result) = k.job.try_take()
        {
            let (index, z, _) = k.key;
            self.slice_job = None;
            match result {
                Ok((img, denoised_section)) => {
                    // Views derived from the old section are dropped with their jobs.
                    self.denoise_job = None;
                    self.lowpass_job = None;
                    self.merge_job = None;
                    if let Some(doc) = self.doc.as_mut().filter(|d| d.index == index) {
                        doc.raw = Arc::new(img);
                        doc.denoised.clear();
                        doc.lowpass.clear();
                        doc.merger.clear();
                        doc.merged = None;
                        doc.merge_failed = None;
                        doc.denoise_failed.clear();
                        doc.denoised_section = denoised_section.map(Arc::new);
                        if let Some((_, dz)) = &mut doc.volume {
                            *dz = z;
                        }
                    }
                }
                Err(e) => self.error = Some(format!("Reading the section failed: {e:#}")),
            }
        }
        if let Some(k) = &mut self.ortho_job
            && let Some(result) = k.job.try_take()
        {
            let key = k.key;
            self.ortho_job = None;
            if let Ok([xz, yz]) = result {
                let tex = |name: &str, img| {
                    self.egui_ctx
                        .load_texture(name, img, egui::TextureOptions::NEAREST)
                };
                self.ortho = Some((key, [tex("xz view", xz), tex("yz view", yz)]));
            }
        }
        // Orthoviews through the shared cursor (the centre until the XY view is hovered).
        let Some(doc) = &self.doc else { return };
        let Some((volume, z)) = &doc.volume else {
            self.ortho = None;
            return;
        };
        let (vw, vh, _) = volume.shape();
        let (x, y) = self.ortho_cursor.unwrap_or((vw / 2, vh / 2));
        // The orthoviews show what the XY view shows: the denoised volume (once a 3D model
        // made it), the low-passed sections, or raw (also for the merged view).
        let denoised = doc.denoised_volume.as_ref().map(|(_, v)| Arc::clone(v));
        let (shows, lowpass) = match self.view {
            View::Denoised if denoised.is_some() => (View::Denoised, 0),
            View::Lowpass => (View::Lowpass, self.lowpass_key()),
            _ => (View::Raw, 0),
        };
        let key = (doc.index, x, y, *z, self.slab_thickness, shows, lowpass);
        if self.ortho_job.is_none() && self.ortho.as_ref().is_none_or(|(k, _)| *k != key) {
            let volume = Arc::clone(volume);
            let t = self.slab_thickness;
            let factor = self.lowpass_factor;
            let job = Job::spawn("orthoviews", move |_| {
                use crate::image::Axis;
                let (xz, yz) = match (shows, denoised) {
                    (View::Denoised, Some(d)) => (d.slab(Axis::Y, y, t), d.slab(Axis::X, x, t)),
                    _ => (volume.slab(Axis::Y, y, t), volume.slab(Axis::X, x, t)),
                };
                let (xz, yz) = if shows == View::Lowpass {
                    (
                        fourier::bin_lowpass(&xz, factor),
                        fourier::bin_lowpass(&yz, factor),
                    )
                } else {
                    (xz, yz)
                };
                let side = xz.width.max(xz.height).max(yz.width).max(yz.height);
                Ok([
                    micrograph_list::thumbnail(&xz, side),
                    micrograph_list::thumbnail(&yz, side),
                ])
            });
            self.ortho_job = Some(Keyed { key, job });
        }
    }

    /// The XZ and YZ orthoviews under the XY view, with the section and cursor marked.
    fn orthoviews(&mut self, ui: &mut egui::Ui) {
        let Some((key, [xz, yz])) = &self.ortho else {
            ui.spinner();
            return;
        };
        let (_, x, y, z, _, shows, _) = *key;
        let Some((volume, _)) = self.doc.as_ref().and_then(|d| d.volume.as_ref()) else {
            return;
        };
        let (w, h, d) = volume.shape();
        let (w, h, d) = (w as f32, h as f32, d as f32);
        let shows = shows.name().to_lowercase();
        let height = ui.available_height().max(180.0);
        let mut rects = Vec::new();
        ui.horizontal(|ui| {
            for (tex, label, across, cursor) in [
                (xz, format!("XZ at y = {y} ({shows})"), w, x as f32),
                (yz, format!("YZ at x = {x} ({shows})"), h, y as f32),
            ] {
                // XZ: columns x, rows z; YZ stored as columns z, rows y: shown transposed so
                // that both have the section axis vertical.
                let scale = (height / d).min(ui.available_width() / 2.0 / across);
                let size = Vec2::new(across * scale, d * scale);
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                rects.push(rect);
                let painter = ui.painter_at(rect);
                if label.starts_with("XZ") {
                    painter.image(
                        tex.id(),
                        rect,
                        Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        egui::Color32::WHITE,
                    );
                } else {
                    // Transpose by drawing a mesh with swapped UVs.
                    let mut mesh = egui::Mesh::with_texture(tex.id());
                    let c = egui::Color32::WHITE;
                    let idx = mesh.vertices.len() as u32;
                    mesh.vertices.push(egui::epaint::Vertex {
                        pos: rect.left_top(),
                        uv: egui::pos2(0.0, 0.0),
                        color: c,
                    });
                    mesh.vertices.push(egui::epaint::Vertex {
                        pos: rect.right_top(),
                        uv: egui::pos2(0.0, 1.0),
                        color: c,
                    });
                    mesh.vertices.push(egui::epaint::Vertex {
                        pos: rect.right_bottom(),
                        uv: egui::pos2(1.0, 1.0),
                        color: c,
                    });
                    mesh.vertices.push(egui::epaint::Vertex {
                        pos: rect.left_bottom(),
                        uv: egui::pos2(1.0, 0.0),
                        color: c,
                    });
                    mesh.indices
                        .extend([idx, idx + 1, idx + 2, idx, idx + 2, idx + 3]);
                    painter.add(egui::Shape::mesh(mesh));
                }
                let line = egui::Stroke::new(1.0, egui::Color32::from_rgb(255, 200, 40));
                let zy = rect.top() + (z as f32 + 0.5) * scale;
                painter.hline(rect.x_range(), zy, line);
                let cx = rect.left() + (cursor + 0.5) * scale;
                painter.vline(
                    cx,
                    rect.y_range(),
                    egui::Stroke::new(1.0, egui::Color32::from_rgb(80, 200, 255)),
                );
                painter.text(
                    rect.left_top() + Vec2::splat(3.0),
                    egui::Align2::LEFT_TOP,
                    label,
                    egui::FontId::proportional(12.0),
                    egui::Color32::LIGHT_GRAY,
                );
            }
        });
        self.ortho_rects = rects;
    }

    /// Steps done and total of the current training run.
    pub fn training_status(&self) -> Option<(u64, u64)> {
        let s = self.training.handle.as_ref()?.status();
        Some((s.step, s.total_steps))
    }

    /// How the last training run ended (message), once it has.
    pub fn training_outcome(&self) -> Option<String> {
        self.training.outcome.as_ref().map(|r| match r {
            Ok(m) | Err(m) => m.clone(),
        })
    }

    /// The training panel (tests drive it).
    pub fn training_panel(&mut self) -> &mut TrainingPanel {
        &mut self.training
    }

    /// Starts training on the session's micrographs: even/odd pairs beside them when found,
    /// else count-split halves (the bundled sample is split in memory).
    ///
    /// # Errors
    /// No device yet; the sample cannot be split.
    pub fn start_training(&mut self, resume: bool) -> anyhow::Result<()> {
        use crate::train::data::PairSource;
        let device = self
            .device
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the compute device is still being detected"))?;
        let force = self.training.force_split;
        let mut sources = Vec::new();
        for m in &self.picks.session.micrographs {
            if m.path == Path::new(SAMPLE_NAME) {
                let (_, v) = io::mrc::read_bytes(SAMPLE_MRC)?;
                let split = crate::metrics::split_counts(
                    &v.section(0),
                    &crate::metrics::CountSplitOptions {
                        force,
                        ..Default::default()
                    },
                )?;
                sources.push(PairSource::InMemory {
                    name: SAMPLE_NAME.into(),
                    even: Arc::new(split.half1),
                    odd: Arc::new(split.half2),
                });
            } else if let Some((even, odd)) = crate::analysis::find_half_pair(&m.path) {
                sources.push(PairSource::Files { even, odd });
            } else {
                sources.push(PairSource::CountSplit {
                    path: m.path.clone(),
                    force,
                });
            }
        }
        let run = crate::train::TrainRun {
            config: self.training.config.clone(),
            sources,
            output: self.training.output(),
            resume,
            command_line: "cryolens GUI training panel".into(),
            notes: String::new(),
        };
        self.training.history.clear();
        self.training.outcome = None;
        self.training.handle = Some(crate::train::start(run, device));
        Ok(())
    }

    fn training_ui(&mut self, ui: &mut egui::Ui) {
        let n = self.picks.session.micrographs.len();
        let note = format!(
            "on the {n} micrograph(s) of this session: even/odd pairs beside them, else count-split halves; model saved to {}",
            self.training.output().display()
        );
        if let TrainingAction::Start { resume } = self.training.show(ui, &note)
            && let Err(e) = self.start_training(resume)
        {
            self.training.outcome = Some(Err(format!("Training could not start: {e:#}")));
        }
    }

    /// The CTF drawn over the 2D spectrum.
    pub fn ctf(&self) -> crate::ctf::Ctf {
        self.analysis.ctf
    }

    /// Whether the 2D power spectrum of the open micrograph is ready.
    pub fn has_spectrum(&self) -> bool {
        let index = self.doc.as_ref().map(|d| d.index);
        self.analysis
            .spectrum
            .as_ref()
            .is_some_and(|(i, _, _)| Some(*i) == index)
    }

    /// Why the last analysis failed, if it did.
    pub fn analysis_error(&self) -> Option<&str> {
        self.analysis.error.as_deref()
    }

    /// True while an analysis runs.
    pub fn is_analysing(&self) -> bool {
        self.analysis_job.is_some()
    }

    /// Opens or closes the analysis panel.
    pub fn show_analysis(&mut self, open: bool) {
        self.analysis.open = open;
    }

    /// Starts the 2D spectrum of the open micrograph when the panel shows it.
    fn start_spectrum_job(&mut self) {
        use super::analysis_panel::Tab;
        if !self.analysis.open
            || self.analysis.tab != Tab::Spectrum2d
            || self.spectrum_job.is_some()
        {
            return;
        }
        let Some(doc) = &self.doc else { return };
        if self
            .analysis
            .spectrum
            .as_ref()
            .is_some_and(|(i, _, _)| *i == doc.index)
        {
            return;
        }
        let raw = Arc::clone(&doc.raw);
        let job = Job::spawn("spectrum", move |p| {
            p.set_message("power spectrum");
            let tile = crate::analysis::SPECTRUM_TILE.min(raw.image.width.min(raw.image.height));
            let spectrum = fourier::power_spectrum(&raw.image, tile);
            Ok((
                raw.image.pixel_size_angstrom,
                micrograph_list::thumbnail(&spectrum, tile),
            ))
        });
        self.spectrum_job = Some(Keyed {
            key: doc.index,
            job,
        });
    }

    fn start_ctf_import(&mut self) {
        if self.ctf_job.is_some() {
            return;
        }
        self.ctf_job = Some(Job::spawn("CTF dialog", |_| {
            let dialog = rfd::AsyncFileDialog::new()
                .set_title("Read the CTF (RELION STAR or CTFFIND4 output)")
                .add_filter("CTF parameters", &["star", "txt"])
                .add_filter("All files", &["*"]);
            Ok(pollster::block_on(dialog.pick_file()).map(|f| f.path().to_path_buf()))
        }));
    }

    /// Reads the open micrograph's CTF from a RELION STAR or CTFFIND4 file into the analysis
    /// panel (the entry whose micrograph name has the same stem, else the first); returns the
    /// micrograph name used.
    ///
    /// # Errors
    /// The file's errors; no entries.
    pub fn import_ctf(&mut self, path: &Path) -> anyhow::Result<String> {
        let entries = if path.extension().is_some_and(|e| e == "star") {
            crate::ctf::read_ctf_star(path)?
        } else {
            crate::ctf::read_ctffind(path)?
        };
        let stem = self.analysis_stem();
        let entry = entries
            .iter()
            .find(|e| {
                Path::new(&e.micrograph_name)
                    .file_stem()
                    .is_some_and(|s| s.to_string_lossy() == stem)
            })
            .or(entries.first())
            .ok_or_else(|| anyhow::anyhow!("{}: no CTF entries", path.display()))?;
        self.analysis.ctf = entry.ctf;
        self.analysis.show_ctf = true;
        self.info = Some(format!(
            "CTF of {} from {}",
            entry.micrograph_name,
            path.display()
        ));
        Ok(entry.micrograph_name.clone())
    }

    /// Computes the FSC of two half-maps for the analysis panel (and shows its tab).
    ///
    /// # Errors
    /// Unreadable or mismatched maps.
    pub fn open_half_maps(&mut self, a: &Path, b: &Path) -> anyhow::Result<()> {
        let (names, report, maps) = half_map_fsc(a, b, &Progress::new())?;
        self.analysis.half_maps = Some((names, Arc::new(report)));
        self.analysis.cref.maps = Some(Arc::new(maps));
        self.analysis.open = true;
        self.analysis.tab = super::analysis_panel::Tab::HalfMaps;
        Ok(())
    }

    /// The FSC-0.143 and FSC-0.5 resolutions of the open half-maps.
    pub fn half_map_resolutions(&self) -> Option<(Option<f64>, Option<f64>)> {
        let (_, r) = self.analysis.half_maps.as_ref()?;
        Some((
            r.at_0143.as_ref().map(|c| c.resolution),
            r.at_05.as_ref().map(|c| c.resolution),
        ))
    }

    /// Sets the true map of the crefDenoiser evaluation (synthetic half-maps).
    ///
    /// # Errors
    /// An unreadable map.
    pub fn set_cref_truth(&mut self, path: &Path) -> anyhow::Result<()> {
        let (name, v) = read_truth_map(path)?;
        self.analysis.cref.truth = Some((name, Arc::new(v)));
        Ok(())
    }

    /// Starts training a crefDenoiser on the open half-maps with the Half-maps tab's options
    /// (a background job; the tab shows progress, live loss and, at the end, the curves).
    pub fn start_cref_training(&mut self) {
        let panel = &mut self.analysis.cref;
        let Some(maps) = panel.maps.clone() else {
            panel.error = Some("Open two half-maps first".into());
            return;
        };
        if self.cref_job.is_some() {
            return;
        }
        let cfg = crate::train::cref::CrefTrainConfig {
            epochs: panel.epochs,
            patch_px: panel.patch_px,
            patches_per_epoch: panel.patches_per_epoch,
            learning_rate: panel.learning_rate,
            device: self
                .device
                .clone()
                .unwrap_or_else(|| ComputeDevice::flex("crefDenoiser training")),
            ..Default::default()
        };
        let truth = panel.truth.as_ref().map(|(_, v)| Arc::clone(v));
        panel.error = None;
        panel.live_epochs.clear();
        panel.running = Some((0.0, "crefDenoiser: starting".into()));
        let epochs: CrefEpochs = Arc::default();
        let shared = Arc::clone(&epochs);
        let job = Job::spawn("crefDenoiser", move |p| {
            use crate::train::cref::{evaluate_cref, train_cref_observed};
            let out = train_cref_observed(
                &maps.half1,
                &maps.half2,
                maps.mask.as_ref(),
                &cfg,
                p,
                &mut |e| {
                    if let Ok(mut v) = shared.lock() {
                        v.push(*e);
                    }
                },
            )?;
            let evaluation = evaluate_cref(
                &maps,
                &out.denoised,
                &out.denoised_half2,
                truth.as_deref(),
                cfg.shell_width,
            )?;
            // Written here, on the worker, so that opening it in the viewer later costs the UI
            // thread nothing; a failure is kept for that moment, the result is not lost.
            p.set_message("writing the denoised map");
            let dir = std::env::temp_dir().join(format!("cryolens-cref-{}", std::process::id()));
            let file = dir.join(format!("cref-denoised-{}.mrc", cref_run_number()));
            let denoised_file = std::fs::create_dir_all(&dir)
                .map_err(anyhow::Error::from)
                .and_then(|()| Ok(crate::io::mrc::write_volume(&file, &out.denoised)?))
                .map(|()| file)
                .map_err(|e| format!("{e:#}"));
            Ok(super::analysis_panel::CrefResult {
                denoised: Arc::new(out.denoised),
                denoised_file,
                evaluation,
                best_epoch: out.best_epoch,
                epochs_run: out.loss_history.len(),
                loss: (out.initial_loss, out.final_loss),
            })
        });
        self.cref_job = Some((job, epochs));
    }

    /// The crefDenoiser options and state of the Half-maps tab (for scripting and tests).
    pub fn cref_panel_mut(&mut self) -> &mut super::analysis_panel::CrefPanel {
        &mut self.analysis.cref
    }

    /// Whether a crefDenoiser training runs.
    pub fn is_cref_training(&self) -> bool {
        self.cref_job.is_some()
    }

    /// The last crefDenoiser result shown in the Half-maps tab.
    pub fn cref_result(&self) -> Option<&Arc<super::analysis_panel::CrefResult>> {
        self.analysis.cref.result.as_ref()
    }

    /// Opens the crefDenoiser's denoised average in the volume viewer (the MRC the training job
    /// wrote into the temporary folder, opened like any map).
    ///
    /// # Errors
    /// No result yet, an unwritable temporary file.
    pub fn open_cref_denoised(&mut self) -> anyhow::Result<()> {
        let Some(r) = self.analysis.cref.result.clone() else {
            anyhow::bail!("train the crefDenoiser first");
        };
        match &r.denoised_file {
            Ok(path) => {
                self.open(Source::File(path.clone()));
                Ok(())
            }
            Err(e) => anyhow::bail!("the denoised map could not be written: {e}"),
        }
    }

    fn poll_cref(&mut self) {
        if let Some(job) = &mut self.cref_truth_job
            && let Some(result) = job.try_take()
        {
            self.cref_truth_job = None;
            match result {
                Ok(Some((name, v))) => self.analysis.cref.truth = Some((name, Arc::new(v))),
                Ok(None) => {}
                Err(e) => {
                    self.analysis.cref.error = Some(format!("Reading the truth failed: {e:#}"))
                }
            }
        }
        let Some((job, epochs)) = &mut self.cref_job else {
            return;
        };
        let panel = &mut self.analysis.cref;
        if let Ok(v) = epochs.lock() {
            panel.live_epochs.clone_from(&v);
        }
        panel.running = Some((job.progress.fraction(), job.progress.message()));
        if let Some(result) = job.try_take() {
            panel.running = None;
            match result {
                Ok(r) => panel.result = Some(Arc::new(r)),
                Err(e) => panel.error = Some(format!("crefDenoiser training failed: {e:#}")),
            }
            self.cref_job = None;
        }
    }

    fn poll_analysis(&mut self) {
        if let Some(job) = &mut self.half_map_job
            && let Some(result) = job.try_take()
        {
            self.half_map_job = None;
            match result {
                Ok(Some((names, report, maps))) => {
                    self.analysis.half_maps = Some((names, Arc::new(report)));
                    self.analysis.cref.maps = Some(Arc::new(maps));
                }
                Ok(None) => {}
                Err(e) => self.error = Some(format!("Half-map FSC failed: {e:#}")),
            }
        }
        self.poll_cref();
        if let Some(k) = &mut self.spectrum_job
            && let Some(result) = k.job.try_take()
        {
            let index = k.key;
            self.spectrum_job = None;
            match result {
                Ok((pixel, img)) => {
                    let tex = self.egui_ctx.load_texture(
                        "power spectrum",
                        img,
                        egui::TextureOptions::LINEAR,
                    );
                    self.analysis.spectrum = Some((index, pixel, tex));
                }
                Err(e) => self.analysis.error = Some(format!("Power spectrum failed: {e:#}")),
            }
        }
        if let Some(job) = &mut self.ctf_job
            && let Some(result) = job.try_take()
        {
            self.ctf_job = None;
            match result {
                Ok(Some(path)) => {
                    if let Err(e) = self.import_ctf(&path) {
                        self.error = Some(format!("Reading the CTF failed: {e:#}"));
                    }
                }
                Ok(None) => {}
                Err(e) => self.error = Some(format!("File dialog failed: {e:#}")),
            }
        }
        self.start_spectrum_job();
        if let Some(k) = &mut self.analysis_job
            && let Some(result) = k.job.try_take()
        {
            let index = k.key;
            self.analysis_job = None;
            match result {
                Ok(a) => self.analysis.result = Some((index, Arc::new(a))),
                Err(e) => self.analysis.error = Some(format!("Analysis failed: {e:#}")),
            }
        }
        if let Some(msg) = self.png_message.lock().ok().and_then(|mut m| m.take()) {
            match msg {
                Ok(m) => self.info = Some(m),
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Where analysis exports go: `cryolens_analysis/` beside the session file.
    fn analysis_dir(&self) -> PathBuf {
        self.default_export_dir()
            .with_file_name("cryolens_analysis")
    }

    fn analysis_stem(&self) -> String {
        self.doc.as_ref().map_or_else(
            || "micrograph".into(),
            |d| {
                Path::new(&d.name)
                    .file_stem()
                    .map_or_else(|| d.name.clone(), |s| s.to_string_lossy().into_owned())
                    .replace(' ', "_")
            },
        )
    }

    /// Writes the open micrograph's curves as CSV into `cryolens_analysis/`; returns the file.
    ///
    /// # Errors
    /// No analysis yet, or a failed write.
    pub fn export_analysis_csv(&mut self) -> anyhow::Result<PathBuf> {
        let csv = self
            .analysis()
            .ok_or_else(|| anyhow::anyhow!("no analysis of this micrograph yet"))?
            .curves_csv();
        let dir = self.analysis_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}_curves.csv", self.analysis_stem()));
        crate::io::atomic::write_atomically(&path, csv.as_bytes())?;
        self.info = Some(format!("Saved the curves to {}", path.display()));
        Ok(path)
    }

    fn export_plot_png(&mut self, ctx: &egui::Context, rect: Rect) {
        let what = format!("{:?}", self.analysis.tab);
        self.export_png(ctx, rect, &what);
    }

    /// Saves screen rectangle `rect` of the next frame as `cryolens_analysis/<mic>_<what>.png`.
    fn export_png(&mut self, ctx: &egui::Context, rect: Rect, what: &str) {
        let dir = self.analysis_dir();
        let path = dir.join(format!("{}_{what}.png", self.analysis_stem()));
        let message = Arc::clone(&self.png_message);
        let ppp = ctx.pixels_per_point();
        ctx.request_screenshot(move |shot| {
            let result = (|| -> anyhow::Result<String> {
                let [w, h] = shot.size;
                let x0 = ((rect.min.x * ppp).max(0.0) as usize).min(w);
                let y0 = ((rect.min.y * ppp).max(0.0) as usize).min(h);
                let x1 = ((rect.max.x * ppp) as usize).clamp(x0, w);
                let y1 = ((rect.max.y * ppp) as usize).clamp(y0, h);
                let mut img = image::RgbaImage::new((x1 - x0) as u32, (y1 - y0) as u32);
                for y in y0..y1 {
                    for x in x0..x1 {
                        let c = shot.pixels[y * w + x];
                        img.put_pixel(
                            (x - x0) as u32,
                            (y - y0) as u32,
                            image::Rgba([c.r(), c.g(), c.b(), 255]),
                        );
                    }
                }
                std::fs::create_dir_all(&dir)?;
                let mut bytes = Vec::new();
                img.write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )?;
                crate::io::atomic::write_atomically(&path, &bytes)?;
                Ok(format!("Saved the plot to {}", path.display()))
            })();
            if let Ok(mut m) = message.lock() {
                *m = Some(result.map_err(|e| format!("Saving the plot failed: {e:#}")));
            }
        });
        ctx.request_repaint();
    }

    fn analysis_ui(&mut self, ui: &mut egui::Ui) {
        let index = self.doc.as_ref().map(|d| d.index);
        let running = self
            .analysis_job
            .as_ref()
            .map(|k| (k.job.progress.fraction(), k.job.progress.message()));
        let doc = self.doc.as_ref();
        let raw = doc.map(|d| Arc::clone(&d.raw));
        let den = self.view_image(View::Denoised).cloned();
        let low = self.view_image(View::Lowpass).cloned();
        let merged = self.view_image(View::Merged).cloned();
        let views = [
            raw.as_ref().map(|v| &v.image),
            den.as_ref().map(|v| &v.image),
            low.as_ref().map(|v| &v.image),
            merged.as_ref().map(|v| &v.image),
        ];
        match self.analysis.show(ui, index, running, views) {
            AnalysisAction::None => {}
            AnalysisAction::Run => self.start_analysis(),
            AnalysisAction::Cancel => {
                if let Some(k) = self.analysis_job.take() {
                    k.job.progress.cancel();
                }
            }
            AnalysisAction::ExportCsv => {
                if let Err(e) = self.export_analysis_csv() {
                    self.error = Some(format!("Saving the curves failed: {e:#}"));
                }
            }
            AnalysisAction::ImportCtf => self.start_ctf_import(),
            AnalysisAction::OpenHalfMaps => {
                self.half_map_job = Some(Job::spawn("half-maps", |p| {
                    let dialog = rfd::AsyncFileDialog::new()
                        .set_title("Choose the two half-maps")
                        .add_filter("Maps (MRC)", &["mrc", "map", "rec"]);
                    let files = pollster::block_on(dialog.pick_files()).unwrap_or_default();
                    match files.as_slice() {
                        [a, b] => half_map_fsc(a.path(), b.path(), p).map(Some),
                        [] => Ok(None),
                        _ => anyhow::bail!("choose exactly two half-maps"),
                    }
                }));
            }
            AnalysisAction::ExportPng(rect) => {
                let ctx = ui.ctx().clone();
                self.export_plot_png(&ctx, rect);
            }
            AnalysisAction::TrainCref => self.start_cref_training(),
            AnalysisAction::CancelCref => {
                if let Some((job, _)) = &self.cref_job {
                    job.progress.cancel();
                }
            }
            AnalysisAction::ChooseCrefTruth => {
                self.cref_truth_job = Some(Job::spawn("truth map", |_| {
                    let dialog = rfd::AsyncFileDialog::new()
                        .set_title("Choose the true map")
                        .add_filter("Maps (MRC)", &["mrc", "map", "rec"]);
                    match pollster::block_on(dialog.pick_file()) {
                        Some(f) => read_truth_map(f.path()).map(Some),
                        None => Ok(None),
                    }
                }));
            }
            AnalysisAction::OpenCrefDenoised => {
                if let Err(e) = self.open_cref_denoised() {
                    self.error = Some(format!("Opening the denoised map failed: {e:#}"));
                }
            }
        }
    }

    fn handle_pick_action(&mut self, action: PickAction) {
        match action {
            PickAction::None => {}
            PickAction::Undo => self.undo(),
            PickAction::Redo => self.redo(),
            PickAction::Import => self.start_import(),
            PickAction::Export(f) => self.start_export(f),
            PickAction::Clear => {
                let m = self.picks.session.current;
                self.picks.session.replace(m, Vec::new());
            }
        }
    }

    /// Starts denoising with the selected model and low-pass at the current factor when
    /// they are not computed yet.
    fn start_jobs(&mut self) {
        let Some(doc) = &self.doc else { return };
        // Denoising, once the device is known: the selected model first, then the models of
        // the comparison's denoised panes; one job at a time.
        if let Some(device) = &self.device {
            let mut wanted: Vec<DenoiserChoice> = self.models.selected.into_iter().collect();
            if self.compare.open {
                for i in 0..self.compare.panes.len() {
                    if let Some(m) = self.compare.pane_model(i, self.models.selected)
                        && !wanted.contains(&m)
                    {
                        wanted.push(m);
                    }
                }
            }
            let wanted_names: Vec<&'static str> = wanted.iter().map(|m| m.name()).collect();
            if let Some(k) = &self.denoise_job
                && (k.key.0 != doc.index || !wanted_names.contains(&k.key.1))
            {
                k.job.progress.cancel();
                self.denoise_job = None;
            }
            let next = wanted.into_iter().find(|m| {
                let name = m.name();
                let shown_as_section =
                    Some(*m) == self.models.selected && doc.denoised_section.is_some();
                !shown_as_section
                    && !doc.denoised.contains_key(name)
                    && !doc.denoise_failed.contains_key(name)
            });
            if let Some(arch) = next
                && self.denoise_job.is_none()
                && self.install_job.is_none()
            {
                let raw = Arc::clone(&doc.raw);
                let device = device.clone();
                let job = Job::spawn("denoise", move |p| denoise_job(arch, &device, &raw, p));
                self.denoise_job = Some(Keyed {
                    key: (doc.index, arch.name()),
                    job,
                });
            }
        }
        // Low-pass at the current factor (one job at a time; the newest factor follows).
        let key = self.lowpass_key();
        if self
            .lowpass_job
            .as_ref()
            .is_some_and(|k| k.key.0 != doc.index)
        {
            self.lowpass_job = None;
        }
        if self.lowpass_job.is_none() && !doc.lowpass.contains_key(&key) {
            let raw = Arc::clone(&doc.raw);
            let factor = self.lowpass_factor;
            let job = Job::spawn("lowpass", move |p| {
                p.set_message(format!("binning by {factor}×"));
                Ok(ViewImage::new(fourier::bin_lowpass(&raw.image, factor)))
            });
            self.lowpass_job = Some(Keyed {
                key: (doc.index, key),
                job,
            });
        }
        self.start_merge_job();
    }

    /// Merges when the merged view is shown (or asked for) and out of date: one job at a
    /// time, the newest slider values follow; the raw/denoised transforms are kept per model
    /// so a slider move costs one inverse FFT.
    fn start_merge_job(&mut self) {
        if self.view != View::Merged || self.merge_job.is_some() {
            return;
        }
        let (Some(doc), Some(key)) = (&self.doc, self.merge_key()) else {
            return;
        };
        if doc.merged.as_ref().is_some_and(|(k, _)| *k == key)
            || doc.merge_failed.as_ref().is_some_and(|(k, _)| *k == key)
        {
            return;
        }
        let Some(denoised) = doc.denoised.get(key.0).cloned() else {
            return;
        };
        let raw = Arc::clone(&doc.raw);
        let merger = doc.merger.get(key.0).cloned();
        let (cutoff, width) = (self.merge_cutoff_angstrom, self.merge_width_angstrom);
        let job = Job::spawn("merge", move |p| {
            let merger = match merger {
                Some(m) => m,
                None => {
                    p.set_message("transforming raw and denoised");
                    Arc::new(Merger::new(&raw.image, &denoised.image)?)
                }
            };
            p.set_message(format!("merging at {cutoff} Å"));
            let (img, _) = merger.merge(cutoff, width)?;
            Ok((merger, ViewImage::new(img)))
        });
        self.merge_job = Some(Keyed {
            key: (doc.index, key),
            job,
        });
    }

    fn poll_merge(&mut self) {
        if let Some(k) = &mut self.merge_job
            && let Some(result) = k.job.try_take()
        {
            let (index, key) = k.key;
            self.merge_job = None;
            if let Some(doc) = self.doc_mut(index) {
                match result {
                    Ok((merger, img)) => {
                        doc.merger.insert(key.0, merger);
                        doc.merged = Some((key, Arc::new(img)));
                    }
                    Err(e) => doc.merge_failed = Some((key, format!("{e:#}"))),
                }
            }
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
                            .insert(k.key.1, "denoising cancelled".into());
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
            let views = [Key::Num1, Key::Num2, Key::Num3, Key::Num4].map(|k| i.key_pressed(k));
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
        self.picking_shortcuts(ctx);
    }

    /// Picking keys: undo/redo, next/previous micrograph, overlay, delete under the cursor.
    fn picking_shortcuts(&mut self, ctx: &egui::Context) {
        use egui::Modifiers;
        let keys = ctx.input_mut(|i| {
            let redo = i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
                || i.consume_key(Modifiers::COMMAND, Key::Y);
            let undo = i.consume_key(Modifiers::COMMAND, Key::Z);
            let plain = !i.modifiers.command && !i.modifiers.alt;
            [
                undo,
                redo,
                plain && (i.key_pressed(Key::N) || i.key_pressed(Key::PageDown)),
                plain && (i.key_pressed(Key::P) || i.key_pressed(Key::PageUp)),
                plain && i.key_pressed(Key::B),
                plain && i.key_pressed(Key::H),
                plain && (i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace)),
            ]
        });
        let [undo, redo, next, previous, boxes, hide, delete] = keys;
        let step = ctx.input(|i| {
            let n = if i.modifiers.shift { 10 } else { 1 };
            if i.key_pressed(Key::ArrowUp) {
                n
            } else if i.key_pressed(Key::ArrowDown) {
                -n
            } else {
                0
            }
        });
        if step != 0
            && let Some((depth, z)) = self.section()
        {
            let target = (z as i64 + step).clamp(0, depth as i64 - 1) as usize;
            self.set_section(target);
        }
        let (analysis, regions) = ctx.input(|i| {
            let plain = !i.modifiers.command && !i.modifiers.alt;
            (
                plain && i.key_pressed(Key::A),
                plain && i.key_pressed(Key::R),
            )
        });
        if analysis {
            self.analysis.open = !self.analysis.open;
        }
        if ctx.input(|i| !i.modifiers.command && i.key_pressed(Key::T)) {
            self.training.open = !self.training.open;
        }
        if ctx.input(|i| !i.modifiers.command && i.key_pressed(Key::C)) {
            self.compare.open = !self.compare.open;
        }
        if regions {
            self.analysis.labelling = !self.analysis.labelling;
            if self.analysis.labelling {
                self.analysis.open = true;
                self.analysis.tab = super::analysis_panel::Tab::Regions;
            }
        }
        if undo {
            self.undo();
        }
        if redo {
            self.redo();
        }
        let current = self.picks.session.current;
        if next && current + 1 < self.picks.session.micrographs.len() {
            self.go_to(current + 1);
        }
        if previous && current > 0 {
            self.go_to(current - 1);
        }
        if boxes {
            self.picks.session.settings.circles = !self.picks.session.settings.circles;
            self.picks.session.touch();
        }
        if hide {
            self.picks.show_picks = !self.picks.show_picks;
        }
        if delete
            && let (Some(rect), Some(pos)) = (self.viewer_rect, ctx.pointer_hover_pos())
            && rect.contains(pos)
        {
            let radius = self.pick_radius_px();
            self.picks.remove_at(&self.transform, rect, pos, radius);
        }
    }

    /// The particle radius in pixels of the open micrograph.
    fn pick_radius_px(&self) -> f64 {
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        self.picks.session.settings.radius_px(pixel)
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
        if let Some((depth, z)) = self.section() {
            ui.heading("Volume");
            let mut zz = z;
            if ui
                .add(egui::Slider::new(&mut zz, 0..=depth - 1).text("Section z"))
                .on_hover_text("Up / Down arrows (Shift: 10 sections)")
                .changed()
            {
                self.set_section(zz);
            }
            let mut t = self.slab_thickness;
            if ui
                .add(egui::Slider::new(&mut t, 1..=depth.clamp(1, 64)).text("Slab (sections)"))
                .on_hover_text("Average this many sections around z (all three views)")
                .changed()
            {
                self.set_slab_thickness(t);
            }
            match (&self.volume_denoise_job, self.has_denoised_volume()) {
                (Some(k), _) => {
                    ui.add(
                        egui::ProgressBar::new(k.job.progress.fraction())
                            .text(k.job.progress.message())
                            .desired_width(240.0),
                    );
                }
                (None, true) => {
                    ui.label("Denoised view: unet-3d-10a (whole volume)");
                }
                (None, false) => {
                    if ui
                        .button("Denoise volume (unet-3d-10a)")
                        .on_hover_text("Topaz's 3D U-net on 96³ patches with 48 voxels of padding; until then the denoised view runs the 2D model on each section")
                        .clicked()
                    {
                        self.denoise_volume();
                    }
                }
            }
            ui.separator();
        }
        ui.horizontal(|ui| {
            ui.heading("Compare");
            ui.checkbox(&mut self.compare.open, "side by side")
                .on_hover_text("C: 2 to 4 panes with linked pan, zoom and contrast, or a swipe");
        });
        if self.compare.open {
            let installed = self.models.installed.clone();
            self.compare.controls(ui, &installed);
            if ui
                .button("Export comparison PNG")
                .on_hover_text(
                    "The panes with their labels and scale bars, into cryolens_analysis/",
                )
                .clicked()
                && let Some(rect) = self.compare_rect
            {
                let ctx = ui.ctx().clone();
                self.export_png(&ctx, rect, "comparison");
            }
        }
        ui.separator();
        ui.heading("Picking");
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        let action = self.picks.panel(ui, pixel);
        self.handle_pick_action(action);
        ui.separator();
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

        ui.heading("Merge");
        ui.add(
            egui::Slider::new(&mut self.merge_cutoff_angstrom, 2.0..=60.0)
                .step_by(0.5)
                .text("Cutoff (Å)"),
        )
        .on_hover_text("Merged view (4): denoised below this resolution, raw above");
        ui.add(
            egui::Slider::new(&mut self.merge_width_angstrom, 0.5..=30.0)
                .step_by(0.5)
                .text("Edge (Å)"),
        )
        .on_hover_text("Width of the soft edge between the denoised and raw bands");
        ui.label(
            egui::RichText::new(format!(
                "band {:.1}–{:.1} Å; denoised amplitudes rescaled to the raw's in the band",
                self.merge_cutoff_angstrom + self.merge_width_angstrom,
                self.merge_cutoff_angstrom
            ))
            .weak(),
        );
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
                        ui.label(format!("Denoising with {}…", k.key.1));
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
                View::Merged => {
                    let failed = self
                        .merge_key()
                        .and_then(|k| doc.merge_failed.as_ref().filter(|(f, _)| *f == k));
                    if let Some((_, e)) = failed {
                        ui.colored_label(ui.visuals().error_fg_color, format!("Merging failed: {e}"));
                    } else if self.models.selected.is_some_and(|a| !doc.denoised.contains_key(a.name())) {
                        ui.spinner();
                        ui.label("Waiting for the denoised view to merge it…");
                    } else {
                        ui.spinner();
                        ui.label(format!("Merging at {} Å…", self.merge_cutoff_angstrom));
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
                            ("1 / 2 / 3 / 4", "raw / denoised / low-pass / merged view"),
                            ("F", "fit the micrograph to the window"),
                            ("+ / −", "zoom in / out"),
                            ("wheel", "zoom around the cursor"),
                            ("drag (off a pick)", "pan"),
                            ("O, Ctrl+O", "open a file"),
                            ("click", "add a pick"),
                            ("right click, Shift+click", "remove the nearest pick"),
                            ("drag a pick", "move it"),
                            ("Delete", "remove the pick under the cursor"),
                            ("Ctrl+Z", "undo (all edits, all micrographs)"),
                            ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
                            ("N / P, PgDn / PgUp", "next / previous micrograph"),
                            ("B", "circles / boxes"),
                            ("Up / Down (Shift: ×10)", "section of a volume"),
                            ("H", "hide / show picks"),
                            ("middle drag", "pan"),
                            ("A", "analysis panel (spectra, SSNR, signal/noise/bias)"),
                            ("T", "training panel (noise2noise on this session)"),
                            ("C", "compare views side by side (linked pan and zoom)"),
                            ("R", "label regions for region SNR (click signal, right click background)"),
                            ("Ctrl+P (analysis)", "save the plot as PNG"),
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
        if let Some(k) = &self.prefetch_job {
            jobs.push(("preparing next", Arc::clone(&k.job.progress)));
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

/// `path` made absolute (relative to the working folder), so that sessions match micrographs
/// however they were named on the command line.
fn absolute(path: &Path) -> PathBuf {
    if path == Path::new(SAMPLE_NAME) {
        return path.to_path_buf();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reads micrograph `index` of the session (the bundled sample for [`SAMPLE_NAME`]) and
/// computes its statistics.
fn load_micrograph(index: usize, path: &Path, p: &Progress) -> anyhow::Result<Loaded> {
    p.set_message("reading");
    let (label, result) = if path == Path::new(SAMPLE_NAME) {
        let read = io::mrc::read_bytes(SAMPLE_MRC);
        let read = read.map(|(k, v)| (k, Arc::new(v) as Arc<dyn VolumeSource>));
        (SAMPLE_NAME.to_string(), read)
    } else {
        (
            path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            // Large MRC files are mapped, not read: only the sections shown are decoded.
            io::mapped::open_volume(path),
        )
    };
    let (kind, volume) = result?;
    let (image, note) = pick_section(kind, &*volume)?;
    let volume = (volume.shape().2 > 1).then_some(volume);
    image
        .check_finite()
        .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
    p.set_message("computing statistics");
    let thumbnail = micrograph_list::thumbnail(&image, micrograph_list::THUMBNAIL_SIDE);
    Ok(Loaded {
        index,
        name: label,
        note,
        raw: match &volume {
            Some(v) => section_view(&**v, image),
            None => ViewImage::new(image),
        },
        volume,
        thumbnail,
    })
}

/// Names for display, FSC and the maps of a pair of half-maps.
type HalfMapFsc = (String, crate::halfmap::FscReport, crate::halfmap::HalfMaps);

/// Epochs a running crefDenoiser training has finished (shared with its job).
type CrefEpochs = Arc<std::sync::Mutex<Vec<crate::train::cref::CrefEpoch>>>;

fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Reads two half-maps and computes their FSC (one-voxel shells); the names for display.
fn half_map_fsc(a: &Path, b: &Path, p: &Progress) -> anyhow::Result<HalfMapFsc> {
    p.set_message("reading half-maps");
    let maps = crate::halfmap::HalfMaps::read(a, b, None)?;
    p.set_message("FSC");
    let report = maps.fsc(1.0)?;
    Ok((
        format!("{} vs {}", file_name(a), file_name(b)),
        report,
        maps,
    ))
}

/// Reads a true map for the crefDenoiser evaluation (its file name for display).
fn read_truth_map(path: &Path) -> anyhow::Result<(String, Volume)> {
    let (_, v) = crate::io::read(path)?;
    Ok((file_name(path), v))
}

/// A document from a read micrograph and, when prefetched, its denoised view.
fn document(loaded: Loaded, denoised: Option<(&'static str, ViewImage)>) -> Document {
    let mut doc = Document {
        index: loaded.index,
        name: loaded.name,
        note: loaded.note,
        raw: Arc::new(loaded.raw),
        denoised: HashMap::new(),
        lowpass: HashMap::new(),
        denoise_failed: HashMap::new(),
        merger: HashMap::new(),
        merged: None,
        merge_failed: None,
        volume: loaded.volume.map(|v| {
            let z = v.shape().2 / 2;
            (v, z)
        }),
        denoised_volume: None,
        denoised_section: None,
    };
    if let Some((model, img)) = denoised {
        doc.denoised.insert(model, Arc::new(img));
    }
    doc
}

/// The 2D image to show for a file's contents: the image itself, or the middle section of a
/// stack or volume (with a note saying so).
fn pick_section(
    kind: ContentKind,
    volume: &dyn VolumeSource,
) -> anyhow::Result<(crate::image::Image, Option<String>)> {
    let (width, height, depth) = volume.shape();
    if width == 0 || height == 0 || depth == 0 {
        anyhow::bail!("the file holds no pixels ({width}×{height}×{depth})");
    }
    if depth == 1 {
        return Ok((volume.section(0), None));
    }
    let what = match kind {
        ContentKind::Stack => "stack",
        _ => "volume",
    };
    let mapped = if volume.is_mapped() {
        " (memory-mapped: sections are read as shown)"
    } else {
        ""
    };
    Ok((
        volume.section(depth / 2),
        Some(format!(
            "{what} of {depth} sections{mapped}: section slider and Up/Down keys in the side panel"
        )),
    ))
}

/// A section of `volume` ready to show. For a memory-mapped volume the contrast statistics
/// (median, robust σ) come from a sample of sections across the volume (see
/// [`VolumeSource::contrast_stats`]), so that the contrast holds from section to section
/// without reading the whole file; otherwise they are the section's own.
fn section_view(volume: &dyn VolumeSource, image: crate::image::Image) -> ViewImage {
    let mut view = ViewImage::new(image);
    if let Some((median, sigma)) = volume.contrast_stats()
        && sigma > 0.0
        && sigma.is_finite()
    {
        view.stats.mean = f64::from(median);
        view.stats.std = f64::from(sigma);
        view.histogram = super::contrast::Histogram::of(&view.image.data, &view.stats);
    }
    view
}

/// A number per crefDenoiser run in this process, so each run's denoised map has its own file.
fn cref_run_number() -> usize {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn denoise_job(
    arch: DenoiserChoice,
    device: &ComputeDevice,
    raw: &ViewImage,
    p: &Progress,
) -> anyhow::Result<ViewImage> {
    p.set_message(format!("loading {}", arch.name()));
    let denoiser = Denoiser2d::load(&arch.spec()?, device)?;
    let out = denoiser.denoise(&raw.image, &TileConfig::default(), p)?;
    p.set_message("computing statistics");
    Ok(ViewImage::new(out))
}

impl eframe::App for CryolensApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.poll_jobs();
        self.poll_picking_jobs(&ctx);
        self.poll_analysis();
        self.update_pane_curves();
        self.poll_merge();
        self.poll_volume();
        self.poll_volume_denoise();
        if self.training.poll(&ctx).is_some() {
            self.models.refresh();
        }
        self.start_picking_jobs();
        self.shortcuts(&ctx);
        if let Some(path) =
            ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()))
        {
            self.open(Source::File(path));
        }

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar(ui));
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
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        if self.picks.session.micrographs.len() > 1 {
            let scroll = std::mem::take(&mut self.scroll_list);
            let chosen = egui::Panel::left("micrographs")
                .resizable(true)
                .default_size(220.0)
                .show(ui, |ui| {
                    micrograph_list::show(ui, &self.picks.session, &self.thumbnails, scroll)
                })
                .inner;
            if let Some(i) = chosen {
                self.go_to(i);
            }
        }

        self.hover = None;
        if self.section().is_some() {
            egui::Panel::bottom("orthoviews")
                .resizable(true)
                .default_size(200.0)
                .min_size(120.0)
                .show(ui, |ui| self.orthoviews(ui));
        }
        let radius = self.pick_radius_px();
        self.picks.section = self.section().map(|(_, z)| (z as f64, radius));
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| {
                if self.compare.open && self.doc.is_some() {
                    self.compare_view(ui);
                    return;
                }
                self.compare_rect = None;
                let view = self.view_image(self.view).cloned();
                match (view, &self.doc) {
                    (Some(view), Some(doc)) => {
                        let keep = doc.keep_ids();
                        let size = (view.image.width, view.image.height);
                        let radius = self.pick_radius_px();
                        let labelling = self.analysis.labelling;
                        if !labelling {
                            self.picks
                                .begin_drag(&ctx, self.viewer_rect, &self.transform, radius);
                        }
                        let out = viewer::show(
                            ui,
                            &mut self.transform,
                            &view,
                            viewer::Look {
                                contrast: self.contrast[self.view.index()],
                                colour_map: self.colour_map,
                                keep,
                                gpu_ready: self.max_texture_side.is_some(),
                            },
                            self.picks.interaction(),
                        );
                        self.hover = out.hover;
                        self.viewer_rect = out.rect;
                        if let Some((x, y, _)) = out.hover
                            && self.section().is_some()
                        {
                            self.ortho_cursor = Some((x, y));
                        }
                        if let (Some(rect), Some(response)) = (out.rect, &out.response)
                            && labelling
                        {
                            if let Some(pos) = response.interact_pointer_pos()
                                && (response.clicked() || response.secondary_clicked())
                            {
                                let (x, y) =
                                    super::picking::screen_to_pick(&self.transform, rect, pos);
                                self.analysis
                                    .label_at(x, y, response.secondary_clicked(), size);
                            }
                            self.analysis
                                .draw_regions(&ui.painter_at(rect), rect, &self.transform);
                        } else if let (Some(rect), Some(response)) = (out.rect, &out.response) {
                            if self.analysis.open
                                && self.analysis.tab == super::analysis_panel::Tab::Regions
                            {
                                self.analysis.draw_regions(
                                    &ui.painter_at(rect),
                                    rect,
                                    &self.transform,
                                );
                            }
                            self.picks
                                .handle(&ctx, response, rect, &self.transform, size, radius);
                            self.picks
                                .draw(&ui.painter_at(rect), rect, &self.transform, radius);
                        }
                    }
                    _ => self.placeholder(ui),
                }
            });
        if self.show_help {
            self.help_window(&ctx);
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
