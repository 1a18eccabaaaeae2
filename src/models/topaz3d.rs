//! Topaz-Denoise's 3D U-net (`UDenoiseNet3D`) for tomograms, layer for layer, so Topaz's
//! pretrained `unet-3d-10a` and `unet-3d-20a` weights load unchanged.
//!
//! Source: Bepler et al. 2020, "Topaz-Denoise: general deep denoising models for cryoEM and
//! cryoET" (Nat. Commun. 11:5208), Methods "Model architectures" and "3D denoising models"; the
//! layer shapes are those of `unet-3d-10a-v0.2.4.sav` / `unet-3d-20a-v0.2.4.sav` in
//! `topaz-em==0.3.20`: the 2D U-net with every 2D operation made 3D, 48 filters, a first
//! convolution 7 voxels wide and 3-voxel output convolutions. Field names equal the PyTorch
//! state-dict prefixes; each `nn.Sequential` is a `Vec<Conv3d>` (loaded with
//! `map_indices_contiguous`, as the 2D models are).
//!
//! Tensors are `[batch, 1, z, y, x]` in normalised units. Every convolution pads by half its
//! width, pooling is 2×2×2 max pooling in floor mode and up-sampling is PyTorch's `nearest`
//! to the skip connection's size, so any input size works (odd sizes included) as long as
//! each axis is at least 32 voxels (five poolings).
//!
//! burn 0.22.1 has `conv3d` but no public 3D max pooling or 3D nearest interpolation: pooling
//! is a 2D max pool over (y, x) followed by a pairwise maximum over z (a reshape), and
//! up-sampling gathers rows with `select` along each axis using PyTorch's nearest index rule.
//!
//! [`UNet3d::forward_region`] computes the output only inside a box: the encoder runs on the
//! whole input, each decoder level only on the box it must feed (plus its convolutions'
//! radius), so the result inside the box equals the full forward pass while the expensive
//! full-resolution decoder runs on the box only. Tiled inference (`crate::denoise::volume`)
//! uses it to compute just the core of each padded patch.

use std::path::Path;

use burn::nn::PaddingConfig3d;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::prelude::*;
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use super::ModelError;
use super::native3d::{Native3d, nearest_src, nearest_src_range};
use super::topaz::LEAK;
use super::unet::{UDenoiseNet, unet_blocks};

pub use super::native3d::VoxelBox;

/// Topaz's pretrained 3D denoisers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topaz3dArch {
    /// `unet-3d-10a`: trained on tomograms at ≈ 10 Å/voxel (Topaz's default 3D model).
    UNet3d10A,
    /// `unet-3d-20a`: trained on tomograms at ≈ 20 Å/voxel.
    UNet3d20A,
}

impl Topaz3dArch {
    /// Both pretrained 3D models.
    pub const ALL: [Topaz3dArch; 2] = [Topaz3dArch::UNet3d10A, Topaz3dArch::UNet3d20A];

    /// Topaz's name (`--model` value).
    pub fn name(self) -> &'static str {
        match self {
            Topaz3dArch::UNet3d10A => "unet-3d-10a",
            Topaz3dArch::UNet3d20A => "unet-3d-20a",
        }
    }

    /// The weights file in the topaz-em wheel (`topaz/pretrained/denoise/`).
    pub fn weights_file(self) -> &'static str {
        match self {
            Topaz3dArch::UNet3d10A => "unet-3d-10a-v0.2.4.sav",
            Topaz3dArch::UNet3d20A => "unet-3d-20a-v0.2.4.sav",
        }
    }

    /// Parses `unet-3d-10a`, `unet-3d-20a`, or Topaz's alias `unet-3d` (= 10 Å).
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "unet-3d" {
            return Some(Topaz3dArch::UNet3d10A);
        }
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// The dimensions of a [`UNet3d`]: Topaz's `UDenoiseNet3D` layout with its widths as
/// parameters. Topaz's pretrained models are [`UNet3dConfig::PRETRAINED`]; smaller ones are for
/// training from scratch on small data or quick tests (`cryolens train-3d --arch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UNet3dConfig {
    /// Filters of the encoder (the decoder has 2·`nf`); Topaz: 48.
    pub nf: usize,
    /// Edge of the first convolution (voxels); Topaz: 7.
    pub base_width: usize,
    /// Edge of the three output convolutions (voxels); Topaz: 3.
    pub top_width: usize,
    /// Channels of the first two output convolutions; Topaz: 64, 32.
    pub top_channels: [usize; 2],
}

