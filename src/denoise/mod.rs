//! Denoising with Topaz's semantics, tiled so memory stays bounded, without seams.
//!
//! Topaz (Bepler et al. 2020; `topaz denoise`) normalises a micrograph by its mean and
//! standard deviation, runs the model, and maps the result back with the same mean and σ.
//! It tiles large micrographs (patch 1024, padding 500) and re-normalises each tile by the
//! tile's own statistics, which makes tiles disagree at their borders. Cryolens normalises
//! once, globally, and crops each tile's padding away, so a tiled result equals the untiled one
//! (to float rounding) whenever the padding covers the model's receptive field and tiles are
//! aligned to the model's pooling grid, which [`plan_tiles`] guarantees.
//!
//! [`Denoiser2d`] is either family of 2D denoiser: a Topaz architecture ([`TopazDenoiser`],
//! in [`topaz`]) or one of Cryolens' restore models (the WDSR U-net of Palovcak et al. 2020,
//! trained with `cryolens train --arch wdsr`; [`RestoreDenoiser`], in [`restore`]), so every
//! caller that loads a model by name (`cryolens denoise`, `analyze`, the GUI) takes either.
//! 3D (tomogram) denoising is [`volume`].

pub mod restore;
pub mod tiling;
pub mod topaz;
pub mod volume;

use anyhow::Result;

use crate::ctf::Ctf;
use crate::device::ComputeDevice;
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::{ModelSpec, TopazConfig};

pub use restore::{NeedsCtf, PhaseFlip, RestoreDenoiser};
pub use tiling::{Tile, TileConfig, plan_tiles};
pub use topaz::TopazDenoiser;

/// A loaded 2D denoiser on a compute device, of either family (see the module
/// documentation). Both are boxed: they are large and of very different sizes.
pub enum Denoiser2d {
    /// A Topaz architecture.
    Topaz(Box<TopazDenoiser>),
    /// A restore model (WDSR U-net).
    Restore(Box<RestoreDenoiser>),
}

impl Denoiser2d {
    /// Loads `spec`'s weights onto `device`: a restore model when its JSON names the WDSR
    /// U-net ([`restore::is_restore_model`]), else a Topaz architecture.
    ///
    /// # Errors
    /// Model not installed, unreadable weights, or weights of an unknown architecture.
    pub fn load(spec: &ModelSpec, device: &ComputeDevice) -> Result<Self> {
        let path = spec.weights_path()?;
        Ok(if restore::is_restore_model(&path) {
            Denoiser2d::Restore(Box::new(RestoreDenoiser::load(spec, device)?))
        } else {
            Denoiser2d::Topaz(Box::new(TopazDenoiser::load(spec, device)?))
        })
    }

    /// The Topaz architecture's dimensions (`None` for a restore model).
    pub fn config(&self) -> Option<TopazConfig> {
        match self {
            Denoiser2d::Topaz(t) => Some(t.config()),
            Denoiser2d::Restore(_) => None,
        }
    }

    /// The restore denoiser, when this is a restore (WDSR) model.
    pub fn restore(&self) -> Option<&RestoreDenoiser> {
        match self {
            Denoiser2d::Topaz(_) => None,
            Denoiser2d::Restore(r) => Some(r),
        }
    }

