//! The 2D model under training: [`TrainableModel`] (one of Topaz's architectures or
//! restore's WDSR U-net, both mapping `[batch, 1, y, x]` to the same shape in normalised
//! units), its seeded initialisation, how its gradients are computed ([`GradientEngine`]: our
//! native CPU kernels for Topaz architectures on a CPU, burn's autodiff otherwise) and
//! inference on one normalised image ([`denoise_normalised`]).
//!
//! Initialisation ([`super::init`]) is PyTorch's default for convolutions (uniform in
//! ±1/√fan_in), drawn from [`Rng::stream`]`(seed, 0x1417)` so a run is reproducible from its
//! seed alone; the WDSR U-net's weight-normalised convolutions start with g = ‖v‖ (Salimans &
//! Kingma 2016).

use anyhow::{Context, Result, anyhow};
use burn::module::Module;
use burn::prelude::*;

use super::config::{TrainConfig, resolve_architecture};
use super::init::{SeededInit, SeededWeightNormInit};
use crate::device::ComputeDevice;
use crate::image::Image;
use crate::models::format::{self, ArchJson};
use crate::models::wdsr::{WdsrConfig, WdsrUNet};
use crate::models::{ModelSpec, TopazModel};
use crate::rng::Rng;

/// A network the training loop can train: one of Topaz's 2D architectures or restore's WDSR
/// U-net. Both map `[batch, 1, y, x]` to the same shape in normalised units.
///
/// On a CPU, Topaz models take the native training step, the WDSR U-net burn's autodiff
/// ([`gradient_engine`]).
// One value per training run: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum TrainableModel {
    /// A Topaz architecture.
    Topaz(TopazModel),
    /// restore's WDSR U-net.
    Wdsr(WdsrUNet),
}

/// A 2D denoising network: `[batch, 1, y, x]` → same shape, normalised units.
pub trait Net2d: Module {
    /// The forward pass (any y, x: the WDSR U-net pads to its alignment).
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4>;
}

impl Net2d for TopazModel {
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward(x)
    }
}

impl Net2d for WdsrUNet {
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_padded(x)
    }
}

impl Net2d for TrainableModel {
    fn forward_net(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            TrainableModel::Topaz(m) => m.forward(x),
            TrainableModel::Wdsr(m) => m.forward_padded(x),
        }
    }
}

impl TrainableModel {
    /// A randomly initialised model of `arch` on `device`, every parameter drawn from `seed`.
    pub fn init_seeded(arch: ArchJson, seed: u64, device: &Device) -> Self {
        let mut rng = Rng::stream(seed, 0x1417);
        match arch.topaz() {
            Some(config) => TrainableModel::Topaz(
                TopazModel::init(config, device).map(&mut SeededInit::new(&mut rng)),
            ),
            None => {
                let w = arch.wdsr().unwrap_or_else(WdsrConfig::paper);
                TrainableModel::Wdsr(w.init(device).map(&mut SeededWeightNormInit::new(&mut rng)))
            }
        }
    }
}

/// The model at step 0: random (seeded) or pretrained, with gradients enabled, on `device`.
pub(super) fn initial_model(
    cfg: &TrainConfig,
    device: &Device,
) -> Result<(TrainableModel, ArchJson)> {
    let (model, arch) = match &cfg.from_pretrained {
        Some(name) => {
            let spec = ModelSpec::parse(name)?;
            let path = spec.weights_path()?;
            let is_wdsr = path.extension().is_some_and(|e| e == "safetensors")
                && format::read_meta::<TrainConfig>(&path)
                    .is_ok_and(|m| matches!(m.architecture, ArchJson::Wdsr(_)));
            if is_wdsr {
                let (m, c, _) = format::load_wdsr_model::<TrainConfig>(&path, device)
                    .with_context(|| format!("loading pretrained model {name}"))?;
                (TrainableModel::Wdsr(m), ArchJson::Wdsr(c))
            } else {
                let (m, c) = crate::models::load_topaz(&path, device)
                    .with_context(|| format!("loading pretrained model {name}"))?;
                (TrainableModel::Topaz(m), c.into())
            }
        }
        None => {
            let arch = resolve_architecture(cfg)?;
            (
                TrainableModel::init_seeded(arch, cfg.data.seed, device),
                arch,
            )
        }
    };
    Ok((model.set_require_grad(true), arch))
}

/// Describes an architecture ("unet-small (48 filters, widths 11/5)", "WDSR U-net (…)").
pub fn describe_architecture(arch: ArchJson) -> String {
    match (arch.topaz(), arch.wdsr()) {
        (Some(t), _) => t.describe(),
        (_, Some(w)) => w.describe(),
        _ => String::new(),
    }
}

/// How gradients are computed: our native CPU kernels ([`super::native`], Topaz architectures on a
/// CPU device) or burn's autodiff (wgpu on a GPU, Flex on the CPU for the WDSR U-net).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientEngine {
    /// [`super::native::native_step`]: hand-written forward and backward passes.
    Native,
    /// burn's autodiff over the training device.
    Autodiff,
}

/// The engine a run uses: native for a Topaz architecture on a CPU device (the same
/// gradients as autodiff to f32 rounding, `tests/train_native.rs`, several times faster),
/// autodiff otherwise.
pub fn gradient_engine(model: &TrainableModel, device: &ComputeDevice) -> GradientEngine {
    match model {
        TrainableModel::Topaz(_) if !device.is_gpu() => GradientEngine::Native,
        _ => GradientEngine::Autodiff,
    }
}

/// Runs `model` (a [`TopazModel`], [`WdsrUNet`] or [`TrainableModel`]; inference, no
/// gradients) on one normalised image of any size.
///
/// # Errors
/// A backend failure.
pub fn denoise_normalised<M: Net2d>(model: &M, image: &Image, device: &Device) -> Result<Image> {
    let plain = device.clone().without_autodiff();
    let x = Tensor::<4>::from_data(
        TensorData::new(image.data.clone(), [1, 1, image.height, image.width]),
        &plain,
    );
    let out = model
        .valid()
        .forward_net(x)
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?;
    let values = out
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("unexpected output type: {e:?}"))?;
    Image::new(image.width, image.height, values)
        .map(|im| im.with_pixel_size(image.pixel_size_angstrom))
        .map_err(|e| anyhow!("{e}"))
}
