//! Merging a denoised image with the raw one in Fourier space (Palovcak et al. 2020,
//! supplement S2.4), and the half-plane spectrum helpers the radial (non-separable) filters of
//! `restore` need: the inverse of `fourier::rfft2` and the frequency of each half-plane bin.
//!
//! # The merge
//! The denoised image keeps the low frequencies, the raw image the high ones:
//!
//! M(s) = L(s) · k · D(s) + (1 − L(s)) · R(s),  s ≠ 0;   M(0) = D(0),
//!
//! with D, R the Fourier transforms of the denoised and raw images, s the spatial frequency in
//! Å⁻¹, and L a radial soft-edged low-pass whose complementary high-pass is 1 − L (so the two
//! filters sum to one at every frequency). The edge (the *merge band*) spans the resolutions
//! from `cutoff + width` Å down to `cutoff` Å, i.e. s₁ = 1/(cutoff + width) to
//! s₂ = 1/cutoff Å⁻¹ (as restore's `--merge_resolution`/`--merge_width`): L = 1 for s ≤ s₁,
//! L = 0 for s ≥ s₂ and a raised cosine L = ½(1 + cos(π (s − s₁)/(s₂ − s₁))) in between.
//!
//! Normalisation (S2.4): the denoised amplitudes are scaled by one factor
//! k = std(|R(s)|) / std(|D(s)|), both standard deviations taken over the Fourier components
//! strictly inside the merge band (0 < L < 1), so the spread of the denoised amplitudes
//! there equals the raw image's and no step in amplitude appears where the two meet. The mean
//! (s = 0) is the denoised image's, unscaled. [`Merger::merge_with_norm`] offers the other
//! reading of S2.4, the ratio of RMS amplitudes ([`BandNorm`]).

use rayon::prelude::*;
use realfft::num_complex::Complex;

pub use super::band_norm::BandNorm;
use super::band_norm::BandStats;
use super::fft;
use crate::image::Image;

/// The inverse of [`super::rfft2`]: a real `width × height` row-major image from its half
/// spectrum in `rfft2`'s layout (`[kx * height + ky]`, kx = 0..=width/2), divided by
/// `width · height` so that `irfft2(rfft2(x)) = x`. The imaginary parts of the
/// self-conjugate bins (kx = 0 and, for even width, kx = width/2) are taken as Hermitian
/// (only their real-signal part is used). Empty when the length does not fit.
pub(crate) fn irfft2(spectrum: &[Complex<f32>], width: usize, height: usize) -> Vec<f32> {
    let hw = width / 2 + 1;
    if width == 0 || height == 0 || spectrum.len() != hw * height {
        return Vec::new();
    }
    // Inverse complex transforms along y of every kx column: conj(FFT(conj(x))).
    let mut cols = spectrum.to_vec();
    cols.par_chunks_mut(height).with_min_len(8).for_each_init(
        || {
            let plan = fft::forward(height);
            (
                vec![Complex::new(0.0f32, 0.0); plan.get_inplace_scratch_len()],
                plan,
            )
        },
        |(scratch, plan), col| {
            col.iter_mut().for_each(|c| *c = c.conj());
            plan.process_with_scratch(col, scratch);
            col.iter_mut().for_each(|c| *c = c.conj());
        },
    );
    let rows = fft::transpose(&cols, hw, height);
    let norm = 1.0 / (width as f32 * height as f32);
    let mut out = vec![0.0f32; width * height];
    out.par_chunks_mut(width)
        .zip(rows.par_chunks(hw))
        .with_min_len(8)
        .for_each_init(
            || {
                let plan = fft::c2r(width);
                (plan.make_input_vec(), plan.make_scratch_vec(), plan)
            },
            |(input, scratch, plan), (line, row)| {
                input.copy_from_slice(row);
                input[0].im = 0.0;
                if width.is_multiple_of(2) {
                    input[hw - 1].im = 0.0;
                }
                // Lengths are right by construction, so the transform cannot fail.
                let _ = plan.process_with_scratch(input, line, scratch);
                line.iter_mut().for_each(|v| *v *= norm);
            },
        );
    out
}