    /// Which kernels run the network: "native (CPU)", "burn flex (CPU)" or "burn wgpu".
    pub fn backend_name(&self) -> &'static str {
        match self {
            Denoiser2d::Topaz(t) => t.backend_name(),
            Denoiser2d::Restore(r) => r.backend_name(),
        }
    }

    /// The device the model runs on.
    pub fn device(&self) -> &ComputeDevice {
        match self {
            Denoiser2d::Topaz(t) => t.device(),
            Denoiser2d::Restore(r) => r.device(),
        }
    }

    /// e.g. "unet: unet (48 filters, widths 11/5)", or for a restore model
    /// "NAME: restore (WDSR U-net, 32 filters, max resolution 4.5 Å, …)".
    pub fn describe(&self) -> String {
        match self {
            Denoiser2d::Topaz(t) => t.describe(),
            Denoiser2d::Restore(r) => r.describe(),
        }
    }

    /// Short model label ("unet", or a file stem).
    pub fn label(&self) -> &str {
        match self {
            Denoiser2d::Topaz(t) => t.label(),
            Denoiser2d::Restore(r) => r.label(),
        }
    }

    /// Denoises a micrograph: an image of the same shape and pixel size, in the input's units
    /// ([`TopazDenoiser::denoise`], [`RestoreDenoiser::denoise`]). Reports one progress step
    /// per tile and stops early (with an error) if the job is cancelled.
    ///
    /// # Errors
    /// Non-finite input values, a constant image (σ = 0), cancellation, a backend failure
    /// (e.g. a tile too large for the GPU), or for a restore model an image it cannot
    /// preprocess (e.g. without a pixel size).
    pub fn denoise(&self, image: &Image, tiles: &TileConfig, progress: &Progress) -> Result<Image> {
        match self {
            Denoiser2d::Topaz(t) => t.denoise(image, tiles, progress),
            Denoiser2d::Restore(r) => r.denoise(image, tiles, progress),
        }
    }

    /// A quick look at the denoised micrograph: `image` Fourier-binned ([`crate::fourier::fourier_crop`]) so
    /// that its longer side is at most `max_side` pixels, denoised in one piece. `None` when
    /// the image is already that small or the model is a restore model (its own Fourier
    /// crop to the training pixel size comes first, and it may need the CTF). The GUI shows
    /// it stretched over the micrograph while the full-resolution denoising runs.
    ///
    /// # Errors
    /// As [`Denoiser2d::denoise`].
    pub fn preview(
        &self,
        image: &Image,
        max_side: usize,
        progress: &Progress,
    ) -> Result<Option<Image>> {
        let longest = image.width.max(image.height);
        let Denoiser2d::Topaz(t) = self else {
            return Ok(None);
        };
        if longest <= max_side || max_side == 0 {
            return Ok(None);
        }
        let scale = max_side as f64 / longest as f64;
        let (w, h) = (
            ((image.width as f64 * scale).round() as usize).max(1),
            ((image.height as f64 * scale).round() as usize).max(1),
        );
        let binned = crate::fourier::fourier_crop(image, w, h);
        let whole = TileConfig {
            patch_size: 0,
            padding: None,
        };
        t.denoise(&binned, &whole, progress).map(Some)
    }

    /// Whether this model must be given each micrograph's CTF: a restore model trained on
    /// phase-flipped micrographs ([`RestoreDenoiser::trained_with_phase_flip`]).
    pub fn needs_ctf(&self) -> bool {
        self.restore().is_some_and(|r| r.trained_with_phase_flip())
    }

    /// Denoises a micrograph as [`Denoiser2d::denoise`], phase flipping it with `ctf` first
    /// when the model was trained on phase-flipped micrographs ([`Denoiser2d::needs_ctf`]) and
    /// flipping the result back when `flip_back` (restore's default). Other models ignore
    /// `ctf` and `flip_back` (they were trained on micrographs as recorded).
    ///
    /// # Errors
    /// As [`Denoiser2d::denoise`]; [`NeedsCtf`] when the model needs a CTF and `ctf` is
    /// `None`.
    pub fn denoise_with_ctf(
        &self,
        image: &Image,
        ctf: Option<&Ctf>,
        flip_back: bool,
        tiles: &TileConfig,
        progress: &Progress,
    ) -> Result<Image> {
        match self {
            Denoiser2d::Restore(r) if r.trained_with_phase_flip() => {
                let flip = ctf.map(|ctf| PhaseFlip { ctf, flip_back });
                r.denoise_flipped(image, flip, tiles, progress)
            }
            _ => self.denoise(image, tiles, progress),
        }
    }
}
