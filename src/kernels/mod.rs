//! Cryolens' native CPU kernels: the convolutions, poolings and their gradients that run
//! Topaz's 2D and 3D networks on a CPU faster than burn's Flex backend, for inference
//! (`models::native`, `models::topaz3d`) and for training steps (`train::native`); they
//! know nothing of models, training or denoising (no imports from those modules).
//!
//! Why: on 2 cores burn's Flex backend spends about 45 % of a U-net forward outside its
//! matrix products (per-tile im2col with per-element indexing, zeroing, re-packing the
//! weights for every 512-pixel tile; measured with `perf`), and ran Topaz's unet 1.9× slower
//! than PyTorch. Here every convolution is one banded im2col (contiguous copies of `cin`
//! channels per kernel tap) followed by one matrix product per band of output pixels
//! (`gemm`, the same kernels Flex uses, AVX-512 when available), with bias and leaky ReLU
//! fused into the write-back.
//!
//! Numerics: f32 throughout, like PyTorch; parity with burn (and through it with Topaz) is
//! tested by `tests/denoise_parity.rs` (inference), `tests/train_native.rs` (gradients against
//! burn's autodiff) and `models::topaz3d`'s tests (3D).
//!
//! # Layout
//! - 2D activations are channels-last [`Hwc`]: `data[(y · width + x) · channels + c]`, so the
//!   `cin` channels of one kernel tap are one contiguous copy in im2col ([`im2col`]) and one
//!   band of output pixels is one contiguous `pixels × cout` block of the output.
//! - 2D weights ([`Conv2dWeights`]) are packed `[tap][cin][cout]` (tap = ky·k + kx): a
//!   `(k·k·cin) × cout` row-major matrix, the right operand of every product.
//! - 3D volumes are channels-first [`Cdhw`] (`[c][z][y][x]`, burn's and PyTorch's layout, so
//!   no transposes at the burn boundary); one z-section's im2col is a `cin·k³ × h·w` matrix
//!   and the product `weights · im2col` writes that section of every output channel directly.
//!
//! # Bands
//! A *band* is the set of output pixels one matrix product computes. [`band_px`] is the one
//! policy deciding its size, for every kernel here: small enough for the band's im2col
//! (`band · k²·cin` floats) to stay in cache, large enough to amortise gemm's packing of the
//! weights. See its documentation for the sizes and why they differ per [`Band`] kind.
//!
//! Wide kernels (fcnn's 11×11, the unet's 5×5 output block) run for inference through an FFT
//! convolution ([`fftconv`]) where its measured cost model says it pays; [`Conv2dPlan`]
//! holds the choice per layer.
//!
//! # Files
//! [`tensor`] (the array types), [`matmul`] (the `gemm` wrappers), [`im2col`], [`conv2d`]
//! (forward convolutions), [`fftconv`], [`plan`] (the choice per layer, [`Conv2dPlan`]), [`conv3d`], [`pool`] (2×2 / 2×2×2 max pooling and the U-net's
//! up-sample-and-concatenate, forward and backward), [`backward`] (weight and input gradients
//! of convolutions, chains and the U-net).

pub mod backward;
pub mod conv2d;
pub mod conv3d;
pub mod fftconv;
pub mod im2col;
pub mod matmul;
pub mod plan;
pub mod pool;
pub mod tensor;
pub mod winograd3d;

#[cfg(test)]
mod tests;

pub use backward::{ConvGrad, NetPlan, TrainConv2d};
pub use conv2d::Conv2dWeights;
pub use conv3d::conv3d;
pub use fftconv::{FFT_SIDE, FftConv, fft_pays};
pub use plan::{Conv2dPlan, ConvStrategy, chain};
pub use pool::{pool, pool3d, up_cat, up_cat_rows};
pub use tensor::{Cdhw, Hwc};
pub use winograd3d::{WinogradKernel, conv3d_winograd, winograd_pays};

/// What a band of output pixels feeds (see [`band_px`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    /// 2D inference ([`Conv2dWeights::forward`]): bands run in parallel on rayon, one gemm
    /// each.
    Inference,
    /// 2D training steps ([`backward`]): one whole batch item per thread, bands in sequence.
    Training,
    /// 3D inference ([`conv3d`]): whole rows of one z-section per product.
    Volume,
}

/// The band-size policy: output pixels per matrix product.
///
/// - [`Band::Inference`]: 256 pixels. Bands are the unit of rayon parallelism, so they stay
///   small enough that a 1024² tile gives thousands of tasks, and a band's im2col (256 × 11²
///   × 48 floats for the unet's widest layer) stays near L2.
/// - [`Band::Training`]: 512 pixels (rows of `⌈512 / padded width⌉` for the implicit
///   convolution over padded rows; 4 × that for the weight gradient, whose product sums over
///   the band's pixels). Each thread runs a whole batch item, so bands are not the unit of
///   parallelism and a larger band amortises gemm's packing of the weights.
/// - [`Band::Volume`]: 512 voxels, as whole rows of one z-section (`⌊512 / w⌋` rows, at
///   least one): the band's im2col has the voxels as columns, the product writes the band of
///   every output channel in place, and bands are the unit of parallelism.
///
/// Why two 2D sizes, measured with `cryolens bench` on 2 shared cores (December 2026,
/// unet-small; best runs): swapping them (inference 512, training 256) made a 1024²
/// inference 4.16 s against 3.55–3.65 s, slower in all six paired runs, and a training step
/// (4 pairs of 256², both directions) 4.76 s against 4.37–4.65 s.
pub const fn band_px(band: Band) -> usize {
    match band {
        Band::Inference => 256,
        Band::Training => 512,
        Band::Volume => 512,
    }
}
