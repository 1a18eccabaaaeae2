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
//! [`TopazDenoiser`] also runs Cryolens' restore models (the WDSR U-net of Palovcak et al.
//! 2020, trained with `cryolens train --arch wdsr`) through [`restore::RestoreDenoiser`], so
//! every caller that loads a model by name (`cryolens denoise`, `analyze`, the GUI) takes
//! either family.

pub mod restore;
pub mod tiling;
pub mod volume;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::device::ComputeDevice;
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::native::NativeModel;
use crate::models::{self, ModelSpec, TopazConfig, TopazModel};

pub use restore::RestoreDenoiser;
pub use tiling::{Tile, TileConfig, plan_tiles};

/// A loaded 2D denoiser on a compute device: a Topaz architecture, or a restore model (WDSR
/// U-net) run through [`RestoreDenoiser`] (see the module documentation).
pub struct TopazDenoiser {
    model: TopazModel,
    /// Host-side copy of the weights for the native CPU kernels (CPU devices only).
    native: Option<NativeModel>,
    config: TopazConfig,
    device: ComputeDevice,
    label: String,
    /// Set for a restore model: every call goes to it (`model` is then an unused 1×1 affine).
    restore: Option<Box<RestoreDenoiser>>,
}

impl TopazDenoiser {
    /// Loads `spec`'s weights onto `device` (a restore model when its JSON names the WDSR
    /// U-net).
    ///
    /// # Errors
    /// Model not installed, unreadable weights, or weights of an unknown architecture.
    pub fn load(spec: &ModelSpec, device: &ComputeDevice) -> Result<Self> {
        let path = spec.weights_path()?;
        if restore::is_restore_model(&path) {
            let config = TopazConfig::Affine { size: 1 };
            return Ok(Self {
                model: TopazModel::init(config, &device.burn),
                native: None,
                config,
                device: device.clone(),
                label: spec.label(),
                restore: Some(Box::new(RestoreDenoiser::load(spec, device)?)),
            });
        }
        let (model, config) = models::load_topaz(&path, &device.burn)?;
        // The one-channel affine filter runs faster on Flex's direct convolution than through
        // im2col (measured: 0.10 s against 3.7 s for 1024²), so it stays on burn.
        let affine = matches!(config, TopazConfig::Affine { .. });
        let native = (!device.is_gpu() && device.native_cpu && !affine)
            .then(|| NativeModel::from_burn(&model));
        Ok(Self {
            model,
            native,
            config,
            device: device.clone(),
            label: spec.label(),
            restore: None,
        })
    }

    /// The Topaz architecture's dimensions (`None` for a restore model, see
    /// [`TopazDenoiser::restore`]).
    pub fn config(&self) -> Option<TopazConfig> {
        self.restore.is_none().then_some(self.config)
    }

    /// The restore denoiser, when this is a restore (WDSR) model.
    pub fn restore(&self) -> Option<&RestoreDenoiser> {
        self.restore.as_deref()
    }

    /// Which kernels run the network: "native (CPU)", "burn flex (CPU)" or "burn wgpu".
    pub fn backend_name(&self) -> &'static str {
        if let Some(r) = &self.restore {
            r.backend_name()
        } else if self.device.is_gpu() {
            "burn wgpu"
        } else if self.native.is_some() {
            "native (CPU)"
        } else {
            "burn flex (CPU)"
        }
    }

    /// The device the model runs on.
    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// e.g. "unet: unet (48 filters, widths 11/5)", or for a restore model
    /// "NAME: restore (WDSR U-net, 32 filters, max resolution 4.5 Å, …)".
    pub fn describe(&self) -> String {
        match &self.restore {
            Some(r) => r.describe(),
            None => format!("{}: {}", self.label, self.config.describe()),
        }
    }

    /// Short model label ("unet", or a file stem).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Denoises a micrograph. Returns an image of the same shape and pixel size, in the input's
    /// units. Reports one progress step per tile and stops early (with an error) if the job is
    /// cancelled.
    ///
    /// # Errors
    /// Non-finite input values, a constant image (σ = 0), cancellation, or a backend failure
    /// (e.g. a tile too large for the GPU).
    pub fn denoise(&self, image: &Image, tiles: &TileConfig, progress: &Progress) -> Result<Image> {
        if let Some(r) = &self.restore {
            return r.denoise(image, tiles, progress);
        }
        image.check_finite().context("cannot denoise")?;
        let stats = image.stats();
        if stats.std <= 0.0 || !stats.std.is_finite() {
            bail!("cannot denoise a constant image (standard deviation 0)");
        }
        let (mean, std) = (stats.mean, stats.std);
        let normalised: Vec<f32> = image
            .data
            .iter()
            .map(|&v| ((v as f64 - mean) / std) as f32)
            .collect();
        let plan = plan_tiles(
            image.width,
            image.height,
            tiles,
            self.config,
            self.device.max_tensor_values(),
        );
        progress.start(
            plan.len() as u64,
            format!(
                "denoising with {} on {}",
                self.label,
                self.device.describe()
            ),
        );
        let mut out =
            Image::zeros(image.width, image.height).with_pixel_size(image.pixel_size_angstrom);
        for tile in &plan {
            if progress.is_cancelled() {
                bail!("denoising cancelled");
            }
            let input = tile.extract(&normalised, image.width);
            let values = self.forward_tile(input, tile)?;
            tile.insert(&values, &mut out.data, image.width, |v| {
                (v as f64 * std + mean) as f32
            });
            progress.step();
        }
        Ok(out)
    }

    /// Runs the network on one tile window (normalised units, row-major).
    fn forward_tile(&self, input: Vec<f32>, tile: &Tile) -> Result<Vec<f32>> {
        if let Some(native) = &self.native {
            return Ok(native.forward(&input, tile.in_h, tile.in_w));
        }
        let x = Tensor::<4>::from_data(
            TensorData::new(input, [1, 1, tile.in_h, tile.in_w]),
            &self.device.burn,
        );
        let data = self.model.forward(x).try_into_data().map_err(|e| {
            anyhow::anyhow!(
                "the {} backend failed on a {}×{} tile: {e:?}",
                self.device.describe(),
                tile.in_w,
                tile.in_h
            )
        })?;
        let values = data
            .as_slice::<f32>()
            .map_err(|e| anyhow::anyhow!("unexpected output type: {e:?}"))?;
        Ok(values.to_vec())
    }
}
