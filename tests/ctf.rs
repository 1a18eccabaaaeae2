//! The CTF type (`cryolens::ctf`): wavelength, zeros, astigmatism, layouts, STAR and CTFFIND
//! parsing, and the Thon rings of a real micrograph.

mod common;

use std::f64::consts::PI;

use cryolens::ctf::{
    Ctf, CtfError, electron_wavelength_angstrom, parse_ctf_star, parse_ctffind, read_ctf_star,
};
use cryolens::fourier::{Window, power_spectrum_linear, rotational_average};

fn ctf(u: f64, v: f64, angle: f64) -> Ctf {
    Ctf {
        defocus_u_angstrom: u,
        defocus_v_angstrom: v,
        defocus_angle_degrees: angle,
        voltage_kv: 300.0,
        spherical_aberration_mm: 2.7,
        amplitude_contrast: 0.1,
        phase_shift_degrees: 0.0,
    }
}

#[test]
fn wavelength_at_300_and_200_kv() {
    assert!((electron_wavelength_angstrom(300.0) - 0.019687).abs() < 1e-5);
    // 200 kV: 0.025079 Å (standard tables).
    assert!((electron_wavelength_angstrom(200.0) - 0.025079).abs() < 1e-5);
    assert!((ctf(1e4, 1e4, 0.0).wavelength_angstrom() - 0.019687).abs() < 1e-5);
}

#[test]
fn first_zero_matches_the_analytic_solution() {
    // Without Cs: -sin(χ) = 0 first where π λ Δz s² = π − arcsin(Q), i.e.
    // s₁ = √((1 − arcsin(Q)/π) / (λ Δz)).
    let mut c = ctf(12_000.0, 12_000.0, 0.0);
    c.spherical_aberration_mm = 0.0;
    let lambda = electron_wavelength_angstrom(300.0);
    let s1 = ((1.0 - 0.1f64.asin() / PI) / (lambda * 12_000.0)).sqrt();
    let zeros = c.zeros_along(0.3, 5);
    assert_eq!(zeros.len(), 5);
    assert!((zeros[0] - s1).abs() < 1e-9 * s1, "{} vs {s1}", zeros[0]);
    // The k-th zero: s_k = √((k − arcsin(Q)/π) / (λ Δz)).
    for (k, z) in zeros.iter().enumerate() {
        let want = (((k + 1) as f64 - 0.1f64.asin() / PI) / (lambda * 12_000.0)).sqrt();
        assert!((z - want).abs() < 1e-9 * want);
    }
    // With Cs = 2.7 mm the zeros solve a quadratic in u = s²: a u² + b u + c = 0 with
    // a = π/2 Cs λ³, b = −π λ Δz, c = −arcsin Q + π (first zero, χ = −π).
    let c = ctf(12_000.0, 12_000.0, 0.0);
    let a = PI / 2.0 * 2.7e7 * lambda.powi(3);
    let b = -PI * lambda * 12_000.0;
    let cc = -(0.1f64.asin()) + PI;
    let u = (-b - (b * b - 4.0 * a * cc).sqrt()) / (2.0 * a);
    let z = c.zeros_along(0.0, 3);
    assert!((z[0] - u.sqrt()).abs() < 1e-9, "{} vs {}", z[0], u.sqrt());
    // The CTF vanishes there and changes sign across each zero.
    for &s in &z {
        assert!(c.value(s, 0.0).abs() < 1e-9);
        let (lo, hi) = (c.value(s * 0.999, 0.0), c.value(s * 1.001, 0.0));
        assert!(lo * hi < 0.0, "no sign change at {s}");
    }
    // Zeros increase, and at low frequency the CTF is positive (RELION's sign).
    assert!(z.windows(2).all(|w| w[1] > w[0]));
    assert!(c.value(0.5 * z[0], 0.0) > 0.0);
    assert!((c.value(0.0, 0.0) - 0.1).abs() < 1e-12);
}

