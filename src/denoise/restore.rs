//! restore's denoiser (Palovcak et al. 2020, supplement S2.1 and S2.3): a micrograph is
//! preprocessed as the training data were (Fourier crop to a pixel size of max_resolution/2,
//! band-pass from 1/200 Å⁻¹, optional CTF phase flip; [`crate::restore::preprocess`]),
//! normalised, run through the trained WDSR U-net ([`crate::models::wdsr`]) in tiles
//! ([`super::tiling`]), mapped back to the binned image's units, unbinned to the original
//! shape and pixel size with a soft low-pass at the binned Nyquist frequency
//! ([`crate::restore::unbin`]) and, optionally, phase flipped back.
//!
//! The denoised image holds no frequency beyond the binned Nyquist frequency
//! 1/max_resolution Å⁻¹ and none below 1/`highpass` Å⁻¹ (the band-pass); the mean of the input
//! is added back so the result sits at the input's level. Merge it with the raw image
//! ([`crate::fourier::merge`], S2.4) to restore the high frequencies.
//!
//! Images are row-major `[y * width + x]` with their pixel size in Å/px.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::prelude::*;

use super::tiling::{Tile, TileConfig, denoise_tiles, plan_tiles};
use crate::ctf::Ctf;
use crate::device::ComputeDevice;
use crate::image::Image;
use crate::jobs::Progress;
use crate::models::format::{self, ArchJson, InferenceSettings, ModelMeta};
use crate::models::wdsr::{WdsrConfig, WdsrUNet};
use crate::models::{ModelSpec, TopazArch, TopazConfig};
use crate::restore::{PreprocessConfig, Preprocessed};

/// Whether `path` is a Cryolens restore model: `NAME.safetensors` whose JSON names the WDSR
/// U-net.
pub fn is_restore_model(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "safetensors")
        && format::read_meta::<InferenceSettings>(path)
            .is_ok_and(|m| matches!(m.architecture, ArchJson::Wdsr(_)))
}

/// The error of denoising without a CTF with a model trained on phase-flipped micrographs:
/// its input must be flipped the same way, which needs the micrograph's defocus. Its message
/// names the model and says what to give (`--ctf FILE` on the command line); the GUI finds it
/// with `downcast_ref` and words its own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "model {model} was trained on phase-flipped micrographs (give --ctf FILE with this micrograph's defocus)"
)]
pub struct NeedsCtf {
    /// The model's label.
    pub model: String,
}

/// The output of [`RestoreDenoiser::denoise_binned`]: the preprocessed input and its
/// denoised version, both binned (pixel size max_resolution/2), before unbinning.
/// A micrograph's CTF as a restore model is given it (S2.3): the phases flipped with `ctf`
/// before denoising, and flipped back with it afterwards when `flip_back` (restore's default).
#[derive(Clone, Copy, Debug)]
pub struct PhaseFlip<'a> {
    /// The micrograph's CTF (RELION conventions, see [`Ctf`]).
    pub ctf: &'a Ctf,
    /// Flip the denoised micrograph's phases back (`false`: the output stays phase flipped).
    pub flip_back: bool,
}

#[derive(Clone, Debug)]
pub struct BinnedResult {
    /// The preprocessed input (binned, band-passed, phase flipped if a CTF was given).
    pub preprocessed: Preprocessed,
    /// The network's output on it, in the preprocessed image's units, same shape and pixel
    /// size.
    pub denoised: Image,
}

/// A loaded restore (WDSR U-net) denoiser on a compute device.
pub struct RestoreDenoiser {
    model: WdsrUNet,
    config: WdsrConfig,
    preprocess: PreprocessConfig,
    trained_with_phase_flip: bool,
    device: ComputeDevice,
    label: String,
}

impl RestoreDenoiser {
    /// Loads a restore model (`NAME.safetensors` + `NAME.json` written by `cryolens train
    /// --arch wdsr`) onto `device`; the preprocessing comes from the JSON (the training
    /// data's `restore` options; restore's defaults when the JSON has none).
    ///
    /// # Errors
    /// Not a Cryolens model file, a Topaz-architecture model, unreadable or mis-shaped weights.
    pub fn load(spec: &ModelSpec, device: &ComputeDevice) -> Result<Self> {
        let path = spec.weights_path()?;
        let (model, config, meta) =
            format::load_wdsr_model(&path, &device.burn).context("loading a restore model")?;
        Ok(Self::from_parts(model, config, &meta, device, spec.label()))
    }

