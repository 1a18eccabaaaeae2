//! The `cryolens` binary as a user runs it: batch denoising, clear errors on bad input.

mod common;

use common::{assert_clear_failure, cryolens};

#[test]
fn denoise_writes_mrc_and_states_the_device() {
    common::ensure_topaz_weights();
    let out = tempfile::tempdir().unwrap();
    let input = common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
    let run = cryolens()
        .args([
            "denoise", "--model", "affine", "--device", "cpu", "--output",
        ])
        .arg(out.path())
        .arg(&input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("device: CPU: native kernels"),
        "device not stated: {stdout}"
    );
    let written = out.path().join("Ucsf_stack_1142_DW.mrc");
    let denoised = cryolens::io::read_micrograph(&written).unwrap();
    let raw = cryolens::io::read_micrograph(&input).unwrap();
    assert_eq!((denoised.width, denoised.height), (raw.width, raw.height));
    // Same result as the library call, and close to Topaz's own output for this model.
    let topaz = cryolens::io::read_micrograph(&common::golden("ucsf-1142.affine.mrc")).unwrap();
    let sigma = topaz.stats().std;
    let max = denoised
        .data
        .iter()
        .zip(&topaz.data)
        .map(|(a, b)| (a - b).abs() as f64)
        .fold(0.0, f64::max);
    assert!(
        max <= 1e-3 * sigma,
        "CLI output differs from Topaz by {max} (σ {sigma})"
    );
}

#[test]
fn bad_inputs_give_clear_errors_and_the_batch_goes_on() {
    common::ensure_topaz_weights();
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.mrc");
    let bytes =
        std::fs::read(common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let good = common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
    let out = dir.path().join("out");
    let run = cryolens()
        .args([
            "denoise", "--model", "affine", "--device", "cpu", "--output",
        ])
        .arg(&out)
        .arg(&truncated)
        .arg(&good)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        !run.status.success(),
        "a failed micrograph must fail the batch"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        stdout.contains("truncated.mrc") || stderr.contains("truncated.mrc"),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("1 of 2 micrographs failed"), "{stderr}");
    // The failure is in the manifest with its error, so a rerun retries only it.
    let manifest = std::fs::read_to_string(out.join("cryolens_manifest.jsonl")).unwrap();
    let failed: Vec<serde_json::Value> = manifest
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(failed.len(), 1, "{manifest}");
    assert!(
        failed[0]["input"]
            .as_str()
            .unwrap()
            .ends_with("truncated.mrc")
    );
    assert!(failed[0]["error"].as_str().unwrap().starts_with("error: "));
    // The inputs share no folder below `/`-level parts, so the output keeps the good
    // micrograph's folders; it is named on stdout.
    let written = stdout
        .lines()
        .find_map(|l| l.split(" -> ").nth(1))
        .and_then(|rest| rest.rsplit_once(" ("))
        .map(|(path, _)| std::path::PathBuf::from(path))
        .expect("the good micrograph is reported");
    assert!(
        written.starts_with(&out)
            && written.ends_with("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc")
            && written.is_file(),
        "the good micrograph must still be written: {stdout}"
    );
}

#[test]
fn unknown_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = cryolens()
        .args(["denoise", "--model", "no-such-model", "--output"])
        .arg(dir.path())
        .arg(common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc"))
        .output()
        .unwrap();
    assert_clear_failure(&run, "unknown model 'no-such-model'");
}

#[test]
fn a_file_that_is_not_a_state_dict_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("model.sav");
    std::fs::write(&fake, b"definitely not a pytorch pickle").unwrap();
    let run = cryolens()
        .args(["denoise", "--device", "cpu", "--model"])
        .arg(&fake)
        .arg("--output")
        .arg(dir.path())
        .arg(common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc"))
        .output()
        .unwrap();
    assert_clear_failure(&run, "cannot load");
}

