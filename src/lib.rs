//! Cryolens: look at cryo-EM micrographs and tomograms through denoising.
//!
//! # Layers
//!
//! Modules are stacked in layers; a module may use its own layer and the ones below, never one
//! above, and no two files or modules import each other (`tests/layering.rs` reads every
//! `crate::`/`super::` path in `src/` and fails otherwise):
//!
//! ```text
//! 6 faces       cli/ (one file per subcommand, batch, slurm, bench/)   gui/ (eframe app, by role)
//! 5 work        train/ (noise2noise, 2D+3D, crefDenoiser, nt2c)   picking/ (sessions, autosave, exchange)
//! 4 pipelines   restore/   denoise/ (2D, volumes, tiling)   analysis/ (micrograph, panes, halves, half-maps)
//!               screen/ (grid screening: thumbnails, metrics, ring curves, table, folder watch, runs)
//! 3 models      models/ (burn networks, model files, install, export)   kernels/ (native CPU)
//! 2 science     fourier/   ctf/   metrics/ (+ synthetic ground truth)   simulate/
//! 1 io          io/ (mrc/, tiff, png, mapped, omezarr, star/, coords/, cryoSPARC .cs, atomic writes, provenance)
//! 0 foundation  image  jobs  device  paths  rng  errors  sampling
//! ```
//!
//! # Where each concept lives
//!
//! - Images and volumes ([`image::Image`]: rows = y, row-major, pixel size in Å;
//!   [`image::Volume`]: z, y, x) in [`image`]; background jobs with progress and cancel in
//!   [`jobs`]; the one choice of compute device in [`device`]; the user's folders in
//!   [`paths`]; the one seeded generator in [`rng`]; the one error-line style in [`errors`];
//!   plausible pixel sizes, box sizes and the one same-sampling check in [`sampling`].
//! - Files: MRC ([`io::mrc`]), TIFF, what views draw volumes from ([`io::source`]),
//!   memory-mapped volumes ([`io::mapped`]), OME-Zarr
//!   ([`io::omezarr`]), STAR
//!   ([`io::star`]), particle coordinates one file per tool ([`io::coords`]), the even/odd
//!   suffixes ([`io::EVEN_ODD_SUFFIXES`]), the one atomic writer ([`io::atomic`]), 8-bit PNG
//!   renderings ([`io::png`]) and the provenance every MRC label and STAR file carries
//!   ([`io::provenance`]).
//! - Science: FFTs, filters, spectra and restore's merge ([`fourier`]); the CTF and its
//!   readers ([`ctf`]); FRC/FSC, SSNR, Palovcak's signal/noise/bias estimators, region SNR,
//!   count splitting, synthetic ground truth and scores against a simulation's truth (PSNR,
//!   SSIM, FRC: [`metrics::truth`]) ([`metrics`]); micrographs simulated from atomic
//!   models or maps with exact ground truth, `cryolens simulate` ([`simulate`]).
//! - Networks: Topaz's 2D/3D U-nets, restore's WDSR U-net and crefDenoiser's network in burn,
//!   their file format ([`models::format`]), installing and exporting ([`models`]); the native
//!   CPU convolution (direct, through the FFT for wide 2D kernels, Winograd F(4, 3) for the
//!   3D U-nets' 3×3×3 layers), pooling and backward kernels with one band-size policy
//!   ([`kernels`]); the 3D U-net runs on them end to end (`models::native3d`).
//! - Pipelines: restore's preprocessing ([`restore`]); denoising a micrograph or a volume with
//!   tiling ([`denoise`], [`denoise::Denoiser2d`]); one micrograph's analysis, the comparison
//!   panes' curves and half-map FSC ([`analysis`]); grid screening at screen resolution,
//!   `screening.csv` and the folder watch behind `cryolens screen` ([`screen`]).
//! - Work: one training loop for 2D and 3D noise2noise and crefDenoiser training
//!   ([`train`]), and Noise-Transfer2Clean end to end: simulated pairs, coarse denoiser,
//!   background patches, WGAN-GP noise synthesiser, re-weighting, fine denoiser
//!   ([`train::nt2c`]); picking sessions with undo, autosave, import and export ([`picking`]).
//! - Faces: the command line ([`cli`]; batch commands share sharding, the resume manifest and
//!   folder-keeping output names in `cli::batch`, and `cli::slurm` writes SLURM array jobs)
//!   and the desktop app ([`gui`]: `app.rs` holds the
//!   sub-states, polls jobs and lays out; `state/` plain data; `commands/` every panel
//!   action; `views/` (single, compare, orthoviews, the screening gallery) and `panels/` draw
//!   from read-only contexts and return actions;
//!   `shortcuts.rs` the keys).
//!
//! Data flows one way: files are read by [`io`] into images; [`jobs`] run the science on
//! background threads; the [`gui`] and the [`cli`] only submit jobs and show their results.

pub mod analysis;
pub mod cli;
pub mod ctf;
pub mod denoise;
pub mod device;
pub mod errors;
pub mod fourier;
pub mod gui;
pub mod image;
pub mod io;
pub mod jobs;
pub mod kernels;
pub mod metrics;
pub mod models;
pub mod paths;
pub mod picking;
pub mod restore;
pub mod rng;
pub mod sampling;
pub mod screen;
pub mod simulate;
pub mod train;
