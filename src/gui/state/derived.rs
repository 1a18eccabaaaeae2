//! The settings of the derived views (low-pass factor, merge cutoff and edge) and the keys
//! their cached results and jobs are stored under. Floating-point settings enter keys in
//! hundredths, so that equal slider positions give equal keys.

use super::view::View;

/// `v` in hundredths, rounded (the unit of settings in keys).
pub fn hundredths(v: f32) -> u32 {
    (v * 100.0).round() as u32
}

/// The sliders of the derived views.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewSettings {
    /// Fourier-binning factor of the low-pass view.
    pub lowpass_factor: f32,
    /// The low-pass view is a Gaussian of σ [`ViewSettings::lowpass_sigma_angstrom`] instead
    /// of binning.
    pub lowpass_gaussian: bool,
    /// σ of the Gaussian low-pass, Å (restore's figures: 20 Å).
    pub lowpass_sigma_angstrom: f32,
    /// Merge cutoff (Å): denoised below this resolution, raw above.
    pub merge_cutoff_angstrom: f32,
    /// Width of the merge's soft edge (Å).
    pub merge_width_angstrom: f32,
    /// What the merge matches in the band: the amplitudes' standard deviation (default) or
    /// their RMS (`cryolens merge --band-norm`).
    pub merge_band_norm: crate::fourier::merge::BandNorm,
}

impl Default for ViewSettings {
    fn default() -> Self {
        Self {
            lowpass_factor: 4.0,
            lowpass_gaussian: false,
            lowpass_sigma_angstrom: 20.0,
            merge_cutoff_angstrom: 8.0,
            merge_width_angstrom: 4.0,
            merge_band_norm: crate::fourier::merge::BandNorm::Std,
        }
    }
}

impl ViewSettings {
    /// The low-pass of the low-pass view: binning by the factor, or the Gaussian in Å.
    pub fn lowpass(&self) -> crate::fourier::Lowpass {
        if self.lowpass_gaussian {
            crate::fourier::Lowpass::GaussianAngstrom(self.lowpass_sigma_angstrom)
        } else {
            crate::fourier::Lowpass::Bin(self.lowpass_factor)
        }
    }

    /// The key of the low-pass cache: the factor in hundredths, or for the Gaussian its σ in
    /// hundredths of Å with the top bit set.
    pub fn lowpass_key(&self) -> u32 {
        if self.lowpass_gaussian {
            (1 << 31) | hundredths(self.lowpass_sigma_angstrom)
        } else {
            hundredths(self.lowpass_factor)
        }
    }

    /// The key of the merged view of `model` at the current sliders.
    pub fn merge_key(&self, model: &'static str) -> MergeKey {
        MergeKey {
            model,
            cutoff: hundredths(self.merge_cutoff_angstrom),
            width: hundredths(self.merge_width_angstrom),
            band_norm: self.merge_band_norm,
        }
    }
}

/// What a merged view was made from: the model, the cutoff and edge width in hundredths of
/// Å, and the band normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeKey {
    /// The denoising model's name.
    pub model: &'static str,
    /// Cutoff in hundredths of Å.
    pub cutoff: u32,
    /// Edge width in hundredths of Å.
    pub width: u32,
    /// Band normalisation.
    pub band_norm: crate::fourier::merge::BandNorm,
}

/// A job on micrograph `index` with a model (denoising a micrograph or a volume).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DocModel {
    /// The micrograph's index in the session.
    pub index: usize,
    /// The model's name.
    pub model: &'static str,
}

/// A low-pass job: micrograph `index` binned by `factor` hundredths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowpassKey {
    /// The micrograph's index in the session.
    pub index: usize,
    /// Bin factor in hundredths.
    pub factor: u32,
}

/// A merge job: micrograph `index` merged as `merge` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeJobKey {
    /// The micrograph's index in the session.
    pub index: usize,
    /// Model, cutoff and edge width.
    pub merge: MergeKey,
}

/// What the comparison panes' curves were computed for: micrograph index, the panes' views,
/// the models, the settings in hundredths, and the forced count split.
#[derive(Clone, Debug, PartialEq)]
pub struct PaneCurvesKey {
    /// The micrograph's index in the session.
    pub index: usize,
    /// The view of each pane.
    pub panes: Vec<View>,
    /// The selected model.
    pub model: Option<&'static str>,
    /// The model of each pane (its own for a denoised pane that has one, else the selected).
    pub pane_models: Vec<Option<&'static str>>,
    /// Low-pass factor in hundredths.
    pub lowpass: u32,
    /// Merge cutoff in hundredths of Å.
    pub merge_cutoff: u32,
    /// Merge edge width in hundredths of Å.
    pub merge_width: u32,
    /// Merge band normalisation.
    pub merge_band_norm: crate::fourier::merge::BandNorm,
    /// Ring width of the curves in hundredths.
    pub ring_width: u32,
    /// Whether the count split was forced.
    pub force_split: bool,
}
