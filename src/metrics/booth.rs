//! Spectral SNR from one image's power spectrum (Booth et al. 2004, as described in the
//! restore supplement, Palovcak et al. 2020 section S3): the noise background N(s) is a
//! smooth curve through the rotationally averaged power spectrum at the CTF zeros, where the
//! signal vanishes, and SSNR(s) = (P(s) − N(s)) / N(s). It assumes the Thon rings come from
//! the signal alone and the noise is not modulated by the CTF; unlike the even/odd FRC-based
//! SSNR it needs a single image, and it cannot separate a denoiser's bias from signal.

/// One point of a spectrum-based SSNR curve.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoothPoint {
    /// Frequency, in the spectrum's unit (Å⁻¹, or cycles/px).
    pub frequency: f64,
    /// Rotationally averaged power P(s).
    pub power: f64,
    /// The background N(s) through the zeros.
    pub background: f64,
    /// (P − N) / N.
    pub ssnr: f64,
}

/// Booth's SSNR of a rotationally averaged power spectrum `spectrum` ((frequency, power) per
/// ring, increasing frequency, e.g. [`crate::fourier::rotational_average`]) with the noise
/// background through the CTF zeros `zeros` (same frequency unit; e.g.
/// [`crate::ctf::Ctf::zeros_along`] converted, or [`spectrum_minima`]). At each zero the
/// background is the power of the nearest ring (the lowest of it and its two neighbours);
/// between zeros ln N is interpolated linearly in frequency. Only rings from the first to the
/// last zero used are returned (the background is not extrapolated). Zeros outside the
/// spectrum, non-positive powers and fewer than two usable zeros give an empty curve.
pub fn booth_ssnr(spectrum: &[(f64, f64)], zeros: &[f64]) -> Vec<BoothPoint> {
    let n = spectrum.len();
    if n < 3 {
        return Vec::new();
    }
    let mut knots: Vec<(f64, f64)> = Vec::new();
    for &z in zeros {
        if !(z.is_finite() && z >= spectrum[0].0 && z <= spectrum[n - 1].0) {
            continue;
        }
        let i = spectrum
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1.0 - z).abs().total_cmp(&(b.1.0 - z).abs()))
            .map_or(0, |(i, _)| i);
        let lo = i.saturating_sub(1);
        let hi = (i + 1).min(n - 1);
        let p = (lo..=hi)
            .map(|j| spectrum[j].1)
            .fold(f64::INFINITY, f64::min);
        if p > 0.0 && p.is_finite() && knots.last().is_none_or(|k| spectrum[i].0 > k.0) {
            knots.push((spectrum[i].0, p.ln()));
        }
    }
    if knots.len() < 2 {
        return Vec::new();
    }
    let (first, last) = (knots[0].0, knots[knots.len() - 1].0);
    let mut seg = 0;
    spectrum
        .iter()
        .filter(|&&(f, p)| f >= first && f <= last && p > 0.0)
        .map(|&(f, p)| {
            while seg + 2 < knots.len() && f > knots[seg + 1].0 {
                seg += 1;
            }
            let (f0, l0) = knots[seg];
            let (f1, l1) = knots[seg + 1];
            let t = if f1 > f0 { (f - f0) / (f1 - f0) } else { 0.0 };
            let background = (l0 + t * (l1 - l0)).exp();
            BoothPoint {
                frequency: f,
                power: p,
                background,
                ssnr: (p - background) / background,
            }
        })
        .collect()
}

/// The frequencies of the local minima of a rotationally averaged power spectrum: the CTF
/// zeros of a micrograph with visible Thon rings, when no CTF is known. ln P is smoothed over
/// 3 rings; a ring is a minimum when it is the lowest within `half_window` rings on each side
/// (≥ 1). The first `skip` rings (the low-frequency rise) are ignored.
pub fn spectrum_minima(spectrum: &[(f64, f64)], half_window: usize, skip: usize) -> Vec<f64> {
    let n = spectrum.len();
    let w = half_window.max(1);
    let ln: Vec<f64> = spectrum
        .iter()
        .map(|&(_, p)| if p > 0.0 { p.ln() } else { f64::NEG_INFINITY })
        .collect();
    let smooth: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(1), (i + 1).min(n - 1));
            (a..=b).map(|j| ln[j]).sum::<f64>() / (b - a + 1) as f64
        })
        .collect();
    (skip.max(w)..n.saturating_sub(w))
        .filter(|&i| {
            smooth[i].is_finite() && (i - w..=i + w).all(|j| j == i || smooth[j] > smooth[i])
        })
        .map(|i| spectrum[i].0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// P(s) = N(s) + S(s)·sin²(π s²/a): zeros at s = √(m a), known background N and SSNR
    /// S/N at the maxima of sin².
    fn spectrum() -> (Vec<(f64, f64)>, Vec<f64>) {
        let a = 0.004;
        let noise = |s: f64| 100.0 * (-s / 0.1).exp() + 10.0;
        let signal = |s: f64| 50.0 * (-s / 0.2).exp();
        let spec = (0..=2000)
            .map(|i| {
                let s = i as f64 * 0.5 / 2000.0;
                let c = (std::f64::consts::PI * s * s / a).sin().powi(2);
                (s, noise(s) + signal(s) * c)
            })
            .collect();
        let zeros = (1..=62).map(|m| (m as f64 * a).sqrt()).collect();
        (spec, zeros)
    }

    #[test]
    fn background_through_the_zeros_recovers_the_known_ssnr() {
        let (spec, zeros) = spectrum();
        let noise = |s: f64| 100.0 * (-s / 0.1).exp() + 10.0;
        let signal = |s: f64| 50.0 * (-s / 0.2).exp();
        let curve = booth_ssnr(&spec, &zeros);
        assert!(curve.len() > 1500, "{}", curve.len());
        for p in &curve {
            assert!(
                (p.background / noise(p.frequency) - 1.0).abs() < 0.03,
                "{p:?}"
            );
        }
        // At the maxima (s² = (m + ½) a) the SSNR is S/N.
        for m in 2..20 {
            let s = ((m as f64 + 0.5) * 0.004f64).sqrt();
            let p = curve
                .iter()
                .min_by(|x, y| (x.frequency - s).abs().total_cmp(&(y.frequency - s).abs()))
                .unwrap();
            let truth = signal(s) / noise(s);
            assert!(
                (p.ssnr / truth - 1.0).abs() < 0.1,
                "m {m}: {} vs {truth}",
                p.ssnr
            );
        }
    }

    #[test]
    fn minima_are_the_zeros() {
        let (spec, zeros) = spectrum();
        let found = spectrum_minima(&spec, 2, 3);
        // Every zero below 0.3 is found within a tenth of the local ring spacing a / (2s) (the
        // falling background moves the minimum of P slightly past the zero).
        for &z in zeros.iter().filter(|&&z| z < 0.3) {
            let d = found
                .iter()
                .map(|f| (f - z).abs())
                .fold(f64::INFINITY, f64::min);
            assert!(
                d <= 0.1 * 0.004 / (2.0 * z),
                "zero {z}: nearest minimum {d}"
            );
        }
        assert!(booth_ssnr(&spec, &[]).is_empty());
    }
}
