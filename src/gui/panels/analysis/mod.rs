//! The analysis panel (key A): rotational power spectra of the raw / denoised / low-pass
//! views, SSNR and FRC of their halves, signal / noise / bias power per frequency (Palovcak
//! et al. 2020 Fig. 3b), the SNR table, and region-based SNR from boxes labelled on the
//! micrograph. Curves export to CSV, the plot to PNG (a screenshot of its rectangle).
//!
//! Frequencies are in 1/Å when the pixel size is known (cycles/px otherwise); hovering a
//! curve shows the resolution in Å. egui_plot has no log axis: log-scaled plots draw log10 of
//! the value and label the axis with powers of ten.
//!
//! The tabs live beside this file: [`plots`] (curves and the SNR table), [`spectrum`] (2D
//! spectrum and CTF), [`regions`] (region SNR), [`titration`] (SNR against exposure); the
//! Half-maps tab is `panels::cref`.

pub mod plots;
mod regions;
mod spectrum;
mod titration;

use std::sync::Arc;

use eframe::egui;
use egui::Rect;

use crate::analysis::{Analysis, PaneCurves, Titration};
use crate::ctf::Ctf;
use crate::jobs::Job;

use super::cref::{CrefAction, CrefPanel};
use crate::gui::job_slot::JobSlot;
use crate::gui::state::regions::{RegionLabels, RegionSnrCache};
use crate::gui::state::{PaneCurvesKey, ViewImage};

/// Which plot the panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Rotational power spectra.
    Spectra,
    /// Spectral SNR of the halves.
    Ssnr,
    /// Signal, noise and bias power per ring.
    SignalNoiseBias,
    /// Fourier ring correlation of the halves.
    Frc,
    /// Region-based SNR.
    Regions,
    /// The 2D power spectrum with CTF zero rings.
    Spectrum2d,
    /// FSC and C_ref of two half-maps.
    HalfMaps,
    /// SNR against exposure by binomial thinning.
    Titration,
}

impl Tab {
    const ALL: [Tab; 8] = [
        Tab::Spectrum2d,
        Tab::Spectra,
        Tab::Ssnr,
        Tab::SignalNoiseBias,
        Tab::Frc,
        Tab::Regions,
        Tab::Titration,
        Tab::HalfMaps,
    ];

    fn label(self) -> &'static str {
        match self {
            Tab::Spectra => "Power spectra",
            Tab::Ssnr => "SSNR",
            Tab::SignalNoiseBias => "Signal / noise / bias",
            Tab::Frc => "FRC",
            Tab::Regions => "Regions",
            Tab::Spectrum2d => "2D spectrum + CTF",
            Tab::HalfMaps => "Half-map FSC",
            Tab::Titration => "Dose titration",
        }
    }
}

/// What the panel asks the app to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnalysisAction {
    /// Nothing.
    None,
    /// Start (or restart) the analysis of the open micrograph.
    Run,
    /// Cancel the running analysis.
    Cancel,
    /// Save the curves as CSV.
    ExportCsv,
    /// Save the plot (this screen rectangle) as PNG.
    ExportPng(Rect),
    /// Choose a RELION/CTFFIND file to read this micrograph's CTF from.
    ImportCtf,
    /// A button of the Half-maps tab (half-map FSC and crefDenoiser).
    Cref(CrefAction),
    /// Start a dose titration of the open micrograph (Dose titration tab).
    RunTitration,
}

