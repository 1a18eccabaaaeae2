//! `cryolens cref HALF1 HALF2 [--mask M] --output OUT.mrc [--quick] [--epochs N] [--patch P]
//! [--batch B] [--save-model NAME | --model NAME]`: trains a crefDenoiser U-net on the pair's own patches
//! with the C_ref loss L_C (Agarwal et al. 2024, eq. 5) — or applies a saved one — writes the
//! denoised half-map average, and prints the loss per epoch, the independent-noise check and
//! the paper's two evaluation numbers: RMSE(FSC_FD², C_ref²) and the FSC-0.5 change
//! (sections 3.1–3.2). Without `--quick` the training follows the paper (section 2.5: batches
//! of 6 patches of 96³, the published network); `--quick` is the CPU preset (32³ patches,
//! few steps, the literal network).
//!
//! `cryolens cref apply MAP --output OUT.mrc [--model NAME] [--mask M]`: applies a saved
//! crefDenoiser (e.g. the general model from `cryolens models import cref`) to one map, no
//! training.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::analysis::halfmap::HalfMaps;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Progress;
use crate::metrics::fsc::FscThreshold;
use crate::models::format::cref_tf::CREF_GENERAL_MODEL;
use crate::models::format::{cref_model_path, load_cref_model, save_cref_model};
use crate::train::cref::{
    CrefTrainConfig, apply_cref, apply_cref_map, evaluate_cref, model_meta, train_cref,
};

use super::MapSamplingArgs;

/// `cryolens cref` options.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CrefArgs {
    /// Apply a saved model to one map instead of training.
    #[command(subcommand)]
    pub action: Option<CrefAction>,
    /// First half-map (MRC, or a TIFF stack).
    #[arg(required = true)]
    pub half1: Option<PathBuf>,
    /// Second half-map, same shape and voxel size.
    #[arg(required = true)]
    pub half2: Option<PathBuf>,
    /// Mask (same shape, 0…1), multiplied in before standardising and into every FSC.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Where to write the denoised average (float32 MRC).
    #[arg(short, long, required = true)]
    pub output: Option<PathBuf>,
    /// The CPU preset: the literal network, 32³ patches one per step, 8 per epoch, 6 epochs,
    /// lr 10⁻³ (the options below override it).
    #[arg(long)]
    pub quick: bool,
    /// Maximum training epochs (paper preset 20, quick 6).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Patch edge in voxels, a multiple of 32 (paper 96; quick 32, for a 64³ map).
    #[arg(long)]
    pub patch: Option<usize>,
    /// Patches per optimiser step (paper 6; quick 1).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Random patches per epoch (paper preset 48; quick 8).
    #[arg(long)]
    pub patches_per_epoch: Option<usize>,
    /// Do not rotate/reflect patches (the cube's 48 symmetries).
    #[arg(long)]
    pub no_augment: bool,
    /// Stop after this many epochs without a better independent-noise score (0: never).
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Initial Adam learning rate, ×0.7 every 10 epochs (paper 3·10⁻⁴; quick 10⁻³).
    #[arg(long)]
    pub lr: Option<f64>,
    /// The true map, when known (synthetic half-maps): also report FSC against it.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Save the trained network: a bare name goes to the trained-models folder, or a path
    /// ending in `.safetensors` (a `.json` is written beside it).
    #[arg(long, conflicts_with = "model")]
    pub save_model: Option<String>,
    /// Apply a saved crefDenoiser (name or `.safetensors` path) instead of training.
    #[arg(long)]
    pub model: Option<String>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// `--pixel-size`, `--force`.
    #[command(flatten)]
    pub sampling: MapSamplingArgs,
}

/// `cryolens cref` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CrefAction {
    /// Apply a saved crefDenoiser to one map (no training): the map is masked and
    /// standardised as for training, denoised, and mapped back to its mean and σ.
    Apply(CrefApplyArgs),
}

