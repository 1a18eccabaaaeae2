//! Dose titration of one counting-mode micrograph (Bepler et al. 2020, Topaz-Denoise,
//! Results 3, Fig. 3 and Suppl. Fig. 16): the SNR of the raw, low-passed and denoised image
//! against exposure, with the lower exposures made by binomial thinning
//! ([`crate::metrics::thin_counts_pair`]) instead of summing fewer frames.
//!
//! For each fraction p ≤ ½, two disjoint thinned copies (each p of the electrons, independent
//! noise, same signal) give: the raw SNR = cc / (1 − cc) of the two copies (Frank & Al-Ali;
//! the SNR of one image of exposure p·D exactly, linear); the low-pass SNR the same on both
//! copies low-passed; the denoised SNR Topaz's even/odd SNR (one copy denoised against the
//! other raw copy, both ways, dB averaged). Topaz correlated its thinned odd half with the
//! full even half; here both copies have the thinned exposure, so the raw SNR follows shot
//! noise theory, SNR ∝ exposure.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::denoise::{Denoiser2d, TileConfig};
use crate::fourier::Lowpass;
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::{self, CountSplitOptions, SnrEstimate};

/// One exposure of a [`Titration`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TitrationPoint {
    /// Fraction p of the full exposure in each thinned copy.
    pub fraction: f64,
    /// Its exposure in e/Å² (p × the full exposure), when the pixel size is known.
    pub exposure: Option<f64>,
    /// SNR of the raw thinned image (cc of the two copies).
    pub raw: SnrEstimate,
    /// SNR of the low-passed thinned image.
    pub lowpass: SnrEstimate,
    /// Topaz's even/odd SNR of the denoised thinned image (dB), with a denoiser.
    pub denoised_db: Option<f64>,
}

/// The SNR of one micrograph against exposure.
#[derive(Clone, Debug, PartialEq)]
pub struct Titration {
    /// Gain used (image units per electron).
    pub gain: f64,
    /// Mean electron count per pixel of the full micrograph.
    pub mean_count: f64,
    /// Exposure of the full micrograph in e/Å² (mean count / pixel size²), when known.
    pub full_exposure: Option<f64>,
    /// The low-pass used for the low-pass curve.
    pub lowpass: Lowpass,
    /// The denoiser's label, when one was used.
    pub model: Option<String>,
    /// One point per fraction, in the order given.
    pub points: Vec<TitrationPoint>,
}

/// Parses fractions "0.1,0.25, 0.5" (each in (0, ½]).
///
/// # Errors
/// A value that is not a number in (0, 0.5], or no value.
pub fn parse_fractions(text: &str) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let p: f64 = part.parse().with_context(|| {
            format!("thinning fraction '{part}' is not a number (write e.g. 0.1,0.25,0.5)")
        })?;
        if !(p > 0.0 && p <= 0.5) {
            bail!(
                "thinning fraction {p} is outside (0, 0.5] (each of the two thinned copies holds p of the electrons)"
            );
        }
        out.push(p);
    }
    if out.is_empty() {
        bail!("no thinning fraction given (write e.g. 0.1,0.25,0.5)");
    }
    Ok(out)
}

/// Runs the titration of `image` (a counting-mode sum: counts × gain, checked as by
/// [`metrics::split_counts`] with `split`) at each fraction in `fractions` (each in (0, ½]),
/// reporting progress per fraction and through the denoiser.
///
/// # Errors
/// Data that are not counts (without `split.force`), a bad fraction, a failing denoiser or
/// low-pass, cancellation.
pub fn titrate(
    image: &Image,
    fractions: &[f64],
    lowpass: Lowpass,
    denoiser: Option<&Denoiser2d>,
    split: &CountSplitOptions,
    progress: &Progress,
) -> Result<Titration> {
    if fractions.is_empty() {
        bail!("no thinning fraction given (write e.g. 0.1,0.25,0.5)");
    }
    let mut points = Vec::with_capacity(fractions.len());
    let mut gain = f64::NAN;
    let mut full_exposure = None;
    let tiles = TileConfig::default();
    for (i, &p) in fractions.iter().enumerate() {
        if progress.is_cancelled() {
            bail!("dose titration cancelled");
        }
        progress.set_message(format!(
            "thinning to {p} of the exposure ({}/{})",
            i + 1,
            fractions.len()
        ));
        let pair = metrics::thin_counts_pair(image, p, split)?;
        if i == 0 {
            gain = pair.gain;
            full_exposure = metrics::exposure_per_square_angstrom(image, gain)?;
        }
        let raw = metrics::frank_al_ali_snr(&pair.first, &pair.second)?;
        let (l1, l2) = (lowpass.apply(&pair.first)?, lowpass.apply(&pair.second)?);
        let low = metrics::frank_al_ali_snr(&l1, &l2)?;
        let denoised_db = match denoiser {
            None => None,
            Some(d) => {
                progress.set_message(format!("denoising at {p} of the exposure"));
                let d1 = d.denoise(&pair.first, &tiles, progress)?;
                let d2 = d.denoise(&pair.second, &tiles, progress)?;
                let eo = metrics::topaz_even_odd_snr_of(&pair.first, &pair.second, &d1, &d2)?;
                eo.snr_db
            }
        };
        points.push(TitrationPoint {
            fraction: p,
            exposure: full_exposure.map(|e| e * p),
            raw,
            lowpass: low,
            denoised_db,
        });
    }
    Ok(Titration {
        gain,
        mean_count: image.data.iter().map(|&v| v as f64).sum::<f64>()
            / image.data.len().max(1) as f64
            / gain,
        full_exposure,
        lowpass,
        model: denoiser.map(|d| d.label().to_string()),
        points,
    })
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| format!("{x}"))
}

