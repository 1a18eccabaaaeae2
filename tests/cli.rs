//! The `cryolens` binary as a user runs it: batch denoising, clear errors on bad input.

mod common;

use std::process::Command;

fn cryolens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cryolens"))
}

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
    assert!(
        out.join("Ucsf_stack_1142_DW.mrc").is_file(),
        "the good micrograph must still be written"
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
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("unknown model 'no-such-model'"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
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
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("cannot load"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
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
