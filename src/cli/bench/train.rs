//! `cryolens bench --what train`: noise2noise training steps of the native CPU kernels, of
//! burn's autodiff and of Topaz's PyTorch model (`assets/bench/topaz_train_peer.py`).

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::image::Image;
use crate::models::TopazArch;

use super::{BenchArgs, default_input, load_average_1min, python_can, run_peer};

/// One trainer's timing in the training benchmark.
#[derive(Clone, Debug)]
pub struct TrainBenchRow {
    /// Who trained ("Cryolens native CPU", "burn Flex autodiff", "Topaz (PyTorch)").
    pub trainer: String,
    /// Mean wall time of a step (forward, backward, optimiser), s; `None` when not run.
    pub seconds_per_step: Option<f64>,
    /// Why it was not run, when it was not.
    pub note: Option<String>,
}

/// `n` crop pairs of `crop`² from the middle of `image`, normalised by the mean and σ of all
/// of them; B is A shifted one pixel right (a stand-in for the other half).
fn train_bench_crops(image: &Image, n: usize, crop: usize) -> Result<crate::train::Batch> {
    if crop + n + 1 > image.width || crop + n > image.height {
        bail!(
            "the input ({}×{}) is too small for {n} crops of {crop} px",
            image.width,
            image.height
        );
    }
    let (cx, cy) = (
        (image.width - crop - n - 1) / 2,
        (image.height - crop - n) / 2,
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        // Overlapping crops, each offset diagonally by i px: distinct but all in the centre.
        a.extend_from_slice(&image.crop(cx + i, cy + i, crop, crop).data);
        b.extend_from_slice(&image.crop(cx + i + 1, cy + i, crop, crop).data);
    }
    let count = (a.len() + b.len()) as f64;
    let mean = a.iter().chain(&b).map(|&v| v as f64).sum::<f64>() / count;
    let var = a
        .iter()
        .chain(&b)
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / count;
    let sd = var.sqrt().max(f64::MIN_POSITIVE);
    for v in a.iter_mut().chain(b.iter_mut()) {
        *v = ((*v as f64 - mean) / sd) as f32;
    }
    Ok(crate::train::Batch {
        a,
        b,
        n,
        crop_px: crop,
    })
}

