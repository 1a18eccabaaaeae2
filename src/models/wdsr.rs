//! restore's wide-activation U-net ("WDSR U-net"; Palovcak et al. 2020, supplement S2.2 and
//! Fig. S1), as a burn module that trains through the same machinery as Topaz's models.
//!
//! Structure (all convolutions weight-normalised, "same" padding):
//! - **Wide-activation layer** ([`WideActivation`]): 1×1 convolution c → e·c ("expand",
//!   32 → 128), ReLU, 1×1 convolution e·c → ⌊0.8·c⌋ ("reduce", 128 → 25), k×k convolution
//!   → c, and the input added back (residual).
//! - **Head**: a 3×3 convolution 1 → 32 at full resolution.
//! - **Down-sampling block** ([`DownBlock`]), one per level: two branches summed, a 2×2
//!   max-pool of the input, and four wide-activation layers followed by a stride-2 3×3
//!   convolution and a ReLU.
//! - **Up-sampling block** ([`UpBlock`]), one per level, deepest first: two branches summed,
//!   (a) an up-sampling unit ([`Upsample`]: 1×1 convolution c → 4c, ReLU, a wide-activation
//!   layer on the 4c maps, depth-to-space by 2) of the input, and (b) the input concatenated
//!   with the encoder's output of the same level (the skip connection), reduced 2c → c by a 1×1
//!   convolution and a ReLU, three wide-activation layers and an up-sampling unit.
//! - **Output**: 1×1 convolution c → c, ReLU, 1×1 convolution c → 1.
//!
//! With the paper's sizes (32 filters, expansion 4, 3 levels, 4 wide-activation layers per
//! block) this has 96 convolutions, as S2.2 states. The paper gives 2.3 M trainable parameters:
//! with 3×3 kernels everywhere the count is 1,785,074, with 4×4 kernels in the decoder's
//! wide-activation layers (as in the released restore code, to avoid checkerboard artefacts)
//! it is 2,383,826, so [`WdsrConfig::paper`] uses 4×4 decoder kernels (even kernels are padded
//! 1 before and 2 after, Keras' "same"). These counts exclude the weight-norm gains g (one per
//! output channel, 9,362 more), which Keras' weight normalisation keeps in the optimiser.
//!
//! **Weight normalisation** (Salimans & Kingma 2016) is a parametrisation in the forward
//! pass: each convolution stores a direction v and a gain g per output channel and uses
//! w = g · v / ‖v‖ (norm over input channels and kernel), so gradients flow to g and v.
//! At initialisation g = ‖v‖, i.e. w = v (Kaiming-uniform).
//!
//! **Depth-to-space** follows TensorFlow's `depth_to_space` (the paper used Keras): output
//! pixel (2y + i, 2x + j) of channel c takes input channel (2i + j)·C + c at (y, x).
//!
//! Tensors are `[batch, 1, height, width]` (rows = y), normalised units. Height and width must
//! be multiples of [`WdsrConfig::alignment`] (8 for 3 levels) for [`WdsrUNet::forward`];
//! [`WdsrUNet::forward_padded`] takes any size.

use burn::module::Param;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

/// Sizes of a WDSR U-net (serialised in a trained model's JSON).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WdsrConfig {
    /// Feature maps between blocks (32).
    pub filters: usize,
    /// Expansion factor of the wide activation (4: 32 → 128).
    pub expansion: usize,
    /// Fraction of the input width kept by the 1×1 reduction (0.8: 32 → 25, 128 → 102).
    pub reduction: f64,
    /// Down-/up-sampling levels (3; total down-sampling 2³ = 8).
    pub levels: usize,
    /// Wide-activation layers per block (4).
    pub blocks_per_level: usize,
    /// Kernel of the head and of the encoder's convolutions (3).
    pub kernel_size: usize,
    /// Kernel of the decoder's wide-activation convolutions (4 in [`WdsrConfig::paper`]).
    pub decoder_kernel_size: usize,
}

impl Default for WdsrConfig {
    fn default() -> Self {
        Self::paper()
    }
}