#[test]
fn coords_convert_relion_autopick_to_all_formats_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let autopick = common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW_autopick.star");
    let original = cryolens::io::coords::read(&autopick).unwrap();
    assert_eq!(original[0].picks.len(), 45);
    for (to, file) in [
        ("relion", "Ucsf_stack_1142_DW_manualpick.star"),
        ("topaz", "particles.txt"),
        ("eman", "Ucsf_stack_1142_DW.box"),
        ("cryolo", "Ucsf_stack_1142_DW.cbox"),
    ] {
        let out = dir.path().join(to);
        let run = cryolens()
            .args([
                "coords",
                "convert",
                "--to",
                to,
                "--box-size",
                "64",
                "--scale",
                "4",
                "--output",
            ])
            .arg(&out)
            .arg(&autopick)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{to}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        if to == "relion" {
            // The STAR file says where it came from, in comment lines RELION skips.
            let text = std::fs::read_to_string(out.join(file)).unwrap();
            let mut lines = text.lines();
            assert_eq!(
                lines.next(),
                Some(format!("# Written by Cryolens {}", env!("CARGO_PKG_VERSION")).as_str())
            );
            assert!(
                lines
                    .next()
                    .unwrap()
                    .starts_with("# command: cryolens coords convert --to relion"),
                "{text}"
            );
        }
        let back = cryolens::io::coords::read(&out.join(file)).unwrap();
        let picks = &back
            .iter()
            .find(|g| g.micrograph.contains("Ucsf_stack_1142_DW"))
            .unwrap()
            .picks;
        assert_eq!(picks.len(), 45, "{to}");
        for (a, b) in picks.iter().zip(&original[0].picks) {
            // centres scaled by 4 (binned → full size), within float text precision
            assert!(
                (a.x - 4.0 * b.x).abs() < 1e-3 && (a.y - 4.0 * b.y).abs() < 1e-3,
                "{to}: {a:?} vs {b:?}"
            );
        }
    }
    let index = std::fs::read_to_string(dir.path().join("relion/manualpick.star")).unwrap();
    assert!(
        index.contains("data_coordinate_files")
            && index.contains("Ucsf_stack_1142_DW_manualpick.star"),
        "{index}"
    );
}

/// Runs `cryolens coords convert --to TO --box-size 64 --output OUT INPUTS…`.
fn convert(to: &str, out: &std::path::Path, inputs: &[std::path::PathBuf]) -> std::process::Output {
    cryolens()
        .args([
            "coords",
            "convert",
            "--to",
            to,
            "--box-size",
            "64",
            "--output",
        ])
        .arg(out)
        .args(inputs)
        .output()
        .unwrap()
}

#[test]
fn coords_convert_keeps_same_named_micrographs_apart_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    // Two grid squares, each with a mic_001: 1 + 2 picks.
    let mut boxes = Vec::new();
    for (square, picks) in [
        ("GridSquare_1", "0 0 64 64\n"),
        ("GridSquare_2", "10 10 64 64\n20 20 64 64\n"),
    ] {
        let folder = dir.path().join("in").join(square).join("Data");
        std::fs::create_dir_all(&folder).unwrap();
        let file = folder.join("mic_001.box");
        std::fs::write(&file, picks).unwrap();
        boxes.push(file);
    }
    for to in ["eman", "cryolo", "relion", "topaz"] {
        let out = dir.path().join(format!("out-{to}"));
        let run = convert(to, &out, &boxes);
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{to}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(
            stdout.contains("wrote 3 picks on 2 micrographs"),
            "{to}: {stdout}"
        );
        let count = |file: std::path::PathBuf| -> usize {
            cryolens::io::coords::read(&file)
                .unwrap()
                .iter()
                .map(|g| g.picks.len())
                .sum()
        };
        let (a, b) = match to {
            "eman" | "cryolo" => {
                let ext = if to == "eman" { "box" } else { "cbox" };
                (
                    count(out.join(format!("GridSquare_1/Data/mic_001.{ext}"))),
                    count(out.join(format!("GridSquare_2/Data/mic_001.{ext}"))),
                )
            }
            "relion" => {
                let index =
                    cryolens::io::coords::read_relion_index(&out.join("manualpick.star")).unwrap();
                assert_eq!(index.len(), 2, "{index:?}");
                (
                    count(out.join("GridSquare_1/Data/mic_001_manualpick.star")),
                    count(out.join("GridSquare_2/Data/mic_001_manualpick.star")),
                )
            }
            _ => {
                let groups = cryolens::io::coords::read(&out.join("particles.txt")).unwrap();
                assert_eq!(groups.len(), 2, "{groups:?}");
                (groups[0].picks.len(), groups[1].picks.len())
            }
        };
        assert_eq!((a, b), (1, 2), "{to}");
    }
    // Micrographs named in one RELION particle file, same stem in two folders.
    let star = dir.path().join("particles.star");
    std::fs::write(
        &star,
        "data_particles\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n\
         10 20 Movies/GS1/mic_001.mrc\n30 40 Movies/GS2/mic_001.mrc\n50 60 Movies/GS2/mic_001.mrc\n",
    )
    .unwrap();
    let out = dir.path().join("out-star");
    let run = convert("eman", &out, std::slice::from_ref(&star));
    common::assert_success(&run);
    assert_eq!(
        cryolens::io::coords::read_eman_box(&out.join("GS1/mic_001.box"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        cryolens::io::coords::read_eman_box(&out.join("GS2/mic_001.box"))
            .unwrap()
            .len(),
        2
    );
    // A micrograph named `..` has no file name: refused, nothing reported as written.
    let dots = dir.path().join("dots.star");
    std::fs::write(
        &dots,
        "data_particles\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n_rlnMicrographName #3\n\
         10 20 mic.mrc\n30 40 ..\n",
    )
    .unwrap();
    let run = convert(
        "eman",
        &dir.path().join("out-dots"),
        std::slice::from_ref(&dots),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("dots.star"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&run.stdout).contains("wrote"));
    // Two inputs whose micrographs land on one file (names differing only in case): the
    // refusal names both inputs.
    let (one, two) = (dir.path().join("one.txt"), dir.path().join("two.txt"));
    std::fs::write(&one, "image_name\tx_coord\ty_coord\nmic_001\t1\t2\n").unwrap();
    std::fs::write(&two, "image_name\tx_coord\ty_coord\nMIC_001\t3\t4\n").unwrap();
    let run = convert("eman", &dir.path().join("out-case"), &[one, two]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !run.status.success() && stderr.contains("one.txt") && stderr.contains("two.txt"),
        "{stderr}"
    );
    // Box sizes must be positive.
    let run = cryolens()
        .args([
            "coords",
            "convert",
            "--to",
            "eman",
            "--box-size",
            "-64",
            "--output",
        ])
        .arg(dir.path().join("out-neg"))
        .arg(&boxes[0])
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("-64"));
}

