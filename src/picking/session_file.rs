//! The session file: a session as JSON (`format` = `"cryolens-picks"`, `version` = 1; the undo
//! history is not saved), reading it back, and where a session is saved by default.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::picks::{PickSettings, SessionMicrograph};
use super::{PickSession, PickingError};

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

impl PickSession {
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
        crate::sampling::check_length_px("settings.box_size_px", settings.box_size_px)
            .map_err(|e| bad(e.to_string()))?;
        // A diameter in Å: at most the largest box at the largest plausible pixel size.
        let d = settings.particle_diameter_angstrom;
        if !(d.is_finite() && d > 0.0 && d <= 100.0 * crate::sampling::MAX_LENGTH_PX) {
            return Err(bad(format!(
                "settings.particle_diameter_angstrom must be a positive diameter in Å, got {d}"
            )));
        }
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