/// `cryolens bench --what train`: mean time of `--steps` (3) noise2noise training steps after
/// one warm-up step, `--arch` (unet-small), `--batch` (4) crop pairs of `--crop` (256) px from
/// the middle of `--input`, both directions (2 × batch crops through the network per step),
/// L2 loss, Adagrad lr 10⁻³ (Topaz's defaults), for:
///
/// 1. Cryolens's native CPU kernels ([`crate::train::native::native_step`] + burn's optimiser);
/// 2. burn Flex with autodiff (what `cryolens train` uses for the WDSR U-net), unless
///    `--burn false`;
/// 3. Topaz's own model class trained by plain PyTorch (`assets/bench/topaz_train_peer.py`,
///    run by `--python`, e.g. `/opt/topaz-venv/bin/python`) with the same number of threads;
///    "n/a" when that interpreter lacks topaz-em and torch.
///
/// Prints a Markdown table (trainer | s/step | crops/s | speed vs Topaz), the time to read the
/// weights out of the burn module for the native step, and the losses of the first step
/// (native and burn must agree).
///
/// # Errors
/// Unreadable input, an unknown architecture, crops too large for the input or too small for
/// the model, a Topaz script that fails or prints something unexpected.
pub fn run_train(args: &BenchArgs) -> Result<()> {
    use burn::module::Module;
    use burn::optim::{AdaGradConfig, GradientsParams};
    use burn::prelude::{Device, Tensor, TensorData};

    use crate::models::TopazModel;
    use crate::train::native::{NativeTrainNet, native_step};
    use crate::train::{LossKind, loss};

    let arch = TopazArch::from_name(&args.arch).with_context(|| {
        format!(
            "unknown architecture '{}' (unet, unet-small, fcnn, affine, unet-v0.2.1)",
            args.arch
        )
    })?;
    if args.batch == 0 || args.crop == 0 {
        bail!("--batch and --crop must be at least 1");
    }
    let steps = args.steps.max(1);
    let input = args.input.clone().unwrap_or_else(default_input);
    let image = crate::io::read_micrograph(&input)
        .with_context(|| format!("reading {}", input.display()))?;
    let batch = train_bench_crops(&image, args.batch, args.crop)?;
    let crops_per_step = 2 * args.batch;
    let threads = rayon::current_num_threads();
    println!(
        "input: {} ({}×{} px); {} {}² crop pairs per step, both directions ({} crops), L2, Adagrad lr 1e-3",
        input.display(),
        image.width,
        image.height,
        args.batch,
        args.crop,
        crops_per_step
    );
    println!(
        "threads: {threads} (rayon; torch gets the same); 1 warm-up step, then the mean of {steps}"
    );
    let lr = 1e-3;
    let make_optim = || AdaGradConfig::new().with_epsilon(1e-10).init();
    let ad = Device::flex().autodiff();
    let fresh = || TopazModel::init(arch.config(), &ad).set_require_grad(true);
    let mut load = load_average_1min().unwrap_or(0.0);

    // 1. native
    let mut model = fresh();
    let mut optim = make_optim();
    let mut native = StepTimes::default();
    let mut extract_times = Vec::new();
    for i in 0..=steps {
        let t = Instant::now();
        let (value, grads) = native_step(&model, &batch, true, LossKind::L2, 2.0)?;
        model = optim.step(lr, model, grads);
        if native.record("native", i, t, value) {
            let t = Instant::now();
            NativeTrainNet::from_model(&model)?;
            extract_times.push(t.elapsed().as_secs_f64());
        }
    }
    load = load.max(load_average_1min().unwrap_or(0.0));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;

    // 2. burn autodiff
    let mut burn = StepTimes::default();
    let burn_seconds = if args.burn {
        let mut model = fresh();
        let mut optim = make_optim();
        let (n, c) = (batch.n, batch.crop_px);
        let mut x = batch.a.clone();
        x.extend_from_slice(&batch.b);
        let mut y = batch.b.clone();
        y.extend_from_slice(&batch.a);
        for i in 0..=steps {
            let t = Instant::now();
            let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [2 * n, 1, c, c]), &ad);
            let yt = Tensor::<4>::from_data(TensorData::new(y.clone(), [2 * n, 1, c, c]), &ad);
            let l = loss::loss(LossKind::L2, model.forward(xt), yt, 2.0);
            let value = l
                .clone()
                .into_data()
                .iter::<f32>()
                .next()
                .context("empty loss")? as f64;
            let grads = GradientsParams::from_grads(l.backward(), &model);
            model = optim.step(lr, model, grads);
            burn.record("burn", i, t, value);
        }
        Some(mean(&burn.seconds))
    } else {
        None
    };
    load = load.max(load_average_1min().unwrap_or(0.0));

    // 3. Topaz
    let topaz = time_topaz_train(&args.python, &args.arch, &batch, steps, threads)?;
    load = load.max(load_average_1min().unwrap_or(0.0));

    let rows = [
        TrainBenchRow {
            trainer: "Cryolens native CPU kernels".into(),
            seconds_per_step: Some(mean(&native.seconds)),
            note: None,
        },
        TrainBenchRow {
            trainer: "burn Flex autodiff".into(),
            seconds_per_step: burn_seconds,
            note: (!args.burn).then(|| "not run (--burn false)".into()),
        },
        TrainBenchRow {
            trainer: "Topaz (PyTorch, CPU)".into(),
            seconds_per_step: topaz,
            note: topaz.is_none().then(|| {
                format!(
                    "n/a: {} has no topaz-em with torch (pass --python /opt/topaz-venv/bin/python)",
                    args.python
                )
            }),
        },
    ];
    println!("architecture: {}", arch.config().describe());
    print_train_table(&rows, crops_per_step, topaz);
    println!(
        "native: reading the weights out of the burn module takes {:.1} ms per step (included above)",
        1e3 * mean(&extract_times)
    );
    if let (Some(a), Some(b)) = (native.first_loss, burn.first_loss) {
        println!("first-step loss: native {a:.6}, burn {b:.6} (different random initialisations)");
    }
    if load > 1.5 {
        println!(
            "note: 1-min load average reached {load:.2} (> 1.5) on {} cores: other processes were running, timings may be inflated",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    Ok(())
}

/// Prints the training benchmark as a Markdown table; the last column is Topaz's time per step
/// over the trainer's (above 1: faster than Topaz).
pub fn print_train_table(rows: &[TrainBenchRow], crops_per_step: usize, topaz: Option<f64>) {
    println!("| trainer | s / step | crops / s | speed vs Topaz |");
    println!("|---|---|---|---|");
    for r in rows {
        match r.seconds_per_step {
            Some(t) => println!(
                "| {} | {:.2} | {:.3} | {} |",
                r.trainer,
                t,
                crops_per_step as f64 / t,
                topaz.map_or_else(|| "n/a".into(), |p| format!("{:.2}×", p / t)),
            ),
            None => println!(
                "| {} | n/a | n/a | {} |",
                r.trainer,
                r.note.as_deref().unwrap_or("n/a")
            ),
        }
    }
}

/// One trainer's timed steps; step 0 is a warm-up, printed but not timed.
#[derive(Default)]
struct StepTimes {
    /// The loss of step 0.
    first_loss: Option<f64>,
    /// Seconds of each step after the warm-up.
    seconds: Vec<f64>,
}

impl StepTimes {
    /// Records step `i` of `trainer`, begun at `started` (optimiser step included), with loss
    /// `loss`, and prints it; true when the step is timed (not the warm-up).
    fn record(&mut self, trainer: &str, i: usize, started: Instant, loss: f64) -> bool {
        let dt = started.elapsed().as_secs_f64();
        self.first_loss.get_or_insert(loss);
        eprintln!("{trainer} step {i}: {dt:.2} s, loss {loss:.5}");
        if i > 0 {
            self.seconds.push(dt);
        }
        i > 0
    }
}

/// Runs `assets/bench/topaz_train_peer.py` on `batch`: mean seconds per step, `None` if
/// `python` lacks topaz-em or torch.
fn time_topaz_train(
    python: &str,
    arch: &str,
    batch: &crate::train::Batch,
    steps: usize,
    threads: usize,
) -> Result<Option<f64>> {
    if !python_can(python, "import topaz.denoising.models, torch, numpy") {
        return Ok(None);
    }
    let dir = tempfile::tempdir().context("creating a temporary folder")?;
    let script = dir.path().join("topaz_train_peer.py");
    std::fs::write(
        &script,
        include_str!("../../../assets/bench/topaz_train_peer.py"),
    )?;
    let write = |name: &str, v: &[f32]| -> Result<std::path::PathBuf> {
        let p = dir.path().join(name);
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(&p, bytes)?;
        Ok(p)
    };
    let (pa, pb) = (write("a.f32", &batch.a)?, write("b.f32", &batch.b)?);
    let (v, line) = run_peer(
        Command::new(python)
            .arg(&script)
            .arg(arch)
            .arg(&pa)
            .arg(&pb)
            .arg(batch.n.to_string())
            .arg(batch.crop_px.to_string())
            .arg(steps.to_string())
            .arg(threads.to_string()),
        "Topaz's training step",
        "Topaz",
    )?;
    v["seconds_per_step"]
        .as_f64()
        .map(Some)
        .with_context(|| format!("Topaz's output has no seconds_per_step: {line}"))
}
