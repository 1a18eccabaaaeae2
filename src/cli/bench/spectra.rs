//! `cryolens bench --what spectra`: the power spectrum and the even/odd analysis timed against
//! numpy (`assets/bench/spectra_peer.py`), with the agreement of the numbers.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{BenchArgs, default_input, load_average_1min, python_can, run_peer};

/// Tile side of the benchmarked Welch power spectrum (px).
pub const SPECTRUM_TILE_PX: usize = 512;
/// Ring width of the benchmarked per-ring curves (Fourier pixels).
pub const RING_WIDTH_PX: f32 = 4.0;
/// σ (px) of the Gaussian low-pass that stands in for a denoiser in the benchmarked analysis.
pub const STAND_IN_DENOISER_SIGMA_PX: f32 = 2.0;

/// One row of the spectra benchmark: best wall times of one operation.
#[derive(Clone, Debug)]
pub struct SpectraBenchRow {
    /// What was timed.
    pub operation: String,
    /// Cryolens's best time, s.
    pub seconds: f64,
    /// numpy's best time on the same inputs, s (`None` without numpy).
    pub numpy_seconds: Option<f64>,
    /// Largest relative difference between numpy's and Cryolens's results (see
    /// `assets/bench/spectra_peer.py` for the definition).
    pub max_rel_diff: Option<f64>,
}

/// Best wall time of `repeats` runs of `f`, with the last result.
pub(super) fn best_of<T>(repeats: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let v = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(v);
    }
    // `repeats.max(1)` ran at least once.
    out.map(|v| (best, v)).context("no repetition was run")
}

