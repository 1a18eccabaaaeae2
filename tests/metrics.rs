//! The estimators of `cryolens::metrics` against known truths: synthetic signal, noise and
//! bias from `cryolens::metrics::synthetic` (every estimate within 5 % of the value computed
//! from the noise-free components), count splitting on synthetic Poisson data and on the real
//! counting sum `../shared/data/micrographs/fei-extended/fei-extended.mrc`.
//!
//! Run with `cargo test --release --test metrics -- --nocapture` to see the measured errors.

use std::path::PathBuf;

use cryolens::image::Image;
use cryolens::metrics::synthetic::{
    NoiseModel, SyntheticConfig, SyntheticSet, generate, smooth_field,
};
use cryolens::metrics::{
    self, CountSplitOptions, GainSource, MetricsError, Region, RegionPair, VarianceEstimate,
    covariance, frank_al_ali_snr, frc, region_snr_nt2c, region_snr_topaz, spectral_covariance,
    split_counts, topaz_even_odd_snr, variance_estimate, variance_estimate_rings,
};
use cryolens::rng::Rng;

/// Relative error |estimate/truth − 1|.
fn rel(estimate: f64, truth: f64) -> f64 {
    (estimate / truth - 1.0).abs()
}

fn check(name: &str, estimate: f64, truth: f64, tol: f64) -> f64 {
    let e = rel(estimate, truth);
    eprintln!(
        "{name:>28}: estimate {estimate:>12.6}  truth {truth:>12.6}  error {:.3} %",
        100.0 * e
    );
    assert!(
        e < tol,
        "{name}: estimate {estimate} vs truth {truth} ({:.2} %)",
        100.0 * e
    );
    e
}

/// [`check`]s the four variances and the two SNRs of estimate `e` against truth `t` (5 %),
/// each named after `prefix`.
fn check_variances(prefix: &str, e: &VarianceEstimate, t: &VarianceEstimate) {
    for (name, estimate, truth) in [
        ("var(S)", e.signal, t.signal),
        ("var(Nn)", e.noise_noisy, t.noise_noisy),
        ("var(Nd)", e.noise_denoised, t.noise_denoised),
        ("var(B)", e.bias, t.bias),
        ("SNR noisy", e.snr_noisy, t.snr_noisy),
        ("SNR denoised", e.snr_denoised, t.snr_denoised),
    ] {
        check(&format!("{prefix}{name}"), estimate, truth, 0.05);
    }
}

/// `size`² pixels, smooth signal (σ 3 px, std 1), Gaussian noise σ 2 (SNR 0.25), denoiser
/// 0.8·G₁.₅(M) + a smooth bias field of std 0.4.
fn gaussian_set(size: usize) -> SyntheticSet {
    generate(&SyntheticConfig {
        width: size,
        height: size,
        pixel_size_angstrom: Some(1.5),
        signal_sigma_px: 3.0,
        signal_std: 1.0,
        noise: NoiseModel::Gaussian { sigma: 2.0 },
        denoiser_scale: 0.8,
        denoiser_sigma_px: 1.5,
        bias_std: 0.4,
        bias_sigma_px: 10.0,
        seed: 11,
        ..SyntheticConfig::default()
    })
}

#[test]
fn palovcak_global_estimates_recover_the_truth() {
    let set = gaussian_set(1024);
    let t = set.truth;
    let [m1, m2] = &set.noisy;
    let [d1, d2] = &set.denoised;
    let e = variance_estimate(m1, m2, d1, d2).unwrap();
    eprintln!("truth {t:?}");
    check_variances("", &e, &t);
    check("SNBR", e.snbr, t.snbr, 0.05);
    check("SBR", e.sbr, t.sbr, 0.05);
}

#[test]
fn palovcak_poisson_noise_estimates_recover_the_truth() {
    // Shot noise: 40 counts per pixel on average, signal std 6 counts, gain 3.
    let set = generate(&SyntheticConfig {
        width: 1024,
        height: 1024,
        signal_sigma_px: 3.0,
        signal_mean: 120.0,
        signal_std: 18.0,
        noise: NoiseModel::Poisson { gain: 3.0 },
        denoiser_scale: 0.8,
        denoiser_sigma_px: 1.5,
        bias_std: 8.0,
        bias_sigma_px: 10.0,
        seed: 5,
        ..SyntheticConfig::default()
    });
    let t = set.truth;
    let e = variance_estimate(
        &set.noisy[0],
        &set.noisy[1],
        &set.denoised[0],
        &set.denoised[1],
    )
    .unwrap();
    check_variances("Poisson ", &e, &t);
}

