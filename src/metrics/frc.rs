//! Fourier rings: the ring binning shared by every per-frequency metric, the spectral
//! covariance of Palovcak et al. 2020 (supplement eq. 24), and the Fourier ring correlation
//! with the spectral SNR of their Fig. 2e.

use realfft::num_complex::Complex;

use super::{FrequencyUnit, MetricsError, check_same, mean_of};
use crate::fourier::rfft2;
use crate::image::Image;

/// One Fourier ring and the value of a metric on it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ring<T> {
    /// Ring number r = 1, 2, … (ring 0 would hold only the excluded DC term, unless rings
    /// are wider than 1 Fourier pixel).
    pub index: usize,
    /// Centre frequency of the ring, r · `ring_width` / n, in the curve's
    /// [`FrequencyUnit`] (cycles/px, or that divided by the pixel size for Å⁻¹).
    pub frequency: f64,
    /// Number of Fourier components in the ring (over the full plane, both conjugate
    /// halves counted).
    pub components: usize,
    /// The metric on this ring.
    pub value: T,
}

/// A metric as a function of spatial frequency, one entry per non-empty ring, in
/// increasing frequency up to Nyquist.
///
/// Ring binning (shared by [`spectral_covariance`], [`frc`] and
/// [`super::variance_estimate_rings`], so their rings line up): for an image of `width` ×
/// `height` pixels and n = min(width, height), the Fourier component (kx, ky) has frequency
/// f = √((kx/width)² + (ky/height)²) cycles/px (kx, ky signed) and belongs to ring
/// r = round(f · n / `ring_width`). `ring_width` is in Fourier pixels (units of 1/n
/// cycles/px; 1 gives the rings of [`crate::fourier::rotational_average`]). Rings run from 0
/// to ⌊(n/2)/`ring_width`⌋ (Nyquist); the corners beyond are left out, and so is the DC
/// term (the image means are irrelevant); empty rings are omitted.
#[derive(Clone, Debug, PartialEq)]
pub struct RingCurve<T> {
    /// Unit of [`Ring::frequency`].
    pub unit: FrequencyUnit,
    /// The pixel size (Å/px) used for the frequency axis, if known.
    pub pixel_size_angstrom: Option<f32>,
    /// Ring width in Fourier pixels.
    pub ring_width: f32,
    /// The rings.
    pub rings: Vec<Ring<T>>,
}

/// Ring index of each half-spectrum component of `rfft2` (layout `[kx * height + ky]`),
/// `u32::MAX` for DC and corners beyond Nyquist, with the weight of each column (2 for the
/// columns standing for their conjugate mirror too, 1 for kx = 0 and the even-width Nyquist
/// column).
pub(crate) struct RingGrid {
    width: usize,
    height: usize,
    ring_of: Vec<u32>,
    /// Components per ring (full plane).
    counts: Vec<f64>,
    ring_width: f32,
    pixel_size: Option<f32>,
}

impl RingGrid {
    fn new(width: usize, height: usize, ring_width: f32, pixel_size: Option<f32>) -> Self {
        let n = width.min(height) as f64;
        let rw = ring_width as f64;
        let max_ring = ((n / 2.0) / rw + 1e-9).floor() as usize;
        let hw = width / 2 + 1;
        let mut ring_of = vec![u32::MAX; hw * height];
        let mut counts = vec![0.0f64; max_ring + 1];
        for kx in 0..hw {
            let fx = kx as f64 / width as f64;
            let wgt = column_weight(kx, width);
            for ky in 0..height {
                if kx == 0 && ky == 0 {
                    continue;
                }
                let sy = if ky <= height / 2 {
                    ky as f64
                } else {
                    ky as f64 - height as f64
                };
                let fy = sy / height as f64;
                let r = ((fx * fx + fy * fy).sqrt() * n / rw).round() as usize;
                if r <= max_ring {
                    ring_of[kx * height + ky] = r as u32;
                    counts[r] += wgt;
                }
            }
        }
        Self {
            width,
            height,
            ring_of,
            counts,
            ring_width,
            pixel_size,
        }
    }

    /// Per ring: Σ weight · Re(X · conj(Y)) / (components · N) — the ring covariance of
    /// eq. 24, scaled so that white noise of variance σ² gives σ² on every ring.
    fn cross(&self, x: &[Complex<f32>], y: &[Complex<f32>]) -> Vec<f64> {
        let mut sums = vec![0.0f64; self.counts.len()];
        let h = self.height;
        for (kx, (cx, cy)) in x.chunks_exact(h).zip(y.chunks_exact(h)).enumerate() {
            let wgt = column_weight(kx, self.width);
            let rings = &self.ring_of[kx * h..(kx + 1) * h];
            for ((a, b), &r) in cx.iter().zip(cy).zip(rings) {
                if r != u32::MAX {
                    let re = a.re as f64 * b.re as f64 + a.im as f64 * b.im as f64;
                    sums[r as usize] += wgt * re;
                }
            }
        }
        let npix = (self.width * self.height) as f64;
        sums.iter()
            .zip(&self.counts)
            .map(|(s, c)| if *c > 0.0 { s / (c * npix) } else { 0.0 })
            .collect()
    }

