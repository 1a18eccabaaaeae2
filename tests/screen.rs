//! `cryolens screen` on the real micrographs: the table's numbers against what is known of the
//! data (the fei-extended exposure's stated dose and pixel size), thumbnails, a damaged file
//! becoming a row, resume, and `--watch` with files arriving, partial and deleted.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{cryolens, data};
use cryolens::screen::{ScreenRow, ScreenTable};

/// `cryolens screen` with the bundled small U-net on the CPU.
fn screen() -> std::process::Command {
    let mut c = cryolens();
    c.args([
        "screen",
        "--model",
        "cryolens-unet-small",
        "--device",
        "cpu",
    ]);
    c
}

/// `cryolens screen EXTRA… INPUT -o OUT`, run to its end.
fn screen_into(extra: &[&std::ffi::OsStr], input: &Path, out: &Path) -> std::process::Output {
    screen()
        .args(extra)
        .arg(input)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

fn fei() -> PathBuf {
    data("micrographs/fei-extended/fei-extended.mrc")
}

fn ucsf() -> PathBuf {
    data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc")
}

fn row<'a>(rows: &'a [ScreenRow], name: &str) -> &'a ScreenRow {
    rows.iter()
        .find(|r| r.micrograph.ends_with(name))
        .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
}

/// A temporary folder holding `mics/fei-extended.mrc`: the folder and `mics`.
fn fei_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mics = dir.path().join("mics");
    std::fs::create_dir(&mics).unwrap();
    std::fs::copy(fei(), mics.join("fei-extended.mrc")).unwrap();
    (dir, mics)
}

fn png_size(path: &Path) -> (u32, u32) {
    image::ImageReader::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_dimensions()
        .unwrap()
}

