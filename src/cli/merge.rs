//! `cryolens merge RAW.mrc DENOISED.mrc --cutoff-angstrom X --width-angstrom W --output OUT.mrc`:
//! the denoised image's low frequencies merged into the raw image's high frequencies
//! (Palovcak et al. 2020, supplement S2.4; [`crate::fourier::merge`]).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::fourier::merge::{BandNorm, MergeFilter, Merger};

/// `cryolens merge` options.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The raw (noisy) micrograph (MRC or TIFF): its high frequencies are kept.
    pub raw: PathBuf,
    /// The denoised micrograph, same shape: its low frequencies are kept.
    pub denoised: PathBuf,
    /// Resolution in Å above which only the raw image contributes (end of the merge band).
    #[arg(long)]
    pub cutoff_angstrom: f32,
    /// Width in Å of the soft edge: the band runs from cutoff + width to cutoff Å.
    #[arg(long)]
    pub width_angstrom: f32,
    /// Output MRC (float32, with the pixel size used).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Pixel size in Å/px for both inputs, overriding their headers (needed when neither
    /// header has one); 0.05–100 Å/px.
    #[arg(long, value_parser = crate::sampling::parse_pixel_size)]
    pub pixel_size_angstrom: Option<f32>,
    /// Band normalisation (restore S2.4): `std` equalises the standard deviation of the
    /// Fourier amplitudes in the merge band (default), `rms` their root mean square.
    #[arg(long, default_value = "std", value_parser = ["std", "rms"])]
    pub band_norm: String,
}

/// Runs `cryolens merge`: reads both images, merges, writes the output and prints the
/// merge-band normalisation.
///
/// # Errors
/// Unreadable inputs, shape or pixel-size mismatch, missing pixel size, invalid cutoff or
/// width, an unwritable output.
pub fn run(args: &MergeArgs) -> Result<()> {
    let mut raw = crate::io::read_micrograph(&args.raw)
        .with_context(|| format!("reading the raw image {}", args.raw.display()))?;
    let mut denoised = crate::io::read_micrograph(&args.denoised)
        .with_context(|| format!("reading the denoised image {}", args.denoised.display()))?;
    if let Some(p) = args.pixel_size_angstrom {
        anyhow::ensure!(
            p.is_finite() && p > 0.0,
            "--pixel-size-angstrom must be a finite number > 0 (got {p})"
        );
        raw.pixel_size_angstrom = Some(p);
        denoised.pixel_size_angstrom = Some(p);
    }
    for (image, path) in [(&raw, &args.raw), (&denoised, &args.denoised)] {
        image
            .check_finite()
            .with_context(|| path.display().to_string())?;
    }
    let norm = BandNorm::parse(&args.band_norm).map_err(anyhow::Error::msg)?;
    MergeFilter::new(args.cutoff_angstrom, args.width_angstrom).context("merging")?;
    let (merged, report) = Merger::new(&raw, &denoised)
        .and_then(|m| m.merge_with_norm(args.cutoff_angstrom, args.width_angstrom, norm))
        .with_context(|| {
            format!(
                "merging {} into {}",
                args.denoised.display(),
                args.raw.display()
            )
        })?;
    crate::io::mrc::write_image(&args.output, &merged)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!(
        "merged {} (low frequencies) into {} (high frequencies): band {:.2}-{:.2} Å, pixel {:.4} Å, denoised amplitudes × {:.4} (band {} matched, {} components) -> {}",
        args.denoised.display(),
        args.raw.display(),
        args.cutoff_angstrom + args.width_angstrom,
        args.cutoff_angstrom,
        report.pixel_size_angstrom,
        report.scale,
        report.band_norm.name(),
        report.band_components,
        args.output.display()
    );
    Ok(())
}
