//! `cryolens simulate` against physics known independently: Poisson statistics of the ideal
//! detector, Thon-ring minima of the truth at the CTF's analytic zeros (along each astigmatic
//! axis too), the projection of a map
//! of Gaussian blobs against the analytic projection, independence of the even and odd halves;
//! determinism for a seed, particles.star read back by our coordinate reader, and the errors for
//! bad input. Small micrographs (256–512 px) of the real 8ZPM model (`../shared/data/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use cryolens::image::{Image, Volume};
use cryolens::jobs::Progress;
use cryolens::simulate::orient::{EulerAngles, apply, relion_matrix};
use cryolens::simulate::potential::{self, MapSpecimen};
use cryolens::simulate::{
    self, Detector, SimulateError, Simulation, SimulationConfig, Specimen, outputs,
};

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/atomic_models")
        .join(name)
}

/// 8ZPM (42 kDa) in a small field: 256 px at 1 Å/px, one particle, 30 nm of ice, a B-factor
/// envelope of 50 Å² (so the phase stays weak everywhere).
fn small_config(seed: u64) -> SimulationConfig {
    SimulationConfig {
        size: 256,
        particles: 1,
        b_factor: 50.0,
        seed,
        ..SimulationConfig::new(Specimen::Atoms(model("8zpm.cif")))
    }
}

fn run(config: &SimulationConfig) -> Simulation {
    simulate::simulate(config, &Progress::new()).unwrap()
}

fn f64s(image: &Image) -> Vec<f64> {
    image.data.iter().map(|&v| f64::from(v)).collect()
}

#[test]
fn ideal_detector_noise_is_poisson() {
    let sim = run(&small_config(1));
    assert!(
        sim.derived.warnings.is_empty(),
        "{:?}",
        sim.derived.warnings
    );
    let truth = f64s(&sim.truth);
    let noisy = f64s(&sim.noisy);
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    // Mean counts: dose 40 e/Å² × 1 Å² (the weak-phase image keeps the mean).
    assert!((mean - 40.0).abs() < 1e-3, "{mean}");
    assert!(noisy.iter().all(|v| v.fract() == 0.0 && *v >= 0.0));
    // Var(noisy − truth) = mean counts, overall and separately for darker and brighter pixels.
    let mut order: Vec<usize> = (0..truth.len()).collect();
    order.sort_by(|&a, &b| truth[a].total_cmp(&truth[b]));
    let half = order.len() / 2;
    for group in [&order[..], &order[..half], &order[half..]] {
        let m = group.iter().map(|&i| truth[i]).sum::<f64>() / group.len() as f64;
        let bias = group.iter().map(|&i| noisy[i] - truth[i]).sum::<f64>() / group.len() as f64;
        let var = group
            .iter()
            .map(|&i| (noisy[i] - truth[i]).powi(2))
            .sum::<f64>()
            / group.len() as f64;
        assert!(bias.abs() < 0.1, "bias {bias}");
        assert!((var / m - 1.0).abs() < 0.03, "variance {var} vs mean {m}");
    }
    // The truth does vary (particle and ice contrast), so the groups differ.
    let low = order[..half].iter().map(|&i| truth[i]).sum::<f64>() / half as f64;
    let high = order[half..].iter().map(|&i| truth[i]).sum::<f64>() / half as f64;
    assert!(high - low > 2.0, "{low} {high}");
}

