//! Command-line interface: clap subcommands mapping one-to-one onto library calls.
//!
//! `cryolens [FILE]` opens the GUI; `cryolens denoise …`, `cryolens models …` and
//! `cryolens bench …` are batch tools that print which device ran and show progress bars.

pub mod analyze;
pub mod bench;
pub mod coords;
pub mod cref;
pub mod ctf_table;
pub mod fsc;
pub mod merge;
pub mod simulate;
pub mod train;
pub mod train3d;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::denoise::{Denoiser2d, TileConfig};
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
    /// Denoise micrographs with a Topaz model, one at a time (streaming), writing float32 MRC.
    Denoise(DenoiseArgs),
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
    /// Simulate a micrograph with exact ground truth from an atomic model or a map and the
    /// experimental parameters: truth, noisy, even/odd counts, particles.star, simulation.json.
    Simulate(simulate::SimulateArgs),
}

/// `cryolens denoise` options.
#[derive(clap::Args, Debug)]
pub struct DenoiseArgs {
    /// Input micrographs (MRC or TIFF).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// unet | unet-small | fcnn | affine | unet-v0.2.1 | a trained model's NAME | PATH to a
    /// Topaz state dict or Cryolens model.
    #[arg(short, long, default_value = "unet")]
    pub model: String,
    /// Output folder; each output is `<folders>/<input stem>.mrc` there, `<folders>` being the
    /// input's folders below the folder all inputs share (flat for inputs of one folder).
    /// Inputs that would land on one file, or an output that would overwrite its input, are
    /// refused before anything is written.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Tile core size in pixels (0: no tiling).
    #[arg(long, default_value_t = 1024)]
    pub patch_size: usize,
    /// Context pixels around each tile. Default: the model's receptive field (exact, cheaper
    /// than Topaz's 500; any value at least that large gives the same result).
    #[arg(long)]
    pub padding: Option<usize>,
    /// Volumes with a 3D model (unet-3d-10a, unet-3d-20a): re-normalise each padded 96³ patch
    /// by its own mean and σ exactly as Topaz does (seams included), instead of once globally.
    #[arg(long)]
    pub topaz_normalisation: bool,
    /// Micrographs: also write `<stem>.png` beside each output, 8-bit in Topaz-Denoise's
    /// display normalisation (the 16× low-pass copy's mean ± 4σ shown black to white), for
    /// figures made the way the paper made them.
    #[arg(long)]
    pub png: bool,
    /// Each micrograph's CTF, for restore models trained on phase-flipped micrographs.
    #[command(flatten)]
    pub ctf: ctf_table::CtfArgs,
    /// With --ctf: keep the denoised micrographs phase flipped (restore's
    /// `--dont_flip_phases_back`); by default they are flipped back.
    #[arg(long, requires = "ctf")]
    pub no_flip_back: bool,
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
        Some(Command::Denoise(args)) => denoise(&args),
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
            println!("models folder: {}", crate::paths::topaz_dir().display());
            let installed = models::installed_topaz_models();
            if installed.is_empty() {
                println!("no Topaz models installed: run `cryolens models install topaz`");
            }
            for a in installed {
                println!("{:<12} {}", a.name(), a.config().describe());
            }
            Ok(())
        }
        Some(Command::Models {
            action: ModelsAction::Export { model, output },
        }) => export_model(&model, &output),
        Some(Command::Bench(args)) => bench::run(&args),
        Some(Command::Analyze(args)) => analyze::run(&args),
        Some(Command::Fsc(args)) => fsc::run(&args),
        Some(Command::Merge(args)) => merge::run(&args),
        Some(Command::Train(args)) => train::run(&args),
        Some(Command::Train3d(args)) => train3d::run(&args),
        Some(Command::Cref(args)) => cref::run(&args),
        Some(Command::Simulate(args)) => simulate::run(&args),
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

/// The output file of every input of a batch, in order: `<dir>/<folders>/<stem>.mrc`, where
/// `<folders>` are the input's folders below the folder all inputs share (inputs of one folder
/// are written flat), so that `GridSquare_1/mic_001.mrc` and `GridSquare_2/mic_001.mrc` do not
/// overwrite each other (the same rule as `coords convert`, [`crate::io::coords::output_names`]).
///
/// # Errors
/// Two inputs that would land on the same file (the same stem in one folder, or one file
/// given twice), or an output that would overwrite its own input.
fn output_paths(dir: &Path, inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let requests: Vec<crate::io::coords::NameRequest> = inputs
        .iter()
        .map(|input| crate::io::coords::NameRequest {
            micrograph: std::path::absolute(input)
                .unwrap_or_else(|_| input.clone())
                .to_string_lossy()
                .into_owned(),
            source: "the command line".into(),
        })
        .collect();
    let names = crate::io::coords::output_names(&requests).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut outputs = Vec::with_capacity(inputs.len());
    for (input, name) in inputs.iter().zip(&names) {
        let out = dir.join(name.file(".mrc"));
        let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same(input, &out) {
            return Err(Reported(format!(
                "error: {}: the output {} would overwrite this input (choose another --output folder)",
                input.display(),
                out.display()
            ))
            .into());
        }
        outputs.push(out);
    }
    Ok(outputs)
}

