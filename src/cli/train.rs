//! `cryolens train`: noise2noise training of a Topaz 2D architecture or of restore's WDSR
//! U-net (`--arch wdsr`, with restore's preprocessing and defaults) from even/odd pairs or
//! count-split exposures, with an indicatif progress bar (loss, crops/s, ETA); see
//! [`crate::train`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::device::{ComputeDevice, DeviceChoice};
use crate::models::format::{self, RestorePreprocessing};
use crate::train::{
    self, DataOptions, LossKind, OptimizerKind, StepDecay, TrainConfig, TrainEnd, TrainHandle,
    TrainOutcome, TrainPhase, TrainRun, TrainStatus,
};

/// `cryolens train` options.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Even halves (frame sums of even frames), paired in order with `--odd`.
    #[arg(long, num_args = 1.., requires = "odd", conflicts_with_all = ["pairs_dir", "split_counts"])]
    pub even: Vec<PathBuf>,
    /// Odd halves.
    #[arg(long, num_args = 1.., requires = "even")]
    pub odd: Vec<PathBuf>,
    /// A folder of pairs named X_EVN/X_ODD or X_even/X_odd (.mrc, .tif).
    #[arg(long, conflicts_with = "split_counts")]
    pub pairs_dir: Option<PathBuf>,
    /// Counting-mode exposures, each split into two halves by binomial count splitting.
    #[arg(long, num_args = 1..)]
    pub split_counts: Vec<PathBuf>,
    /// Use data that fail a check: count-split data that are not integer counts × gain
    /// (values rounded to counts), even/odd halves whose pixel sizes differ by more than 1 %
    /// or lie outside 0.05–100 Å/px.
    #[arg(long)]
    pub force: bool,
    /// Architecture: unet | unet-small | fcnn | affine | unet-v0.2.1 | wdsr (alias restore:
    /// restore's WDSR U-net; its data are Fourier cropped to --max-resolution, band-passed
    /// and optionally phase flipped, and the defaults below become restore's).
    #[arg(long, default_value = "unet-small")]
    pub arch: String,
    /// Loss (L0 anneals γ from 2 to 0).
    #[arg(long, value_enum, default_value_t = LossKind::L2)]
    pub loss: LossKind,
    /// Optimiser [default: adagrad; wdsr: adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// Learning rate [default: 0.001; wdsr: 0.0001].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Multiply the learning rate by this every --lr-decay-every epochs [default: none;
    /// wdsr: 0.5, halving at each quarter of the epochs].
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Epochs between learning-rate decays [default with --lr-decay, and wdsr: a quarter of
    /// --epochs, rounded up].
    #[arg(long)]
    pub lr_decay_every: Option<u64>,
    /// Crop side in px [default: 800; wdsr: 192].
    #[arg(long)]
    pub crop: Option<usize>,
    /// Crop pairs per step [default: 4; wdsr: 10].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Epochs [default: 10; wdsr: 100].
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Steps per epoch [default: one crop per training pair, ⌈pairs / batch⌉; wdsr: 500].
    #[arg(long)]
    pub steps_per_epoch: Option<u64>,
    /// wdsr: highest resolution kept in Å; micrographs are Fourier cropped to half of it per
    /// pixel.
    #[arg(long, default_value_t = crate::restore::DEFAULT_MAX_RESOLUTION_ANGSTROM)]
    pub max_resolution: f64,
    /// wdsr: frequencies below 1/this Å⁻¹ are removed.
    #[arg(long, default_value_t = 200.0)]
    pub highpass: f64,
    /// wdsr: phase flip the training data with the CTFs of this RELION STAR file.
    #[arg(long)]
    pub ctf_star: Option<PathBuf>,
    /// How crops are normalised: `patch` z-scores every crop on its own (restore, supplement
    /// S2.1), `micrograph` only normalises each whole micrograph (Topaz) [default: micrograph;
    /// wdsr: patch].
    #[arg(long, value_enum)]
    pub normalise: Option<Normalisation>,
    /// wdsr: feature maps of the WDSR U-net (the paper's 32).
    #[arg(long)]
    pub wdsr_filters: Option<usize>,
    /// Fraction held out for validation (whole pairs, or the bottom rows when there are too
    /// few pairs).
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// Fixed validation crops.
    #[arg(long, default_value_t = 8)]
    pub validation_crops: usize,
    /// Train A → B only (default: both directions).
    #[arg(long)]
    pub one_direction: bool,
    /// No random rotations/mirrors.
    #[arg(long)]
    pub no_augment: bool,
    /// Start from this model (Topaz name, Topaz state dict or Cryolens model).
    #[arg(long)]
    pub from_pretrained: Option<String>,
    /// Output: a NAME (saved in the models folder, then usable as `--model NAME`), a
    /// `.safetensors` path, or a folder.
    #[arg(long, short)]
    pub output: String,
    /// Continue from the output's checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Seed of crops, transforms, order, count splits and initial weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Checkpoint every N steps (0: every epoch).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: u64,
    /// Validate every N steps (0: every epoch).
    #[arg(long, default_value_t = 0)]
    pub validate_every: u64,
    /// Pairs kept in memory.
    #[arg(long, default_value_t = 4)]
    pub cache: usize,
    /// Note recorded in the model's JSON.
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Compute device (`gpu`: wgpu; any CPU choice trains on burn Flex).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// How training crops are normalised (`--normalise`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Normalisation {
    /// Every crop z-scored on its own (restore).
    Patch,
    /// Each whole micrograph z-scored once (Topaz).
    Micrograph,
}