#[test]
fn even_and_odd_are_independent_halves_of_noisy() {
    let sim = run(&small_config(2));
    for ((e, o), n) in sim.even.data.iter().zip(&sim.odd.data).zip(&sim.noisy.data) {
        assert_eq!(e + o, *n);
    }
    let truth = f64s(&sim.truth);
    let de: Vec<f64> = sim
        .even
        .data
        .iter()
        .zip(&truth)
        .map(|(&e, t)| f64::from(e) - t / 2.0)
        .collect();
    let d_o: Vec<f64> = sim
        .odd
        .data
        .iter()
        .zip(&truth)
        .map(|(&o, t)| f64::from(o) - t / 2.0)
        .collect();
    let n = de.len() as f64;
    let (me, mo) = (de.iter().sum::<f64>() / n, d_o.iter().sum::<f64>() / n);
    assert!(me.abs() < 0.05 && mo.abs() < 0.05, "{me} {mo}");
    let cov = de
        .iter()
        .zip(&d_o)
        .map(|(a, b)| (a - me) * (b - mo))
        .sum::<f64>()
        / n;
    let ve = de.iter().map(|a| (a - me).powi(2)).sum::<f64>() / n;
    let vo = d_o.iter().map(|b| (b - mo).powi(2)).sum::<f64>() / n;
    let r = cov / (ve * vo).sqrt();
    // Independent: |r| within 4 standard errors of 0 (1/√n).
    assert!(r.abs() < 4.0 / n.sqrt(), "correlation {r}");
    // Each half is Poisson with half the mean.
    assert!((ve / 20.0 - 1.0).abs() < 0.03 && (vo / 20.0 - 1.0).abs() < 0.03);
}

#[test]
fn thon_ring_minima_of_the_truth_sit_at_the_ctf_zeros() {
    // Ice alone (a random-phase background: every Fourier amplitude fixed), 512 px at 1 Å/px,
    // defocus 1 µm: the truth's rotationally averaged power spectrum has its minima at the CTF
    // zeros given by the CTF module's analytic solution.
    let config = SimulationConfig {
        size: 512,
        particles: 0,
        defocus_um: 1.0,
        ice_thickness_nm: 10.0,
        b_factor: 20.0,
        ..small_config(3)
    };
    let sim = run(&config);
    assert!(
        sim.derived.warnings.is_empty(),
        "{:?}",
        sim.derived.warnings
    );
    let n = config.size;
    let truth = f64s(&sim.truth);
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let centred: Vec<f64> = truth.iter().map(|v| v - mean).collect();
    let spectrum = simulate::fft2::fft2(&centred, n);
    let bins = n / 2;
    let (mut power, mut count) = (vec![0.0; bins], vec![0usize; bins]);
    for ky in 0..n {
        for kx in 0..n {
            let fx = simulate::ice::signed(kx, n);
            let fy = simulate::ice::signed(ky, n);
            let r = (fx * fx + fy * fy).sqrt().round() as usize;
            if r < bins {
                power[r] += spectrum[ky * n + kx].norm_sqr();
                count[r] += 1;
            }
        }
    }
    let profile: Vec<f64> = power
        .iter()
        .zip(&count)
        .map(|(p, c)| p / (*c).max(1) as f64)
        .collect();
    // Local minima, refined by a parabola through the three bins.
    let minima: Vec<f64> = (10..bins - 1)
        .filter(|&i| profile[i] < profile[i - 1] && profile[i] <= profile[i + 1])
        .map(|i| {
            let (a, b, c) = (profile[i - 1], profile[i], profile[i + 1]);
            let denom = a - 2.0 * b + c;
            i as f64
                + if denom > 0.0 {
                    0.5 * (a - c) / denom
                } else {
                    0.0
                }
        })
        .collect();
    let zeros = config.ctf().zeros_along(0.0, 6);
    assert_eq!(zeros.len(), 6);
    for (k, s) in zeros.iter().enumerate() {
        let bin = s * n as f64 * config.pixel_size_angstrom;
        let nearest = minima
            .iter()
            .map(|m| (m - bin).abs())
            .fold(f64::INFINITY, f64::min);
        assert!(
            nearest < 0.3,
            "zero {k} at {bin:.2} bins: nearest minimum {nearest:.2} bins away ({minima:?})"
        );
    }
    // And no other minima among the first six rings (the spectrum is clean).
    let last = zeros[5] * n as f64 + 1.0;
    assert_eq!(
        minima.iter().filter(|&&m| m < last).count(),
        6,
        "{minima:?}"
    );
}