impl UNet3dConfig {
    /// Topaz's `unet-3d-10a` / `unet-3d-20a`: 48 filters, widths 7/3, output 64/32 channels.
    pub const PRETRAINED: UNet3dConfig = UNet3dConfig {
        nf: 48,
        base_width: 7,
        top_width: 3,
        top_channels: [64, 32],
    };

    /// A small 3D U-net (12 filters, widths 5/3, output 24/12 channels; 193,285 parameters),
    /// `unet-3d-small`.
    pub const SMALL: UNet3dConfig = UNet3dConfig {
        nf: 12,
        base_width: 5,
        top_width: 3,
        top_channels: [24, 12],
    };

    /// A tiny 3D U-net (6 filters, widths 3/3, output 12/6 channels; 48,427 parameters),
    /// `unet-3d-tiny`: for tests and quick experiments.
    pub const TINY: UNet3dConfig = UNet3dConfig {
        nf: 6,
        base_width: 3,
        top_width: 3,
        top_channels: [12, 6],
    };

    /// Architecture names for `--arch`: `unet-3d`, `unet-3d-10a`, `unet-3d-20a` (all Topaz's
    /// layout), `unet-3d-small`, `unet-3d-tiny`.
    pub fn from_name(name: &str) -> Option<Self> {
        if Topaz3dArch::from_name(name).is_some() {
            return Some(Self::PRETRAINED);
        }
        match name {
            "unet-3d-small" => Some(Self::SMALL),
            "unet-3d-tiny" => Some(Self::TINY),
            _ => None,
        }
    }

    /// The network's work on a `[d, h, w]` window as direct convolution, in GFLOP
    /// (`2·k³·cin·cout` per output voxel of each convolution, at the voxel count of its
    /// U-net level; pooling, up-sampling and bias not counted), the yardstick `cryolens
    /// bench --what denoise3d` divides by for both Cryolens and Topaz.
    pub fn gflop(&self, shape: [usize; 3]) -> f64 {
        // Decoder block i (dec5 … dec1) runs at level 4 − i.
        let (enc, dec): ([Vec<ConvShape>; 6], [_; 5]) = unet_blocks(
            self.nf,
            self.base_width,
            self.top_width,
            self.top_channels,
            |cin, cout, k| (cin, cout, k),
        );
        let voxels = |level: usize| shape.iter().map(|&n| n >> level).product::<usize>();
        let conv = |&(cin, cout, k): &ConvShape, level: usize| {
            2.0 * (k * k * k * cin * cout * voxels(level)) as f64
        };
        let e: f64 = enc
            .iter()
            .enumerate()
            .flat_map(|(l, b)| b.iter().map(move |c| conv(c, l)))
            .sum();
        let d: f64 = dec
            .iter()
            .enumerate()
            .flat_map(|(i, b)| b.iter().map(move |c| conv(c, 4 - i)))
            .sum();
        (e + d) / 1e9
    }

    /// e.g. "3D U-net (48 filters, widths 7/3, output 64/32)".
    pub fn describe(&self) -> String {
        format!(
            "3D U-net ({} filters, widths {}/{}, output {}/{})",
            self.nf, self.base_width, self.top_width, self.top_channels[0], self.top_channels[1]
        )
    }
}

/// A convolution's (input channels, output channels, kernel edge).
type ConvShape = (usize, usize, usize);

/// Number of 2× poolings: inputs need at least `2^POOLS` = 32 voxels per axis.
pub const POOLS: usize = 5;

/// Receptive-field radius of the 3D U-net in voxels (base width 7, top width 3), summed along
/// the deepest path as for the 2D models (`TopazArch::receptive_radius`): enc1 3, pools
/// 1+2+4+8+16, enc2..enc5 2+4+8+16, enc6 32, ups 16+8+4+2+1, dec5..dec2 32+16+8+4, dec1 3 = 190.
pub const RECEPTIVE_RADIUS: usize = 190;

pub(crate) fn conv(cin: usize, cout: usize, k: usize, device: &Device) -> Conv3d {
    Conv3dConfig::new([cin, cout], [k, k, k])
        .with_padding(PaddingConfig3d::Explicit(k / 2, k / 2, k / 2))
        .init(device)
}