/// `cryolens denoise` with the bundled restore model on the CPU (fast: the CLI tests' model).
fn denoise_small() -> std::process::Command {
    let mut c = cryolens();
    c.args([
        "denoise",
        "--model",
        "cryolens-restore-small",
        "--device",
        "cpu",
    ]);
    c
}

fn sample_mrc() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample.mrc")
}

#[test]
fn bench_spectra_prints_the_table_and_agrees_with_numpy() {
    // numpy is optional (CI may lack it): the table is printed either way; where numpy runs,
    // its spectrum and analysis must match Cryolens's to float precision.
    let venv = std::path::Path::new("/opt/topaz-venv/bin/python");
    let python = if venv.is_file() {
        venv.to_string_lossy().into_owned()
    } else {
        "python3".to_string()
    };
    let run = cryolens()
        .args(["bench", "--what", "spectra", "--repeats", "1", "--python"])
        .arg(&python)
        .arg("--input")
        .arg(sample_mrc())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("| operation | Cryolens (s) | numpy (s) | ratio (numpy / Cryolens) |"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| power spectrum") || l.starts_with("| analysis"))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    for row in &rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let seconds: f64 = cells[2].parse().unwrap_or_else(|_| panic!("{row}"));
        assert!(seconds.is_finite() && seconds >= 0.0, "{row}");
        assert!(row.contains("1024×1024"), "{row}");
    }
    if let Some(line) = stdout
        .lines()
        .find(|l| l.starts_with("agreement with numpy"))
    {
        let diffs: Vec<f64> = line
            .split(['(', ')', ',', ' '])
            .filter_map(|w| w.parse::<f64>().ok())
            .collect();
        assert_eq!(diffs.len(), 2, "{line}");
        assert!(diffs.iter().all(|d| *d < 1e-4), "numpy disagrees: {line}");
    } else {
        assert!(stdout.contains("numpy: n/a"), "{stdout}");
    }
}

#[test]
fn analyze_split_counts_writes_json_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let (json, csv) = (dir.path().join("a.json"), dir.path().join("a.csv"));
    let run = cryolens()
        .args(["analyze", "--force", "--split-counts"])
        .arg(sample_mrc())
        .arg("--json")
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    common::assert_success(&run);
    assert!(stdout.contains("count split of") && stdout.contains("raw halves: cc ="));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "cc",
        "snr",
        "snr_db",
        "gain",
        "seed",
        "forced",
        "split_counts",
    ] {
        assert!(v.get(key).is_some(), "no {key} in {v}");
    }
    let (cc, snr) = (v["cc"].as_f64().unwrap(), v["snr"].as_f64().unwrap());
    assert!((snr - cc / (1.0 - cc)).abs() < 1e-12, "{v}");
    assert_eq!(v["forced"], serde_json::json!(true));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "frequency_per_angstrom,resolution_angstrom,components,frc,ssnr_half,ssnr_full"
    );
    // 1024² with ring width 4: rings 0..=128.
    assert_eq!(lines.count(), 129);

    // The sample is not a plain counting sum: without --force the split is refused.
    let run = cryolens()
        .args(["analyze", "--split-counts"])
        .arg(sample_mrc())
        .output()
        .unwrap();
    assert_clear_failure(&run, "force");
}