#[test]
fn astigmatic_thon_rings_follow_the_defocus_axes() {
    // U = 1.2 µm along 30° from the x (column) axis, V = 0.8 µm at 120°: along each axis the
    // truth's power (averaged over a ±4° wedge) has its minima at that axis's CTF zeros, which
    // differ between the axes by several bins (a swapped or transposed layout would fail).
    let config = SimulationConfig {
        size: 512,
        particles: 0,
        defocus_um: 1.0,
        astigmatism_um: 0.4,
        astigmatism_angle_degrees: 30.0,
        ice_thickness_nm: 10.0,
        b_factor: 20.0,
        ..small_config(8)
    };
    let sim = run(&config);
    let n = config.size;
    let truth = f64s(&sim.truth);
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let centred: Vec<f64> = truth.iter().map(|v| v - mean).collect();
    let spectrum = simulate::fft2::fft2(&centred, n);
    let ctf = config.ctf();
    for axis_degrees in [30.0f64, 120.0] {
        let axis = axis_degrees.to_radians();
        let bins = n / 2;
        let (mut power, mut count) = (vec![0.0; bins], vec![0usize; bins]);
        for ky in 0..n {
            for kx in 0..n {
                let fx = simulate::ice::signed(kx, n);
                let fy = simulate::ice::signed(ky, n);
                // Angle from the axis modulo 180° (the spectrum is centrosymmetric).
                let d = (fy.atan2(fx) - axis).rem_euclid(std::f64::consts::PI);
                let off = d.min(std::f64::consts::PI - d);
                let r = (fx * fx + fy * fy).sqrt().round() as usize;
                if off < 4f64.to_radians() && r < bins {
                    power[r] += spectrum[ky * n + kx].norm_sqr();
                    count[r] += 1;
                }
            }
        }
        let profile: Vec<f64> = power
            .iter()
            .zip(&count)
            .map(|(p, c)| if *c > 0 { p / *c as f64 } else { f64::NAN })
            .collect();
        let zeros = ctf.zeros_along(axis, 4);
        for (k, s) in zeros.iter().enumerate() {
            let bin = s * n as f64 * config.pixel_size_angstrom;
            let centre = bin.round() as usize;
            let lowest = (centre - 2..=centre + 2)
                .min_by(|&a, &b| profile[a].total_cmp(&profile[b]))
                .unwrap();
            assert!(
                (lowest as f64 - bin).abs() <= 1.0,
                "axis {axis_degrees}°, zero {k} at {bin:.2} bins: lowest bin near it is {lowest}"
            );
        }
    }
    // The two axes' first zeros are well apart (about 33 and 40 bins).
    let (u, v) = (
        ctf.zeros_along(30f64.to_radians(), 1)[0],
        ctf.zeros_along(120f64.to_radians(), 1)[0],
    );
    assert!((v - u) * n as f64 > 5.0);
}

/// A 64³ map (1 Å voxels) of three Gaussian blobs (σ = 2.5 Å) at known offsets from the centre.
const BLOBS: [([f64; 3], f64); 3] = [
    ([8.0, -5.0, 3.0], 1.0),
    ([-6.0, 4.0, -9.0], 0.7),
    ([0.0, 10.0, 6.0], 1.3),
];
const BLOB_SIGMA: f64 = 2.5;

fn blob_map() -> Volume {
    let n = 64;
    let mut data = vec![0.0f32; n * n * n];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let r = [x as f64 - 32.0, y as f64 - 32.0, z as f64 - 32.0];
                let v: f64 = BLOBS
                    .iter()
                    .map(|(c, a)| {
                        let d2: f64 = r.iter().zip(c).map(|(r, c)| (r - c).powi(2)).sum();
                        a * (-d2 / (2.0 * BLOB_SIGMA * BLOB_SIGMA)).exp()
                    })
                    .sum();
                data[(z * n + y) * n + x] = v as f32;
            }
        }
    }
    Volume {
        width: n,
        height: n,
        depth: n,
        data,
        pixel_size_angstrom: Some(1.0),
    }
}

