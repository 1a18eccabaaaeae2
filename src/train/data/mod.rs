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
//! cached; [`crops`]: [`TrainingData`], the holdout, seeded batches and validation crops;
//! [`options`]: how data are cut ([`DataOptions`]), what is held out ([`Holdout`]), a batch;
//! [`sources`]: the pairs for a list of micrographs (an even/odd pair found beside each, else
//! count splitting), as the GUI's training panel builds them.

pub mod crops;
pub mod options;
pub mod pairs;
pub mod sources;

pub use crops::{TrainingData, crop_transformed};
pub use options::{Batch, DataOptions, Holdout};
pub use pairs::{
    LoadedPair, PairSource, PairStore, Preprocessor, count_split_sources, load_pair,
    load_pair_with, pairs_from_dir, pairs_from_lists,
};