    /// Builds the curve from per-ring values (non-empty rings only).
    fn curve<T>(&self, value: impl FnMut(usize) -> T) -> RingCurve<T> {
        build_curve(
            &self.counts,
            self.width.min(self.height),
            self.ring_width,
            self.pixel_size,
            value,
        )
    }
}

/// A [`RingCurve`] from per-ring (or per-shell) component counts: ring r has centre
/// frequency r · `ring_width` / `n` cycles/px (÷ pixel size for Å⁻¹); rings with no
/// components are left out. Shared by the 2D rings here and the 3D shells of
/// [`super::fsc`].
pub(crate) fn build_curve<T>(
    counts: &[f64],
    n: usize,
    ring_width: f32,
    pixel_size: Option<f32>,
    mut value: impl FnMut(usize) -> T,
) -> RingCurve<T> {
    let n = n as f64;
    let (unit, scale) = match pixel_size {
        Some(p) => (FrequencyUnit::PerAngstrom, 1.0 / (n * p as f64)),
        None => (FrequencyUnit::PerPixel, 1.0 / n),
    };
    let rings = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0.0)
        .map(|(r, c)| Ring {
            index: r,
            frequency: r as f64 * ring_width as f64 * scale,
            components: *c as usize,
            value: value(r),
        })
        .collect();
    RingCurve {
        unit,
        pixel_size_angstrom: pixel_size,
        ring_width,
        rings,
    }
}

fn column_weight(kx: usize, width: usize) -> f64 {
    if kx == 0 || (width.is_multiple_of(2) && kx == width / 2) {
        1.0
    } else {
        2.0
    }
}

/// The half spectra of several same-shape images (mean subtracted) and their ring grid.
pub(crate) struct RingSpectra {
    grid: RingGrid,
    spectra: Vec<Vec<Complex<f32>>>,
}

