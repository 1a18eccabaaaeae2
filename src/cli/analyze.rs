//! `cryolens analyze`: how much signal, noise and bias a micrograph (and a denoiser) has.
//!
//! From two independent halves of one exposure (even/odd frame sums, or halves made by
//! count splitting a single counting-mode sum), prints and saves: the Frank & Al-Ali SNR of
//! the raw halves; with `--model`, Palovcak et al.'s signal/noise/bias variances and the SNR,
//! SNBR and SBR after denoising (supplement eq. 15–20, 23) and Topaz's even/odd SNR in dB; and
//! per Fourier ring (eq. 24) the FRC, SSNR and the variance components, with the frequency in
//! 1/Å when the pixel size is known.
//!
//! Given micrographs and `--output DIR` instead of named halves, a batch: each micrograph's
//! halves are found beside it (even/odd sums, [`crate::analysis::find_half_pair`]) or made by
//! count splitting, and its numbers and curves go to `DIR/<name>.json` and `.csv`; `--shard
//! K/N` and the manifest make it resumable as `cryolens denoise` ([`super::batch`]).
//!
//! With `--thin P[,P…]`, a dose titration instead (Topaz-Denoise Results 3): the SNR of the
//! raw, low-passed and denoised micrograph at fractions P of its exposure, made by binomial
//! thinning ([`crate::analysis::titration`]).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::analysis::{HalvesSource, halves_for, parse_fractions, read_half_pair, titrate};
use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::fourier::Lowpass;
use crate::image::Image;
use crate::io::atomic::write_atomically;
use crate::jobs::Progress;
use crate::metrics::{self, CountSplitOptions, FrequencyUnit, GainSource};
use crate::models::ModelSpec;

/// `cryolens analyze` options.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Micrographs to analyse as a batch (with `--output`): each one's halves are the even/odd
    /// sums beside it, else a count split.
    #[arg(conflicts_with_all = ["even", "split_counts"], requires = "output")]
    pub files: Vec<PathBuf>,
    /// Batch output folder: `<name>.json` and `<name>.csv` per micrograph, and the manifest.
    #[arg(short, long, requires = "files", conflicts_with_all = ["json", "csv", "booth_csv", "thin"])]
    pub output: Option<PathBuf>,
    /// Batch: take only share K of N of the sorted micrographs (`--shard 2/8`).
    #[arg(long, value_name = "K/N", requires = "files")]
    pub shard: Option<super::batch::Shard>,
    /// Batch: redo every micrograph, even those the manifest records as done.
    #[arg(long, requires = "files")]
    pub redo: bool,
    /// Even half (frame sum of even frames).
    #[arg(long, requires = "odd", conflicts_with = "split_counts")]
    pub even: Option<PathBuf>,
    /// Odd half.
    #[arg(long, requires = "even")]
    pub odd: Option<PathBuf>,
    /// A single counting-mode exposure to split into two halves (binomial count splitting).
    #[arg(long, value_name = "MIC")]
    pub split_counts: Option<PathBuf>,
    /// Gain (image units per detected electron) for count splitting; estimated when omitted.
    #[arg(long)]
    pub gain: Option<f64>,
    /// Use data that fail a check: split even if the values are not integer counts × gain
    /// (rounds them); accept even/odd halves whose pixel sizes differ by more than 1 % or
    /// lie outside 0.05–100 Å/px.
    #[arg(long)]
    pub force: bool,
    /// Seed of the count split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Denoiser for the signal/noise/bias analysis (unet, unet-small, fcnn, affine or PATH).
    #[arg(long)]
    pub model: Option<String>,
    /// Each micrograph's CTF, for restore models trained on phase-flipped micrographs (the
    /// halves are flipped before denoising and flipped back after).
    #[command(flatten)]
    pub ctf: super::ctf_table::CtfArgs,
    /// Compute device for the denoiser.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Ring width in Fourier pixels for the per-ring curves.
    #[arg(long, default_value_t = 4.0)]
    pub ring_width: f32,
    /// Write the numbers as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the per-ring curves as CSV here (with `--thin`: the titration table).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Dose titration (Topaz-Denoise Results 3): thin the `--split-counts` micrograph to these
    /// fractions of its exposure (each in (0, 0.5]; two disjoint thinned copies per fraction)
    /// and print the SNR of raw, low-passed and (with `--model`) denoised images against the
    /// exposure in e/Å²; replaces the halves analysis.
    #[arg(long, value_name = "P[,P…]", requires = "split_counts")]
    pub thin: Option<String>,
    /// Bin factor of the low-pass compared in the titration (Topaz's 16×).
    #[arg(long, default_value_t = 16.0)]
    pub lowpass_factor: f32,
    /// Low-pass the titration with a Gaussian of this real-space σ in Å instead of binning
    /// (restore's figures: 20 Å); needs the pixel size.
    #[arg(long, value_name = "SIGMA_A")]
    pub lowpass_angstrom: Option<f32>,
    /// Write Booth's SSNR of the full micrograph (half 1 + half 2) here: the rotational power
    /// spectrum, the background through its minima (CTF zeros) and (P − N)/N per ring (Booth
    /// et al. 2004; restore supplement S3), beside the FRC-based SSNR of `--csv`.
    #[arg(long, value_name = "CSV")]
    pub booth_csv: Option<PathBuf>,
}

