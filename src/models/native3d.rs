//! The 3D U-net on our CPU kernels from input to output ([`Native3d`]): convolutions
//! ([`conv3d`], or a [`WinogradKernel`] where [`winograd_pays`]), pooling, and the decoder's
//! nearest up-sampling, concatenation and cropping in one pass each over channels-first
//! arrays, so no activation goes through burn's tensors between layers.
//!
//! Through burn, the up-sampling (three index selections), the concatenation and the
//! conversions around each block copied the 97-channel full-resolution decoder input several
//! times: 1.7 of the 5.7 s a 96³ cube took (`cryolens bench --what denoise3d`). The
//! operations and their order are those of burn's path in
//! [`super::topaz3d::UNet3d::forward_regions`], so the output is the same to float rounding;
//! that function calls this one for [`super::topaz3d::Kernels3d::NativeCpu`].

use std::ops::Range;

use rayon::prelude::*;

use burn::nn::conv::Conv3d;
use burn::prelude::*;

use super::topaz::LEAK;
use super::unet::UDenoiseNet;
use crate::kernels::{Cdhw, WinogradKernel, conv3d, pool3d, winograd_pays};

/// A box of voxels `[z, y, x]` ranges (half-open, voxel indices of the input).
pub type VoxelBox = [Range<usize>; 3];

/// PyTorch's `nearest` source index for output index `i` (`F.interpolate`, mode `nearest`):
/// identity for equal sizes, `i / 2` for exact doubling, else `floor(i · (in/out))` computed in
/// f32 as PyTorch does, clamped to `in − 1`.
pub(crate) fn nearest_src(i: usize, size_in: usize, size_out: usize) -> usize {
    if size_in == size_out {
        i
    } else if size_out == 2 * size_in {
        i / 2
    } else {
        let scale = size_in as f32 / size_out as f32;
        (((i as f32) * scale).floor() as usize).min(size_in - 1)
    }
}

/// The source range at the coarser level that nearest up-sampling reads for output `r`.
pub(crate) fn nearest_src_range(r: &Range<usize>, size_in: usize, size_out: usize) -> Range<usize> {
    nearest_src(r.start, size_in, size_out)..nearest_src(r.end - 1, size_in, size_out) + 1
}

/// One convolution's weights: `weight[cout][cin][k][k][k]`, `bias[cout]`, and the Winograd
/// transform of the kernel where [`winograd_pays`].
struct ConvWeights {
    weight: Vec<f32>,
    bias: Vec<f32>,
    k: usize,
    winograd: Option<WinogradKernel>,
}

impl ConvWeights {
    fn of(conv: &Conv3d) -> Self {
        let cout = conv.weight.dims()[0];
        let weight = conv
            .weight
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let bias = conv
            .bias
            .as_ref()
            .and_then(|b| {
                b.val()
                    .into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .ok()
            })
            .unwrap_or_else(|| vec![0.0; cout]);
        let [cout, cin, k, ..] = conv.weight.dims();
        let winograd = winograd_pays(k, cin, cout).then(|| WinogradKernel::new(&weight, cin, cout));
        Self {
            weight,
            bias,
            k,
            winograd,
        }
    }

    fn forward(&self, x: &Cdhw, leak: Option<f32>) -> Cdhw {
        match &self.winograd {
            Some(kernel) => kernel.apply(x, &self.bias, leak),
            None => conv3d(x, &self.weight, &self.bias, self.k, leak),
        }
    }
}

/// A [`super::topaz3d::UNet3d`]'s weights as plain arrays, for the native forward pass.
pub struct Native3d {
    /// `enc1` … `enc6`.
    encoder: Vec<Vec<ConvWeights>>,
    /// `dec5` … `dec1` (deepest first).
    decoder: Vec<Vec<ConvWeights>>,
}

/// Encoder outputs kept for the decoder: `skips[0]` the input, `skips[l]` the pooled features
/// at level `l` (1..=4), `bottom` the `enc6` output at level 5.
struct Encoded {
    skips: Vec<Cdhw>,
    bottom: Cdhw,
}

impl Native3d {
    /// Copies the weights out of `net` (a [`super::topaz3d::UNet3d`]) and transforms the
    /// Winograd layers' kernels.
    pub fn from_burn(net: &UDenoiseNet<Conv3d>) -> Self {
        let blocks = |b: &[&[Conv3d]]| -> Vec<Vec<ConvWeights>> {
            b.iter()
                .map(|convs| convs.iter().map(ConvWeights::of).collect())
                .collect()
        };
        Self {
            encoder: blocks(&net.encoder()),
            decoder: blocks(&net.decoder()),
        }
    }

    /// The network's output inside each of `regions` of the one-channel input `x`
    /// (`[1][d][h][w]`, each side ≥ 32), as [`super::topaz3d::UNet3d::forward_regions`]: the
    /// encoder runs once on the whole input, the decoder per region.
    pub fn forward_regions(&self, x: Cdhw, regions: &[VoxelBox]) -> Vec<Cdhw> {
        let mut skips = vec![x];
        let levels = self.encoder.len();
        for (l, block) in self.encoder.iter().enumerate().take(levels - 1) {
            let y = run_block(block, &skips[l], false);
            skips.push(pool3d(&y));
        }
        let deepest = skips
            .pop()
            .unwrap_or_else(|| unreachable!("the input is there"));
        let bottom = run_block(&self.encoder[levels - 1], &deepest, false);
        let enc = Encoded { skips, bottom };
        regions.iter().map(|r| self.decode(&enc, 0, r)).collect()
    }

