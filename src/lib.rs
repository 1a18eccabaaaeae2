//! Cryolens: look at cryo-EM micrographs and tomograms through denoising.
//!
//! Data flows one way (see `README.md`, "Architecture"): files are read by [`io`] into
//! [`image::Image`]s; [`jobs`] run the science on background threads ([`denoise`] with the
//! networks of [`models`] on the [`device`] chosen once, [`fourier`] filters and spectra); the
//! [`gui`] and the [`cli`] only submit jobs and show their results.

pub mod analysis;
pub mod cli;
pub mod ctf;
pub mod denoise;
pub mod device;
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
pub mod train;
