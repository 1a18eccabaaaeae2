//! `cryolens bench`: denoising time per model, backend and input size, peak memory, and the
//! ratio to the published Topaz-Denoise run on the same machine; with `--what spectra`, the
//! time of the power spectrum and of the even/odd analysis against numpy (see
//! [`run_spectra`]); with `--what train`, noise2noise training steps of our native kernels,
//! of burn's autodiff and of Topaz's PyTorch model (see [`run_train`]); with `--what picks`,
//! heavy use of the picking GUI on synthetic sessions (see [`run_picks`]); with `--what screen`,
//! the screening outputs of one micrograph against Topaz denoising it (`screen.rs`); with
//! `--what gallery`, the screening gallery over 10,000 micrographs (`gallery.rs`).
//!
//! Topaz is timed by `assets/bench/topaz_peer.py` (its `denoise_image` with patch 1024,
//! padding 500, which is `topaz denoise`'s default), with the same number of CPU threads.
//! To make it available: `pip install topaz-em "setuptools<81" mrcfile` (PyTorch comes with
//! it). Without it the table says "n/a" in Topaz's columns.
//!
//! # Files
//! This file holds the options and what the benchmarks share (default input, peak memory,
//! load average); `denoise`, `spectra`, `train` and `picks` hold one benchmark each.

mod denoise;
mod first_view;
mod gallery;
mod gui;
mod kernels;
mod peak;
mod picks;
mod screen;
mod spectra;
mod train;
mod volume;

pub use denoise::{BenchRow, print_table};
pub use picks::{HEAVY_PICKS, SESSION_MICROGRAPHS, random_picks, run_picks};
pub use screen::{ScreenBenchRow, print_screen_table};
pub use spectra::{
    RING_WIDTH_PX, SPECTRUM_TILE_PX, STAND_IN_DENOISER_SIGMA_PX, SpectraBenchRow,
    print_spectra_table, run_spectra,
};
pub use train::{TrainBenchRow, print_train_table, run_train};

use std::path::PathBuf;

use anyhow::Result;

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
    /// Heavy picking: 100,000 picks on a micrograph (overlay, hit-testing) and a
    /// 5,000-micrograph session (list, autosave), synthetic; peak memory.
    Picks,
    /// The screening outputs of one micrograph (`cryolens screen`) per model, against Topaz
    /// denoising it with its defaults.
    Screen,
    /// Each distinct convolution of Topaz's 2D models alone on 1024² (`--crop`), direct and
    /// through the FFT: GFLOP/s, % of peak, the algorithm picked.
    Kernels,
    /// Frame times of the app driven headless on wgpu (pan, zoom, contrast, view switch, four
    /// compare panes) on a 4k micrograph with 1,000 picks, idle repaints, open to first frame.
    Gui,
    /// The waits for a large micrograph's views in the GUI: open, the binned denoised preview
    /// and the full-resolution denoised view, per model.
    FirstView,
    /// The 3D U-nets on one 96³ cube of a tomogram, whole, against Topaz's `UDenoiseNet3D`
    /// in PyTorch on the same threads (the per-FLOP race), with the outputs compared.
    Denoise3d,
    /// The screening gallery over a synthetic folder of `--micrographs` rows: open time,
    /// frame times while scrolling, peak memory.
    Gallery,
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
    /// Backends: `cpu` (native kernels, FFT for wide kernels), `cpu-direct` (native kernels,
    /// every convolution direct), `flex` (burn's CPU backend), `gpu` (default: cpu, plus gpu
    /// when a hardware GPU exists).
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
    /// `--what picks`: picks per micrograph of the 5,000-micrograph session.
    #[arg(long, default_value_t = 200)]
    pub picks_per_micrograph: usize,
    /// `--what gallery`: micrographs in the synthetic screening folder.
    #[arg(long, default_value_t = 10_000)]
    pub micrographs: usize,
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

/// The 1-minute load average (Linux `/proc/loadavg`).
fn load_average_1min() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether `python` runs `code` successfully (e.g. imports a peer's packages).
fn python_can(python: &str, code: &str) -> bool {
    let probe = std::process::Command::new(python)
        .args(["-c", code])
        .output();
    matches!(&probe, Ok(o) if o.status.success())
}

/// Runs a peer program (a Python reference script) and parses the JSON object on the last
/// line it prints; returns the object and that line (for error messages). `peer` names it in
/// errors ("Topaz", "the numpy reference"), `printer` names who printed an unparsable line.
///
/// # Errors
/// The program does not start, fails (its stderr is quoted) or prints no JSON last line.
fn run_peer(
    command: &mut std::process::Command,
    peer: &str,
    printer: &str,
) -> Result<(serde_json::Value, String)> {
    use anyhow::Context;
    let out = command
        .output()
        .with_context(|| format!("running {peer}"))?;
    if !out.status.success() {
        anyhow::bail!("{peer} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default().to_string();
    let v = serde_json::from_str(&line).with_context(|| format!("{printer} printed {line:?}"))?;
    Ok((v, line))
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
    if args.what == BenchWhat::Picks {
        return run_picks(args);
    }
    if args.what == BenchWhat::Screen {
        return screen::run_screen(args);
    }
    if args.what == BenchWhat::Denoise3d {
        return volume::run_denoise3d(args);
    }
    if args.what == BenchWhat::Kernels {
        return kernels::run_kernels(args);
    }
    if args.what == BenchWhat::Gui {
        return gui::run_gui(args);
    }
    if args.what == BenchWhat::FirstView {
        return first_view::run_first_view(args);
    }
    if args.what == BenchWhat::Gallery {
        return gallery::run_gallery(args);
    }
    denoise::run(args)
}
