//! The whole Noise-Transfer2Clean pipeline (Li et al. 2022, Fig. 1), from real micrographs
//! and an atomic model to a registered fine denoiser, each stage's artefacts kept in a work
//! folder:
//!
//! 1. **Simulated pairs** (`simulated/sim_NN/`): micrographs of the atomic model made with the
//!    real data's pixel size, dose and CTF ([`crate::simulate`]), each with its truth.
//! 2. **Coarse denoiser** (`coarse.safetensors`): supervised L2 training (eq. 1) on the
//!    simulated noisy → truth pairs ([`PairSource::Supervised`]). The paper trains it from
//!    scratch; on a CPU budget we start from a denoiser (by default the bundled
//!    `cryolens-unet-small`) so a few hundred steps suffice; `coarse_from: None` starts from
//!    random weights as the paper does.
//! 3. **Background patches** (`coarse_denoised/`, `background_patches.csv`,
//!    `noise_patches.mrcs`): each real micrograph denoised by the coarse model, its background
//!    found there (§2.2.2, [`super::patches`]) and cut from the raw micrograph.
//! 4. **Noise synthesiser** (`gan_samples.mrcs`, `gan_critic_loss.csv`): WGAN-GP on the real
//!    noise patches ([`super::gan`]).
//! 5. **Re-weighted pairs** (`reweighted/`, `reweighting.csv`): each simulated truth S with a
//!    mosaic V of synthesised 64² noise patches, re-weighted to the contrast of its simulated
//!    noisy micrograph X (eq. 4, [`super::reweight`]). We re-weight whole simulated
//!    micrographs (one α, β, γ each) rather than every patch: the mosaic's noise is
//!    stationary, so one fit per micrograph estimates the same coefficients with less
//!    variance.
//! 6. **Fine denoiser** (the registered model): initialised from the coarse one and trained
//!    on the re-weighted pairs, saved where `--model NAME` finds it.
//! 7. **Denoised micrographs** (`denoised/`) by the fine model, and `report.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::gan::{GanConfig, train_gan};
use super::patches::{PatchSettings, cut_patches, find_background_patches};
use super::reweight::reweight;
use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::ComputeDevice;
use crate::image::{Image, Volume};
use crate::jobs::Progress;
use crate::models::ModelSpec;
use crate::models::nt2c::GAN_PATCH_PX;
use crate::simulate::{self, SimulationConfig};
use crate::train::config::{OptimizerKind, TrainConfig, TrainRun};
use crate::train::control::{TrainEnd, TrainShared};
use crate::train::data::{DataOptions, PairSource};
use crate::train::loss::LossKind;

/// What shapes a run; [`Nt2cSettings::cpu`] gives defaults sized for a 2-core CPU.
#[derive(Clone, Debug)]
pub struct Nt2cSettings {
    /// The simulation of one micrograph: specimen, size, pixel size, dose, CTF (its seed is
    /// the first micrograph's; micrograph i uses seed + i).
    pub simulation: SimulationConfig,
    /// Simulated micrographs.
    pub simulated_micrographs: usize,
    /// The coarse denoiser's starting weights (a `--model` value), or `None` for random
    /// weights of `unet-small`.
    pub coarse_from: Option<String>,
    /// Optimisation steps of the coarse denoiser.
    pub coarse_steps: u64,
    /// Optimisation steps of the fine denoiser.
    pub fine_steps: u64,
    /// Training crop side, px.
    pub crop_px: usize,
    /// Crops per step.
    pub batch: usize,
    /// Adam's learning rate for both denoisers.
    pub learning_rate: f64,
    /// Background-patch extraction (§2.2.2).
    pub patches: PatchSettings,
    /// The noise synthesiser's training.
    pub gan: GanConfig,
    /// Noise mosaics (re-weighted pairs) per simulated micrograph.
    pub mosaics_per_micrograph: usize,
}