#[test]
fn analyze_rejects_halves_of_different_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let a = cryolens::io::read_micrograph(&sample_mrc()).unwrap();
    let even = dir.path().join("mic_EVN.mrc");
    let odd = dir.path().join("mic_ODD.mrc");
    cryolens::io::mrc::write_image(&even, &a).unwrap();
    cryolens::io::mrc::write_image(&odd, &a.crop(0, 0, 512, 1024)).unwrap();
    let run = cryolens()
        .args(["analyze", "--even"])
        .arg(&even)
        .arg("--odd")
        .arg(&odd)
        .output()
        .unwrap();
    assert_clear_failure(&run, "differ in shape");
}

/// `analyze --thin` on real counts (a 1024² crop of fei-extended, a counting sum of 47.6 e/Å²
/// at 0.8538 Å/px, stored as counts × ≈ 104 off the integer lattice, so `--force` rounds
/// them to counts): the table and CSV give each fraction's exposure from the mean
/// count, and the raw and low-pass SNRs grow with exposure; `--booth-csv`
/// writes Booth's spectrum-based SSNR beside it.
#[test]
fn analyze_thin_titrates_real_counts() {
    let fei = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc");
    let full = cryolens::io::read_micrograph(&fei).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let crop = dir.path().join("fei-crop.mrc");
    cryolens::io::mrc::write_image(&crop, &full.crop(1024, 1024, 1024, 1024)).unwrap();
    let (csv, booth) = (dir.path().join("t.csv"), dir.path().join("b.csv"));
    let run = cryolens()
        .args(["analyze", "--force", "--split-counts"])
        .arg(&crop)
        .args(["--thin", "0.1,0.2,0.4", "--csv"])
        .arg(&csv)
        .arg("--booth-csv")
        .arg(&booth)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    common::assert_success(&run);
    println!("{stdout}");
    assert!(stdout.contains("full exposure"), "{stdout}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    // Exposure = fraction × full exposure (the header's 47.6 e/Å², within 15 % on a crop).
    let full_dose = rows[0][1] / 0.1;
    assert!((full_dose / 47.6 - 1.0).abs() < 0.15, "{full_dose}");
    assert!((rows[2][1] / rows[0][1] - 4.0).abs() < 1e-6);
    // The SNR grows with exposure (∝ dose is tested on synthetic counts: on a 1024² crop of
    // this sparse micrograph the raw cc at 0.1 is only ≈ 2 standard errors above 0).
    assert!(rows[2][3] > 2.0 * rows[0][3], "{text}");
    assert!(rows[2][6] > rows[0][6] && rows[0][6] > rows[0][3], "{text}");
    let booth = std::fs::read_to_string(&booth).unwrap();
    assert!(booth.starts_with("frequency_per_angstrom,power,background,ssnr_booth"));
    assert!(booth.lines().count() > 10, "{booth}");
}

/// `denoise` of micrographs with the same name in different folders (EPU grid squares) keeps
/// the folders below the one they share; inputs that would land on one file, or an output that
/// would overwrite its input, are refused before anything is written.
#[test]
fn denoise_keeps_same_named_micrographs_apart_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<std::path::PathBuf> = ["GridSquare_1", "GridSquare_2"]
        .iter()
        .map(|g| {
            let folder = dir.path().join("Images").join(g).join("Data");
            std::fs::create_dir_all(&folder).unwrap();
            let path = folder.join("mic_001.mrc");
            std::fs::copy(sample_mrc(), &path).unwrap();
            path
        })
        .collect();
    let out = dir.path().join("denoised");
    let run = denoise_small()
        .arg("-o")
        .arg(&out)
        .args(&inputs)
        .output()
        .unwrap();
    common::assert_success(&run);
    for g in ["GridSquare_1", "GridSquare_2"] {
        let written = out.join(g).join("Data").join("mic_001.mrc");
        let m = cryolens::io::read_micrograph(&written).unwrap();
        assert!(m.stats().std > 0.0, "{}", written.display());
    }
    assert!(!out.join("mic_001.mrc").exists());

    // The same stem twice in one folder: refused, naming both, nothing written.
    let tif = inputs[0].with_extension("tif");
    std::fs::write(&tif, b"not read").unwrap();
    let out2 = dir.path().join("denoised2");
    let run = cryolens()
        .args(["denoise", "--model", "cryolens-restore-small", "-o"])
        .arg(&out2)
        .arg(&inputs[0])
        .arg(&tif)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("mic_001.mrc")
            && stderr.contains("mic_001.tif"),
        "{stderr}"
    );
    assert!(!out2.join("mic_001.mrc").exists());

    // Denoising into the input's own folder would overwrite it: refused, the input kept.
    let before = std::fs::read(&inputs[0]).unwrap();
    let run = cryolens()
        .args(["denoise", "--model", "cryolens-restore-small", "-o"])
        .arg(inputs[0].parent().unwrap())
        .arg(&inputs[0])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("would overwrite this input"), "{stderr}");
    assert_eq!(std::fs::read(&inputs[0]).unwrap(), before);
}

