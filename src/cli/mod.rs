//! Command-line interface: clap subcommands mapping one-to-one onto library calls.
//!
//! `cryolens [FILE]` opens the GUI; `cryolens denoise …`, `cryolens models …` and
//! `cryolens bench …` are batch tools that print which device ran and show progress bars.

pub mod analyze;
pub mod batch;
pub mod bench;
pub mod coords;
pub mod cref;
pub mod ctf_table;
pub mod denoise;
pub mod fsc;
pub mod merge;
pub mod models_list;
pub mod nt2c;
pub mod relion;
pub mod score;
pub mod screen;
pub mod simulate;
pub mod slurm;
pub mod train;
pub mod train3d;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Progress;
use crate::models::{self, ModelSpec, install};

/// Cryolens: cryo-EM micrographs through denoising.
#[derive(Parser, Debug)]
#[command(
    name = "cryolens",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to open in the GUI for viewing and picking: micrographs (MRC or TIFF), folders,
    /// glob patterns (`'Micrographs/*.mrc'`) or a RELION micrographs STAR; the bundled sample
    /// when omitted. Picks are autosaved to `cryolens_session.json` beside the micrographs.
    pub inputs: Vec<String>,
    /// Batch tools.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Denoise micrographs (2D models) or tomograms (3D models) one at a time, writing float32
    /// MRC; `--shard K/N` and a manifest make it resumable.
    Denoise(denoise::DenoiseArgs),
    /// Install or list denoising models.
    Models {
        /// What to do.
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Time denoising per model and backend and compare with Topaz; prints a table.
    Bench(bench::BenchArgs),
    /// Signal, noise and bias from even/odd halves or a count-split exposure (SNR, SNBR, SBR,
    /// FRC and per-ring curves), optionally after denoising.
    Analyze(analyze::AnalyzeArgs),
    /// Merge a denoised image's low frequencies with the raw image's high frequencies
    /// (restore, Palovcak et al. 2020 S2.4).
    Merge(merge::MergeArgs),
    /// Coordinate files: convert between RELION, Topaz, EMAN and crYOLO.
    Coords {
        /// What to do.
        #[command(subcommand)]
        action: CoordsAction,
    },
    /// List the compute devices (wgpu adapters) and say which `--device auto` picks.
    Devices,
    /// Fourier shell correlation of two half-maps: 0.143 and 0.5 crossings in Å, per-shell
    /// FSC and C_ref as CSV.
    Fsc(fsc::FscArgs),
    /// Train a noise2noise denoiser (Topaz architectures) on even/odd pairs or count-split
    /// exposures; the model is then usable as `--model NAME`.
    Train(train::TrainArgs),
    /// Train a 3D noise2noise denoiser on an even/odd tomogram pair (from scratch or
    /// fine-tuning unet-3d-10a/20a); the model is then usable as `denoise --model NAME`.
    #[command(name = "train-3d")]
    Train3d(train3d::Train3dArgs),
    /// Train a crefDenoiser on a pair of half-maps with the C_ref loss and denoise their
    /// average; prints RMSE(FSC_FD², C_ref²) and the FSC-0.5 change (Agarwal et al. 2024).
    Cref(cref::CrefArgs),
    /// Write (and with --submit, submit) a SLURM array job running a batch command in shards:
    /// `cryolens slurm --array 8 --script job.sh -- denoise --model unet -o out/ mics/*.mrc`.
    Slurm(slurm::SlurmArgs),
    /// Simulate a micrograph with exact ground truth from an atomic model or a map and the
    /// experimental parameters: truth, noisy, even/odd counts, particles.star, simulation.json.
    Simulate(simulate::SimulateArgs),
    /// Noise-Transfer2Clean end to end: simulated pairs from an atomic model, a coarse
    /// denoiser, background patches, a WGAN-GP noise synthesiser, re-weighted pairs and a fine
    /// denoiser registered as NAME (Li et al. 2022).
    Nt2c(nt2c::Nt2cArgs),
    /// Score a simulated micrograph, its low-pass and Gaussian baselines and its denoisings
    /// against the simulation's truth: PSNR, SSIM, FRC-0.5.
    Score(score::ScoreArgs),
    /// Screen a grid: denoised thumbnails, power spectra and screening.csv (SNR, ice, dose,
    /// defocus) per micrograph, once or following the microscope's folder (--watch).
    Screen(screen::ScreenArgs),
    /// RELION External jobs: `cryolens relion denoise --o JOBDIR --in_mics micrographs_ctf.star`.
    Relion {
        /// What to run.
        #[command(subcommand)]
        action: RelionAction,
    },
}

