//! CTF phase flipping at inference (Palovcak et al. 2020, supplement S2.1 and S2.3): a restore
//! model trained on phase-flipped micrographs records it, refuses to run without the
//! micrograph's CTF, and with `--ctf FILE` (`cryolens denoise`, `cryolens analyze`) phase
//! flips the micrograph, denoises it and flips the result back (unless `--no-flip-back`);
//! CTF entries are matched to micrographs by name.

mod common;

use std::path::Path;
use std::process::Output;

use common::restore_data::{FEI_PIXEL, ctf, fei_full};
use common::restore_model::{RESTORE_SMALL, ctf_star_text, max_abs_diff, save_restore_model};
use cryolens::ctf::{find_micrograph_ctf, read_ctf_file};
use cryolens::denoise::{Denoiser2d, NeedsCtf, PhaseFlip, RestoreDenoiser, TileConfig};
use cryolens::device::ComputeDevice;
use cryolens::io::read_micrograph;
use cryolens::jobs::Progress;
use cryolens::models::ModelSpec;
use cryolens::restore::{PreprocessConfig, phase_flip, preprocess, unbin};

/// `cryolens ARGS…` with `CRYOLENS_MODELS_DIR=dir`.
fn cryolens(dir: &Path, args: &[&str]) -> Output {
    common::cryolens()
        .env("CRYOLENS_MODELS_DIR", dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Phase flipping twice is the identity, and so is the whole pipeline's flip in
/// (`preprocess`) and flip back (`unbin`) around an identity network: the result equals the
/// unflipped pipeline's, to 10⁻⁵ of the image's scale.
#[test]
fn flipping_twice_is_the_identity() {
    let image = fei_full().crop(400, 600, 320, 288);
    let scale = image.stats().std as f32;
    let twice = phase_flip(&phase_flip(&image, &ctf()).unwrap(), &ctf()).unwrap();
    let d = max_abs_diff(&twice, &image);
    assert!(d < 1e-5 * scale, "flip ∘ flip differs by {d} (σ {scale})");
    let once = phase_flip(&image, &ctf()).unwrap();
    assert!(
        max_abs_diff(&once, &image) > 0.1 * scale,
        "the flip changes the image"
    );

    let cfg = PreprocessConfig::default();
    let through = |c: Option<&cryolens::ctf::Ctf>| {
        let p = preprocess(&image, &cfg, c).unwrap();
        assert_eq!(p.phase_flipped, c.is_some());
        unbin(&p.image, image.width, image.height, FEI_PIXEL, c).unwrap()
    };
    let (flipped, plain) = (through(Some(&ctf())), through(None));
    let d = max_abs_diff(&flipped, &plain);
    assert!(
        d < 1e-5 * scale,
        "flip in + flip back differs by {d} (σ {scale})"
    );
}

/// CTF entries are found by micrograph name: folders are ignored, `mic_DW`/`mic_EVN`/
/// `mic_ODD`/`mic` are one micrograph, an exact name wins over a shared base.
#[test]
fn ctf_entries_match_micrographs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let star = dir.path().join("micrographs_ctf.star");
    let text = ctf_star_text(
        "MotionCorr/job002/Movies/mic_DW.mrc",
        (10_500.0, 10_200.0, 30.0),
        0.85,
    )
    .replace(
        "MotionCorr/job002/Movies/mic_DW.mrc 1 10500 10200 30\n",
        "MotionCorr/job002/Movies/mic_DW.mrc 1 10500 10200 30\n\
             MotionCorr/job002/Movies/other_DW.mrc 1 20000 19000 10\n\
             MotionCorr/job002/Movies/other_EVN.mrc 1 5000 5000 0\n",
    );
    std::fs::write(&star, text).unwrap();
    let entries = read_ctf_file(&star).unwrap();
    assert_eq!(entries.len(), 3);
    let u = |p: &str| find_micrograph_ctf(&entries, Path::new(p)).map(|e| e.ctf.defocus_u_angstrom);
    assert_eq!(u("/data/elsewhere/mic_DW.mrc"), Some(10_500.0));
    assert_eq!(u("mic_EVN.mrc"), Some(10_500.0));
    assert_eq!(u("mic_ODD.tif"), Some(10_500.0));
    assert_eq!(u("mic.mrc"), Some(10_500.0));
    assert_eq!(u("other_DW.mrc"), Some(20_000.0));
    assert_eq!(u("other_EVN.mrc"), Some(5_000.0), "the exact name wins");
    assert_eq!(u("unknown.mrc"), None);
    assert_eq!(u("mic_DW_2.mrc"), None);
}

/// The done-when test of issue 15 item 3: `cryolens denoise MIC --model cryolens-restore-small
/// --ctf micrographs_ctf.star` phase flips, denoises and flips back (the library's result);
/// `--no-flip-back` keeps the flip; without `--ctf` the model refuses with a clear error;
/// the same weights recorded as unflipped give another image; an old JSON without the
/// record loads as "not flipped"; `analyze` takes `--ctf` too.
#[test]
fn denoise_with_ctf_flips_denoises_and_flips_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let star = d.join("micrographs_ctf.star");
    let c = ctf();
    std::fs::write(
        &star,
        ctf_star_text(
            "MotionCorr/job002/mic_DW.mrc",
            (
                c.defocus_u_angstrom,
                c.defocus_v_angstrom,
                c.defocus_angle_degrees,
            ),
            FEI_PIXEL as f64,
        ),
    )
    .unwrap();
    let weights = save_restore_model(d, RESTORE_SMALL, 4.5, Some(star.clone()));
    save_restore_model(d, "restore-unflipped", 4.5, None);
    let mic = d.join("mic_DW.mrc");
    cryolens::io::mrc::write_image(&mic, &fei_full().crop(0, 3200, 300, 256)).unwrap();
    // As the CLI reads it (the header's pixel size is rounded through the cell size).
    let image = read_micrograph(&mic).unwrap();
    let (star_s, mic_s) = (star.to_str().unwrap(), mic.to_str().unwrap());

    // The model records the flip.
    let device = ComputeDevice::flex("test");
    let den = RestoreDenoiser::load(&ModelSpec::File(weights.clone()), &device).unwrap();
    assert!(den.trained_with_phase_flip());
    assert!(
        Denoiser2d::load(&ModelSpec::File(weights.clone()), &device)
            .unwrap()
            .needs_ctf()
    );
    let (t, p) = (TileConfig::default(), Progress::new());
    let e = den.denoise(&image, &t, &p).unwrap_err();
    assert!(e.downcast_ref::<NeedsCtf>().is_some(), "{e:#}");

    let run = |out: &str, extra: &[&str]| {
        let out_dir = d.join(out);
        let mut args = vec![
            "denoise",
            mic_s,
            "--model",
            RESTORE_SMALL,
            "--device",
            "cpu",
            "-o",
        ];
        args.push(out_dir.to_str().unwrap());
        args.extend_from_slice(extra);
        let o = cryolens(d, &args);
        (o, out_dir.join("mic_DW.mrc"))
    };
    // --ctf: flipped in, denoised, flipped back: the library's result.
    let (o, path) = run("flipped", &["--ctf", star_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("CTF: 1 micrographs"), "{}", text(&o));
    let cli = read_micrograph(&path).unwrap();
    let lib = den
        .denoise_flipped(
            &image,
            Some(PhaseFlip {
                ctf: &c,
                flip_back: true,
            }),
            &t,
            &p,
        )
        .unwrap();
    let scale = lib.stats().std as f32;
    let d_lib = max_abs_diff(&cli, &lib);
    assert!(d_lib < 1e-4 * scale, "CLI vs library: {d_lib} (σ {scale})");
    assert_eq!((cli.width, cli.height), (300, 256));
    assert_eq!(cli.pixel_size_angstrom, image.pixel_size_angstrom);

    // --no-flip-back: the flip stays, and flipping the output back gives the default's.
    let (o, path) = run("kept", &["--ctf", star_s, "--no-flip-back"]);
    assert!(o.status.success(), "{}", text(&o));
    let kept = read_micrograph(&path).unwrap();
    assert!(
        max_abs_diff(&kept, &cli) > 0.1 * scale,
        "--no-flip-back changes nothing"
    );
    let kept_lib = den
        .denoise_flipped(
            &image,
            Some(PhaseFlip {
                ctf: &c,
                flip_back: false,
            }),
            &t,
            &p,
        )
        .unwrap();
    let d_kept = max_abs_diff(&kept, &kept_lib);
    assert!(d_kept < 1e-4 * scale, "--no-flip-back vs library: {d_kept}");

    // No --ctf: refused, naming the micrograph and the model.
    let (o, _) = run("none", &[]);
    assert!(!o.status.success());
    let want = format!(
        "error: {mic_s}: model {RESTORE_SMALL} was trained on phase-flipped micrographs (give --ctf FILE with this micrograph's defocus)"
    );
    assert!(text(&o).contains(&want), "{}", text(&o));

    // A micrograph the CTF file does not list: a clear error.
    let stranger = d.join("stranger.mrc");
    std::fs::copy(&mic, &stranger).unwrap();
    let o = cryolens(
        d,
        &[
            "denoise",
            stranger.to_str().unwrap(),
            "--model",
            RESTORE_SMALL,
            "--device",
            "cpu",
            "--ctf",
            star_s,
            "-o",
            d.join("s").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o).contains("no CTF for"), "{}", text(&o));

    // The same weights recorded as unflipped: no CTF needed (given, it is not used), and the
    // output differs from the flipped run's.
    let o = cryolens(
        d,
        &[
            "denoise",
            mic_s,
            "--model",
            "restore-unflipped",
            "--device",
            "cpu",
            "--ctf",
            star_s,
            "-o",
            d.join("plain").to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("is not used"), "{}", text(&o));
    let plain = read_micrograph(&d.join("plain").join("mic_DW.mrc")).unwrap();
    let diff = max_abs_diff(&plain, &cli);
    eprintln!("flipped vs unflipped run: max |Δ| {diff} (σ {scale}); CLI vs library {d_lib}");
    assert!(
        diff > 1e-3 * scale,
        "flipped and unflipped runs agree ({diff}, σ {scale})"
    );

    // An old JSON without `ctf_star` loads as "not flipped".
    let json = format_meta_without_ctf_star(&weights);
    let old = d.join("old.safetensors");
    std::fs::copy(&weights, &old).unwrap();
    std::fs::write(cryolens::models::format::meta_path(&old), json).unwrap();
    let old_den = RestoreDenoiser::load(&ModelSpec::File(old), &device).unwrap();
    assert!(!old_den.trained_with_phase_flip());

    // analyze: the halves of mic_DW are denoised with its CTF; without it, refused.
    let analyze = |extra: &[&str]| {
        let mut args = vec![
            "analyze",
            "--split-counts",
            mic_s,
            "--force",
            "--model",
            RESTORE_SMALL,
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        cryolens(d, &args)
    };
    let o = analyze(&["--ctf", star_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("SNR denoised"), "{}", text(&o));
    let o = analyze(&[]);
    assert!(!o.status.success());
    assert!(text(&o).contains(&want), "{}", text(&o));
}

/// The sidecar of `weights` with `training.data.restore.ctf_star` removed (as written before
/// the field existed).
fn format_meta_without_ctf_star(weights: &Path) -> String {
    let text = std::fs::read_to_string(cryolens::models::format::meta_path(weights)).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let restore = json["training"]["data"]["restore"].as_object_mut().unwrap();
    assert!(restore.remove("ctf_star").is_some());
    serde_json::to_string_pretty(&json).unwrap()
}