/// `denoise --png` writes beside the MRC the same image in Topaz's display normalisation:
/// each grey level is the MRC value mapped through the 16× low-pass copy's mean ± 4σ.
#[test]
fn denoise_png_is_the_output_in_topaz_display_normalisation() {
    let out = tempfile::tempdir().unwrap();
    let run = cryolens()
        .args([
            "denoise",
            "--model",
            "cryolens-restore-small",
            "--png",
            "-o",
        ])
        .arg(out.path())
        .arg(sample_mrc())
        .output()
        .unwrap();
    common::assert_success(&run);
    let denoised = cryolens::io::read_micrograph(&out.path().join("sample.mrc")).unwrap();
    let png = image::open(out.path().join("sample.png"))
        .unwrap()
        .to_luma8();
    assert_eq!(
        (png.width() as usize, png.height() as usize),
        (denoised.width, denoised.height)
    );
    let (black, white) = cryolens::analysis::section::topaz_display_window(&denoised);
    assert!(white > black);
    let mut sum = 0.0f64;
    for (i, (&v, p)) in denoised.data.iter().zip(png.pixels()).enumerate() {
        assert_eq!(
            p.0[0],
            cryolens::io::png::to_grey(v, black, white),
            "pixel {i}"
        );
        sum += f64::from(p.0[0]);
    }
    // The window is centred on the low-pass mean, which is the image's mean.
    let mean = sum / denoised.data.len() as f64;
    assert!((mean - 127.5).abs() < 12.0, "mean grey {mean}");
}

/// Batch commands do not pass on the graphics stack's complaint about a missing
/// `XDG_RUNTIME_DIR` (SSH sessions, cluster nodes): it looks like one of our errors.
#[test]
fn batch_commands_do_not_print_the_display_probe_message() {
    let run = cryolens()
        .arg("devices")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("NODEVICE_SELECT")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.contains("XDG_RUNTIME_DIR"), "{stderr}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("--device auto:"));
}

/// Without Topaz's weights, `denoise` with no `--model` takes the bundled model and says so,
/// and `models list` shows every usable model with its licence and the default.
#[test]
fn default_model_is_the_guis_and_models_list_shows_it() {
    let models = tempfile::tempdir().unwrap();
    let list = cryolens()
        .args(["models", "list"])
        .env("CRYOLENS_MODELS_DIR", models.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("cryolens-restore-small "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("bundled") && line.contains("MIT OR Apache-2.0"),
        "{line}"
    );
    assert!(stdout.contains("no Topaz models installed"), "{stdout}");
    assert!(
        stdout.contains("default for `cryolens denoise`: cryolens-unet-small"),
        "{stdout}"
    );

    let out = tempfile::tempdir().unwrap();
    let run = cryolens()
        .args(["denoise", "-o"])
        .arg(out.path())
        .arg(sample_mrc())
        .env("CRYOLENS_MODELS_DIR", models.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    common::assert_success(&run);
    assert!(
        stdout.contains("no --model given: using cryolens-unet-small"),
        "{stdout}"
    );
    assert!(out.path().join("sample.mrc").is_file());
}

/// `denoise --shard K/N` over three micrographs: the shards together write exactly what one
/// unsharded run writes, the manifest records each output with the model's checksum, and a
/// rerun skips what is complete and redoes only a removed output.
#[test]
fn denoise_shards_match_the_unsharded_run_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let sample = cryolens::io::read_micrograph(&sample_mrc()).unwrap();
    let inputs: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("in/mic_{i}.mrc"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            cryolens::io::mrc::write_image(&path, &sample.crop(256 * i, 256, 256, 256)).unwrap();
            path
        })
        .collect();
    let denoise = |out: &std::path::Path, extra: &[&str]| {
        let run = denoise_small()
            .arg("-o")
            .arg(out)
            .args(extra)
            .args(&inputs)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        assert!(
            run.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&run.stderr)
        );
        stdout
    };
    let (all, sharded) = (dir.path().join("all"), dir.path().join("sharded"));
    denoise(&all, &[]);
    let first = denoise(&sharded, &["--shard", "1/2"]);
    assert_eq!(first.matches(" -> ").count(), 2, "{first}");
    let second = denoise(&sharded, &["--shard", "2/2"]);
    assert_eq!(second.matches(" -> ").count(), 1, "{second}");
    for i in 0..3 {
        let name = format!("mic_{i}.mrc");
        let a = cryolens::io::read_micrograph(&all.join(&name)).unwrap();
        let b = cryolens::io::read_micrograph(&sharded.join(&name)).unwrap();
        assert_eq!(a.data, b.data, "{name}");
    }
    // The manifest: one line per output, with the bundled weights' checksum.
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/models/cryolens-restore-small.safetensors");
    let sha = {
        use sha2::Digest;
        format!(
            "{:x}",
            sha2::Sha256::digest(std::fs::read(weights).unwrap())
        )
    };
    let manifest = std::fs::read_to_string(sharded.join("cryolens_manifest.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    // Each output's header labels say how it was made.
    let labels = cryolens::io::mrc::read_labels(&sharded.join("mic_0.mrc")).unwrap();
    assert_eq!(labels[0], format!("Cryolens {}", env!("CARGO_PKG_VERSION")));
    assert!(
        labels.contains(&"model: cryolens-restore-small".to_string()),
        "{labels:?}"
    );
    assert!(
        labels.contains(&format!("model sha256: {sha}")),
        "{labels:?}"
    );
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("command: cryolens denoise --model")),
        "{labels:?}"
    );
    for r in &records {
        assert_eq!(r["model_sha256"], sha.as_str());
        let out = std::path::Path::new(r["output"].as_str().unwrap());
        assert_eq!(
            r["size"].as_u64(),
            Some(std::fs::metadata(out).unwrap().len())
        );
    }
    // Rerun: everything done, nothing rewritten; a removed output is redone alone.
    let again = denoise(&sharded, &[]);
    assert_eq!(again.matches(" -> ").count(), 0, "{again}");
    assert!(again.contains("3 of 3 micrographs already done"), "{again}");
    std::fs::remove_file(sharded.join("mic_1.mrc")).unwrap();
    let redo = denoise(&sharded, &[]);
    assert!(
        redo.contains("mic_1.mrc ->") && redo.matches(" -> ").count() == 1,
        "{redo}"
    );
    // Other options are another result: redone.
    let png = denoise(&sharded, &["--png"]);
    assert_eq!(png.matches(" -> ").count(), 3, "{png}");
}

