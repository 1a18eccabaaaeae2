//! Manual particle picking: a session over many micrographs, its edits with undo/redo, the
//! session file that is autosaved after every edit ([`autosave`]), and import/export of
//! coordinate files ([`exchange`]).
//!
//! Coordinates are always stored in full-size micrograph pixels, x = column and y = row in the
//! micrograph's storage order, the centre of pixel (i, j) being (i, j) (no half-pixel or
//! 1-based offset: the convention of `crate::io::coords` and of RELION's coordinate files).
//! Views (denoised, low-pass) have the micrograph's size, so a pick made on any view lands on
//! the same pixel; coordinates imported from binned images are scaled explicitly.

pub mod autosave;
pub mod exchange;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::io::coords::Pick;

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

/// One picked particle in a session: its centre in full-size micrograph pixels and, for
/// imported autopicks, the picker's figure of merit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionPick {
    /// Centre x (column), full-size pixels.
    pub x: f64,
    /// Centre y (row), full-size pixels.
    pub y: f64,
    /// Figure of merit of an imported autopick (`_rlnAutopickFigureOfMerit`, Topaz's score);
    /// `None` for manual picks, which are always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Section (z, voxels) for picks in a tomogram; `None` on micrographs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
}

impl SessionPick {
    /// A manual pick at `(x, y)` (full-size pixels).
    pub fn manual(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            score: None,
            z: None,
        }
    }

    /// Whether the pick is kept at the autopick threshold `threshold` (manual picks always).
    pub fn passes(&self, threshold: f64) -> bool {
        self.score.is_none_or(|s| s >= threshold)
    }

    /// As a coordinate-file pick.
    pub fn to_pick(self) -> Pick {
        let mut p = Pick::new(self.x, self.y);
        p.score = self.score;
        p.z = self.z;
        p
    }

    /// From a coordinate-file pick (z, size and filament are dropped).
    pub fn from_pick(p: &Pick) -> Self {
        Self {
            x: p.x,
            y: p.y,
            score: p.score,
            z: p.z,
        }
    }
}

/// One micrograph of a session with its picks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionMicrograph {
    /// The micrograph file.
    pub path: PathBuf,
    /// Its picks, in the order they were made.
    pub picks: Vec<SessionPick>,
}

impl SessionMicrograph {
    /// The micrograph's file name without folders.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// Picking settings saved with the session.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PickSettings {
    /// Extraction box size in full-size pixels (exported with EMAN/crYOLO boxes).
    pub box_size_px: f64,
    /// Particle diameter in Å: the circle drawn and the radius within which a click removes
    /// or grabs a pick.
    pub particle_diameter_angstrom: f64,
    /// Draw circles (true) or boxes (false).
    pub circles: bool,
    /// Autopicks with a figure of merit below this are hidden and not exported.
    pub autopick_threshold: f64,
}

impl Default for PickSettings {
    fn default() -> Self {
        Self {
            box_size_px: 256.0,
            particle_diameter_angstrom: 150.0,
            circles: true,
            autopick_threshold: f64::NEG_INFINITY,
        }
    }
}

impl PickSettings {
    /// Particle radius in pixels for a pixel size in Å (the diameter's half); 20 px when the
    /// pixel size is unknown.
    pub fn radius_px(&self, pixel_size_angstrom: Option<f32>) -> f64 {
        match pixel_size_angstrom {
            Some(p) if p > 0.0 => 0.5 * self.particle_diameter_angstrom / f64::from(p),
            _ => 20.0,
        }
    }
}

/// One undoable edit.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// `pick` was inserted at `index` of micrograph `micrograph`.
    Add {
        /// Micrograph index in the session.
        micrograph: usize,
        /// Position in its pick list.
        index: usize,
        /// The pick.
        pick: SessionPick,
    },
    /// `pick` was removed from `index`.
    Remove {
        /// Micrograph index in the session.
        micrograph: usize,
        /// Position it had in its pick list.
        index: usize,
        /// The pick.
        pick: SessionPick,
    },
    /// The pick at `index` moved from `from` to `to` (full-size pixels).
    Move {
        /// Micrograph index in the session.
        micrograph: usize,
        /// Position in its pick list.
        index: usize,
        /// Old centre.
        from: (f64, f64),
        /// New centre.
        to: (f64, f64),
    },
    /// A micrograph's whole pick list was replaced (import, clear).
    Replace {
        /// Micrograph index in the session.
        micrograph: usize,
        /// The list before.
        before: Vec<SessionPick>,
        /// The list after.
        after: Vec<SessionPick>,
    },
}