#[test]
fn a_folder_is_screened_with_known_numbers_and_resumes() {
    let (dir, mics) = fei_folder();
    std::fs::copy(ucsf(), mics.join("ucsf.mrc")).unwrap();
    // A truncated copy: a row with its error, never a stop.
    let bytes = std::fs::read(ucsf()).unwrap();
    std::fs::write(mics.join("broken.mrc"), &bytes[..3000]).unwrap();
    std::fs::write(mics.join("notes.txt"), b"not a micrograph").unwrap();
    // CTFFIND4 output beside the exposure (its stated defocus is about 0.9 µm).
    std::fs::write(
        mics.join("fei-extended_ctffind4.txt"),
        "# Input file: fei-extended.mrc ; Number of micrographs: 1\n\
         # Pixel size: 0.854 Angstroms ; acceleration voltage: 300.0 keV ; spherical aberration: 2.70 mm ; amplitude contrast: 0.07\n\
         1.000000 9100.0 8700.0 30.0 0.0 0.08 4.2\n",
    )
    .unwrap();
    let out = dir.path().join("screening");
    let run = screen_into(&[], &mics, &out);
    let stderr = common::assert_clear_failure(&run, "1 of 3 micrographs failed");
    assert!(stderr.contains("broken.mrc"), "{stderr}");

    let text = std::fs::read_to_string(out.join("screening.csv")).unwrap();
    assert!(text.starts_with("micrograph,"), "{text}");
    let table = ScreenTable::open(&out).unwrap();
    let rows = table.rows();
    assert_eq!(rows.len(), 3, "{rows:?}");

    let f = row(rows, "fei-extended.mrc");
    assert!(f.error.is_none(), "{f:?}");
    // Provenance: the version and the checksum of the weights that screened it.
    let weights = cryolens::models::ModelSpec::parse("cryolens-unet-small")
        .unwrap()
        .weights_path()
        .unwrap();
    let sha = cryolens::io::provenance::sha256_file(&weights).unwrap();
    assert_eq!(f.model_sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(
        f.cryolens_version.as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!((f.width_px, f.height_px), (Some(3710), Some(3838)));
    assert!(
        (f.pixel_size_angstrom.unwrap() - 0.8538).abs() < 1e-3,
        "{f:?}"
    );
    // The exposure's stated dose is 47.6 e⁻/Å²; ours comes from the mean over the gain that
    // the noise gives (counts scaled by ≈ 100).
    let dose = f.dose_e_per_angstrom2.unwrap();
    assert!((dose - 47.6).abs() < 0.15 * 47.6, "dose {dose}");
    assert!(
        f.halves.as_deref().unwrap().contains("count split"),
        "{f:?}"
    );
    let (raw, den) = (f.snr_raw_db.unwrap(), f.snr_denoised_db.unwrap());
    assert!(
        den > raw + 1.0,
        "denoising must raise the SNR: raw {raw}, denoised {den}"
    );
    // Vitreous ice: no crystalline ring.
    let ice = f.ice_ring_db.unwrap();
    assert!(ice.abs() < 1.5, "ice ring {ice} dB");
    assert!((f.defocus_um.unwrap() - 0.89).abs() < 1e-6, "{f:?}");
    assert!((f.astigmatism_um.unwrap() - 0.04).abs() < 1e-6, "{f:?}");
    assert_eq!(f.ctf_fit_resolution_angstrom, Some(4.2));
    // Thumbnails at ≤ 512 px, aspect kept (3710 × 3838 → 495 × 512).
    assert_eq!(
        png_size(&out.join(f.thumbnail.as_ref().unwrap())),
        (495, 512)
    );
    assert_eq!(
        png_size(&out.join(f.raw_thumbnail.as_ref().unwrap())),
        (495, 512)
    );
    assert_eq!(
        png_size(&out.join(f.spectrum.as_ref().unwrap())),
        (512, 512)
    );
    assert_eq!(f.thumbnail.as_deref(), Some("thumbnails/fei-extended.png"));

    // Not counts and no pixel size: the measurable columns are empty, not an error.
    let u = row(rows, "ucsf.mrc");
    assert!(u.error.is_none(), "{u:?}");
    assert!(u.snr_raw_db.is_none() && u.ice_ring_db.is_none() && u.dose_e_per_angstrom2.is_none());
    assert!(out.join(u.thumbnail.as_ref().unwrap()).is_file());

    let b = row(rows, "broken.mrc");
    assert!(b.error.as_deref().unwrap().starts_with("error: "), "{b:?}");
    assert!(b.thumbnail.is_none());

    // The exports: the accepted micrographs open as a picking session (our STAR reader and
    // RELION's conventions: optics group with the pixel size), the failed one has its reason.
    let accepted =
        cryolens::picking::expand_input(&out.join("accepted_micrographs.star").to_string_lossy())
            .unwrap();
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(accepted.iter().all(|p| p.is_file()), "{accepted:?}");
    let star = cryolens::io::star::read(&out.join("accepted_micrographs.star")).unwrap();
    let optics = star.block("optics").unwrap();
    assert!(optics.has_column("rlnMicrographPixelSize") && optics.has_column("rlnOpticsGroup"));
    let rejected = std::fs::read_to_string(out.join("rejected.csv")).unwrap();
    assert!(rejected.contains("broken.mrc,error: "), "{rejected}");

    // A rerun screens only what failed or changed.
    let seconds = f.seconds;
    let run = screen_into(&[], &mics, &out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("2 micrographs already screened"),
        "{stdout}"
    );
    let table = ScreenTable::open(&out).unwrap();
    assert_eq!(row(table.rows(), "fei-extended.mrc").seconds, seconds);
    assert_eq!(table.rows().len(), 3);

    // A threshold rejects by a metric (fei's ice ring, −0.03 dB, is above −1); ucsf has no
    // value and stays; loosening it gives fei back.
    let run = screen_into(
        &["--reject-if".as_ref(), "ice_ring_db>-1".as_ref()],
        &mics,
        &out,
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("1 accepted, 2 rejected (1 by thresholds)"),
        "{stdout}"
    );
    let rejected = std::fs::read_to_string(out.join("rejected.csv")).unwrap();
    assert!(
        rejected.contains("fei-extended.mrc,threshold: ice_ring_db"),
        "{rejected}"
    );
    let run = screen_into(&[], &mics, &out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("2 accepted, 1 rejected (0 by thresholds)"),
        "{stdout}"
    );
}

#[test]
fn watch_takes_complete_files_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let mics = dir.path().join("session");
    std::fs::create_dir(&mics).unwrap();
    let out = dir.path().join("out");
    let bytes = std::fs::read(ucsf()).unwrap();
    let mut child = screen()
        .args([
            "--watch",
            "--settle-seconds",
            "0.5",
            "--poll-seconds",
            "0.2",
            "--idle-exit-seconds",
            "6",
            "--no-denoised-snr",
        ])
        .arg(&mics)
        .arg("-o")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The microscope writes a.mrc slowly, b.mrc at once; c.mrc is deleted half-written.
    std::fs::write(mics.join("a.mrc"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(mics.join("c.mrc"), &bytes[..bytes.len() / 3]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(mics.join("b.mrc"), &bytes).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    std::fs::remove_file(mics.join("c.mrc")).unwrap();
    std::fs::write(mics.join("a.mrc"), &bytes).unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(300) {
            child.kill().unwrap();
            panic!("the watch did not stop after --idle-exit-seconds");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = ScreenTable::open(&out).unwrap();
    let names: Vec<&str> = table
        .rows()
        .iter()
        .map(|r| r.micrograph.rsplit('/').next().unwrap())
        .collect();
    // b was complete first; a only once its data were all there; c never.
    assert_eq!(names, ["b.mrc", "a.mrc"], "{stdout}");
    assert!(
        table.rows().iter().all(|r| r.error.is_none()),
        "{:?}",
        table.rows()
    );
    assert!(stdout.contains("watching"), "{stdout}");
}

#[test]
fn watch_needs_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let run = screen()
        .arg("--watch")
        .arg(ucsf())
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    common::assert_clear_failure(&run, "--watch follows folders");
}

#[test]
fn a_cryosparc_exposures_table_gives_the_ctf_columns() {
    use cryolens::io::cryosparc::{CsColumn, CsFile};
    let (dir, mics) = fei_folder();
    // Patch CTF's exposures as cryoSPARC names them: a UID prefix and the motion-correction
    // suffix around the user's file name; defocus in Å, angles in radians.
    let cs = dir.path().join("J4_exposures_ctf_estimated.cs");
    CsFile::from_columns(&[
        CsColumn::U64("uid".into(), vec![3_141_592_653_589_793, 42]),
        CsColumn::Text(
            "micrograph_blob/path".into(),
            vec![
                "J3/motioncorrected/3141592653589793_fei-extended_patch_aligned_doseweighted.mrc"
                    .into(),
                "J3/motioncorrected/4200000000000000_other_patch_aligned_doseweighted.mrc".into(),
            ],
        ),
        CsColumn::F32("micrograph_blob/psize_A".into(), vec![0.854, 0.854]),
        CsColumn::F32("ctf/accel_kv".into(), vec![300.0, 300.0]),
        CsColumn::F32("ctf/cs_mm".into(), vec![2.7, 2.7]),
        CsColumn::F32("ctf/amp_contrast".into(), vec![0.1, 0.1]),
        CsColumn::F32("ctf/df1_A".into(), vec![12_500.0, 30_000.0]),
        CsColumn::F32("ctf/df2_A".into(), vec![11_500.0, 29_000.0]),
        CsColumn::F32("ctf/df_angle_rad".into(), vec![0.3, 0.3]),
        CsColumn::F32("ctf/ctf_fit_to_A".into(), vec![3.8, 6.0]),
    ])
    .write(&cs)
    .unwrap();
    let out = dir.path().join("screening");
    let run = screen_into(
        &[
            "--no-denoised-snr".as_ref(),
            "--ctf".as_ref(),
            cs.as_os_str(),
        ],
        &mics,
        &out,
    );
    common::assert_success(&run);
    assert!(String::from_utf8_lossy(&run.stdout).contains("CTF: 2 micrographs"));
    let table = ScreenTable::open(&out).unwrap();
    let r = row(table.rows(), "fei-extended.mrc");
    assert_eq!(r.defocus_um, Some(1.2));
    assert_eq!(r.astigmatism_um, Some(0.1));
    assert!((r.ctf_fit_resolution_angstrom.unwrap() - 3.8).abs() < 1e-4);

    // A particles .cs is no CTF source: the missing field is named.
    let particles = dir.path().join("particles.cs");
    CsFile::from_columns(&[
        CsColumn::U64("uid".into(), vec![1]),
        CsColumn::F32("location/center_x_frac".into(), vec![0.5]),
    ])
    .write(&particles)
    .unwrap();
    let run = screen()
        .arg("--ctf")
        .arg(&particles)
        .arg(&mics)
        .arg("-o")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    common::assert_clear_failure(&run, "micrograph_blob/path");
}

#[test]
fn a_ctffind5_result_beside_the_micrograph_gives_ice_thickness_and_tilt() {
    let (dir, mics) = fei_folder();
    // CTFFIND5 run on it: columns 8–10 are tilt axis, tilt angle and sample thickness (Å).
    std::fs::write(
        mics.join("fei-extended_ctffind.txt"),
        "# Output from CTFFind version 5.0.2\n\
         # Input file: fei-extended.mrc ; Number of micrographs: 1\n\
         # Pixel size: 0.854 Angstroms ; acceleration voltage: 300.0 keV ; spherical aberration: 2.70 mm ; amplitude contrast: 0.07\n\
         1.0 14000.0 13600.0 20.0 0.0 0.11 4.2 -80.0 7.5 385.0\n",
    )
    .unwrap();
    let out = dir.path().join("screening");
    let run = screen_into(&["--no-denoised-snr".as_ref()], &mics, &out);
    common::assert_success(&run);
    let table = ScreenTable::open(&out).unwrap();
    let r = row(table.rows(), "fei-extended.mrc");
    assert_eq!(r.defocus_um, Some(1.38));
    assert_eq!(r.ice_thickness_nm, Some(38.5));
    assert_eq!(r.ctf_tilt_degrees, Some(7.5));
    // A rule on the new column rejects by it.
    let run = screen_into(
        &[
            "--no-denoised-snr".as_ref(),
            "--reject-if".as_ref(),
            "ice_thickness_nm>30".as_ref(),
        ],
        &mics,
        &out,
    );
    common::assert_success(&run);
    let table = ScreenTable::open(&out).unwrap();
    let r = row(table.rows(), "fei-extended.mrc");
    assert_eq!(r.decision.as_deref(), Some("reject"));
    assert!(r.reason.as_deref().unwrap().contains("ice_thickness_nm"));
}

#[test]
fn shards_write_their_own_tables_and_fold_into_what_one_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let fei = cryolens::io::read_micrograph(&fei()).unwrap();
    let inputs: Vec<PathBuf> = [("a/mic.mrc", 0), ("b/mic.mrc", 1), ("b/other.mrc", 2)]
        .iter()
        .map(|&(name, i)| {
            let path = dir.path().join("mics").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            cryolens::io::mrc::write_image(&path, &fei.crop(700 * i, 600, 512, 512)).unwrap();
            path
        })
        .collect();
    let run = |out: &Path, extra: &[&str]| {
        let o = screen()
            .arg("--no-denoised-snr")
            .args(extra)
            .args(&inputs)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap();
        common::assert_success(&o)
    };
    let one = dir.path().join("one");
    run(&one, &[]);
    let sharded = dir.path().join("sharded");
    let first = run(&sharded, &["--shard", "1/2"]);
    assert!(
        first.contains("shard 1/2: 2 micrographs screened"),
        "{first}"
    );
    run(&sharded, &["--shard", "2/2"]);
    // Each shard kept its own table and decided nothing.
    for k in [1, 2] {
        assert!(
            sharded
                .join(format!("screening.shard-{k}-of-2.csv"))
                .exists()
        );
    }
    assert!(!sharded.join("screening.csv").exists());
    assert!(!sharded.join("accepted.txt").exists());
    // A shard run again has nothing left to do: it skips what the other shards hold too.
    let again = run(&sharded, &["--shard", "1/2"]);
    assert!(again.contains("2 micrographs already screened"), "{again}");
    // The unsharded run screens nothing, folds the tables and decides.
    let fold = run(&sharded, &[]);
    assert!(fold.contains("3 micrographs already screened"), "{fold}");
    assert!(!sharded.join("screening.shard-1-of-2.csv").exists());
    assert!(sharded.join("accepted.txt").exists());
    let rows = |out: &Path| -> Vec<ScreenRow> {
        ScreenTable::open(out)
            .unwrap()
            .rows()
            .iter()
            .map(|r| ScreenRow {
                seconds: None,
                ..r.clone()
            })
            .collect()
    };
    let (a, b) = (rows(&one), rows(&sharded));
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
    for r in &a {
        assert!(r.error.is_none() && r.snr_raw_db.is_some(), "{r:?}");
        let png = r.thumbnail.as_deref().unwrap();
        assert_eq!(
            std::fs::read(one.join(png)).unwrap(),
            std::fs::read(sharded.join(png)).unwrap(),
            "{png}"
        );
    }
    // The exports, but for the comment naming the command (its -o differs).
    let body = |path: PathBuf| -> String {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("# command:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for name in ["accepted.txt", "accepted_micrographs.star"] {
        assert_eq!(body(one.join(name)), body(sharded.join(name)), "{name}");
    }
    // --shard follows no folder.
    let o = screen()
        .args(["--watch", "--shard", "1/2"])
        .arg(dir.path().join("mics"))
        .arg("-o")
        .arg(&sharded)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--shard"));
}