/// Applies `convs` with a leaky ReLU after each, except after the last when `linear_last`.
fn conv_act(convs: &[Conv3d], mut x: Tensor<5>, linear_last: bool) -> Tensor<5> {
    let n = convs.len();
    for (i, c) in convs.iter().enumerate() {
        x = c.forward(x);
        if !(linear_last && i + 1 == n) {
            x = leaky_relu(x, LEAK);
        }
    }
    x
}

/// 2×2×2 max pooling, stride 2, floor mode (PyTorch `nn.MaxPool3d(2)`), as a 2D pool over
/// (y, x) and a maximum over pairs of z sections.
pub(crate) fn pool3(x: Tensor<5>) -> Tensor<5> {
    let [b, c, d, h, w] = x.dims();
    let d2 = d / 2;
    let x = if d % 2 == 1 {
        x.slice([0..b, 0..c, 0..2 * d2, 0..h, 0..w])
    } else {
        x
    };
    let x = max_pool2d(
        x.reshape([b, c * 2 * d2, h, w]),
        MaxPoolOptions::new([2, 2]),
    );
    let [_, _, h2, w2] = x.dims();
    x.reshape([b, c, d2, 2, h2 * w2])
        .max_dim(3)
        .reshape([b, c, d2, h2, w2])
}

/// Crops `t` to `b` (spatial axes), or returns it whole when `b` covers it.
fn crop(t: Tensor<5>, b: &VoxelBox) -> Tensor<5> {
    let [n, c, d, h, w] = t.dims();
    if b[0] == (0..d) && b[1] == (0..h) && b[2] == (0..w) {
        return t;
    }
    t.slice([0..n, 0..c, b[0].clone(), b[1].clone(), b[2].clone()])
}

/// Who runs the convolutions and poolings of [`UNet3d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kernels3d {
    /// burn's own operations on the tensors' device (Flex on the CPU, wgpu on a GPU).
    #[default]
    Burn,
    /// Our CPU kernels end to end ([`Native3d`]: [`crate::kernels::conv3d`] and Winograd
    /// for the convolutions, native pooling, up-sampling and concatenation), for a one-volume
    /// batch on a CPU device; other batches run on burn. burn Flex's 3D convolution takes its
    /// slow direct path for the one-channel 7³ first layer (33 s against ≈ 3 s here for a
    /// 192³ window, measured).
    NativeCpu,
}

/// Runs `convs` with a leaky ReLU after each (none after the last when `linear_last`), then
/// 2×2×2 max pooling when `pool`.
fn block(convs: &[Conv3d], x: Tensor<5>, linear_last: bool, pool: bool) -> Tensor<5> {
    let y = conv_act(convs, x, linear_last);
    if pool { pool3(y) } else { y }
}

/// Topaz `UDenoiseNet3D(nf=48, base_width=7, top_width=3)`: the 2D U-net's layout with every
/// convolution 3D.
pub type UNet3d = UDenoiseNet<Conv3d>;

/// Encoder outputs kept for the decoder: `skips[0]` is the input, `skips[l]` the pooled
/// features at level `l` (1..=4), `bottom` the `enc6` output at level 5.
struct Encoded {
    skips: Vec<Tensor<5>>,
    bottom: Tensor<5>,
}

fn spatial(t: &Tensor<5>) -> [usize; 3] {
    let [_, _, d, h, w] = t.dims();
    [d, h, w]
}

impl UNet3d {
    /// Randomly initialised 3D U-net with Topaz's output channels (64, 32); Topaz's pretrained
    /// weights need `(48, 7, 3)`.
    pub fn new(nf: usize, base_width: usize, top_width: usize, device: &Device) -> Self {
        Self::with_config(
            &UNet3dConfig {
                nf,
                base_width,
                top_width,
                top_channels: [64, 32],
            },
            device,
        )
    }

    /// Randomly initialised (burn's default initialisation) 3D U-net of dimensions `config`.
    pub fn with_config(config: &UNet3dConfig, device: &Device) -> Self {
        Self::build(
            config.nf,
            config.base_width,
            config.top_width,
            config.top_channels,
            |cin, cout, k| conv(cin, cout, k, device),
        )
    }

    /// The architecture of Topaz's pretrained 3D models.
    pub fn pretrained(device: &Device) -> Self {
        Self::new(48, 7, 3, device)
    }