#[test]
fn zeros_follow_the_cs_turnaround() {
    // Large Cs and small defocus: χ(u) turns around at u* = Δz / (Cs λ²); zeros counted past it
    // stay increasing and are zeros of the CTF.
    let mut c = ctf(500.0, 500.0, 0.0);
    c.spherical_aberration_mm = 10.0;
    let z = c.zeros_along(0.0, 12);
    assert_eq!(z.len(), 12);
    assert!(z.windows(2).all(|w| w[1] > w[0]));
    for &s in &z {
        assert!(c.value(s, 0.0).abs() < 1e-7, "{s}: {}", c.value(s, 0.0));
    }
    // A phase plate (90°) moves the first zero inwards.
    let mut pp = ctf(12_000.0, 12_000.0, 0.0);
    pp.phase_shift_degrees = 90.0;
    assert!(pp.zeros_along(0.0, 1)[0] < ctf(12_000.0, 12_000.0, 0.0).zeros_along(0.0, 1)[0]);
}

#[test]
fn astigmatism_rotates_with_the_defocus_angle() {
    let c = ctf(15_000.0, 10_000.0, 30.0);
    let along_u = ctf(15_000.0, 15_000.0, 0.0);
    let along_v = ctf(10_000.0, 10_000.0, 0.0);
    let a = 30f64.to_radians();
    assert!((c.defocus_at(a) - 15_000.0).abs() < 1e-9);
    assert!((c.defocus_at(a + PI / 2.0) - 10_000.0).abs() < 1e-9);
    let (zu, zv) = (c.zeros_along(a, 4), c.zeros_along(a + PI / 2.0, 4));
    for (x, y) in zu.iter().zip(along_u.zeros_along(1.0, 4)) {
        assert!((x - y).abs() < 1e-12);
    }
    for (x, y) in zv.iter().zip(along_v.zeros_along(1.0, 4)) {
        assert!((x - y).abs() < 1e-12);
    }
    // Rotating the astigmatism rotates the CTF: c(s, θ) = c₀(s, θ − 30°).
    let c0 = ctf(15_000.0, 10_000.0, 0.0);
    for i in 0..50 {
        let theta = i as f64 * 0.37;
        let s = 0.02 + 0.005 * i as f64;
        let v = c.value(s * theta.cos(), s * theta.sin());
        let v0 = c0.value(s * (theta - a).cos(), s * (theta - a).sin());
        assert!((v - v0).abs() < 1e-9, "θ={theta}: {v} vs {v0}");
    }
    // Zeros along U come later than along V (more defocus, denser rings: smaller s).
    assert!(zu[0] < zv[0]);
}

#[test]
fn layouts_match_value() {
    let c = ctf(9_000.0, 8_000.0, 45.0);
    let (w, h, p) = (64usize, 48usize, 1.5f64);
    let half = c.fill_half_plane(w, h, p);
    assert_eq!(half.len(), (w / 2 + 1) * h);
    for kx in [0usize, 5, 32] {
        for ky in [0usize, 3, 24, 40] {
            let ky_signed = if ky <= h / 2 {
                ky as f64
            } else {
                ky as f64 - h as f64
            };
            let want = c.value(kx as f64 / (w as f64 * p), ky_signed / (h as f64 * p));
            assert!((half[kx * h + ky] as f64 - want).abs() < 1e-6);
        }
    }
    let full = c.fill_2d(w, h, p);
    assert_eq!((full.width, full.height), (w, h));
    assert_eq!(full.pixel_size_angstrom, Some(1.5));
    for (x, y) in [(32usize, 24usize), (40, 10), (0, 0), (63, 47)] {
        let want = c.value(
            (x as f64 - 32.0) / (w as f64 * p),
            (y as f64 - 24.0) / (h as f64 * p),
        );
        assert!((full.data[y * w + x] as f64 - want).abs() < 1e-6);
    }
    // The CTF is even: the centred image is symmetric through the centre.
    assert!((full.get(40, 10) - full.get(24, 38)).abs() < 1e-6);
    assert!(c.fill_half_plane(w, h, 0.0).is_empty());
}

const RELION31: &str = "
# version 30001

data_optics

loop_
_rlnOpticsGroupName #1
_rlnOpticsGroup #2
_rlnMicrographPixelSize #3
_rlnVoltage #4
_rlnSphericalAberration #5
_rlnAmplitudeContrast #6
opticsGroup1 1 0.885000 300.000000 2.700000 0.100000
opticsGroup2 2 1.100000 200.000000 1.400000 0.070000

# version 30001

data_micrographs

loop_
_rlnMicrographName #1
_rlnOpticsGroup #2
_rlnDefocusU #3
_rlnDefocusV #4
_rlnDefocusAngle #5
_rlnCtfMaxResolution #6
_rlnPhaseShift #7
MotionCorr/job002/mic_001.mrc 1 10864.146484 10575.793945 -77.995415 4.2 0.0
MotionCorr/job002/mic_002.mrc 2 12000.0 11000.0 12.5 3.9 45.0
";