/// Per-ring truth from the components (the same ring binning as the estimator).
fn ring_truth(set: &SyntheticSet, width: f32) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let p = |a: &Image, b: &Image| -> Vec<f64> {
        spectral_covariance(a, b, width)
            .unwrap()
            .rings
            .iter()
            .map(|r| r.value)
            .collect()
    };
    let avg = |a: Vec<f64>, b: Vec<f64>| a.iter().zip(&b).map(|(x, y)| 0.5 * (x + y)).collect();
    let s = p(&set.signal, &set.signal);
    let nn = avg(
        p(&set.noise[0], &set.noise[0]),
        p(&set.noise[1], &set.noise[1]),
    );
    let nd = avg(
        p(&set.denoised_noise[0], &set.denoised_noise[0]),
        p(&set.denoised_noise[1], &set.denoised_noise[1]),
    );
    let b = p(&set.bias, &set.bias);
    (s, nn, nd, b)
}

/// Predicted relative standard errors of the ring estimates, from the true ring powers and
/// the number K of components (K/2 independent complex values): the sample mean of
/// Re(X Y*) over a ring of independent X, Y with powers P_X, P_Y has variance P_X P_Y / K.
/// Errors of the estimates, to first order (E_i = Nd_i − N_i, of power |a·G − 1|² P_N):
/// signal: c(S, N₁) + c(S, N₂) + c(N₁, N₂); noise: c(N₁, N₂); denoised noise:
/// c(Nd₁, Nd₂); bias: c(B, E₁ + E₂) + c(E₁, E₂); SSNR = FRC/(1 − FRC), which equals the
/// ratio of the signal and noise estimates: δS/S − δN/N, of variance
/// [2 P_N/P_S + (1 + P_N/P_S)²] / K.
struct Predicted {
    signal: f64,
    noise: f64,
    bias: f64,
    ssnr: f64,
}

fn predicted(k: usize, s: f64, nn: f64, b: f64, e: f64) -> Predicted {
    let k = k as f64;
    Predicted {
        signal: (2.0 * s * nn + nn * nn).sqrt() / (s * k.sqrt()),
        noise: 1.0 / k.sqrt(),
        bias: (2.0 * b * e + e * e).sqrt() / (b * k.sqrt()),
        ssnr: (2.0 * nn / s + (1.0 + nn / s).powi(2)).sqrt() / k.sqrt(),
    }
}

/// Rings are checked where the predicted relative standard error is at most 1.25 %, so the
/// 5 % bound is 4 σ.
const MAX_PREDICTED: f64 = 0.0125;

/// Power of E = Nd − N per ring, |a·G_σ(f) − 1|² P_N, with f the ring frequency in cycles/px.
fn e_power(set: &SyntheticSet, f_cycles: f64, nn: f64) -> f64 {
    let d = &set.denoiser;
    let g = (-2.0 * (std::f64::consts::PI * d.sigma_px as f64 * f_cycles).powi(2)).exp();
    (d.scale as f64 * g - 1.0).powi(2) * nn
}

