//! `cryolens bench`: denoising time per model, backend and input size, peak memory, and the
//! ratio to the published Topaz-Denoise run on the same machine.
//!
//! Topaz is timed by `assets/bench/topaz_peer.py` (its `denoise_image` with patch 1024,
//! padding 500, which is `topaz denoise`'s default), with the same number of CPU threads.
//! To make it available: `pip install topaz-em "setuptools<81" mrcfile` (PyTorch comes with
//! it). Without it the table says "n/a" in Topaz's columns.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::denoise::{TileConfig, TopazDenoiser};
use crate::device::{ComputeDevice, DeviceChoice, wgpu_adapters};
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::{ModelSpec, TopazArch};

/// `cryolens bench` options.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Micrograph to time on (default: the real 3710×3838 `fei-extended.mrc` of the shared data).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Models to time (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "unet,unet-small,fcnn,affine"
    )]
    pub models: Vec<String>,
    /// Input sizes: `crop` (1024² from the centre region), `full` (the whole micrograph).
    #[arg(long, value_delimiter = ',', default_value = "crop,full")]
    pub sizes: Vec<String>,
    /// Backends: `cpu`, `gpu` (default: cpu, plus gpu when a hardware GPU exists).
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Run the published Topaz on the same inputs for the ratio (needs python3 with topaz-em).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub topaz: bool,
    /// Python interpreter that has topaz-em installed (e.g. a venv's `bin/python`).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Timed repetitions per case (the best is reported; a warm-up run precedes them).
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,
}

/// One timed case.
#[derive(Clone, Debug)]
pub struct BenchRow {
    /// Model name.
    pub model: String,
    /// Backend description.
    pub backend: String,
    /// "crop 1024²" or "full 3710×3838".
    pub input: String,
    /// Best wall time in seconds.
    pub seconds: f64,
    /// Process peak resident memory during the case, MiB.
    pub peak_mib: f64,
    /// Topaz's time on the same input, seconds.
    pub topaz_seconds: Option<f64>,
    /// Topaz's peak resident memory, MiB.
    pub topaz_peak_mib: Option<f64>,
}

fn default_input() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/micrographs/fei-extended/fei-extended.mrc")
}

/// Resets the kernel's peak-RSS counter for this process (Linux `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`), 0 elsewhere.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Runs the published Topaz through python, `None` if it is not installed.
fn time_topaz(
    python: &str,
    model: &str,
    input: &std::path::Path,
    crop: usize,
) -> Result<Option<(f64, f64)>> {
    let probe = Command::new(python)
        .args(["-c", "import topaz.denoise, mrcfile, torch"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        return Ok(None);
    }
    let script = std::env::temp_dir().join("cryolens_topaz_peer.py");
    std::fs::write(&script, include_str!("../../assets/bench/topaz_peer.py"))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(model)
        .arg(input)
        .arg(crop.to_string())
        .arg(rayon::current_num_threads().to_string())
        .output()
        .context("running Topaz")?;
    if !out.status.success() {
        bail!("Topaz failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("Topaz printed {line:?}"))?;
    Ok(Some((
        v["seconds"].as_f64().unwrap_or(f64::NAN),
        v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
    )))
}

/// Runs the benchmark and prints a table.
///
/// # Errors
/// Unreadable input, an unknown model or size, a model that is not installed.
pub fn run(args: &BenchArgs) -> Result<()> {
    let input = args.input.clone().unwrap_or_else(default_input);
    let full = crate::io::read_micrograph(&input)
        .with_context(|| format!("reading {}", input.display()))?;
    let mut devices = Vec::new();
    let names: Vec<String> = if args.devices.is_empty() {
        let mut d = vec!["cpu".to_string()];
        if wgpu_adapters().iter().any(|a| !a.is_software) {
            d.push("gpu".into());
        }
        d
    } else {
        args.devices.clone()
    };
    for n in &names {
        let choice = match n.as_str() {
            "cpu" => DeviceChoice::Cpu,
            "flex" => DeviceChoice::Flex,
            "gpu" => DeviceChoice::Gpu,
            other => bail!("unknown device '{other}' (cpu, flex or gpu)"),
        };
        devices.push(ComputeDevice::select(choice)?);
    }
    println!(
        "input: {} ({}×{} px)",
        input.display(),
        full.width,
        full.height
    );
    println!(
        "threads: {} (rayon; Topaz is given the same number of torch threads)",
        rayon::current_num_threads()
    );
    let mut rows = Vec::new();
    for size in &args.sizes {
        let (image, crop, label): (Image, usize, String) = match size.as_str() {
            "crop" => {
                let c = 1024.min(full.width).min(full.height);
                let (x0, y0) = ((full.width - c).min(1024), (full.height - c).min(1024));
                (full.crop(x0, y0, c, c), c, format!("crop {c}²"))
            }
            "full" => (
                full.clone(),
                0,
                format!("full {}×{}", full.width, full.height),
            ),
            other => bail!("unknown size '{other}' (crop or full)"),
        };
        for model in &args.models {
            let arch =
                TopazArch::from_name(model).with_context(|| format!("unknown model {model}"))?;
            let topaz = if args.topaz {
                time_topaz(&args.python, model, &input, crop)?
            } else {
                None
            };
            for device in &devices {
                let denoiser = TopazDenoiser::load(&ModelSpec::Topaz(arch), device)?;
                let tiles = TileConfig::default();
                // warm-up (autotuning on wgpu, allocator on the CPU) on a small crop
                let warm = image.crop(0, 0, 256.min(image.width), 256.min(image.height));
                denoiser.denoise(&warm, &tiles, &Progress::new())?;
                let mut best = f64::INFINITY;
                reset_peak_rss();
                for _ in 0..args.repeats.max(1) {
                    let t = Instant::now();
                    denoiser.denoise(&image, &tiles, &Progress::new())?;
                    best = best.min(t.elapsed().as_secs_f64());
                }
                let row = BenchRow {
                    model: model.clone(),
                    backend: denoiser.backend_name().into(),
                    input: label.clone(),
                    seconds: best,
                    peak_mib: peak_rss_mib(),
                    topaz_seconds: topaz.map(|t| t.0),
                    topaz_peak_mib: topaz.map(|t| t.1),
                };
                eprintln!(
                    "{} {} {}: {:.2} s",
                    row.model, row.backend, row.input, row.seconds
                );
                rows.push(row);
            }
        }
    }
    for d in &devices {
        println!("device: {}", d.describe());
    }
    print_table(&rows);
    Ok(())
}

/// Prints rows as a Markdown table (pasteable into notes).
pub fn print_table(rows: &[BenchRow]) {
    println!(
        "| model | backend | input | Cryolens s | peak MiB | Topaz s (CPU) | Topaz peak MiB | speed-up vs Topaz |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let na = || "n/a".to_string();
    for r in rows {
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {} | {} | {} |",
            r.model,
            r.backend,
            r.input,
            r.seconds,
            r.peak_mib,
            r.topaz_seconds
                .map(|t| format!("{t:.2}"))
                .unwrap_or_else(na),
            r.topaz_peak_mib
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(na),
            r.topaz_seconds
                .map(|t| format!("{:.2}×", t / r.seconds))
                .unwrap_or_else(na),
        );
    }
}