impl RingSpectra {
    /// Checks the images ([`check_same`]) and the ring width, and transforms every image.
    pub(crate) fn new(
        images: &[(&'static str, &Image)],
        ring_width: f32,
    ) -> Result<Self, MetricsError> {
        if !(ring_width.is_finite() && ring_width > 0.0) {
            return Err(MetricsError::InvalidParameter {
                what: "ring width (Fourier pixels)",
                requirement: "a finite number > 0",
                value: ring_width as f64,
            });
        }
        let pixel_size = check_same(images)?;
        let (w, h) = (images[0].1.width, images[0].1.height);
        let grid = RingGrid::new(w, h, ring_width, pixel_size);
        let spectra = images
            .iter()
            .map(|(_, im)| {
                let m = mean_of(&im.data) as f32;
                let centred: Vec<f32> = im.data.iter().map(|v| v - m).collect();
                rfft2(&centred, w, h)
            })
            .collect();
        Ok(Self { grid, spectra })
    }

    /// Ring covariance (eq. 24) of images `i` and `j`, one value per ring index.
    pub(crate) fn cross(&self, i: usize, j: usize) -> Vec<f64> {
        self.grid.cross(&self.spectra[i], &self.spectra[j])
    }

    /// The curve of per-ring values `value(r)`.
    pub(crate) fn curve<T>(&self, value: impl FnMut(usize) -> T) -> RingCurve<T> {
        self.grid.curve(value)
    }
}

/// Spectral covariance per Fourier ring, Palovcak et al. 2020 supplement eq. 24:
/// cov(X(k), Y(k)) = N_k⁻¹ Σᵢ Re[X(k)ᵢ · Y(k)ᵢ*] over the N_k Fourier components of ring k
/// (the sum over the full plane is real; its imaginary part cancels between conjugate pairs).
///
/// `x`, `y`: same shape and sampling; `ring_width` in Fourier pixels (see [`RingCurve`]).
/// Values are scaled by 1/(width · height) so that they are a power spectral density per
/// pixel: white noise of variance σ² gives σ² on every ring, and var(X) is the
/// component-weighted mean over the whole plane. Squared image units. With `x = y` this is
/// the rotationally averaged power spectrum.
///
/// # Errors
/// As [`super::covariance`], and [`MetricsError::InvalidParameter`] for a ring width that is
/// not finite and > 0.
pub fn spectral_covariance(
    x: &Image,
    y: &Image,
    ring_width: f32,
) -> Result<RingCurve<f64>, MetricsError> {
    let s = RingSpectra::new(&[("first image", x), ("second image", y)], ring_width)?;
    let c = s.cross(0, 1);
    Ok(s.curve(|r| c[r]))
}

/// Fourier ring correlation of two images and the spectral SNR it implies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrcValue {
    /// FRC(k) = Σ Re[X Y*] / [Σ|X|² Σ|Y|²]^½ over ring k, in [−1, 1] (0 when either image
    /// has no power in the ring).
    pub frc: f64,
    /// Spectral SNR of *one* of the two images (one half): FRC / (1 − FRC), the convention of
    /// Palovcak et al. 2020 Fig. 2e (FRC between even and odd sums). Negative when FRC < 0,
    /// +∞ when FRC = 1.
    pub ssnr_half: f64,
    /// Spectral SNR of the *sum* of the two images (full dose): 2 · FRC / (1 − FRC).
    pub ssnr_full: f64,
}

/// Fourier ring correlation (FRC) between any two images, per ring, with the spectral SNR
/// SSNR = FRC/(1 − FRC) of one half (Palovcak et al. 2020, Fig. 2e, where FRC is between
/// the even and odd frame sums) and 2·FRC/(1 − FRC) of the full sum; the ring form of the
/// Frank & Al-Ali relation (supplement eq. 8) applied to eq. 24's ring covariances:
/// FRC(k) = cov(X(k), Y(k)) / [cov(X(k), X(k)) cov(Y(k), Y(k))]^½.
///
/// `x`, `y`: same shape and sampling; `ring_width` in Fourier pixels; rings as in
/// [`RingCurve`] (shared with [`spectral_covariance`] and the per-ring variance estimates).
///
/// # Errors
/// As [`spectral_covariance`].
pub fn frc(x: &Image, y: &Image, ring_width: f32) -> Result<RingCurve<FrcValue>, MetricsError> {
    let s = RingSpectra::new(&[("first image", x), ("second image", y)], ring_width)?;
    let (xy, xx, yy) = (s.cross(0, 1), s.cross(0, 0), s.cross(1, 1));
    Ok(s.curve(|r| {
        let den = (xx[r] * yy[r]).sqrt();
        let frc = if den > 0.0 {
            (xy[r] / den).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        FrcValue {
            frc,
            ssnr_half: frc / (1.0 - frc),
            ssnr_full: 2.0 * frc / (1.0 - frc),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn noise(w: usize, h: usize, seed: u64) -> Image {
        let mut r = Rng::new(seed);
        Image::new(w, h, (0..w * h).map(|_| r.normal() as f32).collect()).unwrap()
    }

    #[test]
    fn ring_counts_cover_the_disc() {
        for (w, h) in [(64, 64), (63, 50), (50, 63)] {
            let g = RingGrid::new(w, h, 1.0, None);
            let n = w.min(h);
            assert_eq!(g.counts.len(), n / 2 + 1);
            assert_eq!(g.counts[0], 0.0);
            // Ring 1 holds the 4 (square) nearest neighbours of DC at least.
            assert!(g.counts[1] >= 4.0, "{:?}", &g.counts[..3]);
            let total: f64 = g.counts.iter().sum();
            assert!(total < (w * h) as f64);
        }
    }

    #[test]
    fn white_noise_gives_its_variance_per_ring() {
        let a = noise(128, 96, 1);
        let c = spectral_covariance(&a, &a, 4.0).unwrap();
        assert_eq!(c.unit, FrequencyUnit::PerPixel);
        let var = a.stats().std.powi(2);
        for r in &c.rings {
            assert!((r.value / var - 1.0).abs() < 0.25, "{r:?}");
        }
        let last = c.rings.last().unwrap();
        assert!((last.frequency - 0.5).abs() < 1e-9, "{}", last.frequency);
    }

    #[test]
    fn frc_of_an_image_with_itself_is_one_and_angstrom_axis() {
        let a = noise(64, 64, 2).with_pixel_size(Some(2.0));
        let f = frc(&a, &a, 1.0).unwrap();
        assert_eq!(f.unit, FrequencyUnit::PerAngstrom);
        assert!(f.rings.iter().all(|r| (r.value.frc - 1.0).abs() < 1e-6));
        assert!((f.rings.last().unwrap().frequency - 0.25).abs() < 1e-9);
        // Independent images: the component-weighted mean FRC is ≈ 0 (sd ≈ 1/√12800).
        let (a, b) = (noise(128, 128, 4), noise(128, 128, 3));
        let f = frc(&a, &b, 1.0).unwrap();
        let k: f64 = f.rings.iter().map(|r| r.components as f64).sum();
        let mean = f
            .rings
            .iter()
            .map(|r| r.components as f64 * r.value.frc)
            .sum::<f64>()
            / k;
        assert!(mean.abs() < 0.04, "{mean}");
        assert!(matches!(
            frc(&a, &b, 0.0),
            Err(MetricsError::InvalidParameter { .. })
        ));
    }
}
