//! `cryolens fsc HALF1 HALF2 [--mask M] [--csv OUT] [--shell-width W]`: the Fourier shell
//! correlation of two half-maps, its 0.143 and 0.5 crossings in Å, and the per-shell curve
//! with C_ref = √(2·FSC/(1+FSC)) as CSV (crefDenoiser, Agarwal et al. 2024), FSC_scalar (eq. 2)
//! and the signal, noise (and, given denoised half-maps, bias) power per shell (eq. 12–16).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::analysis::halfmap::HalfMaps;
use crate::metrics::FrequencyUnit;
use crate::metrics::fsc::FscCrossing;

/// `cryolens fsc` options.
#[derive(clap::Args, Debug)]
pub struct FscArgs {
    /// First half-map (MRC, or a TIFF stack).
    pub half1: PathBuf,
    /// Second half-map, same shape and voxel size.
    pub half2: PathBuf,
    /// Mask (same shape), multiplied into both half-maps first.
    #[arg(long)]
    pub mask: Option<PathBuf>,
    /// Write the per-shell curve here (frequency, resolution, FSC, C_ref).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Shell width in Fourier voxels.
    #[arg(long, default_value_t = 1.0)]
    pub shell_width: f32,
    /// Denoised half-map 1 (D(half 1)): adds the denoised noise and the bias per shell to the
    /// CSV (crefDenoiser eq. 14, 15).
    #[arg(long, requires = "denoised2")]
    pub denoised1: Option<PathBuf>,
    /// Denoised half-map 2 (D(half 2)).
    #[arg(long, requires = "denoised1")]
    pub denoised2: Option<PathBuf>,
}

/// The caveat printed beside the signal / noise / bias estimates (crefDenoiser section 3.3).
pub const CORRELATED_DAMPING_CAVEAT: &str = "signal, noise and bias per shell assume noise independent of the signal and between the halves; they fail when a denoiser damps signal and noise together (correlated damping, crefDenoiser Fig. S4)";

fn describe(c: Option<FscCrossing>, threshold: f64) -> String {
    match c {
        Some(c) => match c.unit {
            FrequencyUnit::PerAngstrom => format!(
                "FSC = {threshold}: {:.2} Å ({:.4} 1/Å)",
                c.resolution, c.frequency
            ),
            FrequencyUnit::PerPixel => format!(
                "FSC = {threshold}: {:.2} voxels ({:.4} cycles/voxel; voxel size unknown)",
                c.resolution, c.frequency
            ),
        },
        None => format!("FSC = {threshold}: not reached up to Nyquist"),
    }
}

/// Runs `cryolens fsc`: prints the two crossings, writes the CSV when asked.
///
/// # Errors
/// Unreadable or mismatched maps or mask, a bad shell width, an unwritable CSV.
pub fn run(args: &FscArgs) -> Result<()> {
    let maps = HalfMaps::read(&args.half1, &args.half2, args.mask.as_deref())?;
    let report = maps.fsc(args.shell_width)?;
    let v = &maps.half1;
    println!(
        "{} × {} × {} voxels (x, y, z), voxel size {}{}",
        v.width,
        v.height,
        v.depth,
        v.pixel_size_angstrom
            .map(|p| format!("{p} Å"))
            .unwrap_or_else(|| "unknown".into()),
        if maps.mask.is_some() { ", masked" } else { "" }
    );
    println!("{}", describe(report.at_0143, 0.143));
    println!("{}", describe(report.at_05, 0.5));
    let scalar_unit = match report.curve.unit {
        FrequencyUnit::PerAngstrom => "1/Å",
        FrequencyUnit::PerPixel => "cycles/voxel",
    };
    println!(
        "FSC_scalar (eq. 2): {:.5} {scalar_unit} (mean FSC up to Nyquist {:.4})",
        report.scalar.integral, report.scalar.mean
    );
    let denoised = match (&args.denoised1, &args.denoised2) {
        (Some(a), Some(b)) => {
            let d = HalfMaps::read(a, b, None)?;
            Some(maps.shells_with_denoised(&d.half1, &d.half2, args.shell_width)?)
        }
        _ => None,
    };
    let shells = denoised.as_ref().unwrap_or(&report.shells);
    println!("note: {CORRELATED_DAMPING_CAVEAT}");
    if let Some(path) = &args.csv {
        let unit = match report.curve.unit {
            FrequencyUnit::PerAngstrom => "per_angstrom",
            FrequencyUnit::PerPixel => "per_voxel",
        };
        let res = match report.curve.unit {
            FrequencyUnit::PerAngstrom => "angstrom",
            FrequencyUnit::PerPixel => "voxels",
        };
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        write!(
            out,
            "shell,frequency_{unit},resolution_{res},components,fsc,c_ref,signal,noise,snr"
        )?;
        if denoised.is_some() {
            write!(out, ",noise_denoised,bias,snr_denoised,sbr")?;
        }
        writeln!(out)?;
        for (r, v) in report.curve.rings.iter().zip(&shells.rings) {
            let v = v.value;
            write!(
                out,
                "{},{:.6},{:.4},{},{:.6},{:.6},{:.6e},{:.6e},{:.6e}",
                r.index,
                r.frequency,
                1.0 / r.frequency,
                r.components,
                r.value.fsc,
                r.value.c_ref,
                v.signal,
                v.noise_noisy,
                v.snr_noisy
            )?;
            if denoised.is_some() {
                write!(
                    out,
                    ",{:.6e},{:.6e},{:.6e},{:.6e}",
                    v.noise_denoised, v.bias, v.snr_denoised, v.sbr
                )?;
            }
            writeln!(out)?;
        }
        out.flush()
            .with_context(|| format!("writing {}", path.display()))?;
        println!("curve: {}", path.display());
    }
    Ok(())
}
