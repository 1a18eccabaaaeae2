//! The ways of looking at a micrograph (the toolbar's views, keys 1 to 4).

/// The ways of looking at a micrograph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    /// The micrograph as read.
    Raw,
    /// Denoised by the selected Topaz model.
    Denoised,
    /// Low-passed by Fourier binning.
    Lowpass,
    /// Denoised low frequencies merged with raw high frequencies (restore, Palovcak et al.
    /// 2020 S2.4), cutoff and edge width in Å from the side panel.
    Merged,
}

impl View {
    /// All views, in toolbar order (keys 1, 2, 3).
    pub const ALL: [View; 4] = [View::Raw, View::Denoised, View::Lowpass, View::Merged];

    /// Toolbar label (also the accessible name of its button).
    pub fn name(self) -> &'static str {
        match self {
            View::Raw => "Raw",
            View::Denoised => "Denoised",
            View::Lowpass => "Low-pass",
            View::Merged => "Merged",
        }
    }

    /// Its position in [`View::ALL`] (indexes the per-view contrast).
    pub fn index(self) -> usize {
        match self {
            View::Raw => 0,
            View::Denoised => 1,
            View::Lowpass => 2,
            View::Merged => 3,
        }
    }
}
