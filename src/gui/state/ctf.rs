//! The CTF parameters of the session's micrographs, for restore models trained on
//! phase-flipped micrographs: read from the RELION STAR the session was opened from (when it
//! has CTF columns) or from a file chosen with the analysis panel's "CTF…" button.

use std::path::{Path, PathBuf};

use crate::ctf::{Ctf, MicrographCtf, find_micrograph_ctf};

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
