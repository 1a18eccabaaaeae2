//! Fourier basics: Fourier cropping/padding, Topaz's binning low-pass, Gaussian low-pass,
//! averaged power spectra and their rotational averages.
//!
//! Conventions. Images are `height` rows (y) × `width` columns (x), row-major (see
//! [`crate::image`]). Spatial frequencies are in cycles per pixel (−0.5…0.5) unless stated;
//! with a pixel size `p` Å/px, `f` cycles/px is `f / p` Å⁻¹. Transforms are real FFTs from
//! `realfft` (complex ones from `rustfft`), with plans cached per thread, run row by row and
//! column by column in parallel with `rayon` (every filter here is separable, so a 2D filter
//! is a filter of the rows followed by one of the columns).
//!
//! None of these functions panic on any input image: an image with a zero dimension comes
//! back unchanged, invalid parameters (non-finite or non-positive sizes) return a copy or an
//! error as documented.

pub mod band_norm;
mod fft;
pub mod merge;

pub(crate) use fft::rfft2;

use rayon::prelude::*;

use crate::image::Image;

/// Errors of the Fourier functions that depend on metadata.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FourierError {
    /// The image has no pixel size, so a length in Å cannot be turned into pixels.
    #[error(
        "the image has no pixel size (Å/px), so a size in Å cannot be used; set the pixel size or give the size in pixels"
    )]
    UnknownPixelSize,
    /// A size parameter is not a finite positive number.
    #[error("{what} must be a finite number > 0 (got {value})")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: f32,
    },
}

/// Pixel size after resampling `w × h` to `new_w × new_h`: scaled by the x ratio when x and y
/// are scaled alike (within 0.1 %), else `None` (the pixels would not be square).
fn resampled_pixel_size(
    ps: Option<f32>,
    w: usize,
    h: usize,
    new_w: usize,
    new_h: usize,
) -> Option<f32> {
    let ps = ps?;
    let rx = w as f64 / new_w as f64;
    let ry = h as f64 / new_h as f64;
    ((rx - ry).abs() <= 1e-3 * rx).then_some((ps as f64 * rx) as f32)
}

/// Band-limited resampling of an image to `new_w × new_h` pixels by Fourier cropping (smaller)
/// or zero-padding (larger) of its spectrum, independently along x and y.
///
/// The mean is kept exactly (DC scaled by the size ratio), so values stay in the input's
/// units. The pixel size scales by `width / new_w` (e.g. halving the size doubles Å/px); it
/// becomes `None` if x and y are scaled by different ratios. Along an axis whose smaller size
/// `m` is even, the frequency ±m/2 is folded into one bin when cropping (2·Re) and split evenly
/// when padding, so [`fourier_pad`] then [`fourier_crop`] back is the identity, and crop then
/// pad is the identity for images with no content at or above the cropped Nyquist frequency.
/// Sizes of 0 are treated as 1. An image with a zero dimension is returned unchanged.
pub fn fourier_resample(image: &Image, new_w: usize, new_h: usize) -> Image {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || image.data.len() != w * h {
        return image.clone();
    }
    let (new_w, new_h) = (new_w.max(1), new_h.max(1));
    let (data, _, _) = fft::separable(
        &image.data,
        w,
        h,
        |rows, n| {
            if n == new_w {
                (rows.to_vec(), n)
            } else {
                (fft::resample_lines(rows, n, new_w), new_w)
            }
        },
        |cols, n| {
            if n == new_h {
                (cols.to_vec(), n)
            } else {
                (fft::resample_lines(cols, n, new_h), new_h)
            }
        },
    );
    Image {
        width: new_w,
        height: new_h,
        data,
        pixel_size_angstrom: resampled_pixel_size(image.pixel_size_angstrom, w, h, new_w, new_h),
    }
}

/// Fourier crop ("Fourier binning") to `new_w × new_h` pixels (each no larger than the input
/// for a crop; larger sizes pad, see [`fourier_resample`]). Keeps frequencies below the new
/// Nyquist, the mean, and scales the pixel size by `width / new_w`.
pub fn fourier_crop(image: &Image, new_w: usize, new_h: usize) -> Image {
    fourier_resample(image, new_w, new_h)
}

