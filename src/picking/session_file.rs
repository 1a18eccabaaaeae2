//! The session file: a session as JSON (`format` = `"cryolens-picks"`, `version` = 1; the undo
//! history is not saved), reading it back, and where a session is saved by default.
//!
//! The text is compact JSON made of parts ([`PickSession::json_parts`]): a header, then one
//! part per micrograph. A [`JsonCache`] keeps each micrograph's part between saves, so an
//! autosave after an edit serialises only the micrograph that changed; the parts are written
//! one after the other by the autosaver's thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::picks::{PickSettings, SessionMicrograph};
use super::{PickSession, PickingError};

/// The session file's contents (JSON, `format` = `"cryolens-picks"`, `version` = 1), as read.
#[derive(Clone, Debug, Deserialize)]
struct SessionFile {
    format: String,
    version: u32,
    settings: PickSettings,
    current: usize,
    micrographs: Vec<SessionMicrograph>,
}

const FORMAT: &str = "cryolens-picks";

impl PickSession {
    /// The session as the JSON text of its session file (compact; see [`Self::json_parts`]).
    pub fn to_json(&self) -> String {
        self.json_parts(&mut JsonCache::default()).concat()
    }

    /// The JSON text of the session file as parts to be written one after the other: the
    /// header (format, version, settings, current micrograph), then each micrograph's part
    /// (with the separators). Micrographs unchanged since `cache` last saw them (same
    /// [`Self::micrograph_revision`], same pick list address and length, same path) reuse
    /// their part: the cost is that of the changed micrographs plus one reference per
    /// micrograph.
    pub fn json_parts(&self, cache: &mut JsonCache) -> Vec<Arc<str>> {
        #[derive(Serialize)]
        struct Header<'a> {
            format: &'a str,
            version: u32,
            settings: PickSettings,
            current: usize,
        }
        // Serialising plain data cannot fail; non-finite thresholds are written as null by
        // serde_json and read back as the default.
        let header = serde_json::to_string(&Header {
            format: FORMAT,
            version: 1,
            settings: self.settings,
            current: self.current,
        })
        .unwrap_or_default();
        // `{…}` → `{…,"micrographs":[`
        let head = format!(
            "{},\"micrographs\":[",
            header.strip_suffix('}').unwrap_or(&header)
        );
        cache.parts.resize(self.micrographs.len(), None);
        let mut parts = Vec::with_capacity(self.micrographs.len() + 2);
        parts.push(Arc::from(head));
        for (i, m) in self.micrographs.iter().enumerate() {
            let key = (
                self.micrograph_revision(i),
                m.picks.as_ptr() as usize,
                m.picks.len(),
            );
            let part = match &cache.parts[i] {
                Some((k, path, text)) if *k == key && *path == m.path => Arc::clone(text),
                _ => {
                    let sep = if i == 0 { "" } else { "," };
                    let text: Arc<str> =
                        format!("{sep}{}", serde_json::to_string(m).unwrap_or_default()).into();
                    cache.parts[i] = Some((key, m.path.clone(), Arc::clone(&text)));
                    text
                }
            };
            parts.push(part);
        }
        parts.push(Arc::from("]}\n"));
        parts
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
        // Parsed straight into the file's struct (no intermediate JSON tree: a session of
        // millions of picks reads in a fraction of the time).
        let file: SessionFile = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let has_format = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(FORMAT));
                return Err(bad(if has_format || e.is_syntax() || e.is_eof() {
                    e.to_string()
                } else {
                    format!("no \"format\": \"{FORMAT}\" field")
                }));
            }
        };
        if file.format != FORMAT {
            return Err(bad(format!("no \"format\": \"{FORMAT}\" field")));
        }
        if file.version != 1 {
            return Err(bad(format!("unsupported version {}", file.version)));
        }
        let settings = file.settings;
        crate::sampling::check_length_px("settings.box_size_px", settings.box_size_px)
            .map_err(|e| bad(e.to_string()))?;
        // A diameter in Å: at most the largest box at the largest plausible pixel size.
        let d = settings.particle_diameter_angstrom;
        if !(d.is_finite() && d > 0.0 && d <= 100.0 * crate::sampling::MAX_LENGTH_PX) {
            return Err(bad(format!(
                "settings.particle_diameter_angstrom must be a positive diameter in Å, got {d}"
            )));
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
}

/// Each micrograph's serialised part of the last [`PickSession::json_parts`] call, with what it
/// was made from (micrograph revision, pick list address and length, path).
#[derive(Clone, Debug, Default)]
pub struct JsonCache {
    parts: Vec<Option<PartEntry>>,
}

/// A cached part: its key, the micrograph's path, the text.
type PartEntry = ((u64, usize, usize), PathBuf, Arc<str>);

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
    use crate::picking::session::tests::session;

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
    fn cached_parts_are_reused_and_match_a_fresh_serialisation() {
        let mut s = PickSession::new((0..50).map(|i| format!("m{i}.mrc").into()).collect());
        for i in 0..50 {
            s.add(i, i as f64, 2.0 * i as f64);
        }
        s.settings.autopick_threshold = 0.25;
        let mut cache = JsonCache::default();
        let first = s.json_parts(&mut cache);
        s.add(7, 1.0, 1.0);
        s.set_position(9, 0, (5.0, 5.0));
        let second = s.json_parts(&mut cache);
        assert_eq!(second.concat(), s.to_json());
        let reused: Vec<usize> = (0..50)
            .filter(|&i| Arc::ptr_eq(&first[i + 1], &second[i + 1]))
            .collect();
        assert_eq!(reused.len(), 48);
        assert!(!reused.contains(&7) && !reused.contains(&9));
        let back = PickSession::from_json(&second.concat(), Path::new("x.json")).unwrap();
        assert_eq!(back.micrographs, s.micrographs);
        assert_eq!(back.settings, s.settings);
        // An empty session is valid too.
        let empty = PickSession::default().to_json();
        assert!(
            PickSession::from_json(&empty, Path::new("e.json")).is_ok(),
            "{empty}"
        );
    }

    #[test]
    fn absurd_box_sizes_and_diameters_are_refused() {
        let text = session().to_json();
        for (field, bad) in [
            ("box_size_px", "-64.0"),
            ("box_size_px", "0.0"),
            ("box_size_px", "1e12"),
            ("particle_diameter_angstrom", "-150.0"),
            ("particle_diameter_angstrom", "0.0"),
        ] {
            let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
            v["settings"][field] = serde_json::from_str(bad).unwrap();
            let e = PickSession::from_json(&v.to_string(), Path::new("s.json")).unwrap_err();
            assert!(e.to_string().contains(field), "{field}={bad}: {e}");
        }
    }
}
