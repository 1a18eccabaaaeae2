//! The micrographs a picking session opens: a folder, a glob pattern, a RELION micrographs
//! STAR or a single file ([`expand_input`]).

use std::path::{Path, PathBuf};

use super::{PickingError, exchange};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matching() {
        assert!(glob_match("*.mrc", "a_EVN.mrc"));
        assert!(glob_match("mic_??.tif", "mic_01.tif"));
        assert!(!glob_match("mic_??.tif", "mic_1.tif"));
        assert!(!glob_match("*.mrc", "a.mrcs"));
        assert!(glob_match("*", ""));
    }
}