/// `cryolens slurm` writes an array job whose tasks, run by hand with
/// `SLURM_ARRAY_TASK_ID=K bash SCRIPT` as on a node, write together what one run writes;
/// commands that cannot be sharded are refused.
#[test]
fn slurm_script_tasks_write_what_one_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let sample = cryolens::io::read_micrograph(&sample_mrc()).unwrap();
    let inputs: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("mics/mic {i}.mrc"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            cryolens::io::mrc::write_image(&path, &sample.crop(0, 256 * i, 256, 256)).unwrap();
            path
        })
        .collect();
    let script = dir.path().join("job.sh");
    let run = cryolens()
        .current_dir(dir.path())
        .args([
            "slurm",
            "--array",
            "2",
            "--cpus",
            "2",
            "--partition",
            "cpu",
            "--script",
        ])
        .arg(&script)
        .args([
            "--",
            "denoise",
            "--model",
            "cryolens-restore-small",
            "-o",
            "out",
        ])
        .args(&inputs)
        .output()
        .unwrap();
    common::assert_success(&run);
    let text = std::fs::read_to_string(&script).unwrap();
    for line in [
        "#SBATCH --array=1-2",
        "#SBATCH --partition=cpu",
        "#SBATCH --cpus-per-task=2",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    for task in ["1", "2"] {
        let run = std::process::Command::new("bash")
            .arg(&script)
            .env("SLURM_ARRAY_TASK_ID", task)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "task {task}: {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
    // Without a task id the script says what to set.
    let run = std::process::Command::new("bash")
        .arg(&script)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("SLURM_ARRAY_TASK_ID"));
    // The same as one run.
    let one = dir.path().join("one");
    let run = cryolens()
        .args(["denoise", "--model", "cryolens-restore-small", "-o"])
        .arg(&one)
        .args(&inputs)
        .output()
        .unwrap();
    assert!(run.status.success());
    for i in 0..3 {
        let name = format!("mic {i}.mrc");
        let a = cryolens::io::read_micrograph(&one.join(&name)).unwrap();
        let b = cryolens::io::read_micrograph(&dir.path().join("out").join(&name)).unwrap();
        assert_eq!(a.data, b.data, "{name}");
    }
    // Refused: a command without --shard, a --shard of its own, zero tasks.
    for (args, expect) in [
        (
            vec!["--array", "2", "--", "fsc", "a.mrc", "b.mrc"],
            "cannot be sharded",
        ),
        (
            vec![
                "--array", "2", "--", "denoise", "-o", "x", "--shard", "1/2", "m.mrc",
            ],
            "its own --shard",
        ),
        (
            vec!["--array", "0", "--", "denoise", "-o", "x", "m.mrc"],
            "--array 0",
        ),
    ] {
        let run = cryolens()
            .current_dir(dir.path())
            .args(["slurm", "--script", "bad.sh"])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success() && stderr.contains(expect),
            "{args:?}: {stderr}"
        );
        assert!(!dir.path().join("bad.sh").exists());
    }
}

