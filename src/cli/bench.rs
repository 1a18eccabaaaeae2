//! `cryolens bench`: denoising time per model, backend and input size, peak memory, and the
//! ratio to the published Topaz-Denoise run on the same machine; with `--what spectra`, the
//! time of the power spectrum and of the even/odd analysis against numpy (see
//! [`run_spectra`]).
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

/// What `cryolens bench` times.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BenchWhat {
    /// Denoising per model, backend and size, against the published Topaz.
    #[default]
    Denoise,
    /// Power spectrum + rotational average, and the even/odd analysis, against numpy.
    Spectra,
}

/// `cryolens bench` options.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// What to time: `denoise` (models vs Topaz) or `spectra` (power spectrum and even/odd
    /// analysis vs numpy, `assets/bench/spectra_peer.py`).
    #[arg(long, value_enum, default_value_t = BenchWhat::Denoise)]
    pub what: BenchWhat,
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
    /// Python interpreter that has topaz-em installed (e.g. a venv's `bin/python`); for
    /// `--what spectra`, one with numpy ≥ 2 and mrcfile.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Timed repetitions per case, the best is reported (default: 1 after a warm-up run for
    /// `denoise`, 3 for `spectra`).
    #[arg(long)]
    pub repeats: Option<usize>,
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
    if args.what == BenchWhat::Spectra {
        return run_spectra(args);
    }
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

/// Tile side of the benchmarked Welch power spectrum (px).
pub const SPECTRUM_TILE_PX: usize = 512;
/// Ring width of the benchmarked per-ring curves (Fourier pixels).
pub const RING_WIDTH_PX: f32 = 4.0;
/// σ (px) of the Gaussian low-pass that stands in for a denoiser in the benchmarked analysis.
pub const STAND_IN_DENOISER_SIGMA_PX: f32 = 2.0;

/// One row of the spectra benchmark: best wall times of one operation.
#[derive(Clone, Debug)]
pub struct SpectraBenchRow {
    /// What was timed.
    pub operation: String,
    /// Cryolens's best time, s.
    pub seconds: f64,
    /// numpy's best time on the same inputs, s (`None` without numpy).
    pub numpy_seconds: Option<f64>,
    /// Largest relative difference between numpy's and Cryolens's results (see
    /// `assets/bench/spectra_peer.py` for the definition).
    pub max_rel_diff: Option<f64>,
}

/// Best wall time of `repeats` runs of `f`, with the last result.
fn best_of<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    // `repeats.max(1)` ran at least once.
    out.map(|v| (best, v)).context("no repetition was run")
}