/// Signed frequency index along an axis of `n` samples for bin `k` (k ≤ n/2 positive, above
/// negative, `fftfreq`'s convention with the even Nyquist bin counted positive).
#[inline]
pub(crate) fn signed_index(k: usize, n: usize) -> f64 {
    if k <= n / 2 {
        k as f64
    } else {
        k as f64 - n as f64
    }
}

/// Weight of half-plane column `kx` when a statistic over the *full* plane is wanted: 1 for
/// the self-conjugate columns (kx = 0, and kx = width/2 for even width), 2 for the others
/// (they stand for their mirror too).
#[inline]
pub(crate) fn column_weight(kx: usize, width: usize) -> f64 {
    if kx == 0 || (width.is_multiple_of(2) && kx == width / 2) {
        1.0
    } else {
        2.0
    }
}

/// Multiplies every bin of a half spectrum (`rfft2` layout of a `width × height` image,
/// pixel size `pixel_size_angstrom`) by `gain(sx, sy)`, sx, sy in Å⁻¹. Parallel over columns.
///
/// `gain` must be even (g(−s) = g(s), true of radial filters and of the CTF). The Nyquist
/// column (kx = width/2, even width) stands for both +sx and −sx, so there sy is taken as
/// |sy|: its bins ky and −ky get the same gain and the spectrum stays that of a real image
/// (otherwise the inverse transform would drop part of it, and a sign flip applied twice
/// would not give the image back).
pub(crate) fn apply_gain(
    spectrum: &mut [Complex<f32>],
    width: usize,
    height: usize,
    pixel_size_angstrom: f64,
    gain: impl Fn(f64, f64) -> f64 + Sync,
) {
    if height == 0 {
        return;
    }
    let dx = 1.0 / (width as f64 * pixel_size_angstrom);
    let dy = 1.0 / (height as f64 * pixel_size_angstrom);
    spectrum
        .par_chunks_mut(height)
        .enumerate()
        .for_each(|(kx, col)| {
            let sx = kx as f64 * dx;
            let nyquist_column = width.is_multiple_of(2) && kx == width / 2;
            for (ky, c) in col.iter_mut().enumerate() {
                let sy = signed_index(ky, height) * dy;
                let sy = if nyquist_column { sy.abs() } else { sy };
                let g = gain(sx, sy) as f32;
                *c *= g;
            }
        });
}

/// The non-redundant half of the 2D discrete Fourier transform of a real image, in the layout
/// of the crate's real FFT: `data[kx * height + ky]` is the coefficient of (kx, ky),
/// kx = 0..=width/2, ky = 0..height (ky above height/2 are the negative frequencies
/// ky − height); the omitted half is the conjugate mirror F(−kx, −ky) = F(kx, ky)*.
/// Unnormalised forward transform (F(0, 0) = sum of the pixels).
#[derive(Clone, Debug, PartialEq)]
pub struct HalfSpectrum {
    /// Columns (x) of the image.
    pub width: usize,
    /// Rows (y) of the image.
    pub height: usize,
    /// `(width/2 + 1) * height` coefficients, column-major in kx.
    pub data: Vec<Complex<f32>>,
}

impl HalfSpectrum {
    /// The transform of `image` (empty data for an image with a zero dimension).
    pub fn of(image: &Image) -> Self {
        Self {
            width: image.width,
            height: image.height,
            data: super::rfft2(&image.data, image.width, image.height),
        }
    }

    /// The inverse transform: the real image (pixel size `pixel_size_angstrom`).
    pub fn to_image(&self, pixel_size_angstrom: Option<f32>) -> Image {
        Image {
            width: self.width,
            height: self.height,
            data: irfft2(&self.data, self.width, self.height),
            pixel_size_angstrom,
        }
    }