/// `cryolens bench --what spectra`: times, on the micrograph `--input` (default the
/// 3710×3838 `fei-extended.mrc`), best of `--repeats` (3) runs each:
///
/// 1. the power spectrum: [`crate::fourier::power_spectrum_linear`] with 512² Hann tiles
///    (Welch, 50 % overlap, each tile mean-subtracted) followed by
///    [`crate::fourier::rotational_average`];
/// 2. the even/odd analysis without a denoiser: [`crate::metrics::frank_al_ali_snr`],
///    [`crate::metrics::frc`] (ring width 4 Fourier px) and
///    [`crate::metrics::variance_estimate_rings`] (ring width 4) on halves M₁, M₂ from
///    [`crate::metrics::split_counts`] (forced, seed 0; gain 1 if it cannot be estimated) and
///    D₁, D₂ = [`crate::fourier::gaussian_lowpass`] of them with σ = 2 px, all made before
///    timing.
///
/// The inputs (float32 MRC) and Cryolens's results go to a temporary folder, where
/// `assets/bench/spectra_peer.py` run by `--python` does the same computations in numpy, times
/// them the same way and compares its numbers with Cryolens's. Prints a Markdown table
/// (operation | Cryolens (s) | numpy (s) | ratio numpy/Cryolens), the agreement, and a note
/// when the 1-minute load average exceeds 1.5. Without numpy the numpy columns say "n/a".
///
/// # Errors
/// Unreadable input, a failed count split, unwritable temporary files, a numpy script that
/// fails or prints something unexpected.
pub fn run_spectra(args: &BenchArgs) -> Result<()> {
    use crate::fourier::{Window, gaussian_lowpass, power_spectrum_linear, rotational_average};
    use crate::metrics::{self, CountSplitOptions, GainSource};

    let input = args.input.clone().unwrap_or_else(default_input);
    let raw = crate::io::read_micrograph(&input)
        .with_context(|| format!("reading {}", input.display()))?;
    let repeats = args.repeats.unwrap_or(3).max(1);
    println!(
        "input: {} ({}×{} px)",
        input.display(),
        raw.width,
        raw.height
    );
    println!(
        "threads: Cryolens {} (rayon); numpy's FFT (pocketfft) uses 1; best of {repeats} runs",
        rayon::current_num_threads()
    );
    let mut load = load_average_1min().unwrap_or(0.0);

    // Inputs of the analysis, made once, outside the timed region.
    let options = CountSplitOptions {
        force: true,
        ..CountSplitOptions::default()
    };
    let split = metrics::split_counts(&raw, &options).or_else(|_| {
        metrics::split_counts(
            &raw,
            &CountSplitOptions {
                gain: GainSource::Given(1.0),
                ..options
            },
        )
    })?;
    let (m1, m2) = (split.half1, split.half2);
    let d1 = gaussian_lowpass(&m1, STAND_IN_DENOISER_SIGMA_PX);
    let d2 = gaussian_lowpass(&m2, STAND_IN_DENOISER_SIGMA_PX);

    let (spectrum_s, rot) = best_of(repeats, || {
        let lin = power_spectrum_linear(&raw, SPECTRUM_TILE_PX, Window::Hann);
        Ok(rotational_average(&lin, raw.pixel_size_angstrom))
    })?;
    let (analysis_s, (snr, frc, rings)) = best_of(repeats, || {
        let snr = metrics::frank_al_ali_snr(&m1, &m2)?;
        let frc = metrics::frc(&m1, &m2, RING_WIDTH_PX)?;
        let rings = metrics::variance_estimate_rings(&m1, &m2, &d1, &d2, RING_WIDTH_PX)?;
        Ok((snr, frc, rings))
    })?;
    load = load.max(load_average_1min().unwrap_or(0.0));

    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    for (name, im) in [
        ("raw", &raw),
        ("m1", &m1),
        ("m2", &m2),
        ("d1", &d1),
        ("d2", &d2),
    ] {
        crate::io::mrc::write_image(&dir.path().join(format!("{name}.mrc")), im)?;
    }
    let results = serde_json::json!({
        "rotational_average": rot,
        "cc": snr.cc,
        "frc": frc.rings.iter().map(|r| (r.index, r.value.frc)).collect::<Vec<_>>(),
        "rings": rings.rings.iter().map(|r| {
            let v = r.value;
            [r.index as f64, v.signal, v.noise_noisy, v.noise_denoised, v.bias]
        }).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.path().join("cryolens.json"),
        serde_json::to_string(&results)?,
    )?;
    let numpy = time_numpy_spectra(&args.python, dir.path(), repeats)?;
    load = load.max(load_average_1min().unwrap_or(0.0));

    let label = format!("{}×{}", raw.width, raw.height);
    let row = |operation: String, seconds: f64, n: Option<(f64, f64)>| SpectraBenchRow {
        operation,
        seconds,
        numpy_seconds: n.map(|n| n.0),
        max_rel_diff: n.map(|n| n.1),
    };
    let rows = [
        row(
            format!(
                "power spectrum (Welch {SPECTRUM_TILE_PX}² Hann) + rotational average, {label}"
            ),
            spectrum_s,
            numpy.map(|n| (n.0, n.2)),
        ),
        row(
            format!(
                "analysis: Frank & Al-Ali SNR + FRC + per-ring variances (ring width {RING_WIDTH_PX}), {label}"
            ),
            analysis_s,
            numpy.map(|n| (n.1, n.3)),
        ),
    ];
    print_spectra_table(&rows);
    match numpy {
        Some((_, _, s, a)) => println!(
            "agreement with numpy (max relative difference): spectrum {s:.3e}, analysis {a:.3e}"
        ),
        None => println!(
            "numpy: n/a ({} has no numpy ≥ 2 with mrcfile; pass --python)",
            args.python
        ),
    }
    println!("raw halves: cc = {:.5}, SNR = {:.5}", snr.cc, snr.snr);
    if load > 1.5 {
        println!(
            "note: 1-min load average reached {load:.2} (> 1.5) on {} cores: other processes were running, timings may be inflated",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    Ok(())
}

/// Runs `assets/bench/spectra_peer.py` on the folder `dir`: (spectrum s, analysis s,
/// spectrum max rel. diff, analysis max rel. diff), `None` if `python` lacks numpy/mrcfile.
fn time_numpy_spectra(
    python: &str,
    dir: &std::path::Path,
    repeats: usize,
) -> Result<Option<(f64, f64, f64, f64)>> {
    if !python_can(
        python,
        "import numpy, mrcfile, sys; sys.exit(int(numpy.__version__.split('.')[0]) < 2)",
    ) {
        return Ok(None);
    }
    let script = dir.join("spectra_peer.py");
    std::fs::write(
        &script,
        include_str!("../../../assets/bench/spectra_peer.py"),
    )?;
    let (v, line) = run_peer(
        Command::new(python)
            .arg(&script)
            .arg(dir)
            .arg(repeats.to_string()),
        "the numpy reference",
        "numpy",
    )?;
    let get = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("numpy's output has no number '{k}': {line}"))
    };
    Ok(Some((
        get("spectrum_seconds")?,
        get("analysis_seconds")?,
        get("spectrum_max_rel_diff")?,
        get("analysis_max_rel_diff")?,
    )))
}

/// Prints the spectra benchmark as a Markdown table; ratio = numpy time / Cryolens time
/// (above 1: Cryolens is faster).
pub fn print_spectra_table(rows: &[SpectraBenchRow]) {
    println!("| operation | Cryolens (s) | numpy (s) | ratio (numpy / Cryolens) |");
    println!("|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {:.3} | {} | {} |",
            r.operation,
            r.seconds,
            r.numpy_seconds
                .map_or_else(|| "n/a".into(), |t| format!("{t:.3}")),
            r.numpy_seconds
                .map_or_else(|| "n/a".into(), |t| format!("{:.2}×", t / r.seconds)),
        );
    }
}