/// `cryolens relion` jobs.
#[derive(Subcommand, Debug)]
pub enum RelionAction {
    /// Denoise a micrographs STAR as a RELION 4/5 External job: denoised micrographs and
    /// micrographs_denoised.star under JOBDIR, RELION_OUTPUT_NODES.star, the exit marker.
    Denoise(relion::RelionDenoiseArgs),
    /// Screen a micrographs STAR as a RELION 4/5 External job: screening.csv, thumbnails and
    /// accepted_micrographs.star under JOBDIR, RELION_OUTPUT_NODES.star, the exit marker.
    Screen(relion::RelionScreenArgs),
}

/// `cryolens coords` actions.
#[derive(Subcommand, Debug)]
pub enum CoordsAction {
    /// Convert coordinate files (any of the four formats in, one out).
    Convert(coords::ConvertArgs),
}

/// `cryolens models` actions.
#[derive(Subcommand, Debug)]
pub enum ModelsAction {
    /// Unpack Topaz's pretrained denoisers (GPL-3.0) from the topaz-em 0.3.20 wheel.
    Install {
        /// Model family (only `topaz`).
        #[arg(value_parser = ["topaz"])]
        family: String,
        /// Use this wheel file instead of downloading it.
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Download over HTTPS from this package index (simple format) instead of using pip.
        #[arg(long)]
        index_url: Option<String>,
    },
    /// Import a model from another program: `cref CHECKPOINT` converts the crefDenoiser
    /// general model (Agarwal et al. 2024; a TensorFlow checkpoint you have) with Python's
    /// TensorFlow (`pip install tensorflow-cpu`) into a Cryolens model.
    Import {
        /// Model family (only `cref`).
        #[arg(value_parser = ["cref"])]
        family: String,
        /// The checkpoint: its folder (with a `checkpoint` file) or its prefix.
        checkpoint: PathBuf,
        /// Name of the imported model in the trained-models folder, or a `.safetensors` path.
        #[arg(long, default_value = crate::models::format::cref_tf::CREF_GENERAL_MODEL)]
        name: String,
        /// The Python with TensorFlow.
        #[arg(long, default_value = "python3")]
        python: String,
    },
    /// List installed models and where they live.
    List,
    /// Export a 2D model (Topaz's, fine-tuned or trained here) as a PyTorch state dict with
    /// Topaz's parameter names, and print the Python that makes a `topaz denoise` model of it.
    Export {
        /// Model name or path, as for `cryolens denoise --model`.
        model: String,
        /// Output file (PyTorch zip format, e.g. `mymodel.pt`).
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// Parses the command line and runs it; errors are printed as one clear message.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    quiet_display_probing();
    if cli.command.is_some() {
        crate::io::provenance::set_command(
            std::iter::once("cryolens".to_string()).chain(std::env::args().skip(1)),
        );
    } else {
        crate::io::provenance::set_command(["cryolens (GUI)".to_string()]);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<Reported>() {
                Some(summary) => eprintln!("{summary}"),
                None => eprintln!("{}", crate::errors::error_line_of(&e)),
            }
            ExitCode::FAILURE
        }
    }
}