#[test]
fn palovcak_ring_estimates_recover_the_truth() {
    let set = gaussian_set(2048);
    let width = 8.0;
    let [m1, m2] = &set.noisy;
    let [d1, d2] = &set.denoised;
    let est = variance_estimate_rings(m1, m2, d1, d2, width).unwrap();
    assert_eq!(est.unit, metrics::FrequencyUnit::PerAngstrom);
    // Rings up to Nyquist, 1/(2 · 1.5 Å).
    let last = est.rings.last().unwrap();
    assert!(
        (last.frequency - 1.0 / 3.0).abs() < 1e-9,
        "{}",
        last.frequency
    );
    let (s, nn, nd, b) = ring_truth(&set, width);
    assert_eq!(s.len(), est.rings.len());
    let (mut worst, mut checked) = ([0.0f64; 4], [0usize; 4]);
    for (i, r) in est.rings.iter().enumerate() {
        let v = r.value;
        let f = r.frequency * 1.5;
        let p = predicted(r.components, s[i], nn[i], b[i], e_power(&set, f, nn[i]));
        let errors = [
            (p.signal, rel(v.signal, s[i])),
            (p.noise, rel(v.noise_noisy, nn[i])),
            (p.noise, rel(v.noise_denoised, nd[i])),
            (p.bias, rel(v.bias, b[i])),
        ];
        for (k, (predicted, error)) in errors.into_iter().enumerate() {
            if predicted <= MAX_PREDICTED {
                worst[k] = worst[k].max(error);
                checked[k] += 1;
            }
        }
        if std::env::var("METRICS_DEBUG").is_ok() {
            eprintln!(
                "{:4} {:6} S {:9.4} {:6.2}% Nn {:7.4} {:6.2}% Nd {:9.5} {:6.2}% B {:9.4} {:6.2}% (pred. S {:.2}% B {:.2}%)",
                r.index,
                r.components,
                s[i],
                100.0 * errors[0].1,
                nn[i],
                100.0 * errors[1].1,
                nd[i],
                100.0 * errors[2].1,
                b[i],
                100.0 * errors[3].1,
                100.0 * p.signal,
                100.0 * p.bias
            );
        }
    }
    for (k, name) in ["signal", "noise noisy", "noise denoised", "bias"]
        .iter()
        .enumerate()
    {
        eprintln!(
            "ring {name:>15}: {} of {} rings checked, worst error {:.3} %",
            checked[k],
            est.rings.len(),
            100.0 * worst[k]
        );
        assert!(checked[k] >= 5, "{name}: only {} rings", checked[k]);
        assert!(
            worst[k] < 0.05,
            "{name}: worst ring error {:.2} %",
            100.0 * worst[k]
        );
    }
}

#[test]
fn frc_and_ssnr_recover_the_spectral_snr() {
    // Wide rings: the spectral SNR needs many components for a 1 % standard error.
    let set = gaussian_set(2048);
    let width = 16.0;
    let curve = frc(&set.noisy[0], &set.noisy[1], width).unwrap();
    let (s, nn, _, _) = ring_truth(&set, width);
    let (mut worst, mut worst_frc, mut n) = (0.0f64, 0.0f64, 0);
    for (i, r) in curve.rings.iter().enumerate() {
        let ssnr = s[i] / nn[i];
        if predicted(r.components, s[i], nn[i], 1.0, 1.0).ssnr <= MAX_PREDICTED {
            worst = worst.max(rel(r.value.ssnr_half, ssnr));
            worst = worst.max(rel(r.value.ssnr_full, 2.0 * ssnr));
            worst_frc = worst_frc.max(rel(r.value.frc, ssnr / (1.0 + ssnr)));
            n += 1;
        }
    }
    eprintln!(
        "FRC: {n} of {} rings checked, worst SSNR error {:.3} %, worst FRC error {:.3} %",
        curve.rings.len(),
        100.0 * worst,
        100.0 * worst_frc
    );
    assert!(n >= 3 && worst < 0.05 && worst_frc < 0.05);
    // Where there is no signal the FRC is ≈ 0.
    let tail: Vec<f64> = curve
        .rings
        .iter()
        .rev()
        .take(40)
        .map(|r| r.value.frc)
        .collect();
    let mean_tail = tail.iter().sum::<f64>() / tail.len() as f64;
    eprintln!("FRC mean over the outer 20 rings {mean_tail:.5}");
    assert!(mean_tail.abs() < 0.01, "{mean_tail}");
}