#[test]
fn star_relion31_with_optics() {
    let m = parse_ctf_star(RELION31).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].micrograph_name, "MotionCorr/job002/mic_001.mrc");
    assert_eq!(m[0].ctf.defocus_u_angstrom, 10864.146484);
    assert_eq!(m[0].ctf.defocus_angle_degrees, -77.995415);
    assert_eq!(m[0].ctf.voltage_kv, 300.0);
    assert_eq!(m[0].pixel_size_angstrom, Some(0.885));
    assert_eq!(m[1].ctf.voltage_kv, 200.0);
    assert_eq!(m[1].ctf.spherical_aberration_mm, 1.4);
    assert_eq!(m[1].ctf.amplitude_contrast, 0.07);
    assert_eq!(m[1].ctf.phase_shift_degrees, 45.0);
    assert_eq!(m[1].pixel_size_angstrom, Some(1.1));
}

#[test]
fn star_relion30_real_ctffind_table() {
    // Real RELION 3.0 CTF table (Topaz's EMPIAR-10025 example): voltage, Cs and amplitude
    // contrast in every row, pixel size from detector pixel (µm) and magnification.
    let m = read_ctf_star(&common::data(
        "coords/topaz_empiar10025_coords/ctf_params.star",
    ))
    .unwrap();
    assert!(m.len() >= 18, "{} micrographs", m.len());
    let first = &m[0];
    assert_eq!(
        first.micrograph_name,
        "14sep05c_c_00003gr_00014sq_00004hl_00004es_c.mrc"
    );
    assert_eq!(first.ctf.defocus_u_angstrom, 14905.809570);
    assert_eq!(first.ctf.defocus_v_angstrom, 15058.5);
    assert_eq!(first.ctf.defocus_angle_degrees, -0.22);
    assert_eq!(first.ctf.voltage_kv, 300.0);
    assert_eq!(first.ctf.spherical_aberration_mm, 2.7);
    assert_eq!(first.ctf.amplitude_contrast, 0.1);
    assert_eq!(first.ctf.phase_shift_degrees, 0.0);
    let p = first.pixel_size_angstrom.unwrap();
    assert!((p - 2.5e4 / 38023.0).abs() < 1e-9);
}

#[test]
fn star_particles_with_optics_groups() {
    // A real RELION 3.1 particle file with six optics groups: one CTF per micrograph.
    let m = read_ctf_star(&common::data("coords/cryodrgn/relion31.6opticsgroups.star")).unwrap();
    assert!(!m.is_empty());
    let mut names: Vec<_> = m.iter().map(|x| x.micrograph_name.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), m.len());
    assert!(m.iter().all(|x| x.ctf.voltage_kv == 200.0));
}

#[test]
fn star_errors_are_clear() {
    // No defocus V.
    let text = RELION31.replace("_rlnDefocusV #4", "_rlnDefocusX #4");
    let e = parse_ctf_star(&text).unwrap_err();
    assert!(
        matches!(&e, CtfError::MissingColumn { column, .. } if column == "rlnDefocusV"),
        "{e}"
    );
    assert!(e.to_string().contains("rlnDefocusV"));
    // No voltage anywhere.
    let text = RELION31.replace("_rlnVoltage #4", "_rlnSomething #4");
    let e = parse_ctf_star(&text).unwrap_err();
    assert!(e.to_string().contains("rlnVoltage"), "{e}");
    assert!(e.to_string().contains("data_optics"), "{e}");
    // A bad number names the column and the line.
    let text = RELION31.replace("12000.0 11000.0", "12000.0 eleven");
    let e = parse_ctf_star(&text).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("rlnDefocusV") && msg.contains("eleven"),
        "{msg}"
    );
    // An optics group that does not exist.
    let text = RELION31.replace("mic_002.mrc 2 ", "mic_002.mrc 7 ");
    assert!(matches!(
        parse_ctf_star(&text),
        Err(CtfError::UnknownOpticsGroup { row: 2, group: 7 })
    ));
    // Physically impossible amplitude contrast.
    let text = RELION31.replace("2.700000 0.100000", "2.700000 1.500000");
    assert!(matches!(
        parse_ctf_star(&text),
        Err(CtfError::InvalidParameter { .. })
    ));
    // No CTF table at all; malformed STAR.
    assert!(matches!(
        parse_ctf_star("data_x\nloop_\n_rlnCoordinateX\n1\n"),
        Err(CtfError::NoCtfTable(_))
    ));
    assert!(matches!(
        parse_ctf_star("data_micrographs\nloop_\n_rlnMicrographName\n_rlnDefocusU\na 1 2\n"),
        Err(CtfError::Star { .. })
    ));
}