/// State of the analysis panel.
pub struct AnalysisPanel {
    /// Whether the panel is shown (key A).
    pub open: bool,
    /// The plot shown.
    pub tab: Tab,
    /// Split counts even when the data are not integer counts × gain.
    pub force_split: bool,
    /// Denoise the halves with the selected model (signal/noise/bias, Topaz SNR).
    pub with_denoiser: bool,
    /// Ring width in Fourier pixels.
    pub ring_width: f32,
    /// The last analysis and the micrograph index it belongs to.
    pub result: Option<(usize, Arc<Analysis>)>,
    /// Why the last analysis failed.
    pub error: Option<String>,
    /// Clicks on the micrograph label regions instead of picking.
    pub labelling: bool,
    /// Side of labelled boxes, pixels.
    pub region_side_px: usize,
    /// The labelled regions of the open micrograph.
    pub regions: RegionLabels,
    /// Region SNR of each view, by (image, regions revision).
    pub region_snr: RegionSnrCache,
    /// Each view's scores against a simulation's truth, by image.
    pub truth_scores: crate::gui::state::truth::TruthScoreCache,
    /// The CTF whose zeros are drawn over the 2D spectrum (typed in or read from a STAR).
    pub ctf: Ctf,
    /// Draw the CTF rings.
    pub show_ctf: bool,
    /// Number of zero rings drawn.
    pub ctf_rings: usize,
    /// Magnification of the 2D spectrum (1: the edge is Nyquist).
    pub spectrum_zoom: f32,
    /// crefDenoiser training on the open half-maps (Half-maps tab).
    pub cref: CrefPanel,
    /// The 2D spectrum texture and the micrograph index and pixel size it belongs to.
    pub spectrum: Option<(usize, Option<f32>, egui::TextureHandle)>,
    /// With the comparison open: each pane's SSNR and signal / noise / bias curves for the
    /// current panes, drawn over each other on the SSNR and signal / noise / bias tabs.
    pane_curves: Option<Arc<Vec<PaneCurves>>>,
    /// The last pane curves computed (or tried: `None` after a failure), and for what.
    pane_curves_cache: Option<(PaneCurvesKey, Option<Arc<Vec<PaneCurves>>>)>,
    /// Each comparison pane's SSNR and signal / noise / bias curves, for the panes' key.
    pane_curves_job: JobSlot<PaneCurvesKey, Vec<PaneCurves>>,
    /// The analysis of micrograph (index).
    analysis_job: JobSlot<usize, Analysis>,
    /// The 2D power spectrum of micrograph (index): its pixel size and image.
    spectrum_job: JobSlot<usize, (Option<f32>, egui::ColorImage)>,
    /// The Dose titration tab.
    titration: titration::TitrationTab,
}

impl Default for AnalysisPanel {
    fn default() -> Self {
        Self {
            open: false,
            tab: Tab::Spectra,
            force_split: false,
            with_denoiser: true,
            ring_width: 4.0,
            result: None,
            error: None,
            labelling: false,
            region_side_px: 64,
            regions: RegionLabels::default(),
            ctf: Ctf {
                defocus_u_angstrom: 15000.0,
                defocus_v_angstrom: 15000.0,
                defocus_angle_degrees: 0.0,
                voltage_kv: 300.0,
                spherical_aberration_mm: 2.7,
                amplitude_contrast: 0.1,
                phase_shift_degrees: 0.0,
            },
            show_ctf: true,
            ctf_rings: 8,
            spectrum_zoom: 2.0,
            cref: CrefPanel::default(),
            region_snr: RegionSnrCache::default(),
            truth_scores: Default::default(),
            spectrum: None,
            pane_curves: None,
            pane_curves_cache: None,
            pane_curves_job: JobSlot::default(),
            analysis_job: JobSlot::default(),
            spectrum_job: JobSlot::default(),
            titration: titration::TitrationTab::default(),
        }
    }
}

impl AnalysisPanel {
    /// Runs `job`, the analysis of micrograph `index` (cancelling the one before).
    pub fn start_analysis(&mut self, index: usize, job: Job<Analysis>) {
        self.analysis_job.start(index, job);
    }

    /// Cancels the running analysis (its result is dropped).
    pub fn cancel_analysis(&mut self) {
        self.analysis_job.cancel();
    }

    /// True while an analysis runs.
    pub fn is_analysing(&self) -> bool {
        self.analysis_job.is_running()
    }

    /// True while a 2D spectrum is computed.
    pub fn is_computing_spectrum(&self) -> bool {
        self.spectrum_job.is_running()
    }

    /// Runs `job`, the 2D spectrum of micrograph `index` (its pixel size and image).
    pub fn start_spectrum(&mut self, index: usize, job: Job<(Option<f32>, egui::ColorImage)>) {
        self.spectrum_job.start(index, job);
    }

    /// Whether any of the panel's jobs runs (the Half-maps tab's included).
    pub fn is_busy(&self) -> bool {
        self.analysis_job.is_running()
            || self.spectrum_job.is_running()
            || self.cref.is_busy()
            || self.titration.is_running()
            || self.pane_curves_job.is_running()
            || self.truth_scores.is_running()
    }

    /// Runs `job`, the dose titration of micrograph `index` (cancelling the one before).
    pub fn start_titration(&mut self, index: usize, job: Job<Titration>) {
        self.titration.start(index, job);
    }

    /// The thinning fractions typed into the Dose titration tab, or `None` (the tab then
    /// says why they do not parse).
    pub fn titration_fractions(&mut self) -> Option<Vec<f64>> {
        self.titration.parsed_fractions()
    }

    /// True while a dose titration runs.
    pub fn is_titrating(&self) -> bool {
        self.titration.is_running()
    }

