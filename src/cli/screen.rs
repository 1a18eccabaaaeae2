//! `cryolens screen`: denoised thumbnails, power spectra and `screening.csv` for a grid's
//! micrographs, once or following the folder the microscope writes into (`--watch`), and
//! resumable ([`crate::screen`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Reported, models_list, progress_bar};
use crate::ctf::read_ctf_file;
use crate::denoise::Denoiser2d;
use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::{Progress, Shard, shard_items};
use crate::models::ModelSpec;
use crate::screen;
use crate::screen::curate::{ExportCounts, Threshold};
use crate::screen::run::{Followed, Screener, ScreenerSetup, common_root};
use crate::screen::{ScreenRow, ScreenSettings};

/// Default longest side of the thumbnails, pixels (`--thumbnail-size`).
pub const THUMBNAIL_SIZE: u32 = 512;
/// Default seconds between two looks at watched folders (`--poll-seconds`).
pub const POLL_SECONDS: f64 = 2.0;
/// Default seconds a watched file must stay unchanged (`--settle-seconds`).
pub const SETTLE_SECONDS: f64 = 5.0;

/// `cryolens screen` options.
#[derive(clap::Args, Debug)]
pub struct ScreenArgs {
    /// Micrographs (MRC or TIFF), folders (walked into sub-folders: EPU's
    /// `Images-Disc1/GridSquare_*/Data`, SerialEM sessions), glob patterns
    /// (`'Micrographs/*.mrc'`) or a RELION micrographs STAR (its CTF columns are used).
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Output folder: `screening.csv`, `thumbnails/` (denoised), `raw/` and `spectra/` (PNG),
    /// named after each micrograph's path below the folder the inputs share.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Keep following the input folders: new micrographs are screened as soon as they are
    /// complete (size unchanged for --settle seconds, and an MRC header whose data is all
    /// there). Stop with Ctrl+C: the table is complete after every micrograph.
    #[arg(long)]
    pub watch: bool,
    /// Denoising model (as `cryolens denoise --model`). Default: the GUI's default.
    #[arg(short, long)]
    pub model: Option<String>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Longest side of the thumbnails in pixels; the denoiser and the SNR run at this size.
    #[arg(long, default_value_t = THUMBNAIL_SIZE, value_parser = clap::value_parser!(u32).range(64..=1024))]
    pub thumbnail_size: u32,
    /// Skip the denoiser's even/odd SNR (two more denoisings per micrograph).
    #[arg(long)]
    pub no_denoised_snr: bool,
    /// CTF results for the defocus, astigmatism and fit-resolution columns: a RELION STAR with
    /// CTF columns (micrographs_ctf.star), CTFFIND4 output or a cryoSPARC exposures `.cs`
    /// (Patch CTF), matched by file name (cryoSPARC's UID prefix dropped). Without
    /// it a CTFFIND result beside each micrograph (`<stem>.txt`, `<stem>_ctffind4.txt`) is
    /// used.
    #[arg(long, value_name = "FILE")]
    pub ctf: Option<PathBuf>,
    /// With --watch: seconds between two looks at the folders.
    #[arg(long, default_value_t = POLL_SECONDS)]
    pub poll_seconds: f64,
    /// With --watch: seconds a file must stay unchanged before it is taken.
    #[arg(long, default_value_t = SETTLE_SECONDS)]
    pub settle_seconds: f64,
    /// With --watch: stop after this many seconds without a new micrograph (default: never).
    #[arg(long)]
    pub idle_exit_seconds: Option<f64>,
    /// Reject micrographs by a metric of the table: `--reject-if 'ice_ring_db>3'`,
    /// `--reject-if 'snr_raw_db<-20'` (repeatable; `<`, `<=`, `>`, `>=`). Decisions made in
    /// the gallery stand; an unmeasured metric never rejects.
    #[arg(long, value_name = "METRIC<VALUE")]
    pub reject_if: Vec<Threshold>,
    /// Screen every micrograph again, even those the table holds at the same size and time.
    #[arg(long)]
    pub redo: bool,
    /// Take only share K of N of the sorted micrographs (`--shard 2/8`, one task of a SLURM
    /// array): rows go to `screening.shard-K-of-N.csv` and nothing is decided; a run without
    /// `--shard` over the same inputs then folds the shards' tables into `screening.csv`
    /// (screening only what is missing) and decides.
    #[arg(long, value_name = "K/N", conflicts_with = "watch")]
    pub shard: Option<Shard>,
}