/// Creates the folder of `out` (below the batch's output folder) before writing it.
fn create_parent(out: &Path) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

fn denoise(args: &DenoiseArgs) -> Result<()> {
    let spec = ModelSpec::parse(&args.model)?;
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    if spec.is_volume_model() {
        return denoise_volumes(args, &spec, &device);
    }
    let denoiser = Denoiser2d::load(&spec, &device)?;
    println!("model: {}", denoiser.describe());
    let ctfs = args.ctf.table_for(&denoiser)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let tiles = TileConfig {
        patch_size: args.patch_size,
        padding: args.padding,
    };
    let outputs = output_paths(&args.output, &args.files)?;
    let bar = progress_bar(args.files.len() as u64, "micrographs");
    let mut failures = 0usize;
    for (input, out) in args.files.iter().zip(&outputs) {
        bar.set_message(
            input
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let started = Instant::now();
        let result = (|| -> Result<PathBuf> {
            // One micrograph in memory at a time.
            let ctf = ctf_table::ctf_for(&denoiser, ctfs.as_ref(), input)?;
            let image = crate::io::read_micrograph(input)?;
            let progress = Progress::new();
            let denoised = denoiser.denoise_with_ctf(
                &image,
                ctf.as_ref(),
                !args.no_flip_back,
                &tiles,
                &progress,
            )?;
            create_parent(out)?;
            crate::io::mrc::write_image(out, &denoised)?;
            if args.png {
                let (black, white) = crate::analysis::section::topaz_display_window(&denoised);
                crate::io::png::write_grey_png(
                    &out.with_extension("png"),
                    &denoised,
                    black,
                    white,
                )?;
            }
            Ok(out.clone())
        })();
        // `suspend` prints even when the bar is hidden (output not a terminal).
        if !bar.suspend(|| report(input, &result, started)) {
            failures += 1;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if failures > 0 {
        return Err(Reported(format!(
            "{failures} of {} micrographs failed (errors above)",
            args.files.len()
        ))
        .into());
    }
    Ok(())
}

/// `cryolens denoise` with a 3D model: each input must be a volume (MRC volume or TIFF stack),
/// denoised in Topaz's 96³ patches with 48 voxels of padding (`crate::denoise::volume`).
fn denoise_volumes(args: &DenoiseArgs, spec: &ModelSpec, device: &ComputeDevice) -> Result<()> {
    use crate::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
    let denoiser = Topaz3dDenoiser::load(spec, device)?;
    println!("model: {}", denoiser.describe());
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    // Topaz's 96³ cores and 48 voxels of padding; `--patch-size 0` runs the whole volume at
    // once (no tiling), `--padding` overrides the 48.
    let mut cfg = if args.topaz_normalisation {
        VolumeTileConfig::topaz()
    } else {
        VolumeTileConfig::default()
    };
    if args.patch_size == 0 {
        cfg.patch_size = 0;
    }
    if let Some(p) = args.padding {
        cfg.padding = p;
    }
    let outputs = output_paths(&args.output, &args.files)?;
    let mut failures = 0usize;
    for (input, out) in args.files.iter().zip(&outputs) {
        let started = Instant::now();
        let result = (|| -> Result<PathBuf> {
            let (kind, volume) = crate::io::read(input)?;
            if kind == crate::io::ContentKind::Image || volume.depth < 2 {
                anyhow::bail!(
                    "a 2D image ({}×{}): 3D models denoise volumes; use a 2D model (unet, …)",
                    volume.width,
                    volume.height
                );
            }
            let progress = Progress::new();
            let finished = std::sync::atomic::AtomicBool::new(false);
            // The bar polls the job's progress from a second thread while this one computes.
            let denoised = std::thread::scope(|scope| {
                scope.spawn(|| {
                    let bar = progress_bar(0, "patches");
                    while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                        let (done, total) = progress.counts();
                        bar.set_length(total);
                        bar.set_position(done);
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                    bar.finish_and_clear();
                });
                let result = denoiser.denoise(&volume, &cfg, &progress);
                finished.store(true, std::sync::atomic::Ordering::Relaxed);
                result
            })?;
            create_parent(out)?;
            crate::io::mrc::write_volume(out, &denoised)?;
            Ok(out.clone())
        })();
        if !report(input, &result, started) {
            failures += 1;
        }
    }
    if failures > 0 {
        return Err(Reported(format!(
            "{failures} of {} volumes failed (errors above)",
            args.files.len()
        ))
        .into());
    }
    Ok(())
}

/// Prints one batch item's outcome (`input -> output (time)` or the error); true on success.
fn report(input: &Path, result: &Result<PathBuf>, started: Instant) -> bool {
    match result {
        Ok(out) => {
            println!(
                "{} -> {} ({:.1} s)",
                input.display(),
                out.display(),
                started.elapsed().as_secs_f64()
            );
            true
        }
        Err(e) => {
            eprintln!("{}", crate::errors::error_line_for(input, e));
            false
        }
    }
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
