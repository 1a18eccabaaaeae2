//! Models and kernels on hostile input (issue 14): images smaller than a U-net's poolings
//! take, model files whose tensors have the wrong rank or shape, are missing or hold NaN,
//! JSON sidecars with absurd dimensions, and wheels with absurd entry sizes or fake weights.
//! Every crafted file is made here (small, random weights); each case is checked through the
//! library and, for the main ones, through the `cryolens` binary: non-zero exit, one error
//! line naming the tensor or file, never a panic.
//!
//! Run with `cargo test --release --test models_hostile`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::prelude::Device;
use cryolens::denoise::{Denoiser2d, TileConfig, TopazDenoiser};
use cryolens::device::ComputeDevice;
use cryolens::image::Image;
use cryolens::jobs::Progress;
use cryolens::models::export::{NamedTensor, topaz_state_dict, write_state_dict};
use cryolens::models::{self, ModelSpec, TopazArch, TopazModel, install};

fn cryolens() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cryolens"))
}

/// A randomly initialised Topaz model of `arch`, as its state dict.
fn random_state_dict(arch: TopazArch) -> Vec<NamedTensor> {
    topaz_state_dict(&TopazModel::init(arch.config(), &Device::flex())).unwrap()
}

/// Writes `tensors` as `dir/name` and returns the path.
fn sav(dir: &Path, name: &str, tensors: &[NamedTensor]) -> PathBuf {
    let p = dir.join(name);
    write_state_dict(tensors, &p).unwrap();
    p
}

/// A randomly initialised Topaz model of `arch` written as `dir/<name>.sav`.
fn random_sav(dir: &Path, arch: TopazArch) -> PathBuf {
    sav(
        dir,
        &format!("{}.sav", arch.name()),
        &random_state_dict(arch),
    )
}

/// Largest |a − b|.
fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f32::max)
}

/// Deterministic pseudo-random values in [−1, 1).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn assert_finite_of_len(v: &[f32], n: usize, what: &str) {
    assert_eq!(v.len(), n, "{what}: wrong output size");
    assert!(v.iter().all(|x| x.is_finite()), "{what}: non-finite output");
}

/// One line, naming `file` exactly once.
fn assert_one_line_naming(err: &str, file: &Path) {
    assert!(!err.contains('\n'), "not one line: {err}");
    let name = file.display().to_string();
    assert_eq!(
        err.matches(&name).count(),
        1,
        "{name} not named once: {err}"
    );
}

/// A failed run of the binary: non-zero exit, no panic, exactly one `error:` line holding
/// every one of `needles`.
fn assert_clean_failure(run: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "exit 0; stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} not in {stderr}");
    }
}

// ---- 1. images smaller than the model takes ----

/// Odd tiny shapes on every Topaz 2D architecture, on the native kernels and on burn Flex:
/// finite outputs of the input's shape, and both backends agree (same reflection padding).
#[test]
fn tiny_images_denoise_to_their_own_shape_on_native_and_flex() {
    let dir = tempfile::tempdir().unwrap();
    let arches = [
        TopazArch::UNet,
        TopazArch::UNetSmall,
        TopazArch::Fcnn,
        TopazArch::Affine,
    ];
    for arch in arches {
        let path = random_sav(dir.path(), arch);
        let spec = ModelSpec::File(path);
        let native = TopazDenoiser::load(&spec, &ComputeDevice::cpu("test")).unwrap();
        let flex = TopazDenoiser::load(&spec, &ComputeDevice::flex("test")).unwrap();
        for (h, w) in [(1, 1), (3, 5), (7, 300), (33, 2)] {
            let what = format!("{} {h}×{w}", arch.name());
            let x = noise(h * w, (h * 1000 + w) as u64);
            let a = native.forward_normalised(x.clone(), h, w).unwrap();
            let b = flex.forward_normalised(x, h, w).unwrap();
            assert_finite_of_len(&a, h * w, &what);
            assert_finite_of_len(&b, h * w, &what);
            let diff = max_abs_diff(&a, &b);
            assert!(diff < 1e-3, "{what}: native and flex differ by {diff}");
            if h * w > 1 {
                let image = Image::new(w, h, noise(h * w, 7)).unwrap();
                for den in [&native, &flex] {
                    let out = den
                        .denoise(&image, &TileConfig::default(), &Progress::new())
                        .unwrap();
                    assert_eq!((out.width, out.height), (w, h), "{what}");
                    assert_finite_of_len(&out.data, h * w, &what);
                }
            }
        }
    }
}

