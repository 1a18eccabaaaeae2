//! Topaz-Denoise's 2D model family, layer for layer, so Topaz's own weights load unchanged.
//!
//! Source: Bepler et al. 2020, "Topaz-Denoise: general deep denoising models for cryoEM and
//! cryoET" (Nat. Commun. 11:5208), Methods "Model architectures" and Supplementary Fig. 1; the
//! layer shapes below are those of the state dicts shipped in `topaz-em==0.3.20`
//! (`topaz/pretrained/denoise/*.sav`). Field names equal the PyTorch state-dict prefixes
//! (`enc1`, `dec5`, `net`, `filter`), and every `nn.Sequential` is a `Vec<Conv2d>` whose
//! entries are the Sequential's convolutions in order (PyTorch's `dec5.0`, `dec5.2` become
//! indices 0 and 1 when loaded with `map_indices_contiguous`).
//!
//! All models take and return tensors of shape `[batch, 1, height, width]` (rows = y,
//! columns = x) in normalised units (the micrograph's mean subtracted, divided by its σ).
//! Every convolution pads by half its width, so the output has the input's shape; the
//! U-nets accept any size of at least [`TopazConfig::min_size`] (odd sizes included: nearest
//! up-sampling to the skip's size); callers pad smaller ones ([`super::fit`]).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::{interpolate, max_pool2d};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, MaxPoolOptions};

use super::unet::{UDenoiseNet, unet_blocks, unet_flow};

/// Slope of Topaz's leaky ReLUs (`nn.LeakyReLU(0.1)`).
pub(crate) const LEAK: f64 = 0.1;

/// A convolution with `cin` inputs, `cout` outputs, a `k`×`k` kernel and "same" padding `k/2`.
fn conv(cin: usize, cout: usize, k: usize, device: &Device) -> Conv2d {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
        .init(device)
}

fn act(x: Tensor<4>) -> Tensor<4> {
    leaky_relu(x, LEAK)
}

/// 2×2 max pooling, stride 2, floor mode (PyTorch `nn.MaxPool2d(2)`).
fn pool(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]))
}

/// Nearest-neighbour up-sampling of `h` to the spatial size of `skip`, then channel concat
/// `[h, skip]` (PyTorch `F.interpolate(h, size, mode='nearest')` + `torch.cat([h, skip], 1)`).
fn up_cat(h: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
    let [_, _, rows, cols] = skip.dims();
    let h = interpolate(
        h,
        InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([rows, cols]),
    );
    Tensor::cat(vec![h, skip], 1)
}

/// Applies `convs` in order with a leaky ReLU after each, except after the last when
/// `linear_last` (an output block).
fn conv_act(convs: &[Conv2d], mut x: Tensor<4>, linear_last: bool) -> Tensor<4> {
    let n = convs.len();
    for (i, c) in convs.iter().enumerate() {
        x = c.forward(x);
        if !(linear_last && i + 1 == n) {
            x = act(x);
        }
    }
    x
}

/// Topaz `affine` (`AffineDenoise(max_size=31)`): one 31×31 linear filter with a bias.
#[derive(Module, Debug)]
pub struct Affine {
    /// `filter.weight` `[1, 1, 31, 31]`, `filter.bias` `[1]`.
    pub filter: Conv2d,
}

impl Affine {
    /// Randomly initialised (weights are loaded afterwards). `size` is 31 for Topaz's model.
    pub fn new(size: usize, device: &Device) -> Self {
        Self {
            filter: conv(1, 1, size, device),
        }
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.filter.forward(x)
    }
}

/// Topaz `fcnn` (`DenoiseNet2(64, width=11)`): three 11×11 convolutions, 64 filters, leaky
/// ReLU between them.
#[derive(Module, Debug)]
pub struct Fcnn {
    /// `net.0` 1→nf, `net.2` nf→nf, `net.4` nf→1 (PyTorch indices).
    pub net: Vec<Conv2d>,
}

impl Fcnn {
    /// `nf` filters (64) and kernel `width` (11) as in Topaz.
    pub fn new(nf: usize, width: usize, device: &Device) -> Self {
        Self {
            net: vec![
                conv(1, nf, width, device),
                conv(nf, nf, width, device),
                conv(nf, 1, width, device),
            ],
        }
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_act(&self.net, x, true)
    }
}

