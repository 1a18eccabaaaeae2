//! `cryolens score`: how close a micrograph and its filtered and denoised versions come to
//! the noise-free truth of a simulation ([`crate::metrics::truth`]): PSNR, SSIM and where
//! the FRC with the truth (its component-weighted mean, and where it falls below 0.5; "below"
//! when it starts below, as a CTF makes it at the lowest frequencies), one row per image, as the baselines table of
//! Noise-Transfer2Clean (Li et al. 2022, Table 1) scores them on simulated data.
//!
//! Rows: the micrograph as given; its low-pass (Topaz's binning, `--lowpass-factor`) and
//! Gaussian (`--gaussian-angstrom`) baselines; each `--model`'s denoising of it; and any other
//! image given with `--image` (e.g. another program's output on the same micrograph).
//!
//! On real data, where there is no truth, `--regions FILE` scores every row by the SNR of
//! hand-labelled signal and background boxes instead (or as well): Topaz-Denoise's formula
//! (Bepler et al. 2020) and NT2C's eq. 5 (Li et al. 2022) ([`crate::metrics::region_snr_topaz`],
//! [`crate::metrics::region_snr_nt2c`]). The file is a CSV with the header
//! `signal_x,signal_y,signal_width,signal_height,background_x,background_y,background_width,background_height`,
//! one labelled pair per row, in pixels with the origin at the top-left pixel (x along a row).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::fourier::Lowpass;
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::truth::{TruthScores, score_against_truth};
use crate::metrics::{Region, RegionPair, region_snr_nt2c, region_snr_topaz};
use crate::models::ModelSpec;

