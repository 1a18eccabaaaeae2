//! `cryolens score`: how close a micrograph and its filtered and denoised versions come to
//! the noise-free truth of a simulation ([`crate::metrics::truth`]): PSNR, SSIM and where
//! the FRC with the truth (its component-weighted mean, and where it falls below 0.5; "below"
//! when it starts below, as a CTF makes it at the lowest frequencies), one row per image, as the baselines table of
//! Noise-Transfer2Clean (Li et al. 2022, Table 1) scores them on simulated data.
//!
//! Rows: the micrograph as given; its low-pass (Topaz's binning, `--lowpass-factor`) and
//! Gaussian (`--gaussian-angstrom`) baselines; each `--model`'s denoising of it; and any other
//! image given with `--image` (e.g. another program's output on the same micrograph).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::fourier::Lowpass;
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::truth::{TruthScores, score_against_truth};
use crate::models::ModelSpec;

/// `cryolens score` options.
#[derive(clap::Args, Debug)]
pub struct ScoreArgs {
    /// The simulated micrograph (a simulation's `noisy.mrc`).
    pub micrograph: PathBuf,
    /// Its noise-free truth (the simulation's `truth.mrc`, same shape and units).
    #[arg(long)]
    pub truth: PathBuf,
    /// Denoise the micrograph with these models and score each (repeatable).
    #[arg(long)]
    pub model: Vec<String>,
    /// Score these images too (same shape; e.g. another program's denoising).
    #[arg(long)]
    pub image: Vec<PathBuf>,
    /// Bin factor of the low-pass baseline (Topaz's binning low-pass).
    #[arg(long, default_value_t = 4.0)]
    pub lowpass_factor: f32,
    /// σ of the Gaussian baseline in Å (needs the pixel size).
    #[arg(long, default_value_t = 4.0)]
    pub gaussian_angstrom: f32,
    /// Compute device for the models.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Write the table as CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

/// Runs `cryolens score`: prints the table and writes the CSV.
///
/// # Errors
/// Unreadable images, a truth of another shape or pixel size, a constant truth, a Gaussian
/// baseline without a pixel size, a model that cannot be loaded or fails.
pub fn run(args: &ScoreArgs) -> Result<()> {
    let truth = crate::io::read_micrograph(&args.truth)?;
    let micrograph = crate::io::read_micrograph(&args.micrograph)?;
    if (truth.width, truth.height) != (micrograph.width, micrograph.height) {
        anyhow::bail!(
            "{}: the truth and the micrograph must have the same shape, but the truth is {}×{} pixels and the micrograph {}×{} (give the truth.mrc of the same simulation)",
            args.truth.display(),
            truth.width,
            truth.height,
            micrograph.width,
            micrograph.height
        );
    }
    let mut rows: Vec<(String, Image)> = vec![("raw".into(), micrograph.clone())];
    let lowpass = Lowpass::Bin(args.lowpass_factor);
    rows.push((
        format!("low-pass (binned {}×)", args.lowpass_factor),
        lowpass.apply(&micrograph)?,
    ));
    let gaussian = Lowpass::GaussianAngstrom(args.gaussian_angstrom)
        .apply(&micrograph)
        .with_context(|| format!("{}: the Gaussian baseline", args.micrograph.display()))?;
    rows.push((
        format!("Gaussian (σ {} Å)", args.gaussian_angstrom),
        gaussian,
    ));
    if !args.model.is_empty() {
        let device = ComputeDevice::select(args.device)?;
        println!("device: {}", device.describe());
        for name in &args.model {
            let denoiser = Denoiser2d::load(&ModelSpec::parse(name)?, &device)?;
            let out = denoiser
                .denoise(&micrograph, &TileConfig::default(), &Progress::new())
                .with_context(|| format!("denoising with {name}"))?;
            rows.push((name.clone(), out));
        }
    }
    for path in &args.image {
        let image = crate::io::read_micrograph(path)?;
        rows.push((path.display().to_string(), image));
    }
    let mut scored: Vec<(String, TruthScores)> = Vec::with_capacity(rows.len());
    for (name, image) in rows {
        let s = score_against_truth(&image, &truth, 1.0)
            .with_context(|| format!("{name} against {}", args.truth.display()))?;
        scored.push((name, s));
    }
    let unit = if truth.pixel_size_angstrom.is_some() {
        "Å"
    } else {
        "px"
    };
    println!(
        "{:<32} {:>9} {:>7} {:>9} {:>12}",
        "image",
        "PSNR dB",
        "SSIM",
        "mean FRC",
        format!("FRC-0.5 {unit}")
    );
    let mut csv = String::from("image,psnr_db,ssim,frc_mean,frc_half_resolution\n");
    for (name, s) in &scored {
        // No crossing: above 0.5 up to Nyquist, or below it from the first ring.
        let res = match s.frc_half_resolution() {
            Some(r) => format!("{r:.2}"),
            None if s.frc.rings.first().is_some_and(|r| r.value.frc >= 0.5) => "Nyquist".into(),
            None => "below".into(),
        };
        println!(
            "{name:<32} {:>9.2} {:>7.3} {:>9.3} {res:>12}",
            s.psnr_db, s.ssim, s.frc_mean
        );
        let _ = writeln!(
            csv,
            "\"{name}\",{},{},{},{res}",
            s.psnr_db, s.ssim, s.frc_mean
        );
    }
    if let Some(path) = &args.csv {
        crate::io::atomic::write_atomically(path, csv.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