/// Parameters of a k×k convolution cin → cout with bias (no weight-norm gains).
fn conv_weights(cin: usize, cout: usize, k: usize) -> usize {
    cin * cout * k * k + cout
}

impl WdsrConfig {
    /// The network of the paper (S2.2, Fig. S1): 32 filters, expansion 4, reduction 0.8,
    /// 3 levels of 4 wide-activation layers, 3×3 encoder and 4×4 decoder kernels (see the
    /// module documentation for why 4×4).
    pub fn paper() -> Self {
        Self {
            filters: 32,
            expansion: 4,
            reduction: 0.8,
            levels: 3,
            blocks_per_level: 4,
            kernel_size: 3,
            decoder_kernel_size: 4,
        }
    }

    /// Height and width must be multiples of this: 2^levels.
    pub fn alignment(&self) -> usize {
        1 << self.levels
    }

    /// Receptive-field radius in px (how far, per side, an output pixel can see): a k×k
    /// convolution at scale s adds s·⌈(k−1)/2⌉ (the larger side of Keras' "same" padding).
    /// Encoder level l (scale 2^l): blocks_per_level layers of k×k plus the stride-2 3×3,
    /// (blocks + 1)·2^l; decoder at input scale 2^(l+1): the merged branch's
    /// (blocks − 1) decoder layers and its up-sampling unit's one, the shortcut's unit in
    /// parallel, blocks · ⌈(dk−1)/2⌉ · 2^(l+1); plus the head. 148 px for the paper's network.
    pub fn receptive_radius(&self) -> usize {
        let r = |k: usize| k.saturating_sub(1).div_ceil(2);
        let b = self.blocks_per_level.max(1);
        let mut total = r(self.kernel_size);
        for l in 0..self.levels {
            total += (b * r(self.kernel_size) + 1) << l;
            total += (b * r(self.decoder_kernel_size)) << (l + 1);
        }
        total
    }

    /// Most channels of any intermediate tensor per pixel of the input (the up-sampling
    /// units' expansion 4c·e at half resolution, i.e. c·e per input pixel, or 2c at the skip
    /// concatenation), bounding a tile's size on devices with a buffer limit.
    pub fn max_channels(&self) -> usize {
        (self.filters * self.expansion).max(2 * self.filters)
    }

    /// A short human name, e.g. "WDSR U-net (32 filters, 3 levels × 4, 2,383,826 weights)".
    pub fn describe(&self) -> String {
        format!(
            "WDSR U-net ({} filters, {} levels × {}, {} weights)",
            self.filters,
            self.levels,
            self.blocks_per_level,
            self.weight_count()
        )
    }

    fn reduced(&self, c: usize) -> usize {
        ((c as f64 * self.reduction).floor() as usize).max(1)
    }

    /// (weights without gains, output channels) of a wide-activation layer on c maps.
    fn wa_counts(&self, c: usize, k: usize) -> (usize, usize) {
        let (e, r) = (c * self.expansion, self.reduced(c));
        (
            conv_weights(c, e, 1) + conv_weights(e, r, 1) + conv_weights(r, c, k),
            e + r + c,
        )
    }

    fn up_counts(&self, c: usize, k: usize) -> (usize, usize) {
        let (w, o) = self.wa_counts(4 * c, k);
        (conv_weights(c, 4 * c, 1) + w, 4 * c + o)
    }

    fn counts(&self) -> (usize, usize, usize) {
        let c = self.filters;
        let (k, dk) = (self.kernel_size, self.decoder_kernel_size);
        let b = self.blocks_per_level;
        let mut weights = conv_weights(1, c, k) + conv_weights(c, c, 1) + conv_weights(c, 1, 1);
        let mut gains = c + c + 1;
        let mut convs = 3;
        let (wa_w, wa_g) = self.wa_counts(c, k);
        let (dwa_w, dwa_g) = self.wa_counts(c, dk);
        let (up_w, up_g) = self.up_counts(c, dk);
        for _ in 0..self.levels {
            // Down block: b wide-activation layers + strided conv.
            weights += b * wa_w + conv_weights(c, c, k);
            gains += b * wa_g + c;
            convs += 3 * b + 1;
            // Up block: two up-sampling units, a 1×1 reduction, b − 1 wide-activation layers.
            weights += 2 * up_w + conv_weights(2 * c, c, 1) + (b - 1) * dwa_w;
            gains += 2 * up_g + c + (b - 1) * dwa_g;
            convs += 2 * 4 + 1 + 3 * (b - 1);
        }
        (weights, gains, convs)
    }

