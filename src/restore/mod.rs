//! Palovcak et al.'s `restore` pipeline (IUCrJ 2020, "Enhancing the signal-to-noise ratio and
//! generating contrast for cryo-EM images with convolutional neural networks"; supplement
//! S2.1-S2.4): Fourier cropping to a maximum resolution, band-pass, CTF phase flipping and
//! unbinning ([`preprocess`]); the WDSR U-net is in [`crate::models::wdsr`] and the merge of
//! denoised and raw images in [`crate::fourier::merge`].

pub mod preprocess;

pub use preprocess::{
    DEFAULT_MAX_RESOLUTION_ANGSTROM, PreprocessConfig, Preprocessed, UNBIN_MAX_EDGE_FRACTION,
    UNBIN_SOFT_EDGE_PX, bandpass, binned_shape, fourier_crop_to_resolution, phase_flip, preprocess,
    unbin, unbin_soft_edge,
};

/// Errors of the restore pipeline.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RestoreError {
    /// The image has no pixel size, so resolutions in Å cannot be placed.
    #[error(
        "the micrograph has no pixel size (Å/px); restore's resolutions are in Å, so set the pixel size"
    )]
    UnknownPixelSize,
    /// A parameter is out of range.
    #[error("{what} must be a finite number > 0 (got {value})")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// The image is empty or holds NaN/inf.
    #[error("the image is empty or holds non-finite values")]
    BadImage,
    /// Unbinning to a shape smaller than the binned image.
    #[error(
        "cannot unbin a {binned_width}×{binned_height} image to the smaller {width}×{height}; unbinning only pads"
    )]
    ShapeTooSmall {
        /// Binned columns.
        binned_width: usize,
        /// Binned rows.
        binned_height: usize,
        /// Requested columns.
        width: usize,
        /// Requested rows.
        height: usize,
    },
    /// Invalid CTF parameters.
    #[error("{0}")]
    Ctf(String),
}