    /// The coefficient at signed frequency indices (`kx` ≥ 0 up to width/2; `ky` from
    /// −height/2 to height/2), `None` outside.
    pub fn get(&self, kx: usize, ky: i64) -> Option<Complex<f32>> {
        let h = self.height as i64;
        if kx > self.width / 2 || ky.abs() > h / 2 || h == 0 {
            return None;
        }
        self.data
            .get(kx * self.height + ky.rem_euclid(h) as usize)
            .copied()
    }

    /// Spatial frequency (sx, sy) in Å⁻¹ of storage bin (kx, ky) for a pixel size in Å.
    pub fn frequency(&self, kx: usize, ky: usize, pixel_size_angstrom: f64) -> (f64, f64) {
        (
            kx as f64 / (self.width as f64 * pixel_size_angstrom),
            signed_index(ky, self.height) / (self.height as f64 * pixel_size_angstrom),
        )
    }
}

/// Errors of [`merge`].
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MergeError {
    /// The two images differ in shape.
    #[error(
        "raw image is {raw_width}×{raw_height} but the denoised one is {denoised_width}×{denoised_height} (x×y); merge needs the same shape"
    )]
    ShapeMismatch {
        /// Raw columns.
        raw_width: usize,
        /// Raw rows.
        raw_height: usize,
        /// Denoised columns.
        denoised_width: usize,
        /// Denoised rows.
        denoised_height: usize,
    },
    /// Both images give a pixel size and they differ by more than 0.1 %.
    #[error(
        "raw pixel size {raw} Å differs from the denoised image's {denoised} Å; merge needs the same sampling"
    )]
    PixelSizeMismatch {
        /// Raw pixel size, Å.
        raw: f32,
        /// Denoised pixel size, Å.
        denoised: f32,
    },
    /// Neither image has a pixel size, so cutoff and width in Å cannot be placed.
    #[error(
        "neither image has a pixel size (Å/px), so the merge cutoff in Å cannot be placed; set the pixel size"
    )]
    UnknownPixelSize,
    /// A parameter is not a finite positive number.
    #[error("{what} must be a finite number > 0 (got {value})")]
    InvalidParameter {
        /// Which parameter.
        what: &'static str,
        /// The value given.
        value: f32,
    },
    /// The merge band holds no Fourier component of this image (it lies beyond Nyquist or is
    /// thinner than one Fourier pixel), so the normalisation is undefined.
    #[error(
        "the merge band {from_angstrom:.2}–{to_angstrom:.2} Å holds {components} Fourier components of this image (Nyquist {nyquist_angstrom:.2} Å); widen it or move the cutoff below Nyquist"
    )]
    EmptyBand {
        /// Low-frequency end of the band, Å.
        from_angstrom: f64,
        /// High-frequency end of the band, Å.
        to_angstrom: f64,
        /// Components found inside.
        components: usize,
        /// The image's Nyquist resolution, Å.
        nyquist_angstrom: f64,
    },
    /// Either image is empty or holds NaN/inf.
    #[error("{0} image is empty or holds non-finite values")]
    BadImage(&'static str),
}

/// The complementary radial filters of the merge: [`MergeFilter::lowpass`] for the denoised
/// image and [`MergeFilter::highpass`] = 1 − lowpass for the raw one (module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MergeFilter {
    /// Start of the merge band (L = 1 below), Å⁻¹: 1/(cutoff + width).
    pub band_start_inv_angstrom: f64,
    /// End of the merge band (L = 0 above), Å⁻¹: 1/cutoff.
    pub band_end_inv_angstrom: f64,
}

