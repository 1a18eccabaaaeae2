//! Noise2noise training of 3D U-nets on a pair of even/odd tomograms (Topaz's `denoise3d`
//! training), reporting through the same [`TrainShared`] / [`TrainHandle`] / [`Progress`] as
//! the 2D trainer.
//!
//! Source: Lehtinen et al. 2018 (Noise2Noise, eq. 2–3: a network mapping one noisy
//! observation to an independent one learns the clean signal) as applied to tomograms by
//! Bepler et al. 2020 (Topaz-Denoise, Methods "3D denoising": even/odd-frame tomograms of the
//! same tilt series, 96³ crops, each tomogram normalised by its own mean and σ, random mirrors
//! and 90° rotations, L2 loss, Adagrad lr 10⁻³).
//!
//! Data ([`VolumePairData`]): both halves are normalised once over the whole volume
//! (`(v − mean)/σ`, each half by its own statistics, as Topaz). A slab at the far end of the
//! longest axis (`holdout_fraction` of it, at least one crop thick) is held out: training crops
//! lie wholly in the rest, validation crops are a fixed grid inside the slab. Each training
//! crop pair gets one of the 48 symmetries of the cube (axis permutations × mirrors), the same
//! for both halves. Batches are a function of (seed, step) only. With `both_directions` each
//! crop pair (A, B) gives f(A) → B and f(B) → A.
//!
//! Gradients come from burn's autodiff on Flex (CPU) or wgpu (GPU); validation and previews
//! run without autodiff on our native CPU kernels when the device is a CPU.
//!
//! The trained model is written atomically as `NAME.safetensors` + `NAME.json`
//! ([`Model3dMeta`], format [`MODEL_FORMAT_3D`]); `ModelSpec::parse(NAME)` finds it and
//! `crate::denoise::volume::Topaz3dDenoiser` loads it. No checkpoints are written: a
//! cancelled 3D run leaves no model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdaGradConfig, AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, DataSummary};
use super::loss::{self, LossKind};
use super::{
    Gate, MetricPoint, OptimizerKind, Preview, StepMeter, TrainEnd, TrainHandle, TrainOutcome,
    TrainPhase, TrainShared, gate, mark_ended, scalar, training_device,
};
use crate::device::ComputeDevice;
use crate::image::{Image, Volume, stats_of};
use crate::jobs::{Job, Progress};
use crate::models::topaz3d::{Kernels3d, POOLS, UNet3d, UNet3dConfig, VoxelBox, load_topaz3d};
use crate::models::{ModelSpec, Topaz3dArch};
use crate::rng::Rng;

/// File format name in [`Model3dMeta::format`] (2D models use `checkpoint::MODEL_FORMAT`).
pub const MODEL_FORMAT_3D: &str = "cryolens-denoiser-3d";
/// Version of the 3D model format.
pub const MODEL_FORMAT_3D_VERSION: u32 = 1;

/// Smallest crop edge in voxels: 2^5 (five 2× poolings).
pub const MIN_CROP_VOXELS: usize = 1 << POOLS;

/// Everything that shapes a 3D training run (recorded in the model's JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Train3dConfig {
    /// Architecture name (`UNet3dConfig::from_name`): `unet-3d-10a`, `unet-3d-20a`, `unet-3d`
    /// (Topaz's layout), `unet-3d-small`, `unet-3d-tiny`. Ignored when `from_pretrained` is set.
    pub architecture: String,
    /// Start from these weights (a `--model` value: `unet-3d-10a`, `unet-3d-20a`, a 3D state
    /// dict or a Cryolens 3D model) instead of a seeded random initialisation.
    pub from_pretrained: Option<String>,
    /// The loss (L0 anneals γ from 2 to 0 over the run).
    pub loss: LossKind,
    /// The optimiser (Topaz: Adagrad).
    pub optimizer: OptimizerKind,
    /// Learning rate (Topaz: 10⁻³).
    pub learning_rate: f64,
    /// Epochs.
    pub epochs: u64,
    /// Optimisation steps per epoch (Topaz: N_train / batch = 1000 / 10).
    pub steps_per_epoch: u64,
    /// Crop pairs per step (Topaz: 10).
    pub batch: usize,
    /// Crop edge in voxels (≥ 32; Topaz: 96).
    pub crop_voxels: usize,
    /// Fraction of the longest axis held out as a validation slab (at least one crop thick);
    /// 0: no holdout, validation on crops of the training volume.
    pub holdout_fraction: f64,
    /// Fixed validation crops (a grid in the held-out slab, evenly thinned to this many).
    pub validation_crops: usize,
    /// Train both directions (A → B and B → A) on every crop pair; otherwise A → B only.
    pub both_directions: bool,
    /// Random cube symmetries (48: axis permutations × mirrors).
    pub augment: bool,
    /// Seed of crops, symmetries and initial weights.
    pub seed: u64,
    /// Validate every this many steps; 0: at the end of every epoch.
    pub validate_every_steps: u64,
}

