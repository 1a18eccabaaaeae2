//! SNR from hand-labelled pairs of signal and background boxes: Topaz-Denoise's formula
//! (Bepler et al. 2020) and NT2C's variant (Li et al. 2022).

use super::{MetricsError, check_image};
use crate::image::Image;

/// A box of pixels: columns `x..x + width`, rows `y..y + height` (pixels, origin at the
/// top-left pixel of the image, x along a row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width in pixels (columns).
    pub width: usize,
    /// Height in pixels (rows).
    pub height: usize,
}

/// A labelled signal box and its background box (chosen close to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionPair {
    /// Box over a small, uniform piece of signal (e.g. a particle).
    pub signal: Region,
    /// Box over nearby background (ice without particles).
    pub background: Region,
}

/// A region-based SNR: the mean over pairs of the per-pair dB values.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSnr {
    /// (10/N) Σᵢ [log10(sⁱ) − log10(v_bⁱ)] in dB (−∞ if some pair has zero signal).
    pub snr_db: f64,
    /// 10 · [log10(sⁱ) − log10(v_bⁱ)] for each pair, in the order given.
    pub per_pair_db: Vec<f64>,
}

/// Mean and population variance of the pixels of a box (already checked to be inside).
fn box_moments(im: &Image, r: &Region, subtract: f64) -> (f64, f64) {
    let n = (r.width * r.height) as f64;
    let mut sum = 0.0f64;
    for y in r.y..r.y + r.height {
        let row = &im.data[y * im.width + r.x..y * im.width + r.x + r.width];
        sum += row.iter().map(|&v| v as f64 - subtract).sum::<f64>();
    }
    let mean = sum / n;
    let mut ss = 0.0f64;
    for y in r.y..r.y + r.height {
        let row = &im.data[y * im.width + r.x..y * im.width + r.x + r.width];
        ss += row
            .iter()
            .map(|&v| (v as f64 - subtract - mean).powi(2))
            .sum::<f64>();
    }
    (mean, ss / n)
}

fn check_region(
    im: &Image,
    pair: usize,
    which: &'static str,
    r: &Region,
) -> Result<(), MetricsError> {
    let problem = if r.width == 0 || r.height == 0 {
        Some("is empty")
    } else if r.x.checked_add(r.width).is_none_or(|e| e > im.width)
        || r.y.checked_add(r.height).is_none_or(|e| e > im.height)
    {
        Some("reaches outside")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(MetricsError::BadRegion {
            pair,
            which,
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
            problem,
            image_w: im.width,
            image_h: im.height,
        }),
    }
}

/// Checks the image and every box, then averages `per_pair(signal, background)` dB values.
fn region_snr(
    image: &Image,
    pairs: &[RegionPair],
    per_pair: impl Fn(&Region, &Region, usize) -> Result<f64, MetricsError>,
) -> Result<RegionSnr, MetricsError> {
    check_image("image", image)?;
    if pairs.is_empty() {
        return Err(MetricsError::NoRegions);
    }
    for (i, p) in pairs.iter().enumerate() {
        check_region(image, i, "signal", &p.signal)?;
        check_region(image, i, "background", &p.background)?;
    }
    let per_pair_db = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| per_pair(&p.signal, &p.background, i))
        .collect::<Result<Vec<_>, _>>()?;
    let snr_db = per_pair_db.iter().sum::<f64>() / per_pair_db.len() as f64;
    Ok(RegionSnr {
        snr_db,
        per_pair_db,
    })
}

fn zero_background(i: usize) -> MetricsError {
    MetricsError::ZeroVariance {
        what: format!("the background box of pair {i}"),
    }
}

/// Topaz-Denoise's region SNR (Bepler et al. 2020, Methods "Signal-to-noise
/// quantification", first method): for each pair i, the signal is sⁱ = (μ_sⁱ − μ_bⁱ)² (means
/// of the signal and background boxes) and the noise is v_bⁱ, the (population) variance of
/// the background box; SNR = (10/N) Σᵢ [log10(sⁱ) − log10(v_bⁱ)] dB over the N pairs.
///
/// `image`: any image (raw or denoised); `pairs`: boxes in pixels. The result is in dB.
///
/// # Errors
/// [`MetricsError::BadImage`], [`MetricsError::NoRegions`], [`MetricsError::BadRegion`] for
/// an empty box or one reaching outside the image, [`MetricsError::ZeroVariance`] for a
/// constant background box.
pub fn region_snr_topaz(image: &Image, pairs: &[RegionPair]) -> Result<RegionSnr, MetricsError> {
    region_snr(image, pairs, |s, b, i| {
        let (mu_b, v_b) = box_moments(image, b, 0.0);
        let (mu_s, _) = box_moments(image, s, 0.0);
        if v_b <= 0.0 {
            return Err(zero_background(i));
        }
        let signal = (mu_s - mu_b).powi(2);
        Ok(10.0 * (signal.log10() - v_b.log10()))
    })
}

/// NT2C's region SNR (Li et al. 2022, Bioinformatics, section 3 and eq. 5): for each pair i,
/// the background-subtracted signal region sⁱ = x_sⁱ − μ_bⁱ has variance v_sⁱ, the
/// background box has variance v_bⁱ, and SNR = (10/N) Σᵢ [log10(v_sⁱ) − log10(v_bⁱ)] dB.
///
/// Subtracting the constant μ_bⁱ does not change a variance, so v_sⁱ is the variance of the
/// signal box itself: this measures the contrast *within* the signal box (structure plus
/// noise) against the background noise, unlike [`region_snr_topaz`], which uses the mean
/// difference. Population variances; result in dB.
///
/// # Errors
/// As [`region_snr_topaz`].
pub fn region_snr_nt2c(image: &Image, pairs: &[RegionPair]) -> Result<RegionSnr, MetricsError> {
    region_snr(image, pairs, |s, b, i| {
        let (mu_b, v_b) = box_moments(image, b, 0.0);
        let (_, v_s) = box_moments(image, s, mu_b);
        if v_b <= 0.0 {
            return Err(zero_background(i));
        }
        Ok(10.0 * (v_s.log10() - v_b.log10()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_outside_are_errors() {
        let im = Image::new(10, 8, (0..80).map(|v| v as f32).collect()).unwrap();
        let region = |x, y, width, height| Region {
            x,
            y,
            width,
            height,
        };
        let ok = region(0, 0, 4, 4);
        let out = region(8, 0, 4, 4);
        let empty = region(0, 0, 0, 4);
        let huge = region(usize::MAX, 0, 2, 1);
        for (bad, which) in [(out, "outside"), (empty, "empty"), (huge, "outside")] {
            let err = region_snr_topaz(
                &im,
                &[
                    RegionPair {
                        signal: ok,
                        background: ok,
                    },
                    RegionPair {
                        signal: ok,
                        background: bad,
                    },
                ],
            )
            .unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("pair 1") && text.contains(which) && text.contains("background"),
                "{text}"
            );
        }
        assert!(matches!(
            region_snr_nt2c(&im, &[]),
            Err(MetricsError::NoRegions)
        ));
        let flat = Image::new(10, 8, vec![1.0; 80]).unwrap();
        assert!(matches!(
            region_snr_topaz(
                &flat,
                &[RegionPair {
                    signal: ok,
                    background: ok
                }]
            ),
            Err(MetricsError::ZeroVariance { .. })
        ));
    }
}
