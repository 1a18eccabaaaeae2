//! Crystalline-ice ring strength of a micrograph: how much the rotationally averaged power
//! spectrum stands out in a narrow band at the hexagonal/cubic ice spacing (3.67 Å: ice Ih
//! (100) and ice Ic (111)) above the bands just beside it.
//!
//! Vitreous ice scatters into a broad, diffuse ring near 3.7 Å that is flat across a band
//! only ±0.1 Å wide, so it gives ≈ 0 dB; crystalline ice puts sharp Bragg reflections (spots
//! or a sharp ring) into the narrow band and raises it by several dB. The measure needs the
//! full-resolution micrograph: a pixel size below [`MAX_PIXEL_SIZE_ANGSTROM`], so that 3.5 Å
//! is inside Nyquist.

use crate::fourier::{self, Window};
use crate::image::Image;

/// The ice spacing measured, Å (ice Ih (100) 3.90/3.67/3.44 Å triplet's middle line, and
/// ice Ic (111)).
pub const ICE_SPACING_ANGSTROM: f64 = 3.67;

/// The measured band, Å (spacings, narrowest first).
const BAND: (f64, f64) = (3.62, 3.72);
/// The reference bands beside it, Å: clear of the 3.44 Å and 3.90 Å Ih lines.
const BESIDE: [(f64, f64); 2] = [(3.50, 3.58), (3.76, 3.84)];

/// The largest pixel size at which the ring can be measured (Nyquist at 3.5 Å), Å/px.
pub const MAX_PIXEL_SIZE_ANGSTROM: f32 = 1.75;

/// Welch tile of the spectrum (pixels).
const TILE: usize = 512;

/// The crystalline-ice ring strength of `image` in dB: 10·log10 of the mean power in the
/// band 3.62–3.72 Å over the mean power in 3.50–3.58 Å and 3.76–3.84 Å, from a Welch power
/// spectrum (512² Hann tiles, 50 % overlap) averaged over rings.
///
/// ≈ 0 dB for vitreous ice or no ice signal; a few dB and more with crystalline ice. `None`
/// when the pixel size is unknown or above [`MAX_PIXEL_SIZE_ANGSTROM`] (3.5 Å beyond
/// Nyquist), when the image is smaller than 64 pixels along a side, or when a band has no
/// power.
pub fn ice_ring_db(image: &Image) -> Option<f64> {
    if image.width.min(image.height) < 64 {
        return None;
    }
    let tile = TILE.min(image.width.min(image.height));
    ice_ring_db_of(&fourier::power_spectrum_linear(image, tile, Window::Hann))
}

/// [`ice_ring_db`] from a linear Welch spectrum already computed
/// ([`fourier::power_spectrum_linear`], whose pixel size is the micrograph's); `None` as
/// there, or when the spectrum is smaller than 64 pixels.
pub fn ice_ring_db_of(spectrum: &Image) -> Option<f64> {
    let pixel = spectrum
        .pixel_size_angstrom
        .filter(|p| p.is_finite() && *p > 0.0 && *p <= MAX_PIXEL_SIZE_ANGSTROM)?;
    if spectrum.width.min(spectrum.height) < 64 {
        return None;
    }
    let rings = fourier::rotational_average(spectrum, Some(pixel));
    let mean_in = |(a, b): (f64, f64)| -> Option<(f64, usize)> {
        // Spacings a < b Å are the frequencies 1/b..1/a Å⁻¹.
        let (lo, hi) = (1.0 / b, 1.0 / a);
        let in_band: Vec<f64> = rings
            .iter()
            .filter(|(f, _)| (lo..=hi).contains(&f64::from(*f)))
            .map(|&(_, p)| f64::from(p))
            .collect();
        (!in_band.is_empty()).then(|| (in_band.iter().sum::<f64>(), in_band.len()))
    };
    let (band_sum, band_n) = mean_in(BAND)?;
    let (mut ref_sum, mut ref_n) = (0.0, 0usize);
    for beside in BESIDE {
        let (s, n) = mean_in(beside)?;
        ref_sum += s;
        ref_n += n;
    }
    let band = band_sum / band_n as f64;
    let reference = ref_sum / ref_n as f64;
    (band > 0.0 && reference > 0.0 && band.is_finite() && reference.is_finite())
        .then(|| 10.0 * (band / reference).log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// White noise of σ 1 at `pixel` Å/px, plus a plane-wave lattice of `spacing` Å along a
    /// few directions with amplitude `amplitude` (a crystal's Bragg spots).
    fn ice(pixel: f32, spacing: f64, amplitude: f32) -> Image {
        let n = 1024;
        let mut rng = Rng::new(7);
        let mut data: Vec<f32> = (0..n * n).map(|_| rng.normal() as f32).collect();
        for angle_deg in [10.0f64, 70.0, 130.0] {
            let (s, c) = angle_deg.to_radians().sin_cos();
            let k = 2.0 * std::f64::consts::PI * f64::from(pixel) / spacing;
            for y in 0..n {
                for x in 0..n {
                    let phase = k * (c * x as f64 + s * y as f64);
                    data[y * n + x] += amplitude * phase.cos() as f32;
                }
            }
        }
        Image::new(n, n, data).unwrap().with_pixel_size(Some(pixel))
    }

    #[test]
    fn crystalline_lattice_stands_out_and_noise_does_not() {
        let noise = ice_ring_db(&ice(0.85, ICE_SPACING_ANGSTROM, 0.0)).unwrap();
        assert!(noise.abs() < 0.5, "white noise: {noise} dB");
        let crystal = ice_ring_db(&ice(0.85, ICE_SPACING_ANGSTROM, 0.3)).unwrap();
        assert!(crystal > 3.0, "ice lattice: {crystal} dB");
        // The same lattice at 3.2 Å (not ice) leaves the band alone.
        let other = ice_ring_db(&ice(0.85, 3.2, 0.3)).unwrap();
        assert!(other.abs() < 0.5, "3.2 Å lattice: {other} dB");
    }

    #[test]
    fn needs_a_pixel_size_that_reaches_the_ring() {
        assert!(ice_ring_db(&ice(2.0, ICE_SPACING_ANGSTROM, 0.3)).is_none());
        let unknown = ice(0.85, ICE_SPACING_ANGSTROM, 0.3).with_pixel_size(None);
        assert!(ice_ring_db(&unknown).is_none());
    }
}
