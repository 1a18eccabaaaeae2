//! Every background job slot of the app (see [`JobSlot`]): what each computes and for which
//! key. The app polls them once per frame (`app.rs`); the commands start them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use eframe::egui;

use crate::device::ComputeDevice;
use crate::fourier::merge::Merger;
use crate::image::Volume;
use crate::jobs::Progress;
use crate::picking::PickSession;
use crate::picking::exchange::{ExportFormat, ParsedImport};

use super::job_slot::JobSlot;
use super::loading::{Loaded, Prefetched, Sections};
use super::state::{
    DocModel, LowpassKey, MergeJobKey, OrthoKey, SectionKey, SessionCtf, ViewImage,
};

/// A read picking session, its file, why a saved one could not be read, and the CTFs of its
/// micrographs when it was opened from a STAR with CTF columns.
pub type SessionRead = (PickSession, PathBuf, Option<String>, Option<SessionCtf>);

/// An export dialog: when it opened (a quick empty answer means no portal) and the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportDialog {
    /// When the dialog opened.
    pub opened: Instant,
    /// The format to export.
    pub format: ExportFormat,
}

/// Writing the picks into a folder in a format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportInto {
    /// The folder.
    pub dir: PathBuf,
    /// The format.
    pub format: ExportFormat,
}

/// A merge job's result: the cached transforms and the merged view.
pub type MergeResult = (Arc<Merger>, ViewImage);

/// The app's job slots, one per purpose (the panels' own jobs live in their panels: the
/// analysis panel's pane curves, the CTF import in [`super::state::SessionCtfState`], …).
#[derive(Default)]
pub struct AppJobs {
    /// Choosing the compute device (at start).
    pub device: JobSlot<(), ComputeDevice>,
    /// Reading the picking session being opened: the session, its file, and why a saved one
    /// could not be read.
    pub session: JobSlot<(), SessionRead>,
    /// Reading the micrograph to show (keyed by its name for errors).
    pub load: JobSlot<String, Loaded>,
    /// Denoising the open micrograph with a model.
    pub denoise: JobSlot<DocModel, ViewImage>,
    /// The binned denoised preview shown while `denoise` runs (`None`: no preview for this
    /// image or model).
    pub preview: JobSlot<DocModel, Option<ViewImage>>,
    /// Low-passing the open micrograph.
    pub lowpass: JobSlot<LowpassKey, ViewImage>,
    /// Merging denoised low and raw high frequencies.
    pub merge: JobSlot<MergeJobKey, MergeResult>,
    /// Installing the Topaz models.
    pub install: JobSlot<(), Vec<PathBuf>>,
    /// The "open a micrograph" dialog (keyed by when it opened).
    pub dialog: JobSlot<Instant, Option<PathBuf>>,
    /// Reading and denoising the next micrograph before the user gets there.
    pub prefetch: JobSlot<usize, Prefetched>,
    /// A micrograph list thumbnail (by session index).
    pub thumbnail: JobSlot<usize, egui::ColorImage>,
    /// The pick import dialog.
    pub import: JobSlot<(), Option<PathBuf>>,
    /// Reading the coordinate file chosen (keyed by its path), before its picks are applied.
    pub import_read: JobSlot<PathBuf, ParsedImport>,
    /// The pick export dialog (when it opened, and the format).
    pub export: JobSlot<ExportDialog, Option<PathBuf>>,
    /// Writing the picks into the folder chosen.
    pub export_write: JobSlot<ExportInto, Vec<PathBuf>>,
    /// Computing another XY section of the open volume (and of its denoised volume).
    pub section: JobSlot<SectionKey, Sections>,
    /// Denoising the open volume with a 3D model.
    pub volume_denoise: JobSlot<DocModel, Volume>,
    /// The XZ and YZ orthoviews.
    pub ortho: JobSlot<OrthoKey, [egui::ColorImage; 2]>,
}

impl AppJobs {
    /// Whether any job runs.
    pub fn any_running(&self) -> bool {
        self.device.is_running()
            || self.session.is_running()
            || self.load.is_running()
            || self.denoise.is_running()
            || self.lowpass.is_running()
            || self.install.is_running()
            || self.dialog.is_running()
            || self.prefetch.is_running()
            || self.thumbnail.is_running()
            || self.import.is_running()
            || self.import_read.is_running()
            || self.export.is_running()
            || self.export_write.is_running()
            || self.merge.is_running()
            || self.section.is_running()
            || self.ortho.is_running()
            || self.volume_denoise.is_running()
    }

    /// The jobs the status bar lists, with their progress.
    pub fn for_status_bar(&self) -> Vec<(&'static str, Arc<Progress>)> {
        [
            ("reading", self.load.progress()),
            ("denoising", self.denoise.progress()),
            ("preparing next", self.prefetch.progress()),
            ("low-pass", self.lowpass.progress()),
            ("installing", self.install.progress()),
        ]
        .into_iter()
        .filter_map(|(name, p)| Some((name, Arc::clone(p?))))
        .collect()
    }
}
