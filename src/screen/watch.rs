//! Following the folder a microscope writes into: which micrographs have arrived and are
//! complete, in arrival order ([`FolderWatch`]).
//!
//! The watch polls (lists the folders) rather than waiting for file-system events: the
//! microscope's share is often mounted over SMB or NFS, where change events do not arrive,
//! and completeness has to be judged by polling anyway. A file is taken when it is
//! *complete*: its size and modification time have not changed for the settle time, and for
//! MRC its header is readable and the file holds all the data the header declares
//! ([`crate::io::mrc::read_info`]). Files are handed out in arrival order (modification time,
//! then path), at most `batch` per poll, so the queue in memory stays bounded; the rest wait
//! for the next poll. A file deleted before it was complete is forgotten.
//!
//! Layouts: a plain folder of micrographs; EPU (`Images-Disc1/GridSquare_*/Data/*.mrc`):
//! below a `GridSquare_*` folder only the exposures in `Data` folders are taken, not the
//! grid-square and foil-hole overview images; SerialEM folders of `.mrc`/`.tif` files.
//! Movies (`*_Fractions.*`, `*.eer`), even/odd half sums (`_EVN`, `_ODD`, `_even`, `_odd`)
//! and anything under `skip` (the screening output folder) are never taken.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// File extensions taken as micrographs.
pub const MICROGRAPH_EXTENSIONS: [&str; 4] = ["mrc", "mrcs", "tif", "tiff"];

/// Whether `path` is a micrograph the watch takes (see the module docs for the layouts).
pub fn is_screenable(path: &Path) -> bool {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return false;
    };
    if !MICROGRAPH_EXTENSIONS
        .iter()
        .any(|m| m.eq_ignore_ascii_case(ext))
    {
        return false;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.ends_with("_Fractions") || is_half(&stem) {
        return false;
    }
    // Warp's half averages: `average/even/`, `average/odd/`.
    let (even, odd) = crate::analysis::halves::WARP_HALF_FOLDERS;
    if path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|d| d == even || d == odd)
    {
        return false;
    }
    // EPU: below GridSquare_* only Data/ holds exposures.
    let components: Vec<String> = path
        .parent()
        .map(|p| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    match components
        .iter()
        .rposition(|c| c.starts_with("GridSquare_"))
    {
        Some(i) => components[i + 1..].iter().any(|c| c == "Data"),
        None => true,
    }
}

/// Whether a stem ends with an even/odd half suffix.
fn is_half(stem: &str) -> bool {
    crate::io::EVEN_ODD_SUFFIXES
        .iter()
        .any(|(e, o)| stem.ends_with(e) || stem.ends_with(o))
}

/// Whether the file at `path` holds all its data: for MRC, a readable header
/// whose data fits in the file; other formats only by the settle time.
fn header_complete(path: &Path) -> bool {
    let is_mrc = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("mrc") || e.eq_ignore_ascii_case("mrcs"));
    !is_mrc || crate::io::mrc::read_info(path).is_ok()
}

/// What was last seen of a file that is not taken yet.
#[derive(Clone, Copy, Debug)]
struct Seen {
    size: u64,
    modified: SystemTime,
    /// When size and time were first seen at these values.
    since: Instant,
}

/// A poll-based watch of folders for complete micrographs (see the module docs).
#[derive(Debug)]
pub struct FolderWatch {
    roots: Vec<PathBuf>,
    skip: Vec<PathBuf>,
    settle: Duration,
    batch: usize,
    pending: HashMap<PathBuf, Seen>,
    taken: HashSet<PathBuf>,
}

impl FolderWatch {
    /// Watches `roots` (and their sub-folders), never taking files under `skip`; a file is
    /// complete after `settle` without change; at most `batch` (≥ 1) files per poll.
    pub fn new(roots: Vec<PathBuf>, skip: Vec<PathBuf>, settle: Duration, batch: usize) -> Self {
        Self {
            roots,
            skip,
            settle,
            batch: batch.max(1),
            pending: HashMap::new(),
            taken: HashSet::new(),
        }
    }

    /// Marks `path` as already handled (e.g. screened by an earlier run), so it is never
    /// handed out.
    pub fn mark_taken(&mut self, path: PathBuf) {
        self.pending.remove(&path);
        self.taken.insert(path);
    }

    /// Files seen but not complete or not handed out yet.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Lists the folders once and returns the files that became complete, oldest first, at
    /// most `batch` of them. Unreadable folders are skipped (a share that drops out comes
    /// back on a later poll).
    pub fn poll(&mut self) -> Vec<PathBuf> {
        self.poll_at(Instant::now())
    }

    fn poll_at(&mut self, now: Instant) -> Vec<PathBuf> {
        let mut present = HashSet::new();
        let roots = self.roots.clone();
        for root in &roots {
            self.scan(root, now, &mut present);
        }
        // Deleted before completion: forget.
        self.pending.retain(|p, _| present.contains(p));
        let mut ready: Vec<(SystemTime, PathBuf)> = self
            .pending
            .iter()
            .filter(|(_, s)| now.duration_since(s.since) >= self.settle)
            .map(|(p, s)| (s.modified, p.clone()))
            .collect();
        ready.sort();
        let mut out = Vec::new();
        for (_, path) in ready {
            if out.len() == self.batch {
                break;
            }
            if header_complete(&path) {
                self.pending.remove(&path);
                self.taken.insert(path.clone());
                out.push(path);
            }
        }
        out
    }