impl Nt2cSettings {
    /// CPU-sized defaults around `simulation`: 8 simulated micrographs, coarse and fine
    /// denoisers of 160 steps of 4 crops of 256² from `cryolens-unet-small`, Adam 10⁻⁴, the
    /// paper's patch extraction (d 320, step 160, N 4, SSIM 0.7), 200 WGAN-GP steps at Adam
    /// 4·10⁻⁴ (WGAN-GP's usual 10⁻⁴ is still far from the real noise after 200 steps), two
    /// noise mosaics per simulated micrograph.
    pub fn cpu(simulation: SimulationConfig) -> Self {
        Self {
            simulation,
            simulated_micrographs: 8,
            coarse_from: Some("cryolens-unet-small".into()),
            coarse_steps: 160,
            fine_steps: 160,
            crop_px: 256,
            batch: 4,
            learning_rate: 1e-4,
            patches: PatchSettings::default(),
            gan: GanConfig {
                steps: 200,
                learning_rate: 4e-4,
                ..GanConfig::default()
            },
            mosaics_per_micrograph: 2,
        }
    }
}

/// One run: the settings, the real micrographs, where things go.
#[derive(Clone, Debug)]
pub struct Nt2cRun {
    /// The settings.
    pub settings: Nt2cSettings,
    /// The real micrographs (their pixel size is the simulation's).
    pub micrographs: Vec<PathBuf>,
    /// The work folder of the stages' artefacts.
    pub work_dir: PathBuf,
    /// The fine denoiser's weights file (a registered name resolved, `X.safetensors`).
    pub model_output: PathBuf,
    /// Recorded in the models' JSON.
    pub command_line: String,
}

/// What one stage did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage.
    pub stage: String,
    /// Wall time, seconds.
    pub seconds: f64,
    /// What it made, in words.
    pub detail: String,
}

/// What the run did (also `report.json` in the work folder).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Nt2cReport {
    /// Each stage in order.
    pub stages: Vec<StageReport>,
    /// Background patches found, over all micrographs.
    pub background_patches: usize,
    /// (α, β, γ) of every re-weighted pair.
    pub reweighting: Vec<[f64; 3]>,
    /// The coarse and fine denoisers' last validation losses.
    pub validation_loss: [Option<f64>; 2],
    /// The registered fine denoiser.
    pub model: PathBuf,
    /// The fine denoiser's outputs, one per micrograph.
    pub denoised: Vec<PathBuf>,
}

