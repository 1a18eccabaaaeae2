//! Training data for noise2noise: pairs of independent halves of the same exposure, random
//! crops with the same rotation/mirror on both halves, a held-out part for validation, and
//! micrographs streamed from disk through a small LRU cache.
//!
//! Source: Bepler et al. 2020 (Topaz-Denoise), Methods "Training": pairs of even/odd frame
//! sums, each micrograph normalised by its own mean and standard deviation, random 800 px
//! crops in batches of 4, random 90° rotations and mirrors; a fraction of the micrograph pairs
//! held out for validation. Single exposures are split into two halves by binomial count
//! splitting ([`crate::metrics::split_counts`], Poisson thinning).
//!
//! For restore's WDSR U-net (Palovcak et al. 2020, supplement S2.1) both halves of every pair
//! are first Fourier cropped to a pixel size of max_resolution/2, band-passed and optionally
//! phase flipped ([`RestorePreprocessing`], [`crate::restore::preprocess()`]), then normalised
//! and cropped like any pair.
//!
//! Everything random is a function of `(seed, step)` only (one [`crate::rng::Rng::stream`] per crop), so
//! a run resumed from a checkpoint sees exactly the batches an uninterrupted run would.
//!
//! [`pairs`]: where pairs come from and how they are read, preprocessed, normalised and
//! cached; [`crops`]: [`TrainingData`], the holdout, seeded batches and validation crops.

pub mod crops;
pub mod pairs;

use serde::{Deserialize, Serialize};

use crate::models::format::RestorePreprocessing;

pub use crops::{TrainingData, crop_transformed};
pub use pairs::{
    LoadedPair, PAIR_SUFFIXES, PairSource, PairStore, Preprocessor, count_split_sources, load_pair,
    load_pair_with, pairs_from_dir, pairs_from_lists,
};

/// How the data are cut into crops and batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataOptions {
    /// Square crop side in px (Topaz: 800).
    pub crop_px: usize,
    /// Crop pairs per step (Topaz: 4).
    pub batch: usize,
    /// Fraction held out for validation, in [0, 1): whole pairs when there are enough of them
    /// (at least one held out and one left), else the bottom rows of every micrograph.
    pub holdout_fraction: f64,
    /// Random rotations by multiples of 90° and mirroring (same on both halves).
    pub augment: bool,
    /// Seed of every random choice (crops, transforms, order, count splits).
    pub seed: u64,
    /// Loaded pairs kept in memory.
    pub cache_pairs: usize,
    /// Fixed validation crops (from the held-out data, no augmentation).
    pub validation_crops: usize,
    /// restore's preprocessing of both halves before cropping (`None`: the halves as read).
    #[serde(default)]
    pub restore: Option<RestorePreprocessing>,
}

impl Default for DataOptions {
    /// Crop 800, batch 4, holdout 0.1, augmentation on, seed 0, 4 cached pairs, 8 validation
    /// crops.
    fn default() -> Self {
        Self {
            crop_px: 800,
            batch: 4,
            holdout_fraction: 0.1,
            augment: true,
            seed: 0,
            cache_pairs: 4,
            validation_crops: 8,
            restore: None,
        }
    }
}

/// Which part of the data is held out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Holdout {
    /// These pair indices are validation pairs; the others train.
    Pairs(Vec<usize>),
    /// Rows `[first_row, height)` of every micrograph are held out; training crops lie in rows
    /// above. `fraction` is the held-out fraction of rows.
    BottomRows {
        /// Fraction of each micrograph's rows held out.
        fraction: f64,
    },
    /// Nothing held out (holdout fraction 0): validation uses training pairs.
    None,
}

/// A batch of crops: `inputs` and `targets` are `[n, 1, crop, crop]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Half-A crops.
    pub a: Vec<f32>,
    /// Half-B crops, same positions and transforms.
    pub b: Vec<f32>,
    /// Crops in the batch.
    pub n: usize,
    /// Crop side in px.
    pub crop_px: usize,
}