    /// `[batch, 1, z, y, x]` → `[batch, 1, z, y, x]` (each axis ≥ 32).
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [d, h, w] = spatial(&x);
        self.forward_region(x, &[0..d, 0..h, 0..w])
    }

    /// The output of [`UNet3d::forward`] inside `region` only: `[batch, 1, z, y, x]` input
    /// (each axis ≥ 32) → `[batch, 1, |region z|, |region y|, |region x|]`, equal to cropping
    /// the full output (same operations on the same values). The encoder runs on the whole
    /// input; decoder level `l` runs on the region it feeds, widened by its convolutions'
    /// radius. The caller guarantees `region` is non-empty and inside the input.
    pub fn forward_region(&self, x: Tensor<5>, region: &VoxelBox) -> Tensor<5> {
        let enc = self.encode(x);
        self.decode(&enc, 0, region)
    }

    /// [`UNet3d::forward_region`] for several regions of the same input, running the encoder
    /// once: one output tensor per region, in order. Splitting a large region into smaller
    /// ones bounds the memory of the full-resolution decoder. `kernels` picks who runs the
    /// convolutions and poolings (same results within float rounding).
    pub fn forward_regions(
        &self,
        x: Tensor<5>,
        regions: &[VoxelBox],
        kernels: Kernels3d,
    ) -> Vec<Tensor<5>> {
        let [b, c, ..] = x.dims();
        if kernels == Kernels3d::NativeCpu && b == 1 && c == 1 {
            return Native3d::from_burn(self).forward_tensor(x, regions);
        }
        let enc = self.encode(x);
        regions.iter().map(|r| self.decode(&enc, 0, r)).collect()
    }

    fn encode(&self, x: Tensor<5>) -> Encoded {
        let p1 = block(&self.enc1, x.clone(), false, true);
        let p2 = block(&self.enc2, p1.clone(), false, true);
        let p3 = block(&self.enc3, p2.clone(), false, true);
        let p4 = block(&self.enc4, p3.clone(), false, true);
        let p5 = block(&self.enc5, p4.clone(), false, true);
        let bottom = block(&self.enc6, p5, false, false);
        Encoded {
            skips: vec![x, p1, p2, p3, p4],
            bottom,
        }
    }

    /// Decoder output at level `level` (0 = full resolution) restricted to `want` (in that
    /// level's voxel coordinates).
    fn decode(&self, enc: &Encoded, level: usize, want: &VoxelBox) -> Tensor<5> {
        let (convs, linear_last) = match level {
            0 => (&self.dec1, true),
            1 => (&self.dec2, false),
            2 => (&self.dec3, false),
            3 => (&self.dec4, false),
            _ => (&self.dec5, false),
        };
        // Each convolution of the block reads kernel/2 voxels per side.
        let radius: usize = convs.iter().map(|c| c.kernel_size[0] / 2).sum();
        let skip = &enc.skips[level];
        let size = spatial(skip);
        let coarse = if level == 4 {
            &enc.bottom
        } else {
            &enc.skips[level + 1]
        };
        let size_coarse = spatial(coarse);
        let inbox: VoxelBox = std::array::from_fn(|a| {
            want[a].start.saturating_sub(radius)..(want[a].end + radius).min(size[a])
        });
        let src: VoxelBox =
            std::array::from_fn(|a| nearest_src_range(&inbox[a], size_coarse[a], size[a]));
        let h = if level == 4 {
            crop(enc.bottom.clone(), &src)
        } else {
            self.decode(enc, level + 1, &src)
        };
        let device = h.device();
        let mut up = h;
        for a in 0..3 {
            let idx: Vec<i64> = inbox[a]
                .clone()
                .map(|i| (nearest_src(i, size_coarse[a], size[a]) - src[a].start) as i64)
                .collect();
            let identity =
                idx.len() == src[a].len() && idx.iter().enumerate().all(|(i, &v)| v == i as i64);
            if !identity {
                let n = idx.len();
                let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &device);
                up = up.select(2 + a, idx);
            }
        }
        let input = Tensor::cat(vec![up, crop(skip.clone(), &inbox)], 1);
        let out = block(convs, input, linear_last, false);
        let local: VoxelBox =
            std::array::from_fn(|a| want[a].start - inbox[a].start..want[a].end - inbox[a].start);
        crop(out, &local)
    }

    /// Number of trainable scalars (2,916,337 for Topaz's pretrained 3D models).
    pub fn num_parameters(&self) -> usize {
        self.num_params()
    }
}