#[test]
fn projection_of_a_known_map_matches_the_analytic_projection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blobs.mrc");
    cryolens::io::mrc::write_volume(&path, &blob_map()).unwrap();
    let (map, radius): (MapSpecimen, f64) = potential::read_map(&path, Some(1.0)).unwrap();
    // The content reaches about 10 Å + 2.8σ from the centre.
    assert!(radius > 14.0 && radius < 25.0, "{radius}");
    let angles = EulerAngles {
        rot: 30.0,
        tilt: 60.0,
        psi: -45.0,
    };
    let a = relion_matrix(&angles);
    let (cx, cy) = (40.3, 38.6);
    let patch = potential::project_map(&map, &a, cx, cy, 1.0);
    // Independent: each blob projects to a 2D Gaussian of integral a·(2πσ²)^{3/2}, centred
    // at the blob's rotated position A·c (x, y).
    let mut max_err: f64 = 0.0;
    let mut peak: f64 = 0.0;
    for (i, v) in patch.data.iter().enumerate() {
        let x = (patch.x0 + (i % patch.width) as isize) as f64;
        let y = (patch.y0 + (i / patch.width) as isize) as f64;
        let expected: f64 = BLOBS
            .iter()
            .map(|(c, amp)| {
                let r = apply(&a, *c);
                // The pixel average: the 2D Gaussian's mass in the pixel (erf, separable).
                let mass = |offset: f64| {
                    let k = 1.0 / (std::f64::consts::SQRT_2 * BLOB_SIGMA);
                    0.5 * (potential::erf((offset + 0.5) * k) - potential::erf((offset - 0.5) * k))
                };
                amp * (2.0 * std::f64::consts::PI).powf(1.5)
                    * BLOB_SIGMA.powi(3)
                    * mass(x - cx - r[0])
                    * mass(y - cy - r[1])
            })
            .sum();
        peak = peak.max(expected);
        max_err = max_err.max((v - expected).abs());
    }
    assert!(peak > 6.0);
    // Measured: 1.3 % (trilinear interpolation of σ = 2.5 voxels).
    assert!(max_err < 0.02 * peak, "max error {max_err} of peak {peak}");
}

#[test]
fn a_map_specimen_simulates_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blobs.mrc");
    cryolens::io::mrc::write_volume(&path, &blob_map()).unwrap();
    let config = SimulationConfig {
        particles: 3,
        ..small_config(4)
    };
    let config = SimulationConfig {
        specimen: Specimen::Map(path),
        map_voxel_size_angstrom: Some(1.0),
        ..config
    };
    let sim = run(&config);
    assert_eq!(sim.particles.len(), 3);
    assert_eq!(sim.derived.atoms, 0);
    assert!((sim.truth.stats().mean - 40.0).abs() < 1e-3);
}

#[test]
fn counting_detector_blurs_the_truth_and_adds_double_counts() {
    let ideal = run(&small_config(5));
    let k3 = run(&SimulationConfig {
        detector: Detector::K3,
        ..small_config(5)
    });
    let gain = Detector::K3.gain();
    // Mean counts × (1 + d); the truth is smoother (MTF < 1) than the ideal one.
    assert!((k3.truth.stats().mean / (40.0 * gain) - 1.0).abs() < 1e-4);
    assert!(k3.truth.stats().std / gain < ideal.truth.stats().std);
    // Var(noisy − truth) = (1 + 3d)/(1 + d) × mean counts.
    let (t, nz) = (f64s(&k3.truth), f64s(&k3.noisy));
    let var = t.iter().zip(&nz).map(|(t, n)| (n - t).powi(2)).sum::<f64>() / t.len() as f64;
    let d = gain - 1.0;
    let expected = 40.0 * gain * (1.0 + 3.0 * d) / (1.0 + d);
    assert!((var / expected - 1.0).abs() < 0.03, "{var} vs {expected}");
}

#[test]
fn a_seed_gives_the_same_micrograph_on_any_thread_count() {
    let a = run(&small_config(9));
    let b = run(&small_config(9));
    assert_eq!(a, b);
    // Whatever the thread count.
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| run(&small_config(9)));
    assert_eq!(a, one_thread);
    let c = run(&small_config(10));
    assert_ne!(a.noisy, c.noisy);
    assert_ne!(a.particles, c.particles);
}