/// Files the watch hands over per look at the folders.
const WATCH_BATCH: usize = 16;

/// Runs `cryolens screen`.
///
/// # Errors
/// Bad inputs, an unknown model, no device, an unreadable table or CTF file; micrographs that
/// fail become rows with their error and are counted in the final error.
pub fn run(args: &ScreenArgs) -> Result<()> {
    let mut folders = Vec::new();
    let mut files = Vec::new();
    let mut ctfs = Vec::new();
    let mut source_star = None;
    for input in &args.inputs {
        let path = Path::new(input);
        if path.is_dir() {
            folders.push(path.to_path_buf());
        } else {
            files.extend(crate::picking::expand_input(input)?);
            if path.extension().is_some_and(|e| e == "star") {
                if let Ok(entries) = read_ctf_file(path) {
                    println!("CTF: {} micrographs in {input}", entries.len());
                    ctfs.extend(entries);
                }
                if source_star.is_none() {
                    source_star = crate::io::star::read(path).ok();
                }
            }
        }
    }
    if let Some(path) = &args.ctf {
        let entries = read_ctf_file(path).with_context(|| {
            format!(
                "{}: cannot read CTF results (give a RELION STAR with _rlnDefocusU, CTFFIND4 output or a cryoSPARC exposures .cs)",
                path.display()
            )
        })?;
        println!("CTF: {} micrographs in {}", entries.len(), path.display());
        ctfs.extend(entries);
    }
    if args.watch && folders.is_empty() {
        bail!("--watch follows folders: give the folder the microscope writes into");
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let out = std::fs::canonicalize(&args.output)?;
    // Without --watch every micrograph found now, complete or not (a damaged one becomes a
    // row with its error); with it, the watch takes complete ones as they settle.
    let mut found = if args.watch {
        Vec::new()
    } else {
        crate::screen::watch::list_micrographs(&folders, &[args.output.clone(), out.clone()])
    };
    found.extend(files.iter().cloned());
    if let Some(shard) = args.shard {
        found = shard_items(&found, Some(shard))
            .into_iter()
            .map(|i| found[i].clone())
            .collect();
    }
    let roots: Vec<PathBuf> = folders
        .iter()
        .cloned()
        .chain(
            files
                .iter()
                .filter_map(|f| f.parent().map(Path::to_path_buf)),
        )
        .collect();
    let name = match &args.model {
        Some(m) => m.clone(),
        None => {
            let d = models_list::default_model_name();
            println!("no --model given: using {d} (the GUI's default; `cryolens models list`)");
            d
        }
    };
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    let spec = ModelSpec::parse(&name)?;
    let denoiser = Denoiser2d::load(&spec, &device)?;
    println!("model: {}", denoiser.describe());
    let model_sha256 = Some(crate::io::provenance::sha256_file(&spec.weights_path()?)?);
    let mut s = Screener::new(
        ScreenerSetup {
            denoiser,
            model_sha256,
            settings: ScreenSettings {
                thumbnail_size: args.thumbnail_size as usize,
                denoised_snr: !args.no_denoised_snr,
                ..ScreenSettings::default()
            },
            ctfs,
            root: common_root(&roots),
            out: args.output.clone(),
            thresholds: args.reject_if.clone(),
            source_star,
            shard: args.shard,
        },
        crate::picking::pick_counter(),
    )?;
    // A shard skips what any table of the folder holds (its own, the folded one, the others').
    let known = match args.shard {
        Some(_) => Some(crate::screen::ScreenTable::open(&out)?),
        None => None,
    };
    let todo: Vec<PathBuf> = found
        .iter()
        .filter(|p| args.redo || !known.as_ref().unwrap_or(s.table()).is_current(p))
        .cloned()
        .collect();
    let skipped = found.len() - todo.len();
    if skipped > 0 {
        println!(
            "{skipped} micrographs already screened at their current size and time (in {}); --redo to redo them",
            s.table().path().display()
        );
    }
    let bar = progress_bar(todo.len() as u64, "micrographs");
    for path in &todo {
        let line = screen_line(path, &s.screen_one(path, &Progress::new())?);
        bar.suspend(|| print_line(&line));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(shard) = args.shard {
        let (screened, failures) = s.counts();
        println!(
            "shard {}/{}: {screened} micrographs screened, {} rows in {}; run the command again without --shard to fold the shards' tables into {} and decide",
            shard.index,
            shard.count,
            s.table().rows().len(),
            s.table().path().display(),
            crate::screen::TABLE_NAME
        );
        return failed(screened, failures);
    }
    if s.table().has_folded_shards() {
        s.table_mut().order_by(&found);
    }
    decide(&mut s, &out)?;
    if args.watch {
        // At most WATCH_BATCH new files per look, oldest first: the queue stays bounded when
        // the microscope outpaces the screen, and the rest wait in the folder.
        let mut watch = s.watch(
            folders.clone(),
            Duration::from_secs_f64(args.settle_seconds.max(0.0)),
            WATCH_BATCH,
            args.redo,
        );
        println!(
            "watching {} (every {:.1} s; Ctrl+C to stop)",
            folders
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            args.poll_seconds
        );
        let poll = Duration::from_secs_f64(args.poll_seconds.max(0.05));
        let idle = args
            .idle_exit_seconds
            .map(|t| Duration::from_secs_f64(t.max(0.0)));
        let out_display = out.display().to_string();
        screen::run::follow(
            &mut s,
            &mut watch,
            poll,
            idle,
            args.redo,
            &Progress::new(),
            |step| match step {
                Followed::Screened(path, row) => print_line(&screen_line(path, row)),
                Followed::Decided(n, by_threshold) => {
                    println!("{}", decided_line(&n, by_threshold, &out_display));
                }
                Followed::Idle(t) => {
                    println!("no new micrograph for {:.0} s: stopping", t.as_secs_f64());
                }
            },
        )?;
    }
    let (screened, failures) = s.counts();
    println!(
        "{screened} micrographs screened, {} in {}",
        s.table().rows().len(),
        s.table().path().display()
    );
    failed(screened, failures)
}

/// The run's result: an error counting the micrographs that failed, if any did.
fn failed(screened: usize, failures: usize) -> Result<()> {
    if failures > 0 {
        return Err(Reported(format!(
            "{failures} of {screened} micrographs failed (their rows hold the errors)"
        ))
        .into());
    }
    Ok(())
}

/// Applies the thresholds, saves the table and writes the exports, printing the counts.
fn decide(s: &mut Screener, out: &Path) -> Result<()> {
    let (n, by_threshold) = s.decide()?;
    println!(
        "{}",
        decided_line(&n, by_threshold, &out.display().to_string())
    );
    Ok(())
}

/// The counts line printed after deciding.
fn decided_line(n: &ExportCounts, by_threshold: usize, out: &str) -> String {
    format!(
        "{} accepted, {} rejected ({by_threshold} by thresholds): accepted_micrographs.star, accepted.txt, rejected.csv in {out}",
        n.accepted, n.rejected
    )
}

/// The line printed for a screened micrograph: its error line, or its numbers.
fn screen_line(path: &Path, row: &ScreenRow) -> String {
    match &row.error {
        Some(e) => e.clone(),
        None => format!(
            "{}: SNR raw {} / denoised {} dB, SNBR {} dB, ice {} dB ({} s)",
            path.display(),
            cell(row.snr_raw_db),
            cell(row.snr_denoised_db),
            cell(row.snbr_db),
            cell(row.ice_ring_db),
            cell(row.seconds)
        ),
    }
}

/// Prints a result line: an error line on stderr, the rest on stdout.
fn print_line(line: &str) {
    if line.starts_with("error: ") {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}

/// A number for the printed line, `–` when unmeasured.
fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}