    /// The dose titration of micrograph `index`, if it is the last one computed.
    pub fn titration(&self, index: Option<usize>) -> Option<&Arc<Titration>> {
        self.titration.current(index)
    }

    /// The comparison panes' curves shown (one per pane with curves, in pane order), once
    /// computed for the current panes and settings.
    pub fn pane_curves(&self) -> Option<&[PaneCurves]> {
        self.pane_curves.as_deref().map(Vec::as_slice)
    }

    /// Takes finished pane curves into the cache (a failure says why in the panel).
    pub fn poll_pane_curves(&mut self) {
        if let Some((key, result)) = self.pane_curves_job.poll() {
            let curves = match result {
                Ok(c) => Some(Arc::new(c)),
                Err(e) => {
                    self.error = Some(format!("Curves of the comparison panes: {e:#}"));
                    None
                }
            };
            self.pane_curves_cache = Some((key, curves));
        }
    }

    /// Shows no pane curves (the comparison or the analysis is not open); the cache stays.
    pub fn hide_pane_curves(&mut self) {
        self.pane_curves = None;
    }

    /// Shows the cached pane curves of `key` (none until computed). True when they must be
    /// computed, neither cached nor running: the job for other panes is then cancelled and
    /// [`Self::start_pane_curves`] expected.
    pub fn pane_curves_needed(&mut self, key: &PaneCurvesKey) -> bool {
        let cached = self.pane_curves_cache.as_ref().filter(|(k, _)| k == key);
        self.pane_curves = cached.and_then(|(_, c)| c.clone());
        if cached.is_some() || self.pane_curves_job.is_running_for(key) {
            return false;
        }
        self.pane_curves_job.cancel();
        true
    }

    /// Runs `job`, the pane curves of `key` (cancelling the one before).
    pub fn start_pane_curves(&mut self, key: PaneCurvesKey, job: Job<Vec<PaneCurves>>) {
        self.pane_curves_job.start(key, job);
    }

    /// Takes a finished 2D spectrum: its texture, or why it failed.
    pub fn poll_spectrum(&mut self, ctx: &egui::Context) {
        if let Some((index, result)) = self.spectrum_job.poll() {
            match result {
                Ok((pixel, img)) => {
                    let tex = ctx.load_texture("power spectrum", img, egui::TextureOptions::LINEAR);
                    self.spectrum = Some((index, pixel, tex));
                }
                Err(e) => self.error = Some(format!("Power spectrum failed: {e:#}")),
            }
        }
    }

    /// Takes a finished analysis: the result with its micrograph index, or why it failed.
    pub fn poll_analysis(&mut self) {
        self.titration.poll();
        if let Some((index, result)) = self.analysis_job.poll() {
            match result {
                Ok(a) => self.result = Some((index, Arc::new(a))),
                Err(e) => self.error = Some(format!("Analysis failed: {e:#}")),
            }
        }
    }
}