    /// Trainable weights and biases, without the weight-norm gains (the count the paper
    /// reports: 2,383,826 for [`WdsrConfig::paper`]).
    pub fn weight_count(&self) -> usize {
        self.counts().0
    }

    /// All parameters of the burn module: [`WdsrConfig::weight_count`] plus one weight-norm
    /// gain per output channel of every convolution.
    pub fn parameter_count(&self) -> usize {
        let (w, g, _) = self.counts();
        w + g
    }

    /// Number of convolution layers (96 for the paper's network).
    pub fn conv_layers(&self) -> usize {
        self.counts().2
    }

    /// Builds a randomly initialised network.
    pub fn init(&self, device: &Device) -> WdsrUNet {
        WdsrUNet::new(*self, device)
    }
}

/// A weight-normalised 2D convolution: w = g · v / ‖v‖ per output channel, plus a bias.
#[derive(Module, Debug)]
pub struct WnConv2d {
    /// Direction v, `[out, in, k, k]`.
    pub v: Param<Tensor<4>>,
    /// Gain g per output channel, `[out]`.
    pub g: Param<Tensor<1>>,
    /// Bias, `[out]`.
    pub bias: Param<Tensor<1>>,
    /// Stride (1, or 2 for down-sampling).
    pub stride: usize,
    /// Padding (top, left, bottom, right).
    pub padding: [usize; 4],
}

impl WnConv2d {
    /// A k×k convolution cin → cout, Kaiming-uniform v, g = ‖v‖ (so w = v), zero bias.
    /// "Same" padding as Keras: (k − 1)/2 before and the rest after for stride 1; 0 before and
    /// 1 after for a stride-2 3×3 convolution (even input sizes).
    pub fn new(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Self {
        let v = Conv2dConfig::new([cin, cout], [k, k])
            .with_bias(false)
            .init(device)
            .weight;
        let norm = v
            .val()
            .powf_scalar(2.0)
            .sum_dim(3)
            .sum_dim(2)
            .sum_dim(1)
            .sqrt()
            .reshape([cout])
            .detach();
        let total = if stride == 1 {
            k - 1
        } else {
            k.saturating_sub(stride)
        };
        let before = total / 2;
        let after = total - before;
        Self {
            v,
            g: Param::from_tensor(norm),
            bias: Param::from_tensor(Tensor::zeros([cout], device)),
            stride,
            padding: [before, before, after, after],
        }
    }

    /// The effective kernel g · v / ‖v‖, `[out, in, k, k]`.
    pub fn weight(&self) -> Tensor<4> {
        let v = self.v.val();
        let [cout, _, _, _] = v.dims();
        let norm = super::norm_per_first_axis(v.clone());
        let scale = self.g.val().reshape([cout, 1, 1, 1]) / norm;
        v * scale
    }

    /// `[b, in, y, x]` → `[b, out, y/stride, x/stride]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [top, left, bottom, right] = self.padding;
        let options = ConvOptions::new_with_padding(
            [self.stride, self.stride],
            [(top, bottom), (left, right)],
            [1, 1],
            1,
        );
        conv2d(x, self.weight(), Some(self.bias.val()), options)
    }
}

/// Wide-activation layer: x + conv_k(reduce(relu(expand(x)))).
#[derive(Module, Debug)]
pub struct WideActivation {
    /// 1×1, c → e·c.
    pub expand: WnConv2d,
    /// 1×1, e·c → ⌊0.8·c⌋.
    pub reduce: WnConv2d,
    /// k×k, ⌊0.8·c⌋ → c.
    pub conv: WnConv2d,
}