#[test]
fn outputs_and_particles_star_read_back() {
    // 1.2 Å/px: an MRC cell equal to the pixel count (1 Å/px) reads back as unknown.
    let config = SimulationConfig {
        size: 512,
        particles: 4,
        pixel_size_angstrom: 1.2,
        ..small_config(6)
    };
    let sim = run(&config);
    let dir = tempfile::tempdir().unwrap();
    let paths = outputs::write_outputs(dir.path(), &config, &sim).unwrap();
    assert_eq!(paths.len(), 6);
    for (path, image) in paths
        .iter()
        .zip([&sim.truth, &sim.noisy, &sim.even, &sim.odd])
    {
        let back = cryolens::io::read_micrograph(path).unwrap();
        assert_eq!(back.data, image.data);
        assert_eq!(back.pixel_size_angstrom, Some(1.2));
    }
    let groups = cryolens::io::coords::read(&paths[4]).unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].micrograph, "noisy.mrc");
    assert_eq!(groups[0].picks.len(), 4);
    for (pick, truth) in groups[0].picks.iter().zip(&sim.particles) {
        assert!((pick.x - truth.x_px).abs() < 1e-5 && (pick.y - truth.y_px).abs() < 1e-5);
    }
    // Angles and CTF as RELION reads them.
    let star = cryolens::io::star::read(&paths[4]).unwrap();
    let block = star.require("particles").unwrap();
    let ctf = config.ctf();
    for (row, truth) in sim.particles.iter().enumerate() {
        assert!((block.f64("rlnAngleTilt", row).unwrap() - truth.angles.tilt).abs() < 1e-5);
        assert!((block.f64("rlnDefocusU", row).unwrap() - ctf.defocus_u_angstrom).abs() < 1e-5);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths[5]).unwrap()).unwrap();
    assert_eq!(json["parameters"]["seed"], 6);
    assert_eq!(json["particles"].as_array().map(Vec::len), Some(4));
}

#[test]
fn other_model_formats_are_read() {
    // PDB with an alternate location (7DDO) and a gzipped mmCIF made here from 8ZPM's text.
    let pdb = simulate::atoms::read_atomic_model(&model("7ddo.pdb")).unwrap();
    assert!(
        pdb.atoms.len() > 6000 && pdb.atoms.len() <= 6468,
        "{}",
        pdb.atoms.len()
    );
    let weight: f64 = pdb.atoms.iter().map(|a| a.occupancy).sum();
    assert!(
        (weight - (pdb.atoms.len() as f64 - 7.0)).abs() < 1e-9,
        "{weight}"
    );
    let cif = simulate::atoms::read_atomic_model(&model("8zpm.cif")).unwrap();
    assert_eq!(cif.atoms.len(), 3222);
    // Span ≈ 111 Å (README): the radius from the centroid lies between half of it and all of it.
    assert!(cif.radius_angstrom > 55.0 && cif.radius_angstrom < 111.0);
}

fn cryolens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cryolens"))
}

