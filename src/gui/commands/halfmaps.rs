//! Half-maps: their FSC, and training and evaluating a crefDenoiser on them.

use std::path::Path;

use crate::device::ComputeDevice;
use crate::jobs::Progress;

use crate::gui::app::CryolensApp;
use crate::gui::loading::{half_map_fsc, read_truth_map};
use crate::gui::state::Source;

impl CryolensApp {
    /// Computes the FSC of two half-maps for the analysis panel (and shows its tab).
    ///
    /// # Errors
    /// Unreadable or mismatched maps.
    pub fn open_half_maps(&mut self, a: &Path, b: &Path) -> anyhow::Result<()> {
        let fsc = half_map_fsc(a, b, &Progress::new())?;
        self.analysis.cref.set_half_maps(fsc);
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
        self.analysis.cref.set_truth(name, v);
        Ok(())
    }

    /// Starts training a crefDenoiser on the open half-maps with the Half-maps tab's options
    /// (a background job; the tab shows progress, live loss and, at the end, the curves).
    pub fn start_cref_training(&mut self) {
        let device = self.device.clone();
        self.analysis.cref.start_training(move || {
            device.unwrap_or_else(|| ComputeDevice::flex("crefDenoiser training"))
        });
    }

    /// Applies the saved crefDenoiser named in the Half-maps tab to the open half-maps, on the
    /// session's device (the CPU when none was chosen).
    pub fn start_cref_apply(&mut self) {
        let device = self.device.clone();
        self.analysis
            .cref
            .start_apply(move || device.unwrap_or_else(|| ComputeDevice::flex("crefDenoiser")));
    }

    /// Opens the crefDenoiser's denoised average in the volume viewer (the MRC the training job
    /// wrote into the temporary folder, opened like any map).
    ///
    /// # Errors
    /// No result yet, an unwritable temporary file.
    pub fn open_cref_denoised(&mut self) -> anyhow::Result<()> {
        let Some(r) = self.analysis.cref.result().cloned() else {
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
}
