//! restore's preprocessing and unbinning (Palovcak et al. 2020, supplement S2.1 and S2.3).
//!
//! Before denoising, a micrograph is
//! 1. Fourier cropped so its pixel size becomes `max_resolution / 2` Å, i.e. its Nyquist
//!    frequency becomes 1/`max_resolution` Å⁻¹ ([`fourier_crop_to_resolution`]; never
//!    upsampled: a micrograph already that coarse keeps its size);
//! 2. band-passed: frequencies below 1/200 Å⁻¹ (ice-thickness gradients) and beyond the new
//!    Nyquist frequency (the corners of the square spectrum) are removed ([`bandpass`]);
//! 3. optionally phase flipped: its Fourier transform is multiplied by the sign of the CTF
//!    ([`phase_flip`]).
//!
//! The three act on the cropped spectrum only, so they commute; [`preprocess`] does 2 and 3
//! in one Fourier pass. After denoising, [`unbin`] zero-pads the spectrum back to the original
//! size with a soft low-pass at the binned Nyquist frequency, and optionally flips the phases
//! back (S2.3). Values are not normalised here (the denoisers normalise).
//!
//! Images are row-major `width × height` (see [`crate::image`]); all frequencies are radial,
//! s = √(sx² + sy²) in Å⁻¹.

use super::RestoreError;
use crate::ctf::Ctf;
use crate::fourier::merge::{HalfSpectrum, apply_gain};
use crate::fourier::{fourier_crop, fourier_pad};
use crate::image::Image;

/// The low-frequency edge of the band-pass rises from 1/`highpass_angstrom` to
/// (1 + this) / `highpass_angstrom` (200 Å → 160 Å with the default), as a raised cosine;
/// everything at or below 1/`highpass_angstrom` is zero.
pub const HIGHPASS_EDGE_FRACTION: f64 = 0.25;

/// Width of the unbinning soft edge in Fourier pixels of the full-size micrograph (1/(N p),
/// N the longer side): restore's released `denoise.py` default (`--softmask_width 100`). The
/// mask is 1 up to this many Fourier pixels inside the binned Nyquist frequency and falls to 0
/// at it as a quarter sine period.
pub const UNBIN_SOFT_EDGE_PX: f64 = 100.0;

/// The soft edge is at most this fraction of the binned Nyquist radius: for small images
/// (under ~400 Fourier pixels of radius) 100 px would damp the whole band, which the released
/// code does; we keep the edge inside the outer quarter instead.
pub const UNBIN_MAX_EDGE_FRACTION: f64 = 0.25;

/// The unbinning mask at `u` Fourier pixels inside the binned Nyquist radius, for an edge
/// `width` Fourier pixels wide: 0 at or beyond the radius, cos(π/2 · (width − 1 − u)/(width − 1))
/// in the edge (restore's released soft mask: sin from π/2 down to 0 over the edge, 1 from
/// one pixel inside it), 1 further in.
pub fn unbin_soft_edge(u: f64, width: f64) -> f64 {
    if u <= 0.0 {
        0.0
    } else if width <= 1.0 || u >= width - 1.0 {
        1.0
    } else {
        (std::f64::consts::FRAC_PI_2 * (width - 1.0 - u) / (width - 1.0)).cos()
    }
}

/// Default highest resolution kept, Å: 3.0, the band limit Palovcak et al. (2020, section 3.2)
/// gave the T20S proteasome training data (binned pixel size 1.5 Å).
pub const DEFAULT_MAX_RESOLUTION_ANGSTROM: f64 = 3.0;

/// restore's preprocessing parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreprocessConfig {
    /// Highest resolution kept, Å (restore's `--max_resolution`; default 3.0, the band limit
    /// the paper used for the T20S proteasome data); the binned pixel size is half of it.
    pub max_resolution_angstrom: f64,
    /// Frequencies below 1/this (Å⁻¹) are removed (200 Å in the paper).
    pub highpass_angstrom: f64,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        Self {
            max_resolution_angstrom: DEFAULT_MAX_RESOLUTION_ANGSTROM,
            highpass_angstrom: 200.0,
        }
    }
}