impl Edit {
    /// The micrograph the edit touched.
    pub fn micrograph(&self) -> usize {
        match self {
            Edit::Add { micrograph, .. }
            | Edit::Remove { micrograph, .. }
            | Edit::Move { micrograph, .. }
            | Edit::Replace { micrograph, .. } => *micrograph,
        }
    }

    fn inverse(&self) -> Edit {
        match self.clone() {
            Edit::Add {
                micrograph,
                index,
                pick,
            } => Edit::Remove {
                micrograph,
                index,
                pick,
            },
            Edit::Remove {
                micrograph,
                index,
                pick,
            } => Edit::Add {
                micrograph,
                index,
                pick,
            },
            Edit::Move {
                micrograph,
                index,
                from,
                to,
            } => Edit::Move {
                micrograph,
                index,
                from: to,
                to: from,
            },
            Edit::Replace {
                micrograph,
                before,
                after,
            } => Edit::Replace {
                micrograph,
                before: after,
                after: before,
            },
        }
    }
}

/// The session file's contents (JSON, `format` = `"cryolens-picks"`, `version` = 1).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SessionFile {
    format: String,
    version: u32,
    settings: PickSettings,
    current: usize,
    micrographs: Vec<SessionMicrograph>,
}

const FORMAT: &str = "cryolens-picks";

/// A picking session: micrographs, their picks, settings, and the undo/redo history (which
/// spans all micrographs and is not saved).
#[derive(Clone, Debug, Default)]
pub struct PickSession {
    /// The micrographs in display order.
    pub micrographs: Vec<SessionMicrograph>,
    /// Picking settings.
    pub settings: PickSettings,
    /// The micrograph being picked.
    pub current: usize,
    undo: Vec<Edit>,
    redo: Vec<Edit>,
    revision: u64,
}

