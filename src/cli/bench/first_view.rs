//! `cryolens bench --what first-view`: how long a scientist waits for each view of a large
//! micrograph in the GUI, on the GUI's own code paths: opening it (read, statistics,
//! thumbnail: [`load_micrograph`]), the binned denoised preview ([`preview_job`]) and the
//! full-resolution denoised view ([`denoise_job`]), per model, with peak memory. The wgpu
//! texture upload and the frame are not included (`--what gui` times frames).

use std::time::Instant;

use anyhow::{Context, Result};

use crate::device::{ComputeDevice, DeviceChoice};
use crate::gui::loading::{PREVIEW_SIDE_PX, denoise_job, load_micrograph, preview_job};
use crate::gui::panels::models::DenoiserChoice;
use crate::jobs::Progress;
use crate::models::TopazArch;

use super::{BenchArgs, default_input, peak_rss_mib, reset_peak_rss};

/// Times the three waits for every model of `args.models` and prints the table.
///
/// # Errors
/// Unreadable input, an unknown or uninstalled model, a denoising failure.
pub fn run_first_view(args: &BenchArgs) -> Result<()> {
    let input = args.input.clone().unwrap_or_else(default_input);
    let device = ComputeDevice::select(DeviceChoice::Cpu)?;
    println!("input: {}", input.display());
    println!("device: {}", device.describe());
    println!("preview: longest side {PREVIEW_SIDE_PX} px (Fourier-binned), denoised whole");
    println!(
        "| model | open s | preview s (binning) | first denoised view s | full denoised s | peak MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for model in &args.models {
        let arch = TopazArch::from_name(model).with_context(|| format!("unknown model {model}"))?;
        let choice = DenoiserChoice::Topaz(arch);
        reset_peak_rss();
        let p = Progress::new();
        let t = Instant::now();
        let loaded = load_micrograph(0, &input, &p)?;
        let open = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let preview = preview_job(choice, &device, &loaded.raw, &p)?;
        let preview_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        denoise_job(choice, &device, &loaded.raw, None, &p)?;
        let full = t.elapsed().as_secs_f64();
        let binning = preview
            .as_ref()
            .and_then(|v| v.preview_binning())
            .map(|b| format!("{preview_s:.2} ({b:.1}×)"))
            .unwrap_or_else(|| "none".into());
        let first = if preview.is_some() {
            open + preview_s
        } else {
            open + full
        };
        println!(
            "| {model} | {open:.2} | {binning} | **{first:.2}** | {full:.2} | {:.0} |",
            peak_rss_mib()
        );
    }
    Ok(())
}
