//! Training pairs for a list of micrographs, as the GUI's training panel trains on its
//! session: an even/odd pair of files beside a micrograph when one is found, else its
//! count-split halves; a micrograph already in memory (e.g. a bundled sample) is split in
//! memory. GUI-free, so any face can call [`micrograph_sources`].

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;

use crate::image::Image;
use crate::metrics::{CountSplitOptions, split_counts};

use super::pairs::PairSource;

/// One micrograph to train on.
pub enum TrainingMicrograph {
    /// A micrograph file on disk.
    File(PathBuf),
    /// A micrograph already in memory, split in memory (its `name` identifies it, e.g. for
    /// CTF matching).
    InMemory {
        /// Its name for display.
        name: String,
        /// The micrograph (counts, or any data when `force`).
        image: Image,
    },
}

/// The training pairs of `micrographs`, in order: for a file, an even/odd pair beside it when
/// found ([`crate::analysis::find_half_pair`]), else its count-split halves (split when the
/// pair is loaded); a micrograph in memory is split now by binomial count splitting
/// ([`split_counts`] with default options). `force`: split data that are not counts.
///
/// # Errors
/// A micrograph in memory cannot be split (e.g. it does not look like counts and not `force`).
pub fn micrograph_sources(
    micrographs: Vec<TrainingMicrograph>,
    force: bool,
) -> Result<Vec<PairSource>> {
    let mut sources = Vec::new();
    for micrograph in micrographs {
        match micrograph {
            TrainingMicrograph::InMemory { name, image } => {
                let split = split_counts(
                    &image,
                    &CountSplitOptions {
                        force,
                        ..Default::default()
                    },
                )?;
                sources.push(PairSource::InMemory {
                    name,
                    even: Arc::new(split.half1),
                    odd: Arc::new(split.half2),
                });
            }
            TrainingMicrograph::File(path) => {
                if let Some((even, odd)) = crate::analysis::find_half_pair(&path) {
                    sources.push(PairSource::Files { even, odd });
                } else {
                    sources.push(PairSource::CountSplit { path, force });
                }
            }
        }
    }
    Ok(sources)
}
