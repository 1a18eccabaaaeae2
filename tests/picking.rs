//! Picking sessions: the session file survives a SIGKILL losing at most the edit in flight;
//! sessions open from folders, globs and RELION micrographs STARs; RELION export has exact
//! contents; the ucsf-1142 autopick imports onto its particles with the threshold applied.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cryolens::picking::autosave::Autosaver;
use cryolens::picking::exchange::{self, ExportFormat, ImportOptions};
use cryolens::picking::{PickSession, expand_input};

fn ucsf() -> PathBuf {
    common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc")
}

/// The child of [`sigkill_loses_at_most_the_edit_in_flight`]: adds one pick every 40 ms
/// through the same session + autosaver the GUI uses, printing `edit N` after each.
#[test]
#[ignore = "child process of sigkill_loses_at_most_the_edit_in_flight"]
fn kill_child_session() {
    let Ok(dir) = std::env::var("CRYOLENS_KILL_CHILD_DIR") else {
        return;
    };
    let path = Path::new(&dir).join("session.json");
    let mut session = PickSession::new(vec!["a.mrc".into(), "b.mrc".into()]);
    let saver = Autosaver::new(&path);
    for i in 0..10_000 {
        session.add(i % 2, i as f64, 2.0 * i as f64);
        saver.submit(session.to_json());
        println!("edit {i}");
        std::thread::sleep(Duration::from_millis(40));
    }
}

#[test]
fn sigkill_loses_at_most_the_edit_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "kill_child_session",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CRYOLENS_KILL_CHILD_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let target = 30;
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == format!("edit {target}") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let session = PickSession::load(&dir.path().join("session.json")).unwrap();
    let picks: Vec<_> = session
        .micrographs
        .iter()
        .flat_map(|m| m.picks.iter())
        .collect();
    // Edits 0..=target were made; the last may be in flight.
    assert!(
        picks.len() == target + 1 || picks.len() == target,
        "{} picks after {} edits",
        picks.len(),
        target + 1
    );
    for (i, m) in session.micrographs.iter().enumerate() {
        for (k, p) in m.picks.iter().enumerate() {
            let edit = 2 * k + i;
            assert_eq!((p.x, p.y), (edit as f64, 2.0 * edit as f64));
        }
    }
}

#[test]
fn sessions_open_from_folder_glob_and_star() {
    let dir = common::data("micrographs/ucsf-1142");
    let from_dir = expand_input(dir.to_str().unwrap()).unwrap();
    assert_eq!(
        from_dir,
        vec![
            dir.join("Ucsf_stack_1142_DW.mrc"),
            dir.join("Ucsf_stack_1142_DW_mask.mrc")
        ]
    );
    let glob = format!("{}/*_DW.mrc", dir.display());
    assert_eq!(expand_input(&glob).unwrap(), vec![ucsf()]);
    assert!(expand_input(&format!("{}/*.nothing", dir.display())).is_err());
    assert!(expand_input("/no/such/folder").is_err());

    // A RELION micrographs STAR in a job folder names micrographs relative to the project.
    let project = tempfile::tempdir().unwrap();
    let job = project.path().join("CtfFind/job003");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::create_dir_all(project.path().join("MotionCorr/job002")).unwrap();
    std::fs::copy(ucsf(), project.path().join("MotionCorr/job002/mic1.mrc")).unwrap();
    let star = job.join("micrographs_ctf.star");
    std::fs::write(
        &star,
        "# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnMicrographPixelSize #2\n1 1.0\n\n\
         data_micrographs\n\nloop_\n_rlnMicrographName #1\n_rlnOpticsGroup #2\n\
         MotionCorr/job002/mic1.mrc 1\nMotionCorr/job002/mic2.mrc 1\n",
    )
    .unwrap();
    let mics = expand_input(star.to_str().unwrap()).unwrap();
    assert_eq!(mics.len(), 2);
    assert_eq!(mics[0], project.path().join("MotionCorr/job002/mic1.mrc"));
    assert!(mics[0].exists());
    // Not a micrographs STAR.
    let bad = job.join("bad.star");
    std::fs::write(&bad, "data_\nloop_\n_rlnCoordinateX #1\n1\n").unwrap();
    let err = expand_input(bad.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("_rlnMicrographName"), "{err}");
}