/// The 1-minute load average (Linux `/proc/loadavg`).
fn load_average_1min() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `cryolens bench --what spectra`: times, on the micrograph `--input` (default the
/// 3710×3838 `fei-extended.mrc`), best of `--repeats` (3) runs each:
///
/// 1. the power spectrum: [`crate::fourier::power_spectrum_linear`] with 512² Hann tiles
///    (Welch, 50 % overlap, each tile mean-subtracted) followed by
///    [`crate::fourier::rotational_average`];
/// 2. the even/odd analysis without a denoiser: [`crate::metrics::frank_al_ali_snr`],
///    [`crate::metrics::frc`] (ring width 4 Fourier px) and
///    [`crate::metrics::variance_estimate_rings`] (ring width 4) on halves M₁, M₂ from
///    [`crate::metrics::split_counts`] (forced, seed 0; gain 1 if it cannot be estimated) and
///    D₁, D₂ = [`crate::fourier::gaussian_lowpass`] of them with σ = 2 px, all made before
///    timing.
///
/// The inputs (float32 MRC) and Cryolens's results go to a temporary folder, where
/// `assets/bench/spectra_peer.py` run by `--python` does the same computations in numpy, times
/// them the same way and compares its numbers with Cryolens's. Prints a Markdown table
/// (operation | Cryolens (s) | numpy (s) | ratio numpy/Cryolens), the agreement, and a note
/// when the 1-minute load average exceeds 1.5. Without numpy the numpy columns say "n/a".
///
/// # Errors
/// Unreadable input, a failed count split, unwritable temporary files, a numpy script that
/// fails or prints something unexpected.
pub fn run_spectra(args: &BenchArgs) -> Result<()> {
    use crate::fourier::{Window, gaussian_lowpass, power_spectrum_linear, rotational_average};
    use crate::metrics::{self, CountSplitOptions, GainSource};

    let input = args.input.clone().unwrap_or_else(default_input);
    let raw = crate::io::read_micrograph(&input)
        .with_context(|| format!("reading {}", input.display()))?;
    let repeats = args.repeats.unwrap_or(3).max(1);
    println!(
        "input: {} ({}×{} px)",
        input.display(),
        raw.width,
        raw.height
    );
    println!(
        "threads: Cryolens {} (rayon); numpy's FFT (pocketfft) uses 1; best of {repeats} runs",
        rayon::current_num_threads()
    );
    let mut load = load_average_1min().unwrap_or(0.0);

    // Inputs of the analysis, made once, outside the timed region.
    let options = CountSplitOptions {
        force: true,
        ..CountSplitOptions::default()
    };
    let split = metrics::split_counts(&raw, &options).or_else(|_| {
        metrics::split_counts(
            &raw,
            &CountSplitOptions {
                gain: GainSource::Given(1.0),
                ..options
            },
        )
    })?;
    let (m1, m2) = (split.half1, split.half2);
    let d1 = gaussian_lowpass(&m1, STAND_IN_DENOISER_SIGMA_PX);
    let d2 = gaussian_lowpass(&m2, STAND_IN_DENOISER_SIGMA_PX);

    let (spectrum_s, rot) = best_of(repeats, || {
        let lin = power_spectrum_linear(&raw, SPECTRUM_TILE_PX, Window::Hann);
        Ok(rotational_average(&lin, raw.pixel_size_angstrom))
    })?;
    let (analysis_s, (snr, frc, rings)) = best_of(repeats, || {
        let snr = metrics::frank_al_ali_snr(&m1, &m2)?;
        let frc = metrics::frc(&m1, &m2, RING_WIDTH_PX)?;
        let rings = metrics::variance_estimate_rings(&m1, &m2, &d1, &d2, RING_WIDTH_PX)?;
        Ok((snr, frc, rings))
    })?;
    load = load.max(load_average_1min().unwrap_or(0.0));

    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    for (name, im) in [
        ("raw", &raw),
        ("m1", &m1),
        ("m2", &m2),
        ("d1", &d1),
        ("d2", &d2),
    ] {
        crate::io::mrc::write_image(&dir.path().join(format!("{name}.mrc")), im)?;
    }
    let results = serde_json::json!({
        "rotational_average": rot,
        "cc": snr.cc,
        "frc": frc.rings.iter().map(|r| (r.index, r.value.frc)).collect::<Vec<_>>(),
        "rings": rings.rings.iter().map(|r| {
            let v = r.value;
            [r.index as f64, v.signal, v.noise_noisy, v.noise_denoised, v.bias]
        }).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.path().join("cryolens.json"),
        serde_json::to_string(&results)?,
    )?;
    let numpy = time_numpy_spectra(&args.python, dir.path(), repeats)?;
    load = load.max(load_average_1min().unwrap_or(0.0));

    let label = format!("{}×{}", raw.width, raw.height);
    let rows = [
        SpectraBenchRow {
            operation: format!(
                "power spectrum (Welch {SPECTRUM_TILE_PX}² Hann) + rotational average, {label}"
            ),
            seconds: spectrum_s,
            numpy_seconds: numpy.map(|n| n.0),
            max_rel_diff: numpy.map(|n| n.2),
        },
        SpectraBenchRow {
            operation: format!(
                "analysis: Frank & Al-Ali SNR + FRC + per-ring variances (ring width {RING_WIDTH_PX}), {label}"
            ),
            seconds: analysis_s,
            numpy_seconds: numpy.map(|n| n.1),
            max_rel_diff: numpy.map(|n| n.3),
        },
    ];
    print_spectra_table(&rows);
    match numpy {
        Some((_, _, s, a)) => println!(
            "agreement with numpy (max relative difference): spectrum {s:.3e}, analysis {a:.3e}"
        ),
        None => println!(
            "numpy: n/a ({} has no numpy ≥ 2 with mrcfile; pass --python)",
            args.python
        ),
    }
    println!("raw halves: cc = {:.5}, SNR = {:.5}", snr.cc, snr.snr);
    if load > 1.5 {
        println!(
            "note: 1-min load average reached {load:.2} (> 1.5) on {} cores: other processes were running, timings may be inflated",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    Ok(())
}

/// Runs `assets/bench/spectra_peer.py` on the folder `dir`: (spectrum s, analysis s,
/// spectrum max rel. diff, analysis max rel. diff), `None` if `python` lacks numpy/mrcfile.
fn time_numpy_spectra(
    python: &str,
    dir: &std::path::Path,
    repeats: usize,
) -> Result<Option<(f64, f64, f64, f64)>> {
    let probe = Command::new(python)
        .args([
            "-c",
            "import numpy, mrcfile, sys; sys.exit(int(numpy.__version__.split('.')[0]) < 2)",
        ])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        return Ok(None);
    }
    let script = dir.join("spectra_peer.py");
    std::fs::write(&script, include_str!("../../assets/bench/spectra_peer.py"))?;
    let out = Command::new(python)
        .arg(&script)
        .arg(dir)
        .arg(repeats.to_string())
        .output()
        .context("running the numpy reference")?;
    if !out.status.success() {
        bail!(
            "the numpy reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("numpy printed {line:?}"))?;
    let get = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("numpy's output has no number '{k}': {line}"))
    };
    Ok(Some((
        get("spectrum_seconds")?,
        get("analysis_seconds")?,
        get("spectrum_max_rel_diff")?,
        get("analysis_max_rel_diff")?,
    )))
}

/// Prints the spectra benchmark as a Markdown table; ratio = numpy time / Cryolens time
/// (above 1: Cryolens is faster).
pub fn print_spectra_table(rows: &[SpectraBenchRow]) {
    println!("| operation | Cryolens (s) | numpy (s) | ratio (numpy / Cryolens) |");
    println!("|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.3} | {} | {} |",
            r.operation,
            r.seconds,
            r.numpy_seconds
                .map_or_else(|| "n/a".into(), |t| format!("{t:.3}")),
            r.numpy_seconds
                .map_or_else(|| "n/a".into(), |t| format!("{:.2}×", t / r.seconds)),
        );
    }
}
