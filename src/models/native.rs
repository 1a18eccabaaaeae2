//! A CPU inference path for Topaz's 2D models: the same network, weights taken from the burn
//! module, run by the native kernels ([`crate::kernels`]) on channels-last (y, x, c) arrays.
//! This file is only the model glue: reading a burn `Conv2d` into packed
//! [`Conv2dWeights`] and wiring Topaz's architectures (affine, fcnn, U-nets) from the
//! kernels' convolutions, pooling and up-sampling. Why and how the kernels are fast: see
//! [`crate::kernels`].
//!
//! Numerics: f32 throughout, like PyTorch; parity with Topaz is tested exactly as for burn.

use burn::nn::conv::Conv2d;

use super::topaz::{LEAK, TopazModel, UNetBlocks};
use super::unet::unet_flow;
use crate::kernels::{
    Conv2dPlan, Conv2dWeights, ConvStrategy, Hwc, chain, pool, up_cat, up_cat_rows,
};

/// The weights of a burn `Conv2d` (`[cout, cin, k, k]`, square kernel), packed for the
/// native kernels; a missing bias reads as zeros.
///
/// # Panics
/// A non-square kernel, or weights that are not f32.
pub(crate) fn conv_weights(conv: &Conv2d) -> Conv2dWeights {
    let w = conv.weight.val();
    let [cout, cin, kh, kw] = w.dims();
    assert_eq!(kh, kw, "square kernels only");
    let data = w.into_data();
    let raw: Vec<f32> = data
        .as_slice::<f32>()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    let bias = conv.bias.as_ref().map(|b| {
        b.val()
            .into_data()
            .as_slice::<f32>()
            .map(|s| s.to_vec())
            .unwrap_or_default()
    });
    Conv2dWeights::from_oihw(&raw, bias, cout, cin, kh)
}

fn convs(list: &[Conv2d], strategy: ConvStrategy) -> Vec<Conv2dPlan> {
    list.iter()
        .map(|c| Conv2dPlan::new(conv_weights(c), strategy))
        .collect()
}

/// The slope of Topaz's leaky ReLUs in the kernels' f32.
const SLOPE: f32 = LEAK as f32;

/// Applies `convs` with Topaz's leaky ReLU after each except the last when `linear_last`.
fn run(convs: &[Conv2dPlan], x: Hwc, linear_last: bool) -> Hwc {
    chain(convs, x, SLOPE, linear_last)
}

/// Output rows per strip of [`by_strips`]: even (so 2×2 pooling of a strip is the strip of the
/// pooling), and with the output block's 6-row halo on both sides 240 rows, four whole FFT
/// tiles of its 5×5 convolutions (60 rows each, [`crate::kernels::FFT_SIDE`] − 4).
const STRIP_ROWS: usize = 228;

/// Blocks whose largest activation (the decoder's concatenated input, the first encoder
/// block's output) has more values than this run in strips: for a 1024² tile with its
/// margins (1472²), the two full-resolution blocks and the half-resolution decoder block.
const STRIP_MIN_VALUES: usize = 32 << 20;

/// Runs the chain `convs` (leaky ReLU after each, except the last when `linear_last`; 2×2
/// pooling after when `pooled`) on an image of `height` rows, `STRIP_ROWS` output rows at a
/// time, reading input rows `[a, b)` through `rows(a, b)`. Each strip is computed from its
/// rows plus a halo of the chain's reach (Σ k/2 rows) on each side that is not the image's
/// edge, and only its own rows are kept: those never see the zeros a convolution pads the
/// strip with, so the result equals the whole-image chain's while only one strip's
/// activations exist at a time (the output block's 97 full-resolution channels are 840 MB
/// for a 1024² tile with its margins).
fn by_strips(
    convs: &[Conv2dPlan],
    height: usize,
    rows: impl Fn(usize, usize) -> Hwc,
    linear_last: bool,
    pooled: bool,
) -> Hwc {
    let halo: usize = convs.iter().map(|c| c.weights.k / 2).sum();
    let mut out: Option<Hwc> = None;
    for y0 in (0..height).step_by(STRIP_ROWS) {
        let y1 = (y0 + STRIP_ROWS).min(height);
        let (a, b) = (y0.saturating_sub(halo), (y1 + halo).min(height));
        let z = run(convs, rows(a, b), linear_last).rows(y0 - a, y1 - a);
        let z = if pooled { pool(&z) } else { z };
        match &mut out {
            None => out = Some(z),
            Some(o) => {
                o.height += z.height;
                o.data.extend_from_slice(&z.data);
            }
        }
    }
    out.unwrap_or_else(|| {
        let z = run(convs, rows(0, height), linear_last);
        if pooled { pool(&z) } else { z }
    })
}

/// Topaz's 2D models with host-side weights, run by the native kernels.
pub struct NativeModel(Net);

enum Net {
    /// One linear filter.
    Affine(Conv2dWeights),
    /// Three convolutions.
    Fcnn(Vec<Conv2dPlan>),
    /// A U-net's blocks in [`unet_flow`]'s order: `enc1`… (the bottom last), then the
    /// deepest decoder block first, `dec1` last.
    Unet {
        encoder: Vec<Vec<Conv2dPlan>>,
        decoder: Vec<Vec<Conv2dPlan>>,
    },
}