/// Zero-pads the spectrum to `w × h` pixels (band-limited interpolation; each no smaller than
/// the input for a pad, see [`fourier_resample`]). Keeps the mean; the pixel size scales by
/// `width / w` (finer sampling).
pub fn fourier_pad(image: &Image, w: usize, h: usize) -> Image {
    fourier_resample(image, w, h)
}

/// Topaz's "binning by `factor`" low-pass (`topaz denoise --lowpass`): every spatial
/// frequency with |fx| > 0.5/`factor` or |fy| > 0.5/`factor` cycles/px is set to zero, the rest
/// kept unchanged; the result has the input's shape, pixel size and mean.
///
/// Semantics follow `lowpass(x, factor)` in Topaz's `topaz/denoise.py` (v0.3.20): a box mask on
/// `fftfreq` frequencies applied to the real FFT, and no filtering when `factor ≤ 1`. This is
/// a Fourier crop to the (odd) size `2·⌊n/(2·factor)⌋ + 1` along each axis followed by a
/// zero-pad back to the full size for display, i.e. the image binned by `factor` and
/// interpolated back. `factor ≤ 1` or not finite returns a copy.
pub fn bin_lowpass(image: &Image, factor: f32) -> Image {
    let (w, h) = (image.width, image.height);
    if !(factor.is_finite() && factor > 1.0) || w == 0 || h == 0 || image.data.len() != w * h {
        return image.clone();
    }
    let cutoff = 0.5 / factor as f64;
    filter_axes(image, |f| if f > cutoff { 0.0 } else { 1.0 })
}

/// Gaussian low-pass with real-space standard deviation `sigma_px` pixels, applied in Fourier
/// space: the spectrum is multiplied by exp(−2π²σ²f²) (f in cycles/px), the transform of a
/// unit-sum Gaussian of σ pixels, so the result is the (periodic) convolution of the image
/// with that Gaussian. The mean is kept. `sigma_px ≤ 0` or not finite returns a copy.
pub fn gaussian_lowpass(image: &Image, sigma_px: f32) -> Image {
    let (w, h) = (image.width, image.height);
    if !(sigma_px.is_finite() && sigma_px > 0.0) || w == 0 || h == 0 || image.data.len() != w * h {
        return image.clone();
    }
    let s2 = 2.0 * std::f64::consts::PI.powi(2) * (sigma_px as f64).powi(2);
    filter_axes(image, |f| (-s2 * f * f).exp() as f32)
}

/// `image` through a separable Fourier filter: along the rows, then along the columns, the
/// component of frequency f = k/n cycles/px (bin k of a line of n pixels) multiplied by
/// `gain(f)`, the same gain on both axes. Same shape and pixel size; the caller checks that
/// `image.data` holds `width × height` values.
fn filter_axes(image: &Image, gain: impl Fn(f64) -> f32 + Sync) -> Image {
    let (w, h) = (image.width, image.height);
    let line = |n: usize| {
        let gain = &gain;
        move |k: usize| gain(k as f64 / n as f64)
    };
    let (data, _, _) = fft::separable(
        &image.data,
        w,
        h,
        |rows, n| (fft::filter_lines(rows, n, &line(n)), n),
        |cols, n| (fft::filter_lines(cols, n, &line(n)), n),
    );
    Image {
        width: w,
        height: h,
        data,
        pixel_size_angstrom: image.pixel_size_angstrom,
    }
}

/// Gaussian low-pass with real-space σ in Å: σ_px = `sigma_angstrom` / pixel size, then
/// [`gaussian_lowpass`].
///
/// # Errors
/// [`FourierError::UnknownPixelSize`] if the image has no pixel size;
/// [`FourierError::InvalidParameter`] if `sigma_angstrom` is not finite and > 0.
pub fn gaussian_lowpass_angstrom(
    image: &Image,
    sigma_angstrom: f32,
) -> Result<Image, FourierError> {
    if !(sigma_angstrom.is_finite() && sigma_angstrom > 0.0) {
        return Err(FourierError::InvalidParameter {
            what: "sigma (Å)",
            value: sigma_angstrom,
        });
    }
    let ps = image
        .pixel_size_angstrom
        .filter(|p| p.is_finite() && *p > 0.0)
        .ok_or(FourierError::UnknownPixelSize)?;
    Ok(gaussian_lowpass(image, sigma_angstrom / ps))
}