impl WideActivation {
    fn new(cfg: &WdsrConfig, c: usize, k: usize, device: &Device) -> Self {
        let (e, r) = (c * cfg.expansion, cfg.reduced(c));
        Self {
            expand: WnConv2d::new(c, e, 1, 1, device),
            reduce: WnConv2d::new(e, r, 1, 1, device),
            conv: WnConv2d::new(r, c, k, 1, device),
        }
    }

    /// `[b, c, y, x]` → same shape.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self
            .conv
            .forward(self.reduce.forward(relu(self.expand.forward(x.clone()))));
        x + h
    }
}

/// Down-sampling block: maxpool(x) + relu(conv_stride2(WA⁴(x))).
#[derive(Module, Debug)]
pub struct DownBlock {
    /// The wide-activation layers.
    pub layers: Vec<WideActivation>,
    /// Stride-2 3×3 convolution c → c.
    pub down: WnConv2d,
}

impl DownBlock {
    /// `[b, c, y, x]` → `[b, c, y/2, x/2]` (y, x even).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pooled = max_pool2d(x.clone(), MaxPoolOptions::new([2, 2]));
        let mut h = x;
        for l in &self.layers {
            h = l.forward(h);
        }
        relu(self.down.forward(h)) + pooled
    }
}

/// Up-sampling unit: depth_to_space(WA(relu(conv1×1 c → 4c))).
#[derive(Module, Debug)]
pub struct Upsample {
    /// 1×1, c → 4c.
    pub expand: WnConv2d,
    /// Wide-activation layer on 4c maps.
    pub layer: WideActivation,
}

impl Upsample {
    /// `[b, c, y, x]` → `[b, c, 2y, 2x]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        depth_to_space(self.layer.forward(relu(self.expand.forward(x))), 2)
    }
}

/// Up-sampling block: up(x) + up(WA³(relu(conv1×1([x, skip])))).
#[derive(Module, Debug)]
pub struct UpBlock {
    /// Branch (a): up-sampling unit of the input.
    pub shortcut: Upsample,
    /// 1×1, 2c → c, after concatenating the skip.
    pub merge: WnConv2d,
    /// The wide-activation layers of branch (b).
    pub layers: Vec<WideActivation>,
    /// Branch (b)'s up-sampling unit.
    pub up: Upsample,
}

impl UpBlock {
    /// `[b, c, y, x]` and skip `[b, c, y, x]` → `[b, c, 2y, 2x]`.
    pub fn forward(&self, x: Tensor<4>, skip: Tensor<4>) -> Tensor<4> {
        let j = self.shortcut.forward(x.clone());
        let mut h = relu(self.merge.forward(Tensor::cat(vec![x, skip], 1)));
        for l in &self.layers {
            h = l.forward(h);
        }
        self.up.forward(h) + j
    }
}

/// TensorFlow's `depth_to_space` on NCHW tensors: `[b, r²·c, y, x]` → `[b, c, r·y, r·x]`,
/// output (r·y + i, r·x + j) of channel k from input channel (r·i + j)·c + k.
pub fn depth_to_space(x: Tensor<4>, r: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let co = c / (r * r);
    x.reshape([b, r, r, co, h, w])
        .permute([0, 3, 4, 1, 5, 2])
        .reshape([b, co, h * r, w * r])
}

/// restore's WDSR U-net (module documentation).
#[derive(Module, Debug)]
pub struct WdsrUNet {
    /// 3×3, 1 → c.
    pub head: WnConv2d,
    /// Encoder, shallowest first.
    pub down: Vec<DownBlock>,
    /// Decoder, deepest first.
    pub up: Vec<UpBlock>,
    /// 1×1, c → c (ReLU after).
    pub tail1: WnConv2d,
    /// 1×1, c → 1.
    pub tail2: WnConv2d,
}