    fn scan(&mut self, dir: &Path, now: Instant, present: &mut HashSet<PathBuf>) {
        let skip = self.skip.clone();
        walk(dir, &skip, 0, &mut |path, meta| {
            if self.taken.contains(path) {
                return;
            }
            present.insert(path.to_path_buf());
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            let size = meta.len();
            let fresh = Seen {
                size,
                modified,
                since: now,
            };
            match self.pending.get_mut(path) {
                Some(seen) if seen.size == size && seen.modified == modified => {}
                Some(seen) => *seen = fresh,
                None => {
                    self.pending.insert(path.to_path_buf(), fresh);
                }
            }
        });
    }
}

/// Every micrograph below `roots` that the watch would take ([`is_screenable`]), complete or
/// not, sorted by path; nothing under `skip`.
pub fn list_micrographs(roots: &[PathBuf], skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for root in roots {
        walk(root, skip, 0, &mut |path, _| out.push(path.to_path_buf()));
    }
    out.sort();
    out.dedup();
    out
}

/// Calls `found` for each screenable file below `dir` (sub-folders to a depth of 6: EPU's
/// exposures are 3 below the session), skipping folders under `skip` and unreadable ones.
fn walk(
    dir: &Path,
    skip: &[PathBuf],
    depth: usize,
    found: &mut dyn FnMut(&Path, &std::fs::Metadata),
) {
    if depth > 6 || skip.iter().any(|s| dir.starts_with(s)) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            walk(&path, skip, depth + 1, found);
        } else if meta.is_file() && is_screenable(&path) {
            found(&path, &meta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_take_exposures_only() {
        for (path, taken) in [
            ("mics/a.mrc", true),
            ("mics/a.tiff", true),
            ("mics/a.txt", false),
            ("mics/a_EVN.mrc", false),
            ("mics/a_odd.mrc", false),
            ("mics/a_DW.mrc", true),
            ("mics/a_Fractions.tiff", false),
            (
                "s/Images-Disc1/GridSquare_1/Data/FoilHole_2_Data_3_4.mrc",
                true,
            ),
            (
                "s/Images-Disc1/GridSquare_1/FoilHoles/FoilHole_2.mrc",
                false,
            ),
            ("s/Images-Disc1/GridSquare_1/GridSquare_1.mrc", false),
            // Warp: the averages are exposures, their even/odd halves are not.
            ("warp/average/mic_0001.mrc", true),
            ("warp/average/even/mic_0001.mrc", false),
            ("warp/average/odd/mic_0001.mrc", false),
        ] {
            assert_eq!(is_screenable(Path::new(path)), taken, "{path}");
        }
    }

    #[test]
    fn files_are_taken_once_settled_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let settle = Duration::from_secs(10);
        let mut w = FolderWatch::new(vec![d.to_path_buf()], vec![d.join("out")], settle, 1);
        std::fs::write(d.join("b.tif"), b"bbbb").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(d.join("a.tif"), b"aaaa").unwrap();
        std::fs::create_dir(d.join("out")).unwrap();
        std::fs::write(d.join("out").join("c.tif"), b"c").unwrap();
        let t0 = Instant::now();
        assert!(w.poll_at(t0).is_empty(), "first sight is not settled");
        // Settled: b (older) first, one per poll.
        assert_eq!(w.poll_at(t0 + settle), vec![d.join("b.tif")]);
        assert_eq!(w.poll_at(t0 + settle), vec![d.join("a.tif")]);
        assert!(
            w.poll_at(t0 + settle * 2).is_empty(),
            "taken once; out/ skipped"
        );
        assert_eq!(w.waiting(), 0);
    }

    #[test]
    fn growing_and_deleted_files_wait_or_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let settle = Duration::from_secs(5);
        let mut w = FolderWatch::new(vec![d.to_path_buf()], Vec::new(), settle, 8);
        let t0 = Instant::now();
        std::fs::write(d.join("grow.tif"), b"12").unwrap();
        std::fs::write(d.join("gone.tif"), b"12").unwrap();
        assert!(w.poll_at(t0).is_empty());
        std::fs::write(d.join("grow.tif"), b"1234").unwrap();
        std::fs::remove_file(d.join("gone.tif")).unwrap();
        // grow.tif changed size: its settle time starts again; gone.tif is forgotten.
        assert!(w.poll_at(t0 + settle).is_empty());
        assert_eq!(w.waiting(), 1);
        assert_eq!(w.poll_at(t0 + settle * 2), vec![d.join("grow.tif")]);
    }

    #[test]
    fn partial_mrc_waits_for_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let full = d.join("full.mrc");
        let image = crate::image::Image::new(16, 16, vec![1.0; 256]).unwrap();
        crate::io::mrc::write_image(&full, &image).unwrap();
        let bytes = std::fs::read(&full).unwrap();
        // A copy cut short (the microscope still writing): the header declares more data.
        std::fs::write(d.join("partial.mrc"), &bytes[..bytes.len() - 100]).unwrap();
        let mut w = FolderWatch::new(vec![d.to_path_buf()], Vec::new(), Duration::ZERO, 8);
        assert_eq!(w.poll(), vec![full.clone()]);
        assert_eq!(w.waiting(), 1, "the partial file is still waiting");
        std::fs::write(d.join("partial.mrc"), &bytes).unwrap();
        assert_eq!(w.poll(), vec![d.join("partial.mrc")]);
    }
}