#[test]
fn frank_al_ali_and_topaz_even_odd_recover_the_truth() {
    let set = gaussian_set(1024);
    let t = set.truth;
    let [m1, m2] = &set.noisy;
    let fa = frank_al_ali_snr(m1, m2).unwrap();
    check("Frank & Al-Ali SNR", fa.snr, t.snr_noisy, 0.05);
    let db = fa.snr_db.unwrap();
    let truth_db = 10.0 * t.snr_noisy.log10();
    eprintln!("Frank & Al-Ali dB {db:.3} vs {truth_db:.3}");
    assert!((db - truth_db).abs() < 0.2);

    // The identity "denoiser" gives back Frank & Al-Ali.
    let id = topaz_even_odd_snr(m1, m2, |m| Ok(m.clone())).unwrap();
    assert!((id.snr_db.unwrap() - db).abs() < 1e-9);

    // The known denoiser: p = cov(S, S + B) / [var(D) var(M)]^½ from the components.
    let den = set.denoiser.clone();
    let eo = topaz_even_odd_snr(m1, m2, move |m| Ok(den.apply(m))).unwrap();
    // The same from halves denoised beforehand (what analysis and screening pass).
    let (d1, d2) = (set.denoiser.apply(m1), set.denoiser.apply(m2));
    assert_eq!(
        cryolens::metrics::topaz_even_odd_snr_of(m1, m2, &d1, &d2).unwrap(),
        eo
    );
    let mut sb = set.signal.clone();
    sb.data
        .iter_mut()
        .zip(&set.bias.data)
        .for_each(|(v, b)| *v += b);
    let var_sb = covariance(&sb, &sb).unwrap();
    let p = covariance(&set.signal, &sb).unwrap()
        / ((var_sb + t.noise_denoised) * (t.signal + t.noise_noisy)).sqrt();
    let truth = p / (1.0 - p);
    check(
        "Topaz even/odd (odd→even)",
        eo.denoised_odd_vs_even.snr,
        truth,
        0.05,
    );
    check(
        "Topaz even/odd (even→odd)",
        eo.denoised_even_vs_odd.snr,
        truth,
        0.05,
    );
    let mean_db = eo.snr_db.unwrap();
    eprintln!(
        "Topaz even/odd dB {mean_db:.3} vs {:.3}",
        10.0 * truth.log10()
    );
    assert!((mean_db - 10.0 * truth.log10()).abs() < 0.2);
    // Denoising raises the SNR.
    assert!(mean_db > db + 3.0);
}

#[test]
fn region_snr_gives_the_known_decibels() {
    // Background: white Gaussian noise σ = 1 around 10. Signal boxes: contrast c (Topaz:
    // 10 log10(c²/σ²)); inside each signal box a ±a checkerboard (NT2C: 10 log10((a² + σ²)/σ²)).
    let (w, h) = (600, 400);
    let mut rng = Rng::new(21);
    let mut data: Vec<f32> = (0..w * h).map(|_| 10.0 + rng.normal() as f32).collect();
    let contrasts = [3.0f64, 2.0, 5.0];
    let a = 2.0f64;
    let mut pairs = Vec::new();
    for (i, &c) in contrasts.iter().enumerate() {
        let signal = Region {
            x: 20 + 190 * i,
            y: 20,
            width: 150,
            height: 150,
        };
        let background = Region {
            x: 20 + 190 * i,
            y: 220,
            width: 150,
            height: 150,
        };
        for y in signal.y..signal.y + signal.height {
            for x in signal.x..signal.x + signal.width {
                let sign = if (x + y) % 2 == 0 { 1.0 } else { -1.0 };
                data[y * w + x] += (c + sign * a) as f32;
            }
        }
        pairs.push(RegionPair { signal, background });
    }
    let im = Image::new(w, h, data).unwrap();
    let topaz = region_snr_topaz(&im, &pairs).unwrap();
    let truth: Vec<f64> = contrasts.iter().map(|c| 10.0 * (c * c).log10()).collect();
    for (got, want) in topaz.per_pair_db.iter().zip(&truth) {
        check("Topaz region SNR (dB)", *got, *want, 0.05);
    }
    let mean = truth.iter().sum::<f64>() / 3.0;
    check("Topaz region SNR mean (dB)", topaz.snr_db, mean, 0.05);
    let nt2c = region_snr_nt2c(&im, &pairs).unwrap();
    let want = 10.0 * (a * a + 1.0).log10();
    check("NT2C region SNR (dB)", nt2c.snr_db, want, 0.05);
    // A box reaching outside the image is a clear error.
    let mut bad = pairs.clone();
    bad[2].signal.x = 550;
    let err = region_snr_topaz(&im, &bad).unwrap_err();
    assert!(
        matches!(err, MetricsError::BadRegion { pair: 2, .. }),
        "{err}"
    );
    eprintln!("{err}");
}