impl Default for Train3dConfig {
    /// Fine-tuning layout: `unet-3d-10a` architecture from scratch, L2, Adagrad lr 10⁻³, 64³
    /// crops, batch 1, 10 epochs of 100 steps, both directions, 10 % holdout, 8 validation
    /// crops, augmentation on.
    fn default() -> Self {
        Self {
            architecture: Topaz3dArch::UNet3d10A.name().into(),
            from_pretrained: None,
            loss: LossKind::L2,
            optimizer: OptimizerKind::Adagrad,
            learning_rate: 1e-3,
            epochs: 10,
            steps_per_epoch: 100,
            batch: 1,
            crop_voxels: 64,
            holdout_fraction: 0.1,
            validation_crops: 8,
            both_directions: true,
            augment: true,
            seed: 0,
            validate_every_steps: 0,
        }
    }
}

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
        let load = |p: &Path| -> Result<Volume> {
            let (_, v) = crate::io::read(p).with_context(|| format!("reading {}", p.display()))?;
            if v.depth < 2 {
                bail!(
                    "{} is a 2D image ({}×{}), not a tomogram",
                    p.display(),
                    v.width,
                    v.height
                );
            }
            Ok(v)
        };
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

/// Checks that two halves can be trained on together: same shape (z, y, x), same voxel size
/// when both are known (within 0.1 %), finite values, not constant.
///
/// # Errors
/// A mismatch, naming both halves (`names`) and their shapes or voxel sizes.
pub fn check_pair(even: &Volume, odd: &Volume, names: &[String; 2]) -> Result<()> {
    let shape = |v: &Volume| [v.depth, v.height, v.width];
    for (v, n) in [(even, &names[0]), (odd, &names[1])] {
        if v.data.len() != shape(v).iter().product::<usize>() {
            bail!(
                "{n}: {} values for a {:?} (z, y, x) volume",
                v.data.len(),
                shape(v)
            );
        }
        if let Some(i) = v.data.iter().position(|x| !x.is_finite()) {
            bail!("{n}: non-finite value at index {i}");
        }
    }
    if shape(even) != shape(odd) {
        bail!(
            "the halves differ in shape: {} is {:?} and {} is {:?} voxels (z, y, x)",
            names[0],
            shape(even),
            names[1],
            shape(odd)
        );
    }
    if let (Some(a), Some(b)) = (even.pixel_size_angstrom, odd.pixel_size_angstrom)
        && (a - b).abs() > 1e-3 * a.abs().max(b.abs())
    {
        bail!(
            "the halves differ in voxel size: {} has {a} Å and {} has {b} Å",
            names[0],
            names[1]
        );
    }
    Ok(())
}

/// The 48 symmetries of a cube: `index / 8` picks an axis permutation, bits of `index % 8`
/// mirror output axes z, y, x. Index 0 is the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CubeSymmetry(pub u8);

const PERMUTATIONS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

impl CubeSymmetry {
    /// All 48.
    pub fn all() -> impl Iterator<Item = CubeSymmetry> {
        (0..48).map(CubeSymmetry)
    }

    /// Applies the symmetry to a cube of edge `c` (`[z][y][x]`, `c³` values): output axis a
    /// reads input axis `perm[a]`, reversed when mirrored.
    pub fn apply(self, cube: &[f32], c: usize) -> Vec<f32> {
        let perm = PERMUTATIONS[(self.0 as usize / 8) % 6];
        let flip = [self.0 & 1 != 0, self.0 & 2 != 0, self.0 & 4 != 0];
        let stride = [c * c, c, 1];
        // Input offset of output coordinate o along output axis a.
        let offsets: [Vec<usize>; 3] = std::array::from_fn(|a| {
            (0..c)
                .map(|o| {
                    let i = if flip[a] { c - 1 - o } else { o };
                    i * stride[perm[a]]
                })
                .collect()
        });
        let mut out = Vec::with_capacity(c * c * c);
        for &o0 in &offsets[0] {
            for &o1 in &offsets[1] {
                out.extend(offsets[2].iter().map(|&o2| cube[o0 + o1 + o2]));
            }
        }
        out
    }
}

