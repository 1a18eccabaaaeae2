//! The CTF parameters of the session's micrographs, for restore models trained on
//! phase-flipped micrographs: read from the RELION STAR the session was opened from (when it
//! has CTF columns) or from a file chosen with the analysis panel's "CTF…" button
//! ([`SessionCtfState`] owns that table and the job reading the file).

use std::path::{Path, PathBuf};

use crate::ctf::{Ctf, MicrographCtf, find_micrograph_ctf};
use crate::jobs::Job;

use crate::gui::job_slot::JobSlot;

/// A CTF file chosen and its entries (or why they could not be read).
pub type CtfRead = (PathBuf, anyhow::Result<Vec<MicrographCtf>>);

/// CTF entries read from one file.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionCtf {
    /// The file they were read from (a RELION STAR or CTFFIND4 output).
    pub path: PathBuf,
    /// One entry per micrograph.
    pub entries: Vec<MicrographCtf>,
}

impl SessionCtf {
    /// The CTF of the micrograph at `path`, matched by name ([`find_micrograph_ctf`]).
    pub fn for_micrograph(&self, path: &Path) -> Option<Ctf> {
        find_micrograph_ctf(&self.entries, path).map(|e| e.ctf)
    }

    /// The CTF columns of a micrographs STAR, `None` when it has none (a plain list of
    /// micrographs) or they cannot be read. Reads the disk: call it on a worker.
    pub fn from_session_star(star: &Path) -> Option<Self> {
        crate::ctf::read_ctf_star(star)
            .ok()
            .filter(|e| !e.is_empty())
            .map(|entries| Self {
                path: star.to_path_buf(),
                entries,
            })
    }
}

/// The session's CTF table (if any) and the job choosing and reading a CTF file for it.
#[derive(Default)]
pub struct SessionCtfState {
    /// The CTFs of the session's micrographs, once read.
    table: Option<SessionCtf>,
    /// The CTF file dialog, and reading the file chosen (`None`: cancelled).
    import: JobSlot<(), Option<CtfRead>>,
}

impl SessionCtfState {
    /// The session's CTF table, if one was read.
    pub fn table(&self) -> Option<&SessionCtf> {
        self.table.as_ref()
    }

    /// Replaces the session's CTF table (a new session, or a file read with "CTF…").
    pub fn set_table(&mut self, table: Option<SessionCtf>) {
        self.table = table;
    }

    /// Runs `job`, the dialog choosing a CTF file and its reading (cancelling the one
    /// before: check [`Self::is_importing`] first, not to show two dialogs).
    pub fn start_import(&mut self, job: Job<Option<CtfRead>>) {
        self.import.start((), job);
    }

    /// Whether a CTF file is being chosen or read.
    pub fn is_importing(&self) -> bool {
        self.import.is_running()
    }

    /// The file chosen and its entries once the import job has finished (`Ok(None)`: the
    /// dialog was cancelled; `Err`: the dialog failed); `None` while it runs or when none ran.
    pub fn poll_import(&mut self) -> Option<anyhow::Result<Option<CtfRead>>> {
        self.import.poll().map(|((), result)| result)
    }
}