/// `cryolens relion denoise` as RELION runs an External job, from the project folder: the
/// denoised micrographs and a micrographs STAR (optics and CTF columns kept, names replaced,
/// paths relative to the project), `RELION_OUTPUT_NODES.star`, the exit marker; a rerun
/// continues; a missing micrograph fails the job with RELION's failure marker.
#[test]
fn relion_external_job_denoises_a_micrographs_star() {
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    let sample = cryolens::io::read_micrograph(&sample_mrc()).unwrap();
    std::fs::create_dir_all(p.join("MotionCorr/job002/Movies")).unwrap();
    std::fs::create_dir_all(p.join("CtfFind/job003")).unwrap();
    for i in 0..2 {
        let path = p.join(format!("MotionCorr/job002/Movies/mic_{i}.mrc"));
        cryolens::io::mrc::write_image(&path, &sample.crop(256 * i, 0, 256, 256)).unwrap();
    }
    let star = |mics: &[&str]| {
        let mut s = String::from(
            "\n# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n\
             _rlnMicrographPixelSize #3\n_rlnVoltage #4\nopticsGroup1 1 0.853776 300.0\n\n\
             # version 30001\n\ndata_micrographs\n\nloop_\n_rlnMicrographName #1\n\
             _rlnOpticsGroup #2\n_rlnDefocusU #3\n_rlnDefocusV #4\n",
        );
        for (i, m) in mics.iter().enumerate() {
            s += &format!("{m} 1 {} 14800.5\n", 15000 + i);
        }
        s
    };
    std::fs::write(
        p.join("CtfFind/job003/micrographs_ctf.star"),
        star(&[
            "MotionCorr/job002/Movies/mic_0.mrc",
            "MotionCorr/job002/Movies/mic_1.mrc",
        ]),
    )
    .unwrap();
    let job = |job: &str, input: &str| {
        cryolens()
            .current_dir(p)
            .args(["relion", "denoise", "--o", job, "--in_mics", input])
            .args(["--model", "cryolens-restore-small", "--j", "2"])
            .output()
            .unwrap()
    };
    let run = job("External/job005/", "CtfFind/job003/micrographs_ctf.star");
    common::assert_success(&run);
    let dir = p.join("External/job005");
    assert!(dir.join("RELION_JOB_EXIT_SUCCESS").is_file());
    let out = cryolens::io::star::read(&dir.join("micrographs_denoised.star")).unwrap();
    assert!(out.block("optics").is_some());
    let mics = out.block("micrographs").unwrap();
    assert_eq!(mics.len(), 2);
    for i in 0..2 {
        let name = mics.get("rlnMicrographName", i).unwrap();
        assert_eq!(name, format!("External/job005/Micrographs/mic_{i}.mrc"));
        assert!(p.join(name).is_file());
        assert_eq!(mics.f64("rlnDefocusU", i).unwrap(), 15000.0 + i as f64);
    }
    let nodes = std::fs::read_to_string(dir.join("RELION_OUTPUT_NODES.star")).unwrap();
    assert!(
        nodes.contains("External/job005/micrographs_denoised.star")
            && nodes.contains("MicrographGroupMetadata.star.relion"),
        "{nodes}"
    );
    // Rerun: continues where it was (nothing left to do).
    let again = common::assert_success(&job(
        "External/job005/",
        "CtfFind/job003/micrographs_ctf.star",
    ));
    assert!(again.contains("2 of 2 micrographs already done"), "{again}");
    // A micrograph that is not there: the job fails the way RELION sees it.
    std::fs::write(
        p.join("CtfFind/job003/missing.star"),
        star(&[
            "MotionCorr/job002/Movies/mic_0.mrc",
            "MotionCorr/job002/Movies/gone.mrc",
        ]),
    )
    .unwrap();
    let run = job("External/job006/", "CtfFind/job003/missing.star");
    assert_clear_failure(&run, "gone.mrc");
    assert!(p.join("External/job006/RELION_JOB_EXIT_FAILURE").is_file());
    assert!(!p.join("External/job006/RELION_JOB_EXIT_SUCCESS").exists());

    // `relion screen` on the real RELION 3.0 CTF STAR of EMPIAR-10025 (its first two
    // micrographs, cut from the sample under their names): the table and thumbnails in the
    // job folder, the accepted micrographs (a rule on the STAR's defocus rejects the second at
    // 1.71 µm) declared as its output with every column kept; a rerun continues.
    let real = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/coords/topaz_empiar10025_coords/ctf_params.star"),
    )
    .unwrap();
    let mut text = String::new();
    let mut rows = 0;
    for line in real.lines() {
        let is_row = line.contains(".mrc");
        if is_row {
            if rows == 2 {
                break;
            }
            let name = line.split_whitespace().last().unwrap();
            cryolens::io::mrc::write_image(&p.join(name), &sample.crop(256 * rows, 0, 256, 256))
                .unwrap();
            rows += 1;
        }
        text += line;
        text += "\n";
    }
    std::fs::write(p.join("CtfFind/job003/screen.star"), text).unwrap();
    let screen = || {
        cryolens()
            .current_dir(p)
            .args(["relion", "screen", "--o", "External/job007/"])
            .args(["--in_mics", "CtfFind/job003/screen.star"])
            .args(["--model", "cryolens-unet-small", "--device", "cpu"])
            .args(["--reject_if", "defocus_um>1.6", "--j", "2"])
            .output()
            .unwrap()
    };
    common::assert_success(&screen());
    let dir = p.join("External/job007");
    assert!(dir.join("RELION_JOB_EXIT_SUCCESS").is_file());
    assert!(dir.join("screening.csv").is_file());
    let accepted = cryolens::io::star::read(&dir.join("accepted_micrographs.star")).unwrap();
    let mics = accepted.block("images").unwrap();
    assert_eq!(mics.len(), 1);
    assert_eq!(
        mics.get("rlnMicrographName", 0).unwrap(),
        "14sep05c_c_00003gr_00014sq_00004hl_00004es_c.mrc"
    );
    assert_eq!(mics.f64("rlnDefocusU", 0).unwrap(), 14905.80957);
    assert_eq!(mics.f64("rlnMagnification", 0).unwrap(), 38023.0);
    let nodes = std::fs::read_to_string(dir.join("RELION_OUTPUT_NODES.star")).unwrap();
    assert!(
        nodes.contains("External/job007/accepted_micrographs.star"),
        "{nodes}"
    );
    let again = common::assert_success(&screen());
    assert!(again.contains("already screened"), "{again}");
}