/// A low-pass filter chosen by the user: Topaz's binning or a Gaussian of σ in Å.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lowpass {
    /// Topaz's binning low-pass by this factor ([`bin_lowpass`]; Topaz's figures use 16).
    Bin(f32),
    /// A Gaussian of this real-space σ in Å ([`gaussian_lowpass_angstrom`]; restore's
    /// figures use 1/20 Å⁻¹, Topaz's σ = 8 px).
    GaussianAngstrom(f32),
}

impl Lowpass {
    /// Applies the filter (shape, pixel size and mean kept).
    ///
    /// # Errors
    /// For a Gaussian: an image without pixel size ([`FourierError::UnknownPixelSize`]) or σ
    /// not > 0 ([`FourierError::InvalidParameter`]).
    pub fn apply(&self, image: &Image) -> Result<Image, FourierError> {
        match *self {
            Lowpass::Bin(f) => Ok(bin_lowpass(image, f)),
            Lowpass::GaussianAngstrom(s) => gaussian_lowpass_angstrom(image, s),
        }
    }

    /// A short label ("binned 16×", "Gaussian σ 20 Å").
    pub fn describe(&self) -> String {
        match *self {
            Lowpass::Bin(f) => format!("binned {f}×"),
            Lowpass::GaussianAngstrom(s) => format!("Gaussian σ {s} Å"),
        }
    }
}

/// Taper applied to each tile before its transform in [`power_spectrum_linear`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Window {
    /// No taper (rectangular window).
    None,
    /// Periodic Hann window w(i) = ½ − ½·cos(2πi/n) along x and y (Welch's method).
    #[default]
    Hann,
}