/// A preprocessed micrograph and what is needed to undo the binning.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessed {
    /// The binned, band-passed (and phase-flipped, if a CTF was given) image, with its new
    /// pixel size.
    pub image: Image,
    /// Columns of the original micrograph.
    pub original_width: usize,
    /// Rows of the original micrograph.
    pub original_height: usize,
    /// Pixel size of the original micrograph, Å/px.
    pub original_pixel_size_angstrom: f32,
    /// Whether the phases were flipped.
    pub phase_flipped: bool,
}

fn pixel_size(image: &Image) -> Result<f64, RestoreError> {
    image
        .pixel_size_angstrom
        .filter(|p| p.is_finite() && *p > 0.0)
        .map(f64::from)
        .ok_or(RestoreError::UnknownPixelSize)
}

fn check_image(image: &Image) -> Result<(), RestoreError> {
    if image.width == 0
        || image.height == 0
        || image.data.len() != image.width * image.height
        || image.data.iter().any(|v| !v.is_finite())
    {
        return Err(RestoreError::BadImage);
    }
    Ok(())
}

fn positive(what: &'static str, value: f64) -> Result<f64, RestoreError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(RestoreError::InvalidParameter { what, value })
    }
}

/// The shape after Fourier cropping a `width × height` image of pixel size
/// `pixel_size_angstrom` to a pixel size of `max_resolution_angstrom / 2`: each side
/// becomes round(n · p / p′) (at least 1), or stays when the image is already that coarse
/// (p ≥ p′: never upsampled). Returns (width′, height′, pixel size′) where pixel size′ =
/// p · width / width′ (the y sampling differs from it by less than 1/(2 · height′)).
///
/// # Errors
/// [`RestoreError::InvalidParameter`] for a pixel size or resolution that is not finite > 0.
pub fn binned_shape(
    width: usize,
    height: usize,
    pixel_size_angstrom: f64,
    max_resolution_angstrom: f64,
) -> Result<(usize, usize, f64), RestoreError> {
    let p = positive("pixel size (Å)", pixel_size_angstrom)?;
    let target = positive("max resolution (Å)", max_resolution_angstrom)? / 2.0;
    if p >= target || width == 0 || height == 0 {
        return Ok((width, height, p));
    }
    let side = |n: usize| ((n as f64 * p / target).round() as usize).clamp(1, n);
    let (w, h) = (side(width), side(height));
    Ok((w, h, p * width as f64 / w as f64))
}

/// Fourier crop (S2.1) so the pixel size becomes `max_resolution_angstrom / 2` (see
/// [`binned_shape`]); the mean is kept and the result carries its new pixel size. An image
/// already at least that coarse comes back unchanged.
///
/// # Errors
/// [`RestoreError::UnknownPixelSize`], [`RestoreError::InvalidParameter`],
/// [`RestoreError::BadImage`].
pub fn fourier_crop_to_resolution(
    image: &Image,
    max_resolution_angstrom: f64,
) -> Result<Image, RestoreError> {
    check_image(image)?;
    let p = pixel_size(image)?;
    let (w, h, new_p) = binned_shape(image.width, image.height, p, max_resolution_angstrom)?;
    if (w, h) == (image.width, image.height) {
        return Ok(image.clone());
    }
    let mut out = fourier_crop(image, w, h);
    out.pixel_size_angstrom = Some(new_p as f32);
    Ok(out)
}

/// Band-pass gain at s (Å⁻¹): 0 at or below `s_low`, a raised cosine up to 1 at
/// (1 + [`HIGHPASS_EDGE_FRACTION`]) · `s_low`, 1 up to `s_nyquist`, 0 beyond it.
fn bandpass_gain(s: f64, s_low: f64, s_nyquist: f64) -> f64 {
    let s_full = (1.0 + HIGHPASS_EDGE_FRACTION) * s_low;
    if s <= s_low || s > s_nyquist {
        0.0
    } else if s >= s_full {
        1.0
    } else {
        0.5 * (1.0 - (std::f64::consts::PI * (s - s_low) / (s_full - s_low)).cos())
    }
}