#[test]
fn count_split_of_synthetic_poisson_data() {
    // Full-dose counts n ~ Poisson(λ), λ = 40 + 8·field, times a gain of 7.3.
    let (w, h) = (512, 512);
    let gain = 7.3f64;
    let field = smooth_field(w, h, 3.0, 2);
    let lambda: Vec<f64> = field.data.iter().map(|&f| 40.0 + 8.0 * f as f64).collect();
    let mut rng = Rng::new(99);
    let data: Vec<f32> = lambda
        .iter()
        .map(|&l| (gain * rng.poisson(l) as f64) as f32)
        .collect();
    let im = Image::new(w, h, data).unwrap().with_pixel_size(Some(1.0));
    let split = split_counts(
        &im,
        &CountSplitOptions {
            seed: 7,
            ..CountSplitOptions::default()
        },
    )
    .unwrap();
    eprintln!(
        "estimated gain {} (true {gain}), {:?}",
        split.gain, split.gain_estimate
    );
    assert!(rel(split.gain, gain) < 1e-4);
    // The noise of each half: half − g·λ/2.
    let noise = |half: &Image| -> Image {
        let mut n = half.clone();
        n.data
            .iter_mut()
            .zip(&lambda)
            .for_each(|(v, l)| *v = (*v as f64 - gain * l / 2.0) as f32);
        n
    };
    let (e1, e2) = (noise(&split.half1), noise(&split.half2));
    let cc = metrics::correlation(&e1, &e2).unwrap();
    eprintln!("cc of the halves' noises {cc:.5}");
    assert!(cc.abs() < 0.01, "{cc}");
    // SNR of a half: var(g·λ/2) / var(noise of a half).
    let mut s = im.clone();
    s.data
        .iter_mut()
        .zip(&lambda)
        .for_each(|(v, l)| *v = (gain * l / 2.0) as f32);
    let var_s = covariance(&s, &s).unwrap();
    let var_n = 0.5 * (covariance(&e1, &e1).unwrap() + covariance(&e2, &e2).unwrap());
    let truth = var_s / var_n;
    let fa = frank_al_ali_snr(&split.half1, &split.half2).unwrap();
    check("count split SNR (F&A)", fa.snr, truth, 0.05);
    let est = variance_estimate(&split.half1, &split.half2, &split.half1, &split.half2).unwrap();
    check("count split var(S)", est.signal, var_s, 0.05);
    check("count split var(N)", est.noise_noisy, var_n, 0.05);
}

#[test]
fn count_split_of_the_real_counting_sum() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc");
    let im = cryolens::io::read_micrograph(&path).unwrap();
    // Integer values that are not exact multiples of a gain ≈ 100: refused unless forced.
    let err = split_counts(&im, &CountSplitOptions::default()).unwrap_err();
    assert!(matches!(err, MetricsError::NotCounts { .. }), "{err}");
    eprintln!("unforced: {err}");
    let split = split_counts(
        &im,
        &CountSplitOptions {
            force: true,
            seed: 1,
            ..CountSplitOptions::default()
        },
    )
    .unwrap();
    eprintln!("gain {:.2}, {:?}", split.gain, split.gain_estimate);
    assert!((90.0..120.0).contains(&split.gain), "{}", split.gain);
    let curve = frc(&split.half1, &split.half2, 8.0).unwrap();
    let n = curve.rings.len();
    let low: Vec<f64> = curve.rings[..5].iter().map(|r| r.value.frc).collect();
    let outer = &curve.rings[3 * n / 4..];
    let outer_mean = outer.iter().map(|r| r.value.frc).sum::<f64>() / outer.len() as f64;
    eprintln!("FRC low rings {low:?}; outer-quarter mean {outer_mean:.4}");
    assert!(low.iter().all(|&f| f > 0.3), "{low:?}");
    assert!(outer_mean.abs() < 0.05, "{outer_mean}");
    // With the nominal gain of 100 too.
    let split100 = split_counts(
        &im,
        &CountSplitOptions {
            gain: GainSource::Given(100.0),
            force: true,
            seed: 1,
            ..CountSplitOptions::default()
        },
    )
    .unwrap();
    let curve = frc(&split100.half1, &split100.half2, 8.0).unwrap();
    let outer = &curve.rings[3 * n / 4..];
    let outer_mean = outer.iter().map(|r| r.value.frc).sum::<f64>() / outer.len() as f64;
    eprintln!("gain 100: outer-quarter FRC mean {outer_mean:.4}");
    assert!(outer_mean.abs() < 0.05, "{outer_mean}");
}