#[test]
fn relion_export_has_exact_contents_and_reads_back() {
    let project = tempfile::tempdir().unwrap();
    let mut session = PickSession::new(vec![
        "MotionCorr/job002/mic1.mrc".into(),
        "MotionCorr/job002/mic2.mrc".into(),
        "MotionCorr/job002/mic3.mrc".into(),
    ]);
    session.add(0, 100.5, 200.25);
    session.add(0, 1024.0, 7.125);
    session.add(2, 5.0, 6.0);
    let out = project.path().join("ManualPick/job004");
    let files = exchange::export(&session, ExportFormat::Relion, &out).unwrap();
    assert_eq!(
        files,
        vec![
            out.join("mic1_manualpick.star"),
            out.join("mic3_manualpick.star"),
            out.join("manualpick.star")
        ]
    );
    // The provenance line (no command or model in a test process), then RELION's layout.
    let written = format!("# Written by Cryolens {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap(),
        written.clone()
            + "\n# version 30001\n\ndata_\n\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n \
         100.500000  200.250000\n1024.000000    7.125000\n\n"
    );
    assert_eq!(
        std::fs::read_to_string(&files[2]).unwrap(),
        written
            + "\n# version 30001\n\ndata_coordinate_files\n\nloop_\n\
         _rlnMicrographName #1\n_rlnMicrographCoordinates #2\n\
         MotionCorr/job002/mic1.mrc  ManualPick/job004/mic1_manualpick.star\n\
         MotionCorr/job002/mic3.mrc  ManualPick/job004/mic3_manualpick.star\n\n"
    );
    // RELION reads the project through the index.
    let back = cryolens::io::coords::read_relion_project(&files[2], project.path()).unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].picks.len(), 2);
    assert_eq!((back[1].picks[0].x, back[1].picks[0].y), (5.0, 6.0));

    // The other formats write one file per micrograph (Topaz: one list).
    let other = project.path().join("other");
    assert_eq!(
        exchange::export(&session, ExportFormat::Topaz, &other)
            .unwrap()
            .len(),
        1
    );
    let boxes = exchange::export(&session, ExportFormat::Eman, &other).unwrap();
    assert_eq!(boxes.len(), 2);
    let eman = cryolens::io::coords::read_eman_box(&boxes[0]).unwrap();
    assert_eq!((eman[0].x, eman[0].y), (100.5, 200.25));
    let cbox = exchange::export(&session, ExportFormat::Cryolo, &other).unwrap();
    let cryolo = cryolens::io::coords::read_cbox(&cbox[1]).unwrap();
    assert_eq!((cryolo[0].x, cryolo[0].y), (5.0, 6.0));
}

/// Local mean of `image` in a disc of radius `r` around `(x, y)`.
fn disc_mean(image: &cryolens::image::Image, x: f64, y: f64, r: f64) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    let r2 = r * r;
    let (x0, x1) = (
        (x - r).max(0.0) as usize,
        ((x + r) as usize).min(image.width - 1),
    );
    let (y0, y1) = (
        (y - r).max(0.0) as usize,
        ((y + r) as usize).min(image.height - 1),
    );
    for yy in y0..=y1 {
        for xx in x0..=x1 {
            if (xx as f64 - x).powi(2) + (yy as f64 - y).powi(2) <= r2 {
                sum += f64::from(image.data[yy * image.width + xx]);
                n += 1;
            }
        }
    }
    sum / n.max(1) as f64
}

#[test]
fn ucsf_autopick_imports_onto_its_particles() {
    let mut session = PickSession::new(vec![ucsf()]);
    let star = common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW_autopick.star");
    let n = exchange::import(&mut session, 0, &star, ImportOptions::default()).unwrap();
    assert_eq!(n, 45);
    assert_eq!(session.kept_count(0), 45);
    session.settings.autopick_threshold = 0.2;
    let kept = session.kept_count(0);
    assert!(kept > 5 && kept < 45, "{kept}");
    // One undo removes the whole import.
    session.undo();
    assert_eq!(session.picks(0).len(), 0);
    session.redo();

    // The picks sit on particles: protein is dark in cryo-EM micrographs, so the low-passed
    // micrograph is darker in discs at the picks than at positions shifted by half a box.
    let mic = cryolens::io::read_micrograph(&ucsf()).unwrap();
    let smooth = cryolens::fourier::gaussian_lowpass(&mic, 4.0);
    let stats = smooth.stats();
    let (mean, sd) = (stats.mean, stats.std);
    let r = 12.0;
    let (mut at, mut off) = (0.0, 0.0);
    let picks = session.picks(0).to_vec();
    for p in &picks {
        at += disc_mean(&smooth, p.x, p.y, r);
        let ox = if p.x > 480.0 { p.x - 40.0 } else { p.x + 40.0 };
        off += disc_mean(&smooth, ox, p.y, r);
    }
    let k = picks.len() as f64;
    let (at, off) = ((at / k - mean) / sd, (off / k - mean) / sd);
    assert!(at < off - 0.1, "at picks {at:.3} σ, shifted {off:.3} σ");

    // Scale and flip are explicit.
    let mut s2 = PickSession::new(vec![ucsf()]);
    exchange::import(
        &mut s2,
        0,
        &star,
        ImportOptions {
            scale: 0.5,
            flip_y_rows: Some(927),
            replace: true,
        },
    )
    .unwrap();
    let (a, b) = (&picks[0], &s2.picks(0)[0]);
    assert_eq!(b.x, a.x * 0.5);
    assert_eq!(b.y, 926.0 - a.y * 0.5);
    assert_eq!(b.score, a.score);
}