impl PickSession {
    /// A session over `paths` with no picks.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            micrographs: paths
                .into_iter()
                .map(|path| SessionMicrograph {
                    path,
                    picks: Vec::new(),
                })
                .collect(),
            ..Self::default()
        }
    }

    /// Incremented by every change (edits, undo, redo, settings through [`Self::touch`]);
    /// the autosaver saves when it changes.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Marks a change made directly to public fields (settings, current micrograph).
    pub fn touch(&mut self) {
        self.revision += 1;
    }

    /// The picks of micrograph `micrograph` (empty when out of range).
    pub fn picks(&self, micrograph: usize) -> &[SessionPick] {
        self.micrographs
            .get(micrograph)
            .map_or(&[], |m| m.picks.as_slice())
    }

    /// Number of picks of `micrograph` kept at the current autopick threshold.
    pub fn kept_count(&self, micrograph: usize) -> usize {
        let t = self.settings.autopick_threshold;
        self.picks(micrograph)
            .iter()
            .filter(|p| p.passes(t))
            .count()
    }

    /// Index of the pick of `micrograph` nearest to `(x, y)` within `radius` pixels, among the
    /// picks kept at the threshold.
    pub fn nearest(&self, micrograph: usize, x: f64, y: f64, radius: f64) -> Option<usize> {
        let t = self.settings.autopick_threshold;
        self.picks(micrograph)
            .iter()
            .enumerate()
            .filter(|(_, p)| p.passes(t))
            .map(|(i, p)| (i, (p.x - x).powi(2) + (p.y - y).powi(2)))
            .filter(|&(_, d2)| d2 <= radius * radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// Adds a manual pick at `(x, y)` to `micrograph`; returns its index, or `None` when the
    /// micrograph does not exist or a coordinate is not finite.
    pub fn add(&mut self, micrograph: usize, x: f64, y: f64) -> Option<usize> {
        self.add_at(micrograph, x, y, None)
    }

    /// As [`Self::add`], with the section `z` (voxels) for a pick in a tomogram.
    pub fn add_at(&mut self, micrograph: usize, x: f64, y: f64, z: Option<f64>) -> Option<usize> {
        if !(x.is_finite() && y.is_finite() && z.is_none_or(f64::is_finite)) {
            return None;
        }
        let index = self.micrographs.get(micrograph)?.picks.len();
        self.apply_new(Edit::Add {
            micrograph,
            index,
            pick: SessionPick {
                z,
                ..SessionPick::manual(x, y)
            },
        });
        Some(index)
    }

    /// Removes pick `index` of `micrograph`; false when there is none.
    pub fn remove(&mut self, micrograph: usize, index: usize) -> bool {
        let Some(&pick) = self.picks(micrograph).get(index) else {
            return false;
        };
        self.apply_new(Edit::Remove {
            micrograph,
            index,
            pick,
        });
        true
    }

    /// Moves pick `index` of `micrograph` to `to`; `from` is where the move began (a pick
    /// dragged live is moved with [`Self::set_position`] and committed here once, so that one
    /// drag is one undo step).
    pub fn commit_move(
        &mut self,
        micrograph: usize,
        index: usize,
        from: (f64, f64),
        to: (f64, f64),
    ) -> bool {
        if self.picks(micrograph).get(index).is_none() || !(to.0.is_finite() && to.1.is_finite()) {
            return false;
        }
        if from == to {
            self.set_position(micrograph, index, to);
            return false;
        }
        self.apply_new(Edit::Move {
            micrograph,
            index,
            from,
            to,
        });
        true
    }

    /// Sets a pick's position without recording an edit (live dragging; see
    /// [`Self::commit_move`]).
    pub fn set_position(&mut self, micrograph: usize, index: usize, to: (f64, f64)) {
        if let Some(p) = self
            .micrographs
            .get_mut(micrograph)
            .and_then(|m| m.picks.get_mut(index))
        {
            p.x = to.0;
            p.y = to.1;
        }
    }

    /// Replaces the picks of `micrograph` (an import or a clear) as one undoable edit.
    pub fn replace(&mut self, micrograph: usize, after: Vec<SessionPick>) -> bool {
        let Some(m) = self.micrographs.get(micrograph) else {
            return false;
        };
        let before = m.picks.clone();
        self.apply_new(Edit::Replace {
            micrograph,
            before,
            after,
        });
        true
    }

    /// Undoes the last edit; returns the micrograph it touched.
    pub fn undo(&mut self) -> Option<usize> {
        let edit = self.undo.pop()?;
        self.apply(&edit.inverse());
        let m = edit.micrograph();
        self.redo.push(edit);
        Some(m)
    }

    /// Redoes the last undone edit; returns the micrograph it touched.
    pub fn redo(&mut self) -> Option<usize> {
        let edit = self.redo.pop()?;
        self.apply(&edit);
        let m = edit.micrograph();
        self.undo.push(edit);
        Some(m)
    }

    /// Number of edits that can be undone and redone.
    pub fn history_len(&self) -> (usize, usize) {
        (self.undo.len(), self.redo.len())
    }

    fn apply_new(&mut self, edit: Edit) {
        self.apply(&edit);
        self.undo.push(edit);
        self.redo.clear();
    }

    fn apply(&mut self, edit: &Edit) {
        self.revision += 1;
        let Some(m) = self.micrographs.get_mut(edit.micrograph()) else {
            return;
        };
        match edit {
            Edit::Add { index, pick, .. } => {
                let i = (*index).min(m.picks.len());
                m.picks.insert(i, *pick);
            }
            Edit::Remove { index, .. } => {
                if *index < m.picks.len() {
                    m.picks.remove(*index);
                }
            }
            Edit::Move { index, to, .. } => {
                if let Some(p) = m.picks.get_mut(*index) {
                    p.x = to.0;
                    p.y = to.1;
                }
            }
            Edit::Replace { after, .. } => m.picks = after.clone(),
        }
    }

    /// The session as the JSON text of its session file.
    pub fn to_json(&self) -> String {
        let file = SessionFile {
            format: FORMAT.into(),
            version: 1,
            settings: self.settings,
            current: self.current,
            micrographs: self.micrographs.clone(),
        };
        // Serialising plain data with finite numbers cannot fail; non-finite thresholds are
        // written as null by serde_json and read back as the default.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Parses a session file's text.
    ///
    /// # Errors
    /// [`PickingError::BadSession`] when the text is not a version-1 Cryolens session.
    pub fn from_json(text: &str, path: &Path) -> Result<Self, PickingError> {
        let bad = |message: String| PickingError::BadSession {
            path: path.to_path_buf(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(bad(format!("no \"format\": \"{FORMAT}\" field")));
        }
        let mut value = value;
        // serde_json writes -inf as null.
        if let Some(t) = value.pointer_mut("/settings/autopick_threshold")
            && t.is_null()
        {
            *t = serde_json::Value::from(-1e300);
        }
        let file: SessionFile = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if file.version != 1 {
            return Err(bad(format!("unsupported version {}", file.version)));
        }
        let mut settings = file.settings;
        if settings.autopick_threshold <= -1e300 {
            settings.autopick_threshold = f64::NEG_INFINITY;
        }
        let current = file.current.min(file.micrographs.len().saturating_sub(1));
        Ok(Self {
            micrographs: file.micrographs,
            settings,
            current,
            ..Self::default()
        })
    }

    /// Reads a session file.
    ///
    /// # Errors
    /// [`PickingError::Io`] when unreadable, [`PickingError::BadSession`] when damaged.
    pub fn load(path: &Path) -> Result<Self, PickingError> {
        let text = std::fs::read_to_string(path).map_err(|source| PickingError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Adds the micrographs of `paths` that the session lacks (a folder that gained files), and
    /// keeps the picks of those it has; micrographs no longer present are kept (their picks
    /// are user work).
    pub fn merge_paths(&mut self, paths: &[PathBuf]) {
        for p in paths {
            if !self.micrographs.iter().any(|m| &m.path == p) {
                self.micrographs.push(SessionMicrograph {
                    path: p.clone(),
                    picks: Vec::new(),
                });
            }
        }
    }
}

/// File extensions recognised as micrographs when a folder is opened.
pub const MICROGRAPH_EXTENSIONS: [&str; 6] = ["mrc", "mrcs", "tif", "tiff", "map", "rec"];

/// The micrographs named by `input`: a folder (its MRC/TIFF files, sorted), a glob pattern
/// (`*` and `?` in the file-name part), a RELION micrographs STAR (`_rlnMicrographName`,
/// relative paths resolved against the STAR's folder and its parent, as RELION projects
/// store them), or a single micrograph file.
///
/// # Errors
/// [`PickingError::NoMicrographs`] when nothing matches; I/O and STAR errors.
pub fn expand_input(input: &str) -> Result<Vec<PathBuf>, PickingError> {
    let path = Path::new(input);
    let mut out = if path.is_dir() {
        sorted(list_dir(path, has_micrograph_extension)?)
    } else if input.contains('*') || input.contains('?') {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let pattern = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sorted(list_dir(dir, |name| glob_match(&pattern, name))?)
    } else if path.extension().is_some_and(|e| e == "star") {
        exchange::micrographs_from_star(path)?
    } else if path.is_file() {
        vec![path.to_path_buf()]
    } else {
        return Err(PickingError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    };
    // A STAR's order is kept; repeated names are dropped.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    if out.is_empty() {
        return Err(PickingError::NoMicrographs(input.to_string()));
    }
    Ok(out)
}

fn sorted(mut paths: Vec<PathBuf>) -> Vec<PathBuf> {
    paths.sort();
    paths
}

fn has_micrograph_extension(name: &str) -> bool {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| {
            MICROGRAPH_EXTENSIONS
                .iter()
                .any(|m| m.eq_ignore_ascii_case(e))
        })
}

fn list_dir(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<PathBuf>, PickingError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PickingError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().is_some_and(|n| keep(&n.to_string_lossy())))
        .collect())
}

/// Shell-style match of `name` against `pattern` with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Where a session over `micrographs` is saved by default: `cryolens_session.json` in the
/// folder of the first micrograph when that folder is writable, else a file named after a
/// hash of that folder under the user's data folder (`~/.local/share/cryolens/sessions`).
pub fn default_session_path(micrographs: &[PathBuf]) -> PathBuf {
    let dir = micrographs
        .first()
        .and_then(|p| p.parent())
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    let candidate = dir.join("cryolens_session.json");
    if is_writable_dir(&dir) {
        return candidate;
    }
    let abs = std::fs::canonicalize(&dir).unwrap_or(dir);
    let digest = sha2_hex(abs.to_string_lossy().as_bytes());
    crate::paths::sessions_dir().join(format!("{}.json", &digest[..16]))
}

fn is_writable_dir(dir: &Path) -> bool {
    tempfile::NamedTempFile::new_in(dir).is_ok()
}

fn sha2_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> PickSession {
        PickSession::new(vec!["a.mrc".into(), "b.mrc".into()])
    }

    #[test]
    fn undo_redo_restore_every_state() {
        let mut s = session();
        let mut states = vec![s.micrographs.clone()];
        s.add(0, 10.0, 20.0);
        states.push(s.micrographs.clone());
        s.add(1, 5.0, 6.0);
        states.push(s.micrographs.clone());
        s.add(0, 30.0, 40.0);
        states.push(s.micrographs.clone());
        s.commit_move(0, 0, (10.0, 20.0), (11.0, 21.0));
        states.push(s.micrographs.clone());
        assert!(s.remove(0, 1));
        states.push(s.micrographs.clone());
        s.replace(1, vec![]);
        states.push(s.micrographs.clone());
        for expected in states.iter().rev().skip(1) {
            s.undo().unwrap();
            assert_eq!(&s.micrographs, expected);
        }
        assert!(s.undo().is_none());
        for expected in states.iter().skip(1) {
            s.redo().unwrap();
            assert_eq!(&s.micrographs, expected);
        }
        assert!(s.redo().is_none());
    }

    #[test]
    fn new_edit_clears_redo() {
        let mut s = session();
        s.add(0, 1.0, 1.0);
        s.undo();
        assert_eq!(s.history_len(), (0, 1));
        s.add(0, 2.0, 2.0);
        assert_eq!(s.history_len(), (1, 0));
    }

    #[test]
    fn nearest_respects_radius_and_threshold() {
        let mut s = session();
        s.add(0, 100.0, 100.0);
        s.replace(
            0,
            vec![
                SessionPick::manual(100.0, 100.0),
                SessionPick {
                    x: 110.0,
                    y: 100.0,
                    score: Some(-2.0),
                    z: None,
                },
            ],
        );
        assert_eq!(s.nearest(0, 108.0, 100.0, 20.0), Some(1));
        s.settings.autopick_threshold = 0.0;
        assert_eq!(s.nearest(0, 108.0, 100.0, 20.0), Some(0));
        assert_eq!(s.nearest(0, 200.0, 100.0, 20.0), None);
        assert_eq!(s.kept_count(0), 1);
    }

    #[test]
    fn json_round_trip_and_rejection() {
        let mut s = session();
        s.add(0, 1.5, 2.25);
        s.add(1, 3.0, 4.0);
        s.current = 1;
        let text = s.to_json();
        let back = PickSession::from_json(&text, Path::new("x.json")).unwrap();
        assert_eq!(back.micrographs, s.micrographs);
        assert_eq!(back.current, 1);
        assert_eq!(back.settings, s.settings);
        assert!(PickSession::from_json("{}", Path::new("x")).is_err());
        assert!(PickSession::from_json("{\"format\":\"cryolens-picks\"", Path::new("x")).is_err());
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("*.mrc", "a_EVN.mrc"));
        assert!(glob_match("mic_??.tif", "mic_01.tif"));
        assert!(!glob_match("mic_??.tif", "mic_1.tif"));
        assert!(!glob_match("*.mrc", "a.mrcs"));
        assert!(glob_match("*", ""));
    }
}
