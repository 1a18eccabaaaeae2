//! What the app shows, read-only (and the few setters the tests drive): the open micrograph,
//! its views and settings, the last frame's rectangles, the state of the jobs and panels.

use std::path::Path;
use std::sync::Arc;

use eframe::egui;
use egui::Rect;

use crate::ctf::Ctf;
use crate::device::ComputeDevice;
use crate::picking::PickSession;

use super::app::CryolensApp;
use super::panels::status::StatusInfo;
use super::panels::training::TrainingPanel;
use super::state::{MergeKey, SAMPLE_NAME, View, ViewImage};

impl CryolensApp {
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

    /// The view being shown.
    pub fn view(&self) -> View {
        self.view
    }

    /// Switches to `view` (computing it in the background if needed).
    pub fn set_view(&mut self, view: View) {
        self.view = view;
    }

    /// True while any background job (session, load, denoise, low-pass, install, dialogs,
    /// device, analysis, training…) runs.
    pub fn is_busy(&self) -> bool {
        self.jobs.any_running()
            || self.ctf.is_importing()
            || self.training.is_running()
            || self.analysis.is_busy()
            || self.gallery.is_busy()
            || self.simulate.is_busy()
            || self.nt2c.is_busy()
    }

    /// The NT2C window's state (tests drive it as the window would).
    pub fn nt2c_panel(&mut self) -> &mut crate::gui::panels::nt2c::Nt2cPanel {
        &mut self.nt2c
    }

    /// The file of the micrograph shown, `None` without one or for the bundled sample.
    pub fn current_micrograph_file(&self) -> Option<std::path::PathBuf> {
        let doc = self.doc.as_ref()?;
        let path = &self.picks.session.micrographs.get(doc.index)?.path;
        (path != std::path::Path::new(crate::gui::state::SAMPLE_NAME)).then(|| path.clone())
    }

    /// The Simulate… window's state (tests drive it as the window would).
    pub fn simulate_panel(&mut self) -> &mut crate::gui::panels::simulate::SimulatePanel {
        &mut self.simulate
    }

    /// The screening gallery once its table is read, whether it is shown, and how many
    /// thumbnails it holds as textures.
    pub fn gallery(&self) -> (Option<&crate::gui::state::gallery::Gallery>, bool, usize) {
        (
            self.gallery.gallery(),
            self.gallery.open,
            self.gallery.textures(),
        )
    }

    /// Starts **Watch folder…** on `folder` as its dialog does.
    pub fn watch(&mut self, folder: std::path::PathBuf) {
        self.watch_folder(folder);
    }

    /// The live watch, if one was started: micrographs it screened, whether it still runs,
    /// and the newest row.
    pub fn live(&self) -> Option<(usize, bool, Option<crate::screen::ScreenRow>)> {
        let live = self.gallery.live()?;
        Some((live.screened(), live.is_running(), live.newest()))
    }

    /// Stops the live watch after the micrograph it is screening.
    pub fn stop_watch(&mut self) {
        self.gallery.stop_watch();
    }

    /// How many micrographs the gallery's per-ring curves average, once read.
    pub fn gallery_curves(&self) -> Option<usize> {
        self.gallery.dataset_curves().map(|c| c.micrographs)
    }

    /// True while the micrograph is being read.
    pub fn is_loading(&self) -> bool {
        self.jobs.session.is_running()
            || self.jobs.load.is_running()
            || (self.doc.is_none() && self.jobs.prefetch.is_running())
    }

    /// The CTF of session micrograph `index`, from the session's CTF file (the STAR it was
    /// opened from, or one read with "CTF…") when an entry matches its name; the bundled
    /// sample goes by `sample.mrc`.
    pub fn ctf_for(&self, index: usize) -> Option<Ctf> {
        let path = &self.picks.session.micrographs.get(index)?.path;
        let table = self.ctf.table()?;
        if path == Path::new(SAMPLE_NAME) {
            table.for_micrograph(Path::new("sample.mrc"))
        } else {
            table.for_micrograph(path)
        }
    }

    /// The file the session's CTFs were read from, if any.
    pub fn ctf_file(&self) -> Option<&Path> {
        self.ctf.table().map(|c| c.path.as_path())
    }

    /// The open micrograph denoised by `model` (its listed name), once computed; or why that
    /// failed.
    pub fn denoised(&self, model: &str) -> Option<Result<&crate::image::Image, &str>> {
        let doc = self.doc.as_ref()?;
        if let Some(v) = doc.denoised.get(model) {
            return Some(Ok(&v.image));
        }
        doc.denoise_failed.get(model).map(|e| Err(e.as_str()))
    }

    /// True while the next micrograph is read and denoised ahead of time.
    pub fn is_prefetching(&self) -> bool {
        self.jobs.prefetch.is_running()
    }

    /// True while the file dialog is open.
    pub fn is_choosing_file(&self) -> bool {
        self.jobs.dialog.is_running()
    }

    /// The informational message shown in the banner, if any.
    pub fn info(&self) -> Option<&str> {
        self.info.as_deref()
    }

    /// True while a denoising job runs.
    pub fn is_denoising(&self) -> bool {
        self.jobs.denoise.is_running()
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

    /// The notice shown until dismissed (a damaged session file set aside), if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
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
        self.settings.lowpass_factor
    }

    /// The key of the merged view for the current model and sliders.
    pub(in crate::gui) fn merge_key(&self) -> Option<MergeKey> {
        let model = self.models.selected?.name();
        Some(self.settings.merge_key(model))
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
        (
            self.settings.merge_cutoff_angstrom,
            self.settings.merge_width_angstrom,
        )
    }