#[test]
fn damaged_session_files_are_refused_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(&path, "{\"format\": \"cryolens-picks\", \"version\": 1, ").unwrap();
    let err = PickSession::load(&path).unwrap_err().to_string();
    assert!(err.contains("s.json"), "{err}");
    // The damaged file is untouched by a failed load.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("{\"format\"")
    );
    let err = PickSession::load(&dir.path().join("none.json")).unwrap_err();
    assert!(err.to_string().contains("none.json"));
}

/// What [`kill_child_writes`] writes over and over.
const KILL_WRITES: [&str; 3] = ["export", "mrc", "model"];

/// Picks of export `version`: 20 000 + `version` picks at (k, 2k + version).
fn export_session(version: usize) -> PickSession {
    let mut session = PickSession::new(vec!["a.mrc".into()]);
    for k in 0..20_000 + version {
        session.add(0, k as f64, (2 * k + version) as f64);
    }
    session
}

/// The child of [`sigkill_mid_write_leaves_the_old_or_the_new_file`]: rewrites one large
/// export, MRC map or model (`CRYOLENS_KILL_WHAT`) in a loop, version 0, 1, 2, …, printing
/// `wrote N` after each.
#[test]
#[ignore = "child process of sigkill_mid_write_leaves_the_old_or_the_new_file"]
fn kill_child_writes() {
    let (Ok(dir), Ok(what)) = (
        std::env::var("CRYOLENS_KILL_CHILD_DIR"),
        std::env::var("CRYOLENS_KILL_WHAT"),
    ) else {
        return;
    };
    let dir = Path::new(&dir);
    let device = burn::prelude::Device::flex();
    let model =
        cryolens::models::TopazModel::init(cryolens::models::TopazArch::UNet.config(), &device);
    for version in 0..10_000usize {
        match what.as_str() {
            "export" => {
                exchange::export(&export_session(version), ExportFormat::Relion, dir).unwrap();
            }
            "mrc" => {
                let n = 64;
                let volume = cryolens::image::Volume {
                    width: n,
                    height: n,
                    depth: n,
                    data: vec![version as f32; n * n * n],
                    pixel_size_angstrom: Some(1.0),
                };
                cryolens::io::mrc::write_volume(&dir.join("map.mrc"), &volume).unwrap();
            }
            _ => {
                cryolens::models::format::write_model_files(
                    &model,
                    "cryolens-kill-test",
                    "unet",
                    &serde_json::json!({ "version": version }),
                    &dir.join("model.safetensors"),
                )
                .unwrap();
            }
        }
        println!("wrote {version}");
    }
}