    /// A denoiser from a model in memory and the JSON it was (or would be) saved with.
    pub fn from_parts(
        model: WdsrUNet,
        config: WdsrConfig,
        meta: &ModelMeta<InferenceSettings>,
        device: &ComputeDevice,
        label: impl Into<String>,
    ) -> Self {
        let restore = meta.training.data.restore.clone().unwrap_or_default();
        Self {
            model,
            config,
            preprocess: PreprocessConfig {
                max_resolution_angstrom: restore.max_resolution_angstrom,
                highpass_angstrom: restore.highpass_angstrom,
            },
            trained_with_phase_flip: restore.phase_flip(),
            device: device.clone(),
            label: label.into(),
        }
    }

    /// The network's dimensions.
    pub fn config(&self) -> WdsrConfig {
        self.config
    }

    /// The preprocessing repeated before the network (max resolution, band-pass).
    pub fn preprocessing(&self) -> PreprocessConfig {
        self.preprocess
    }

    /// Highest resolution the model sees and returns, Å.
    pub fn max_resolution_angstrom(&self) -> f64 {
        self.preprocess.max_resolution_angstrom
    }

    /// Whether the training data were phase flipped (then give the micrograph's CTF to
    /// [`RestoreDenoiser::denoise_flipped`]).
    pub fn trained_with_phase_flip(&self) -> bool {
        self.trained_with_phase_flip
    }

    /// Short model label (the file stem).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The device the model runs on.
    pub fn device(&self) -> &ComputeDevice {
        &self.device
    }

