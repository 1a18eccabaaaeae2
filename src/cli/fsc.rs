//! `cryolens fsc HALF1 HALF2 [--mask M] [--csv OUT] [--shell-width W]`: the Fourier shell
//! correlation of two half-maps, its 0.143 and 0.5 crossings in Å, and the per-shell curve
//! with C_ref = √(2·FSC/(1+FSC)) as CSV (crefDenoiser, Agarwal et al. 2024), FSC_scalar (eq. 2)
//! and the signal, noise (and, given denoised half-maps, bias) power per shell (eq. 12–16).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::analysis::halfmap::HalfMaps;
use crate::io::atomic::write_atomically;
use crate::metrics::FrequencyUnit;
use crate::metrics::fsc::FscThreshold;

use super::MapSamplingArgs;

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
    /// Write the per-shell curve here (frequency, resolution, components, signal 1/0, FSC,
    /// C_ref; FSC and C_ref empty in shells where a map has no power).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Shell width in Fourier voxels.
    #[arg(long, default_value_t = 1.0)]
    pub shell_width: f32,
    /// `--pixel-size`, `--force`.
    #[command(flatten)]
    pub sampling: MapSamplingArgs,
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

fn describe(t: FscThreshold, threshold: f64) -> String {
    match t {
        FscThreshold::Crossed(c) => match c.unit {
            FrequencyUnit::PerAngstrom => format!(
                "FSC = {threshold}: {:.2} Å ({:.4} 1/Å)",
                c.resolution, c.frequency
            ),
            FrequencyUnit::PerPixel => format!(
                "FSC = {threshold}: {:.2} voxels ({:.4} cycles/voxel; voxel size unknown)",
                c.resolution, c.frequency
            ),
        },
        other => format!(
            "FSC = {threshold}: {}",
            other.absent_reason().unwrap_or_default()
        ),
    }
}

/// Runs `cryolens fsc`: prints the two crossings, writes the CSV when asked.
///
/// # Errors
/// Unreadable or mismatched maps or mask, a bad shell width, an unwritable CSV.
pub fn run(args: &FscArgs) -> Result<()> {
    let sampling = args.sampling.sampling();
    let maps = HalfMaps::read(&args.half1, &args.half2, args.mask.as_deref(), &sampling)?;
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
            let d = HalfMaps::read(a, b, None, &sampling)?;
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
        let mut text = format!(
            "shell,frequency_{unit},resolution_{res},components,has_signal,fsc,c_ref,signal,noise,snr"
        );
        if denoised.is_some() {
            text.push_str(",noise_denoised,bias,snr_denoised,sbr");
        }
        text.push('\n');
        for (r, v) in report.curve.rings.iter().zip(&shells.rings) {
            let v = v.value;
            // A shell without power in both maps has no FSC: its cells stay empty.
            let (fsc, c_ref) = if r.value.signal {
                (
                    format!("{:.6}", r.value.fsc),
                    format!("{:.6}", r.value.c_ref),
                )
            } else {
                (String::new(), String::new())
            };
            text.push_str(&format!(
                "{},{:.6},{:.4},{},{},{fsc},{c_ref},{:.6e},{:.6e},{:.6e}",
                r.index,
                r.frequency,
                1.0 / r.frequency,
                r.components,
                u8::from(r.value.signal),
                v.signal,
                v.noise_noisy,
                v.snr_noisy
            ));
            if denoised.is_some() {
                text.push_str(&format!(
                    ",{:.6e},{:.6e},{:.6e},{:.6e}",
                    v.noise_denoised, v.bias, v.snr_denoised, v.sbr
                ));
            }
            text.push('\n');
        }
        write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("curve: {}", path.display());
    }
    Ok(())
}