/// `cryolens analyze MIC… -o DIR` as a batch: each micrograph (three 512² crops of the real
/// fei-extended exposure, two of one name in different folders) count split into halves
/// (`--force`: its values are near, not exactly, counts × gain); shards write exactly what one run writes, folders kept; a rerun skips what is
/// done; each JSON equals the single-micrograph analysis of the same micrograph.
#[test]
fn analyze_batches_shard_resume_and_match_the_single_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let fei =
        cryolens::io::read_micrograph(&common::data("micrographs/fei-extended/fei-extended.mrc"))
            .unwrap();
    let inputs: Vec<std::path::PathBuf> = [("a/mic.mrc", 0), ("b/mic.mrc", 1), ("b/other.mrc", 2)]
        .iter()
        .map(|&(name, i)| {
            let path = dir.path().join("mics").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            cryolens::io::mrc::write_image(&path, &fei.crop(600 * i, 700, 512, 512)).unwrap();
            path
        })
        .collect();
    let analyze = |out: &std::path::Path, extra: &[&str]| {
        let run = cryolens()
            .arg("analyze")
            .args(&inputs)
            .arg("-o")
            .arg(out)
            .arg("--force")
            .args(extra)
            .output()
            .unwrap();
        common::assert_success(&run)
    };
    let one = dir.path().join("one");
    analyze(&one, &[]);
    let sharded = dir.path().join("sharded");
    analyze(&sharded, &["--shard", "1/2"]);
    let second = analyze(&sharded, &["--shard", "2/2"]);
    assert_eq!(second.matches(" -> ").count(), 1, "{second}");
    for name in ["a/mic", "b/mic", "b/other"] {
        for ext in ["json", "csv"] {
            let file = format!("{name}.{ext}");
            let a = std::fs::read_to_string(one.join(&file)).unwrap();
            let b = std::fs::read_to_string(sharded.join(&file)).unwrap();
            assert_eq!(a, b, "{file}");
        }
    }
    let again = analyze(&sharded, &[]);
    assert!(again.contains("3 of 3 micrographs already done"), "{again}");
    // The batch's numbers are the single analysis's.
    let batch: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(one.join("b/mic.json")).unwrap()).unwrap();
    assert!(
        batch["halves"].as_str().unwrap().contains("count split"),
        "{batch}"
    );
    let single_json = dir.path().join("single.json");
    let run = cryolens()
        .arg("analyze")
        .arg("--split-counts")
        .arg(&inputs[1])
        .arg("--force")
        .arg("--json")
        .arg(&single_json)
        .output()
        .unwrap();
    common::assert_success(&run);
    let single: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&single_json).unwrap()).unwrap();
    let snr = single["snr_db"].as_f64().unwrap();
    assert!(snr.is_finite() && snr < 0.0, "{single}");
    assert_eq!(batch["snr_db"].as_f64(), Some(snr));
}