/// A thin last tile (6 px wide with `--padding 0`) is padded like a tiny image.
#[test]
fn thin_last_tile_is_padded() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ModelSpec::File(random_sav(dir.path(), TopazArch::UNetSmall));
    let tiles = TileConfig {
        patch_size: 64,
        padding: Some(0),
    };
    let image = Image::new(70, 20, noise(1400, 3)).unwrap();
    for device in [ComputeDevice::cpu("test"), ComputeDevice::flex("test")] {
        let den = Denoiser2d::load(&spec, &device).unwrap();
        let out = den.denoise(&image, &tiles, &Progress::new()).unwrap();
        assert_eq!((out.width, out.height), (70, 20));
        assert_finite_of_len(&out.data, 1400, den.backend_name());
    }
}

/// One tiny wgpu run (lavapipe in CI, `WGPU_BACKEND=vulkan`): a unet-small on a 3×5 image
/// gives the native kernels' answer.
#[test]
fn tiny_image_on_wgpu_matches_the_cpu() {
    let Ok(gpu) = ComputeDevice::select(cryolens::device::DeviceChoice::Gpu) else {
        panic!("no wgpu adapter (install mesa-vulkan-drivers for lavapipe)");
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = ModelSpec::File(random_sav(dir.path(), TopazArch::UNetSmall));
    let x = noise(15, 11);
    let a = TopazDenoiser::load(&spec, &gpu)
        .unwrap()
        .forward_normalised(x.clone(), 3, 5)
        .unwrap();
    let b = TopazDenoiser::load(&spec, &ComputeDevice::cpu("test"))
        .unwrap()
        .forward_normalised(x, 3, 5)
        .unwrap();
    assert_finite_of_len(&a, 15, "wgpu");
    let diff = max_abs_diff(&a, &b);
    assert!(diff < 1e-3, "wgpu and native differ by {diff}");
}

/// restore's WDSR U-net (the bundled small model) on tiny images: the input's shape or a
/// clear error, never a panic.
#[test]
fn restore_model_on_tiny_images_keeps_the_shape_or_says_why() {
    let weights = cryolens::paths::bundled_models_dir().join("cryolens-restore-small.safetensors");
    let den = Denoiser2d::load(&ModelSpec::File(weights), &ComputeDevice::flex("test")).unwrap();
    for (h, w) in [(3, 5), (7, 300)] {
        let image = Image::new(w, h, noise(h * w, 5))
            .unwrap()
            .with_pixel_size(Some(1.0));
        match den.denoise(&image, &TileConfig::default(), &Progress::new()) {
            Ok(out) => {
                assert_eq!((out.width, out.height), (w, h));
                assert_finite_of_len(&out.data, h * w, "restore");
            }
            Err(e) => assert!(!format!("{e:#}").contains('\n'), "{e:#}"),
        }
    }
}

/// The CLI denoises a 3×5 MRC with a U-net on the native kernels and on Flex.
#[test]
fn cli_denoises_a_tiny_micrograph() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_sav(dir.path(), TopazArch::UNetSmall);
    let input = dir.path().join("tiny.mrc");
    cryolens::io::mrc::write_image(&input, &Image::new(5, 3, noise(15, 9)).unwrap()).unwrap();
    for device in ["cpu", "flex"] {
        let out = dir.path().join(device);
        let run = cryolens()
            .args(["denoise", "--device", device, "--model"])
            .arg(&model)
            .arg("--output")
            .arg(&out)
            .arg(&input)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{device}: {stderr}");
        let back = cryolens::io::read_micrograph(&out.join("tiny.mrc")).unwrap();
        assert_eq!((back.width, back.height), (5, 3));
        assert_finite_of_len(&back.data, 15, device);
    }
}

/// A tiny 3D U-net (random weights) in Cryolens' 3D format, on volumes thinner than its five
/// poolings take, on the native kernels and on Flex: finite outputs of the input's shape.
#[test]
fn tiny_volumes_denoise_to_their_own_shape() {
    use cryolens::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
    use cryolens::image::Volume;
    use cryolens::models::format::{self, Model3dMeta, Provenance};
    use cryolens::models::topaz3d::{UNet3d, UNet3dConfig};
    let dir = tempfile::tempdir().unwrap();
    let config = UNet3dConfig::TINY;
    let model = UNet3d::with_config(&config, &Device::flex());
    let meta = Model3dMeta {
        format: format::MODEL_FORMAT_3D.into(),
        version: format::MODEL_FORMAT_3D_VERSION,
        architecture: config,
        architecture_name: config.describe(),
        training: (),
        data: Default::default(),
        volume_shape: [1, 1, 1],
        voxel_size_angstrom: None,
        provenance: Provenance::default(),
    };
    let path = dir.path().join("tiny3d.safetensors");
    format::save_model_3d(&model, &meta, &path).unwrap();
    let spec = ModelSpec::File(path);
    for device in [ComputeDevice::cpu("test"), ComputeDevice::flex("test")] {
        let den = Topaz3dDenoiser::load(&spec, &device).unwrap();
        for (d, h, w) in [(3, 5, 7), (2, 1, 40)] {
            let volume = Volume {
                width: w,
                height: h,
                depth: d,
                data: noise(d * h * w, 4),
                pixel_size_angstrom: None,
            };
            let out = den
                .denoise(&volume, &VolumeTileConfig::default(), &Progress::new())
                .unwrap();
            assert_eq!((out.depth, out.height, out.width), (d, h, w));
            assert_finite_of_len(&out.data, d * h * w, den.backend_name());
        }
    }
}

