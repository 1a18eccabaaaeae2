//! Half-map FSC, C_ref and per-shell signal/noise/bias variances against known truth, on
//! half-maps made from a real map (EMD-3883 80S ribosome resized to 64³, 8.66 Å/voxel,
//! `../shared/data/maps/zarr_particle_tools/`) with independent noise of a chosen per-shell SNR
//! (`cryolens::analysis::halfmap::synthetic_half_maps`).
//!
//! Tolerances. A correlation ρ estimated from n Fourier components (n/2 independent complex
//! values, Friedel pairs being conjugate) has a standard error se ≈ (1 − ρ²)/√(n/2), and a
//! shell covariance a relative error ≈ 1/√(n/2) from the signal–noise cross terms. FSC and
//! C_ref are held to max(5 % of the truth, 3·se) on every shell of ≥ 100 components (5 % is
//! the binding limit wherever 3·se < 5 %, i.e. on the well-sampled shells; the test prints
//! how many), the variance estimates to 5 % on shells of ≥ 4,000 components (3·se ≤ 3.4 %),
//! and the FSC crossings to 5 % of the crossing frequency.

mod common;

use cryolens::analysis::halfmap::{HalfMaps, radial_filter, synthetic_half_maps};
use cryolens::image::Volume;
use cryolens::metrics::fsc::{c_ref, fsc, shell_covariance, variance_estimate_shells};

const MIN_COMPONENTS: usize = 4000;

fn ribosome() -> Volume {
    let path = common::data("maps/zarr_particle_tools/ribo80s_emd_3883_866_64_resized.mrc");
    let (_, v) = cryolens::io::read(&path).expect("read the ribosome map");
    assert_eq!((v.depth, v.height, v.width), (64, 64, 64));
    let p = v.pixel_size_angstrom.expect("voxel size in the header");
    assert!((p - 8.66).abs() < 0.01, "{p}");
    v
}

