//! `cryolens bench --what denoise3d`: the per-FLOP race of the 3D U-nets. One cube of a real
//! tomogram, normalised, through the network whole (every output voxel, as Topaz's
//! `model(x)`), by our native CPU kernels and by Topaz's own `UDenoiseNet3D` in PyTorch on
//! the same threads (`assets/bench/topaz3d_peer.py`), with the outputs compared.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::denoise::volume::Topaz3dDenoiser;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::image::stats_of;
use crate::models::ModelSpec;

use super::denoise::{BenchRow, print_table};
use super::{BenchArgs, peak_rss_mib, python_can, reset_peak_rss, run_peer};

/// Side of the cube, voxels: Topaz's patch core (its windows are 96 + 2 × 48).
const CUBE: usize = 96;

fn default_tomogram() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/tomograms/particleannotation/3d_test_data.tif")
}

/// Times each 3D model of `--models` (`unet-3d-10a` when none is named) on the central
/// [`CUBE`]³ of `--input` (the particleannotation tomogram by default) and prints the table.
///
/// # Errors
/// An unreadable tomogram or one smaller than the cube on a side; a model not installed;
/// the peer failing.
pub fn run_denoise3d(args: &BenchArgs) -> Result<()> {
    let input = args.input.clone().unwrap_or_else(default_tomogram);
    let volume = crate::io::read_volume(&input, "tomogram")?;
    let shape = [volume.depth, volume.height, volume.width];
    if shape.iter().any(|&n| n < CUBE) {
        bail!(
            "{}: the tomogram ({shape:?}, z y x) is smaller than the {CUBE}³ cube (choose a larger one with --input)",
            input.display()
        );
    }
    let start = shape.map(|n| (n - CUBE) / 2);
    let mut cube = Vec::with_capacity(CUBE * CUBE * CUBE);
    for z in 0..CUBE {
        for y in 0..CUBE {
            let row = ((start[0] + z) * volume.height + start[1] + y) * volume.width + start[2];
            cube.extend_from_slice(&volume.data[row..row + CUBE]);
        }
    }
    let s = stats_of(&cube);
    for v in &mut cube {
        *v = ((*v as f64 - s.mean) / s.std) as f32;
    }
    let models: Vec<&str> = args
        .models
        .iter()
        .map(String::as_str)
        .filter(|m| m.contains("3d"))
        .collect();
    let models = if models.is_empty() {
        vec!["unet-3d-10a"]
    } else {
        models
    };
    println!(
        "input: {} ({}×{}×{} voxels, z y x), the central {CUBE}³ cube, normalised",
        input.display(),
        shape[0],
        shape[1],
        shape[2]
    );
    let threads = rayon::current_num_threads();
    println!("threads: {threads} (rayon; Topaz is given the same number of torch threads)");
    let peak = super::peak::measure();
    let repeats = args.repeats.unwrap_or(2).max(1);
    let device = ComputeDevice::select(DeviceChoice::Cpu)?;
    let dir = tempfile::tempdir()?;
    let cube_file = dir.path().join("cube.f32");
    std::fs::write(&cube_file, bytemuck::cast_slice::<f32, u8>(&cube))?;
    let mut rows = Vec::new();
    for model in models {
        let spec = ModelSpec::parse(model)?;
        let denoiser = Topaz3dDenoiser::load(&spec, &device)?;
        let dims = [CUBE; 3];
        let mut ours = denoiser.forward_window(cube.clone(), dims)?;
        let mut best = f64::INFINITY;
        reset_peak_rss();
        for _ in 0..repeats {
            let t = Instant::now();
            ours = denoiser.forward_window(cube.clone(), dims)?;
            best = best.min(t.elapsed().as_secs_f64());
        }
        let peak_mib = peak_rss_mib();
        let topaz = if args.topaz && python_can(&args.python, "import topaz.denoise, torch") {
            let out = dir.path().join("topaz.f32");
            let script = dir.path().join("topaz3d_peer.py");
            std::fs::write(
                &script,
                include_str!("../../../assets/bench/topaz3d_peer.py"),
            )?;
            let (v, _) = run_peer(
                Command::new(&args.python)
                    .arg(&script)
                    .arg(model)
                    .arg(&cube_file)
                    .arg(CUBE.to_string())
                    .arg(threads.to_string())
                    .arg(repeats.to_string())
                    .arg(&out),
                "the Topaz 3D peer",
                "topaz3d_peer.py",
            )?;
            let theirs: Vec<f32> = std::fs::read(&out)
                .context("reading the peer's output")?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            if theirs.len() != ours.len() {
                bail!("the peer wrote {} voxels, not {}", theirs.len(), ours.len());
            }
            let sigma = stats_of(&theirs).std;
            let diff = ours
                .iter()
                .zip(&theirs)
                .map(|(a, b)| (a - b).abs() as f64)
                .fold(0.0, f64::max);
            println!(
                "{model}: Cryolens − Topaz, max |difference| = {:.1e} σ of Topaz's output",
                diff / sigma
            );
            Some((
                v["seconds"].as_f64().unwrap_or(f64::NAN),
                v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
            ))
        } else {
            None
        };
        rows.push(BenchRow {
            model: model.to_string(),
            backend: denoiser.backend_name().into(),
            input: format!("cube {CUBE}³"),
            seconds: best,
            peak_mib,
            topaz_seconds: topaz.map(|t| t.0),
            topaz_peak_mib: topaz.map(|t| t.1),
            gflop: denoiser.config().gflop(dims),
            peak_gflops: peak.nominal.unwrap_or(peak.measured),
        });
    }
    println!("device: {}", device.describe());
    print_table(&rows);
    Ok(())
}