const CTFFIND: &str = "# Output from CTFFind version 4.1.14, run on 2021-03-02 10:11:12
# Input file: /data/mic_0001.mrc ; Number of micrographs: 1
# Pixel size: 1.060 Angstroms ; acceleration voltage: 300.0 keV ; spherical aberration: 2.70 mm ; amplitude contrast: 0.07
# Box size: 512 pixels ; min. res.: 30.0 Angstroms ; max. res.: 5.0 Angstroms ; min. def.: 5000.0 um; max. def. 50000.0 um
# Columns: #1 - micrograph number; #2 - defocus 1 [Angstroms]; #3 - defocus 2; #4 - azimuth of astigmatism; #5 - additional phase shift [radians]; #6 - cross correlation; #7 - spacing (in Angstroms) up to which CTF rings were fit successfully
1.000000 10039.917969 9827.044922 -48.700089 0.523599 0.091293 4.095238
";

#[test]
fn ctffind_output() {
    let m = parse_ctffind(CTFFIND).unwrap();
    assert_eq!(m.len(), 1);
    let c = &m[0];
    assert_eq!(c.micrograph_name, "/data/mic_0001.mrc");
    assert_eq!(c.pixel_size_angstrom, Some(1.06));
    assert_eq!(c.ctf.voltage_kv, 300.0);
    assert_eq!(c.ctf.spherical_aberration_mm, 2.7);
    assert_eq!(c.ctf.amplitude_contrast, 0.07);
    assert_eq!(c.ctf.defocus_u_angstrom, 10039.917969);
    assert_eq!(c.ctf.defocus_v_angstrom, 9827.044922);
    assert_eq!(c.ctf.defocus_angle_degrees, -48.700089);
    assert!((c.ctf.phase_shift_degrees - 30.0).abs() < 1e-4);
    // Several rows (a stack): one entry each, named by index.
    let two = format!("{CTFFIND}2.000000 11000.0 10900.0 10.0 0.0 0.1 4.5 0.0\n");
    let m = parse_ctffind(&two).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].micrograph_name, "/data/mic_0001.mrc#2");
    assert_eq!(m[1].ctf.defocus_u_angstrom, 11000.0);
}

/// CTFFIND5's layout: columns 8–10 add the estimated tilt axis, tilt angle and sample
/// thickness (Elferich et al. 2024).
const CTFFIND5: &str = "# Output from CTFFind version 5.0.2, run on 2025-06-02 10:11:12
# Input file: /data/mic_0002.mrc ; Number of micrographs: 1
# Pixel size: 0.830 Angstroms ; acceleration voltage: 300.0 keV ; spherical aberration: 2.70 mm ; amplitude contrast: 0.07
# Box size: 512 pixels ; min. res.: 30.0 Angstroms ; max. res.: 3.5 Angstroms ; min. def.: 5000.0 um; max. def. 50000.0 um
# Columns: #1 - micrograph number; #2 - defocus 1 [Angstroms]; #3 - defocus 2; #4 - azimuth of astigmatism; #5 - additional phase shift [radians]; #6 - cross correlation; #7 - spacing (in Angstroms) up to which CTF rings were fit successfully; #8 - Estimated tilt axis angle; #9 - Estimated tilt angle ; #10 Estimated sample thickness (in Angstroms)
1.000000 12000.5 11800.25 35.0 0.0 0.12 3.9 -84.5 12.25 412.0
";

#[test]
fn ctffind5_keeps_tilt_and_thickness() {
    let m = parse_ctffind(CTFFIND5).unwrap();
    let c = &m[0];
    assert_eq!(c.ctf.defocus_u_angstrom, 12000.5);
    assert_eq!(c.tilt_degrees, Some((-84.5, 12.25)));
    assert_eq!(c.sample_thickness_angstrom, Some(412.0));
    assert_eq!(c.fit_resolution_angstrom, Some(3.9));
    // CTFFIND 4.1: no such columns.
    let c4 = &parse_ctffind(CTFFIND).unwrap()[0];
    assert_eq!(
        (c4.tilt_degrees, c4.sample_thickness_angstrom),
        (None, None)
    );
}