/// Topaz `unet` (`UDenoiseNet`): the noise2noise U-net of Lehtinen et al. with five 2×
/// down-sampling stages, `nf` = 48 filters, first-layer width `base_width` (11 in v0.2.2, 7
/// in v0.2.1) and top (output) width `top_width` (5 in v0.2.2, 3 in v0.2.1); output block
/// channels 64, 32.
pub type UNet = UDenoiseNet<Conv2d>;

impl UNet {
    /// Randomly initialised U-net; Topaz's v0.2.2 weights need `(48, 11, 5)`, v0.2.1 `(48, 7, 3)`.
    pub fn new(nf: usize, base_width: usize, top_width: usize, device: &Device) -> Self {
        Self::build(nf, base_width, top_width, [64, 32], |cin, cout, k| {
            conv(cin, cout, k, device)
        })
    }

    /// The blocks in [`unet_flow`]'s order: `enc1`…`enc6`, then `dec5`…`dec1`.
    pub fn blocks(&self) -> UNetBlocks<'_> {
        UNetBlocks {
            encoder: self.encoder().to_vec(),
            decoder: self.decoder().to_vec(),
        }
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks().forward(x)
    }
}

/// Topaz `unet-small` (`UDenoiseNetSmall`): three down-sampling stages; v0.2.2 weights use
/// `nf` = 48, `width` = 11, `top_width` = 5.
#[derive(Module, Debug)]
pub struct UNetSmall {
    /// `enc1`: conv 1→nf (width), pooled.
    pub enc1: Vec<Conv2d>,
    /// `enc2`, `enc3`: conv nf→nf (3×3), pooled.
    pub enc2: Vec<Conv2d>,
    /// See `enc2`.
    pub enc3: Vec<Conv2d>,
    /// `enc4`: conv nf→nf (3×3), not pooled.
    pub enc4: Vec<Conv2d>,
    /// `dec3`: two convs 2nf→2nf.
    pub dec3: Vec<Conv2d>,
    /// `dec2`: conv 3nf→2nf, conv 2nf→2nf.
    pub dec2: Vec<Conv2d>,
    /// `dec1`: conv (2nf+1)→64, 64→32, 32→1, all `top_width`; linear output.
    pub dec1: Vec<Conv2d>,
}

impl UNetSmall {
    /// Randomly initialised small U-net.
    pub fn new(nf: usize, width: usize, top_width: usize, device: &Device) -> Self {
        let ([enc1, enc2, enc3, enc4], [dec3, dec2, dec1]) =
            unet_blocks(nf, width, top_width, [64, 32], |cin, cout, k| {
                conv(cin, cout, k, device)
            });
        Self {
            enc1,
            enc2,
            enc3,
            enc4,
            dec3,
            dec2,
            dec1,
        }
    }

    /// The blocks in [`unet_flow`]'s order: `enc1`…`enc4`, then `dec3`…`dec1`.
    pub fn blocks(&self) -> UNetBlocks<'_> {
        UNetBlocks::new(
            [&self.enc1, &self.enc2, &self.enc3, &self.enc4],
            [&self.dec3, &self.dec2, &self.dec1],
        )
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.blocks().forward(x)
    }
}

/// A 2D U-net's convolution blocks, borrowed: the encoder shallowest first (its last block the
/// unpooled bottom) and the decoder deepest first (its last block the output block `dec1`),
/// the order [`unet_flow`] takes them in. The burn forward pass, the native kernels'
/// ([`super::native`]) and native training (`crate::train::native`) all read a U-net this way.
pub struct UNetBlocks<'a> {
    /// `enc1`, `enc2`, …, the bottom block last.
    pub encoder: Vec<&'a [Conv2d]>,
    /// The deepest decoder block first, `dec1` last.
    pub decoder: Vec<&'a [Conv2d]>,
}