/// One batch of crop pairs: `n` cubes of edge `crop` from each half, `[n][z][y][x]`.
#[derive(Clone, Debug)]
pub struct Batch3d {
    /// Crop pairs.
    pub n: usize,
    /// Crop edge in voxels.
    pub crop: usize,
    /// Crops of the even half (normalised).
    pub a: Vec<f32>,
    /// The same crops of the odd half.
    pub b: Vec<f32>,
}

/// A normalised even/odd pair with its training region, held-out slab and validation crops.
#[derive(Clone, Debug)]
pub struct VolumePairData {
    shape: [usize; 3],
    even: Vec<f32>,
    odd: Vec<f32>,
    voxel_size_angstrom: Option<f32>,
    train_box: VoxelBox,
    holdout_box: Option<VoxelBox>,
    holdout_axis: usize,
    val_origins: Vec<[usize; 3]>,
    crop: usize,
    batch: usize,
    augment: bool,
    seed: u64,
}

fn normalised(v: &Volume, name: &str) -> Result<Vec<f32>> {
    let s = stats_of(&v.data);
    if !(s.std > 0.0 && s.std.is_finite()) {
        bail!("{name} is constant (σ = 0): nothing to train on");
    }
    Ok(v.data
        .iter()
        .map(|&x| ((x as f64 - s.mean) / s.std) as f32)
        .collect())
}

/// `count` origins spread evenly over `0..=len − crop` (non-overlapping when they fit).
fn grid_starts(range: &std::ops::Range<usize>, crop: usize) -> Vec<usize> {
    let len = range.len();
    let n = (len / crop).max(1);
    let spare = len - crop;
    (0..n)
        .map(|i| {
            range.start
                + if n > 1 {
                    i * spare / (n - 1)
                } else {
                    spare / 2
                }
        })
        .collect()
}

impl VolumePairData {
    /// Normalises both halves and lays out the training region and held-out slab.
    ///
    /// # Errors
    /// See [`check_pair`]; a crop below 32 voxels or a batch of 0; a volume too small for a
    /// crop (per axis), or for a crop in both the training region and the held-out slab along
    /// the longest axis.
    pub fn new(
        even: &Volume,
        odd: &Volume,
        names: &[String; 2],
        cfg: &Train3dConfig,
    ) -> Result<Self> {
        check_pair(even, odd, names)?;
        let c = cfg.crop_voxels;
        if c < MIN_CROP_VOXELS {
            bail!("the crop must be at least {MIN_CROP_VOXELS} voxels (five 2× poolings), got {c}");
        }
        if cfg.batch == 0 {
            bail!("the batch must hold at least one crop pair");
        }
        if !(0.0..1.0).contains(&cfg.holdout_fraction) {
            bail!(
                "the holdout fraction must be in [0, 1), got {}",
                cfg.holdout_fraction
            );
        }
        let shape = [even.depth, even.height, even.width];
        if shape.iter().any(|&n| n < c) {
            bail!(
                "{} is {shape:?} voxels (z, y, x): every axis must hold a {c}-voxel crop",
                names[0]
            );
        }
        // Longest axis (ties: the later one, x before y before z).
        let axis = (0..3).rev().max_by_key(|&a| shape[a]).unwrap_or(2);
        let full: VoxelBox = [0..shape[0], 0..shape[1], 0..shape[2]];
        let (train_box, holdout_box) = if cfg.holdout_fraction > 0.0 {
            let len = shape[axis];
            let slab = ((cfg.holdout_fraction * len as f64).ceil() as usize).max(c);
            if len < slab + c {
                bail!(
                    "{} has {len} voxels along its longest axis: too few for a {c}-voxel crop in \
                     both the training part and a {slab}-voxel held-out slab (use a smaller \
                     --crop or --holdout 0)",
                    names[0]
                );
            }
            let mut t = full.clone();
            let mut h = full.clone();
            t[axis] = 0..len - slab;
            h[axis] = len - slab..len;
            (t, Some(h))
        } else {
            (full.clone(), None)
        };
        let val_box = holdout_box.clone().unwrap_or_else(|| full.clone());
        let starts: [Vec<usize>; 3] = std::array::from_fn(|a| grid_starts(&val_box[a], c));
        let mut all = Vec::new();
        for &z in &starts[0] {
            for &y in &starts[1] {
                for &x in &starts[2] {
                    all.push([z, y, x]);
                }
            }
        }
        let want = cfg.validation_crops.max(1).min(all.len());
        let val_origins = (0..want).map(|i| all[i * all.len() / want]).collect();
        Ok(Self {
            shape,
            even: normalised(even, &names[0])?,
            odd: normalised(odd, &names[1])?,
            voxel_size_angstrom: even.pixel_size_angstrom.or(odd.pixel_size_angstrom),
            train_box,
            holdout_box,
            holdout_axis: axis,
            val_origins,
            crop: c,
            batch: cfg.batch,
            augment: cfg.augment,
            seed: cfg.seed,
        })
    }

