//! Noise-Transfer2Clean (Li et al. 2022): the parts that make its training data.
//!
//! - [`patches`]: the background (pure-noise) patches of a micrograph, found on its coarse-
//!   denoised copy by the similarity of each patch's local patches (§2.2.2, eq. 3).
//! - [`reweight`]: a simulated clean patch and a noise patch made into a clean-noisy pair
//!   with the contrast of the simulated noisy patch (§2.2.3, eq. 4; what we solve, and the
//!   modulation we chose, are in its docs).
//!
//! - [`gan`]: the WGAN-GP noise synthesiser (§2.1.2, eq. 2) trained on the background
//!   patches, with a first-derivative form of the gradient penalty (its docs say how).
//!
//! - [`pipeline`]: the whole method, from real micrographs and an atomic model to a
//!   registered fine denoiser (`cryolens nt2c`): simulated pairs ([`crate::simulate`]), the
//!   coarse denoiser, the patches, the synthesiser, the re-weighted pairs, the fine denoiser.
//! - [`artefacts`]: a work folder read back, for the GUI's stage views.

pub mod artefacts;
pub mod gan;
pub mod patches;
pub mod pipeline;
pub mod reweight;

pub use patches::{BackgroundPatch, PatchSettings, cut_patches, find_background_patches};
pub use pipeline::{Nt2cReport, Nt2cRun, Nt2cSettings, run_nt2c};
pub use reweight::{Reweighted, reweight};
