//! Native 2D "same" convolutions (stride 1, zero padding `k/2`, square kernels) on
//! channels-last images, with bias and leaky ReLU fused into the write-back:
//! - [`Conv2dWeights::forward`], for inference: bands of [`Band::Inference`] output pixels
//!   in parallel on rayon, each one im2col and one `gemm`;
//! - [`conv_image`], for training steps (one thread per batch item): bands of
//!   [`Band::Training`] pixels in sequence, through an implicit im2col over the zero-padded
//!   image ([`conv_rows`]) when a kernel row is wide enough, else an explicit one. It also
//!   computes input gradients (the convolution with [`Conv2dWeights::flipped`] weights).

use rayon::prelude::*;

use super::im2col::{im2col, pad_image};
use super::matmul::{gemm_strided, matmul, matmul_ext};
use super::tensor::Hwc;
use super::{Band, band_px};

/// One convolution with "same" padding k/2, weights packed as `[tap][cin][cout]`
/// (tap = ky·k + kx), i.e. a `(k·k·cin) × cout` row-major matrix.
#[derive(Clone, Debug)]
pub struct Conv2dWeights {
    /// Kernel width and height (pixels).
    pub k: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// `[tap][cin][cout]`, `k·k·cin·cout` values.
    pub weights: Vec<f32>,
    /// `cout` values.
    pub bias: Vec<f32>,
}

impl Conv2dWeights {
    /// Packs PyTorch-layout weights `raw[cout][cin][k][k]` (burn's `Conv2d` too) and the bias
    /// (`None`: zeros).
    ///
    /// # Panics
    /// When `raw` is shorter than `cout·cin·k²`.
    pub fn from_oihw(
        raw: &[f32],
        bias: Option<Vec<f32>>,
        cout: usize,
        cin: usize,
        k: usize,
    ) -> Self {
        let mut weights = vec![0.0f32; k * k * cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                for t in 0..k * k {
                    weights[(t * cin + i) * cout + o] = raw[(o * cin + i) * k * k + t];
                }
            }
        }
        Self {
            k,
            cin,
            cout,
            weights,
            bias: bias.unwrap_or_else(|| vec![0.0; cout]),
        }
    }

    /// The weights of the input-gradient convolution: `[tap][cout][cin]` with the taps
    /// reversed (the kernel flipped in y and x, input and output channels swapped).
    pub fn flipped(&self) -> Vec<f32> {
        let (taps, cin, cout) = (self.k * self.k, self.cin, self.cout);
        let mut flipped = vec![0.0f32; self.weights.len()];
        for t in 0..taps {
            let src = &self.weights[(taps - 1 - t) * cin * cout..(taps - t) * cin * cout];
            let dst = &mut flipped[t * cout * cin..(t + 1) * cout * cin];
            for i in 0..cin {
                for o in 0..cout {
                    dst[o * cin + i] = src[i * cout + o];
                }
            }
        }
        flipped
    }

    /// Convolution, then bias and (if `leak` is given) the leaky ReLU of that slope; bands of
    /// output pixels ([`Band::Inference`]) in parallel.
    pub fn forward(&self, x: &Hwc, leak: Option<f32>) -> Hwc {
        assert_eq!(x.channels, self.cin);
        let (h, w, cin, cout, k) = (x.height, x.width, self.cin, self.cout, self.k);
        let kdim = k * k * cin;
        let band = band_px(Band::Inference);
        let mut out = vec![0.0f32; h * w * cout];
        // Bands of output pixels (row-major order), processed independently.
        out.par_chunks_mut(band * cout)
            .enumerate()
            .for_each(|(b, out_band)| {
                let start = b * band;
                let m = out_band.len() / cout;
                let mut col = vec![0.0f32; m * kdim];
                im2col(&x.data, h, w, cin, k, start, m, &mut col);
                // out_band[m × cout] = col[m × kdim] · weights[kdim × cout]
                matmul(m, cout, kdim, out_band, &col, &self.weights);
                bias_act(out_band, &self.bias, leak);
            });
        Hwc {
            height: h,
            width: w,
            channels: cout,
            data: out,
        }
    }
}

/// Adds `bias` to every pixel of a channels-last band and applies the leaky ReLU of slope
/// `leak` when given.
#[inline]
pub fn bias_act(band: &mut [f32], bias: &[f32], leak: Option<f32>) {
    let c = bias.len();
    for px in band.chunks_exact_mut(c) {
        for (v, b) in px.iter_mut().zip(bias) {
            let y = *v + b;
            *v = match leak {
                Some(slope) if y < 0.0 => y * slope,
                _ => y,
            };
        }
    }
}

