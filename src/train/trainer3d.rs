//! Noise2noise training of 3D U-nets on a pair of even/odd tomograms (Topaz's `denoise3d`
//! training), reporting through the same [`TrainShared`] / [`TrainHandle`] / [`Progress`] as
//! the 2D trainer.
//!
//! Source: Lehtinen et al. 2018 (Noise2Noise, eq. 2–3: a network mapping one noisy
//! observation to an independent one learns the clean signal) as applied to tomograms by
//! Bepler et al. 2020 (Topaz-Denoise, Methods "3D denoising": even/odd-frame tomograms of the
//! same tilt series, 96³ crops, each tomogram normalised by its own mean and σ, random mirrors
//! and 90° rotations, L2 loss, Adagrad lr 10⁻³). The data are [`VolumePairData`]. With
//! `both_directions` each crop pair (A, B) gives f(A) → B and f(B) → A. The loop is the one
//! of [`super::run`]: the 3D trainer validates (and previews the middle z-section of the
//! first validation crop) at step 0, at every validation interval and at the end, with a
//! constant learning rate.
//!
//! Gradients come from burn's autodiff on Flex (CPU) or wgpu (GPU); validation and previews
//! run without autodiff on our native CPU kernels when the device is a CPU.
//!
//! The trained model is written atomically as `NAME.safetensors` + `NAME.json`
//! ([`Model3dMeta`], format [`crate::models::format::MODEL_FORMAT_3D`]); `ModelSpec::parse(NAME)`
//! finds it and `crate::denoise::volume::Topaz3dDenoiser` loads it. No checkpoints are
//! written: a cancelled 3D run leaves no model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::config::{Train3dConfig, check_learning_rate, make_optimizer, run_architecture_name};
use super::control::{Preview, TrainHandle, TrainOutcome, TrainPhase, TrainShared, spawn};
use super::data3d::{Batch3d, CubeSymmetry, VolumePairData, check_pair};
use super::init::SeededInit;
use super::loss::{self, scalar};
use super::run::{
    ModelSlot, Position, Schedule, Trainer, announce, directions, run_loop, training_device,
    weighted_mean,
};
use crate::device::ComputeDevice;
use crate::image::{Image, Volume};
use crate::jobs::Progress;
use crate::models::format::{self, DataSummary, Model3dMeta};
use crate::models::native3d::Native3d;
use crate::models::topaz3d::{Kernels3d, UNet3d, UNet3dConfig, VoxelBox};
use crate::models::{ModelSpec, load_any_3d};
use crate::rng::Rng;

/// A 3D run: configuration, the pair of tomograms, where the model goes.
#[derive(Clone, Debug)]
pub struct Train3dRun {
    /// The configuration.
    pub config: Train3dConfig,
    /// Even half (`[z][y][x]`, any units).
    pub even: Volume,
    /// Odd half, same shape and voxel size.
    pub odd: Volume,
    /// Names of the halves (file paths) for errors and the model's JSON.
    pub names: [String; 2],
    /// The model's weights file (`X.safetensors`; `X.json` goes beside it).
    pub output: PathBuf,
    /// Recorded in the model's JSON ("cryolens train-3d …").
    pub command_line: String,
    /// Free-form notes recorded in the model's JSON.
    pub notes: String,
}

impl Train3dRun {
    /// Reads the two halves (MRC volume or TIFF stack) and builds a run.
    ///
    /// # Errors
    /// Unreadable files, 2D images, or halves of different shapes or voxel sizes (the error
    /// names both files).
    pub fn from_files(
        config: Train3dConfig,
        even: &Path,
        odd: &Path,
        output: PathBuf,
    ) -> Result<Self> {
        let load = |p: &Path| -> Result<Volume> { Ok(crate::io::read_volume(p, "tomogram")?) };
        let run = Self {
            config,
            even: load(even)?,
            odd: load(odd)?,
            names: [even.display().to_string(), odd.display().to_string()],
            output,
            command_line: String::new(),
            notes: String::new(),
        };
        check_pair(&run.even, &run.odd, &run.names)?;
        Ok(run)
    }
}

/// The model at step 0 (seeded random or pretrained) on `device`, gradients enabled.
fn initial_model(cfg: &Train3dConfig, device: &Device) -> Result<(UNet3d, UNet3dConfig)> {
    let (model, arch) = match &cfg.from_pretrained {
        Some(name) => {
            let spec = ModelSpec::parse(name)?;
            load_any_3d(&spec, device)
                .with_context(|| format!("loading pretrained model {name}"))?
        }
        None => {
            let arch = UNet3dConfig::from_name(&cfg.architecture).ok_or_else(|| {
                anyhow!(
                    "unknown 3D architecture '{}': expected unet-3d-10a, unet-3d-20a, unet-3d, \
                     unet-3d-small or unet-3d-tiny",
                    cfg.architecture
                )
            })?;
            let mut rng = Rng::stream(cfg.seed, 0x3D17);
            let model = UNet3d::with_config(&arch, device).map(&mut SeededInit::new(&mut rng));
            (model, arch)
        }
    };
    Ok((model.set_require_grad(true), arch))
}

