//! `cryolens bench` (`--what denoise`, the default): denoising time per model, backend and input
//! size, peak memory, and the ratio to the published Topaz-Denoise run on the same machine
//! (`assets/bench/topaz_peer.py`).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::denoise::{TileConfig, TopazDenoiser};
use crate::device::{ComputeDevice, DeviceChoice, wgpu_adapters};
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::{ModelSpec, TopazArch};

use super::{BenchArgs, default_input, peak_rss_mib, python_can, reset_peak_rss, run_peer};

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
    /// The network's work on the input as direct convolution, GFLOP
    /// ([`TopazDenoiser::gflop`]); the same yardstick for Topaz.
    pub gflop: f64,
    /// The peak of this CPU, GFLOP/s: nominal ([`super::peak::Peak::nominal`]), else the
    /// measured `gemm` rate.
    pub peak_gflops: f64,
}

/// Runs the published Topaz through python, `None` if it is not installed.
pub(super) fn time_topaz(
    python: &str,
    model: &str,
    input: &std::path::Path,
    crop: usize,
) -> Result<Option<(f64, f64)>> {
    if !python_can(python, "import topaz.denoise, mrcfile, torch") {
        return Ok(None);
    }
    let script = std::env::temp_dir().join("cryolens_topaz_peer.py");
    std::fs::write(&script, include_str!("../../../assets/bench/topaz_peer.py"))?;
    let (v, _) = run_peer(
        Command::new(python)
            .arg(&script)
            .arg(model)
            .arg(input)
            .arg(crop.to_string())
            .arg(rayon::current_num_threads().to_string()),
        "Topaz",
        "Topaz",
    )?;
    Ok(Some((
        v["seconds"].as_f64().unwrap_or(f64::NAN),
        v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
    )))
}

/// The denoising benchmark of [`super::run`]: times every case and prints the table.
///
/// # Errors
/// Unreadable input, an unknown model or size, a model that is not installed.
pub(super) fn run(args: &BenchArgs) -> Result<()> {
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
            "cpu" | "cpu-direct" => DeviceChoice::Cpu,
            "flex" => DeviceChoice::Flex,
            "gpu" => DeviceChoice::Gpu,
            other => bail!("unknown device '{other}' (cpu, cpu-direct, flex or gpu)"),
        };
        devices.push((ComputeDevice::select(choice)?, n == "cpu-direct"));
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
    let peak = super::peak::measure();
    println!(
        "peak: {:.0} GFLOP/s attainable (f32 gemm 2048³, all threads, best of 5); nominal {} ({})",
        peak.measured,
        peak.nominal
            .map(|p| format!("{p:.0} GFLOP/s"))
            .unwrap_or_else(|| "n/a".into()),
        peak.how
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
            for (device, direct) in &devices {
                let mut denoiser = TopazDenoiser::load(&ModelSpec::Topaz(arch), device)?;
                if *direct {
                    denoiser = denoiser.with_direct_convolutions();
                }
                let tiles = TileConfig::default();
                // warm-up (autotuning on wgpu, allocator on the CPU) on a small crop
                let warm = image.crop(0, 0, 256.min(image.width), 256.min(image.height));
                denoiser.denoise(&warm, &tiles, &Progress::new())?;
                let mut best = f64::INFINITY;
                reset_peak_rss();
                for _ in 0..args.repeats.unwrap_or(1).max(1) {
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
                    gflop: denoiser.gflop(image.height, image.width),
                    peak_gflops: peak.nominal.unwrap_or(peak.measured),
                };
                eprintln!(
                    "{} {} {}: {:.2} s",
                    row.model, row.backend, row.input, row.seconds
                );
                rows.push(row);
            }
        }
    }
    for (d, _) in &devices {
        println!("device: {}", d.describe());
    }
    print_table(&rows);
    Ok(())
}

/// Prints rows as a Markdown table (pasteable into notes). "GFLOP/s" is the network's work
/// counted as direct convolution over the time (so an FFT layer can lift it past the peak);
/// "% peak" divides it by the nominal peak.
pub fn print_table(rows: &[BenchRow]) {
    println!(
        "| model | backend | input | GFLOP | Cryolens s | GFLOP/s (% peak) | peak MiB | Topaz s (CPU) | Topaz GFLOP/s (% peak) | Topaz peak MiB | speed-up vs Topaz |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let na = || "n/a".to_string();
    let rate = |s: f64, r: &BenchRow| {
        let g = r.gflop / s;
        format!("{g:.0} ({:.0} %)", 100.0 * g / r.peak_gflops)
    };
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {} | {:.0} | {} | {} | {} | {} |",
            r.model,
            r.backend,
            r.input,
            r.gflop,
            r.seconds,
            rate(r.seconds, r),
            r.peak_mib,
            r.topaz_seconds
                .map(|t| format!("{t:.2}"))
                .unwrap_or_else(na),
            r.topaz_seconds.map(|t| rate(t, r)).unwrap_or_else(na),
            r.topaz_peak_mib
                .map(|m| format!("{m:.0}"))
                .unwrap_or_else(na),
            r.topaz_seconds
                .map(|t| format!("{:.2}×", t / r.seconds))
                .unwrap_or_else(na),
        );
    }
}