    /// [`Native3d::forward_regions`] on burn tensors: `x` is `[1, 1, d, h, w]` on a CPU
    /// device, one `[1, 1, …]` output per region.
    pub fn forward_tensor(&self, x: Tensor<5>, regions: &[VoxelBox]) -> Vec<Tensor<5>> {
        let [_, _, d, h, w] = x.dims();
        let device = x.device();
        let data = x
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        let input = Cdhw {
            channels: 1,
            shape: [d, h, w],
            data,
        };
        self.forward_regions(input, regions)
            .into_iter()
            .map(|y| {
                let [d, h, w] = y.shape;
                Tensor::from_data(TensorData::new(y.data, [1, y.channels, d, h, w]), &device)
            })
            .collect()
    }

    /// Decoder output at `level` (0 = full resolution) restricted to `want`, in that level's
    /// voxel coordinates.
    fn decode(&self, enc: &Encoded, level: usize, want: &VoxelBox) -> Cdhw {
        let deepest = self.decoder.len() - 1;
        let convs = &self.decoder[deepest - level];
        // Each convolution of the block reads kernel/2 voxels per side.
        let radius: usize = convs.iter().map(|c| c.k / 2).sum();
        let skip = &enc.skips[level];
        let size = skip.shape;
        let coarse = if level == deepest {
            &enc.bottom
        } else {
            &enc.skips[level + 1]
        };
        let size_coarse = coarse.shape;
        let inbox: VoxelBox = std::array::from_fn(|a| {
            want[a].start.saturating_sub(radius)..(want[a].end + radius).min(size[a])
        });
        let src: VoxelBox =
            std::array::from_fn(|a| nearest_src_range(&inbox[a], size_coarse[a], size[a]));
        let h = if level == deepest {
            crop(&enc.bottom, &src)
        } else {
            self.decode(enc, level + 1, &src)
        };
        let idx: [Vec<usize>; 3] = std::array::from_fn(|a| {
            inbox[a]
                .clone()
                .map(|i| nearest_src(i, size_coarse[a], size[a]) - src[a].start)
                .collect()
        });
        let input = up_cat(&h, &idx, skip, &inbox);
        let out = run_block(convs, &input, level == 0);
        let local: VoxelBox =
            std::array::from_fn(|a| want[a].start - inbox[a].start..want[a].end - inbox[a].start);
        crop(&out, &local)
    }
}

/// `convs` (at least one) with a leaky ReLU after each, none after the last when
/// `linear_last`.
fn run_block(convs: &[ConvWeights], x: &Cdhw, linear_last: bool) -> Cdhw {
    let n = convs.len();
    let leak = |i: usize| (!(linear_last && i + 1 == n)).then_some(LEAK as f32);
    let mut y = convs[0].forward(x, leak(0));
    for (i, c) in convs.iter().enumerate().skip(1) {
        y = c.forward(&y, leak(i));
    }
    y
}

/// `[h up-sampled by the index maps idx (z, y, x), skip cropped to inbox]` along the
/// channels: the decoder block's input, written in one pass.
fn up_cat(h: &Cdhw, idx: &[Vec<usize>; 3], skip: &Cdhw, inbox: &VoxelBox) -> Cdhw {
    let shape = [idx[0].len(), idx[1].len(), idx[2].len()];
    let [d, hh, w] = shape;
    let plane = d * hh * w;
    let channels = h.channels + skip.channels;
    let mut data = vec![0.0f32; channels * plane];
    let [_, ch, cw] = h.shape;
    let [_, sh, sw] = skip.shape;
    let h_vol = h.shape.iter().product::<usize>();
    let s_vol = skip.shape.iter().product::<usize>();
    data.par_chunks_mut(plane).enumerate().for_each(|(c, out)| {
        for (z, rows) in out.chunks_exact_mut(hh * w).enumerate() {
            for (y, row) in rows.chunks_exact_mut(w).enumerate() {
                if c < h.channels {
                    let src = &h.data[c * h_vol + (idx[0][z] * ch + idx[1][y]) * cw..][..cw];
                    for (o, &i) in row.iter_mut().zip(&idx[2]) {
                        *o = src[i];
                    }
                } else {
                    let (sz, sy) = (inbox[0].start + z, inbox[1].start + y);
                    let at = (c - h.channels) * s_vol + (sz * sh + sy) * sw + inbox[2].start;
                    row.copy_from_slice(&skip.data[at..at + w]);
                }
            }
        }
    });
    Cdhw {
        channels,
        shape,
        data,
    }
}

/// `t` cropped to `b` (spatial axes).
fn crop(t: &Cdhw, b: &VoxelBox) -> Cdhw {
    if b.iter()
        .zip(t.shape)
        .all(|(r, n)| r.start == 0 && r.end == n)
    {
        return t.clone();
    }
    let shape = [b[0].len(), b[1].len(), b[2].len()];
    let [_, th, tw] = t.shape;
    let vol = t.shape.iter().product::<usize>();
    let plane = shape.iter().product::<usize>();
    let mut data = vec![0.0f32; t.channels * plane];
    data.par_chunks_mut(plane).enumerate().for_each(|(c, out)| {
        for (z, rows) in out.chunks_exact_mut(shape[1] * shape[2]).enumerate() {
            for (y, row) in rows.chunks_exact_mut(shape[2]).enumerate() {
                let at = c * vol + ((b[0].start + z) * th + b[1].start + y) * tw + b[2].start;
                row.copy_from_slice(&t.data[at..at + shape[2]]);
            }
        }
    });
    Cdhw {
        channels: t.channels,
        shape,
        data,
    }
}