impl Titration {
    /// One line per fraction: fraction, exposure (e/Å², empty when unknown), raw cc and SNR
    /// (linear, dB), low-pass SNR (linear, dB), denoised SNR (dB, empty without a denoiser).
    pub fn csv(&self) -> String {
        let mut csv = String::from(
            "fraction,exposure_e_per_a2,cc_raw,snr_raw,snr_raw_db,cc_lowpass,snr_lowpass,snr_lowpass_db,snr_denoised_db\n",
        );
        for p in &self.points {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{}",
                p.fraction,
                opt(p.exposure),
                p.raw.cc,
                p.raw.snr,
                opt(p.raw.snr_db),
                p.lowpass.cc,
                p.lowpass.snr,
                opt(p.lowpass.snr_db),
                opt(p.denoised_db)
            );
        }
        csv
    }

    /// A plain-text table for the terminal, headed by the full exposure and gain.
    pub fn table(&self) -> String {
        let db = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |d| format!("{d:.2}"));
        let mut out = format!(
            "full exposure: {} ({:.3} e/px, gain {:.3}); low-pass {}{}\n",
            self.full_exposure.map_or_else(
                || "unknown (no pixel size)".to_string(),
                |e| format!("{e:.2} e/Å²")
            ),
            self.mean_count,
            self.gain,
            self.lowpass.describe(),
            self.model
                .as_ref()
                .map_or_else(String::new, |m| format!("; denoiser {m}"))
        );
        let _ = writeln!(
            out,
            "{:>8} {:>10} {:>10} {:>9} {:>11} {:>9} {:>12}",
            "fraction", "e/Å²", "SNR raw", "raw dB", "SNR lowp", "lowp dB", "denoised dB"
        );
        for p in &self.points {
            let _ = writeln!(
                out,
                "{:>8} {:>10} {:>10.5} {:>9} {:>11.5} {:>9} {:>12}",
                p.fraction,
                p.exposure
                    .map_or_else(|| "?".to_string(), |e| format!("{e:.2}")),
                p.raw.snr,
                db(p.raw.snr_db),
                p.lowpass.snr,
                db(p.lowpass.snr_db),
                db(p.denoised_db)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::GainSource;
    use crate::metrics::synthetic::smooth_field;
    use crate::rng::Rng;

    /// Poisson counts × gain 2 of a known smooth signal (mean 60 counts, σ 14) at 1.5 Å/px,
    /// and the expected counts λ.
    fn counts() -> (Image, Image) {
        let s = smooth_field(256, 256, 3.0, 9);
        let lambda: Vec<f32> = s.data.iter().map(|v| (60.0 + 14.0 * v).max(0.5)).collect();
        let mut r = Rng::new(4);
        let data = lambda
            .iter()
            .map(|&l| 2.0 * r.poisson(l as f64) as f32)
            .collect();
        (
            Image::new(256, 256, data)
                .unwrap()
                .with_pixel_size(Some(1.5)),
            Image::new(256, 256, lambda).unwrap(),
        )
    }

    #[test]
    fn snr_is_proportional_to_exposure_as_shot_noise_theory_says() {
        let (image, lambda) = counts();
        let split = CountSplitOptions {
            gain: GainSource::Given(2.0),
            ..CountSplitOptions::default()
        };
        let fractions = [0.05, 0.1, 0.2, 0.4, 0.5];
        let t = titrate(
            &image,
            &fractions,
            Lowpass::Bin(4.0),
            None,
            &split,
            &Progress::new(),
        )
        .unwrap();
        // Exposure: mean count / pixel area.
        let mean_count = lambda.data.iter().map(|&v| v as f64).sum::<f64>() / 65536.0;
        let full = t.full_exposure.unwrap();
        assert!((full - mean_count / 2.25).abs() < 0.02 * full, "{full}");
        for p in &t.points {
            let theory = metrics::poisson_snr(&lambda, p.fraction).unwrap();
            let rel = p.raw.snr / theory - 1.0;
            assert!(
                rel.abs() < 0.06,
                "p {}: SNR {} vs theory {theory}",
                p.fraction,
                p.raw.snr
            );
            assert!((p.exposure.unwrap() - p.fraction * full).abs() < 1e-9);
            // The signal is smooth: low-passing raises the SNR.
            assert!(p.lowpass.snr > 2.0 * p.raw.snr, "{p:?}");
        }
        // SNR ∝ dose: ten times the exposure, ten times the SNR.
        let ratio = t.points[4].raw.snr / t.points[0].raw.snr;
        assert!((ratio / 10.0 - 1.0).abs() < 0.08, "{ratio}");
        let csv = t.csv();
        assert_eq!(csv.lines().count(), 1 + fractions.len());
        assert!(t.table().contains("e/Å²"));
    }

    #[test]
    fn fractions_parse_and_bad_ones_are_refused() {
        assert_eq!(
            parse_fractions("0.1, 0.25,0.5").unwrap(),
            vec![0.1, 0.25, 0.5]
        );
        for bad in ["", "0.6", "0", "x"] {
            assert!(parse_fractions(bad).is_err(), "{bad}");
        }
    }
}