impl Net {
    fn unet(blocks: &UNetBlocks, strategy: ConvStrategy) -> Self {
        let all = |list: &[&[Conv2d]]| list.iter().map(|l| convs(l, strategy)).collect();
        Net::Unet {
            encoder: all(&blocks.encoder),
            decoder: all(&blocks.decoder),
        }
    }
}

impl NativeModel {
    /// Copies the weights out of a loaded burn model; wide kernels go through the FFT where
    /// it pays ([`ConvStrategy::Auto`]).
    pub fn from_burn(model: &TopazModel) -> Self {
        Self::with_strategy(model, ConvStrategy::Auto)
    }

    /// [`NativeModel::from_burn`] with the convolution algorithm chosen by `strategy`
    /// (`Direct`: the im2col + `gemm` baseline of `cryolens bench`).
    pub fn with_strategy(model: &TopazModel, strategy: ConvStrategy) -> Self {
        NativeModel(match model {
            TopazModel::Affine(m) => Net::Affine(conv_weights(&m.filter)),
            TopazModel::Fcnn(m) => Net::Fcnn(convs(&m.net, strategy)),
            TopazModel::UNetSmall(m) => Net::unet(&m.blocks(), strategy),
            TopazModel::UNet(m) => Net::unet(&m.blocks(), strategy),
        })
    }

    /// The network's work on a `height × width` image as direct convolution, in GFLOP
    /// (`2·k²·cin·cout` per output pixel of each convolution, at the pixel count of its
    /// U-net level; pooling, up-sampling and bias are not counted): the common yardstick of
    /// `cryolens bench`'s achieved GFLOP/s, whichever algorithm runs (the FFT path does less
    /// arithmetic for the same result).
    pub fn gflop(&self, height: usize, width: usize) -> f64 {
        let conv = |c: &Conv2dWeights, level: usize| {
            let px = (height >> level) * (width >> level);
            2.0 * (c.k * c.k * c.cin * c.cout * px) as f64
        };
        let flops = match &self.0 {
            Net::Affine(c) => conv(c, 0),
            Net::Fcnn(c) => c.iter().map(|c| conv(&c.weights, 0)).sum(),
            Net::Unet { encoder, decoder } => {
                let enc: f64 = encoder
                    .iter()
                    .enumerate()
                    .flat_map(|(l, b)| b.iter().map(move |c| conv(&c.weights, l)))
                    .sum();
                let deepest = decoder.len();
                let dec: f64 = decoder
                    .iter()
                    .enumerate()
                    .flat_map(|(i, b)| b.iter().map(move |c| conv(&c.weights, deepest - 1 - i)))
                    .sum();
                enc + dec
            }
        };
        flops / 1e9
    }

    /// How many of the network's convolutions run through the FFT.
    pub fn fft_layers(&self) -> usize {
        match &self.0 {
            Net::Affine(_) => 0,
            Net::Fcnn(c) => c.iter().filter(|c| c.uses_fft()).count(),
            Net::Unet { encoder, decoder } => encoder
                .iter()
                .chain(decoder)
                .flatten()
                .filter(|c| c.uses_fft())
                .count(),
        }
    }

    /// Smallest side the network takes (2^poolings, as [`super::TopazConfig::min_size`]).
    fn min_size(&self) -> usize {
        match &self.0 {
            Net::Affine(_) | Net::Fcnn(_) => 1,
            Net::Unet { encoder, .. } => 1 << (encoder.len() - 1),
        }
    }

    /// Runs the network on one `height × width` single-channel image (normalised units,
    /// row-major), returning the output in the same layout. Any size works: an image smaller
    /// than the U-net's poolings take is padded by reflection and cropped back
    /// ([`super::fit::run_at_least`]).
    pub fn forward(&self, image: &[f32], height: usize, width: usize) -> Vec<f32> {
        let Ok(y) = super::fit::run_at_least::<std::convert::Infallible>(
            image.to_vec(),
            height,
            width,
            self.min_size(),
            |x, h, w| Ok(self.forward_fitted(x, h, w)),
        );
        y
    }

    /// [`NativeModel::forward`] on an image of at least [`NativeModel::min_size`] per side.
    fn forward_fitted(&self, image: Vec<f32>, height: usize, width: usize) -> Vec<f32> {
        let x = Hwc::image(image, height, width);
        let y = match &self.0 {
            Net::Affine(c) => c.forward(&x, None),
            Net::Fcnn(c) => run(c, x, true),
            // The decoder blocks and the first encoder block (whose input is the one-channel
            // image) run in strips: theirs are the largest activations.
            Net::Unet { encoder, decoder } => unet_flow(
                encoder,
                decoder,
                x,
                |convs, h, pooled| {
                    let cout = convs.last().map_or(0, |c| c.weights.cout);
                    if pooled && h.height * h.width * cout > STRIP_MIN_VALUES {
                        return by_strips(convs, h.height, |a, b| h.rows(a, b), false, true);
                    }
                    let h = run(convs, h, false);
                    if pooled { pool(&h) } else { h }
                },
                |convs, h, skip, last| {
                    let cat = h.channels + skip.channels;
                    if skip.height * skip.width * cat > STRIP_MIN_VALUES {
                        let rows = |a, b| up_cat_rows(&h, &skip, a, b);
                        return by_strips(convs, skip.height, rows, last, false);
                    }
                    run(convs, up_cat(&h, &skip), last)
                },
            ),
        };
        y.data
    }
}