    /// Volume shape `[z, y, x]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Voxel size in Å, if either half knows it.
    pub fn voxel_size_angstrom(&self) -> Option<f32> {
        self.voxel_size_angstrom
    }

    /// The voxels training crops come from (`[z, y, x]` ranges).
    pub fn train_box(&self) -> &VoxelBox {
        &self.train_box
    }

    /// The held-out slab (`[z, y, x]` ranges), `None` without holdout.
    pub fn holdout_box(&self) -> Option<&VoxelBox> {
        self.holdout_box.as_ref()
    }

    /// "last 32 of 202 voxels along z" or "none (validation on training crops)".
    pub fn describe_holdout(&self) -> String {
        match &self.holdout_box {
            Some(h) => format!(
                "slab of the last {} of {} voxels along {}",
                h[self.holdout_axis].len(),
                self.shape[self.holdout_axis],
                ["z", "y", "x"][self.holdout_axis]
            ),
            None => "none (validation on crops of the training volume)".into(),
        }
    }

    /// Origins `[z, y, x]` of the fixed validation crops.
    pub fn validation_origins(&self) -> &[[usize; 3]] {
        &self.val_origins
    }

    fn cut(&self, data: &[f32], o: [usize; 3]) -> Vec<f32> {
        let c = self.crop;
        let [_, h, w] = self.shape;
        let mut out = Vec::with_capacity(c * c * c);
        for z in o[0]..o[0] + c {
            for y in o[1]..o[1] + c {
                let row = (z * h + y) * w + o[2];
                out.extend_from_slice(&data[row..row + c]);
            }
        }
        out
    }

    /// The crop pair at origin `o` (`[z, y, x]`), symmetry applied to both.
    pub fn crop_pair(&self, o: [usize; 3], sym: CubeSymmetry) -> (Vec<f32>, Vec<f32>) {
        let (a, b) = (self.cut(&self.even, o), self.cut(&self.odd, o));
        if sym.0 == 0 {
            (a, b)
        } else {
            (sym.apply(&a, self.crop), sym.apply(&b, self.crop))
        }
    }

    /// The training batch of `step`: `batch` crops at uniformly random origins in the training
    /// region, each with a random cube symmetry when augmenting; a function of (seed, step).
    pub fn train_batch(&self, step: u64) -> Batch3d {
        let mut rng = Rng::stream(self.seed, 0x3D_0000_0000 + step);
        let c = self.crop;
        let mut batch = Batch3d {
            n: self.batch,
            crop: c,
            a: Vec::with_capacity(self.batch * c * c * c),
            b: Vec::with_capacity(self.batch * c * c * c),
        };
        for _ in 0..self.batch {
            let o: [usize; 3] = std::array::from_fn(|a| {
                let r = &self.train_box[a];
                r.start + (rng.next_u64() % (r.len() - c + 1) as u64) as usize
            });
            let sym = if self.augment {
                CubeSymmetry((rng.next_u64() % 48) as u8)
            } else {
                CubeSymmetry(0)
            };
            let (a, b) = self.crop_pair(o, sym);
            batch.a.extend(a);
            batch.b.extend(b);
        }
        batch
    }
}

