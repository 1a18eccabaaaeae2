//! The app's plain data, with no egui: what is open ([`document`]), the settings and keys of
//! the views derived from it ([`derived`]: denoised, low-pass and merged caches by key), the
//! volume's section and cursor ([`volume`]), the boxes of region SNR ([`regions`]), the
//! images ready to show ([`view_image`]), and the session's CTF table with the job reading
//! one ([`ctf`]: job slots hold no egui either).
//! Drawing lives in `gui::views` and `gui::panels`; jobs are started by `gui::commands`.

pub mod ctf;
pub mod derived;
pub mod document;
pub mod gallery;
pub mod regions;
pub mod truth;
pub mod view;
pub mod view_image;
pub mod volume;

use std::path::PathBuf;

pub use ctf::{SessionCtf, SessionCtfState};
pub use derived::{DocModel, LowpassKey, MergeJobKey, MergeKey, PaneCurvesKey, ViewSettings};
pub use document::{CACHE_DOCS, Document};
pub use view::View;
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
    /// A RELION micrographs STAR: its micrographs and, when it has CTF columns
    /// (`micrographs_ctf.star`), each one's CTF ([`SessionCtf`]).
    Star(PathBuf),
    /// A screening folder (`cryolens screen`'s output, with `screening.csv`): its gallery,
    /// and its micrographs as the picking session.
    Screening(PathBuf),
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
