//! `cryolens bench`: denoising time per model, backend and input size, peak memory, and the
//! ratio to the published Topaz-Denoise run on the same machine; with `--what spectra`, the
//! time of the power spectrum and of the even/odd analysis against numpy (see
//! [`run_spectra`]); with `--what train`, noise2noise training steps of our native kernels,
//! of burn's autodiff and of Topaz's PyTorch model (see [`run_train`]).
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
    /// Noise2noise training steps: native CPU kernels, burn Flex autodiff and Topaz (PyTorch).
    Train,
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
    /// `--what train`: the architecture (unet, unet-small, fcnn, affine, unet-v0.2.1).
    #[arg(long, default_value = "unet-small")]
    pub arch: String,
    /// `--what train`: crop side in px.
    #[arg(long, default_value_t = 256)]
    pub crop: usize,
    /// `--what train`: crop pairs per step (each pair trains both directions).
    #[arg(long, default_value_t = 4)]
    pub batch: usize,
    /// `--what train`: timed steps per trainer, after one warm-up step.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// `--what train`: also time burn Flex autodiff (slow: ≈ 90 s per unet-small step at the
    /// defaults on 2 cores).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub burn: bool,
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
    if args.what == BenchWhat::Train {
        return run_train(args);
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

/// One trainer's timing in the training benchmark.
#[derive(Clone, Debug)]
pub struct TrainBenchRow {
    /// Who trained ("Cryolens native CPU", "burn Flex autodiff", "Topaz (PyTorch)").
    pub trainer: String,
    /// Mean wall time of a step (forward, backward, optimiser), s; `None` when not run.
    pub seconds_per_step: Option<f64>,
    /// Why it was not run, when it was not.
    pub note: Option<String>,
}

/// `n` crop pairs of `crop`² from the middle of `image`, normalised by the mean and σ of all
/// of them; B is A shifted one pixel right (a stand-in for the other half).
fn train_bench_crops(image: &Image, n: usize, crop: usize) -> Result<crate::train::Batch> {
    if crop + n + 1 > image.width || crop + n > image.height {
        bail!(
            "the input ({}×{}) is too small for {n} crops of {crop} px",
            image.width,
            image.height
        );
    }
    let (cx, cy) = (
        (image.width - crop - n - 1) / 2,
        (image.height - crop - n) / 2,
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        // Overlapping crops, each offset diagonally by i px: distinct but all in the centre.
        a.extend_from_slice(&image.crop(cx + i, cy + i, crop, crop).data);
        b.extend_from_slice(&image.crop(cx + i + 1, cy + i, crop, crop).data);
    }
    let count = (a.len() + b.len()) as f64;
    let mean = a.iter().chain(&b).map(|&v| v as f64).sum::<f64>() / count;
    let var = a
        .iter()
        .chain(&b)
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / count;
    let sd = var.sqrt().max(f64::MIN_POSITIVE);
    for v in a.iter_mut().chain(b.iter_mut()) {
        *v = ((*v as f64 - mean) / sd) as f32;
    }
    Ok(crate::train::Batch {
        a,
        b,
        n,
        crop_px: crop,
    })
}

/// `cryolens bench --what train`: mean time of `--steps` (3) noise2noise training steps after
/// one warm-up step, `--arch` (unet-small), `--batch` (4) crop pairs of `--crop` (256) px from
/// the middle of `--input`, both directions (2 × batch crops through the network per step),
/// L2 loss, Adagrad lr 10⁻³ (Topaz's defaults), for:
///
/// 1. Cryolens's native CPU kernels ([`crate::train::native::native_step`] + burn's optimiser);
/// 2. burn Flex with autodiff (what `cryolens train` uses for the WDSR U-net), unless
///    `--burn false`;
/// 3. Topaz's own model class trained by plain PyTorch (`assets/bench/topaz_train_peer.py`,
///    run by `--python`, e.g. `/opt/topaz-venv/bin/python`) with the same number of threads;
///    "n/a" when that interpreter lacks topaz-em and torch.
///
/// Prints a Markdown table (trainer | s/step | crops/s | speed vs Topaz), the time to read the
/// weights out of the burn module for the native step, and the losses of the first step
/// (native and burn must agree).
///
/// # Errors
/// Unreadable input, an unknown architecture, crops too large for the input or too small for
/// the model, a Topaz script that fails or prints something unexpected.
pub fn run_train(args: &BenchArgs) -> Result<()> {
    use burn::module::Module;
    use burn::optim::{AdaGradConfig, GradientsParams};
    use burn::prelude::{Device, Tensor, TensorData};

    use crate::models::TopazModel;
    use crate::train::native::{NativeTrainNet, native_step};
    use crate::train::{LossKind, loss};

    let arch = TopazArch::from_name(&args.arch).with_context(|| {
        format!(
            "unknown architecture '{}' (unet, unet-small, fcnn, affine, unet-v0.2.1)",
            args.arch
        )
    })?;
    if args.batch == 0 || args.crop == 0 {
        bail!("--batch and --crop must be at least 1");
    }
    let steps = args.steps.max(1);
    let input = args.input.clone().unwrap_or_else(default_input);
    let image = crate::io::read_micrograph(&input)
        .with_context(|| format!("reading {}", input.display()))?;
    let batch = train_bench_crops(&image, args.batch, args.crop)?;
    let crops_per_step = 2 * args.batch;
    let threads = rayon::current_num_threads();
    println!(
        "input: {} ({}×{} px); {} {}² crop pairs per step, both directions ({} crops), L2, Adagrad lr 1e-3",
        input.display(),
        image.width,
        image.height,
        args.batch,
        args.crop,
        crops_per_step
    );
    println!(
        "threads: {threads} (rayon; torch gets the same); 1 warm-up step, then the mean of {steps}"
    );
    let lr = 1e-3;
    let make_optim = || AdaGradConfig::new().with_epsilon(1e-10).init();
    let ad = Device::flex().autodiff();
    let fresh = || TopazModel::init(arch.config(), &ad).set_require_grad(true);
    let mut load = load_average_1min().unwrap_or(0.0);

    // 1. native
    let mut model = fresh();
    let mut optim = make_optim();
    let mut native_times = Vec::new();
    let mut extract_times = Vec::new();
    let mut native_first_loss = None;
    for i in 0..=steps {
        let t = Instant::now();
        let (value, grads) = native_step(&model, &batch, true, LossKind::L2, 2.0)?;
        model = optim.step(lr, model, grads);
        let dt = t.elapsed().as_secs_f64();
        native_first_loss.get_or_insert(value);
        eprintln!("native step {i}: {dt:.2} s, loss {value:.5}");
        if i > 0 {
            native_times.push(dt);
            let t = Instant::now();
            NativeTrainNet::from_model(&model)?;
            extract_times.push(t.elapsed().as_secs_f64());
        }
    }
    load = load.max(load_average_1min().unwrap_or(0.0));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    // 2. burn autodiff
    let mut burn_first_loss = None;
    let burn_seconds = if args.burn {
        let mut model = fresh();
        let mut optim = make_optim();
        let (n, c) = (batch.n, batch.crop_px);
        let mut x = batch.a.clone();
        x.extend_from_slice(&batch.b);
        let mut y = batch.b.clone();
        y.extend_from_slice(&batch.a);
        let mut times = Vec::new();
        for i in 0..=steps {
            let t = Instant::now();
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [2 * n, 1, c, c]), &ad);
            let yt = Tensor::<4>::from_data(TensorData::new(y.clone(), [2 * n, 1, c, c]), &ad);
            let l = loss::loss(LossKind::L2, model.forward(xt), yt, 2.0);
            let value = l
                .clone()
                .into_data()
                .iter::<f32>()
                .next()
                .context("empty loss")? as f64;
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(lr, model, grads);
            let dt = t.elapsed().as_secs_f64();
            burn_first_loss.get_or_insert(value);
            eprintln!("burn step {i}: {dt:.2} s, loss {value:.5}");
            if i > 0 {
                times.push(dt);
            }
        }
        Some(mean(&times))
    } else {
        None
    };
    load = load.max(load_average_1min().unwrap_or(0.0));

    // 3. Topaz
    let topaz = time_topaz_train(&args.python, &args.arch, &batch, steps, threads)?;
    load = load.max(load_average_1min().unwrap_or(0.0));

    let rows = [
        TrainBenchRow {
            trainer: "Cryolens native CPU kernels".into(),
            seconds_per_step: Some(mean(&native_times)),
            note: None,
        },
        TrainBenchRow {
            trainer: "burn Flex autodiff".into(),
            seconds_per_step: burn_seconds,
            note: (!args.burn).then(|| "not run (--burn false)".into()),
        },
        TrainBenchRow {
            trainer: "Topaz (PyTorch, CPU)".into(),
            seconds_per_step: topaz,
            note: topaz.is_none().then(|| {
                format!(
                    "n/a: {} has no topaz-em with torch (pass --python /opt/topaz-venv/bin/python)",
                    args.python
                )
            }),
        },
    ];
    println!("architecture: {}", arch.config().describe());
    print_train_table(&rows, crops_per_step, topaz);
    println!(
        "native: reading the weights out of the burn module takes {:.1} ms per step (included above)",
        1e3 * mean(&extract_times)
    );
    if let (Some(a), Some(b)) = (native_first_loss, burn_first_loss) {
        println!("first-step loss: native {a:.6}, burn {b:.6} (different random initialisations)");
    }
    if load > 1.5 {
        println!(
            "note: 1-min load average reached {load:.2} (> 1.5) on {} cores: other processes were running, timings may be inflated",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    Ok(())
}

/// Prints the training benchmark as a Markdown table; the last column is Topaz's time per step
/// over the trainer's (above 1: faster than Topaz).
pub fn print_train_table(rows: &[TrainBenchRow], crops_per_step: usize, topaz: Option<f64>) {
    println!("| trainer | s / step | crops / s | speed vs Topaz |");
    println!("|---|---|---|---|");
    for r in rows {
        match r.seconds_per_step {
            Some(t) => println!(
                "| {} | {:.2} | {:.3} | {} |",
                r.trainer,
                t,
                crops_per_step as f64 / t,
                topaz.map_or_else(|| "n/a".into(), |p| format!("{:.2}×", p / t)),
            ),
            None => println!(
                "| {} | n/a | n/a | {} |",
                r.trainer,
                r.note.as_deref().unwrap_or("n/a")
            ),
        }
    }
}

/// Runs `assets/bench/topaz_train_peer.py` on `batch`: mean seconds per step, `None` if
/// `python` lacks topaz-em or torch.
fn time_topaz_train(
    python: &str,
    arch: &str,
    batch: &crate::train::Batch,
    steps: usize,
    threads: usize,
) -> Result<Option<f64>> {
    let probe = Command::new(python)
        .args(["-c", "import topaz.denoising.models, torch, numpy"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        return Ok(None);
    }
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let script = dir.path().join("topaz_train_peer.py");
    std::fs::write(
        &script,
        include_str!("../../assets/bench/topaz_train_peer.py"),
    )?;
    let write = |name: &str, v: &[f32]| -> Result<std::path::PathBuf> {
        let p = dir.path().join(name);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&p, bytes)?;
        Ok(p)
    };
    let (pa, pb) = (write("a.f32", &batch.a)?, write("b.f32", &batch.b)?);
    let out = Command::new(python)
        .arg(&script)
        .arg(arch)
        .arg(&pa)
        .arg(&pb)
        .arg(batch.n.to_string())
        .arg(batch.crop_px.to_string())
        .arg(steps.to_string())
        .arg(threads.to_string())
        .output()
        .context("running Topaz's training step")?;
    if !out.status.success() {
        bail!(
            "Topaz's training step failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("Topaz printed {line:?}"))?;
    v["seconds_per_step"]
        .as_f64()
        .map(Some)
        .with_context(|| format!("Topaz's output has no seconds_per_step: {line}"))
}
