//! `cryolens cref HALF1 HALF2 [--mask M] --output OUT.mrc [--epochs N] [--patch P]
//! [--save-model NAME | --model NAME]`: trains a crefDenoiser U-net on the pair's own patches
//! with the C_ref loss L_C (Agarwal et al. 2024, eq. 5) — or applies a saved one — writes the
//! denoised half-map average, and prints the loss per epoch, the independent-noise check and
//! the paper's two evaluation numbers: RMSE(FSC_FD², C_ref²) and the FSC-0.5 change
//! (sections 3.1–3.2).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::analysis::halfmap::HalfMaps;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Progress;
use crate::models::format::{cref_model_path, load_cref_model, save_cref_model};
use crate::train::cref::{CrefTrainConfig, apply_cref, evaluate_cref, model_meta, train_cref};

/// `cryolens cref` options.
#[derive(clap::Args, Debug)]
pub struct CrefArgs {
    /// First half-map (MRC, or a TIFF stack).
    pub half1: PathBuf,
    /// Second half-map, same shape and voxel size.
    pub half2: PathBuf,
    /// Mask (same shape, 0…1), multiplied in before standardising and into every FSC.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Where to write the denoised average (float32 MRC).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Maximum training epochs.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Patch edge in voxels, a multiple of 32 (the paper's 96; 32 for a 64³ map).
    #[arg(long, default_value_t = 96)]
    pub patch: usize,
    /// Random patches (optimiser steps) per epoch.
    #[arg(long, default_value_t = 32)]
    pub patches_per_epoch: usize,
    /// Do not rotate/reflect patches (the cube's 48 symmetries).
    #[arg(long)]
    pub no_augment: bool,
    /// Stop after this many epochs without a better independent-noise score (0: never).
    #[arg(long, default_value_t = 5)]
    pub patience: usize,
    /// Initial Adam learning rate (×0.7 every 10 epochs).
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
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
    /// Voxel size in Å for both maps (and the mask), whatever their headers say.
    #[arg(long, value_parser = crate::sampling::parse_pixel_size)]
    pub pixel_size: Option<f32>,
    /// Use the headers' voxel sizes even where they differ by more than 1 % or lie outside
    /// 0.05–100 Å (the first known size is used for all).
    #[arg(long)]
    pub force: bool,
}

fn angstrom(r: Option<f64>, known: bool) -> String {
    let unit = if known { "Å" } else { "voxels" };
    r.map(|v| format!("{v:.2} {unit}"))
        .unwrap_or_else(|| "not reached up to Nyquist".into())
}

fn change(a: Option<f64>, b: Option<f64>, known: bool) -> String {
    match (a, b) {
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
    let sampling = crate::sampling::SamplingOverride {
        pixel_size: args.pixel_size,
        force: args.force,
    };
    let maps = HalfMaps::read(&args.half1, &args.half2, args.mask.as_deref(), &sampling)?;
    let truth = match &args.truth {
        Some(p) => Some(
            crate::io::read(p)
                .with_context(|| format!("reading {}", p.display()))?
                .1,
        ),
        None => None,
    };
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
        let cfg = CrefTrainConfig {
            epochs: args.epochs,
            patch_px: args.patch,
            patches_per_epoch: args.patches_per_epoch,
            augment: !args.no_augment,
            patience_epochs: args.patience,
            learning_rate: args.lr,
            device,
            ..CrefTrainConfig::default()
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
            "{} patches of {}³ per epoch, {} epochs, kept epoch {}; L_C {:.4} (untrained) → {:.4} (kept); {:.1} s training",
            outcome.patches,
            args.patch,
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
            let sources = vec![
                args.half1.display().to_string(),
                args.half2.display().to_string(),
            ];
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
    crate::io::mrc::write_volume(&args.output, &denoised)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}
