//! Noise-Transfer2Clean's contrast-guided noise and signal re-weighting (Li et al. 2022,
//! §2.2.3, eq. 4): a clean simulated patch S and a synthesised noise patch V made into a
//! clean-noisy training pair whose contrast is that of the simulated noisy patch X.
//!
//! Eq. 4 asks for α, β, γ minimising Σ (α S + β V + γ − X)² over the patch. Solved literally,
//! β is the regression of X on a noise V drawn independently of X's own noise, so β ≈ 0 and
//! no noise is transferred (the test below shows it). What the paper's words ask for, "the
//! contrast of X as a baseline", is what we solve:
//! - α and γ by least squares of X on S (eq. 4's signal terms; V, independent of X, does not
//!   change them in expectation);
//! - β so that the noise carries the power X has beyond its signal:
//!   β² var(V) = mean((X − α S − γ)²), β ≥ 0.
//!
//! The modulation F is not specified by the paper. Ours is the affine map that gives the
//! noisy patch zero mean and unit variance, applied to both members of the pair: the fine
//! denoiser sees micrographs normalised the same way at inference (Topaz-style
//! normalisation), and a map shared by input and target keeps the signal-to-noise ratio the
//! re-weighting set.

use anyhow::{Result, bail};

/// One re-weighted pair and its coefficients.
#[derive(Clone, Debug, PartialEq)]
pub struct Reweighted {
    /// Signal weight α.
    pub alpha: f64,
    /// Noise weight β (≥ 0).
    pub beta: f64,
    /// Offset γ.
    pub gamma: f64,
    /// The training input F(α S + β V + γ): zero mean, unit variance.
    pub noisy: Vec<f32>,
    /// The training target F(α S + γ), with the same F.
    pub clean: Vec<f32>,
}

/// Re-weights clean patch `signal` (S) and noise patch `noise` (V) to the contrast of the
/// simulated noisy patch `reference` (X); all three the same length (d² values, any order
/// shared by the three).
///
/// # Errors
/// Lengths that differ or are zero, non-finite values, a constant signal or noise patch.
pub fn reweight(signal: &[f32], noise: &[f32], reference: &[f32]) -> Result<Reweighted> {
    let n = signal.len();
    if n == 0 || noise.len() != n || reference.len() != n {
        bail!(
            "signal, noise and reference patches must have the same, non-zero size (got {}, {}, {})",
            n,
            noise.len(),
            reference.len()
        );
    }
    let all = signal.iter().chain(noise).chain(reference);
    if all.clone().any(|v| !v.is_finite()) {
        bail!("a patch holds non-finite values");
    }
    let mean = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let (ms, mv, mx) = (mean(signal), mean(noise), mean(reference));
    let (mut ss, mut sx, mut vv) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (s, v, x) = (
            f64::from(signal[i]) - ms,
            f64::from(noise[i]) - mv,
            f64::from(reference[i]) - mx,
        );
        ss += s * s;
        sx += s * x;
        vv += v * v;
    }
    if ss <= 0.0 {
        bail!("the clean signal patch is constant: it carries no signal to re-weight");
    }
    if vv <= 0.0 {
        bail!("the noise patch is constant: it carries no noise to transfer");
    }
    let alpha = sx / ss;
    let gamma = mx - alpha * ms;
    let residual = reference
        .iter()
        .zip(signal)
        .map(|(&x, &s)| (f64::from(x) - alpha * f64::from(s) - gamma).powi(2))
        .sum::<f64>()
        / n as f64;
    // β V has the residual's power once V's own mean is taken out (γ holds the offset).
    let beta = (residual / (vv / n as f64)).sqrt();
    let noisy: Vec<f64> = (0..n)
        .map(|i| alpha * f64::from(signal[i]) + beta * (f64::from(noise[i]) - mv) + gamma)
        .collect();
    let m = noisy.iter().sum::<f64>() / n as f64;
    let sd = (noisy.iter().map(|y| (y - m).powi(2)).sum::<f64>() / n as f64).sqrt();
    let f = |y: f64| ((y - m) / sd) as f32;
    Ok(Reweighted {
        alpha,
        beta,
        gamma,
        noisy: noisy.iter().map(|&y| f(y)).collect(),
        clean: signal
            .iter()
            .map(|&s| f(alpha * f64::from(s) + gamma))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn normal(n: usize, seed: u64) -> Vec<f32> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| r.normal() as f32).collect()
    }

    /// X = 2 S + 3 + noise of σ 0.5, independent of V: α = 2, γ = 3 and β = 0.5 / σ(V) come
    /// back; eq. 4 solved literally would give β ≈ 0.
    #[test]
    fn the_contrast_of_the_reference_is_recovered() {
        let n = 64 * 64;
        let signal: Vec<f32> = (0..n).map(|i| ((i % 64) as f32 * 0.2).sin()).collect();
        let own = normal(n, 1);
        let reference: Vec<f32> = signal
            .iter()
            .zip(&own)
            .map(|(s, e)| 2.0 * s + 3.0 + 0.5 * e)
            .collect();
        let noise: Vec<f32> = normal(n, 2).iter().map(|v| 4.0 * v + 1.0).collect();
        let r = reweight(&signal, &noise, &reference).unwrap();
        assert!((r.alpha - 2.0).abs() < 0.03, "{}", r.alpha);
        assert!((r.gamma - 3.0).abs() < 0.03, "{}", r.gamma);
        assert!((r.beta - 0.125).abs() < 0.005, "{}", r.beta);
        // The literal least squares over (S, V, 1): V's coefficient is close to 0.
        let mv = noise.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let cov: f64 = noise
            .iter()
            .zip(&reference)
            .map(|(&v, &x)| (f64::from(v) - mv) * f64::from(x))
            .sum::<f64>();
        let var: f64 = noise.iter().map(|&v| (f64::from(v) - mv).powi(2)).sum();
        assert!((cov / var).abs() < 0.01, "literal β {}", cov / var);
        // F: the noisy member has zero mean and unit variance; the pair differs by β V only.
        let m = r.noisy.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        let v = r.noisy.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 1e-5 && (v - 1.0).abs() < 1e-4, "{m} {v}");
        let diff: Vec<f64> = r
            .noisy
            .iter()
            .zip(&r.clean)
            .map(|(a, b)| f64::from(a - b))
            .collect();
        let power = diff.iter().map(|d| d * d).sum::<f64>() / n as f64;
        let signal_power = r.clean.iter().map(|&c| f64::from(c).powi(2)).sum::<f64>() / n as f64;
        // SNR of the pair = that of the reference: (2² var S) / 0.5².
        let var_s = {
            let ms = signal.iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64;
            signal
                .iter()
                .map(|&s| (f64::from(s) - ms).powi(2))
                .sum::<f64>()
                / n as f64
        };
        let want = 4.0 * var_s / 0.25;
        let got = (signal_power
            - (r.clean.iter().map(|&c| f64::from(c)).sum::<f64>() / n as f64).powi(2))
            / power;
        assert!((got / want - 1.0).abs() < 0.05, "{got} vs {want}");
    }

    #[test]
    fn bad_patches_are_refused() {
        let a = vec![1.0f32, 2.0, 3.0];
        assert!(reweight(&a, &a[..2], &a).is_err());
        assert!(
            reweight(&[1.0; 3], &a, &a)
                .unwrap_err()
                .to_string()
                .contains("constant")
        );
        assert!(
            reweight(&a, &[0.5; 3], &a)
                .unwrap_err()
                .to_string()
                .contains("noise")
        );
        assert!(reweight(&a, &[1.0, f32::NAN, 0.0], &a).is_err());
    }
}