fn window_weights(window: Window, n: usize) -> Vec<f32> {
    match window {
        Window::None => vec![1.0; n],
        Window::Hann => (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect(),
    }
}

/// Tile start positions along an axis of `len` pixels: every `tile/2` pixels (50 % overlap)
/// while the tile fits; one tile at 0 (zero-padded) when the image is smaller than the tile.
fn tile_starts(len: usize, tile: usize) -> Vec<usize> {
    if len <= tile {
        return vec![0];
    }
    let step = (tile / 2).max(1);
    (0..=len - tile).step_by(step).collect()
}

/// Averaged periodogram (Welch's method) of `tile × tile` tiles with 50 % overlap, each tile
/// mean-subtracted and multiplied by `window`, in linear units and centred.
///
/// Shape `tile × tile`; DC is at pixel (x, y) = (tile/2, tile/2) (as numpy's `fftshift`), and
/// pixel (x, y) holds frequency ((x − tile/2)/tile, (y − tile/2)/tile) cycles/px. Values are a
/// power spectral density per pixel: mean over tiles of |FFT|² / Σ window², so white noise of
/// variance σ² gives a flat σ². The result's `pixel_size_angstrom` is the *input's real-space*
/// pixel size (so that frequency in Å⁻¹ is the above divided by it). An image smaller than the
/// tile is zero-padded (after mean subtraction) into a single tile. `tile` below 2 is taken
/// as 2. An image with a zero dimension gives a zero spectrum.
pub fn power_spectrum_linear(image: &Image, tile: usize, window: Window) -> Image {
    let t = tile.max(2);
    let (w, h) = (image.width, image.height);
    let mut out = Image::zeros(t, t).with_pixel_size(image.pixel_size_angstrom);
    if w == 0 || h == 0 || image.data.len() != w * h {
        return out;
    }
    let win = window_weights(window, t);
    let win_sq: f64 = {
        let s: f64 = win.iter().map(|&v| (v as f64) * (v as f64)).sum();
        s * s
    };
    let xs = tile_starts(w, t);
    let ys = tile_starts(h, t);
    let starts: Vec<(usize, usize)> = ys
        .iter()
        .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
        .collect();
    let n_tiles = starts.len();
    let hw = t / 2 + 1;
    // Sum over tiles of |F(kx, ky)|² in f64, for kx = 0..=t/2 (index [kx * t + ky]).
    let sum = starts
        .par_iter()
        .fold(
            || {
                (
                    vec![0.0f64; hw * t],
                    vec![0.0f32; t * t],
                    fft::TilePower::new(t),
                )
            },
            |(mut acc, mut buf, mut power), &(x0, y0)| {
                let tw = t.min(w - x0);
                let th = t.min(h - y0);
                let mut mean = 0.0f64;
                for y in y0..y0 + th {
                    mean += image.data[y * w + x0..y * w + x0 + tw]
                        .iter()
                        .map(|&v| v as f64)
                        .sum::<f64>();
                }
                let mean = (mean / (tw * th) as f64) as f32;
                buf.iter_mut().for_each(|v| *v = 0.0);
                for y in 0..th {
                    let row = &image.data[(y0 + y) * w + x0..(y0 + y) * w + x0 + tw];
                    for (x, &v) in row.iter().enumerate() {
                        buf[y * t + x] = (v - mean) * win[x] * win[y];
                    }
                }
                power.accumulate(&mut buf, &mut acc);
                (acc, buf, power)
            },
        )
        .map(|(acc, _, _)| acc)
        .reduce(
            || vec![0.0f64; hw * t],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let norm = 1.0 / (n_tiles as f64 * win_sq.max(f64::MIN_POSITIVE));
    let half = t / 2;
    for kx in 0..t {
        for ky in 0..t {
            // Negative kx: the conjugate mirror P(−kx, −ky) = P(kx, ky) of a real input.
            let p = if kx < hw {
                sum[kx * t + ky]
            } else {
                sum[(t - kx) * t + (t - ky) % t]
            };
            let x = (kx + half) % t;
            let y = (ky + half) % t;
            out.data[y * t + x] = (p * norm) as f32;
        }
    }
    out
}

/// log10 of a linear centred spectrum (from [`power_spectrum_linear`]), for display.
///
/// Values are floored at 10⁻¹² × the spectrum's mean (at least the smallest normal `f32`, so
/// zeros give a finite dark value),
/// and the DC pixel, which is ~0 after mean subtraction, is replaced by the mean of its four
/// neighbours so it does not dominate the contrast. Shape and pixel size are kept.
pub fn log_spectrum(linear: &Image) -> Image {
    let mean = crate::image::stats_of(&linear.data)
        .mean
        .max(f64::MIN_POSITIVE);
    let floor = ((mean * 1e-12) as f32).max(f32::MIN_POSITIVE);
    let mut out = linear.clone();
    out.data
        .iter_mut()
        .for_each(|v| *v = if v.is_finite() { v.max(floor) } else { floor }.log10());
    let (w, h) = (out.width, out.height);
    if w >= 3 && h >= 3 && out.data.len() == w * h {
        let (cx, cy) = (w / 2, h / 2);
        let n = [(cx - 1, cy), (cx + 1, cy), (cx, cy - 1), (cx, cy + 1)];
        let avg = n.iter().map(|&(x, y)| out.data[y * w + x]).sum::<f32>() / 4.0;
        out.data[cy * w + cx] = avg;
    }
    out
}

/// Power spectrum for display: [`power_spectrum_linear`] with a Hann window (Welch's method,
/// `tile × tile` tiles with 50 % overlap, each mean-subtracted), then [`log_spectrum`] (log10,
/// DC pixel replaced by its neighbours' mean).
///
/// Shape `tile × tile` (tile below 2 is taken as 2), DC in the middle at (tile/2, tile/2),
/// `pixel_size_angstrom` = the input's real-space pixel size.
pub fn power_spectrum(image: &Image, tile: usize) -> Image {
    log_spectrum(&power_spectrum_linear(image, tile, Window::Hann))
}

/// Rotational (azimuthal) average of a linear centred spectrum (from
/// [`power_spectrum_linear`], DC at (width/2, height/2)).
///
/// Returns `(frequency, mean power)` per ring, rings of integer radius r = 0, 1, … up to
/// the Nyquist ring n/2 (n = min(width, height); corners beyond are left out). Pixel (x, y) is
/// at frequency √(((x − w/2)/w)² + ((y − h/2)/h)²) cycles/px and lands in ring
/// round(frequency · n). Frequencies are r/n in cycles/px when `pixel_size_angstrom` is
/// `None`, or r/(n · pixel size) in Å⁻¹ when given (and finite > 0). Empty rings are omitted.
pub fn rotational_average(
    spectrum_linear: &Image,
    pixel_size_angstrom: Option<f32>,
) -> Vec<(f32, f32)> {
    let (w, h) = (spectrum_linear.width, spectrum_linear.height);
    if w == 0 || h == 0 || spectrum_linear.data.len() != w * h {
        return Vec::new();
    }
    let n = w.min(h);
    let rings = n / 2 + 1;
    let mut sum = vec![0.0f64; rings];
    let mut count = vec![0usize; rings];
    let (cx, cy) = ((w / 2) as f64, (h / 2) as f64);
    for y in 0..h {
        let fy = (y as f64 - cy) / h as f64;
        for x in 0..w {
            let fx = (x as f64 - cx) / w as f64;
            let r = ((fx * fx + fy * fy).sqrt() * n as f64).round() as usize;
            if r < rings {
                sum[r] += spectrum_linear.data[y * w + x] as f64;
                count[r] += 1;
            }
        }
    }
    let scale = match pixel_size_angstrom.filter(|p| p.is_finite() && *p > 0.0) {
        Some(p) => 1.0 / (n as f64 * p as f64),
        None => 1.0 / n as f64,
    };
    (0..rings)
        .filter(|&r| count[r] > 0)
        .map(|r| ((r as f64 * scale) as f32, (sum[r] / count[r] as f64) as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> Image {
        Image::new(
            w,
            h,
            (0..w * h).map(|i| ((i * 7919) % 101) as f32).collect(),
        )
        .unwrap()
    }

    #[test]
    fn resample_identity_and_pad_crop_identity() {
        for (w, h) in [(8, 6), (7, 5), (9, 10), (1, 1), (1, 4)] {
            let im = ramp(w, h);
            let same = fourier_resample(&im, w, h);
            for (a, b) in same.data.iter().zip(&im.data) {
                assert!((a - b).abs() < 1e-3, "{w}x{h}");
            }
            let back = fourier_crop(&fourier_pad(&im, 2 * w + 1, 2 * h), w, h);
            for (a, b) in back.data.iter().zip(&im.data) {
                assert!((a - b).abs() < 1e-3, "{w}x{h}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let empty = Image::zeros(0, 0);
        assert_eq!(bin_lowpass(&empty, 2.0), empty);
        assert_eq!(gaussian_lowpass(&empty, 2.0), empty);
        assert_eq!(fourier_crop(&empty, 4, 4), empty);
        let ps = power_spectrum(&empty, 8);
        assert_eq!((ps.width, ps.height), (8, 8));
        let one = Image::new(1, 1, vec![3.0]).unwrap();
        assert_eq!(bin_lowpass(&one, 4.0).data, vec![3.0]);
        assert_eq!(gaussian_lowpass(&one, 4.0).data, vec![3.0]);
        let ps = power_spectrum(&one, 0);
        assert!(ps.data.iter().all(|v| v.is_finite()));
        assert_eq!(bin_lowpass(&one, f32::NAN), one);
        assert!(rotational_average(&empty, None).is_empty());
    }

    #[test]
    fn transpose_roundtrip() {
        let v: Vec<f32> = (0..35).map(|i| i as f32).collect();
        let t = fft::transpose(&v, 5, 7);
        assert_eq!(t[1], v[7]); // (row 1, col 0) -> (row 0, col 1)
        assert_eq!(fft::transpose(&t, 7, 5), v);
    }

    #[test]
    fn angstrom_sigma_needs_pixel_size() {
        let im = ramp(8, 8);
        assert_eq!(
            gaussian_lowpass_angstrom(&im, 3.0).unwrap_err(),
            FourierError::UnknownPixelSize
        );
        assert!(matches!(
            gaussian_lowpass_angstrom(&im, -1.0),
            Err(FourierError::InvalidParameter { .. })
        ));
        let im = im.with_pixel_size(Some(1.5));
        let a = gaussian_lowpass_angstrom(&im, 3.0).unwrap();
        let b = gaussian_lowpass(&im, 2.0);
        assert_eq!(a, b);
    }
}