impl WdsrUNet {
    /// A randomly initialised network of `cfg`'s sizes.
    pub fn new(cfg: WdsrConfig, device: &Device) -> Self {
        let c = cfg.filters;
        let (k, dk) = (cfg.kernel_size, cfg.decoder_kernel_size);
        let b = cfg.blocks_per_level.max(1);
        let up_unit = |d: &Device| Upsample {
            expand: WnConv2d::new(c, 4 * c, 1, 1, d),
            layer: WideActivation::new(&cfg, 4 * c, dk, d),
        };
        Self {
            head: WnConv2d::new(1, c, k, 1, device),
            down: (0..cfg.levels)
                .map(|_| DownBlock {
                    layers: (0..b)
                        .map(|_| WideActivation::new(&cfg, c, k, device))
                        .collect(),
                    down: WnConv2d::new(c, c, 3, 2, device),
                })
                .collect(),
            up: (0..cfg.levels)
                .map(|_| UpBlock {
                    shortcut: up_unit(device),
                    merge: WnConv2d::new(2 * c, c, 1, 1, device),
                    layers: (0..b - 1)
                        .map(|_| WideActivation::new(&cfg, c, dk, device))
                        .collect(),
                    up: up_unit(device),
                })
                .collect(),
            tail1: WnConv2d::new(c, c, 1, 1, device),
            tail2: WnConv2d::new(c, 1, 1, 1, device),
        }
    }

    /// `[batch, 1, y, x]` → `[batch, 1, y, x]`; y and x must be multiples of 2^levels.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = self.head.forward(x);
        let mut skips = Vec::with_capacity(self.down.len());
        for d in &self.down {
            h = d.forward(h);
            skips.push(h.clone());
        }
        for (u, skip) in self.up.iter().zip(skips.into_iter().rev()) {
            h = u.forward(h, skip);
        }
        self.tail2.forward(relu(self.tail1.forward(h)))
    }

    /// [`WdsrUNet::forward`] for any size: the input is zero-padded (the mean of normalised
    /// data) up to the next multiples of 2^levels, centred as restore does, and the output
    /// cropped back.
    pub fn forward_padded(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let align = 1usize << self.down.len();
        let (ph, pw) = (h.div_ceil(align) * align, w.div_ceil(align) * align);
        if (ph, pw) == (h, w) {
            return self.forward(x);
        }
        let (top, left) = ((ph - h) / 2, (pw - w) / 2);
        let padded = Tensor::zeros([b, c, ph, pw], &x.device())
            .slice_assign([0..b, 0..c, top..top + h, left..left + w], x);
        self.forward(padded)
            .slice([0..b, 0..1, top..top + h, left..left + w])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_to_space_follows_tensorflow_order() {
        let device = Device::flex();
        // 2 output channels, 4 = 2² sub-pixel groups, at one pixel.
        let values: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, [1, 8, 1, 1]), &device);
        let y = depth_to_space(x, 2);
        assert_eq!(y.dims(), [1, 2, 2, 2]);
        let v = y.into_data().as_slice::<f32>().unwrap().to_vec();
        // Channel 0: input channels (2i + j)·2 + 0 = 0, 2, 4, 6 at (i, j) = (0,0),(0,1),(1,0),(1,1).
        assert_eq!(v, vec![0.0, 2.0, 4.0, 6.0, 1.0, 3.0, 5.0, 7.0]);
    }

    #[test]
    fn weight_norm_starts_at_v_and_scales_with_g() {
        let device = Device::flex();
        let c = WnConv2d::new(3, 5, 3, 1, &device);
        let w = c.weight().into_data().as_slice::<f32>().unwrap().to_vec();
        let v = c.v.val().into_data().as_slice::<f32>().unwrap().to_vec();
        for (a, b) in w.iter().zip(&v) {
            assert!((a - b).abs() < 1e-5);
        }
        // w = g · v/‖v‖: doubling g doubles w, and scaling v leaves w unchanged.
        let scaled = WnConv2d {
            g: Param::from_tensor(c.g.val() * 2.0),
            v: Param::from_tensor(c.v.val() * 3.0),
            bias: Param::from_tensor(c.bias.val()),
            stride: c.stride,
            padding: c.padding,
        };
        let w2 = scaled
            .weight()
            .into_data()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        for (a, b) in w2.iter().zip(&w) {
            assert!((a - 2.0 * b).abs() < 1e-5);
        }
    }
}