impl AnalysisPanel {
    /// Draws the panel (with the analysis job's progress); `views` the raw / denoised /
    /// low-pass / merged images for region SNR.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        index: Option<usize>,
        views: [Option<&ViewImage>; 4],
    ) -> AnalysisAction {
        let running = self.analysis_job.fraction_and_message();
        let mut action = AnalysisAction::None;
        ui.horizontal(|ui| {
            ui.heading("Analysis");
            if let Some((f, msg)) = &running {
                ui.add(
                    egui::ProgressBar::new(*f)
                        .desired_width(220.0)
                        .text(msg.clone()),
                );
                if ui.button("Cancel analysis").clicked() {
                    action = AnalysisAction::Cancel;
                }
            } else if ui
                .button("Analyse")
                .on_hover_text("Halves: an even/odd pair beside the micrograph (_EVN/_ODD, _even/_odd), else binomial count splitting")
                .clicked()
            {
                action = AnalysisAction::Run;
            }
            ui.checkbox(&mut self.with_denoiser, "denoise halves")
                .on_hover_text("Signal, noise and bias after denoising with the selected model (Palovcak eq. 15-24) and Topaz's even/odd SNR");
            ui.checkbox(&mut self.force_split, "force count split")
                .on_hover_text("Split data that are not integer counts × gain (rounded): the noise of the halves is then only approximately independent");
            ui.add(
                egui::DragValue::new(&mut self.ring_width)
                    .range(1.0..=32.0)
                    .speed(0.1)
                    .prefix("ring width ")
                    .suffix(" px"),
            );
            ui.separator();
            for t in Tab::ALL {
                ui.selectable_value(&mut self.tab, t, t.label());
            }
            ui.separator();
            let have = self.current(index).is_some();
            if ui
                .add_enabled(have, egui::Button::new("Export CSV…"))
                .clicked()
            {
                action = AnalysisAction::ExportCsv;
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let result = self.current(index).cloned();
        ui.horizontal_top(|ui| {
            let table_width = 300.0;
            ui.vertical(|ui| {
                ui.set_width(table_width);
                match &result {
                    Some(a) => Self::snr_table(ui, a),
                    None if running.is_none() => {
                        ui.label("Press Analyse to measure the SNR of this micrograph.");
                    }
                    None => {}
                }
            });
            ui.separator();
            let plot_rect = ui.available_rect_before_wrap();
            if self.tab == Tab::HalfMaps {
                let a = AnalysisAction::from(self.cref.show(ui));
                if a != AnalysisAction::None {
                    action = a;
                }
            } else if self.tab == Tab::Titration {
                if self.titration.show(ui, index) {
                    action = AnalysisAction::RunTitration;
                }
            } else if self.tab == Tab::Regions {
                self.regions_ui(ui, views);
            } else if self.tab == Tab::Spectrum2d {
                if self.spectrum_ui(ui, index) {
                    action = AnalysisAction::ImportCtf;
                }
            } else if let Some(a) = &result {
                self.plot(ui, a);
                if ui
                    .ctx()
                    .input(|i| i.modifiers.command && i.key_pressed(egui::Key::P))
                {
                    action = AnalysisAction::ExportPng(plot_rect);
                }
            }
        });
        action
    }

    /// The analysis of micrograph `index`, if it is the last one computed.
    pub fn current(&self, index: Option<usize>) -> Option<&Arc<Analysis>> {
        self.result
            .as_ref()
            .filter(|(i, _)| Some(*i) == index)
            .map(|(_, a)| a)
    }
}

impl From<CrefAction> for AnalysisAction {
    fn from(a: CrefAction) -> Self {
        match a {
            CrefAction::None => AnalysisAction::None,
            a => AnalysisAction::Cref(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fourier::merge::BandNorm;
    use crate::gui::state::View;

    fn key(index: usize) -> PaneCurvesKey {
        PaneCurvesKey {
            index,
            panes: vec![View::Raw, View::Denoised],
            model: Some("unet"),
            pane_models: vec![Some("unet"), Some("unet")],
            lowpass: 400,
            merge_cutoff: 2000,
            merge_width: 500,
            merge_band_norm: BandNorm::Std,
            ring_width: 400,
            force_split: false,
        }
    }

    /// Polls until the panel's jobs have finished.
    fn settle(panel: &mut AnalysisPanel) {
        while panel.is_busy() {
            panel.poll_pane_curves();
            std::thread::yield_now();
        }
    }

    #[test]
    fn pane_curves_are_computed_once_per_key() {
        let mut panel = AnalysisPanel::default();
        let (a, b) = (key(0), key(1));
        assert!(panel.pane_curves_needed(&a));
        panel.start_pane_curves(a.clone(), Job::spawn("t", |_| Ok(Vec::new())));
        assert!(
            !panel.pane_curves_needed(&a),
            "already running for these panes"
        );
        settle(&mut panel);
        assert!(!panel.pane_curves_needed(&a), "cached");
        assert_eq!(panel.pane_curves().map(<[_]>::len), Some(0));
        panel.hide_pane_curves();
        assert!(panel.pane_curves().is_none());

        // Other panes: nothing shown until computed; a failure is kept (not retried every
        // frame) and said in the panel.
        assert!(panel.pane_curves_needed(&b));
        assert!(panel.pane_curves().is_none());
        panel.start_pane_curves(b.clone(), Job::spawn("t", |_| anyhow::bail!("no halves")));
        settle(&mut panel);
        assert!(!panel.pane_curves_needed(&b));
        assert!(panel.pane_curves().is_none());
        assert!(
            panel
                .error
                .as_deref()
                .is_some_and(|e| e.contains("no halves"))
        );

        // Only the last panes' curves are kept: the first ones are computed again.
        assert!(panel.pane_curves_needed(&a));
        assert!(panel.pane_curves().is_none());
    }

    #[test]
    fn other_panes_cancel_the_running_pane_curves() {
        let mut panel = AnalysisPanel::default();
        let first = Job::spawn("t", |p| {
            while !p.is_cancelled() {
                std::thread::yield_now();
            }
            Ok(Vec::new())
        });
        let progress = Arc::clone(&first.progress);
        panel.start_pane_curves(key(0), first);
        assert!(panel.is_busy());
        assert!(panel.pane_curves_needed(&key(1)));
        assert!(progress.is_cancelled());
        assert!(!panel.is_busy());
    }
}
