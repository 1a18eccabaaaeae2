//! Manual particle picking: a session over many micrographs, its edits with undo/redo, the
//! session file that is autosaved after every edit ([`autosave`]), and import/export of
//! coordinate files ([`exchange`]).
//!
//! Coordinates are always stored in full-size micrograph pixels, x = column and y = row in the
//! micrograph's storage order, the centre of pixel (i, j) being (i, j) (no half-pixel or
//! 1-based offset: the convention of `crate::io::coords` and of RELION's coordinate files).
//! Views (denoised, low-pass) have the micrograph's size, so a pick made on any view lands on
//! the same pixel; coordinates imported from binned images are scaled explicitly.
//!
//! # Files
//! `picks` holds the picks and the settings, `edit` the undoable edits, `session` the session
//! with its undo/redo history, `session_file` the JSON file a session is saved in and where it
//! goes by default, `inputs` the micrographs a folder, glob or STAR names, `index` the spatial index behind
//! hit-testing, `overlay` what of a micrograph's picks to draw at a zoom; all re-exported here.

pub mod autosave;
mod counts;
mod edit;
pub mod exchange;
mod index;
mod inputs;
pub mod overlay;
mod picks;
mod session;
mod session_file;

pub use counts::pick_counter;
pub use edit::Edit;
pub use index::PickIndex;
pub use inputs::{MICROGRAPH_EXTENSIONS, expand_input, glob_match};
pub use picks::{PickSettings, SessionMicrograph, SessionPick};
pub use session::PickSession;
pub use session_file::{JsonCache, default_session_path};

use std::path::PathBuf;

/// Why a session could not be opened or saved.
#[derive(Debug, thiserror::Error)]
pub enum PickingError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The session file is not a Cryolens session file or is damaged.
    #[error("{path}: not a Cryolens picking session: {message}")]
    BadSession {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No micrograph matched the input.
    #[error("no micrographs found in {0}")]
    NoMicrographs(String),
    /// A coordinate file could not be imported or exported.
    #[error(transparent)]
    Coordinates(#[from] crate::io::IoError),
    /// Anything else (with its context).
    #[error("{0}")]
    Other(String),
}
