//! `cryolens merge`: the denoised image's low frequencies merged into the raw image's high
//! frequencies (Palovcak et al. 2020, supplement S2.4; [`crate::fourier::merge`]).
//!
//! - One pair: `cryolens merge RAW.mrc DENOISED.mrc --cutoff-angstrom X --width-angstrom W
//!   -o OUT.mrc`.
//! - A batch: `cryolens merge MIC… --denoised-dir DEN/ --cutoff-angstrom X --width-angstrom W
//!   -o OUT/ [--shard K/N] [--redo]`: each micrograph's denoised image is the file a
//!   `cryolens denoise MIC… -o DEN/` batch wrote for it (the same folder-keeping names,
//!   [`super::batch::output_paths`]), and the merged images land under `OUT/` by the same
//!   rule, recorded in `OUT/cryolens_manifest.jsonl` ([`super::batch`]) so that a rerun merges
//!   only what is missing. The manifest's "model" is the denoised folder, with the checksum of
//!   that folder's own manifest: denoising again there makes the merges out of date.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::batch::{BatchRun, MANIFEST_NAME, Shard, output_paths, run_batch, sha256_file};
use crate::fourier::merge::{BandNorm, MergeFilter, MergeReport, Merger};

/// `cryolens merge` options.
#[derive(clap::Args, Debug)]
pub struct MergeArgs {
    /// The raw (noisy) micrograph and the denoised one (MRC or TIFF, same shape): the raw
    /// image's high frequencies and the denoised image's low frequencies are kept. With
    /// `--denoised-dir`: any number of raw micrographs.
    #[arg(required = true, value_name = "RAW DENOISED | MIC…")]
    pub inputs: Vec<PathBuf>,
    /// Batch: the folder a `cryolens denoise MIC… -o DIR` run wrote the denoised micrographs
    /// into; `--output` is then a folder.
    #[arg(long, value_name = "DIR")]
    pub denoised_dir: Option<PathBuf>,
    /// Resolution in Å above which only the raw image contributes (end of the merge band).
    #[arg(long)]
    pub cutoff_angstrom: f32,
    /// Width in Å of the soft edge: the band runs from cutoff + width to cutoff Å.
    #[arg(long)]
    pub width_angstrom: f32,
    /// Output MRC (float32, with the pixel size used); with `--denoised-dir` the output folder.
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
    /// Batch: take only share K of N of the sorted micrographs (`--shard 2/8`).
    #[arg(long, value_name = "K/N", requires = "denoised_dir")]
    pub shard: Option<Shard>,
    /// Batch: merge every micrograph again, even those the manifest holds as done.
    #[arg(long, requires = "denoised_dir")]
    pub redo: bool,
}

/// Runs `cryolens merge`: one pair, or a batch with `--denoised-dir`.
///
/// # Errors
/// Unreadable inputs, shape or pixel-size mismatch, missing pixel size, invalid cutoff or
/// width, an unwritable output; in a batch, any failed micrograph (after all were tried).
pub fn run(args: &MergeArgs) -> Result<()> {
    let norm = BandNorm::parse(&args.band_norm).map_err(anyhow::Error::msg)?;
    MergeFilter::new(args.cutoff_angstrom, args.width_angstrom).context("merging")?;
    if let Some(dir) = &args.denoised_dir {
        return run_batch_merge(args, dir, norm);
    }
    let [raw, denoised] = args.inputs.as_slice() else {
        bail!(
            "merge takes the raw and the denoised micrograph ({} given; for many micrographs give --denoised-dir DIR and an output folder)",
            args.inputs.len()
        );
    };
    let report = merge_pair(args, norm, raw, denoised, &args.output)?;
    println!(
        "merged {} (low frequencies) into {} (high frequencies): band {:.2}-{:.2} Å, pixel {:.4} Å, denoised amplitudes × {:.4} (band {} matched, {} components) -> {}",
        denoised.display(),
        raw.display(),
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

/// Merges one pair into `out` (written atomically).
fn merge_pair(
    args: &MergeArgs,
    norm: BandNorm,
    raw_path: &Path,
    denoised_path: &Path,
    out: &Path,
) -> Result<MergeReport> {
    let mut raw = crate::io::read_micrograph(raw_path)
        .with_context(|| format!("reading the raw image {}", raw_path.display()))?;
    let mut denoised = crate::io::read_micrograph(denoised_path)
        .with_context(|| format!("reading the denoised image {}", denoised_path.display()))?;
    if let Some(p) = args.pixel_size_angstrom {
        raw.pixel_size_angstrom = Some(p);
        denoised.pixel_size_angstrom = Some(p);
    }
    for (image, path) in [(&raw, raw_path), (&denoised, denoised_path)] {
        image
            .check_finite()
            .with_context(|| path.display().to_string())?;
    }
    let (merged, report) = Merger::new(&raw, &denoised)
        .and_then(|m| m.merge_with_norm(args.cutoff_angstrom, args.width_angstrom, norm))
        .with_context(|| {
            format!(
                "merging {} into {}",
                denoised_path.display(),
                raw_path.display()
            )
        })?;
    crate::io::mrc::write_image(out, &merged)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(report)
}

/// The batch form: every micrograph of this shard not merged yet, with its denoised image
/// from `denoised_dir`.
fn run_batch_merge(args: &MergeArgs, denoised_dir: &Path, norm: BandNorm) -> Result<()> {
    if !denoised_dir.is_dir() {
        bail!(
            "{}: not a folder (give the folder `cryolens denoise MIC… -o DIR` wrote)",
            denoised_dir.display()
        );
    }
    let denoised = output_paths(denoised_dir, &args.inputs, ".mrc")?;
    let outputs = output_paths(&args.output, &args.inputs, ".mrc")?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    // Denoising again into the folder appends to its manifest: a new checksum, new merges.
    let denoise_manifest = denoised_dir.join(MANIFEST_NAME);
    let denoised_stamp = if denoise_manifest.exists() {
        sha256_file(&denoise_manifest)?
    } else {
        String::new()
    };
    let options = format!(
        "cutoff {} Å, width {} Å, band {}, pixel {:?}",
        args.cutoff_angstrom,
        args.width_angstrom,
        norm.name(),
        args.pixel_size_angstrom
    );
    let batch = BatchRun {
        inputs: &args.inputs,
        outputs: &outputs,
        shard: args.shard,
        redo: args.redo,
        model: (
            format!("denoised in {}", denoised_dir.display()),
            denoised_stamp,
        ),
        options,
        device: "cpu".into(),
        noun: "micrographs",
    };
    let index: std::collections::HashMap<&Path, &PathBuf> = args
        .inputs
        .iter()
        .map(PathBuf::as_path)
        .zip(&denoised)
        .collect();
    let bar = super::progress_bar(
        super::batch::shard_items(&args.inputs, args.shard).len() as u64,
        "micrographs",
    );
    let result = run_batch(
        &batch,
        &args.output,
        |raw, out| {
            let den = index[raw];
            if !den.exists() {
                bail!(
                    "no denoised image {} (denoise it first: cryolens denoise {} -o {})",
                    den.display(),
                    raw.display(),
                    denoised_dir.display()
                );
            }
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            merge_pair(args, norm, raw, den, out).map(|_| ())
        },
        |line| {
            bar.suspend(line);
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    result
}
