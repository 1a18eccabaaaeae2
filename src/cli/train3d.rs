//! `cryolens train-3d`: noise2noise training of a 3D U-net on one even/odd tomogram pair,
//! from scratch or fine-tuning Topaz's `unet-3d-10a`/`unet-3d-20a`, with a progress bar (loss,
//! seconds per step, ETA); see [`crate::train::trainer3d`].

use std::path::PathBuf;

use anyhow::Result;

use crate::device::{ComputeDevice, DeviceChoice};
use crate::models::format;
use crate::train::{LossKind, OptimizerKind, Train3dConfig, Train3dRun, TrainEnd, start_3d};

/// Default learning rate when fine-tuning a pretrained model (`--from-pretrained`).
pub const FINE_TUNE_LEARNING_RATE: f64 = 1e-5;

/// `cryolens train-3d` options.
#[derive(clap::Args, Debug)]
pub struct Train3dArgs {
    /// Even-frame tomogram (MRC volume or TIFF stack).
    #[arg(long)]
    pub even: PathBuf,
    /// Odd-frame tomogram, same shape and voxel size.
    #[arg(long)]
    pub odd: PathBuf,
    /// Architecture when training from scratch: unet-3d-10a | unet-3d-20a | unet-3d (Topaz's
    /// layout, 48 filters) | unet-3d-small | unet-3d-tiny.
    #[arg(long, default_value = "unet-3d-10a")]
    pub arch: String,
    /// Start from this 3D model (unet-3d-10a, unet-3d-20a, a 3D state dict or a Cryolens 3D
    /// model); its architecture replaces `--arch`.
    #[arg(long)]
    pub from_pretrained: Option<String>,
    /// Loss (L0 anneals γ from 2 to 0).
    #[arg(long, value_enum, default_value_t = LossKind::L2)]
    pub loss: LossKind,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adagrad)]
    pub optimizer: OptimizerKind,
    /// Learning rate; default 10⁻³ from scratch (Topaz), 10⁻⁵ with `--from-pretrained`
    /// (Adagrad's first step moves every weight by ≈ lr: 10⁻³ took unet-3d-10a's validation
    /// loss from 0.81 to 1.37 in three steps, 10⁻⁵ lowered it).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Crop edge in voxels (≥ 32; Topaz used 96).
    #[arg(long, default_value_t = 64)]
    pub crop: usize,
    /// Crop pairs per step.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: u64,
    /// Optimisation steps per epoch.
    #[arg(long, default_value_t = 100)]
    pub steps_per_epoch: u64,
    /// Fraction of the longest axis held out as a validation slab (0: none).
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// Fixed validation crops in the held-out slab.
    #[arg(long, default_value_t = 8)]
    pub validation_crops: usize,
    /// Validate every N steps (0: every epoch).
    #[arg(long, default_value_t = 0)]
    pub validate_every: u64,
    /// Train even → odd only (default: both directions).
    #[arg(long)]
    pub one_direction: bool,
    /// No random cube rotations/mirrors.
    #[arg(long)]
    pub no_augment: bool,
    /// Seed of crops, symmetries and initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output: a NAME (saved in the models folder, then usable as `denoise --model NAME`), a
    /// `.safetensors` path, or a folder.
    #[arg(long, short)]
    pub output: String,
    /// Note recorded in the model's JSON.
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Compute device (`gpu`: wgpu; any CPU choice trains on burn Flex).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// Builds the run from the options (reads both tomograms).
///
/// # Errors
/// Unreadable or mismatched tomograms, an unknown architecture.
pub fn build_run(args: &Train3dArgs) -> Result<Train3dRun> {
    let config = Train3dConfig {
        architecture: args.arch.clone(),
        from_pretrained: args.from_pretrained.clone(),
        loss: args.loss,
        optimizer: args.optimizer,
        learning_rate: args.lr.unwrap_or(if args.from_pretrained.is_some() {
            FINE_TUNE_LEARNING_RATE
        } else {
            1e-3
        }),
        epochs: args.epochs,
        steps_per_epoch: args.steps_per_epoch,
        batch: args.batch,
        crop_voxels: args.crop,
        holdout_fraction: args.holdout,
        validation_crops: args.validation_crops,
        both_directions: !args.one_direction,
        augment: !args.no_augment,
        seed: args.seed,
        validate_every_steps: args.validate_every,
    };
    if config.from_pretrained.is_none()
        && crate::models::topaz3d::UNet3dConfig::from_name(&config.architecture).is_none()
    {
        anyhow::bail!(
            "unknown 3D architecture '{}': expected unet-3d-10a, unet-3d-20a, unet-3d, \
             unet-3d-small or unet-3d-tiny",
            config.architecture
        );
    }
    let mut run = Train3dRun::from_files(
        config,
        &args.even,
        &args.odd,
        format::resolve_output(&args.output),
    )?;
    run.command_line = std::iter::once("cryolens".to_string())
        .chain(std::env::args().skip(1))
        .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
        .collect::<Vec<_>>()
        .join(" ");
    run.notes = args.notes.clone();
    Ok(run)
}

/// Runs `cryolens train-3d`.
///
/// # Errors
/// Bad options or data, training failures.
pub fn run(args: &Train3dArgs) -> Result<()> {
    let run = build_run(args)?;
    let device = ComputeDevice::select(args.device)?;
    println!(
        "tomograms: {} / {} ({}×{}×{} voxels, z y x)",
        run.names[0], run.names[1], run.even.depth, run.even.height, run.even.width
    );
    println!("output: {}", run.output.display());
    let crops_per_step = args.batch * if args.one_direction { 1 } else { 2 };
    let mut handle = start_3d(run, device);
    let s_per_step = |crops_per_second: f64| {
        if crops_per_second > 0.0 {
            crops_per_step as f64 / crops_per_second
        } else {
            f64::NAN
        }
    };
    let result = super::train::follow(&mut handle, |st| {
        format!("{:.1} s/step", s_per_step(st.crops_per_second))
    });
    let outcome = result?;
    let st = handle.status();
    println!("device: {}", st.device);
    println!("model: {}", st.architecture);
    println!(
        "{} steps, {:.2} s per step ({} crop pass{} of {}³ voxels per step, forward and backward)",
        outcome.steps,
        s_per_step(outcome.crops_per_second),
        crops_per_step,
        if crops_per_step == 1 { "" } else { "es" },
        args.crop
    );
    match (outcome.end, &outcome.model_path) {
        (TrainEnd::Cancelled, _) | (_, None) => println!("cancelled; no model written"),
        (_, Some(p)) => println!(
            "model: {} (+ {}); denoise with `cryolens denoise --model {} TOMO.mrc -o OUT`",
            p.display(),
            format::meta_path(p).display(),
            p.display()
        ),
    }
    Ok(())
}