fn to_tensor(values: Vec<f32>, n: usize, c: usize, device: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(values, [n, 1, c, c, c]), device)
}

/// Inputs and targets of a batch as `[crops, 1, c, c, c]` tensors ([`directions`]).
fn batch_tensors(b: &Batch3d, both: bool, device: &Device) -> (Tensor<5>, Tensor<5>, usize) {
    let (x, y, n) = directions(&b.a, &b.b, b.n, both);
    (
        to_tensor(x, n, b.crop, device),
        to_tensor(y, n, b.crop, device),
        n,
    )
}

/// Runs `model` (inference, no gradients) on `[n, 1, c, c, c]` normalised crops.
fn infer(model: &UNet3d, x: Tensor<5>, kernels: Kernels3d) -> Tensor<5> {
    let [n, _, d, h, w] = x.dims();
    let full: VoxelBox = [0..d, 0..h, 0..w];
    if kernels == Kernels3d::NativeCpu {
        // The native network takes one volume at a time.
        let native = Native3d::from_burn(model);
        let outs: Vec<Tensor<5>> = (0..n)
            .map(|i| {
                let xi = x.clone().slice([i..i + 1, 0..1, 0..d, 0..h, 0..w]);
                native
                    .forward_tensor(xi, std::slice::from_ref(&full))
                    .remove(0)
            })
            .collect();
        return Tensor::cat(outs, 0);
    }
    model
        .forward_regions(x, std::slice::from_ref(&full), kernels)
        .remove(0)
}

/// The 3D trainer's state between steps.
struct Trainer3d<'a> {
    run: &'a Train3dRun,
    data: VolumePairData,
    model: ModelSlot<UNet3d>,
    optim: ModuleOptimizer,
    /// The autodiff training device.
    ad: Device,
    /// The same device without autodiff (validation, previews).
    plain: Device,
    kernels: Kernels3d,
    arch: UNet3dConfig,
    arch_name: String,
    device_name: String,
    crops_per_step: usize,
}

impl Trainer for Trainer3d<'_> {
    fn step(&mut self, step: u64, gamma: f64) -> Result<f64> {
        let cfg = &self.run.config;
        let batch = self.data.train_batch(step);
        let (x, y, _) = batch_tensors(&batch, cfg.both_directions, &self.ad);
        let l = loss::loss(cfg.loss, self.model.get()?.forward(x), y, gamma);
        let value = scalar(l.clone())?;
        if !value.is_finite() {
            return Ok(value);
        }
        let model = self.model.take()?;
        let grads = GradientsParams::from_grads(l.backward(), &model);
        self.model
            .put(self.optim.step(cfg.learning_rate, model, grads));
        Ok(value)
    }

    /// Mean validation loss over the fixed validation crops (both directions when configured).
    fn validate(&self, gamma: f64) -> Result<f64> {
        let eval = self.model.get()?.valid();
        let cfg = &self.run.config;
        weighted_mean(self.data.validation_origins().iter().map(|&o| {
            let (a, b) = self.data.crop_pair(o, CubeSymmetry(0));
            let batch = Batch3d {
                n: 1,
                crop: self.data.crop,
                a,
                b,
            };
            let (x, y, n) = batch_tensors(&batch, cfg.both_directions, &self.plain);
            let l = loss::loss(cfg.loss, infer(&eval, x, self.kernels), y, gamma);
            Ok((scalar(l)?, n))
        }))
    }

    /// The middle z-section of the first validation crop: even half, its denoised version and
    /// Topaz's SNR against the odd half.
    fn preview(&self, step: u64) -> Result<Preview> {
        let c = self.data.crop;
        let o = self.data.validation_origins()[0];
        let (a, b) = self.data.crop_pair(o, CubeSymmetry(0));
        let x = to_tensor(a.clone(), 1, c, &self.plain);
        let out = infer(&self.model.get()?.valid(), x, self.kernels)
            .try_into_data()
            .map_err(|e| anyhow!("backend failure: {e:?}"))?
            .try_to_vec::<f32>()
            .map_err(|e| anyhow!("unexpected output type: {e:?}"))?;
        let mid = c / 2 * c * c;
        let section = |v: &[f32]| -> Result<Image> {
            Image::new(c, c, v[mid..mid + c * c].to_vec())
                .map(|im| im.with_pixel_size(self.data.voxel_size_angstrom))
                .map_err(|e| anyhow!("{e}"))
        };
        Ok(Preview::new(
            step,
            section(&a)?,
            section(&out)?,
            &section(&b)?,
        ))
    }

    /// Writes the model (no checkpoints: a cancelled run leaves nothing).
    fn save(&mut self, at: &Position) -> Result<()> {
        let run = self.run;
        let data = &self.data;
        let meta = Model3dMeta {
            format: format::MODEL_FORMAT_3D.into(),
            version: format::MODEL_FORMAT_3D_VERSION,
            architecture: self.arch,
            architecture_name: self.arch_name.clone(),
            training: run.config.clone(),
            data: DataSummary {
                sources: run.names.to_vec(),
                train_pairs: 1,
                validation_pairs: usize::from(data.holdout_box().is_some()),
                holdout: data.describe_holdout(),
                count_split: false,
            },
            volume_shape: data.shape(),
            voxel_size_angstrom: data.voxel_size_angstrom(),
            provenance: at.provenance(&run.command_line, &self.device_name, &run.notes),
        };
        format::save_model_3d(&self.model.get()?.valid(), &meta, &run.output)
    }

    fn progress_message(&self, epoch_loss: f64, crops_per_second: f64) -> String {
        format!(
            "loss {epoch_loss:.4}, {:.1} s/step",
            self.crops_per_step as f64 / crops_per_second
        )
    }

    fn output(&self) -> &Path {
        &self.run.output
    }
}