/// The JSON sidecar of a trained 3D model (`NAME.json` beside `NAME.safetensors`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model3dMeta {
    /// [`MODEL_FORMAT_3D`].
    pub format: String,
    /// [`MODEL_FORMAT_3D_VERSION`].
    pub version: u32,
    /// Architecture dimensions.
    pub architecture: UNet3dConfig,
    /// e.g. "3D U-net (48 filters, widths 7/3, output 64/32)".
    pub architecture_name: String,
    /// The run's configuration (loss, optimiser, lr, crop, batch, epochs, seed, pretrained
    /// start).
    pub training: Train3dConfig,
    /// The data (the two halves, held-out slab).
    pub data: DataSummary,
    /// Shape of the training tomograms `[z, y, x]` in voxels.
    pub volume_shape: [usize; 3],
    /// Voxel size of the training data in Å, if known.
    pub voxel_size_angstrom: Option<f32>,
    /// Steps trained.
    pub steps: u64,
    /// Last validation loss (normalised units), if measured.
    pub final_validation_loss: Option<f64>,
    /// Mean training loss since the previous validation.
    pub final_train_loss: Option<f64>,
    /// UTC date and time the model was written, ISO 8601.
    pub created_utc: String,
    /// The command line (CLI) or "gui".
    pub command_line: String,
    /// Device the run used.
    pub device: String,
    /// Cryolens version that trained it.
    pub cryolens_version: String,
    /// Free-form notes (e.g. how the halves were made).
    #[serde(default)]
    pub notes: String,
}

/// Writes `model` as `weights` (safetensors, Topaz's state-dict names with contiguous
/// `nn.Sequential` indices) and `meta` beside it, both atomically.
///
/// # Errors
/// Serialisation or I/O failures.
pub fn save_model_3d(model: &UNet3d, meta: &Model3dMeta, weights: &Path) -> Result<()> {
    checkpoint::write_model_files(
        model,
        MODEL_FORMAT_3D,
        &meta.architecture_name,
        meta,
        weights,
    )
}

/// Whether `weights` (`X.safetensors`) has a JSON sidecar naming the 3D model format.
pub fn is_model_3d(weights: &Path) -> bool {
    std::fs::read_to_string(checkpoint::meta_path(weights))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("format").and_then(|f| f.as_str()) == Some(MODEL_FORMAT_3D))
}

/// Reads a 3D model's JSON sidecar.
///
/// # Errors
/// Missing or unreadable JSON; another format (a 2D model) or a newer version.
pub fn read_meta_3d(weights: &Path) -> Result<Model3dMeta> {
    let path = checkpoint::meta_path(weights);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (a Cryolens model is NAME.safetensors plus NAME.json)",
            path.display()
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let format = value.get("format").and_then(|f| f.as_str()).unwrap_or("");
    if format != MODEL_FORMAT_3D {
        bail!(
            "{} is not a 3D model (format {format:?}, expected {MODEL_FORMAT_3D:?}); 2D models \
             denoise micrographs",
            path.display()
        );
    }
    let meta: Model3dMeta =
        serde_json::from_value(value).with_context(|| format!("parsing {}", path.display()))?;
    if meta.version > MODEL_FORMAT_3D_VERSION {
        bail!(
            "{}: version {} is newer than this Cryolens reads ({MODEL_FORMAT_3D_VERSION})",
            path.display(),
            meta.version
        );
    }
    Ok(meta)
}

/// Loads a Cryolens 3D model (`NAME.safetensors` + `NAME.json`) onto `device`.
///
/// # Errors
/// Unreadable files, a JSON that is not a 3D model, weights that do not fit the architecture
/// the JSON names.
pub fn load_model_3d(weights: &Path, device: &Device) -> Result<(UNet3d, Model3dMeta)> {
    let meta = read_meta_3d(weights)?;
    let mut model = UNet3d::with_config(&meta.architecture, device);
    checkpoint::load_weights_into(&mut model, weights, &meta.architecture.describe())?;
    Ok((model, meta))
}

/// Loads any 3D model a [`ModelSpec`] names (Topaz's `unet-3d-*`, a 3D state dict, or a
/// Cryolens 3D model) with its dimensions.
///
/// # Errors
/// A 2D model, weights not installed, unreadable or mis-shaped weights.
pub fn load_any_3d(spec: &ModelSpec, device: &Device) -> Result<(UNet3d, UNet3dConfig)> {
    if let ModelSpec::Topaz(a) = spec {
        bail!(
            "'{}' is a 2D model; volumes need a 3D model ({}, or one trained with train-3d)",
            a.name(),
            Topaz3dArch::ALL.map(|a| a.name()).join(", ")
        );
    }
    let path = spec.weights_path()?;
    if path.extension().is_some_and(|e| e == "safetensors") {
        let (m, meta) = load_model_3d(&path, device)?;
        Ok((m, meta.architecture))
    } else {
        Ok((load_topaz3d(&path, device)?, UNet3dConfig::PRETRAINED))
    }
}