impl MergeFilter {
    /// The band from resolution `cutoff_angstrom + width_angstrom` to `cutoff_angstrom`.
    ///
    /// # Errors
    /// [`MergeError::InvalidParameter`] unless both are finite and > 0.
    pub fn new(cutoff_angstrom: f32, width_angstrom: f32) -> Result<Self, MergeError> {
        for (what, value) in [
            ("merge cutoff (Å)", cutoff_angstrom),
            ("merge edge width (Å)", width_angstrom),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(MergeError::InvalidParameter { what, value });
            }
        }
        Ok(Self {
            band_start_inv_angstrom: 1.0 / (cutoff_angstrom as f64 + width_angstrom as f64),
            band_end_inv_angstrom: 1.0 / cutoff_angstrom as f64,
        })
    }

    /// Low-pass gain at spatial frequency `s` (Å⁻¹): 1 below the band, 0 above, raised
    /// cosine inside.
    pub fn lowpass(&self, s: f64) -> f64 {
        let (s1, s2) = (self.band_start_inv_angstrom, self.band_end_inv_angstrom);
        if s <= s1 {
            1.0
        } else if s >= s2 {
            0.0
        } else {
            0.5 * (1.0 + (std::f64::consts::PI * (s - s1) / (s2 - s1)).cos())
        }
    }

    /// High-pass gain at `s` (Å⁻¹): 1 − [`MergeFilter::lowpass`].
    pub fn highpass(&self, s: f64) -> f64 {
        1.0 - self.lowpass(s)
    }

    /// Whether `s` (Å⁻¹) lies strictly inside the merge band (0 < L < 1).
    pub fn in_band(&self, s: f64) -> bool {
        s > self.band_start_inv_angstrom && s < self.band_end_inv_angstrom
    }
}

/// What [`merge_with_report`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MergeReport {
    /// The factor k applied to the denoised spectrum (s ≠ 0).
    pub scale: f64,
    /// Standard deviation of the raw image's Fourier amplitudes inside the band.
    pub raw_band_amplitude_std: f64,
    /// Standard deviation of the (unscaled) denoised image's Fourier amplitudes inside it.
    pub denoised_band_amplitude_std: f64,
    /// RMS of the raw image's Fourier amplitudes inside the band.
    pub raw_band_amplitude_rms: f64,
    /// RMS of the (unscaled) denoised image's Fourier amplitudes inside it.
    pub denoised_band_amplitude_rms: f64,
    /// Which of the two the factor equalises.
    pub band_norm: BandNorm,
    /// Fourier components (full plane) inside the band.
    pub band_components: usize,
    /// Pixel size used, Å/px.
    pub pixel_size_angstrom: f32,
    /// The filters.
    pub filter: MergeFilter,
}

/// [`BandStats`] of a half spectrum (`rfft2` layout of a `width × height` image of pixel size
/// `pixel` Å) inside `filter`'s band, each half-plane column weighted for the full plane.
pub(crate) fn band_stats(
    spectrum: &[Complex<f32>],
    width: usize,
    height: usize,
    pixel: f64,
    filter: &MergeFilter,
) -> BandStats {
    let dx = 1.0 / (width as f64 * pixel);
    let dy = 1.0 / (height as f64 * pixel);
    let (mut w_sum, mut sum, mut sum2, mut count) = (0.0f64, 0.0f64, 0.0f64, 0usize);
    for (kx, col) in spectrum.chunks(height).enumerate() {
        let sx = kx as f64 * dx;
        let w = column_weight(kx, width);
        for (ky, c) in col.iter().enumerate() {
            let sy = signed_index(ky, height) * dy;
            if filter.in_band((sx * sx + sy * sy).sqrt()) {
                let a = c.norm() as f64;
                w_sum += w;
                sum += w * a;
                sum2 += w * a * a;
                count += w as usize;
            }
        }
    }
    if w_sum == 0.0 {
        return BandStats::default();
    }
    let mean = sum / w_sum;
    BandStats {
        std: (sum2 / w_sum - mean * mean).max(0.0).sqrt(),
        rms: (sum2 / w_sum).sqrt(),
        components: count,
    }
}

