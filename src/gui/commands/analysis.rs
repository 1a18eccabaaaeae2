//! The analysis panel's jobs: the analysis of the open micrograph, the comparison panes'
//! curves, the 2D spectrum, and training on the session.

use std::path::Path;
use std::sync::Arc;

use crate::fourier;
use crate::jobs::Job;

use crate::analysis::pane_curves::PaneSettings;
use crate::analysis::{PaneSpec, PaneView, comparison_pane_curves};
use crate::denoise::Denoiser2d;
use crate::gui::app::CryolensApp;
use crate::gui::loading::SAMPLE_MRC;
use crate::gui::panels::micrograph_list;
use crate::gui::panels::models::DenoiserChoice;
use crate::gui::state::derived::hundredths;
use crate::gui::state::{PaneCurvesKey, SAMPLE_NAME, View};
use crate::train::data::sources::{TrainingMicrograph, micrograph_sources};

impl CryolensApp {
    /// Starts the analysis of the open micrograph (halves from an even/odd pair beside it, else
    /// count splitting; denoised with the selected model when asked).
    pub fn start_analysis(&mut self) {
        let Some(doc) = &self.doc else { return };
        self.analysis.cancel_analysis();
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
        let (model, split) = self.analysis_inputs();
        let lowpass_factor = self.settings.lowpass_factor;
        let ring_width = self.analysis.ring_width;
        let ctf = self.ctf_for(index);
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
                ctf,
            };
            crate::analysis::analyze(&m1, &m2, source, &input, p)
        });
        self.analysis.start_analysis(index, job);
    }

    /// The analysis panel's denoiser (the selected model and device, when 'denoise halves' is
    /// on) and count-split options ('force count split').
    fn analysis_inputs(
        &self,
    ) -> (
        Option<(DenoiserChoice, crate::device::ComputeDevice)>,
        crate::metrics::CountSplitOptions,
    ) {
        let model = if self.analysis.with_denoiser {
            self.models.selected.zip(self.device.clone())
        } else {
            None
        };
        let split = crate::metrics::CountSplitOptions {
            force: self.analysis.force_split,
            ..Default::default()
        };
        (model, split)
    }

    /// Starts the dose titration of the open micrograph at the fractions typed in the Dose
    /// titration tab: the low-pass of the low-pass view (binning or Gaussian), denoised with the
    /// selected model when 'denoise halves' is on.
    pub fn start_titration(&mut self) {
        let Some(doc) = &self.doc else { return };
        let Some(fractions) = self.analysis.titration_fractions() else {
            return;
        };
        let index = doc.index;
        let raw = Arc::clone(&doc.raw);
        let (model, split) = self.analysis_inputs();
        let lowpass = self.settings.lowpass();
        let job = Job::spawn("dose titration", move |p| {
            let denoiser = match model {
                Some((arch, device)) => {
                    p.set_message(format!("loading {}", arch.name()));
                    Some(Denoiser2d::load(&arch.spec()?, &device)?)
                }
                None => None,
            };
            crate::analysis::titrate(
                &raw.image,
                &fractions,
                lowpass,
                denoiser.as_ref(),
                &split,
                p,
            )
        });
        self.analysis.start_titration(index, job);
    }

    /// With the comparison and the analysis panel open and the analysis done, computes each
    /// pane's SSNR and signal/noise/bias curves on the halves (in the background; again when
    /// the panes, model or settings change) and hands them to the analysis panel.
    pub(in crate::gui) fn update_pane_curves(&mut self) {
        self.analysis.poll_pane_curves();
        let wanted = self.compare.open && self.analysis.open && self.analysis().is_some();
        let Some(doc) = self.doc.as_ref().filter(|_| wanted) else {
            self.analysis.hide_pane_curves();
            return;
        };
        let model = self.models.selected.filter(|_| self.device.is_some());
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
            lowpass: self.settings.lowpass_key(),
            merge_cutoff: hundredths(self.settings.merge_cutoff_angstrom),
            merge_width: hundredths(self.settings.merge_width_angstrom),
            merge_band_norm: self.settings.merge_band_norm,
            ring_width: hundredths(self.analysis.ring_width),
            force_split: self.analysis.force_split,
        };
        if !self.analysis.pane_curves_needed(&key) {
            return;
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
            self.settings.lowpass_factor,
            self.settings.merge_cutoff_angstrom,
            self.settings.merge_width_angstrom,
            self.analysis.ring_width,
        );
        let job_key = key.clone();
        let specs: Vec<PaneSpec> = key
            .panes
            .iter()
            .zip(&choices)
            .map(|(view, choice)| PaneSpec {
                view: pane_view(*view),
                name: view.name(),
                model: choice.map(|c| c.name()),
            })
            .collect();
        let settings = PaneSettings {
            lowpass_factor,
            cutoff_angstrom: cutoff,
            width_angstrom: width,
            band_norm: key.merge_band_norm,
            ring_width,
            ctf: self.ctf_for(doc.index),
        };
        let job = Job::spawn("pane curves", move |p| {
            let load = |name: &'static str| -> anyhow::Result<Denoiser2d> {
                let arch = choices
                    .iter()
                    .flatten()
                    .find(|c| c.name() == name)
                    .ok_or_else(|| anyhow::anyhow!("no model {name}"))?;
                let device = device
                    .as_ref()
                    .ok_or_else(|| anyhow::anyhow!("no compute device"))?;
                Denoiser2d::load(&arch.spec()?, device)
            };
            let load: Option<&dyn Fn(&'static str) -> anyhow::Result<Denoiser2d>> =
                device.is_some().then_some(&load);
            comparison_pane_curves(
                &raw.image,
                path.as_deref(),
                &split,
                &specs,
                load,
                &settings,
                p,
            )
        });
        self.analysis.start_pane_curves(job_key, job);
    }

    /// Starts the 2D spectrum of the open micrograph when the panel shows it.
    pub(in crate::gui) fn start_spectrum_job(&mut self) {
        use crate::gui::panels::analysis::Tab;
        if !self.analysis.open
            || self.analysis.tab != Tab::Spectrum2d
            || self.analysis.is_computing_spectrum()
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
        self.analysis.start_spectrum(doc.index, job);
    }

    pub(in crate::gui) fn poll_analysis(&mut self) {
        if self.analysis.truth_scores.poll() {
            let keep = self.doc.as_ref().map(|d| d.keep_ids()).unwrap_or_default();
            self.analysis.truth_scores.retain(&keep);
        }
        if let Some(e) = self.analysis.cref.poll() {
            self.error = Some(e);
        }
        self.analysis.poll_spectrum(&self.egui_ctx);
        if let Some(result) = self.ctf.poll_import() {
            match result {
                Ok(Some((path, entries))) => {
                    if let Err(e) = entries.and_then(|e| self.apply_ctf(&path, &e)) {
                        self.error = Some(format!("Reading the CTF failed: {e:#}"));
                    }
                }
                Ok(None) => {}
                Err(e) => self.error = Some(format!("File dialog failed: {e:#}")),
            }
        }
        self.start_spectrum_job();
        self.analysis.poll_analysis();
        if let Some(msg) = self.png_message.lock().ok().and_then(|mut m| m.take()) {
            match msg {
                Ok(m) => self.info = Some(m),
                Err(e) => self.error = Some(e),
            }
        }
    }

    /// Labels a region for region SNR at micrograph pixel `(x, y)`: a signal box, or a
    /// background box (boxes of the analysis panel's size, paired in order).
    pub fn add_region(&mut self, x: f64, y: f64, background: bool) {
        if let Some((w, h)) = self.image_size() {
            self.analysis.label_at(x, y, background, (w, h));
        }
    }

    /// Starts training on the session's micrographs: even/odd pairs beside them when found,
    /// else count-split halves (the bundled sample is split in memory).
    ///
    /// # Errors
    /// No device yet; the sample cannot be split.
    pub fn start_training(&mut self, resume: bool) -> anyhow::Result<()> {
        let device = self
            .device
            .clone()
            .ok_or_else(|| anyhow::anyhow!("the compute device is still being detected"))?;
        let mut micrographs = Vec::new();
        for m in &self.picks.session.micrographs {
            micrographs.push(if m.path == Path::new(SAMPLE_NAME) {
                let (_, v) = crate::io::mrc::read_bytes(SAMPLE_MRC)?;
                TrainingMicrograph::InMemory {
                    name: SAMPLE_NAME.into(),
                    image: v.section(0),
                }
            } else {
                TrainingMicrograph::File(m.path.clone())
            });
        }
        let sources = micrograph_sources(micrographs, self.training.force_split)?;
        let run = crate::train::TrainRun {
            config: self.training.config.clone(),
            sources,
            output: self.training.output(),
            resume,
            command_line: "cryolens GUI training panel".into(),
            notes: String::new(),
        };
        self.training.begin(crate::train::start(run, device));
        Ok(())
    }
}

/// The library's name for what a comparison pane shows.
fn pane_view(view: View) -> PaneView {
    match view {
        View::Raw => PaneView::Raw,
        View::Denoised => PaneView::Denoised,
        View::Lowpass => PaneView::Lowpass,
        View::Merged => PaneView::Merged,
    }
}