/// Starts `run` on a background thread on `device` (a GPU device trains on wgpu, any CPU
/// device on burn Flex); poll the returned handle as for 2D training.
pub fn start_3d(run: Train3dRun, device: ComputeDevice) -> TrainHandle {
    spawn("train-3d", move |progress, shared| {
        train_3d(&run, &device, progress, shared)
    })
}

/// Runs a 3D training run to its end on the calling thread, reporting through `progress`
/// (one step per optimisation step; cancel flag) and `shared` (status, metrics, previews of
/// the middle section of a validation crop, pause, finish now). Writes no checkpoints:
/// [`super::control::TrainEnd::Cancelled`] leaves no model.
///
/// # Errors
/// Bad data (see [`VolumePairData::new`]), an unknown architecture or pretrained model, a
/// non-finite loss, I/O or backend failures.
pub fn train_3d(
    run: &Train3dRun,
    device: &ComputeDevice,
    progress: &Progress,
    shared: &TrainShared,
) -> Result<TrainOutcome> {
    let cfg = &run.config;
    if cfg.epochs == 0 || cfg.steps_per_epoch == 0 {
        bail!("epochs and steps per epoch must be at least 1");
    }
    check_learning_rate(cfg.learning_rate)?;
    let device_name = if device.is_gpu() {
        device.describe()
    } else {
        format!(
            "CPU: burn Flex with autodiff, {} threads",
            rayon::current_num_threads()
        )
    };
    shared.update(|s| {
        s.phase = TrainPhase::Loading;
        s.device = device_name.clone();
    });
    progress.set_message("preparing the tomograms");
    let data = VolumePairData::new(&run.even, &run.odd, &run.names, cfg)?;
    let ad = training_device(device);
    let (model, arch) = initial_model(cfg, &ad)?;
    let optim = make_optimizer(cfg.optimizer);
    let spe = cfg.steps_per_epoch;
    let total = spe * cfg.epochs;
    let arch_name = run_architecture_name(&arch.describe(), cfg.from_pretrained.as_deref());
    let crops_per_step = if cfg.both_directions { 2 } else { 1 } * cfg.batch;
    let schedule = Schedule {
        total,
        steps_per_epoch: spe,
        loss: cfg.loss,
        validate_every: cfg.validate_every_steps,
        preview_every: 0,
        checkpoint_every: None,
        crops_per_step,
        best_includes_step_0: true,
    };
    let at = Position::default();
    announce(
        progress,
        shared,
        &schedule,
        &at,
        format!("training {arch_name}"),
        &arch_name,
    );
    let mut trainer = Trainer3d {
        run,
        data,
        model: ModelSlot::new(model),
        optim,
        plain: ad.clone().without_autodiff(),
        ad,
        kernels: if device.is_gpu() {
            Kernels3d::Burn
        } else {
            Kernels3d::NativeCpu
        },
        arch,
        arch_name,
        device_name,
        crops_per_step,
    };
    run_loop(&mut trainer, &schedule, at, progress, shared)
}