/// SIGKILL in the middle of rewriting a large pick export, an MRC map or a model leaves each
/// file complete: the version written before the kill or the one being written, never a
/// torn one.
#[test]
fn sigkill_mid_write_leaves_the_old_or_the_new_file() {
    for what in KILL_WRITES {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "kill_child_writes",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CRYOLENS_KILL_CHILD_DIR", dir.path())
            .env("CRYOLENS_KILL_WHAT", what)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let target = 2usize;
        for line in stdout.lines() {
            if line.unwrap() == format!("wrote {target}") {
                break;
            }
        }
        // Version target + 1 is being written now.
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let versions = [target, target + 1];
        match what {
            "export" => {
                let file = dir.path().join("a_manualpick.star");
                let picks = &cryolens::io::coords::read(&file).unwrap()[0].picks;
                let v = picks.len() - 20_000;
                assert!(versions.contains(&v), "{what}: {} picks", picks.len());
                for (k, p) in picks.iter().enumerate() {
                    assert_eq!((p.x, p.y), (k as f64, (2 * k + v) as f64), "{what}");
                }
                let index =
                    cryolens::io::coords::read_relion_index(&dir.path().join("manualpick.star"));
                assert_eq!(index.unwrap().len(), 1, "{what}");
            }
            "mrc" => {
                let (_, v) = cryolens::io::read(&dir.path().join("map.mrc")).unwrap();
                assert_eq!(v.data.len(), 64 * 64 * 64, "{what}");
                let first = v.data[0];
                assert!(versions.contains(&(first as usize)), "{what}: {first}");
                assert!(v.data.iter().all(|&x| x == first), "{what}: mixed versions");
            }
            _ => {
                let weights = dir.path().join("model.safetensors");
                let device = burn::prelude::Device::flex();
                let mut model = cryolens::models::TopazModel::init(
                    cryolens::models::TopazArch::UNet.config(),
                    &device,
                );
                cryolens::models::format::load_weights_into(&mut model, &weights, "unet").unwrap();
                let meta: serde_json::Value = serde_json::from_str(
                    &std::fs::read_to_string(cryolens::models::format::meta_path(&weights))
                        .unwrap(),
                )
                .unwrap();
                let v = meta["version"].as_u64().unwrap() as usize;
                assert!(versions.contains(&v), "{what}: version {v}");
            }
        }
    }
}

/// Picks on a real tomogram exported for RELION 5: centred Å coordinates from the tomogram's
/// own size and voxel size, with the tomograms STAR they were made with; both read back to
/// the voxels picked. A 2D micrograph is refused with the reason.
#[test]
fn relion5_export_of_tomogram_picks_reads_back_to_the_voxels() {
    let tomo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/tomograms/particleannotation/3d_test_data.tif");
    let (_, mut v) = cryolens::io::read(&tomo).unwrap();
    // The TIFF states no voxel size: refused, since RELION 5 positions are in Å.
    let mut no_voxel_size = PickSession::new(vec![tomo.clone()]);
    no_voxel_size.add_at(0, 5.0, 5.0, Some(5.0));
    let dir = tempfile::tempdir().unwrap();
    let e = exchange::export(
        &no_voxel_size,
        ExportFormat::Relion5,
        &dir.path().join("none"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no voxel size"), "{e}");
    // As an MRC of 13.48 Å voxels.
    let px = 13.48f64;
    v.pixel_size_angstrom = Some(px as f32);
    let tomo = dir.path().join("3d_test_data.mrc");
    cryolens::io::mrc::write_volume(&tomo, &v).unwrap();
    let mut session = PickSession::new(vec![tomo.clone()]);
    session.add_at(0, 60.0, 57.5, Some(99.0));
    session.add_at(0, 10.25, 100.0, Some(3.0));
    let out = dir.path().join("relion5");
    let files = exchange::export(&session, ExportFormat::Relion5, &out).unwrap();
    assert_eq!(
        files,
        vec![out.join("tomograms.star"), out.join("particles.star")]
    );
    let tomograms = cryolens::io::coords::read_tomograms_star(&files[0]).unwrap();
    assert_eq!(tomograms.len(), 1);
    assert_eq!(tomograms[0].name, "3d_test_data");
    assert_eq!(tomograms[0].size_px, [112.0, 115.0, 202.0]);
    let text = std::fs::read_to_string(&files[1]).unwrap();
    assert!(text.contains("_rlnCenteredCoordinateZAngst"), "{text}");
    // (voxel − size/2) · px for the 112 × 115 × 202 tomogram.
    let first = text
        .lines()
        .find(|l| l.trim_start().starts_with("3d_test_data"))
        .unwrap();
    let c: Vec<f64> = first
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(c.len(), 3);
    for (got, want) in c.iter().zip([4.0 * px, 0.0, -2.0 * px]) {
        assert!((got - want).abs() < 1e-3, "{c:?}");
    }
    let back = cryolens::io::coords::read_relion5_particles(&files[1], &tomograms).unwrap();
    assert_eq!(back.len(), 1);
    let p = back[0].picks[1];
    assert!((p.x - 10.25).abs() < 1e-4 && (p.y - 100.0).abs() < 1e-4);
    assert!((p.z.unwrap() - 3.0).abs() < 1e-4);

    // A 2D micrograph is not a tomogram.
    let mut flat = PickSession::new(vec![ucsf()]);
    flat.add(0, 5.0, 5.0);
    let e = exchange::export(&flat, ExportFormat::Relion5, &dir.path().join("flat"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a tomogram"), "{e}");
}
