//! The derived views of the open micrograph: which denoising, low-pass and merge jobs to run
//! for the current model, panes and sliders, and storing their results.

use std::sync::Arc;

use crate::fourier::merge::Merger;
use crate::jobs::Job;

use crate::gui::app::CryolensApp;
use crate::gui::loading::{PREVIEW_SIDE_PX, denoise_job, preview_job};
use crate::gui::panels::models::DenoiserChoice;
use crate::gui::state::{DocModel, LowpassKey, MergeJobKey, View, ViewImage};

impl CryolensApp {
    /// Starts denoising with the selected model and low-pass at the current factor when
    /// they are not computed yet.
    pub(in crate::gui) fn start_jobs(&mut self) {
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
            if let Some(k) = self.jobs.denoise.key()
                && (k.index != doc.index || !wanted_names.contains(&k.model))
            {
                self.jobs.denoise.cancel();
            }
            if let Some(k) = self.jobs.preview.key()
                && (k.index != doc.index || Some(k.model) != self.models.selected.map(|m| m.name()))
            {
                self.jobs.preview.cancel();
            }
            let next = wanted.into_iter().find(|m| {
                let name = m.name();
                let shown_as_section =
                    Some(*m) == self.models.selected && doc.denoised_section.is_some();
                !shown_as_section
                    && !doc.denoised.contains_key(name)
                    && !doc.denoise_failed.contains_key(name)
            });
            // The selected model's binned preview first (about a second), so the denoised
            // view shows at once; the full-resolution job follows.
            let preview_first = next.filter(|m| {
                Some(*m) == self.models.selected
                    && !doc.previewed.contains(m.name())
                    && doc.raw.image.width.max(doc.raw.image.height) > PREVIEW_SIDE_PX
            });
            if let Some(arch) = preview_first {
                if !self.jobs.preview.is_running() && !self.jobs.install.is_running() {
                    let raw = Arc::clone(&doc.raw);
                    let device = device.clone();
                    let job = Job::spawn("denoise preview", move |p| {
                        preview_job(arch, &device, &raw, p)
                    });
                    let key = DocModel {
                        index: doc.index,
                        model: arch.name(),
                    };
                    self.jobs.preview.start(key, job);
                }
            } else if let Some(arch) = next
                && !self.jobs.denoise.is_running()
                && !self.jobs.install.is_running()
            {
                let raw = Arc::clone(&doc.raw);
                let device = device.clone();
                let ctf = self.ctf_for(doc.index);
                let job = Job::spawn("denoise", move |p| {
                    denoise_job(arch, &device, &raw, ctf.as_ref(), p)
                });
                self.jobs.denoise.start(
                    DocModel {
                        index: doc.index,
                        model: arch.name(),
                    },
                    job,
                );
            }
        }
        // Low-pass at the current factor (one job at a time; the newest factor follows).
        let key = self.settings.lowpass_key();
        if self
            .jobs
            .lowpass
            .key()
            .is_some_and(|k| k.index != doc.index)
        {
            self.jobs.lowpass.cancel();
        }
        if !self.jobs.lowpass.is_running() && !doc.lowpass.contains_key(&key) {
            let raw = Arc::clone(&doc.raw);
            let lowpass = self.settings.lowpass();
            let job = Job::spawn("lowpass", move |p| {
                p.set_message(format!("low-pass: {}", lowpass.describe()));
                Ok(ViewImage::new(lowpass.apply(&raw.image)?))
            });
            self.jobs.lowpass.start(
                LowpassKey {
                    index: doc.index,
                    factor: key,
                },
                job,
            );
        }
        self.start_merge_job();
    }

    /// Merges when the merged view is shown (or asked for) and out of date: one job at a
    /// time, the newest slider values follow; the raw/denoised transforms are kept per model
    /// so a slider move costs one inverse FFT.
    pub(in crate::gui) fn start_merge_job(&mut self) {
        if self.view != View::Merged || self.jobs.merge.is_running() {
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
        let Some(denoised) = doc.denoised.get(key.model).cloned() else {
            return;
        };
        let raw = Arc::clone(&doc.raw);
        let merger = doc.merger.get(key.model).cloned();
        let (cutoff, width) = (
            self.settings.merge_cutoff_angstrom,
            self.settings.merge_width_angstrom,
        );
        let job = Job::spawn("merge", move |p| {
            let merger = match merger {
                Some(m) => m,
                None => {
                    p.set_message("transforming raw and denoised");
                    Arc::new(Merger::new(&raw.image, &denoised.image)?)
                }
            };
            p.set_message(format!("merging at {cutoff} Å"));
            let (img, _) = merger.merge_with_norm(cutoff, width, key.band_norm)?;
            Ok((merger, ViewImage::new(img)))
        });
        self.jobs.merge.start(
            MergeJobKey {
                index: doc.index,
                merge: key,
            },
            job,
        );
    }

    pub(in crate::gui) fn poll_merge(&mut self) {
        if let Some((key, result)) = self.jobs.merge.poll() {
            let MergeJobKey { index, merge: key } = key;
            if let Some(doc) = self.doc_mut(index) {
                match result {
                    Ok((merger, img)) => {
                        doc.merger.insert(key.model, merger);
                        doc.merged = Some((key, Arc::new(img)));
                    }
                    Err(e) => doc.merge_failed = Some((key, format!("{e:#}"))),
                }
            }
        }
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

    /// Opens or closes the side-by-side comparison, with these pane views.
    pub fn set_compare(&mut self, open: bool, panes: &[View], swipe: bool) {
        self.compare.open = open;
        if !panes.is_empty() {
            self.compare.panes = panes.to_vec();
        }
        self.compare.models.resize(self.compare.panes.len(), None);
        self.compare.swipe = swipe;
    }
}