/// Runs `cryolens simulate` with `args` and returns stderr, asserting failure with one
/// `error:` line.
fn simulate_fails(args: &[&str], out: &Path) -> String {
    let run = cryolens()
        .arg("simulate")
        .args(args)
        .arg("--output")
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_input_gets_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let empty = dir.path().join("empty.pdb");
    std::fs::write(&empty, "HEADER    NOTHING HERE\nEND\n").unwrap();
    let e = simulate_fails(&["--atoms", empty.to_str().unwrap()], &out);
    assert!(e.contains("empty.pdb") && e.contains("no atoms"), "{e}");

    let flat = dir.path().join("flat.mrc");
    let mut v = blob_map();
    v.data.iter_mut().for_each(|x| *x = 0.25);
    cryolens::io::mrc::write_volume(&flat, &v).unwrap();
    let e = simulate_fails(
        &[
            "--map",
            flat.to_str().unwrap(),
            "--map-voxel-size-angstrom",
            "1",
        ],
        &out,
    );
    assert!(e.contains("flat.mrc") && e.contains("zero variance"), "{e}");
    // A map whose header cannot give its voxel size (1 Å voxels) asks for it.
    let blobs = dir.path().join("blobs.mrc");
    cryolens::io::mrc::write_volume(&blobs, &blob_map()).unwrap();
    let e = simulate_fails(&["--map", blobs.to_str().unwrap()], &out);
    assert!(e.contains("--map-voxel-size-angstrom"), "{e}");
    let atoms = model("8zpm.cif");
    let atoms = atoms.to_str().unwrap();
    let e = simulate_fails(&["--atoms", atoms, "--dose", "-1"], &out);
    assert!(e.contains("--dose"), "{e}");
    let e = simulate_fails(&["--atoms", atoms, "--voltage-kv", "0"], &out);
    assert!(e.contains("--voltage-kv"), "{e}");
    let e = simulate_fails(
        &["--atoms", atoms, "--size", "128", "--particles", "5"],
        &out,
    );
    assert!(e.contains("--particles") || e.contains("--size"), "{e}");
    // Damaged files: text that is no model, a PDB that is not gzipped, binary junk, a cut map.
    let junk = dir.path().join("junk.cif");
    std::fs::write(&junk, "data_x\nloop_\n_atom_site.id\n1 2 3\n\u{0}garbage").unwrap();
    let notgz = dir.path().join("model.pdb.gz");
    std::fs::write(
        &notgz,
        "ATOM      1  CA  ALA A   1       1.000   2.000   3.000\n",
    )
    .unwrap();
    let binary = dir.path().join("binary.pdb");
    std::fs::write(&binary, [0xffu8, 0xfe, 0x00, 0x41, 0x80, 0x81]).unwrap();
    let cut = dir.path().join("cut.mrc");
    std::fs::write(&cut, &std::fs::read(&blobs).unwrap()[..600]).unwrap();
    for (flag, file) in [
        ("--atoms", &junk),
        ("--atoms", &notgz),
        ("--atoms", &binary),
        ("--map", &cut),
    ] {
        let e = simulate_fails(&[flag, file.to_str().unwrap()], &out);
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(e.contains(name), "{e}");
    }
    assert!(!out.exists(), "nothing is written on failure");
    // The library says the same.
    let config = SimulationConfig {
        amplitude_contrast: 1.0,
        ..small_config(0)
    };
    assert!(matches!(
        config.validate(),
        Err(SimulateError::Parameter {
            what: "--amplitude-contrast",
            ..
        })
    ));
}

#[test]
fn the_command_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sim");
    let run = cryolens()
        .args(["simulate", "--atoms"])
        .arg(model("8zpm.cif"))
        .args([
            "--size",
            "256",
            "--particles",
            "1",
            "--seed",
            "3",
            "--output",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for name in outputs::OUTPUT_FILES {
        assert!(out.join(name).is_file(), "{name}");
    }
}

/// `cryolens score`: the raw micrograph, its baselines and a model scored against the
/// simulation's truth, the raw row equal to the library's numbers; a truth of another shape
/// is one clear error.
#[test]
fn score_tables_the_baselines_against_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimulationConfig {
        size: 384,
        pixel_size_angstrom: 2.0,
        b_factor: 50.0,
        particles: 3,
        seed: 5,
        ..SimulationConfig::new(Specimen::Atoms(model("6msm.pdb")))
    };
    let sim = run(&config);
    let out = dir.path().join("sim");
    outputs::write_outputs(&out, &config, &sim).unwrap();
    let csv = dir.path().join("scores.csv");
    let o = cryolens()
        .arg("score")
        .arg(out.join("noisy.mrc"))
        .arg("--truth")
        .arg(out.join("truth.mrc"))
        .args(["--model", "affine", "--device", "cpu", "--csv"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{text}");
    for (row, name) in rows
        .iter()
        .zip(["\"raw\"", "\"low-pass", "\"Gaussian", "\"affine\""])
    {
        assert!(row.starts_with(name), "{row}");
    }
    let raw_psnr: f64 = rows[0].split(',').nth(1).unwrap().parse().unwrap();
    let want = cryolens::metrics::truth::psnr_db(&sim.noisy, &sim.truth).unwrap();
    assert!((raw_psnr - want).abs() < 1e-3, "{raw_psnr} vs {want}");
    // A truth of another size.
    let small = dir.path().join("small.mrc");
    cryolens::io::mrc::write_image(&small, &sim.truth.crop(0, 0, 100, 100)).unwrap();
    let o = cryolens()
        .arg("score")
        .arg(out.join("noisy.mrc"))
        .arg("--truth")
        .arg(&small)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("same shape"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
