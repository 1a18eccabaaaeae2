//! One micrograph's full signal/noise analysis, as the GUI's analysis panel shows it and
//! `cryolens analyze` writes it: where its two independent halves come from (an even/odd pair
//! found beside it, or binomial count splitting), the SNR table (Frank & Al-Ali; Palovcak et
//! al. 2020 supplement eq. 15–20, 23; Topaz's even/odd SNR), and the per-frequency curves
//! (rotational power spectra, FRC and SSNR of raw / denoised / low-passed halves, and the
//! signal, noise and bias power of eq. 24).
//!
//! Half-maps of a 3D reconstruction ([`halfmap`]: FSC report, synthetic half-maps with known
//! per-shell SNR) live here too.
//!
//! By file: [`halves`] (where the two halves come from), [`micrograph`] (the analysis and its
//! CSV), [`pane_curves`] (the comparison panes' curves), [`section`] (which 2D image of a
//! file is shown, and its display statistics), [`titration`] (SNR against exposure by binomial
//! thinning, Topaz-Denoise Results 3).

pub mod halfmap;
pub mod halves;
pub mod micrograph;
pub mod pane_curves;
pub mod section;
pub mod titration;

pub use halves::{HalvesSource, find_half_pair, halves_for, read_half_pair};
pub use micrograph::{Analysis, AnalysisInput, DenoisedAnalysis, SPECTRUM_TILE, Spectrum, analyze};
pub use pane_curves::{
    PaneCurves, PaneFilter, PaneSpec, PaneView, comparison_pane_curves, pane_curves,
};
pub use titration::{Titration, TitrationPoint, parse_fractions, titrate};