impl<'a> UNetBlocks<'a> {
    fn new<const E: usize, const D: usize>(
        encoder: [&'a Vec<Conv2d>; E],
        decoder: [&'a Vec<Conv2d>; D],
    ) -> Self {
        Self {
            encoder: encoder.map(Vec::as_slice).to_vec(),
            decoder: decoder.map(Vec::as_slice).to_vec(),
        }
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`: Topaz's U-net forward pass on burn.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        unet_flow(
            &self.encoder,
            &self.decoder,
            x,
            |convs, h, pooled| {
                let h = conv_act(convs, h, false);
                if pooled { pool(h) } else { h }
            },
            |convs, h, skip, last| conv_act(convs, up_cat(h, skip), last),
        )
    }
}

/// The four Topaz 2D architectures (and the v0.2.1 U-net variant) by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopazArch {
    /// `affine`: one 31×31 convolution.
    Affine,
    /// `fcnn`: three 11×11 convolutions, 64 filters.
    Fcnn,
    /// `unet-small`: three-level U-net, widths 11/5.
    UNetSmall,
    /// `unet` v0.2.2: five-level U-net, widths 11/5.
    UNet,
    /// `unet-v0.2.1`: five-level U-net, widths 7/3.
    UNetV021,
}

impl TopazArch {
    /// All pretrained 2D models Topaz ships, in the order we list them.
    pub const ALL: [TopazArch; 5] = [
        TopazArch::UNet,
        TopazArch::UNetSmall,
        TopazArch::Fcnn,
        TopazArch::Affine,
        TopazArch::UNetV021,
    ];

    /// Topaz's name for the model (`--model` value).
    pub fn name(self) -> &'static str {
        match self {
            TopazArch::Affine => "affine",
            TopazArch::Fcnn => "fcnn",
            TopazArch::UNetSmall => "unet-small",
            TopazArch::UNet => "unet",
            TopazArch::UNetV021 => "unet-v0.2.1",
        }
    }

    /// The weights file inside the topaz-em wheel (`topaz/pretrained/denoise/`).
    pub fn weights_file(self) -> &'static str {
        match self {
            TopazArch::Affine => "affine_L1_v0.2.2.sav",
            TopazArch::Fcnn => "fcnn_L1_v0.2.2.sav",
            TopazArch::UNetSmall => "unet_small_L1_v0.2.2.sav",
            TopazArch::UNet => "unet_L2_v0.2.2.sav",
            TopazArch::UNetV021 => "unet_L2_v0.2.1.sav",
        }
    }

    /// Parses a Topaz model name (`unet`, `unet-small`, `fcnn`, `affine`, `unet-v0.2.1`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Receptive-field radius in pixels: how far (per side) an output pixel can see. Tiles need
    /// at least this much padding to reproduce an untiled run. The pretrained weights'
    /// [`TopazConfig::receptive_radius`]: 195 px for `unet` v0.2.2, 190 for v0.2.1, 51 for
    /// `unet-small`, 15 for `fcnn` and `affine`.
    pub fn receptive_radius(self) -> usize {
        self.config().receptive_radius()
    }

    /// Spatial alignment the model needs for tiles to reproduce an untiled run exactly: tile
    /// origins and interior tile sizes are multiples of this (2^number of poolings; see
    /// [`TopazConfig::alignment`]).
    pub fn alignment(self) -> usize {
        self.config().alignment()
    }
}

/// The dimensions of a Topaz 2D model: enough to build it and to load a state dict into it.
/// Pretrained models map to fixed configs ([`TopazArch::config`]); a user's own Topaz training
/// output is recognised from its state dict ([`TopazConfig::infer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TopazConfig {
    /// `AffineDenoise`: one `size`×`size` filter.
    Affine {
        /// Filter width in pixels (31).
        size: usize,
    },
    /// `DenoiseNet2`: three `width`×`width` convolutions with `nf` filters.
    Fcnn {
        /// Filters (64).
        nf: usize,
        /// Kernel width (11).
        width: usize,
    },
    /// `UDenoiseNetSmall`.
    UNetSmall {
        /// Filters (48).
        nf: usize,
        /// First-layer width (11).
        width: usize,
        /// Output-block width (5).
        top_width: usize,
    },
    /// `UDenoiseNet`.
    UNet {
        /// Filters (48).
        nf: usize,
        /// First-layer width (11 in v0.2.2, 7 in v0.2.1).
        base_width: usize,
        /// Output-block width (5 in v0.2.2, 3 in v0.2.1).
        top_width: usize,
    },
}

impl TopazArch {
    /// The exact dimensions of Topaz's pretrained weights for this name.
    pub fn config(self) -> TopazConfig {
        match self {
            TopazArch::Affine => TopazConfig::Affine { size: 31 },
            TopazArch::Fcnn => TopazConfig::Fcnn { nf: 64, width: 11 },
            TopazArch::UNetSmall => TopazConfig::UNetSmall {
                nf: 48,
                width: 11,
                top_width: 5,
            },
            TopazArch::UNet => TopazConfig::UNet {
                nf: 48,
                base_width: 11,
                top_width: 5,
            },
            TopazArch::UNetV021 => TopazConfig::UNet {
                nf: 48,
                base_width: 7,
                top_width: 3,
            },
        }
    }
}

impl TopazConfig {
    /// Receptive-field radius in pixels: how far (per side) an output pixel can see. Tiles need
    /// at least this much padding to reproduce an untiled run.
    ///
    /// Summed along the deepest path: a k×k convolution at scale s adds s·(k−1)/2, a 2×2
    /// pooling from scale s adds s, a nearest up-sampling to scale s adds s. U-net: first layer
    /// (b−1)/2, pools 1+2+4+8+16, enc2..enc5 2+4+8+16, enc6 32, ups 16+8+4+2+1, dec5..dec2
    /// 32+16+8+4, dec1 3(t−1)/2: 195 px for v0.2.2 (b=11, t=5).
    pub fn receptive_radius(self) -> usize {
        match self {
            TopazConfig::Affine { size } => (size - 1) / 2,
            TopazConfig::Fcnn { width, .. } => 3 * (width - 1) / 2,
            TopazConfig::UNetSmall {
                width, top_width, ..
            } => {
                (width - 1) / 2
                    + (1 + 2 + 4)
                    + (2 + 4)
                    + 8
                    + (4 + 2 + 1)
                    + (8 + 4)
                    + 3 * (top_width - 1) / 2
            }
            TopazConfig::UNet {
                base_width,
                top_width,
                ..
            } => {
                (base_width - 1) / 2
                    + (1 + 2 + 4 + 8 + 16)
                    + (2 + 4 + 8 + 16)
                    + 32
                    + (16 + 8 + 4 + 2 + 1)
                    + (32 + 16 + 8 + 4)
                    + 3 * (top_width - 1) / 2
            }
        }
    }

    /// Spatial alignment for exact tiling: tile origins and interior tile sizes must be
    /// multiples of this (2^number of poolings), so pooling windows and nearest up-sampling
    /// fall on the same pixels as in an untiled run.
    pub fn alignment(self) -> usize {
        match self {
            TopazConfig::Affine { .. } | TopazConfig::Fcnn { .. } => 1,
            TopazConfig::UNetSmall { .. } => 8,
            TopazConfig::UNet { .. } => 32,
        }
    }

    /// Smallest side in pixels the network takes: one pixel must survive every 2× pooling,
    /// so 2^poolings (32 for `unet`, 8 for `unet-small`, 1 for `fcnn` and `affine`). Smaller
    /// images and tile windows are padded by reflection up to it and cropped back
    /// ([`super::fit::run_at_least`]).
    pub fn min_size(self) -> usize {
        self.alignment()
    }

    /// Most channels any intermediate tensor has (bounds a tile's size on wgpu).
    pub fn max_channels(self) -> usize {
        match self {
            TopazConfig::Affine { .. } => 1,
            TopazConfig::Fcnn { nf, .. } => nf,
            TopazConfig::UNetSmall { nf, .. } | TopazConfig::UNet { nf, .. } => {
                (3 * nf).max(2 * nf + 1)
            }
        }
    }

    /// A short human name, e.g. "unet (48 filters, widths 11/5)".
    pub fn describe(self) -> String {
        match self {
            TopazConfig::Affine { size } => format!("affine ({size}×{size})"),
            TopazConfig::Fcnn { nf, width } => format!("fcnn ({nf} filters, {width}×{width})"),
            TopazConfig::UNetSmall {
                nf,
                width,
                top_width,
            } => {
                format!("unet-small ({nf} filters, widths {width}/{top_width})")
            }
            TopazConfig::UNet {
                nf,
                base_width,
                top_width,
            } => {
                format!("unet ({nf} filters, widths {base_width}/{top_width})")
            }
        }
    }
}

/// A Topaz 2D model with its weights, ready to run.
#[derive(Module, Debug)]
pub enum TopazModel {
    /// See [`Affine`].
    Affine(Affine),
    /// See [`Fcnn`].
    Fcnn(Fcnn),
    /// See [`UNetSmall`].
    UNetSmall(UNetSmall),
    /// See [`UNet`].
    UNet(UNet),
}

impl TopazModel {
    /// A randomly initialised model of `config` (weights are loaded afterwards).
    pub fn init(config: TopazConfig, device: &Device) -> Self {
        match config {
            TopazConfig::Affine { size } => TopazModel::Affine(Affine::new(size, device)),
            TopazConfig::Fcnn { nf, width } => TopazModel::Fcnn(Fcnn::new(nf, width, device)),
            TopazConfig::UNetSmall {
                nf,
                width,
                top_width,
            } => TopazModel::UNetSmall(UNetSmall::new(nf, width, top_width, device)),
            TopazConfig::UNet {
                nf,
                base_width,
                top_width,
            } => TopazModel::UNet(UNet::new(nf, base_width, top_width, device)),
        }
    }

    /// The convolution blocks of a U-net; `None` for `affine` and `fcnn`.
    pub fn unet_blocks(&self) -> Option<UNetBlocks<'_>> {
        match self {
            TopazModel::Affine(_) | TopazModel::Fcnn(_) => None,
            TopazModel::UNetSmall(m) => Some(m.blocks()),
            TopazModel::UNet(m) => Some(m.blocks()),
        }
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`, normalised units in and out.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            TopazModel::Affine(m) => m.forward(x),
            TopazModel::Fcnn(m) => m.forward(x),
            TopazModel::UNetSmall(m) => m.forward(x),
            TopazModel::UNet(m) => m.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretrained_receptive_radii() {
        assert_eq!(TopazArch::UNet.config().receptive_radius(), 195);
        assert_eq!(TopazArch::UNetV021.config().receptive_radius(), 190);
        assert_eq!(TopazArch::UNetSmall.config().receptive_radius(), 51);
        assert_eq!(TopazArch::Fcnn.config().receptive_radius(), 15);
        assert_eq!(TopazArch::Affine.config().receptive_radius(), 15);
    }

    #[test]
    fn unet_parameter_count_matches_topaz() {
        // 1,105,809 parameters for Topaz's unet v0.2.2 (measured on its state dict).
        let m = TopazModel::init(TopazArch::UNet.config(), &Device::flex());
        assert_eq!(m.num_params(), 1_105_809);
    }

    #[test]
    fn impulse_response_stays_inside_receptive_radius() {
        // A random unet-small: an impulse at the centre changes outputs only within the radius.
        let device = Device::flex();
        let cfg = TopazArch::UNetSmall.config();
        let m = TopazModel::init(cfg, &device);
        let n = 160usize;
        let run = |v: f32| {
            let mut data = vec![0.0f32; n * n];
            data[(n / 2) * n + n / 2] = v;
            let x = Tensor::<4>::from_data(TensorData::new(data, [1, 1, n, n]), &device);
            m.forward(x).into_data().as_slice::<f32>().unwrap().to_vec()
        };
        let (a, b) = (run(0.0), run(100.0));
        let r = cfg.receptive_radius() as i64;
        let mut max_reach = 0i64;
        for y in 0..n {
            for x in 0..n {
                if (a[y * n + x] - b[y * n + x]).abs() > 1e-6 {
                    let d = (x as i64 - (n / 2) as i64)
                        .abs()
                        .max((y as i64 - (n / 2) as i64).abs());
                    max_reach = max_reach.max(d);
                }
            }
        }
        assert!(
            max_reach > 0 && max_reach <= r,
            "impulse reached {max_reach} px, radius {r}"
        );
    }
}