/// Re-draws every parameter from our seeded generator with PyTorch's default convolution
/// initialisation (uniform in ±1/√fan_in, fan_in = input channels × kernel volume; a bias
/// uses the fan_in of the weight before it), so a run is reproducible from its seed.
struct SeededInit3d {
    rng: Rng,
    fan_in: usize,
}

impl ModuleMapper for SeededInit3d {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let dims = t.dims();
            if D >= 3 {
                self.fan_in = dims[1..].iter().product();
            }
            let bound = 1.0 / (self.fan_in.max(1) as f64).sqrt();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| ((self.rng.uniform() * 2.0 - 1.0) * bound) as f32)
                .collect();
            Tensor::from_data(TensorData::new(values, dims), &t.device())
        })
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
            let model = UNet3d::with_config(&arch, device).map(&mut SeededInit3d {
                rng: Rng::stream(cfg.seed, 0x3D17),
                fan_in: 1,
            });
            (model, arch)
        }
    };
    Ok((model.set_require_grad(true), arch))
}

fn to_tensor(values: Vec<f32>, n: usize, c: usize, device: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(values, [n, 1, c, c, c]), device)
}

/// Inputs and targets: `[A; B] → [B; A]` with both directions, `A → B` otherwise.
fn batch_tensors(b: &Batch3d, both: bool, device: &Device) -> (Tensor<5>, Tensor<5>, usize) {
    let (n, c) = (b.n, b.crop);
    if both {
        let x = [b.a.as_slice(), b.b.as_slice()].concat();
        let y = [b.b.as_slice(), b.a.as_slice()].concat();
        (
            to_tensor(x, 2 * n, c, device),
            to_tensor(y, 2 * n, c, device),
            2 * n,
        )
    } else {
        (
            to_tensor(b.a.clone(), n, c, device),
            to_tensor(b.b.clone(), n, c, device),
            n,
        )
    }
}

/// Runs `model` (inference, no gradients) on `[n, 1, c, c, c]` normalised crops.
fn infer(model: &UNet3d, x: Tensor<5>, kernels: Kernels3d) -> Tensor<5> {
    let [n, _, d, h, w] = x.dims();
    let full: VoxelBox = [0..d, 0..h, 0..w];
    if kernels == Kernels3d::NativeCpu && n > 1 {
        // The native kernels take one volume at a time.
        let outs: Vec<Tensor<5>> = (0..n)
            .map(|i| {
                let xi = x.clone().slice([i..i + 1, 0..1, 0..d, 0..h, 0..w]);
                model
                    .forward_regions(xi, std::slice::from_ref(&full), kernels)
                    .remove(0)
            })
            .collect();
        return Tensor::cat(outs, 0);
    }
    model
        .forward_regions(x, std::slice::from_ref(&full), kernels)
        .remove(0)
}

/// What validation and previews need besides the model.
struct Evaluator<'a> {
    data: &'a VolumePairData,
    cfg: &'a Train3dConfig,
    plain: Device,
    kernels: Kernels3d,
}

impl Evaluator<'_> {
    /// Mean validation loss over the fixed validation crops (both directions when configured).
    fn validate(&self, model: &UNet3d, gamma: f64) -> Result<f64> {
        let eval = model.valid();
        let (mut sum, mut count) = (0.0, 0usize);
        for &o in self.data.validation_origins() {
            let (a, b) = self.data.crop_pair(o, CubeSymmetry(0));
            let batch = Batch3d {
                n: 1,
                crop: self.data.crop,
                a,
                b,
            };
            let (x, y, n) = batch_tensors(&batch, self.cfg.both_directions, &self.plain);
            let l = scalar(loss::loss(
                self.cfg.loss,
                infer(&eval, x, self.kernels),
                y,
                gamma,
            ))?;
            sum += l * n as f64;
            count += n;
        }
        Ok(sum / count.max(1) as f64)
    }

    /// The middle z-section of the first validation crop: even half, its denoised version and
    /// Topaz's SNR against the odd half.
    fn preview(&self, model: &UNet3d, step: u64) -> Result<Preview> {
        let c = self.data.crop;
        let o = self.data.validation_origins()[0];
        let (a, b) = self.data.crop_pair(o, CubeSymmetry(0));
        let x = to_tensor(a.clone(), 1, c, &self.plain);
        let out = infer(&model.valid(), x, self.kernels)
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
        let denoised = section(&out)?;
        let snr_db = crate::metrics::correlation(&denoised, &section(&b)?)
            .ok()
            .and_then(|cc| crate::metrics::to_db(cc / (1.0 - cc)));
        Ok(Preview {
            step,
            raw: section(&a)?,
            denoised,
            snr_db,
        })
    }
}