/// Per-thread scratch of the training kernels: the im2col band and gemm's threading.
pub struct Scratch {
    /// The explicit im2col band (grown on demand).
    pub col: Vec<f32>,
    /// gemm's own threading (`None` when the caller already runs one item per thread).
    pub par: gemm::Parallelism,
}

impl Scratch {
    /// Empty scratch with gemm threading `par`.
    pub fn new(par: gemm::Parallelism) -> Self {
        Self {
            col: Vec::new(),
            par,
        }
    }
}

/// Smallest `k·cin` (the inner dimension of one kernel row) for which a convolution runs as
/// `k` products over overlapping rows of the zero-padded input ([`conv_rows`]) rather than
/// through an explicit im2col.
pub const IMPLICIT_MIN_ROW: usize = 64;

/// "Same" convolution of the padded image `xp` ([`pad_image`] of an `h × w × cin` image,
/// slack ≥ k·cin) with `[tap][cin][cout]` weights, in the padded-width layout: output row `y`
/// holds `w + 2p` pixels of which the first `w` are the result. For each band of output rows
/// ([`Band::Training`] pixels, whole padded rows) and each kernel row `ky`, one product whose
/// left matrix is the padded input read with a row stride of `cin` (pixel `q` of the band and
/// its `k·cin` taps are contiguous).
#[allow(clippy::too_many_arguments)]
pub fn conv_rows(
    xp: &[f32],
    h: usize,
    w: usize,
    cin: usize,
    k: usize,
    weights: &[f32],
    cout: usize,
    par: gemm::Parallelism,
) -> Vec<f32> {
    let p = k / 2;
    let wp = w + 2 * p;
    let row = k * cin;
    let mut out = vec![0.0f32; h * wp * cout];
    let rows_per_band = (band_px(Band::Training) / wp).max(1);
    for (bi, dst) in out.chunks_mut(rows_per_band * wp * cout).enumerate() {
        let oy0 = bi * rows_per_band;
        let m = dst.len() / cout;
        for ky in 0..k {
            let lhs = &xp[(oy0 + ky) * wp * cin..];
            let rhs = &weights[ky * row * cout..(ky + 1) * row * cout];
            gemm_strided(m, cout, row, dst, cout, lhs, cin, 1, rhs, cout, ky > 0, par);
        }
    }
    out
}

/// Convolution of `x` with `k·k·cin × cout` weights (`[tap][cin][cout]`), then, when `bias`
/// is given, the bias and the leaky ReLU of the slope given with it; bands of
/// [`Band::Training`] pixels in sequence (the training kernels' forward and input-gradient
/// convolution).
pub fn conv_image(
    x: &Hwc,
    k: usize,
    weights: &[f32],
    bias: Option<(&[f32], Option<f32>)>,
    cout: usize,
    s: &mut Scratch,
) -> Hwc {
    let (h, w, cin) = (x.height, x.width, x.channels);
    let kdim = k * k * cin;
    let band_px = band_px(Band::Training);
    let mut out = vec![0.0f32; h * w * cout];
    if k * cin >= IMPLICIT_MIN_ROW {
        let p = k / 2;
        let wp = w + 2 * p;
        let xp = pad_image(x, p, k * cin);
        let full = conv_rows(&xp, h, w, cin, k, weights, cout, s.par);
        for (dst, src) in out
            .chunks_exact_mut(w * cout)
            .zip(full.chunks_exact(wp * cout))
        {
            dst.copy_from_slice(&src[..w * cout]);
            if let Some((bias, leak)) = bias {
                bias_act(dst, bias, leak);
            }
        }
    } else {
        if s.col.len() < band_px * kdim {
            s.col.resize(band_px * kdim, 0.0);
        }
        for (b, band) in out.chunks_mut(band_px * cout).enumerate() {
            let m = band.len() / cout;
            im2col(&x.data, h, w, cin, k, b * band_px, m, &mut s.col);
            matmul_ext(m, cout, kdim, band, &s.col, false, weights, false, s.par);
            if let Some((bias, leak)) = bias {
                bias_act(band, bias, leak);
            }
        }
    }
    Hwc {
        height: h,
        width: w,
        channels: cout,
        data: out,
    }
}