/// +1 where the CTF is ≥ 0, −1 where it is negative (a zero counts as +1, so flipping twice is
/// the identity and the mean survives a CTF that vanishes at s = 0).
fn ctf_sign(ctf: &Ctf, sx: f64, sy: f64) -> f64 {
    if ctf.value(sx, sy) < 0.0 { -1.0 } else { 1.0 }
}

fn validate_ctf(ctf: &Ctf) -> Result<(), RestoreError> {
    ctf.validate().map_err(|e| RestoreError::Ctf(e.to_string()))
}

/// The spectrum of `image` multiplied by `gain(sx, sy)` (Å⁻¹), transformed back.
fn filter_radial(image: &Image, p: f64, gain: impl Fn(f64, f64) -> f64 + Sync) -> Image {
    let mut spec = HalfSpectrum::of(image);
    apply_gain(&mut spec.data, image.width, image.height, p, gain);
    spec.to_image(image.pixel_size_angstrom)
}

/// Band-pass of S2.1: removes every frequency at or below 1/`highpass_angstrom` Å⁻¹ (the mean
/// included; soft edge up to (1 + [`HIGHPASS_EDGE_FRACTION`]) times that frequency) and every
/// frequency beyond the image's Nyquist frequency 1/(2p) (the corners of the spectrum). Shape
/// and pixel size are kept.
///
/// # Errors
/// [`RestoreError::UnknownPixelSize`], [`RestoreError::InvalidParameter`],
/// [`RestoreError::BadImage`].
pub fn bandpass(image: &Image, highpass_angstrom: f64) -> Result<Image, RestoreError> {
    check_image(image)?;
    let p = pixel_size(image)?;
    let s_low = 1.0 / positive("high-pass resolution (Å)", highpass_angstrom)?;
    let s_nyq = 0.5 / p;
    Ok(filter_radial(image, p, |sx, sy| {
        bandpass_gain((sx * sx + sy * sy).sqrt(), s_low, s_nyq)
    }))
}

/// CTF phase flipping (S2.1): the Fourier transform is multiplied by the sign of the CTF at
/// each frequency (see [`crate::ctf`] for the convention; a CTF of exactly 0 counts as +1).
/// Applying it twice gives the image back. Shape and pixel size are kept.
///
/// # Errors
/// [`RestoreError::UnknownPixelSize`], [`RestoreError::BadImage`], [`RestoreError::Ctf`].
pub fn phase_flip(image: &Image, ctf: &Ctf) -> Result<Image, RestoreError> {
    check_image(image)?;
    validate_ctf(ctf)?;
    let p = pixel_size(image)?;
    Ok(filter_radial(image, p, |sx, sy| ctf_sign(ctf, sx, sy)))
}

/// restore's preprocessing (S2.1): [`fourier_crop_to_resolution`], then in one Fourier pass
/// [`bandpass`] and, when `ctf` is given, [`phase_flip`]. The result's pixel size is the
/// binned one; the original shape and pixel size are kept for [`unbin`].
///
/// # Errors
/// [`RestoreError::UnknownPixelSize`], [`RestoreError::InvalidParameter`],
/// [`RestoreError::BadImage`], [`RestoreError::Ctf`].
pub fn preprocess(
    image: &Image,
    config: &PreprocessConfig,
    ctf: Option<&Ctf>,
) -> Result<Preprocessed, RestoreError> {
    check_image(image)?;
    let p0 = pixel_size(image)?;
    if let Some(c) = ctf {
        validate_ctf(c)?;
    }
    let s_low = 1.0 / positive("high-pass resolution (Å)", config.highpass_angstrom)?;
    let binned = fourier_crop_to_resolution(image, config.max_resolution_angstrom)?;
    let p = pixel_size(&binned)?;
    let s_nyq = 0.5 / p;
    let out = filter_radial(&binned, p, |sx, sy| {
        let g = bandpass_gain((sx * sx + sy * sy).sqrt(), s_low, s_nyq);
        match ctf {
            Some(c) if g != 0.0 => g * ctf_sign(c, sx, sy),
            _ => g,
        }
    });
    Ok(Preprocessed {
        image: out,
        original_width: image.width,
        original_height: image.height,
        original_pixel_size_angstrom: p0 as f32,
        phase_flipped: ctf.is_some(),
    })
}

