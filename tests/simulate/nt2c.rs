//! `cryolens nt2c` (Noise-Transfer2Clean, Li et al. 2022) end to end on a crop of the real
//! fei-extended micrograph with the CFTR model 6MSM, at sizes that run in seconds: every
//! stage's artefacts are there and agree with each other, the fine denoiser is registered
//! and usable as `--model NAME`, and bad input is one clear line.

use crate::common;

use std::path::Path;

use common::{cryolens, data};
use cryolens::io::mrc::{read, read_info};

fn fei_crop(dir: &Path, side: usize) -> std::path::PathBuf {
    let fei =
        cryolens::io::read_micrograph(&data("micrographs/fei-extended/fei-extended.mrc")).unwrap();
    let path = dir.join("fei_crop.mrc");
    cryolens::io::mrc::write_image(&path, &fei.crop(1200, 1200, side, side)).unwrap();
    path
}

fn atoms() -> std::path::PathBuf {
    data("atomic_models/6msm.pdb")
}

#[test]
fn nt2c_runs_every_stage_and_registers_the_fine_denoiser() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let mic = fei_crop(dir.path(), 640);
    let work = dir.path().join("work");
    let run = cryolens()
        .env("CRYOLENS_MODELS_DIR", &models)
        .arg("nt2c")
        .arg(&mic)
        .arg("--atoms")
        .arg(atoms())
        .args(["--name", "nt2c-test", "--device", "cpu", "--work"])
        .arg(&work)
        .args([
            "--simulated",
            "2",
            "--sim-size",
            "320",
            "--particles",
            "1",
            "--coarse-steps",
            "2",
            "--fine-steps",
            "2",
            "--gan-steps",
            "3",
        ])
        .output()
        .unwrap();
    let stdout = common::assert_success(&run);
    // The dose came from the counts (the exposure states 47.6 e⁻/Å²).
    let dose: f64 = stdout
        .split("NT2C: 1 micrograph(s) at 0.8538 Å/px, ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!((40.0..55.0).contains(&dose), "{dose}");
    for stage in [
        "simulation:",
        "coarse denoiser:",
        "background patches:",
        "noise synthesiser:",
        "re-weighting: 4 pairs",
        "fine denoiser:",
        "denoising:",
    ] {
        assert!(stdout.contains(stage), "{stage}: {stdout}");
    }
    // Simulations with their truth; the coarse model beside them.
    for i in 0..2 {
        let sim = work.join(format!("simulated/sim_{i:02}"));
        let truth = cryolens::io::read_micrograph(&sim.join("truth.mrc")).unwrap();
        assert_eq!((truth.width, truth.height), (320, 320));
        assert!((truth.pixel_size_angstrom.unwrap() - 0.8538).abs() < 1e-3);
    }
    assert!(work.join("coarse.safetensors").exists());
    // One noise patch per row of the table, each cut where the table says from the raw crop.
    let table = std::fs::read_to_string(work.join("background_patches.csv")).unwrap();
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert!(!rows.is_empty(), "{table}");
    let (_, patches) = read(&work.join("noise_patches.mrcs")).unwrap();
    assert_eq!((patches.width, patches.depth), (320, rows.len()));
    let raw = cryolens::io::read_micrograph(&mic).unwrap();
    let (x, y): (usize, usize) = (rows[0][1].parse().unwrap(), rows[0][2].parse().unwrap());
    assert_eq!(
        &patches.data[..320 * 320],
        &raw.crop(x, y, 320, 320).data[..]
    );
    for r in &rows {
        let ssim: f64 = r[4].parse().unwrap();
        assert!(ssim > 0.7, "{r:?}");
    }
    // 64 synthesised 64² noise patches.
    let h = read_info(&work.join("gan_samples.mrcs")).unwrap();
    assert_eq!((h.nx, h.ny, h.nz), (64, 64, 64));
    // Re-weighted pairs: the input has zero mean and unit variance, noise was added (β > 0),
    // and input minus target is the scaled synthetic noise, not zero.
    let csv = std::fs::read_to_string(work.join("reweighting.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    for line in csv.lines().skip(1) {
        let beta: f64 = line.split(',').nth(3).unwrap().parse().unwrap();
        assert!(beta > 0.0, "{line}");
    }
    let noisy = cryolens::io::read_micrograph(&work.join("reweighted/pair_00_noisy.mrc")).unwrap();
    let s = noisy.stats();
    assert!(s.mean.abs() < 1e-3 && (s.std - 1.0).abs() < 1e-3, "{s:?}");
    // The fine denoiser is registered: `denoise --model NAME` finds it and reproduces the
    // pipeline's own output.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["stages"].as_array().unwrap().len(), 7, "{report}");
    assert!(models.join("trained/nt2c-test.safetensors").exists());
    let out = dir.path().join("out");
    let den = cryolens()
        .env("CRYOLENS_MODELS_DIR", &models)
        .args(["denoise", "--model", "nt2c-test", "--device", "cpu", "-o"])
        .arg(&out)
        .arg(&mic)
        .output()
        .unwrap();
    common::assert_success(&den);
    let a = cryolens::io::read_micrograph(&out.join("fei_crop.mrc")).unwrap();
    let b = cryolens::io::read_micrograph(&work.join("denoised/fei_crop.mrc")).unwrap();
    assert!(
        a.data == b.data,
        "denoise --model NAME differs from the pipeline's output"
    );
}

#[test]
fn nt2c_refuses_bad_input_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mic = fei_crop(dir.path(), 400);
    let nt2c = |extra: &[&str], micrograph: &Path| {
        let o = cryolens()
            .env("CRYOLENS_MODELS_DIR", dir.path().join("models"))
            .arg("nt2c")
            .arg(micrograph)
            .arg("--atoms")
            .arg(atoms())
            .args(["--device", "cpu", "--work"])
            .arg(dir.path().join("w"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.starts_with("error: "), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        err
    };
    let e = nt2c(&["--name", "a/b"], &mic);
    assert!(e.contains("plain model name"), "{e}");
    // ucsf-1142 has no pixel size and is dose-weighted.
    let ucsf = data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
    let e = nt2c(&["--name", "x"], &ucsf);
    assert!(e.contains("--pixel-size-angstrom"), "{e}");
    let e = nt2c(&["--name", "x", "--dose=-3"], &mic);
    assert!(e.contains("--dose"), "{e}");
    let e = nt2c(&["--name", "x", "--simulated", "1"], &mic);
    assert!(e.contains("--simulated"), "{e}");
    // An atomic model with no atoms.
    let empty = dir.path().join("empty.pdb");
    std::fs::write(&empty, "HEADER    EMPTY\nEND\n").unwrap();
    let o = cryolens()
        .arg("nt2c")
        .arg(&mic)
        .arg("--atoms")
        .arg(&empty)
        .args(["--name", "x", "--device", "cpu", "--work"])
        .arg(dir.path().join("w2"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("empty.pdb") && err.contains("atom"), "{err}");
    // A wrong pixel size against the header.
    let e = nt2c(&["--name", "x", "--pixel-size-angstrom", "2.0"], &mic);
    assert!(e.contains("pixel size"), "{e}");
}