/// Builds the run from the options.
///
/// # Errors
/// No data given, unreadable pair folder, mismatched lists.
pub fn build_run(args: &TrainArgs) -> Result<TrainRun> {
    let sources = if !args.even.is_empty() {
        train::pairs_from_lists(&args.even, &args.odd)?
    } else if let Some(dir) = &args.pairs_dir {
        train::pairs_from_dir(dir)?
    } else if !args.split_counts.is_empty() {
        train::count_split_sources(&args.split_counts, args.force)
    } else {
        bail!("no training data: give --even/--odd, --pairs-dir or --split-counts");
    };
    let wdsr = train::is_wdsr_architecture(&args.arch);
    let base = if wdsr {
        TrainConfig::restore()
    } else {
        TrainConfig::default()
    };
    let epochs = args.epochs.unwrap_or(base.epochs);
    // restore halves the rate at each quarter of the run, whatever its length.
    let quarters = StepDecay::quarters(epochs);
    let lr_decay = match (args.lr_decay, args.lr_decay_every) {
        (None, None) => base.lr_decay.map(|_| quarters),
        (factor, every) => Some(StepDecay {
            factor: factor.unwrap_or(quarters.factor),
            every_epochs: every.unwrap_or(quarters.every_epochs),
        }),
    };
    let config = TrainConfig {
        architecture: args.arch.clone(),
        wdsr: base.wdsr.map(|w| crate::models::wdsr::WdsrConfig {
            filters: args.wdsr_filters.unwrap_or(w.filters),
            ..w
        }),
        from_pretrained: args.from_pretrained.clone(),
        loss: args.loss,
        optimizer: args.optimizer.unwrap_or(base.optimizer),
        learning_rate: args.lr.unwrap_or(base.learning_rate),
        lr_decay,
        epochs,
        steps_per_epoch: args.steps_per_epoch.or(base.steps_per_epoch),
        both_directions: !args.one_direction,
        data: DataOptions {
            crop_px: args.crop.unwrap_or(base.data.crop_px),
            batch: args.batch.unwrap_or(base.data.batch),
            holdout_fraction: args.holdout,
            augment: !args.no_augment,
            seed: args.seed,
            cache_pairs: args.cache,
            validation_crops: args.validation_crops,
            normalise_patches: args
                .normalise
                .map_or(base.data.normalise_patches, |n| n == Normalisation::Patch),
            restore: wdsr.then(|| RestorePreprocessing {
                max_resolution_angstrom: args.max_resolution,
                highpass_angstrom: args.highpass,
                ctf_star: args.ctf_star.clone(),
            }),
            force_sampling: args.force,
        },
        validate_every_steps: args.validate_every,
        checkpoint_every_steps: args.checkpoint_every,
        ..base
    };
    if config.from_pretrained.is_none() {
        train::resolve_architecture(&config)?;
    }
    Ok(TrainRun {
        config,
        sources,
        output: format::resolve_output(&args.output),
        resume: args.resume,
        command_line: std::iter::once("cryolens".to_string())
            .chain(std::env::args().skip(1))
            .map(|a| if a.contains(' ') { format!("'{a}'") } else { a })
            .collect::<Vec<_>>()
            .join(" "),
        notes: args.notes.clone(),
    })
}

