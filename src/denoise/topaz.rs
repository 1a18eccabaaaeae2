//! Topaz's 2D denoisers run with Topaz's semantics (Bepler et al. 2020; `topaz denoise`):
//! the micrograph normalised once by its mean and σ, the network run on tiles planned by
//! [`super::tiling::plan_tiles`] (exact, seamless; see [`super`]), the result mapped back with
//! the same mean and σ. On a CPU device the network runs on the native kernels
//! ([`crate::models::native`]), elsewhere on burn.

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use super::restore::is_restore_model;
use super::tiling::{Tile, TileConfig, denoise_tiles, plan_tiles};
use crate::device::ComputeDevice;
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::native::NativeModel;
use crate::models::{self, ModelSpec, TopazConfig, TopazModel};

/// A loaded Topaz 2D denoiser (affine, fcnn, unet-small, unet; Topaz's weights or a user's
/// own training output) on a compute device.
pub struct TopazDenoiser {
    model: TopazModel,
    /// Host-side copy of the weights for the native CPU kernels (CPU devices only).
    native: Option<NativeModel>,
    config: TopazConfig,
    device: ComputeDevice,
    label: String,
    /// Whether [`TopazDenoiser::with_direct_convolutions`] turned the FFT path off.
    direct: bool,
}

impl TopazDenoiser {
    /// Loads `spec`'s weights onto `device`.
    ///
    /// # Errors
    /// Model not installed, unreadable weights, weights of an unknown architecture, or a
    /// restore model (load those with [`super::Denoiser2d::load`] or
    /// [`super::RestoreDenoiser::load`]).
    pub fn load(spec: &ModelSpec, device: &ComputeDevice) -> Result<Self> {
        let path = spec.weights_path()?;
        if is_restore_model(&path) {
            bail!(
                "{} is a restore (WDSR U-net) model, not a Topaz architecture",
                path.display()
            );
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
            direct: false,
        })
    }

    /// The Topaz architecture's dimensions.
    pub fn config(&self) -> TopazConfig {
        self.config
    }

    /// The same denoiser with every native convolution run directly (im2col + `gemm`), the
    /// baseline `cryolens bench --devices cpu-direct` compares the FFT path with; no change
    /// off the native kernels.
    pub fn with_direct_convolutions(mut self) -> Self {
        if self.native.is_some() {
            self.native = Some(NativeModel::with_strategy(
                &self.model,
                crate::kernels::ConvStrategy::Direct,
            ));
            self.direct = true;
        }
        self
    }

    /// The network's work on a `height × width` image counted as direct convolution, GFLOP
    /// ([`NativeModel::gflop`]).
    pub fn gflop(&self, height: usize, width: usize) -> f64 {
        match &self.native {
            Some(n) => n.gflop(height, width),
            None => NativeModel::with_strategy(&self.model, crate::kernels::ConvStrategy::Direct)
                .gflop(height, width),
        }
    }

    /// Which kernels run the network: "native (CPU)", "burn flex (CPU)" or "burn wgpu".
    pub fn backend_name(&self) -> &'static str {
        if self.device.is_gpu() {
            "burn wgpu"
        } else if self.native.is_some() && self.direct {
            "native direct (CPU)"
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

    /// e.g. "unet: unet (48 filters, widths 11/5)".
    pub fn describe(&self) -> String {
        format!("{}: {}", self.label, self.config.describe())
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
        image.check_finite().context("cannot denoise")?;
        let stats = image.stats();
        if stats.std <= 0.0 || !stats.std.is_finite() {
            bail!("cannot denoise a constant image (standard deviation 0)");
        }
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
        denoise_tiles(
            image,
            (stats.mean, stats.std),
            &plan,
            progress,
            |input, tile| self.forward_tile(input, tile),
        )
    }

    /// Runs the network on one tile window (normalised units, row-major).
    fn forward_tile(&self, input: Vec<f32>, tile: &Tile) -> Result<Vec<f32>> {
        self.forward_normalised(input, tile.in_h, tile.in_w)
    }

    /// Runs the network once on a row-major `height × width` image in normalised units (mean
    /// 0, σ 1), on this denoiser's backend, returning the same layout. Any size of at least
    /// 1×1 works: an input smaller than the model takes ([`TopazConfig::min_size`]: a tiny
    /// image, or a thin last tile) is padded by reflection and cropped back
    /// ([`models::fit::run_at_least`]).
    ///
    /// # Errors
    /// A backend failure (e.g. an input too large for the GPU).
    pub fn forward_normalised(
        &self,
        input: Vec<f32>,
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>> {
        if let Some(native) = &self.native {
            return Ok(native.forward(&input, height, width));
        }
        let min = self.config.min_size();
        models::fit::run_at_least(input, height, width, min, |x, h, w| {
            self.forward_burn(x, h, w)
        })
    }

    /// Runs the burn model on a `height × width` window of at least the model's minimum size.
    fn forward_burn(&self, input: Vec<f32>, height: usize, width: usize) -> Result<Vec<f32>> {
        let x = Tensor::<4>::from_data(
            TensorData::new(input, [1, 1, height, width]),
            &self.device.burn,
        );
        let data = self.model.forward(x).try_into_data().map_err(|e| {
            anyhow::anyhow!(
                "the {} backend failed on a {}×{} tile: {e:?}",
                self.device.describe(),
                width,
                height
            )
        })?;
        let values = data
            .as_slice::<f32>()
            .map_err(|e| anyhow::anyhow!("unexpected output type: {e:?}"))?;
        Ok(values.to_vec())
    }
}