/// `cryolens cref apply` options.
#[derive(clap::Args, Debug)]
pub struct CrefApplyArgs {
    /// The map to denoise (MRC, or a TIFF stack).
    pub map: PathBuf,
    /// Saved crefDenoiser: a name in the trained-models folder or a `.safetensors` path.
    #[arg(long, default_value = CREF_GENERAL_MODEL)]
    pub model: String,
    /// Mask (same shape, 0…1), multiplied in before standardising.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Where to write the denoised map (float32 MRC).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Average the network's outputs over the 8 axis flips of the map (8× slower).
    #[arg(long)]
    pub flip_average: bool,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// Reads the map at `path`, if one is given (a 2D image is refused, naming the file).
fn read_optional(path: Option<&std::path::Path>) -> Result<Option<crate::image::Volume>> {
    Ok(path.map(|p| crate::io::read_volume(p, "map")).transpose()?)
}

/// Runs `cryolens cref apply`.
///
/// # Errors
/// An unreadable map or mask, an unknown or unreadable model, an unwritable output.
pub fn apply(args: &CrefApplyArgs) -> Result<()> {
    let map = crate::io::read_volume(&args.map, "map")?;
    let mask = read_optional(args.mask.as_deref())?;
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    let dev = crate::train::training_device(&device).without_autodiff();
    let (model, meta) = load_cref_model(&args.model, &dev)?;
    println!(
        "applying crefDenoiser {} ({:?} network, {} parameters, from {:?})",
        args.model, meta.net.arch, meta.parameters, meta.sources
    );
    let out = apply_cref_map(&model, &map, mask.as_ref(), args.flip_average)?;
    crate::io::mrc::write_volume(&args.output, &out)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}

fn angstrom(t: FscThreshold, known: bool) -> String {
    let unit = if known { "Å" } else { "voxels" };
    match (t.resolution(), t.absent_reason()) {
        (Some(v), _) => format!("{v:.2} {unit}"),
        (None, Some(why)) => why.to_string(),
        (None, None) => "n/a".into(),
    }
}

fn change(a: FscThreshold, b: FscThreshold, known: bool) -> String {
    match (a.resolution(), b.resolution()) {
        (Some(a), Some(b)) => format!("{:+.2} {}", b - a, if known { "Å" } else { "voxels" }),
        _ => "n/a".into(),
    }
}

/// Runs `cryolens cref`.
///
/// # Errors
/// Unreadable or mismatched maps, bad training options, training failures, an unknown or
/// unreadable saved model, an unwritable output or model.
pub fn run(args: &CrefArgs) -> Result<()> {
    if let Some(CrefAction::Apply(a)) = &args.action {
        return apply(a);
    }
    let (Some(half1), Some(half2), Some(output)) = (&args.half1, &args.half2, &args.output) else {
        bail!("give HALF1 HALF2 and --output (or `cryolens cref apply MAP`)");
    };
    let sampling = args.sampling.sampling();
    let maps = HalfMaps::read(half1, half2, args.mask.as_deref(), &sampling)?;
    let truth = read_optional(args.truth.as_deref())?;
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    let (denoised, denoised_half2) = if let Some(name) = &args.model {
        let dev = crate::train::training_device(&device).without_autodiff();
        let (model, meta) = load_cref_model(name, &dev)?;
        println!(
            "applying crefDenoiser {name} ({} parameters, trained {} on {:?})",
            meta.parameters, meta.created_utc, meta.sources
        );
        apply_cref(&model, &maps, true)?
    } else {
        let preset = if args.quick {
            CrefTrainConfig::quick()
        } else {
            CrefTrainConfig::default()
        };
        let cfg = CrefTrainConfig {
            epochs: args.epochs.unwrap_or(preset.epochs),
            patch_px: args.patch.unwrap_or(preset.patch_px),
            batch_size: args.batch.unwrap_or(preset.batch_size),
            patches_per_epoch: args.patches_per_epoch.unwrap_or(preset.patches_per_epoch),
            augment: !args.no_augment,
            patience_epochs: args.patience,
            learning_rate: args.lr.unwrap_or(preset.learning_rate),
            device,
            ..preset
        };
        if let Some(name) = &args.save_model
            && name.trim().is_empty()
        {
            bail!("--save-model needs a name");
        }
        let progress = Progress::new();
        let outcome = std::thread::scope(|s| {
            let worker = s.spawn(|| {
                train_cref(
                    &maps.half1,
                    &maps.half2,
                    maps.mask.as_ref(),
                    &cfg,
                    &progress,
                )
            });
            let mut last = String::new();
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(200));
                let m = progress.message();
                if m != last && m.contains("epoch") {
                    println!("{m}");
                    last = m;
                }
            }
            worker
                .join()
                .map_err(|_| anyhow!("the training thread panicked"))?
        })?;
        println!(
            "{} patches of {}³ per epoch in batches of {}, {} epochs, kept epoch {}; L_C {:.4} (untrained) → {:.4} (kept); {:.1} s training",
            outcome.patches,
            cfg.patch_px,
            cfg.batch_size,
            outcome.loss_history.len(),
            outcome.best_epoch,
            outcome.initial_loss,
            outcome.final_loss,
            outcome.train_seconds
        );
        println!(
            "independent-noise check (mean FSC(D(M1), M2)): input {:.4}, kept {:.4}",
            outcome.validation_identity,
            outcome.validation_history[outcome.best_epoch - 1]
        );
        if let Some(name) = &args.save_model {
            let path = cref_model_path(name);
            let sources = vec![half1.display().to_string(), half2.display().to_string()];
            let meta = model_meta(&outcome, &cfg, sources, maps.half1.pixel_size_angstrom);
            save_cref_model(&outcome.model, &meta, &path)?;
            println!("saved the crefDenoiser to {}", path.display());
        }
        (outcome.denoised, outcome.denoised_half2)
    };
    let ev = evaluate_cref(&maps, &denoised, &denoised_half2, truth.as_ref(), 1.0)?;
    let known = maps.half1.pixel_size_angstrom.is_some();
    println!(
        "RMSE(FSC_FD², C_ref²): {:.4} (average, FSC_FD = 1) → {:.4} (denoised)",
        ev.rmse_identity, ev.rmse_denoised
    );
    println!(
        "FSC-0.5: {} (M1, M2) → {} (D2, M1), change {}",
        angstrom(ev.fsc05_halves, known),
        angstrom(ev.fsc05_denoised_half, known),
        change(ev.fsc05_halves, ev.fsc05_denoised_half, known)
    );
    if let (Some(a), Some(d)) = (ev.mean_fsc_average_vs_truth, ev.mean_fsc_denoised_vs_truth) {
        println!(
            "FSC-0.5 against the truth: {} (average) → {} (denoised), change {}; mean FSC {a:.4} → {d:.4}",
            angstrom(ev.fsc05_average_vs_truth, known),
            angstrom(ev.fsc05_denoised_vs_truth, known),
            change(ev.fsc05_average_vs_truth, ev.fsc05_denoised_vs_truth, known)
        );
    }
    crate::io::mrc::write_volume(output, &denoised)
        .with_context(|| format!("writing {}", output.display()))?;
    println!("wrote {}", output.display());
    Ok(())
}
