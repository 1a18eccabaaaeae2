//! Pick counts for the screening table: how many particles the picking session beside a
//! micrograph (`cryolens_session.json` in its folder) holds on it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::PickSession;
use crate::screen::run::PickCounter;

/// A counter of the picks on a micrograph in the session file of its folder; each folder's
/// session is read once (a folder without one, or with an unreadable one, counts `None`).
pub fn pick_counter() -> PickCounter {
    let mut sessions: HashMap<PathBuf, Option<PickSession>> = HashMap::new();
    Box::new(move |path: &Path| {
        let dir = path.parent()?.to_path_buf();
        let session = sessions
            .entry(dir.clone())
            .or_insert_with(|| PickSession::load(&dir.join("cryolens_session.json")).ok());
        let name = path.file_name()?;
        session
            .as_ref()?
            .micrographs
            .iter()
            .find(|m| m.path.file_name() == Some(name))
            .map(|m| m.picks.len())
    })
}