/// Runs `cryolens train`.
///
/// # Errors
/// Bad options or data, training failures.
pub fn run(args: &TrainArgs) -> Result<()> {
    let run = build_run(args)?;
    let device = ComputeDevice::select(args.device)?;
    let output = run.output.clone();
    println!("output: {}", output.display());
    let mut handle = train::start(run, device);
    let result = follow(&mut handle, |st| {
        format!("{:.2} crops/s", st.crops_per_second)
    });
    let outcome = result?;
    println!("device: {}", handle.status().device);
    println!(
        "{} steps, {:.3} crops/s (each direction of a crop pair counts as one crop)",
        outcome.steps, outcome.crops_per_second
    );
    match outcome.end {
        TrainEnd::Cancelled => println!(
            "cancelled; checkpoint in {} (continue with --resume)",
            outcome.checkpoint_dir.display()
        ),
        _ => {
            if let Some(p) = &outcome.model_path {
                println!(
                    "model: {} (+ {})",
                    p.display(),
                    format::meta_path(p).display()
                );
            }
        }
    }
    Ok(())
}

/// Follows a training run on the terminal until it ends: a progress bar whose message gives
/// the phase, epoch, training and validation losses and `rate(status)`, with the loss history
/// printed above it as it grows. Returns the run's result.
pub(super) fn follow(
    handle: &mut TrainHandle,
    rate: impl Fn(&TrainStatus) -> String,
) -> Result<TrainOutcome> {
    let bar = super::progress_bar(0, "training");
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:60} [{bar:25}] {pos}/{len} {elapsed_precise} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut printed = 0usize;
    let result = loop {
        if let Some(r) = handle.try_result() {
            break r;
        }
        let st = handle.status();
        bar.set_length(st.total_steps);
        bar.set_position(st.step);
        let phase = match st.phase {
            TrainPhase::Loading => "loading",
            TrainPhase::Validating => "validating",
            TrainPhase::Previewing => "preview",
            TrainPhase::Saving => "saving",
            _ => "training",
        };
        bar.set_message(format!(
            "{phase} ep {:.2} loss {} val {} {}",
            st.epoch,
            st.train_loss.map_or("-".into(), |v| format!("{v:.4}")),
            st.validation_loss.map_or("-".into(), |v| format!("{v:.4}")),
            rate(&st)
        ));
        for p in handle.shared().history_since(printed) {
            printed += 1;
            bar.suspend(|| println!("{}", metric_line(&p)));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    bar.finish_and_clear();
    for p in handle.shared().history_since(printed) {
        println!("{}", metric_line(&p));
    }
    result
}

/// One printed line of the loss history.
fn metric_line(p: &crate::train::MetricPoint) -> String {
    let loss = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.5}"));
    format!(
        "step {:>6} epoch {:>7.2}  train {}  validation {}",
        p.step,
        p.epoch,
        loss(p.train_loss),
        loss(p.validation_loss)
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    /// The run `cryolens train ARGS` builds (`args` split at white space).
    fn run_of(args: &str) -> TrainRun {
        let cli = Cli::try_parse_from(
            ["cryolens", "train"]
                .into_iter()
                .chain(args.split_whitespace()),
        )
        .unwrap();
        let Some(Command::Train(a)) = cli.command else {
            panic!("not a train command")
        };
        build_run(&a).unwrap()
    }

    /// wdsr takes restore's defaults: per-patch z-scoring, 3.0 Å, the rate halved at each
    /// quarter of whatever number of epochs is asked for; Topaz architectures keep theirs.
    #[test]
    fn wdsr_defaults_follow_restore() {
        let r = run_of("--split-counts a.mrc --arch wdsr -o x --epochs 8");
        let c = &r.config;
        assert!(c.data.normalise_patches);
        assert_eq!(
            c.data.restore.as_ref().unwrap().max_resolution_angstrom,
            3.0
        );
        let d = c.lr_decay.unwrap();
        assert_eq!((d.factor, d.every_epochs), (0.5, 2));
        assert_eq!(c.learning_rate_at(7), 1e-4 / 8.0);
        let r = run_of("--split-counts a.mrc --arch wdsr -o x --normalise micrograph");
        assert!(!r.config.data.normalise_patches);
        assert_eq!(r.config.lr_decay.unwrap().every_epochs, 25);
        let r = run_of("--split-counts a.mrc -o x");
        assert!(!r.config.data.normalise_patches && r.config.lr_decay.is_none());
    }
}