/// Mesa's Vulkan device-selection layer connects to a Wayland display to learn which GPU
/// drives the screen, and libwayland prints `error: XDG_RUNTIME_DIR is invalid or not set in
/// the environment.` when there is none (SSH sessions, batch jobs, cluster nodes): a harmless
/// line that reads like our own errors, once per adapter query (dozens at GUI start over X
/// forwarding or VNC). Without `XDG_RUNTIME_DIR` there is no Wayland socket to find, so the
/// layer learns nothing; and every command, the GUI included, chooses its adapter itself
/// ([`crate::device`]). The layer is therefore switched off (`NODEVICE_SELECT=1`) when there is
/// no `XDG_RUNTIME_DIR` and the user has not set `NODEVICE_SELECT`; on a Wayland or X desktop
/// session (which sets `XDG_RUNTIME_DIR`) nothing changes.
fn quiet_display_probing() {
    if std::env::var_os("NODEVICE_SELECT").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR").is_none()
    {
        // SAFETY: called from `main` right after parsing the command line, before any thread
        // is started, so nothing reads the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// The sampling options of commands that read several maps (`fsc`, `cref`).
#[derive(clap::Args, Debug)]
pub struct MapSamplingArgs {
    /// Voxel size in Å for both maps (and the mask), whatever their headers say.
    #[arg(long, value_parser = crate::sampling::parse_pixel_size)]
    pub pixel_size: Option<f32>,
    /// Use the headers' voxel sizes even where they differ by more than 1 % or lie outside
    /// 0.05–100 Å (the first known size is used for all).
    #[arg(long)]
    pub force: bool,
}

impl MapSamplingArgs {
    /// What the user asserted about the maps' sampling.
    pub fn sampling(&self) -> crate::sampling::SamplingOverride {
        crate::sampling::SamplingOverride {
            pixel_size: self.pixel_size,
            force: self.force,
        }
    }
}

/// A failure whose errors were already printed one per line (a batch where some inputs
/// failed): `main` prints this summary as it is, without another `error: ` line.
#[derive(Debug)]
pub struct Reported(pub String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

/// Runs a parsed command line.
///
/// # Errors
/// Whatever the command reports (bad input file, missing model, I/O failure).
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => crate::gui::run(&cli.inputs),
        Some(Command::Denoise(args)) => denoise::run(&args),
        Some(Command::Models {
            action: ModelsAction::Install {
                wheel, index_url, ..
            },
        }) => {
            let progress = Progress::new();
            let source = install::WheelSource { wheel, index_url };
            let files = install::install_topaz(&source, &crate::paths::topaz_dir(), &progress)?;
            for f in &files {
                println!("installed {}", f.display());
            }
            println!("Topaz models are GPL-3.0 (Bepler et al. 2020); they stay on this machine.");
            Ok(())
        }
        Some(Command::Models {
            action:
                ModelsAction::Import {
                    checkpoint,
                    name,
                    python,
                    ..
                },
        }) => {
            let path = crate::models::format::cref_tf::import_cref_checkpoint(
                &python,
                &checkpoint,
                &name,
            )?;
            println!("imported the crefDenoiser checkpoint as {}", path.display());
            println!(
                "apply it with `cryolens cref apply MAP --model {name} --output OUT.mrc`; the authors' weights carry no licence: keep them on this machine"
            );
            Ok(())
        }
        Some(Command::Models {
            action: ModelsAction::List,
        }) => {
            models_list::print_list();
            Ok(())
        }
        Some(Command::Models {
            action: ModelsAction::Export { model, output },
        }) => export_model(&model, &output),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::Analyze(args)) => analyze::run(&args),
        Some(Command::Fsc(args)) => fsc::run(&args),
        Some(Command::Merge(args)) => merge::run(&args),
        Some(Command::Nt2c(args)) => nt2c::run(&args),
        Some(Command::Train(args)) => train::run(&args),
        Some(Command::Train3d(args)) => train3d::run(&args),
        Some(Command::Cref(args)) => cref::run(&args),
        Some(Command::Slurm(args)) => slurm::run(&args),
        Some(Command::Relion {
            action: RelionAction::Denoise(args),
        }) => relion::denoise(&args),
        Some(Command::Relion {
            action: RelionAction::Screen(args),
        }) => relion::screen(&args),
        Some(Command::Simulate(args)) => simulate::run(&args),
        Some(Command::Score(args)) => score::run(&args),
        Some(Command::Screen(args)) => screen::run(&args),
        Some(Command::Coords {
            action: CoordsAction::Convert(args),
        }) => coords::convert(&args),
        Some(Command::Devices) => {
            let adapters = crate::device::wgpu_adapters();
            if adapters.is_empty() {
                println!("no wgpu adapters");
            }
            for a in &adapters {
                let kind = if a.is_software {
                    "software"
                } else {
                    "hardware"
                };
                println!(
                    "{} ({}, {kind}, max storage buffer {} MiB)",
                    a.name,
                    a.backend,
                    a.max_storage_buffer_bytes >> 20
                );
            }
            println!(
                "--device auto: {}",
                ComputeDevice::select(DeviceChoice::Auto)?.describe()
            );
            Ok(())
        }
    }
}

/// A progress bar in the house style.
pub fn progress_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:30} [{bar:30}] {pos}/{len} {elapsed_precise} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

/// Runs `work` on this thread while a progress bar (on another) follows `progress`: its
/// message and step counts, redrawn ten times a second; `work` may print through the bar
/// (`bar.suspend`).
///
/// # Errors
/// Whatever `work` returns.
pub fn run_with_progress_bar<T>(
    progress: &crate::jobs::Progress,
    work: impl FnOnce(&ProgressBar) -> Result<T>,
) -> Result<T> {
    let bar = progress_bar(0, "");
    let finished = std::sync::atomic::AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                let (done, total) = progress.counts();
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(progress.message());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let result = work(&bar);
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    });
    bar.finish_and_clear();
    result
}

/// `cryolens models export MODEL --output OUT.pt`.
fn export_model(name: &str, output: &Path) -> Result<()> {
    let spec = ModelSpec::parse(name)?;
    if let ModelSpec::Topaz3d(_) = spec {
        anyhow::bail!(
            "{name} is a 3D model: Topaz's own .sav file already is its state dict ({})",
            spec.weights_path()?.display()
        );
    }
    let path = spec.weights_path()?;
    let device = burn::prelude::Device::flex();
    let (model, config) = models::load_topaz(&path, &device)?;
    models::export::export_topaz(&model, output)?;
    println!("wrote {} ({})", output.display(), config.describe());
    println!("To use it with Topaz, in Topaz's Python:");
    println!("{}", models::export::topaz_loading_snippet(config, output));
    Ok(())
}