/// Loads one of Topaz's 3D U-net state dicts (`unet-3d-*.sav`, legacy `torch.save` pickle) or
/// a user's own `UDenoiseNet3D(base_width=7)` training output in state-dict form.
///
/// # Errors
/// [`ModelError::BadWeights`] if the file is unreadable or any tensor is missing, unexpected or
/// of the wrong shape.
pub fn load_topaz3d(path: &Path, device: &Device) -> Result<UNet3d, ModelError> {
    let mut model = UNet3d::pretrained(device);
    super::load_state_dict(
        &mut model,
        path,
        "Topaz's 3D U-net (48 filters, widths 7/3)",
    )?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_count_matches_topaz_state_dict() {
        // Sum of the tensor sizes in unet-3d-10a-v0.2.4.sav.
        let m = UNet3d::pretrained(&Device::flex());
        assert_eq!(m.num_parameters(), 2_916_337);
    }

    #[test]
    fn configs_have_the_documented_sizes() {
        let d = Device::flex();
        let n = |c: &UNet3dConfig| UNet3d::with_config(c, &d).num_parameters();
        assert_eq!(n(&UNet3dConfig::PRETRAINED), 2_916_337);
        assert_eq!(n(&UNet3dConfig::SMALL), 193_285);
        assert_eq!(n(&UNet3dConfig::TINY), 48_427);
        assert_eq!(
            UNet3dConfig::from_name("unet-3d-20a"),
            Some(UNet3dConfig::PRETRAINED)
        );
        assert_eq!(
            UNet3dConfig::from_name("unet-3d-tiny"),
            Some(UNet3dConfig::TINY)
        );
        assert_eq!(UNet3dConfig::from_name("unet"), None);
    }

    #[test]
    fn nearest_index_rule_matches_pytorch() {
        // PyTorch F.interpolate(size=7) from 3: floor(i * 3/7) = 0,0,0,1,1,2,2.
        let got: Vec<usize> = (0..7).map(|i| nearest_src(i, 3, 7)).collect();
        assert_eq!(got, vec![0, 0, 0, 1, 1, 2, 2]);
        assert_eq!(nearest_src(5, 3, 6), 2);
        assert_eq!(nearest_src_range(&(3..6), 3, 7), 1..3);
    }

    #[test]
    fn pool3_takes_the_max_of_each_cube_floor_mode() {
        let device = Device::flex();
        // 3×2×2 volume: z = 2 is dropped (floor mode); max of the first 2×2×2 cube is 7.
        let v: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let x = Tensor::<5>::from_data(TensorData::new(v, [1, 1, 3, 2, 2]), &device);
        let y = pool3(x);
        assert_eq!(y.dims(), [1, 1, 1, 1, 1]);
        let got = y.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got, vec![7.0]);
    }

    #[test]
    fn region_forward_equals_cropped_full_forward() {
        let device = Device::flex();
        let model = UNet3d::new(4, 7, 3, &device);
        let [d, h, w] = [34usize, 33, 40];
        let v: Vec<f32> = (0..d * h * w)
            .map(|i| ((i as f32 * 0.37).sin() + (i as f32 * 0.011).cos()) * 0.8)
            .collect();
        let v2 = v.clone();
        let x = Tensor::<5>::from_data(TensorData::new(v, [1, 1, d, h, w]), &device);
        let full = model.forward(x.clone());
        let region: VoxelBox = [5..17, 20..33, 0..9];
        let part = model.forward_region(x, &region);
        let expected = crop(full, &region).into_data().try_to_vec::<f32>().unwrap();
        let got = part.into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(got.len(), expected.len());
        let max = max_abs_diff(&got, &expected);
        assert!(max < 1e-5, "region forward differs by {max}");
        // The native CPU kernels give the same values.
        let native = model
            .forward_regions(
                x_again(&v2, [d, h, w], &device),
                std::slice::from_ref(&region),
                Kernels3d::NativeCpu,
            )
            .remove(0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let max = max_abs_diff(&native, &expected);
        assert!(max < 1e-4, "native kernels differ by {max}");
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    }

    fn x_again(v: &[f32], [d, h, w]: [usize; 3], device: &Device) -> Tensor<5> {
        Tensor::<5>::from_data(TensorData::new(v.to_vec(), [1, 1, d, h, w]), device)
    }
}