/// `analyze --model` on tiny even/odd halves: a result or one clear error, never a panic.
#[test]
fn cli_analyze_with_a_model_on_tiny_halves_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let model = random_sav(dir.path(), TopazArch::UNetSmall);
    let (even, odd) = (dir.path().join("e.mrc"), dir.path().join("o.mrc"));
    for (p, seed) in [(&even, 1), (&odd, 2)] {
        let im = Image::new(5, 3, noise(15, seed))
            .unwrap()
            .with_pixel_size(Some(1.0));
        cryolens::io::mrc::write_image(p, &im).unwrap();
    }
    for device in ["cpu", "flex"] {
        let run = cryolens()
            .args(["analyze", "--device", device, "--even"])
            .arg(&even)
            .arg("--odd")
            .arg(&odd)
            .arg("--model")
            .arg(&model)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!stderr.contains("panicked"), "{device}: {stderr}");
        if !run.status.success() {
            assert_clean_failure(&run, &[]);
        }
    }
}

// ---- 2, 3. state dicts with wrong, missing or non-finite tensors ----

/// Each crafted fcnn state dict fails to load with one line naming the file once and the
/// tensor.
#[test]
fn crafted_state_dicts_give_one_line_errors_naming_the_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let good = random_state_dict(TopazArch::Fcnn);
    let find = |sd: &mut Vec<NamedTensor>, name: &str| -> usize {
        sd.iter().position(|t| t.name == name).unwrap()
    };
    type Mutation = fn(&mut Vec<NamedTensor>, usize);
    let cases: Vec<(&str, &str, Mutation, &[&str])> = vec![
        (
            "rank_first.sav",
            "net.0.weight",
            |sd, i| {
                sd[i].shape = vec![sd[i].values.len()];
            },
            &["weight net.0.weight", "dimensions"],
        ),
        (
            "rank_later.sav",
            "net.2.weight",
            |sd, i| {
                sd[i].shape = vec![sd[i].values.len()];
            },
            &["tensor net.2.weight has shape", "needs [64, 64, 11, 11]"],
        ),
        (
            "missing.sav",
            "net.4.bias",
            |sd, i| {
                sd.remove(i);
            },
            &["tensor net.4.bias is missing"],
        ),
        (
            "nan.sav",
            "net.2.weight",
            |sd, i| {
                sd[i].values[7] = f32::NAN;
                sd[i].values[8] = f32::INFINITY;
            },
            &["weight net.2.weight has 2 non-finite values", "damaged"],
        ),
        (
            "extra.sav",
            "net.0.bias",
            |sd, _| {
                sd.push(NamedTensor {
                    name: "net.9.weight".into(),
                    shape: vec![2],
                    values: vec![1.0, 2.0],
                });
            },
            &["unexpected tensor net.9.weight"],
        ),
        (
            "wide.sav",
            "net.0.weight",
            |sd, i| {
                sd[i].shape = vec![2000, 1, 11, 11];
                sd[i].values = vec![0.0; 2000 * 121];
            },
            &["filters", "2000"],
        ),
    ];
    for (file, tensor, mutate, needles) in cases {
        let mut sd = good.clone();
        let i = find(&mut sd, tensor);
        mutate(&mut sd, i);
        let path = sav(dir.path(), file, &sd);
        let err = models::load_topaz(&path, &Device::flex())
            .err()
            .unwrap_or_else(|| panic!("{file} loaded"))
            .to_string();
        assert_one_line_naming(&err, &path);
        for n in needles {
            assert!(err.contains(n), "{file}: {n:?} not in {err}");
        }
    }
    // An even affine kernel cannot keep the image's size.
    let path = sav(
        dir.path(),
        "even.sav",
        &[
            NamedTensor {
                name: "filter.weight".into(),
                shape: vec![1, 1, 30, 30],
                values: vec![0.0; 900],
            },
            NamedTensor {
                name: "filter.bias".into(),
                shape: vec![1],
                values: vec![0.0],
            },
        ],
    );
    let err = models::load_topaz(&path, &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("odd"), "{err}");
}