/// Merges `denoised` (low frequencies) into `raw` (high frequencies), Palovcak et al. 2020
/// supplement S2.4; see the module documentation for the filters and the normalisation.
///
/// Both images are `width × height`, row-major; the result has that shape and the pixel size
/// used. `cutoff_angstrom` is the resolution (Å) above which only raw information remains,
/// `width_angstrom` the width of the soft edge towards lower resolution (band from
/// `cutoff + width` to `cutoff` Å).
///
/// The pixel size is the raw image's, or the denoised image's when the raw has none (denoisers
/// may drop it).
///
/// # Errors
/// [`MergeError::ShapeMismatch`], [`MergeError::PixelSizeMismatch`] (both known and differing by
/// more than 0.1 %), [`MergeError::UnknownPixelSize`], [`MergeError::InvalidParameter`],
/// [`MergeError::EmptyBand`], [`MergeError::BadImage`].
pub fn merge(
    raw: &Image,
    denoised: &Image,
    cutoff_angstrom: f32,
    width_angstrom: f32,
) -> Result<Image, MergeError> {
    merge_with_report(raw, denoised, cutoff_angstrom, width_angstrom).map(|(m, _)| m)
}

/// [`merge`], also returning the normalisation it applied.
///
/// # Errors
/// As [`merge`].
pub fn merge_with_report(
    raw: &Image,
    denoised: &Image,
    cutoff_angstrom: f32,
    width_angstrom: f32,
) -> Result<(Image, MergeReport), MergeError> {
    MergeFilter::new(cutoff_angstrom, width_angstrom)?;
    Merger::new(raw, denoised)?.merge(cutoff_angstrom, width_angstrom)
}

/// The two spectra of a raw/denoised pair, transformed once, so that merges with other
/// cutoffs and widths (the GUI's sliders) cost one inverse transform each:
/// `Merger::new(raw, denoised)?.merge(cutoff, width)` equals [`merge_with_report`].
#[derive(Clone, Debug)]
pub struct Merger {
    raw: HalfSpectrum,
    denoised: HalfSpectrum,
    pixel_size_angstrom: f32,
}

impl Merger {
    /// Checks the pair (shape, pixel size, finite values) and transforms both images. The
    /// pixel size is the raw image's, or the denoised image's when the raw has none.
    ///
    /// # Errors
    /// [`MergeError::ShapeMismatch`], [`MergeError::PixelSizeMismatch`],
    /// [`MergeError::UnknownPixelSize`], [`MergeError::BadImage`].
    pub fn new(raw: &Image, denoised: &Image) -> Result<Self, MergeError> {
        if (raw.width, raw.height) != (denoised.width, denoised.height) {
            return Err(MergeError::ShapeMismatch {
                raw_width: raw.width,
                raw_height: raw.height,
                denoised_width: denoised.width,
                denoised_height: denoised.height,
            });
        }
        let valid = |p: Option<f32>| p.filter(|p| p.is_finite() && *p > 0.0);
        let pixel = match (
            valid(raw.pixel_size_angstrom),
            valid(denoised.pixel_size_angstrom),
        ) {
            (Some(r), Some(d)) if (r - d).abs() > 1e-3 * r => {
                return Err(MergeError::PixelSizeMismatch {
                    raw: r,
                    denoised: d,
                });
            }
            (Some(r), _) => r,
            (None, Some(d)) => d,
            (None, None) => return Err(MergeError::UnknownPixelSize),
        };
        let (w, h) = (raw.width, raw.height);
        for (name, im) in [("raw", raw), ("denoised", denoised)] {
            if w == 0 || h == 0 || im.data.len() != w * h || im.data.iter().any(|v| !v.is_finite())
            {
                return Err(MergeError::BadImage(name));
            }
        }
        Ok(Self {
            raw: HalfSpectrum::of(raw),
            denoised: HalfSpectrum::of(denoised),
            pixel_size_angstrom: pixel,
        })
    }

    /// The pixel size the merge uses, Å/px.
    pub fn pixel_size_angstrom(&self) -> f32 {
        self.pixel_size_angstrom
    }

    /// The merged image for this cutoff and edge width (Å), and the normalisation applied
    /// (see the module documentation).
    ///
    /// # Errors
    /// [`MergeError::InvalidParameter`], [`MergeError::EmptyBand`].
    pub fn merge(
        &self,
        cutoff_angstrom: f32,
        width_angstrom: f32,
    ) -> Result<(Image, MergeReport), MergeError> {
        self.merge_with_norm(cutoff_angstrom, width_angstrom, BandNorm::Std)
    }

