//! Every panel's Action handled in one place (toolbar, side panel, picking, models,
//! analysis, training, and the single view's report), the read-only contexts those panels and
//! views draw from, and the jobs they start (dialogs, install).
//! The other files of this folder hold the app's commands by role: [`open`] (session and
//! navigation), [`derived`] (denoised, low-pass and merged views), [`volume`] (sections,
//! orthoviews), [`analysis`] and [`halfmaps`] (the analysis panel's jobs), [`exchange`]
//! (import and export).

pub mod analysis;
pub mod derived;
pub mod exchange;
pub mod halfmaps;
pub mod open;
pub mod volume;

use std::sync::Arc;
use std::time::Instant;

use eframe::egui;

use crate::jobs::Job;
use crate::models::install;
use crate::paths::topaz_dir;

use super::app::CryolensApp;
use super::dialogs::{ALL_FILES, Dialog};
use super::panels::analysis::{AnalysisAction, Tab};
use super::panels::cref::CrefAction;
use super::panels::models::ModelsAction;
use super::panels::picking::PickAction;
use super::panels::side::{self, SideAction, SideCtx, SideEdits};
use super::panels::toolbar::ToolbarAction;
use super::panels::training::TrainingAction;
use super::state::View;
use super::views::single::{self, SingleViewCtx, SingleViewOutput};

impl CryolensApp {
    /// Handles a toolbar button or its key.
    pub(in crate::gui) fn handle_toolbar_action(&mut self, action: ToolbarAction) {
        match action {
            ToolbarAction::None => {}
            ToolbarAction::Open => self.open_dialog(),
            ToolbarAction::OpenZarr => self.open_zarr_dialog(),
            ToolbarAction::WatchFolder => self.gallery.choose_watch_folder(),
            ToolbarAction::Simulate => self.simulate.open = true,
            ToolbarAction::View(view) => self.set_view(view),
            ToolbarAction::Fit => self.transform.fit = true,
            ToolbarAction::Zoom(factor) => self.zoom_step(factor),
            ToolbarAction::ToggleHelp => self.show_help = !self.show_help,
        }
    }

