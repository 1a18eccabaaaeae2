//! How 2D training data are cut into crops and batches ([`DataOptions`], recorded in
//! checkpoints and in the model's JSON), which part is held out ([`Holdout`]) and what one
//! batch holds ([`Batch`]).

use serde::{Deserialize, Serialize};

use crate::models::format::RestorePreprocessing;

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
    /// Accept halves whose pixel sizes disagree or are implausible
    /// ([`crate::sampling`]); `false` refuses them.
    #[serde(default)]
    pub force_sampling: bool,
    /// Z-score every crop of each half by its own mean and standard deviation (restore,
    /// Palovcak et al. 2020, supplement S2.1: patches are normalised one by one), on top of
    /// the whole-micrograph normalisation every pair gets (Topaz). Off in records written
    /// before this option existed.
    #[serde(default)]
    pub normalise_patches: bool,
}

impl Default for DataOptions {
    /// Crop 800, batch 4, holdout 0.1, augmentation on, seed 0, 4 cached pairs, 8 validation
    /// crops, no restore preprocessing, whole-micrograph normalisation only (Topaz's).
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
            force_sampling: false,
            normalise_patches: false,
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