/// Runs every stage (module docs) on `device`, reporting each stage's progress through
/// `progress` and a line per finished stage through `log`.
///
/// # Errors
/// Unreadable micrographs, a micrograph without pixel size that differs from the simulation's,
/// a bad simulation, no background patch found (lower the threshold), a failed training, an
/// unwritable work folder, cancellation.
pub fn run_nt2c(
    run: &Nt2cRun,
    device: &ComputeDevice,
    progress: &Progress,
    log: &mut dyn FnMut(&str),
) -> Result<Nt2cReport> {
    let s = &run.settings;
    let work = &run.work_dir;
    for sub in ["", "coarse_denoised", "reweighted", "denoised"] {
        let dir = work.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let pixel = s.simulation.pixel_size_angstrom;
    let raws = read_micrographs(&run.micrographs, pixel)?;
    let mut stages = Vec::new();
    let mut stage = |name: &str, started: Instant, detail: String, log: &mut dyn FnMut(&str)| {
        let seconds = started.elapsed().as_secs_f64();
        log(&format!("{name}: {detail} ({seconds:.0} s)"));
        stages.push(StageReport {
            stage: name.into(),
            seconds,
            detail,
        });
    };

    // 1. Simulated pairs.
    let t = Instant::now();
    let sims = simulate_pairs(s, &work.join("simulated"), progress)?;
    stage(
        "simulation",
        t,
        format!(
            "{} micrographs of {}² px at {pixel:.4} Å/px, {:.1} e⁻/Å², defocus {:.2} µm",
            sims.len(),
            s.simulation.size,
            s.simulation.dose_e_per_angstrom2,
            s.simulation.defocus_um
        ),
        log,
    );

    // 2. Coarse denoiser.
    let t = Instant::now();
    let coarse_path = work.join("coarse.safetensors");
    let sources = sims
        .iter()
        .enumerate()
        .map(|(i, (noisy, truth))| PairSource::Supervised {
            name: format!("simulated {i}"),
            noisy: Arc::new(noisy.clone()),
            clean: Arc::new(truth.clone()),
        })
        .collect();
    let coarse_loss = train_denoiser(
        run,
        sources,
        s.coarse_from.clone(),
        s.coarse_steps,
        &coarse_path,
        "NT2C coarse denoiser: supervised on simulated noisy/truth pairs",
        device,
        progress,
    )?;
    stage(
        "coarse denoiser",
        t,
        format!(
            "{} steps, validation loss {}",
            s.coarse_steps,
            loss_text(coarse_loss)
        ),
        log,
    );

    // 3. Background patches.
    let t = Instant::now();
    let coarse = Denoiser2d::load(&ModelSpec::parse(&coarse_path.to_string_lossy())?, device)?;
    let mut noise_patches = Vec::new();
    let mut table = String::from("micrograph,x_px,y_px,size_px,min_ssim\n");
    let names = stems(&run.micrographs);
    for ((raw, path), name) in raws.iter().zip(&run.micrographs).zip(&names) {
        let enhanced = coarse.denoise(raw, &TileConfig::default(), progress)?;
        crate::io::mrc::write_image(
            &work.join("coarse_denoised").join(format!("{name}.mrc")),
            &enhanced,
        )?;
        let found = find_background_patches(&enhanced, &s.patches)
            .with_context(|| format!("{}: finding background patches", path.display()))?;
        for p in &found {
            table += &format!(
                "{},{},{},{},{:.4}\n",
                path.display(),
                p.x,
                p.y,
                s.patches.patch_px,
                p.min_ssim
            );
        }
        noise_patches.extend(cut_patches(raw, &found, s.patches.patch_px)?);
    }
    crate::io::atomic::write_atomically(&work.join("background_patches.csv"), table.as_bytes())?;
    if noise_patches.is_empty() {
        bail!(
            "no background patch found on the coarse-denoised micrographs (lower the SSIM threshold, now {}, or the patch size, now {} px)",
            s.patches.threshold,
            s.patches.patch_px
        );
    }
    write_stack(&work.join("noise_patches.mrcs"), &noise_patches, pixel)?;
    stage(
        "background patches",
        t,
        format!(
            "{} patches of {}² px (SSIM threshold {})",
            noise_patches.len(),
            s.patches.patch_px,
            s.patches.threshold
        ),
        log,
    );

    // 4. Noise synthesiser.
    let t = Instant::now();
    let ad = crate::train::training_device(device);
    let gan = train_gan(&noise_patches, &s.gan, &ad, progress)?;
    let losses: String = std::iter::once("generator_step,critic_loss\n".to_string())
        .chain(
            gan.critic_losses
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{},{l}\n", i + 1)),
        )
        .collect();
    crate::io::atomic::write_atomically(&work.join("gan_critic_loss.csv"), losses.as_bytes())?;
    write_stack(
        &work.join("gan_samples.mrcs"),
        &gan.sample(64, s.gan.seed ^ 0x5A, &ad)?,
        pixel,
    )?;
    stage(
        "noise synthesiser",
        t,
        format!(
            "{} WGAN-GP steps, last critic loss {:.3}",
            s.gan.steps,
            gan.critic_losses.last().copied().unwrap_or(f64::NAN)
        ),
        log,
    );

    // 5. Re-weighted pairs.
    let t = Instant::now();
    let mut pairs = Vec::new();
    let mut coefficients = Vec::new();
    let mut csv = String::from("pair,simulated,alpha,beta,gamma\n");
    let reweighted = work.join("reweighted");
    for (i, (noisy, truth)) in sims.iter().enumerate() {
        for m in 0..s.mosaics_per_micrograph {
            let k = pairs.len();
            let seed = s.gan.seed.wrapping_add(1000 + k as u64);
            let mosaic = noise_mosaic(&gan, truth.width, truth.height, seed, &ad)?;
            let r = reweight(&truth.data, &mosaic, &noisy.data)?;
            let image = |data: Vec<f32>| -> Result<Image> {
                let mut im = Image::new(truth.width, truth.height, data)?;
                im.pixel_size_angstrom = truth.pixel_size_angstrom;
                Ok(im)
            };
            let (n, c) = (image(r.noisy)?, image(r.clean)?);
            crate::io::mrc::write_image(&reweighted.join(format!("pair_{k:02}_noisy.mrc")), &n)?;
            crate::io::mrc::write_image(&reweighted.join(format!("pair_{k:02}_clean.mrc")), &c)?;
            csv += &format!("{k},{i},{},{},{}\n", r.alpha, r.beta, r.gamma);
            coefficients.push([r.alpha, r.beta, r.gamma]);
            pairs.push(PairSource::Supervised {
                name: format!("re-weighted {k} (simulated {i}, mosaic {m})"),
                noisy: Arc::new(n),
                clean: Arc::new(c),
            });
        }
    }
    crate::io::atomic::write_atomically(&work.join("reweighting.csv"), csv.as_bytes())?;
    stage(
        "re-weighting",
        t,
        format!("{} pairs (eq. 4)", pairs.len()),
        log,
    );

    // 6. Fine denoiser.
    let t = Instant::now();
    let fine_loss = train_denoiser(
        run,
        pairs,
        Some(coarse_path.to_string_lossy().into_owned()),
        s.fine_steps,
        &run.model_output,
        "NT2C fine denoiser: from the coarse denoiser, on re-weighted simulated truth + synthesised real noise",
        device,
        progress,
    )?;
    stage(
        "fine denoiser",
        t,
        format!(
            "{} steps, validation loss {}",
            s.fine_steps,
            loss_text(fine_loss)
        ),
        log,
    );

    // 7. The real micrographs denoised by the fine model.
    let t = Instant::now();
    let fine = Denoiser2d::load(
        &ModelSpec::parse(&run.model_output.to_string_lossy())?,
        device,
    )?;
    let mut denoised = Vec::new();
    for (raw, name) in raws.iter().zip(&names) {
        let out = work.join("denoised").join(format!("{name}.mrc"));
        crate::io::mrc::write_image(&out, &fine.denoise(raw, &TileConfig::default(), progress)?)?;
        denoised.push(out);
    }
    stage(
        "denoising",
        t,
        format!("{} micrographs into denoised/", denoised.len()),
        log,
    );

    let report = Nt2cReport {
        stages,
        background_patches: noise_patches.len(),
        reweighting: coefficients,
        validation_loss: [coarse_loss, fine_loss],
        model: run.model_output.clone(),
        denoised,
    };
    crate::io::atomic::write_atomically(
        &work.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    Ok(report)
}

/// The dose of a counting-mode micrograph: its mean over the gain estimated from the shot
/// noise ([`crate::metrics::estimate_gain`]) and the pixel area (`pixel` Å), e⁻/Å². A
/// dose-weighted or filtered sum has lost the Poisson relation: give the dose for those.
///
/// # Errors
/// An image whose noise gives no gain (not counts), or no plausible dose.
pub fn estimate_dose(image: &Image, pixel: f64) -> Result<f64> {
    let g = crate::metrics::estimate_gain(image)?;
    let dose = image.stats().mean / g.gain / pixel.powi(2);
    if !(dose.is_finite() && dose > 0.0) {
        bail!("the shot noise gives no plausible dose ({dose})");
    }
    Ok(dose)
}

/// Reads the micrographs, giving each the simulation's pixel size when its header has none.
///
/// # Errors
/// An unreadable micrograph; one whose header pixel size differs from the simulation's by
/// more than 1 %.
fn read_micrographs(paths: &[PathBuf], pixel: f64) -> Result<Vec<Image>> {
    if paths.is_empty() {
        bail!("no micrograph given");
    }
    paths
        .iter()
        .map(|path| {
            // The reader's errors already name the file.
            let mut image = crate::io::read_micrograph(path)?;
            image
                .check_finite()
                .with_context(|| path.display().to_string())?;
            match image.pixel_size_angstrom {
                Some(p) if (f64::from(p) - pixel).abs() > 0.01 * pixel => bail!(
                    "{}: pixel size {p} Å in the header, {pixel} Å asked for (leave --pixel-size-angstrom out to use the header's)",
                    path.display()
                ),
                _ => image.pixel_size_angstrom = Some(pixel as f32),
            }
            Ok(image)
        })
        .collect()
}

/// Simulates the pairs (noisy, truth) and writes each simulation's files into `dir/sim_NN/`.
fn simulate_pairs(
    s: &Nt2cSettings,
    dir: &Path,
    progress: &Progress,
) -> Result<Vec<(Image, Image)>> {
    (0..s.simulated_micrographs)
        .map(|i| {
            let config = SimulationConfig {
                seed: s.simulation.seed.wrapping_add(i as u64),
                ..s.simulation.clone()
            };
            let sim = simulate::simulate(&config, progress)?;
            simulate::outputs::write_outputs(&dir.join(format!("sim_{i:02}")), &config, &sim)?;
            Ok((sim.noisy, sim.truth))
        })
        .collect()
}

/// Trains one denoiser on `sources` (one direction, L2, Adam) from `from` (or random
/// `unet-small` weights) into `output`; returns its last validation loss.
#[allow(clippy::too_many_arguments)]
fn train_denoiser(
    run: &Nt2cRun,
    sources: Vec<PairSource>,
    from: Option<String>,
    steps: u64,
    output: &Path,
    notes: &str,
    device: &ComputeDevice,
    progress: &Progress,
) -> Result<Option<f64>> {
    let s = &run.settings;
    let epochs = 4.min(steps.max(1));
    let config = TrainConfig {
        architecture: "unet-small".into(),
        from_pretrained: from,
        loss: LossKind::L2,
        optimizer: OptimizerKind::Adam,
        learning_rate: s.learning_rate,
        lr_decay: None,
        epochs,
        steps_per_epoch: Some(steps.div_ceil(epochs)),
        both_directions: false,
        data: DataOptions {
            crop_px: s.crop_px,
            batch: s.batch,
            holdout_fraction: 0.125,
            augment: true,
            seed: s.simulation.seed,
            cache_pairs: sources.len().max(1),
            validation_crops: 4,
            ..DataOptions::default()
        },
        preview_size_px: 256,
        ..TrainConfig::default()
    };
    let train_run = TrainRun {
        config,
        sources,
        output: output.to_path_buf(),
        resume: false,
        command_line: run.command_line.clone(),
        notes: notes.into(),
    };
    // A rerun starts the stage afresh: an old checkpoint of another run must not be resumed.
    let checkpoints = crate::train::checkpoint::checkpoint_dir(output);
    if checkpoints.exists() {
        std::fs::remove_dir_all(&checkpoints)
            .with_context(|| format!("removing the old {}", checkpoints.display()))?;
    }
    let shared = TrainShared::new();
    let outcome = crate::train::train(&train_run, device, progress, &shared)?;
    if outcome.end == TrainEnd::Cancelled {
        bail!("NT2C cancelled while training {}", output.display());
    }
    Ok(shared
        .history()
        .iter()
        .rev()
        .find_map(|m| m.validation_loss))
}

/// A `width` × `height` mosaic of synthesised 64² noise patches (the last row and column cut).
fn noise_mosaic(
    gan: &super::gan::NoiseGan,
    width: usize,
    height: usize,
    seed: u64,
    device: &burn::prelude::Device,
) -> Result<Vec<f32>> {
    let p = GAN_PATCH_PX;
    let (nx, ny) = (width.div_ceil(p), height.div_ceil(p));
    let tiles = gan.sample(nx * ny, seed, device)?;
    let mut out = vec![0.0f32; width * height];
    for (t, tile) in tiles.iter().enumerate() {
        let (x0, y0) = ((t % nx) * p, (t / nx) * p);
        for y in y0..(y0 + p).min(height) {
            let w = (x0 + p).min(width) - x0;
            out[y * width + x0..y * width + x0 + w]
                .copy_from_slice(&tile.data[(y - y0) * p..(y - y0) * p + w]);
        }
    }
    Ok(out)
}

/// Writes same-sized images as one MRC stack (z = image index).
fn write_stack(path: &Path, images: &[Image], pixel: f64) -> Result<()> {
    let Some(first) = images.first() else {
        return Ok(());
    };
    let volume = Volume {
        width: first.width,
        height: first.height,
        depth: images.len(),
        data: images
            .iter()
            .flat_map(|im| im.data.iter().copied())
            .collect(),
        pixel_size_angstrom: Some(pixel as f32),
    };
    crate::io::mrc::write_volume(path, &volume)?;
    Ok(())
}

/// File stems of `paths`, made unique with `_2`, `_3`… when two share one.
fn stems(paths: &[PathBuf]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    paths
        .iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map_or_else(|| "micrograph".into(), |s| s.to_string_lossy().into_owned());
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { stem } else { format!("{stem}_{n}") }
        })
        .collect()
}

/// A loss for a log line.
fn loss_text(loss: Option<f64>) -> String {
    loss.map_or_else(|| "–".into(), |l| format!("{l:.4}"))
}
