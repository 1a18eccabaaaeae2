//! The app's plain data, with no egui: what is open ([`document`]), the settings and keys of
//! the views derived from it ([`derived`]: denoised, low-pass and merged caches by key), the
//! volume's section and cursor ([`volume`]), the boxes of region SNR ([`regions`]), and the
//! images ready to show ([`view_image`]).
//! Drawing lives in `gui::views` and `gui::panels`; jobs are started by `gui::commands`.

pub mod derived;
pub mod document;
pub mod regions;
pub mod view_image;
pub mod volume;

use std::path::PathBuf;

pub use derived::{DocModel, LowpassKey, MergeJobKey, MergeKey, PaneCurvesKey, ViewSettings};
pub use document::{CACHE_DOCS, Document};
pub use view_image::{Histogram, ViewImage};
pub use volume::{OrthoKey, SectionKey, VolumeState};

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

/// Options of [`crate::gui::CryolensApp::with_options`].
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// Split textures into tiles of at most this many pixels a side (tests of tiling).
    pub tile_cap: Option<u32>,
    /// Where the picking session is saved.
    pub session_file: SessionFile,
}

/// The ways of looking at a micrograph.
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

    /// Its position in [`View::ALL`] (indexes the per-view contrast).
    pub fn index(self) -> usize {
        match self {
            View::Raw => 0,
            View::Denoised => 1,
            View::Lowpass => 2,
            View::Merged => 3,
        }
    }
}