    /// [`Merger::merge`] with the band normalisation `norm` ([`BandNorm`]: the amplitudes'
    /// standard deviation, restore's default here, or their RMS).
    ///
    /// # Errors
    /// As [`Merger::merge`].
    pub fn merge_with_norm(
        &self,
        cutoff_angstrom: f32,
        width_angstrom: f32,
        norm: BandNorm,
    ) -> Result<(Image, MergeReport), MergeError> {
        let filter = MergeFilter::new(cutoff_angstrom, width_angstrom)?;
        let (w, h) = (self.raw.width, self.raw.height);
        let pixel = self.pixel_size_angstrom;
        let p = pixel as f64;
        let (fr, fd) = (&self.raw.data, &self.denoised.data);
        let raw_stats = band_stats(fr, w, h, p, &filter);
        let den_stats = band_stats(fd, w, h, p, &filter);
        let n_band = raw_stats.components;
        if n_band < 2 || den_stats.of(norm) <= 0.0 {
            return Err(MergeError::EmptyBand {
                from_angstrom: cutoff_angstrom as f64 + width_angstrom as f64,
                to_angstrom: cutoff_angstrom as f64,
                components: n_band,
                nyquist_angstrom: 2.0 * p,
            });
        }
        let scale = raw_stats.of(norm) / den_stats.of(norm);
        let dx = 1.0 / (w as f64 * p);
        let dy = 1.0 / (h as f64 * p);
        let mut merged = fd.clone();
        merged
            .par_chunks_mut(h)
            .zip(fr.par_chunks(h))
            .enumerate()
            .for_each(|(kx, (md, r))| {
                let sx = kx as f64 * dx;
                for (ky, (m, r)) in md.iter_mut().zip(r).enumerate() {
                    if kx == 0 && ky == 0 {
                        continue; // the mean: the denoised image's, unscaled
                    }
                    let sy = signed_index(ky, h) * dy;
                    let l = filter.lowpass((sx * sx + sy * sy).sqrt());
                    *m = *m * (l * scale) as f32 + *r * (1.0 - l) as f32;
                }
            });
        let image = Image {
            width: w,
            height: h,
            data: irfft2(&merged, w, h),
            pixel_size_angstrom: Some(pixel),
        };
        Ok((
            image,
            MergeReport {
                scale,
                raw_band_amplitude_std: raw_stats.std,
                denoised_band_amplitude_std: den_stats.std,
                raw_band_amplitude_rms: raw_stats.rms,
                denoised_band_amplitude_rms: den_stats.rms,
                band_norm: norm,
                band_components: n_band,
                pixel_size_angstrom: pixel,
                filter,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irfft2_inverts_rfft2() {
        for (w, h) in [(8, 6), (7, 5), (1, 4), (9, 1), (16, 16)] {
            let data: Vec<f32> = (0..w * h)
                .map(|i| ((i * 7919) % 101) as f32 - 50.0)
                .collect();
            let back = irfft2(&super::super::rfft2(&data, w, h), w, h);
            for (a, b) in back.iter().zip(&data) {
                assert!((a - b).abs() < 1e-3, "{w}x{h}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn filters_are_complementary_and_monotonic() {
        let f = MergeFilter::new(8.0, 4.0).unwrap();
        let mut prev = 1.0;
        for i in 0..=400 {
            let s = i as f64 * 0.5 / 400.0;
            let (l, hp) = (f.lowpass(s), f.highpass(s));
            assert!((l + hp - 1.0).abs() < 1e-15);
            assert!(l <= prev + 1e-15);
            prev = l;
        }
        assert_eq!(f.lowpass(1.0 / 12.0 - 1e-9), 1.0);
        assert_eq!(f.lowpass(1.0 / 8.0), 0.0);
    }
}