/// Starts `run` on a background thread on `device` (a GPU device trains on wgpu, any CPU
/// device on burn Flex); poll the returned handle as for 2D training.
pub fn start_3d(run: Train3dRun, device: ComputeDevice) -> TrainHandle {
    let shared = TrainShared::new();
    let s = Arc::clone(&shared);
    let job = Job::spawn("train-3d", move |progress| {
        let r = train_3d(&run, &device, progress, &s);
        if let Err(e) = &r {
            s.update(|st| {
                st.phase = TrainPhase::Failed;
                st.error = Some(format!("{e:#}"));
            });
        }
        r
    });
    TrainHandle { job, shared }
}

/// Runs a 3D training run to its end on the calling thread, reporting through `progress`
/// (one step per optimisation step; cancel flag) and `shared` (status, metrics, previews of
/// the middle section of a validation crop, pause, finish now). Writes no checkpoints:
/// [`TrainEnd::Cancelled`] leaves no model.
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
    if !(cfg.learning_rate > 0.0 && cfg.learning_rate.is_finite()) {
        bail!("learning rate must be > 0, got {}", cfg.learning_rate);
    }
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
    let (mut model, arch) = initial_model(cfg, &ad)?;
    let mut optim: ModuleOptimizer = match cfg.optimizer {
        OptimizerKind::Adagrad => AdaGradConfig::new().with_epsilon(1e-10).init(),
        OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
    };
    let spe = cfg.steps_per_epoch;
    let total = spe * cfg.epochs;
    let arch_name = match &cfg.from_pretrained {
        Some(p) => format!("{} (fine-tuned from {p})", arch.describe()),
        None => arch.describe(),
    };
    let eval = Evaluator {
        data: &data,
        cfg,
        plain: ad.clone().without_autodiff(),
        kernels: if device.is_gpu() {
            Kernels3d::Burn
        } else {
            Kernels3d::NativeCpu
        },
    };
    let gamma_at = |step: u64| match cfg.loss {
        LossKind::L0 => loss::l0_gamma(step, total),
        _ => 2.0,
    };
    let crops_per_step = if cfg.both_directions { 2 } else { 1 } * cfg.batch;
    progress.start(total, format!("training {arch_name}"));
    shared.update(|s| {
        s.total_steps = total;
        s.steps_per_epoch = spe;
        s.epochs = cfg.epochs;
        s.architecture = arch_name.clone();
    });
    let mut history: Vec<MetricPoint> = Vec::new();
    let record = |p: MetricPoint, history: &mut Vec<MetricPoint>| {
        history.push(p);
        shared.push_point(p);
    };

    shared.update(|s| s.phase = TrainPhase::Validating);
    let v0 = eval.validate(&model, gamma_at(0))?;
    record(
        MetricPoint {
            step: 0,
            epoch: 0.0,
            train_loss: None,
            validation_loss: Some(v0),
            gamma: gamma_at(0),
        },
        &mut history,
    );
    shared.update(|s| {
        s.validation_loss = Some(v0);
        s.best_validation_loss = Some(v0);
        s.phase = TrainPhase::Previewing;
    });
    let mut best = Some(v0);
    shared.set_preview(eval.preview(&model, 0)?);

    let started = Instant::now();
    let mut step = 0u64;
    let mut meter = StepMeter::new(crops_per_step);
    let mut end = TrainEnd::Completed;
    while step < total {
        match gate(progress, shared) {
            Gate::End(e) => {
                end = e;
                break;
            }
            Gate::Wait => continue,
            Gate::Step => {}
        }
        let t0 = Instant::now();
        let batch = data.train_batch(step);
        let (x, y, _) = batch_tensors(&batch, cfg.both_directions, &ad);
        let l = loss::loss(cfg.loss, model.forward(x), y, gamma_at(step));
        let value = scalar(l.clone())?;
        if !value.is_finite() {
            bail!(
                "the training loss became {value} at step {step}: lower the learning rate (--lr)"
            );
        }
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(cfg.learning_rate, model, grads);
        step += 1;
        progress.step();
        let ema = meter.record(value, t0.elapsed().as_secs_f64());
        let remaining = meter.eta(total - step);
        shared.update(|s| {
            s.step = step;
            s.epoch = step as f64 / spe as f64;
            s.last_step_loss = Some(value);
            s.train_loss = Some(meter.epoch_loss());
            s.crops_per_second = ema;
            s.eta_seconds = Some(remaining);
            s.elapsed_seconds = started.elapsed().as_secs_f64();
        });
        progress.set_message(format!(
            "loss {:.4}, {:.1} s/step",
            meter.epoch_loss(),
            crops_per_step as f64 / ema
        ));
        let epoch_end = step.is_multiple_of(spe);
        let due = if cfg.validate_every_steps == 0 {
            epoch_end
        } else {
            step.is_multiple_of(cfg.validate_every_steps)
        };
        if due || step == total {
            shared.update(|s| s.phase = TrainPhase::Validating);
            let v = eval.validate(&model, gamma_at(step))?;
            record(
                MetricPoint {
                    step,
                    epoch: step as f64 / spe as f64,
                    train_loss: meter.take_since(),
                    validation_loss: Some(v),
                    gamma: gamma_at(step),
                },
                &mut history,
            );
            let b = best.map_or(v, |b| b.min(v));
            best = Some(b);
            shared.update(|s| {
                s.validation_loss = Some(v);
                s.best_validation_loss = Some(b);
                s.phase = TrainPhase::Previewing;
            });
            shared.set_preview(eval.preview(&model, step)?);
        }
        if epoch_end {
            meter.end_epoch();
        }
    }

    let final_val = history.iter().rev().find_map(|p| p.validation_loss);
    let final_train = history.iter().rev().find_map(|p| p.train_loss);
    let mut model_path = None;
    if end != TrainEnd::Cancelled {
        shared.update(|s| s.phase = TrainPhase::Saving);
        let meta = Model3dMeta {
            format: MODEL_FORMAT_3D.into(),
            version: MODEL_FORMAT_3D_VERSION,
            architecture: arch,
            architecture_name: arch_name.clone(),
            training: cfg.clone(),
            data: DataSummary {
                sources: run.names.to_vec(),
                train_pairs: 1,
                validation_pairs: usize::from(data.holdout_box().is_some()),
                holdout: data.describe_holdout(),
                count_split: false,
            },
            volume_shape: data.shape(),
            voxel_size_angstrom: data.voxel_size_angstrom(),
            steps: step,
            final_validation_loss: final_val,
            final_train_loss: final_train,
            created_utc: checkpoint::utc_now_iso8601(),
            command_line: run.command_line.clone(),
            device: device_name.clone(),
            cryolens_version: env!("CARGO_PKG_VERSION").into(),
            notes: run.notes.clone(),
        };
        save_model_3d(&model.valid(), &meta, &run.output)?;
        model_path = Some(run.output.clone());
    }
    mark_ended(shared, end);
    Ok(TrainOutcome {
        end,
        steps: step,
        model_path,
        checkpoint_dir: checkpoint::checkpoint_dir(&run.output),
        history,
        final_validation_loss: final_val,
        crops_per_second: meter.mean_rate(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_48_cube_symmetries_are_distinct_and_invertible_permutations() {
        let c = 3;
        let cube: Vec<f32> = (0..c * c * c).map(|i| i as f32).collect();
        let mut seen = std::collections::HashSet::new();
        for s in CubeSymmetry::all() {
            let out = s.apply(&cube, c);
            let mut sorted = out.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, cube, "symmetry {} is not a permutation", s.0);
            // The centre stays put, and neighbouring voxels stay neighbours (a rigid motion).
            assert_eq!(out[13], 13.0);
            seen.insert(out.iter().map(|v| *v as u32).collect::<Vec<_>>());
        }
        assert_eq!(seen.len(), 48);
        assert_eq!(CubeSymmetry(0).apply(&cube, c), cube);
    }
}