/// Runs the analysis, prints a summary and writes the JSON/CSV files.
///
/// # Errors
/// Missing or unreadable inputs, halves of different shapes or pixel sizes, data that are
/// not counts (without `--force`), a model that cannot be loaded.
pub fn run(args: &AnalyzeArgs) -> Result<()> {
    if let Some(fractions) = &args.thin {
        return titration(args, fractions);
    }
    if let Some(out) = &args.output {
        return batch(args, out);
    }
    let (m1, m2, summary) = halves(args)?;
    let inputs = match (&args.even, &args.odd, &args.split_counts) {
        (Some(e), Some(o), _) => format!("{} and {}", e.display(), o.display()),
        (_, _, Some(m)) => m.display().to_string(),
        _ => String::new(),
    };
    let mic = args
        .even
        .as_ref()
        .or(args.split_counts.as_ref())
        .context("no micrograph named")?;
    let denoiser = load_denoiser(args)?;
    let files = Outputs {
        json: args.json.as_deref(),
        csv: args.csv.as_deref(),
        booth_csv: args.booth_csv.as_deref(),
    };
    analyse(args, mic, m1, m2, summary, denoiser.as_ref(), files).with_context(|| inputs.clone())
}

/// The `--model` denoiser loaded on the `--device`, with the `--ctf` table it needs (read
/// once for a whole batch) and the device described.
struct LoadedDenoiser {
    denoiser: Denoiser2d,
    ctfs: Option<super::ctf_table::CtfTable>,
    device: String,
}

/// The `--model` denoiser, if one is asked for (see [`LoadedDenoiser`]).
fn load_denoiser(args: &AnalyzeArgs) -> Result<Option<LoadedDenoiser>> {
    let Some(model) = &args.model else {
        return Ok(None);
    };
    let spec = ModelSpec::parse(model)?;
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    let denoiser = Denoiser2d::load(&spec, &device)?;
    let ctfs = args.ctf.table_for(&denoiser)?;
    Ok(Some(LoadedDenoiser {
        denoiser,
        ctfs,
        device: device.describe(),
    }))
}

/// `cryolens analyze MIC… -o DIR`: every micrograph of this shard not done yet, its halves
/// found beside it or count split, into `DIR/<name>.json` and `.csv` (see the module docs).
fn batch(args: &AnalyzeArgs, out: &Path) -> Result<()> {
    let outputs = super::batch::output_paths(out, &args.files, ".json")?;
    let denoiser = load_denoiser(args)?;
    let model = match (&args.model, &denoiser) {
        (Some(name), Some(_)) => {
            let sha = crate::io::provenance::sha256_file(&ModelSpec::parse(name)?.weights_path()?)?;
            (name.clone(), sha)
        }
        _ => ("none".into(), String::new()),
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let run = super::batch::BatchRun {
        inputs: &args.files,
        outputs: &outputs,
        shard: args.shard,
        redo: args.redo,
        model,
        options: format!(
            "analyze ring_width={} gain={:?} seed={} force={}",
            args.ring_width, args.gain, args.seed, args.force
        ),
        device: denoiser
            .as_ref()
            .map_or_else(|| "none (no --model)".into(), |d| d.device.clone()),
        noun: "micrographs",
    };
    let split = split_options(args);
    let process = |input: &Path, json: &Path| -> Result<()> {
        let image = crate::io::read_micrograph(input)?;
        image.check_finite()?;
        let (m1, m2, source) = halves_for(&image, Some(input), &split)?;
        let summary = json!({
            "micrograph": input,
            "halves": source.describe(),
            "pixel_size_angstrom": m1.pixel_size_angstrom,
        });
        if let Some(parent) = json.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let csv = json.with_extension("csv");
        let files = Outputs {
            json: Some(json),
            csv: Some(&csv),
            booth_csv: None,
        };
        analyse(args, input, m1, m2, summary, denoiser.as_ref(), files)
    };
    super::batch::run_batch(&run, out, process, |line| line())
}

/// Where [`analyse`] writes its numbers and curves.
#[derive(Clone, Copy)]
struct Outputs<'a> {
    json: Option<&'a Path>,
    csv: Option<&'a Path>,
    booth_csv: Option<&'a Path>,
}