    pub(in crate::gui) fn handle_pick_action(&mut self, action: PickAction) {
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

    pub(in crate::gui) fn handle_models_action(&mut self, action: ModelsAction) {
        match action {
            ModelsAction::None => {}
            ModelsAction::Select(arch) => self.models.selected = Some(arch),
            ModelsAction::Retry => {
                if let (Some(doc), Some(a)) = (&mut self.doc, self.models.selected) {
                    doc.denoise_failed.remove(a.name());
                }
            }
            ModelsAction::Cancel => {
                if let Some(k) = self.jobs.denoise.cancel()
                    && let Some(doc) = &mut self.doc
                {
                    doc.denoise_failed
                        .insert(k.model, "denoising cancelled".into());
                }
            }
            ModelsAction::Install => self.start_install(),
        }
    }

    /// Draws the side panel from the app's state and applies what it asks.
    pub(in crate::gui) fn side_ui(&mut self, ui: &mut egui::Ui) {
        let image = self.view_image(self.view).cloned();
        let section = self.section();
        let has_denoised_volume = self.has_denoised_volume();
        let doc = self.doc.as_ref();
        let cx = SideCtx {
            section,
            slab_thickness: self.volume_view.slab_thickness,
            volume_denoising: self.jobs.volume_denoise.progress().map(|p| &**p),
            has_denoised_volume,
            pixel_size_angstrom: doc.and_then(|d| d.raw.image.pixel_size_angstrom),
            view: self.view,
            image: image.as_ref(),
            models: &self.models,
            denoising: self.jobs.denoise.progress().map(|p| &**p),
            installing: self.jobs.install.progress().map(|p| &**p),
            denoise_failed: doc
                .zip(self.models.selected)
                .is_some_and(|(d, a)| d.denoise_failed.contains_key(a.name())),
            has_truth: doc.is_some_and(|d| d.truth.is_some()),
        };
        let edits = SideEdits {
            compare: &mut self.compare,
            picks: &mut self.picks,
            contrast: &mut self.contrast[self.view.index()],
            colour_map: &mut self.colour_map,
            settings: &mut self.settings,
        };
        let actions = side::show(ui, &cx, edits);
        let ctx = ui.ctx().clone();
        for action in actions {
            self.handle_side_action(&ctx, action);
        }
    }

    /// Handles a side panel button or slider.
    pub(in crate::gui) fn handle_side_action(&mut self, ctx: &egui::Context, action: SideAction) {
        match action {
            SideAction::SetSection(z) => self.set_section(z),
            SideAction::SetSlabThickness(t) => self.set_slab_thickness(t),
            SideAction::DenoiseVolume => self.denoise_volume(),
            SideAction::ExportComparison(rect) => self.export_png(ctx, rect, "comparison"),
            SideAction::Pick(a) => self.handle_pick_action(a),
            SideAction::Models(a) => self.handle_models_action(a),
        }
    }

    /// Draws the single view (or its placeholder) in the central area from the app's state,
    /// and applies what it reports.
    pub(in crate::gui) fn single_view_ui(&mut self, ui: &mut egui::Ui) {
        let image = self.view_image(self.view).cloned().or_else(|| {
            // While the full-resolution denoising runs, its binned preview.
            let model = self.models.selected?.name();
            (self.view == View::Denoised)
                .then(|| self.doc.as_ref()?.denoised_preview.get(model).cloned())
                .flatten()
        });
        let pick_radius_px = self.pick_radius_px();
        let merge_key = self.merge_key();
        let cx = SingleViewCtx {
            view: self.view,
            image: image.as_ref(),
            doc: self.doc.as_ref(),
            contrast: self.contrast[self.view.index()],
            colour_map: self.colour_map,
            gpu_ready: self.max_texture_side.is_some(),
            pick_radius_px,
            last_viewer_rect: self.viewer_rect,
            labelling: self.analysis.labelling,
            region_side_px: self.analysis.region_side_px,
            show_regions: self.analysis.open && self.analysis.tab == Tab::Regions,
            models: &self.models,
            loading: self.jobs.load.is_running(),
            installing: self.jobs.install.progress().map(|p| &**p),
            denoising: self
                .jobs
                .denoise
                .key()
                .zip(self.jobs.denoise.progress())
                .map(|(k, p)| (k.model, &**p)),
            device_ready: self.device.is_some(),
            merge_key,
            settings: &self.settings,
        };
        let out = single::show(
            ui,
            &cx,
            &mut self.transform,
            &mut self.picks,
            &mut self.analysis.regions,
        );
        self.apply_single_view(out);
    }

    /// Takes a frame of the single view: no comparison is drawn; the hover, the viewer's
    /// rectangle and the orthoviews' cursor follow the viewer when it drew; a placeholder
    /// button is handled.
    pub(in crate::gui) fn apply_single_view(&mut self, out: SingleViewOutput) {
        self.compare.frame_rect = None;
        if let Some(viewer) = out.viewer {
            self.hover = viewer.hover;
            self.viewer_rect = viewer.rect;
            if let Some((x, y, _)) = viewer.hover
                && self.section().is_some()
            {
                self.volume_view.ortho_cursor = Some((x, y));
            }
        }
        if let Some(action) = out.action {
            self.handle_models_action(action);
        }
    }

    pub(in crate::gui) fn analysis_ui(&mut self, ui: &mut egui::Ui) {
        let index = self.doc.as_ref().map(|d| d.index);
        let doc = self.doc.as_ref();
        let raw = doc.map(|d| Arc::clone(&d.raw));
        let den = self.view_image(View::Denoised).cloned();
        let low = self.view_image(View::Lowpass).cloned();
        let merged = self.view_image(View::Merged).cloned();
        let views = [
            raw.as_deref(),
            den.as_deref(),
            low.as_deref(),
            merged.as_deref(),
        ];
        match self.analysis.show(ui, index, views) {
            AnalysisAction::None => {}
            AnalysisAction::Run => self.start_analysis(),
            AnalysisAction::Cancel => self.analysis.cancel_analysis(),
            AnalysisAction::ExportCsv => {
                if let Err(e) = self.export_analysis_csv() {
                    self.error = Some(format!("Saving the curves failed: {e:#}"));
                }
            }
            AnalysisAction::ImportCtf => self.start_ctf_import(),
            AnalysisAction::ExportPng(rect) => {
                let ctx = ui.ctx().clone();
                self.export_plot_png(&ctx, rect);
            }
            AnalysisAction::RunTitration => self.start_titration(),
            AnalysisAction::Cref(action) => self.cref_action(action),
        }
    }

    /// Carries out a button of the Half-maps tab.
    fn cref_action(&mut self, action: CrefAction) {
        match action {
            CrefAction::None => {}
            CrefAction::OpenHalfMaps => self.analysis.cref.choose_half_maps(),
            CrefAction::TrainCref => self.start_cref_training(),
            CrefAction::ApplyCrefModel => self.start_cref_apply(),
            CrefAction::CancelCref => self.analysis.cref.cancel_training(),
            CrefAction::ChooseCrefTruth => self.analysis.cref.choose_truth(),
            CrefAction::OpenCrefDenoised => {
                if let Err(e) = self.open_cref_denoised() {
                    self.error = Some(format!("Opening the denoised map failed: {e:#}"));
                }
            }
        }
    }

    pub(in crate::gui) fn training_ui(&mut self, ui: &mut egui::Ui) {
        let n = self.picks.session.micrographs.len();
        let note = format!(
            "on the {n} micrograph(s) of this session: even/odd pairs beside them, else count-split halves; model saved to {}",
            self.training.output().display()
        );
        match self.training.show(ui, &note) {
            TrainingAction::Start { resume } => {
                if let Err(e) = self.start_training(resume) {
                    self.training
                        .failed_to_start(format!("Training could not start: {e:#}"));
                }
            }
            TrainingAction::Nt2c => self.nt2c.open = true,
            TrainingAction::None => {}
        }
    }

    pub(in crate::gui) fn open_dialog(&mut self) {
        if self.jobs.dialog.is_running() {
            return;
        }
        let dialog = Dialog::new("Open a micrograph")
            .filter(
                "Micrographs (MRC, TIFF)",
                &["mrc", "mrcs", "map", "rec", "st", "tif", "tiff"],
            )
            .filter(ALL_FILES.0, ALL_FILES.1);
        self.jobs
            .dialog
            .start(Instant::now(), dialog.file_job("open dialog"));
    }

    /// Asks for an OME-Zarr store (a folder: its root, or one level's folder) to open.
    pub(in crate::gui) fn open_zarr_dialog(&mut self) {
        if self.jobs.dialog.is_running() {
            return;
        }
        let dialog = Dialog::new("Open an OME-Zarr tomogram (its .zarr folder)");
        self.jobs
            .dialog
            .start(Instant::now(), dialog.folder_job("OME-Zarr dialog"));
    }

    pub(in crate::gui) fn start_install(&mut self) {
        if self.jobs.install.is_running() {
            return;
        }
        self.jobs.install.start(
            (),
            Job::spawn("install models", |p| {
                install::install_topaz(&install::WheelSource::default(), &topaz_dir(), p)
            }),
        );
    }
}
