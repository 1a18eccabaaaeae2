//! The per-layer choice of convolution algorithm for inference ([`Conv2dPlan`]): direct
//! ([`Conv2dWeights::forward`]) or through the FFT ([`FftConv`]), made once when a model is
//! loaded; and [`chain`], which runs planned layers in order.

use super::conv2d::Conv2dWeights;
use super::fftconv::{FftConv, fft_pays};
use super::tensor::Hwc;

/// An inference convolution with its strategy chosen once, when the model is loaded: direct
/// ([`Conv2dWeights::forward`]) or through the FFT ([`FftConv`]) when [`fft_pays`] says the
/// kernel is wide enough.
#[derive(Debug)]
pub struct Conv2dPlan {
    /// The packed weights (the direct path, and the source of the FFT spectra).
    pub weights: Conv2dWeights,
    fft: Option<FftConv>,
}

/// Which convolution algorithm a [`Conv2dPlan`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvStrategy {
    /// [`fft_pays`] decides per layer (the default).
    Auto,
    /// Always im2col + `gemm` (the benchmark's baseline).
    Direct,
}

impl Conv2dPlan {
    /// Plans `weights` with `strategy`.
    pub fn new(weights: Conv2dWeights, strategy: ConvStrategy) -> Self {
        let fft = (strategy == ConvStrategy::Auto
            && fft_pays(weights.k, weights.cin, weights.cout))
        .then(|| FftConv::new(&weights));
        Self { weights, fft }
    }

    /// Whether this layer runs through the FFT.
    pub fn uses_fft(&self) -> bool {
        self.fft.is_some()
    }

    /// Convolution, bias and (if `leak` is given) leaky ReLU, by the planned algorithm.
    pub fn forward(&self, x: &Hwc, leak: Option<f32>) -> Hwc {
        match &self.fft {
            Some(f) => f.forward(x, leak),
            None => self.weights.forward(x, leak),
        }
    }
}

/// Applies `convs` in order ([`Conv2dPlan::forward`]), each followed by the leaky ReLU of
/// slope `leak`, except the last when `linear_last`.
pub fn chain(convs: &[Conv2dPlan], x: Hwc, leak: f32, linear_last: bool) -> Hwc {
    let n = convs.len();
    convs.iter().enumerate().fold(x, |h, (i, c)| {
        let act = (!(linear_last && i + 1 == n)).then_some(leak);
        c.forward(&h, act)
    })
}
