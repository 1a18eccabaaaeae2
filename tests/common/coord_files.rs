//! The real coordinate and STAR files under `../shared/data/coords/` and the ucsf-1142
//! autopick STAR, for the coordinate (`tests/coords.rs`) and STAR (`tests/star.rs`) tests.

use std::path::{Path, PathBuf};

use super::data;

/// Every file under `dir` (recursively) whose extension is one of `exts`, sorted.
pub fn files(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("LICENSE")
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| exts.contains(&x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The one real STAR file whose rows have fewer values than labels.
pub const SHORT_ROWS: &str = "cryolobm/star_data/star_example.star";

pub fn coords_dir() -> PathBuf {
    data("coords")
}

pub fn ucsf_star() -> PathBuf {
    data("micrographs/ucsf-1142/Ucsf_stack_1142_DW_autopick.star")
}
