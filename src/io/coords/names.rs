//! Output names for the picks of many micrographs: one file per micrograph that no other
//! micrograph can overwrite.
//!
//! Micrographs of the same name in different folders are normal (RELION job folders, EPU grid
//! squares: `GridSquare_1/Data/mic_001.mrc` and `GridSquare_2/Data/mic_001.mrc`). Each
//! micrograph is written under its own folder, taken relative to the folder all of them share
//! (so micrographs of one folder are written flat, as before), with its file stem. Folder parts
//! that could leave the output folder (`..`, a root, a drive) are dropped; names that still
//! land on the same file (letter case aside, for file systems that ignore it) are refused,
//! naming both sources, rather than silently overwriting one with the other.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::CoordsError;

/// Where the picks of one micrograph are written, relative to the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputName {
    /// Folder relative to the output folder (empty for the shared folder itself).
    pub folder: PathBuf,
    /// The micrograph's file stem (name without folder and extension).
    pub stem: String,
}

impl OutputName {
    /// The file `<folder>/<stem><suffix>` relative to the output folder, e.g. with suffix
    /// `.box` or `_manualpick.star`.
    pub fn file(&self, suffix: &str) -> PathBuf {
        self.folder.join(format!("{}{suffix}", self.stem))
    }

    /// `<folder>/<stem>` with `/` separators: a name unique among the micrographs written
    /// together (Topaz's `image_name`, RELION's micrograph name for per-micrograph inputs).
    pub fn key(&self) -> String {
        let mut parts: Vec<String> = self
            .folder
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        parts.push(self.stem.clone());
        parts.join("/")
    }
}

/// One micrograph to name: `micrograph` is its path-like name (a folder part is kept),
/// `source` what to call it in an error (the input file it came from).
#[derive(Debug, Clone)]
pub struct NameRequest {
    /// The micrograph's path or name, e.g. `GridSquare_1/Data/mic_001.mrc`.
    pub micrograph: String,
    /// Where the micrograph came from, for error messages.
    pub source: String,
}

/// The folder parts of `name` that stay inside an output folder (plain names only).
fn folder_parts(name: &str) -> Vec<String> {
    Path::new(name)
        .parent()
        .map(|p| {
            p.components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The output name of every request, in order: folders relative to the folder all requests
/// share, file stems as they are. The requests must be distinct micrographs (merge the picks
/// of one micrograph before naming).
///
/// # Errors
/// A micrograph name without a file stem (empty, `.`, `..`, ending in `/`), or two requests
/// that would be written to the same file (compared without letter case); the message names
/// both micrographs and their sources.
pub fn output_names(requests: &[NameRequest]) -> Result<Vec<OutputName>, CoordsError> {
    let mut parts = Vec::with_capacity(requests.len());
    for r in requests {
        let path = Path::new(&r.micrograph);
        let stem = match path.file_name().map(|_| path.file_stem()) {
            Some(Some(s)) if !s.is_empty() => s.to_string_lossy().into_owned(),
            _ => {
                return Err(CoordsError::msg(format!(
                    "{}: micrograph name {:?} has no file name to write its picks under \
                     (give the micrograph a name in that file)",
                    r.source, r.micrograph
                )));
            }
        };
        parts.push((folder_parts(&r.micrograph), stem));
    }
    let shared = parts.first().map_or(0, |(first, _)| {
        (0..first.len())
            .take_while(|&i| parts.iter().all(|(p, _)| p.get(i) == first.get(i)))
            .count()
    });
    let names: Vec<OutputName> = parts
        .into_iter()
        .map(|(folder, stem)| OutputName {
            folder: folder[shared..].iter().collect(),
            stem,
        })
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, n) in names.iter().enumerate() {
        if let Some(&j) = seen.get(&n.key().to_lowercase()) {
            let (a, b) = (&requests[j], &requests[i]);
            return Err(CoordsError::msg(format!(
                "micrographs {:?} (from {}) and {:?} (from {}) would be written to the same \
                 file {:?} (rename one of them, or convert them separately)",
                a.micrograph,
                a.source,
                b.micrograph,
                b.source,
                n.key()
            )));
        }
        seen.insert(n.key().to_lowercase(), i);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(m: &str, s: &str) -> NameRequest {
        NameRequest {
            micrograph: m.into(),
            source: s.into(),
        }
    }

    #[test]
    fn same_stem_in_different_folders_keeps_the_folders() {
        let n = output_names(&[
            req("Movies/GridSquare_1/mic_001.mrc", "a.star"),
            req("Movies/GridSquare_2/mic_001.mrc", "a.star"),
        ])
        .unwrap();
        assert_eq!(n[0].file(".box"), Path::new("GridSquare_1/mic_001.box"));
        assert_eq!(n[1].key(), "GridSquare_2/mic_001");
    }

    #[test]
    fn one_folder_is_written_flat() {
        let n = output_names(&[req("job/mic_1.mrc", "x"), req("job/mic_2.mrc", "x")]).unwrap();
        assert_eq!(n[0].file(".cbox"), Path::new("mic_1.cbox"));
        assert_eq!(n[1].key(), "mic_2");
    }

    #[test]
    fn nameless_and_colliding_micrographs_are_refused() {
        for bad in ["", "..", ".", "a/.."] {
            let e = output_names(&[req(bad, "in.star")]).unwrap_err();
            assert!(e.message.contains("in.star"), "{e}");
        }
        let e =
            output_names(&[req("a/mic.mrc", "one.star"), req("a/mic.tif", "two.box")]).unwrap_err();
        assert!(
            e.message.contains("one.star") && e.message.contains("two.box"),
            "{e}"
        );
        // `..` cannot lead out of the output folder; where dropping it collides, refuse.
        let n = output_names(&[req("../../etc/mic.mrc", "x")]).unwrap();
        assert_eq!(n[0].file(".box"), Path::new("mic.box"));
        assert!(output_names(&[req("../x/mic.mrc", "1"), req("x/mic.mrc", "2")]).is_err());
        assert!(output_names(&[req("Mic.mrc", "1"), req("mic.mrc", "2")]).is_err());
    }
}
