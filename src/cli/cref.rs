//! `cryolens cref HALF1 HALF2 [--mask M] --output OUT.mrc [--epochs N] [--patch P]`: trains a
//! crefDenoiser U-net on the pair's own patches with the C_ref loss L_C (Agarwal et al. 2024,
//! eq. 5), writes the denoised half-map average, and prints the loss per epoch and the paper's
//! two evaluation numbers: RMSE(FSC_FD², C_ref²) and the FSC-0.5 change (section 3.1–3.2).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use crate::device::{ComputeDevice, DeviceChoice};
use crate::halfmap::HalfMaps;
use crate::jobs::Progress;
use crate::train::cref::{CrefTrainConfig, evaluate_cref, train_cref};

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
    /// Training epochs (passes over all patches).
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Patch edge in voxels, a multiple of 32 (the paper's 96; 32 for a 64³ map).
    #[arg(long, default_value_t = 96)]
    pub patch: usize,
    /// Distance between patch starts in voxels (default: the patch edge, no overlap).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Initial Adam learning rate (×0.7 every 10 epochs).
    #[arg(long, default_value_t = 3e-4)]
    pub lr: f64,
    /// The true map, when known (synthetic half-maps): also report FSC-0.5 against it.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Take C_ref from the whole maps' FSC instead of each patch pair's FSC.
    #[arg(long)]
    pub global_c_ref: bool,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
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
/// Unreadable or mismatched maps, bad training options, training failures, an unwritable
/// output.
pub fn run(args: &CrefArgs) -> Result<()> {
    let maps = HalfMaps::read(&args.half1, &args.half2, args.mask.as_deref())?;
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
    let cfg = CrefTrainConfig {
        epochs: args.epochs,
        patch_px: args.patch,
        stride_px: args.stride.unwrap_or(args.patch),
        learning_rate: args.lr,
        device,
        c_ref_per_patch: !args.global_c_ref,
        ..CrefTrainConfig::default()
    };
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
        "{} patches of {}³; L_C {:.4} (untrained) → {:.4} (trained); {:.1} s training",
        outcome.patches,
        args.patch,
        outcome.initial_loss,
        outcome.final_loss,
        outcome.train_seconds
    );
    for (i, l) in outcome.loss_history.iter().enumerate() {
        println!("epoch {:>3}: L_C {l:.4}", i + 1);
    }
    let ev = evaluate_cref(&maps, &outcome, truth.as_ref(), 1.0)?;
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
    if truth.is_some() {
        println!(
            "FSC-0.5 against the truth: {} (average) → {} (denoised), change {}",
            angstrom(ev.fsc05_average_vs_truth, known),
            angstrom(ev.fsc05_denoised_vs_truth, known),
            change(ev.fsc05_average_vs_truth, ev.fsc05_denoised_vs_truth, known)
        );
    }
    crate::io::mrc::write_volume(&args.output, &outcome.denoised)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("wrote {}", args.output.display());
    Ok(())
}