/// `denoise --model` and `models export` refuse a rank-1 first weight and NaN weights.
#[test]
fn cli_refuses_crafted_state_dicts_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let mut rank = random_state_dict(TopazArch::Affine);
    rank[0].shape = vec![rank[0].values.len()];
    let rank = sav(dir.path(), "rank.sav", &rank);
    let mut nan = random_state_dict(TopazArch::Affine);
    nan[0].values[3] = f32::NAN;
    let nan = sav(dir.path(), "nan.sav", &nan);
    let input = dir.path().join("in.mrc");
    cryolens::io::mrc::write_image(&input, &Image::new(40, 40, noise(1600, 1)).unwrap()).unwrap();
    for (model, needle) in [(&rank, "filter.weight"), (&nan, "non-finite")] {
        let out = dir.path().join("out");
        let run = cryolens()
            .args(["denoise", "--device", "cpu", "--model"])
            .arg(model)
            .arg("--output")
            .arg(&out)
            .arg(&input)
            .output()
            .unwrap();
        assert_clean_failure(&run, &[needle]);
        assert!(!out.join("in.mrc").exists(), "an output was written");
        let run = cryolens()
            .args(["models", "export"])
            .arg(model)
            .arg("--output")
            .arg(dir.path().join("x.pt"))
            .output()
            .unwrap();
        assert_clean_failure(&run, &[needle]);
    }
}

/// Copies a bundled Cryolens model (weights and sidecar) into `dir` as `name`.
fn bundled_copy(dir: &Path, bundled: &str, name: &str) -> PathBuf {
    let src = cryolens::paths::bundled_models_dir().join(format!("{bundled}.safetensors"));
    let dst = dir.join(format!("{name}.safetensors"));
    std::fs::copy(&src, &dst).unwrap();
    std::fs::copy(src.with_extension("json"), dst.with_extension("json")).unwrap();
    dst
}

/// Cryolens' own files: NaN weights, a sidecar naming another architecture (missing
/// tensors), a sidecar with absurd dimensions; through the library and the CLI.
#[test]
fn crafted_cryolens_models_give_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let flex = ComputeDevice::flex("test");
    let load = |p: &Path| match Denoiser2d::load(&ModelSpec::File(p.to_path_buf()), &flex) {
        Ok(_) => panic!("{} loaded", p.display()),
        Err(e) => format!("{e:#}"),
    };
    // NaN as the last value of the last tensor (safetensors keeps the data at the end).
    for bundled in ["cryolens-unet-small", "cryolens-restore-small"] {
        let nan = bundled_copy(dir.path(), bundled, &format!("{bundled}-nan"));
        let mut bytes = std::fs::read(&nan).unwrap();
        let n = bytes.len();
        bytes[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&nan, bytes).unwrap();
        let err = load(&nan);
        assert_one_line_naming(&err, &nan);
        assert!(err.contains("has 1 non-finite values"), "{err}");
    }
    // The sidecar of a unet-small claiming a fcnn: the fcnn's tensors are missing.
    let other = bundled_copy(dir.path(), "cryolens-unet-small", "other");
    let json = std::fs::read_to_string(other.with_extension("json")).unwrap();
    let fcnn = json.replacen(
        "\"family\": \"unet-small\",\n    \"nf\": 48,\n    \"width\": 11,\n    \"top_width\": 5",
        "\"family\": \"fcnn\",\n    \"nf\": 48,\n    \"width\": 11",
        1,
    );
    assert_ne!(fcnn, json);
    std::fs::write(other.with_extension("json"), fcnn).unwrap();
    let err = load(&other);
    assert_one_line_naming(&err, &other);
    assert!(
        err.contains("tensor net.0.bias is missing (and 5 more)"),
        "{err}"
    );
    // Absurd dimensions are refused before anything is allocated.
    let huge = bundled_copy(dir.path(), "cryolens-unet-small", "huge");
    let json = std::fs::read_to_string(huge.with_extension("json")).unwrap();
    let absurd = json.replacen("\"nf\": 48", "\"nf\": 1000000000", 1);
    std::fs::write(huge.with_extension("json"), absurd).unwrap();
    let err = load(&huge);
    assert!(err.contains("filters") && !err.contains('\n'), "{err}");
    let input = dir.path().join("in.mrc");
    cryolens::io::mrc::write_image(&input, &Image::new(40, 40, noise(1600, 1)).unwrap()).unwrap();
    let run = cryolens()
        .args(["denoise", "--device", "cpu", "--model"])
        .arg(&huge)
        .arg("--output")
        .arg(dir.path().join("out"))
        .arg(&input)
        .output()
        .unwrap();
    assert_clean_failure(&run, &["filters"]);
}