/// The analysis of two checked halves of micrograph `mic` (whose name finds its CTF).
fn analyse(
    args: &AnalyzeArgs,
    mic: &Path,
    m1: Image,
    m2: Image,
    mut summary: serde_json::Value,
    denoiser: Option<&LoadedDenoiser>,
    files: Outputs<'_>,
) -> Result<()> {
    let raw = metrics::frank_al_ali_snr(&m1, &m2)?;
    println!(
        "raw halves: cc = {:.5}, SNR = {:.5} ({})",
        raw.cc,
        raw.snr,
        db(raw.snr_db)
    );
    summary["cc"] = json!(raw.cc);
    summary["snr"] = json!(raw.snr);
    summary["snr_db"] = json!(raw.snr_db);
    let frc = metrics::frc(&m1, &m2, args.ring_width)?;
    if let Some(path) = files.booth_csv {
        let mut full = m1.clone();
        full.data
            .iter_mut()
            .zip(&m2.data)
            .for_each(|(a, b)| *a += b);
        write_booth(&full, path)?;
    }
    let mut rings = None;
    if let Some(LoadedDenoiser { denoiser, ctfs, .. }) = denoiser {
        let tiles = TileConfig::default();
        // Both halves are one micrograph: one CTF, found by the micrograph's name.
        let ctf = super::ctf_table::ctf_for(denoiser, ctfs.as_ref(), mic)
            .with_context(|| mic.display().to_string())?;
        let denoise = |half: &Image, which: &str| {
            denoiser
                .denoise_with_ctf(half, ctf.as_ref(), true, &tiles, &Progress::new())
                .with_context(|| format!("denoising half {which}"))
        };
        let d1 = denoise(&m1, "1")?;
        let d2 = denoise(&m2, "2")?;
        let v = metrics::variance_estimate(&m1, &m2, &d1, &d2)?;
        let eo = metrics::topaz_even_odd_snr_of(&m1, &m2, &d1, &d2)?;
        println!(
            "with {}: SNR denoised = {:.5} ({}), SNBR = {:.5}, SBR = {:.3}; Topaz even/odd SNR = {}",
            denoiser.label(),
            v.snr_denoised,
            db(metrics::to_db(v.snr_denoised)),
            v.snbr,
            v.sbr,
            db(eo.snr_db)
        );
        summary["model"] = json!(denoiser.describe());
        summary["snr_denoised"] = json!(v.snr_denoised);
        summary["snr_denoised_db"] = json!(metrics::to_db(v.snr_denoised));
        summary["snbr"] = json!(v.snbr);
        summary["sbr"] = json!(v.sbr);
        summary["variance"] = json!({
            "signal": v.signal, "noise_noisy": v.noise_noisy,
            "noise_denoised": v.noise_denoised, "bias": v.bias,
        });
        summary["topaz_even_odd_snr_db"] = json!(eo.snr_db);
        rings = Some(metrics::variance_estimate_rings(
            &m1,
            &m2,
            &d1,
            &d2,
            args.ring_width,
        )?);
    }
    if let Some(path) = files.json {
        let text = serde_json::to_string_pretty(&summary)?;
        write_atomically(path, text.as_bytes())?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = files.csv {
        let unit = match frc.unit {
            FrequencyUnit::PerAngstrom => "frequency_per_angstrom,resolution_angstrom",
            FrequencyUnit::PerPixel => "frequency_per_pixel,resolution_pixels",
        };
        let mut csv = format!("{unit},components,frc,ssnr_half,ssnr_full");
        if rings.is_some() {
            csv.push_str(",signal,noise_noisy,noise_denoised,bias,snr_noisy,snr_denoised");
        }
        csv.push('\n');
        for (i, r) in frc.rings.iter().enumerate() {
            let _ = write!(
                csv,
                "{},{},{},{},{},{}",
                r.frequency,
                1.0 / r.frequency,
                r.components,
                r.value.frc,
                r.value.ssnr_half,
                r.value.ssnr_full
            );
            if let Some(v) = rings.as_ref().and_then(|c| c.rings.get(i)).map(|r| r.value) {
                let _ = write!(
                    csv,
                    ",{},{},{},{},{},{}",
                    v.signal, v.noise_noisy, v.noise_denoised, v.bias, v.snr_noisy, v.snr_denoised
                );
            }
            csv.push('\n');
        }
        write_atomically(path, csv.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `--thin`: the dose titration of the `--split-counts` micrograph, as a table and CSV.
fn titration(args: &AnalyzeArgs, fractions: &str) -> Result<()> {
    let fractions = parse_fractions(fractions)?;
    let Some(mic) = &args.split_counts else {
        bail!("--thin needs a counting-mode micrograph: give --split-counts MIC");
    };
    let image = crate::io::read_micrograph(mic)?;
    let lowpass = match args.lowpass_angstrom {
        Some(s) => Lowpass::GaussianAngstrom(s),
        None => Lowpass::Bin(args.lowpass_factor),
    };
    let denoiser = match &args.model {
        Some(model) => {
            let device = ComputeDevice::select(args.device)?;
            println!("device: {}", device.describe());
            Some(Denoiser2d::load(&ModelSpec::parse(model)?, &device)?)
        }
        None => None,
    };
    let t = titrate(
        &image,
        &fractions,
        lowpass,
        denoiser.as_ref(),
        &split_options(args),
        &Progress::new(),
    )
    .with_context(|| format!("dose titration of {}", mic.display()))?;
    print!("{}", t.table());
    if let Some(path) = &args.booth_csv {
        write_booth(&image, path)?;
    }
    if let Some(path) = &args.csv {
        write_atomically(path, t.csv().as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Booth's SSNR of the whole micrograph `full` (Welch spectrum, 512² Hann tiles, as the
/// analysis panel's) as CSV.
fn write_booth(full: &Image, path: &std::path::Path) -> Result<()> {
    use crate::analysis::{SPECTRUM_TILE, micrograph::booth_of};
    use crate::fourier::{Window, power_spectrum_linear, rotational_average};
    let tile = SPECTRUM_TILE.min(full.width.min(full.height));
    let spectrum = rotational_average(
        &power_spectrum_linear(full, tile, Window::Hann),
        full.pixel_size_angstrom,
    );
    let curve = booth_of(&spectrum);
    let unit = if full.pixel_size_angstrom.is_some() {
        "frequency_per_angstrom"
    } else {
        "frequency_per_pixel"
    };
    let mut csv = format!("{unit},power,background,ssnr_booth\n");
    for p in &curve {
        let _ = writeln!(
            csv,
            "{},{},{},{}",
            p.frequency, p.power, p.background, p.ssnr
        );
    }
    write_atomically(path, csv.as_bytes())?;
    println!(
        "Booth SSNR: {} rings between the first and last spectrum minimum; wrote {}",
        curve.len(),
        path.display()
    );
    Ok(())
}

fn split_options(args: &AnalyzeArgs) -> CountSplitOptions {
    CountSplitOptions {
        gain: args
            .gain
            .map(GainSource::Given)
            .unwrap_or(GainSource::Estimate),
        seed: args.seed,
        force: args.force,
        ..CountSplitOptions::default()
    }
}

fn db(v: Option<f64>) -> String {
    v.map(|d| format!("{d:.2} dB"))
        .unwrap_or_else(|| "n/a dB".into())
}

/// The two halves, and what was done to get them (for the JSON): an explicit even/odd pair
/// ([`read_half_pair`], which checks shapes and pixel sizes), or count splitting of
/// `--split-counts` through [`halves_for`] (no pair is looked up beside it: the user asked
/// for a split).
fn halves(args: &AnalyzeArgs) -> Result<(Image, Image, serde_json::Value)> {
    if let (Some(even), Some(odd)) = (&args.even, &args.odd) {
        let (a, b) = read_half_pair(even, odd, args.force)?;
        a.check_finite()
            .with_context(|| even.display().to_string())?;
        b.check_finite()
            .with_context(|| odd.display().to_string())?;
        let info = json!({"even": even, "odd": odd, "pixel_size_angstrom": a.pixel_size_angstrom});
        return Ok((a, b, info));
    }
    let Some(mic) = &args.split_counts else {
        bail!("give --even and --odd, or --split-counts MIC");
    };
    let image = crate::io::read_micrograph(mic)?;
    if !args.force {
        crate::sampling::check_plausible_pixel_size(
            &mic.display().to_string(),
            image.pixel_size_angstrom,
        )?;
    }
    let options = split_options(args);
    image
        .check_finite()
        .with_context(|| mic.display().to_string())?;
    let (half1, half2, source) =
        halves_for(&image, None, &options).with_context(|| mic.display().to_string())?;
    let HalvesSource::CountSplit {
        gain,
        non_integer_pixels,
        ..
    } = source
    else {
        bail!(
            "internal error: a count split was asked for, got {}",
            source.describe()
        );
    };
    println!(
        "count split of {}: gain {:.3} per electron{}",
        mic.display(),
        gain,
        if non_integer_pixels > 0 {
            format!(" ({non_integer_pixels} pixels were not integer counts and were rounded)")
        } else {
            String::new()
        }
    );
    let info = json!({
        "split_counts": mic, "gain": gain, "seed": args.seed, "forced": args.force,
        "pixel_size_angstrom": image.pixel_size_angstrom,
    });
    Ok((half1, half2, info))
}