    /// What the merge matches in the band (the side panel's "Match in band").
    pub fn merge_band_norm(&self) -> crate::fourier::merge::BandNorm {
        self.settings.merge_band_norm
    }

    /// Sets the merge cutoff and edge width (Å); the merged view follows in the background.
    pub fn set_merge(&mut self, cutoff_angstrom: f32, width_angstrom: f32) {
        self.settings.merge_cutoff_angstrom = cutoff_angstrom;
        self.settings.merge_width_angstrom = width_angstrom;
    }

    /// The binned denoised preview of the open micrograph with `model`, once made
    /// ([`crate::denoise::Denoiser2d::preview`]).
    pub fn denoised_preview(&self, model: &str) -> Option<&crate::image::Image> {
        Some(&self.doc.as_ref()?.denoised_preview.get(model)?.image)
    }

    /// Sets the display window of the current view (σ from the mean, as the contrast panel's
    /// "Low (σ)" and "High (σ)" fields).
    pub fn set_contrast(&mut self, low_sigma: f32, high_sigma: f32) {
        self.contrast[self.view.index()] = crate::gui::panels::contrast::Contrast {
            low_sigma,
            high_sigma,
        };
    }

    /// The image of `view` for the open document, once computed for the selected model and
    /// the current sliders.
    pub(in crate::gui) fn view_image(&self, view: View) -> Option<&Arc<ViewImage>> {
        let selected = self.models.selected.map(|m| m.name());
        self.doc.as_ref()?.view(view, selected, &self.settings)
    }

    /// The particle radius in pixels of the open micrograph.
    pub(in crate::gui) fn pick_radius_px(&self) -> f64 {
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        self.picks.session.settings.radius_px(pixel)
    }

    /// The curves of the comparison panes that the analysis panel overlays (one per pane with
    /// curves, in pane order), once computed for the current panes and settings.
    pub fn pane_curves(&self) -> Option<&[crate::analysis::PaneCurves]> {
        self.analysis.pane_curves()
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

    /// The rectangle of each comparison pane in the last frame (screen points).
    pub fn compare_rects(&self) -> &[Rect] {
        &self.compare.pane_rects
    }

    /// The label of each comparison pane shown in the last frame.
    pub fn compare_labels(&self) -> &[String] {
        &self.compare.labels
    }

    /// Whether the open volume has been denoised by a 3D model.
    pub fn has_denoised_volume(&self) -> bool {
        self.doc
            .as_ref()
            .is_some_and(|d| d.denoised_volume.is_some())
    }

    /// Whether the XZ/YZ orthoviews are drawn.
    pub fn has_orthoviews(&self) -> bool {
        self.orthoviews.shown.is_some()
    }

    /// The view the drawn XZ/YZ orthoviews show (raw, denoised or low-pass; they follow the XY
    /// view, denoised once a 3D model has denoised the volume), when drawn.
    pub fn orthoview_shows(&self) -> Option<View> {
        self.orthoviews.shown.as_ref().map(|(k, _)| k.shows)
    }

    /// Where the XZ and YZ orthoviews were drawn in the last frame (screen points).
    pub fn orthoview_rects(&self) -> &[Rect] {
        &self.orthoviews.rects
    }

    /// Whether the open volume is memory-mapped (read on demand; see
    /// [`crate::io::mapped::open_volume`]), `None` when no volume is open.
    pub fn volume_is_mapped(&self) -> Option<bool> {
        self.doc
            .as_ref()
            .and_then(|d| d.volume.as_ref())
            .map(|(v, _)| v.is_mapped())
    }

    /// Steps done and total of the current training run.
    pub fn training_status(&self) -> Option<(u64, u64)> {
        self.training.steps()
    }

    /// How the last training run ended (message), once it has.
    pub fn training_outcome(&self) -> Option<String> {
        self.training.outcome_message()
    }

    /// The training panel (tests drive it).
    pub fn training_panel(&mut self) -> &mut TrainingPanel {
        &mut self.training
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
        self.analysis.is_analysing()
    }

    /// True while a dose titration runs.
    pub fn is_titrating(&self) -> bool {
        self.analysis.is_titrating()
    }

    /// The dose titration of the open micrograph, if computed.
    pub fn titration(&self) -> Option<&crate::analysis::Titration> {
        self.analysis
            .titration(self.doc.as_ref().map(|d| d.index))
            .map(|t| t.as_ref())
    }

    /// Opens or closes the analysis panel.
    pub fn show_analysis(&mut self, open: bool) {
        self.analysis.open = open;
    }

    /// The FSC-0.143 and FSC-0.5 resolutions of the open half-maps.
    pub fn half_map_resolutions(&self) -> Option<(Option<f64>, Option<f64>)> {
        let r = self.analysis.cref.fsc()?;
        Some((r.at_0143.resolution(), r.at_05.resolution()))
    }

    /// The crefDenoiser options and state of the Half-maps tab (for scripting and tests).
    pub fn cref_panel_mut(&mut self) -> &mut crate::gui::panels::cref::CrefPanel {
        &mut self.analysis.cref
    }

    /// Whether a crefDenoiser training runs.
    pub fn is_cref_training(&self) -> bool {
        self.analysis.cref.is_training()
    }

    /// The last crefDenoiser result shown in the Half-maps tab.
    pub fn cref_result(&self) -> Option<&Arc<crate::gui::panels::cref::CrefResult>> {
        self.analysis.cref.result()
    }

    /// What the status bar shows: device, pixel size, size, hover, note, running jobs.
    pub(in crate::gui) fn status_info(&self) -> StatusInfo {
        let jobs = self.jobs.for_status_bar();
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
            frame_times: self.frame_times.as_ref().and_then(|f| f.describe()),
        }
    }
}
