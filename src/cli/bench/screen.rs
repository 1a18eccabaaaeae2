//! `cryolens bench --what screen`: the screening outputs of one micrograph (what
//! `cryolens screen` computes per exposure) per model, with and without the denoiser's even/odd
//! SNR, against the published Topaz denoising the same micrograph with its defaults (what a
//! user would otherwise run to see it denoised).

use std::time::Instant;

use anyhow::{Context, Result};

use crate::denoise::Denoiser2d;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Progress;
use crate::models::ModelSpec;
use crate::screen::{ScreenSettings, screen_micrograph};

use super::{BenchArgs, default_input, peak_rss_mib, reset_peak_rss};

/// One timed case of the screening benchmark.
#[derive(Clone, Debug)]
pub struct ScreenBenchRow {
    /// Model name.
    pub model: String,
    /// "thumbnail 512 px, denoised SNR" and the like.
    pub case: String,
    /// Best wall time, seconds.
    pub seconds: f64,
    /// Peak resident memory of the process during the case, MiB.
    pub peak_mib: f64,
    /// Topaz denoising the whole micrograph with its CLI defaults, seconds.
    pub topaz_seconds: Option<f64>,
}

/// Times the cases and prints the table.
///
/// # Errors
/// An unreadable input, a model that is not installed, a failing screen.
pub(super) fn run_screen(args: &BenchArgs) -> Result<()> {
    let input = args.input.clone().unwrap_or_else(default_input);
    let info = crate::io::read_micrograph(&input)
        .with_context(|| format!("reading {}", input.display()))?;
    println!(
        "screening {} ({}×{}), {} threads",
        input.display(),
        info.width,
        info.height,
        rayon::current_num_threads()
    );
    drop(info);
    let device = ComputeDevice::select(DeviceChoice::Cpu)?;
    let repeats = args.repeats.unwrap_or(2).max(1);
    let mut rows = Vec::new();
    for model in &args.models {
        let denoiser = Denoiser2d::load(&ModelSpec::parse(model)?, &device)?;
        let topaz = if args.topaz {
            super::denoise::time_topaz(&args.python, model, &input, 0)
                .ok()
                .flatten()
                .map(|(s, _)| s)
        } else {
            None
        };
        for (size, denoised_snr) in [(512, true), (512, false), (1024, false)] {
            let settings = ScreenSettings {
                thumbnail_size: size,
                denoised_snr,
                ..ScreenSettings::default()
            };
            // One warm-up, then the best of `repeats`.
            let mut best = f64::INFINITY;
            reset_peak_rss();
            for _ in 0..=repeats {
                let t = Instant::now();
                screen_micrograph(&input, &denoiser, None, &settings, &Progress::new())?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            rows.push(ScreenBenchRow {
                model: model.clone(),
                case: format!(
                    "thumbnail {size} px{}",
                    if denoised_snr { ", denoised SNR" } else { "" }
                ),
                seconds: best,
                peak_mib: peak_rss_mib(),
                topaz_seconds: topaz,
            });
        }
    }
    print_screen_table(&rows);
    Ok(())
}

/// Prints the rows as a Markdown table.
pub fn print_screen_table(rows: &[ScreenBenchRow]) {
    println!(
        "| model | screening case | Cryolens s | peak MiB | Topaz denoise (full, defaults) s | speed-up |"
    );
    println!("|---|---|---|---|---|---|");
    for r in rows {
        let (topaz, ratio) = match r.topaz_seconds {
            Some(t) => (format!("{t:.1}"), format!("{:.0}×", t / r.seconds)),
            None => ("n/a".into(), "n/a".into()),
        };
        println!(
            "| {} | {} | {:.2} | {:.0} | {topaz} | {ratio} |",
            r.model, r.case, r.seconds, r.peak_mib
        );
    }
}