    /// "burn wgpu" or "burn flex (CPU)".
    pub fn backend_name(&self) -> &'static str {
        if self.device.is_gpu() {
            "burn wgpu"
        } else {
            "burn flex (CPU)"
        }
    }

    /// e.g. "NAME: restore (WDSR U-net, max resolution 4.5 Å, band-pass from 200 Å)".
    pub fn describe(&self) -> String {
        format!(
            "{}: restore (WDSR U-net, {} filters, max resolution {} Å, band-pass from {} Å{})",
            self.label,
            self.config.filters,
            self.preprocess.max_resolution_angstrom,
            self.preprocess.highpass_angstrom,
            if self.trained_with_phase_flip {
                ", trained on phase-flipped data"
            } else {
                ""
            }
        )
    }

    /// Denoises a micrograph without CTF: the result has the input's shape and pixel size,
    /// holds frequencies from 1/highpass to 1/max_resolution Å⁻¹, and the input's mean.
    ///
    /// # Errors
    /// As [`RestoreDenoiser::denoise_flipped`]; [`NeedsCtf`] for a model trained on
    /// phase-flipped micrographs.
    pub fn denoise(&self, image: &Image, tiles: &TileConfig, progress: &Progress) -> Result<Image> {
        self.denoise_flipped(image, None, tiles, progress)
    }

    /// Denoises a micrograph (S2.3): preprocessing (phase flipped with `flip.ctf` when
    /// given), tiled WDSR inference, unbinning to the input's shape and pixel size, and with
    /// `flip.flip_back` the phases flipped back with the same CTF. Reports one progress step
    /// per tile.
    ///
    /// A model trained on phase-flipped micrographs ([`RestoreDenoiser::trained_with_phase_flip`])
    /// needs a CTF: its input is flipped as its training data were (restore's `denoise.py`
    /// flips, and flips back unless told not to). A model trained on unflipped data may be
    /// given one too (then its input is flipped all the same: the caller decides).
    ///
    /// # Errors
    /// [`NeedsCtf`] when the model was trained on phase-flipped micrographs and `ctf` is
    /// `None`; an image without pixel size, empty or with non-finite values; a constant image
    /// after preprocessing; an invalid CTF; cancellation; a backend failure.
    pub fn denoise_flipped(
        &self,
        image: &Image,
        flip: Option<PhaseFlip<'_>>,
        tiles: &TileConfig,
        progress: &Progress,
    ) -> Result<Image> {
        if flip.is_none() && self.trained_with_phase_flip {
            return Err(NeedsCtf {
                model: self.label.clone(),
            }
            .into());
        }
        let ctf = flip.map(|f| f.ctf);
        let flip_back = flip.is_some_and(|f| f.flip_back);
        let binned = self.denoise_binned(image, ctf, tiles, progress)?;
        let p = &binned.preprocessed;
        let mut out = crate::restore::unbin(
            &binned.denoised,
            p.original_width,
            p.original_height,
            p.original_pixel_size_angstrom,
            if flip_back { ctf } else { None },
        )
        .map_err(|e| anyhow!("restore unbinning: {e}"))?;
        let mean = image.stats().mean as f32;
        out.data.iter_mut().for_each(|v| *v += mean);
        Ok(out)
    }

    /// Preprocessing and tiled inference only: the binned, preprocessed input and the
    /// network's output on it (see [`BinnedResult`]).
    ///
    /// # Errors
    /// As [`RestoreDenoiser::denoise_flipped`].
    pub fn denoise_binned(
        &self,
        image: &Image,
        ctf: Option<&Ctf>,
        tiles: &TileConfig,
        progress: &Progress,
    ) -> Result<BinnedResult> {
        image.check_finite().context("cannot denoise")?;
        let input_std = image.stats().std;
        if !(input_std > 0.0 && input_std.is_finite()) {
            bail!("cannot denoise a constant image (standard deviation 0)");
        }
        let preprocessed = crate::restore::preprocess(image, &self.preprocess, ctf)
            .map_err(|e| anyhow!("cannot denoise with restore: {e}"))?;
        let binned = &preprocessed.image;
        let stats = binned.stats();
        if !(stats.std > 1e-6 * input_std && stats.std.is_finite()) {
            bail!(
                "nothing to denoise: the image holds no signal between 1/{} and 1/{} Å⁻¹",
                self.preprocess.highpass_angstrom,
                self.preprocess.max_resolution_angstrom
            );
        }
        let plan = self.plan(binned.width, binned.height, tiles);
        progress.start(
            plan.len() as u64,
            format!(
                "denoising with {} (restore WDSR model, max resolution {} Å) on {}",
                self.label,
                self.preprocess.max_resolution_angstrom,
                self.device.describe()
            ),
        );
        let denoised = denoise_tiles(
            binned,
            (stats.mean, stats.std),
            &plan,
            progress,
            |input, tile| self.forward_tile(input, tile),
        )?;
        Ok(BinnedResult {
            preprocessed,
            denoised,
        })
    }

    /// Tiles for a binned `width × height` image: padding = the network's receptive radius
    /// (unless set), window origins on multiples of its alignment 2^levels. The planner takes
    /// its alignment and channel count from a Topaz geometry, so it is given the Topaz U-net
    /// whose alignment (8 or 32) is a multiple of ours, and a buffer limit rescaled to our
    /// channel count; beyond 5 levels the image is run whole.
    fn plan(&self, width: usize, height: usize, tiles: &TileConfig) -> Vec<Tile> {
        let align = self.config.alignment();
        let geometry: TopazConfig = if align <= 8 {
            TopazArch::UNetSmall.config()
        } else {
            TopazArch::UNet.config()
        };
        let whole = align > geometry.alignment();
        let cfg = TileConfig {
            patch_size: if whole { 0 } else { tiles.patch_size },
            padding: Some(tiles.padding.unwrap_or(self.config.receptive_radius())),
        };
        let limit = self.device.max_tensor_values().map(|l| {
            l.saturating_mul(geometry.max_channels() as u64) / self.config.max_channels() as u64
        });
        plan_tiles(width, height, &cfg, geometry, limit)
    }

    /// Runs the network on one tile window (normalised units, row-major), zero-padded at the
    /// bottom and right to the alignment (window origins are aligned, so every tile sees the
    /// pooling grid of the whole image).
    fn forward_tile(&self, input: Vec<f32>, tile: &Tile) -> Result<Vec<f32>> {
        let align = self.config.alignment();
        let (w, h) = (tile.in_w, tile.in_h);
        let (pw, ph) = (w.div_ceil(align) * align, h.div_ceil(align) * align);
        let padded = if (pw, ph) == (w, h) {
            input
        } else {
            let mut p = vec![0.0f32; pw * ph];
            for (y, row) in input.chunks(w).enumerate() {
                p[y * pw..y * pw + w].copy_from_slice(row);
            }
            p
        };
        let x = Tensor::<4>::from_data(TensorData::new(padded, [1, 1, ph, pw]), &self.device.burn);
        let data = self.model.forward(x).try_into_data().map_err(|e| {
            anyhow!(
                "the {} backend failed on a {}×{} tile: {e:?}",
                self.device.describe(),
                pw,
                ph
            )
        })?;
        let values = data
            .as_slice::<f32>()
            .map_err(|e| anyhow!("unexpected output type: {e:?}"))?;
        Ok(if (pw, ph) == (w, h) {
            values.to_vec()
        } else {
            values
                .chunks(pw)
                .take(h)
                .flat_map(|row| row[..w].iter().copied())
                .collect()
        })
    }
}