/// Unbinning (S2.3): the spectrum of `binned` is zero-padded to `width × height`, multiplied
/// by restore's soft mask ([`unbin_soft_edge`]): 1 up to [`UNBIN_SOFT_EDGE_PX`] Fourier pixels
/// (at most [`UNBIN_MAX_EDGE_FRACTION`] of the radius) inside the binned Nyquist frequency
/// 1/(2 p_binned), falling to 0 at it; when `flip_back` is given, the binned
/// spectrum is first multiplied by the sign of that CTF on the binned grid (undoing the flip
/// of [`preprocess`] exactly). The result is `width × height`
/// with pixel size `pixel_size_angstrom` (the original micrograph's); the mean is kept.
///
/// # Errors
/// [`RestoreError::UnknownPixelSize`] (binned image without pixel size),
/// [`RestoreError::InvalidParameter`], [`RestoreError::ShapeTooSmall`],
/// [`RestoreError::BadImage`], [`RestoreError::Ctf`].
pub fn unbin(
    binned: &Image,
    width: usize,
    height: usize,
    pixel_size_angstrom: f32,
    flip_back: Option<&Ctf>,
) -> Result<Image, RestoreError> {
    check_image(binned)?;
    let pb = pixel_size(binned)?;
    let p = positive("pixel size (Å)", pixel_size_angstrom as f64)?;
    if width < binned.width || height < binned.height {
        return Err(RestoreError::ShapeTooSmall {
            binned_width: binned.width,
            binned_height: binned.height,
            width,
            height,
        });
    }
    // The flip back is applied on the binned grid, with the binned pixel size, exactly as
    // [`preprocess`] flipped: the two use the same sign for every coefficient, so they cancel
    // exactly. (On the padded grid the frequencies along y differ from the binned ones by up
    // to 1/(2 · binned height) relative, as the binned pixels are not exactly square, and
    // coefficients near a CTF zero would get the other sign.)
    let flipped;
    let binned = match flip_back {
        Some(c) => {
            validate_ctf(c)?;
            flipped = filter_radial(binned, pb, |sx, sy| ctf_sign(c, sx, sy));
            &flipped
        }
        None => binned,
    };
    let mut padded = fourier_pad(binned, width, height);
    padded.pixel_size_angstrom = Some(pixel_size_angstrom);
    let s_nyq = 0.5 / pb;
    // One Fourier pixel of the full-size grid, 1/Å (the finer axis).
    let fourier_px = 1.0 / (width.max(height) as f64 * p);
    let radius_px = s_nyq / fourier_px;
    let edge_px = UNBIN_SOFT_EDGE_PX.min(UNBIN_MAX_EDGE_FRACTION * radius_px);
    Ok(filter_radial(&padded, p, |sx, sy| {
        let s = (sx * sx + sy * sy).sqrt();
        unbin_soft_edge((s_nyq - s) / fourier_px, edge_px)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The released soft mask: 0 at the cutoff, 1 from `width − 1` pixels inside it, a quarter
    /// sine period between, rising monotonically.
    #[test]
    fn soft_edge_is_the_released_quarter_sine() {
        let w = UNBIN_SOFT_EDGE_PX;
        assert_eq!(unbin_soft_edge(0.0, w), 0.0);
        assert_eq!(unbin_soft_edge(-3.0, w), 0.0);
        assert_eq!(unbin_soft_edge(w - 1.0, w), 1.0);
        assert_eq!(unbin_soft_edge(5.0 * w, w), 1.0);
        let mid = unbin_soft_edge((w - 1.0) / 2.0, w);
        assert!(
            (mid - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12,
            "{mid}"
        );
        let values: Vec<f64> = (0..=100).map(|i| unbin_soft_edge(i as f64, w)).collect();
        assert!(values.windows(2).all(|v| v[1] >= v[0]));
    }
}