#[test]
fn ctffind_errors_are_clear() {
    let no_voltage = CTFFIND.replace("acceleration voltage: 300.0 keV ;", "");
    let e = parse_ctffind(&no_voltage).unwrap_err();
    assert!(e.to_string().contains("acceleration voltage"), "{e}");
    let short = CTFFIND.replace("0.091293 4.095238", "");
    let e = parse_ctffind(&short).unwrap_err();
    assert!(matches!(e, CtfError::Ctffind { line: 6, .. }), "{e}");
    let text = CTFFIND.replace("10039.917969", "10039.9x");
    let e = parse_ctffind(&text).unwrap_err();
    assert!(e.to_string().contains("line 6"), "{e}");
    let header_only: String = CTFFIND.lines().take(5).collect::<Vec<_>>().join("\n");
    assert!(parse_ctffind(&header_only).is_err());
    assert!(parse_ctffind("").is_err());
}

/// Thon rings of a real micrograph: a 1D defocus search over the rotational average of
/// fei-extended's power spectrum (300 kV; Cs taken as 2.7 mm, a Krios) finds one clear optimum
/// near the nominal ≈ 0.9 µm, and at that defocus the CTF's zeros fall on minima of the
/// spectrum.
#[test]
fn real_micrograph_thon_rings_match_ctf_zeros() {
    let image =
        cryolens::io::read_micrograph(&common::data("micrographs/fei-extended/fei-extended.mrc"))
            .unwrap();
    let p = image.pixel_size_angstrom.unwrap() as f64;
    let spectrum = power_spectrum_linear(&image, 512, Window::Hann);
    let ring = rotational_average(&spectrum, Some(p as f32));
    let s: Vec<f64> = ring.iter().map(|r| r.0 as f64).collect();
    let logp: Vec<f64> = ring.iter().map(|r| (r.1 as f64).max(1e-30).ln()).collect();
    // Detrend: subtract a 9-ring running mean of log power.
    let n = logp.len();
    let detrended: Vec<f64> = (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(4), (i + 5).min(n));
            logp[i] - logp[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let band: Vec<usize> = (0..n)
        .filter(|&i| s[i] > 1.0 / 40.0 && s[i] < 1.0 / 5.0)
        .collect();
    let corr = |dz: f64| {
        let c = ctf(dz, dz, 0.0);
        let model: Vec<f64> = band.iter().map(|&i| c.value(s[i], 0.0).powi(2)).collect();
        let e: Vec<f64> = band.iter().map(|&i| detrended[i]).collect();
        let (mm, me) = (
            model.iter().sum::<f64>() / model.len() as f64,
            e.iter().sum::<f64>() / e.len() as f64,
        );
        let (mut num, mut vm, mut ve) = (0.0, 0.0, 0.0);
        for (m, x) in model.iter().zip(&e) {
            num += (m - mm) * (x - me);
            vm += (m - mm) * (m - mm);
            ve += (x - me) * (x - me);
        }
        num / (vm * ve).sqrt()
    };
    let (best_dz, best) = (2_000..40_000)
        .step_by(50)
        .map(|dz| (dz as f64, corr(dz as f64)))
        .fold((0.0, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
    eprintln!("Thon-ring search: best defocus {best_dz} Å, correlation {best:.3}");
    assert!(best > 0.6, "best correlation {best} at {best_dz} Å");
    assert!(
        (7_000.0..14_000.0).contains(&best_dz),
        "defocus {best_dz} Å, expected ≈ 0.9-1.1 µm"
    );
    // Clearly better than defoci 30 % away.
    assert!(corr(best_dz * 0.7) < best - 0.3 && corr(best_dz * 1.3) < best - 0.3);
    // The first three zeros sit on minima: the detrended spectrum is below its local mean there.
    for z in ctf(best_dz, best_dz, 0.0).zeros_along(0.0, 3) {
        let i = s
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - z).abs().total_cmp(&(b.1 - z).abs()))
            .unwrap()
            .0;
        assert!(
            detrended[i] < 0.0,
            "zero at {z} Å⁻¹: detrended {}",
            detrended[i]
        );
    }
}
