//! Noise2noise training of 2D denoisers (Topaz's architectures and restore's WDSR U-net) and
//! of 3D U-nets on tomograms, interactive: start it on a background thread, poll its metrics
//! and a live preview each frame, pause, resume, cancel, resume after a crash (2D); plus
//! crefDenoiser training on a pair of half-maps ([`cref`]).
//!
//! Source: Lehtinen et al. 2018 (Noise2Noise: a network trained to map one noisy observation
//! to another independent one learns the clean signal, eq. 2–3) as applied to cryo-EM by
//! Bepler et al. 2020 (Topaz-Denoise, Methods "Training": even/odd halves, L0/L1/L2 losses,
//! Adagrad lr 10⁻³, 800 px crops, batch 4, rotations and mirrors) and by Palovcak et al. 2020.
//! Both directions are used: each crop pair (A, B) gives f(A) → B and f(B) → A.
//!
//! restore (Palovcak et al. 2020, supplement S2.1–S2.3) trains its WDSR U-net
//! ([`crate::models::wdsr`], architecture `wdsr` or `restore`) on micrographs Fourier cropped
//! to max_resolution/2 Å/px, band-passed and optionally phase flipped
//! ([`crate::models::format::RestorePreprocessing`]), 192 px crops in batches of 10, Adam lr
//! 10⁻⁴ × 0.25 every 25 epochs of 500 steps, 100 epochs ([`TrainConfig::restore`]).
//!
//! Gradients of Topaz's architectures on a CPU come from our native kernels ([`native`]:
//! hand-written backward passes, equal to autodiff's to f32 rounding); the WDSR U-net on a CPU
//! and every model on a GPU use burn's autodiff (Flex, or wgpu). See [`GradientEngine`].
//!
//! Where things live:
//! - [`config`]: [`TrainConfig`], [`Train3dConfig`], optimiser, learning-rate schedule,
//!   architecture names;
//! - [`control`]: status, metrics, previews, the handle (pause, resume, cancel, finish now),
//!   the step gate and meter, shared by both loops;
//! - [`run`]: the one training loop, generic over a trainer (step, validate, preview,
//!   checkpoint, save), and the pieces both trainers build from (model slot, input
//!   directions, validation mean, provenance); [`init`]: seeded initialisation of 2D and 3D
//!   networks;
//! - [`trainer2d`]: the 2D trainer ([`train`], [`start`]); [`model2d`]: the 2D model, its
//!   seeded initialisation and gradient engine; [`data`]: 2D pairs and crops;
//!   [`checkpoint`]: 2D checkpoints and resuming;
//! - [`trainer3d`]: the 3D trainer ([`train_3d`], [`start_3d`]); [`data3d`]: tomogram pairs;
//! - [`loss`]: L0/L1/L2; [`cref`]: crefDenoiser.
//!
//! The trained model's files (`NAME.safetensors` + `NAME.json`) are
//! [`crate::models::format`]'s.
//!
//! ```text
//! GUI / CLI ──start(TrainRun, device)──▶ TrainHandle ──status()/history()/preview()──▶ drawn each frame
//!                                          └─ pause()/resume()/cancel()/finish_now()
//! ```

pub mod checkpoint;
pub mod config;
pub mod control;
pub mod cref;
pub mod data;
pub mod data3d;
pub mod init;
pub mod loss;
pub mod model2d;
pub mod native;
pub mod nt2c;
pub mod run;
pub mod trainer2d;
pub mod trainer3d;

pub use config::{
    MIN_CROP_VOXELS, OptimizerKind, StepDecay, Train3dConfig, TrainConfig, TrainRun, WDSR_NAMES,
    architecture_config, is_wdsr_architecture, resolve_architecture,
};
pub use control::{
    MetricPoint, Preview, TrainEnd, TrainHandle, TrainOutcome, TrainPhase, TrainShared, TrainStatus,
};
pub use data::{
    Batch, DataOptions, Holdout, PairSource, TrainingData, count_split_sources, pairs_from_dir,
    pairs_from_lists,
};
pub use data3d::{Batch3d, CubeSymmetry, VolumePairData, check_pair};
pub use loss::LossKind;
pub use model2d::{
    GradientEngine, Net2d, TrainableModel, denoise_normalised, describe_architecture,
    gradient_engine,
};
pub use run::training_device;
pub use trainer2d::{start, train};
pub use trainer3d::{Train3dRun, start_3d, train_3d};