// ---- 4. installing from hostile wheels ----

/// A zip of `(name, bytes)` entries, stored.
fn wheel(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn sav_bytes(dir: &Path, arch: TopazArch) -> Vec<u8> {
    std::fs::read(sav(dir, "tmp.sav", &random_state_dict(arch))).unwrap()
}

fn entry(arch: TopazArch) -> String {
    format!("{}{}", install::WHEEL_WEIGHTS_PREFIX, arch.weights_file())
}

#[test]
fn wheels_install_all_valid_models_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let affine = sav_bytes(dir.path(), TopazArch::Affine);
    let small = sav_bytes(dir.path(), TopazArch::UNetSmall);
    let fcnn = sav_bytes(dir.path(), TopazArch::Fcnn);

    // Good: both install and load.
    let good = dir.path().join("good.whl");
    wheel(
        &good,
        &[
            (&entry(TopazArch::Affine), affine.clone()),
            (&entry(TopazArch::UNetSmall), small.clone()),
        ],
    );
    let dest = dir.path().join("good");
    let written = install::extract_weights(&good, &dest).unwrap();
    assert_eq!(written.len(), 2);
    for p in &written {
        models::load_topaz(p, &Device::flex()).unwrap();
    }

    // A 64-byte fake .sav beside a good one: an error naming it, nothing installed.
    let fake = dir.path().join("fake.whl");
    wheel(
        &fake,
        &[
            (&entry(TopazArch::Affine), affine.clone()),
            (&entry(TopazArch::UNet), vec![0x80; 64]),
        ],
    );
    let dest = dir.path().join("fake");
    let err = format!("{:#}", install::extract_weights(&fake, &dest).unwrap_err());
    assert!(
        err.contains(TopazArch::UNet.weights_file()) && !err.contains('\n'),
        "{err}"
    );
    assert!(std::fs::read_dir(&dest).map_or(true, |mut d| d.next().is_none()));

    // Weights of another architecture under a known name.
    let swapped = dir.path().join("swapped.whl");
    wheel(&swapped, &[(&entry(TopazArch::Affine), fcnn)]);
    let err = format!(
        "{:#}",
        install::extract_weights(&swapped, &dir.path().join("swapped")).unwrap_err()
    );
    assert!(err.contains("holds fcnn"), "{err}");

    // The CLI: non-zero exit, one line, nothing in the models folder.
    let models_dir = dir.path().join("models");
    let run = cryolens()
        .env("CRYOLENS_MODELS_DIR", &models_dir)
        .args(["models", "install", "topaz", "--wheel"])
        .arg(&fake)
        .output()
        .unwrap();
    assert_clean_failure(&run, &[TopazArch::UNet.weights_file()]);
    assert!(
        !models_dir
            .join("topaz")
            .join(TopazArch::Affine.weights_file())
            .exists()
    );
}

/// A zip entry declaring a 4 GiB size is refused without allocating it.
#[test]
fn wheel_entry_with_an_absurd_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absurd.whl");
    let name = entry(TopazArch::Affine);
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file(name.as_str(), stored).unwrap();
        z.write_all(&[0u8; 64]).unwrap();
        z.finish().unwrap();
    }
    // Patch the uncompressed size in the local header (offset 22) and the central directory
    // entry (offset 24) to 0xFFFF_FFF0.
    let mut bytes = std::fs::read(&path).unwrap();
    let patch = |bytes: &mut Vec<u8>, sig: [u8; 4], off: usize| {
        let at = bytes.windows(4).position(|w| w == sig).unwrap();
        bytes[at + off..at + off + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    };
    patch(&mut bytes, [0x50, 0x4b, 0x03, 0x04], 22);
    patch(&mut bytes, [0x50, 0x4b, 0x01, 0x02], 24);
    std::fs::write(&path, bytes).unwrap();
    let dest = dir.path().join("out");
    let err = format!("{:#}", install::extract_weights(&path, &dest).unwrap_err());
    assert!(!err.contains('\n'), "{err}");
    assert!(!dest.join(TopazArch::Affine.weights_file()).exists());
    let run = cryolens()
        .env("CRYOLENS_MODELS_DIR", dir.path().join("models"))
        .args(["models", "install", "topaz", "--wheel"])
        .arg(&path)
        .output()
        .unwrap();
    assert_clean_failure(&run, &[]);
}