/// `cryolens score` options.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("reference").required(true).multiple(true).args(["truth", "regions"])))]
pub struct ScoreArgs {
    /// The micrograph (a simulation's `noisy.mrc`, or a real micrograph with `--regions`).
    pub micrograph: PathBuf,
    /// Its noise-free truth (the simulation's `truth.mrc`, same shape and units).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Labelled signal/background box pairs (CSV, see the module docs): region SNR columns.
    #[arg(long)]
    pub regions: Option<PathBuf>,
    /// Denoise the micrograph with these models and score each (repeatable).
    #[arg(long)]
    pub model: Vec<String>,
    /// Score these images too (same shape; e.g. another program's denoising), each as a path
    /// or `LABEL=PATH` (`--image bm3d=mic_bm3d.mrc`) to name its row.
    #[arg(long)]
    pub image: Vec<String>,
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
    let micrograph = crate::io::read_micrograph(&args.micrograph)?;
    let truth = match &args.truth {
        Some(path) => {
            let truth = crate::io::read_micrograph(path)?;
            if (truth.width, truth.height) != (micrograph.width, micrograph.height) {
                anyhow::bail!(
                    "{}: the truth and the micrograph must have the same shape, but the truth is {}×{} pixels and the micrograph {}×{} (give the truth.mrc of the same simulation)",
                    path.display(),
                    truth.width,
                    truth.height,
                    micrograph.width,
                    micrograph.height
                );
            }
            Some(truth)
        }
        None => None,
    };
    let regions = match &args.regions {
        Some(path) => Some(read_regions(path)?),
        None => None,
    };
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
    for given in &args.image {
        let (label, path) = match given.split_once('=') {
            Some((label, path)) if !label.contains(['/', '\\']) => (label, path),
            _ => (given.as_str(), given.as_str()),
        };
        let image = crate::io::read_micrograph(std::path::Path::new(path))?;
        rows.push((label.to_string(), image));
    }
    let mut table = Table::new(truth.as_ref(), regions.is_some());
    for (name, image) in &rows {
        let t = match (&truth, &args.truth) {
            (Some(truth), Some(path)) => Some(
                score_against_truth(image, truth, 1.0)
                    .with_context(|| format!("{name} against {}", path.display()))?,
            ),
            _ => None,
        };
        let r = match (&regions, &args.regions) {
            (Some(pairs), Some(path)) => {
                let what = || format!("{name}: the regions of {}", path.display());
                Some((
                    region_snr_topaz(image, pairs).with_context(what)?.snr_db,
                    region_snr_nt2c(image, pairs).with_context(what)?.snr_db,
                ))
            }
            _ => None,
        };
        table.row(name, t.as_ref(), r);
    }
    print!("{}", table.text);
    let csv = table.csv;
    if let Some(path) = &args.csv {
        crate::io::atomic::write_atomically(path, csv.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The printed table and its CSV, built row by row with the columns the references allow.
struct Table {
    text: String,
    csv: String,
    truth: bool,
    regions: bool,
}

impl Table {
    /// Headers for a truth (its pixel size decides the FRC unit) and/or regions.
    fn new(truth: Option<&Image>, regions: bool) -> Self {
        let mut text = format!("{:<32}", "image");
        let mut csv = String::from("image");
        if let Some(t) = truth {
            let unit = if t.pixel_size_angstrom.is_some() {
                "Å"
            } else {
                "px"
            };
            let _ = write!(
                text,
                " {:>9} {:>7} {:>9} {:>12}",
                "PSNR dB",
                "SSIM",
                "mean FRC",
                format!("FRC-0.5 {unit}")
            );
            csv += ",psnr_db,ssim,frc_mean,frc_half_resolution";
        }
        if regions {
            let _ = write!(text, " {:>14} {:>14}", "SNR Topaz dB", "SNR eq.5 dB");
            csv += ",region_snr_topaz_db,region_snr_nt2c_db";
        }
        text.push('\n');
        csv.push('\n');
        Self {
            text,
            csv,
            truth: truth.is_some(),
            regions,
        }
    }

    /// One image's row.
    fn row(&mut self, name: &str, truth: Option<&TruthScores>, regions: Option<(f64, f64)>) {
        let _ = write!(self.text, "{name:<32}");
        let _ = write!(self.csv, "\"{name}\"");
        if let (true, Some(s)) = (self.truth, truth) {
            // No crossing: above 0.5 up to Nyquist, or below it from the first ring.
            let res = match s.frc_half_resolution() {
                Some(r) => format!("{r:.2}"),
                None if s.frc.rings.first().is_some_and(|r| r.value.frc >= 0.5) => "Nyquist".into(),
                None => "below".into(),
            };
            let _ = write!(
                self.text,
                " {:>9.2} {:>7.3} {:>9.3} {res:>12}",
                s.psnr_db, s.ssim, s.frc_mean
            );
            let _ = write!(self.csv, ",{},{},{},{res}", s.psnr_db, s.ssim, s.frc_mean);
        }
        if let (true, Some((topaz, nt2c))) = (self.regions, regions) {
            let _ = write!(self.text, " {topaz:>14.2} {nt2c:>14.2}");
            let _ = write!(self.csv, ",{topaz},{nt2c}");
        }
        self.text.push('\n');
        self.csv.push('\n');
    }
}

/// One row of a regions CSV.
#[derive(serde::Deserialize)]
struct RegionRow {
    signal_x: usize,
    signal_y: usize,
    signal_width: usize,
    signal_height: usize,
    background_x: usize,
    background_y: usize,
    background_width: usize,
    background_height: usize,
}

/// Reads labelled region pairs (module docs).
///
/// # Errors
/// An unreadable file, a row that is not eight whole numbers, no row.
fn read_regions(path: &std::path::Path) -> Result<Vec<RegionPair>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("{}: cannot read the regions", path.display()))?;
    let mut pairs = Vec::new();
    for (i, row) in reader.deserialize::<RegionRow>().enumerate() {
        let r = row.with_context(|| {
            format!(
                "{}: row {} is not a region pair (columns signal_x,signal_y,signal_width,signal_height,background_x,background_y,background_width,background_height, in pixels)",
                path.display(),
                i + 2
            )
        })?;
        pairs.push(RegionPair {
            signal: Region {
                x: r.signal_x,
                y: r.signal_y,
                width: r.signal_width,
                height: r.signal_height,
            },
            background: Region {
                x: r.background_x,
                y: r.background_y,
                width: r.background_width,
                height: r.background_height,
            },
        });
    }
    if pairs.is_empty() {
        anyhow::bail!("{}: no region pair in the file", path.display());
    }
    Ok(pairs)
}