/// max(5 % of ρ, 3 standard errors of a correlation ρ estimated from n components).
fn tolerance(rho: f64, components: usize) -> f64 {
    let se = (1.0 - rho * rho) / (components as f64 / 2.0).sqrt();
    (0.05 * rho.abs()).max(3.0 * se)
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// SNR(f) = 20·exp(−(f/0.2)²) per shell, f in cycles/voxel: FSC = SNR/(1+SNR) crosses 0.5
/// where SNR = 1, at f = 0.2·√ln 20, and 0.143 where SNR = 0.143/0.857, at f = 0.2·√ln(20·0.857/0.143).
fn snr_curve(f: f64) -> f64 {
    20.0 * (-(f / 0.2).powi(2)).exp()
}

#[test]
fn fsc_and_crossings_match_the_chosen_snr() {
    let truth = ribosome();
    let maps = synthetic_half_maps(&truth, snr_curve, 7).expect("synthetic half-maps");
    let report = maps.halves.fsc(1.0).expect("fsc");
    let (mut checked, mut at_5_percent) = (0, 0);
    for r in report.curve.rings.iter().filter(|r| r.components >= 100) {
        let snr = snr_curve(r.index as f64 / 64.0);
        let expected = snr / (1.0 + snr);
        let err = (r.value.fsc - expected).abs();
        let tol = tolerance(expected, r.components);
        assert!(
            err <= tol,
            "shell {}: FSC {:.4}, expected {expected:.4} ± {tol:.4}",
            r.index,
            r.value.fsc
        );
        checked += 1;
        at_5_percent += usize::from(err <= 0.05 * expected);
    }
    println!("FSC: {at_5_percent} of {checked} shells within 5 % of the truth");
    assert!(checked >= 25, "{checked} shells checked");
    let voxel = 8.66f64;
    for (crossing, threshold) in [(report.at_05, 0.5), (report.at_0143, 0.143)] {
        let snr_t = threshold / (1.0 - threshold);
        let f_expected = 0.2 * (20.0f64 / snr_t).ln().sqrt() / voxel;
        let c = *crossing.crossing().expect("crossing below Nyquist");
        println!(
            "FSC {threshold}: {:.2} Å (expected {:.2} Å)",
            c.resolution,
            1.0 / f_expected
        );
        assert!(
            rel(c.frequency, f_expected) <= 0.05,
            "{threshold}: {} vs {f_expected} 1/Å",
            c.frequency
        );
    }
}

#[test]
fn c_ref_predicts_the_correlation_of_the_average_with_the_truth() {
    let truth = ribosome();
    let maps = synthetic_half_maps(&truth, |_| 1.0, 11).expect("synthetic half-maps");
    let halves = fsc(&maps.halves.half1, &maps.halves.half2, 1.0, None).unwrap();
    let avg_vs_truth = fsc(&maps.halves.average(), &truth, 1.0, None).unwrap();
    let mut checked = 0;
    for (h, t) in halves.rings.iter().zip(&avg_vs_truth.rings) {
        assert_eq!(h.index, t.index);
        if h.components < 100 {
            continue;
        }
        // Known truth: SNR 1 per half → FSC 0.5, and the average correlates with the truth
        // as C_ref(0.5) = √(2/3).
        let n = h.components;
        assert!((h.value.fsc - 0.5).abs() <= tolerance(0.5, n), "{h:?}");
        let truth_c = c_ref(0.5);
        assert!(
            (t.value.fsc - truth_c).abs() <= tolerance(truth_c, n),
            "{t:?}"
        );
        // C_ref from the half-maps predicts the measured correlation with the truth.
        assert!(
            (h.value.c_ref - t.value.fsc).abs() <= tolerance(truth_c, n),
            "{h:?} vs {t:?}"
        );
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn variance_estimates_match_the_known_components() {
    let truth = ribosome();
    let snr = 2.0;
    let maps = synthetic_half_maps(&truth, |_| snr, 3).expect("synthetic half-maps");
    // A deterministic "denoiser" with known bias and noise: a Gaussian low-pass H(f).
    let h = |f: f64| (-(f / 0.25).powi(2)).exp();
    let (m1, m2) = (&maps.halves.half1, &maps.halves.half2);
    let (d1, d2) = (radial_filter(m1, h), radial_filter(m2, h));
    let est = variance_estimate_shells(m1, m2, &d1, &d2, 1.0, None).unwrap();
    // The realised truth of each component, per shell.
    let power = |v: &Volume| shell_covariance(v, v, 1.0, None).unwrap();
    let sub = |a: &Volume, b: &Volume| Volume {
        data: a.data.iter().zip(&b.data).map(|(x, y)| x - y).collect(),
        ..a.clone()
    };
    let signal = power(&truth);
    let (n1, n2) = (power(&maps.noise1), power(&maps.noise2));
    let (nd1, nd2) = (
        power(&radial_filter(&maps.noise1, h)),
        power(&radial_filter(&maps.noise2, h)),
    );
    let bias = power(&sub(&radial_filter(&truth, h), &truth));
    let mut checked = 0;
    for (i, e) in est.rings.iter().enumerate() {
        if e.components < MIN_COMPONENTS {
            continue;
        }
        let v = e.value;
        let s = signal.rings[i].value;
        let n = 0.5 * (n1.rings[i].value + n2.rings[i].value);
        let nd = 0.5 * (nd1.rings[i].value + nd2.rings[i].value);
        let b = bias.rings[i].value;
        println!(
            "shell {:2}: S {:.3e}/{:.3e} N {:.3e}/{:.3e} Nd {:.3e}/{:.3e} B {:.3e}/{:.3e}",
            e.index, v.signal, s, v.noise_noisy, n, v.noise_denoised, nd, v.bias, b
        );
        assert!(rel(v.signal, s) <= 0.05, "shell {}: signal", e.index);
        assert!(rel(v.noise_noisy, n) <= 0.05, "shell {}: noise", e.index);
        assert!(
            rel(v.noise_denoised, nd) <= 0.05,
            "shell {}: noise after denoising",
            e.index
        );
        // var(B) is a difference of covariances of size var(S): its error scales with var(S),
        // so it is held to 5 % of var(S) + var(B).
        assert!(
            (v.bias - b).abs() <= 0.05 * (s + b),
            "shell {}: bias {} vs {b}",
            e.index,
            v.bias
        );
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn mask_of_ones_changes_nothing_and_mismatches_are_errors() {
    let truth = ribosome();
    let maps = synthetic_half_maps(&truth, |_| 1.0, 5).unwrap();
    let ones = Volume {
        data: vec![1.0; truth.data.len()],
        ..truth.clone()
    };
    let plain = maps.halves.fsc(1.0).unwrap();
    let masked = HalfMaps::new(
        maps.halves.half1.clone(),
        maps.halves.half2.clone(),
        Some(ones),
    )
    .unwrap()
    .fsc(1.0)
    .unwrap();
    assert_eq!(plain.curve, masked.curve);
    let small = Volume {
        width: 32,
        data: vec![1.0; 32 * 64 * 64],
        ..truth.clone()
    };
    assert!(HalfMaps::new(truth.clone(), small, None).is_err());
    assert!(synthetic_half_maps(&truth, |_| 0.0, 1).is_err());
}

#[test]
fn cli_prints_crossings_and_writes_the_curve() {
    let truth = ribosome();
    let maps = synthetic_half_maps(&truth, snr_curve, 7).unwrap();
    let expected = maps.halves.fsc(1.0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (h1, h2, csv) = (
        dir.path().join("half1.mrc"),
        dir.path().join("half2.mrc"),
        dir.path().join("fsc.csv"),
    );
    cryolens::io::mrc::write_volume(&h1, &maps.halves.half1).unwrap();
    cryolens::io::mrc::write_volume(&h2, &maps.halves.half2).unwrap();
    let out = common::cryolens()
        .args(["fsc", h1.to_str().unwrap(), h2.to_str().unwrap(), "--csv"])
        .arg(&csv)
        .output()
        .expect("run cryolens fsc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = expected.at_0143.resolution().unwrap();
    let b = expected.at_05.resolution().unwrap();
    assert!(
        stdout.contains(&format!("FSC = 0.143: {a:.2} Å")),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("FSC = 0.5: {b:.2} Å")), "{stdout}");
    assert!(stdout.contains("FSC_scalar"), "{stdout}");
    assert!(stdout.contains("correlated damping"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 1 + expected.curve.rings.len());
    assert!(
        text.lines().next().unwrap().ends_with(",signal,noise,snr"),
        "{text}"
    );
    // With denoised half-maps (here the halves themselves): bias columns, bias 0.
    let out = common::cryolens()
        .args(["fsc", h1.to_str().unwrap(), h2.to_str().unwrap(), "--csv"])
        .arg(&csv)
        .arg("--denoised1")
        .arg(&h1)
        .arg("--denoised2")
        .arg(&h2)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with(",bias,snr_denoised,sbr")
    );
    let row: Vec<f64> = text
        .lines()
        .nth(5)
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(row[11].abs() <= 1e-6 * row[7].abs(), "{row:?}");
    // A missing file is a clear error.
    let out = common::cryolens()
        .args(["fsc", h1.to_str().unwrap(), "/nonexistent/half2.mrc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("half2.mrc"));
}

fn run_fsc(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = common::cryolens()
        .arg("fsc")
        .args(args)
        .output()
        .expect("run cryolens fsc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Constant half-maps (and real ones under an all-zero mask) have an FSC of 0 by convention
/// in every shell: there is no crossing, and neither the text nor the CSV makes one up.
#[test]
fn cli_reports_no_crossing_for_maps_without_signal() {
    let dir = tempfile::tempdir().unwrap();
    let n = 32;
    let constant = Volume {
        width: n,
        height: n,
        depth: n,
        data: vec![1.25; n * n * n],
        pixel_size_angstrom: Some(2.0),
    };
    let (c1, c2, csv) = (
        dir.path().join("c1.mrc"),
        dir.path().join("c2.mrc"),
        dir.path().join("fsc.csv"),
    );
    cryolens::io::mrc::write_volume(&c1, &constant).unwrap();
    cryolens::io::mrc::write_volume(&c2, &constant).unwrap();
    let (ok, stdout, stderr) = run_fsc(&[c1.as_ref(), c2.as_ref(), "--csv".as_ref(), csv.as_ref()]);
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains(" Å ("),
        "a crossing was reported: {stdout}"
    );
    assert_eq!(stdout.matches("no crossing").count(), 2, "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    for line in text.lines().skip(1) {
        // has_signal 0 and empty FSC, C_ref cells.
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(&cells[4..7], ["0", "", ""], "{line}");
    }
    // A real map under an all-zero mask.
    let truth = ribosome();
    let maps = synthetic_half_maps(&truth, snr_curve, 3).unwrap();
    let (h1, h2, mask) = (
        dir.path().join("h1.mrc"),
        dir.path().join("h2.mrc"),
        dir.path().join("mask.mrc"),
    );
    cryolens::io::mrc::write_volume(&h1, &maps.halves.half1).unwrap();
    cryolens::io::mrc::write_volume(&h2, &maps.halves.half2).unwrap();
    let zero = Volume {
        data: vec![0.0; truth.data.len()],
        ..truth.clone()
    };
    cryolens::io::mrc::write_volume(&mask, &zero).unwrap();
    let (ok, stdout, stderr) =
        run_fsc(&[h1.as_ref(), h2.as_ref(), "--mask".as_ref(), mask.as_ref()]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.matches("no crossing").count(), 2, "{stdout}");
    let report = HalfMaps::new(
        maps.halves.half1.clone(),
        maps.halves.half2.clone(),
        Some(zero),
    )
    .unwrap()
    .fsc(1.0)
    .unwrap();
    assert_eq!(
        report.at_0143,
        cryolens::metrics::fsc::FscThreshold::NoSignal
    );
}

/// Half-maps of 1 Å and 2 Å voxels are refused (naming both and `--force`); `--force` or
/// `--pixel-size` accepts them; an implausible voxel size in a header is refused too.
#[test]
fn cli_refuses_mismatched_or_implausible_voxel_sizes_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let truth = ribosome();
    let maps = synthetic_half_maps(&truth, snr_curve, 5).unwrap();
    let write = |name: &str, v: &Volume, p: f32| {
        let path = dir.path().join(name);
        let v = Volume {
            pixel_size_angstrom: Some(p),
            ..v.clone()
        };
        cryolens::io::mrc::write_volume(&path, &v).unwrap();
        path
    };
    let h1 = write("h1.mrc", &maps.halves.half1, 1.0);
    let h2 = write("h2.mrc", &maps.halves.half2, 2.0);
    let (ok, _, stderr) = run_fsc(&[h1.as_ref(), h2.as_ref()]);
    assert!(!ok);
    assert!(
        stderr.contains("h1.mrc") && stderr.contains("h2.mrc") && stderr.contains("--force"),
        "{stderr}"
    );
    let (ok, stdout, stderr) = run_fsc(&[h1.as_ref(), h2.as_ref(), "--force".as_ref()]);
    assert!(ok, "{stderr}");
    // h1's cell of 1 Å/px reads as unset: h2's size is the first known one.
    assert!(stdout.contains("voxel size 2 Å"), "{stdout}");
    let (ok, stdout, stderr) = run_fsc(&[
        h1.as_ref(),
        h2.as_ref(),
        "--pixel-size".as_ref(),
        "8.66".as_ref(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("voxel size 8.66 Å"), "{stdout}");
    // 1e-30 Å in both headers.
    let t1 = write("t1.mrc", &maps.halves.half1, 1e-30);
    let t2 = write("t2.mrc", &maps.halves.half2, 1e-30);
    let (ok, _, stderr) = run_fsc(&[t1.as_ref(), t2.as_ref()]);
    assert!(
        !ok && stderr.contains("e-30") && stderr.contains("--pixel-size"),
        "{stderr}"
    );
    let (ok, _, stderr) = run_fsc(&[
        t1.as_ref(),
        t2.as_ref(),
        "--pixel-size".as_ref(),
        "1e30".as_ref(),
    ]);
    assert!(!ok && stderr.contains("1e30"), "{stderr}");
}

/// crefDenoiser eq. 12–13 and 2 in the FSC report: half-maps = known signal + independent
/// noise of known power (SNR 0.5 in every shell) give the realised signal and noise power per
/// shell, SNR 0.5, and FSC_scalar / Nyquist = the mean FSC = 0.5/1.5.
#[test]
fn report_has_signal_noise_per_shell_and_fsc_scalar() {
    let truth = ribosome();
    let snr = 0.5;
    let maps = synthetic_half_maps(&truth, |_| snr, 13).unwrap();
    let report = maps.halves.fsc(1.0).unwrap();
    let power = |v: &Volume| shell_covariance(v, v, 1.0, None).unwrap();
    let (s, n1, n2) = (power(&truth), power(&maps.noise1), power(&maps.noise2));
    let mut checked = 0;
    for (i, e) in report.shells.rings.iter().enumerate() {
        if e.components < MIN_COMPONENTS {
            continue;
        }
        let v = e.value;
        let n = 0.5 * (n1.rings[i].value + n2.rings[i].value);
        // A shell covariance of two maps of powers S + N sharing S has a standard error
        // ≈ √((S + N)² + S²) / √(n/2) (n components): 3 se for signal and noise.
        let sv = s.rings[i].value;
        let se = ((sv + n).powi(2) + sv * sv).sqrt() / (e.components as f64 / 2.0).sqrt();
        assert!(
            (v.signal - sv).abs() <= 3.0 * se,
            "shell {}: signal {} vs {sv}",
            e.index,
            v.signal
        );
        assert!(
            (v.noise_noisy - n).abs() <= 3.0 * se,
            "shell {}: noise {} vs {n}",
            e.index,
            v.noise_noisy
        );
        assert!(
            (v.snr_noisy - snr).abs() <= 3.0 * se / n,
            "shell {}: SNR {}",
            e.index,
            v.snr_noisy
        );
        assert!(
            v.bias.abs() <= 1e-9 * v.signal.abs().max(1.0),
            "no denoiser, no bias"
        );
        checked += 1;
    }
    assert!(checked >= 10);
    let nyquist = 0.5 / 8.66;
    assert!((report.scalar.max_frequency - nyquist).abs() < 1e-3 * nyquist);
    assert!(
        (report.scalar.mean - snr / (1.0 + snr)).abs() < 0.03,
        "{:?}",
        report.scalar
    );
}
