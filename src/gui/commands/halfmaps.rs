//! Half-maps: their FSC, and training and evaluating a crefDenoiser on them.

use std::path::Path;
use std::sync::Arc;

use crate::device::ComputeDevice;
use crate::jobs::{Job, Progress};

use crate::gui::app::CryolensApp;
use crate::gui::loading::{CrefEpochs, cref_run_number, half_map_fsc, read_truth_map};
use crate::gui::state::Source;

impl CryolensApp {
    /// Computes the FSC of two half-maps for the analysis panel (and shows its tab).
    ///
    /// # Errors
    /// Unreadable or mismatched maps.
    pub fn open_half_maps(&mut self, a: &Path, b: &Path) -> anyhow::Result<()> {
        let (names, report, maps) = half_map_fsc(a, b, &Progress::new())?;
        self.analysis.cref.half_maps = Some((names, Arc::new(report)));
        self.analysis.cref.maps = Some(Arc::new(maps));
        self.analysis.open = true;
        self.analysis.tab = crate::gui::panels::analysis::Tab::HalfMaps;
        Ok(())
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
        if self.jobs.cref.is_running() {
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
            Ok(crate::gui::panels::cref::CrefResult {
                denoised: Arc::new(out.denoised),
                denoised_file,
                evaluation,
                best_epoch: out.best_epoch,
                epochs_run: out.loss_history.len(),
                loss: (out.initial_loss, out.final_loss),
            })
        });
        self.jobs.cref.start(epochs, job);
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

    pub(in crate::gui) fn poll_cref(&mut self) {
        if let Some(((), result)) = self.jobs.cref_truth.poll() {
            match result {
                Ok(Some((name, v))) => self.analysis.cref.truth = Some((name, Arc::new(v))),
                Ok(None) => {}
                Err(e) => {
                    self.analysis.cref.error = Some(format!("Reading the truth failed: {e:#}"))
                }
            }
        }
        let Some(running) = self.jobs.cref.fraction_and_message() else {
            return;
        };
        let panel = &mut self.analysis.cref;
        if let Some(epochs) = self.jobs.cref.key()
            && let Ok(v) = epochs.lock()
        {
            panel.live_epochs.clone_from(&v);
        }
        panel.running = Some(running);
        if let Some((_, result)) = self.jobs.cref.poll() {
            panel.running = None;
            match result {
                Ok(r) => panel.result = Some(Arc::new(r)),
                Err(e) => panel.error = Some(format!("crefDenoiser training failed: {e:#}")),
            }
        }
    }
}
