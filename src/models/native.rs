//! A CPU inference path for Topaz's 2D models: the same network, weights taken from the burn
//! module, run with our own kernels on channels-last (y, x, c) arrays.
//!
//! Why: on 2 cores burn's Flex backend spends about 45 % of a U-net forward outside its
//! matrix products (per-tile im2col with per-element indexing, zeroing, re-packing the
//! weights for every 512-pixel tile; measured with `perf`), and ran Topaz's unet 1.9× slower
//! than PyTorch. Here every convolution is one banded im2col (contiguous copies of `cin`
//! channels per kernel tap) followed by one matrix product per band of output pixels
//! (`gemm`, the same kernels Flex uses, AVX-512 when available), with bias and leaky ReLU
//! fused into the write-back, and bands spread over the cores with rayon.
//!
//! Numerics: f32 throughout, like PyTorch; parity with Topaz is tested exactly as for burn.
//! Layout: an [`Hwc`] holds `height × width × channels` values, channel fastest.

use burn::nn::conv::Conv2d;
use rayon::prelude::*;

use super::topaz::{LEAK, TopazModel};

/// A channels-last activation: `data[(y * width + x) * channels + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hwc {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Values, `height * width * channels`.
    pub data: Vec<f32>,
}

/// One convolution with "same" padding k/2, weights packed as `[tap][cin][cout]`
/// (tap = ky·k + kx), i.e. a `(k·k·cin) × cout` row-major matrix.
pub(crate) struct NativeConv {
    pub(crate) k: usize,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) weights: Vec<f32>,
    pub(crate) bias: Vec<f32>,
}

impl NativeConv {
    pub(crate) fn from_burn(conv: &Conv2d) -> Self {
        let w = conv.weight.val();
        let [cout, cin, kh, kw] = w.dims();
        assert_eq!(kh, kw, "square kernels only");
        let data = w.into_data();
        let raw: Vec<f32> = data
            .as_slice::<f32>()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let k = kh;
        let mut weights = vec![0.0f32; k * k * cin * cout];
        for o in 0..cout {
            for i in 0..cin {
                for t in 0..k * k {
                    weights[(t * cin + i) * cout + o] = raw[(o * cin + i) * k * k + t];
                }
            }
        }
        let bias = match &conv.bias {
            Some(b) => b
                .val()
                .into_data()
                .as_slice::<f32>()
                .map(|s| s.to_vec())
                .unwrap_or_default(),
            None => vec![0.0; cout],
        };
        Self {
            k,
            cin,
            cout,
            weights,
            bias,
        }
    }

    /// Convolution, then bias and (if `leaky`) leaky ReLU.
    fn forward(&self, x: &Hwc, leaky: bool) -> Hwc {
        assert_eq!(x.channels, self.cin);
        let (h, w, cin, cout, k) = (x.height, x.width, self.cin, self.cout, self.k);
        let kdim = k * k * cin;
        let mut out = vec![0.0f32; h * w * cout];
        // Bands of output pixels (row-major order), processed independently.
        out.par_chunks_mut(BAND_PX * cout)
            .enumerate()
            .for_each(|(b, out_band)| {
                let start = b * BAND_PX;
                let m = out_band.len() / cout;
                let mut col = vec![0.0f32; m * kdim];
                im2col(&x.data, h, w, cin, k, start, m, &mut col);
                // out_band[m × cout] = col[m × kdim] · weights[kdim × cout]
                matmul(m, cout, kdim, out_band, &col, &self.weights);
                bias_act(out_band, &self.bias, leaky);
            });
        Hwc {
            height: h,
            width: w,
            channels: cout,
            data: out,
        }
    }
}

/// Output pixels per im2col band.
pub(crate) const BAND_PX: usize = 256;

/// Fills `col` (`m × k·k·cin`, row-major, at least that long) with the im2col rows of output
/// pixels `start..start + m` (row-major pixel order) of a "same" (padding k/2) `k`×`k`
/// convolution over the channels-last image `x` (`h × w × cin`); taps outside the image are 0.
/// Row `r`, column `(ky·k + kx)·cin + i` holds `x[oy + ky − k/2, ox + kx − k/2, i]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn im2col(
    x: &[f32],
    h: usize,
    w: usize,
    cin: usize,
    k: usize,
    start: usize,
    m: usize,
    col: &mut [f32],
) {
    let p = k / 2;
    let kdim = k * k * cin;
    let row_len = k * cin;
    for (r, col_row) in col[..m * kdim].chunks_exact_mut(kdim).enumerate() {
        let (oy, ox) = ((start + r) / w, (start + r) % w);
        // Columns kx in kx0..kx1 fall inside the image.
        let kx0 = p.saturating_sub(ox);
        let kx1 = k.min(w + p - ox);
        for (ky, dst) in col_row.chunks_exact_mut(row_len).enumerate() {
            let iy = oy + ky;
            if iy < p || iy - p >= h || kx0 >= kx1 {
                dst.fill(0.0);
                continue;
            }
            let iy = iy - p;
            dst[..kx0 * cin].fill(0.0);
            dst[kx1 * cin..].fill(0.0);
            let src = (iy * w + ox + kx0 - p) * cin;
            dst[kx0 * cin..kx1 * cin].copy_from_slice(&x[src..src + (kx1 - kx0) * cin]);
        }
    }
}

/// `dst[m × n] (+)= lhs · rhs` with row-major `rhs` (`k × n`); `lhs` is row-major `m × k`, or,
/// when `lhs_transposed`, the transpose of a row-major `k × m` matrix. Accumulates into `dst`
/// when `accumulate`. `par`: gemm's own threading (`None` inside rayon tasks).
///
/// # Panics
/// When a slice is shorter than its matrix (checked before the unsafe call).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_ext(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: &[f32],
    lhs_transposed: bool,
    rhs: &[f32],
    accumulate: bool,
    par: gemm::Parallelism,
) {
    let (lhs_rs, lhs_cs) = if lhs_transposed { (1, m) } else { (k, 1) };
    gemm_strided(
        m, n, k, dst, n, lhs, lhs_rs, lhs_cs, rhs, n, accumulate, par,
    );
}

/// `dst (+)= lhs · rhs` for an `m × k` by `k × n` product with explicit row strides (`dst`
/// and `rhs` have column stride 1; `lhs` has row stride `lhs_rs` and column stride `lhs_cs`,
/// rows may overlap). Accumulates into `dst` when `accumulate`. `par`: gemm's own threading.
///
/// # Panics
/// When a slice is shorter than the last element its matrix addresses (checked before the
/// unsafe call).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: &[f32],
    rhs_rs: usize,
    accumulate: bool,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    assert!(
        dst.len() >= (m - 1) * dst_rs + n
            && lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs
            && rhs.len() >= (k - 1) * rhs_rs + n,
        "matrix slices too short"
    );
    // SAFETY: the last element each matrix addresses is inside its slice (checked above), all
    // strides are non-negative, and `dst` is an exclusive borrow distinct from the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            1,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// `dst[m × n] = lhs[m × k] · rhs[k × n]`, all row-major, single-threaded.
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: &[f32], rhs: &[f32]) {
    matmul_ext(
        m,
        n,
        k,
        dst,
        lhs,
        false,
        rhs,
        false,
        gemm::Parallelism::None,
    );
}

/// Adds `bias` to every pixel of a channels-last band and applies the leaky ReLU when `leaky`.
pub(crate) fn bias_act(band: &mut [f32], bias: &[f32], leaky: bool) {
    let c = bias.len();
    for px in band.chunks_exact_mut(c) {
        for (v, b) in px.iter_mut().zip(bias) {
            let y = *v + b;
            *v = if leaky && y < 0.0 { y * LEAK as f32 } else { y };
        }
    }
}

/// 2×2 max pooling, stride 2, floor mode.
pub(crate) fn pool(x: &Hwc) -> Hwc {
    let (h, w, c) = (x.height / 2, x.width / 2, x.channels);
    let mut data = vec![0.0f32; h * w * c];
    data.par_chunks_mut(w * c).enumerate().for_each(|(y, row)| {
        for xo in 0..w {
            for ch in 0..c {
                let at =
                    |dy: usize, dx: usize| x.data[((2 * y + dy) * x.width + 2 * xo + dx) * c + ch];
                row[xo * c + ch] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
            }
        }
    });
    Hwc {
        height: h,
        width: w,
        channels: c,
        data,
    }
}

/// Nearest up-sampling of `x` to `skip`'s size (PyTorch's `nearest`: source index
/// ⌊dst · in/out⌋ in f32), then channel concatenation `[x, skip]`.
pub(crate) fn up_cat(x: &Hwc, skip: &Hwc) -> Hwc {
    let (h, w) = (skip.height, skip.width);
    let (c1, c2) = (x.channels, skip.channels);
    let c = c1 + c2;
    let sy = x.height as f32 / h as f32;
    let sx = x.width as f32 / w as f32;
    let src_x: Vec<usize> = (0..w)
        .map(|xo| ((xo as f32 * sx).floor() as usize).min(x.width - 1))
        .collect();
    let mut data = vec![0.0f32; h * w * c];
    data.par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(yo, row)| {
            let yi = ((yo as f32 * sy).floor() as usize).min(x.height - 1);
            for xo in 0..w {
                let a = (yi * x.width + src_x[xo]) * c1;
                row[xo * c..xo * c + c1].copy_from_slice(&x.data[a..a + c1]);
                let b = (yo * w + xo) * c2;
                row[xo * c + c1..(xo + 1) * c].copy_from_slice(&skip.data[b..b + c2]);
            }
        });
    Hwc {
        height: h,
        width: w,
        channels: c,
        data,
    }
}

fn convs(list: &[Conv2d]) -> Vec<NativeConv> {
    list.iter().map(NativeConv::from_burn).collect()
}

/// Applies `convs` in order, leaky ReLU after each except the last when `linear_last`.
fn chain(convs: &[NativeConv], x: Hwc, linear_last: bool) -> Hwc {
    let n = convs.len();
    convs
        .iter()
        .enumerate()
        .fold(x, |h, (i, c)| c.forward(&h, !(linear_last && i + 1 == n)))
}

/// Topaz's 2D models with host-side weights, run by the kernels above.
pub struct NativeModel(Net);

#[allow(clippy::enum_variant_names)] // the variants are Topaz's model names
enum Net {
    /// One linear filter.
    Affine(NativeConv),
    /// Three convolutions.
    Fcnn(Vec<NativeConv>),
    /// `enc1..enc4`, `dec3..dec1`.
    UNetSmall([Vec<NativeConv>; 7]),
    /// `enc1..enc6`, `dec5..dec1`.
    UNet([Vec<NativeConv>; 11]),
}

impl NativeModel {
    /// Copies the weights out of a loaded burn model.
    pub fn from_burn(model: &TopazModel) -> Self {
        NativeModel(match model {
            TopazModel::Affine(m) => Net::Affine(NativeConv::from_burn(&m.filter)),
            TopazModel::Fcnn(m) => Net::Fcnn(convs(&m.net)),
            TopazModel::UNetSmall(m) => Net::UNetSmall([
                convs(&m.enc1),
                convs(&m.enc2),
                convs(&m.enc3),
                convs(&m.enc4),
                convs(&m.dec3),
                convs(&m.dec2),
                convs(&m.dec1),
            ]),
            TopazModel::UNet(m) => Net::UNet([
                convs(&m.enc1),
                convs(&m.enc2),
                convs(&m.enc3),
                convs(&m.enc4),
                convs(&m.enc5),
                convs(&m.enc6),
                convs(&m.dec5),
                convs(&m.dec4),
                convs(&m.dec3),
                convs(&m.dec2),
                convs(&m.dec1),
            ]),
        })
    }

    /// Runs the network on one `height × width` single-channel image (normalised units,
    /// row-major), returning the output in the same layout.
    pub fn forward(&self, image: &[f32], height: usize, width: usize) -> Vec<f32> {
        let x = Hwc {
            height,
            width,
            channels: 1,
            data: image.to_vec(),
        };
        let y = match &self.0 {
            Net::Affine(c) => c.forward(&x, false),
            Net::Fcnn(c) => chain(c, x, true),
            Net::UNetSmall([e1, e2, e3, e4, d3, d2, d1]) => {
                let p1 = pool(&chain(e1, x.clone(), false));
                let p2 = pool(&chain(e2, p1.clone(), false));
                let p3 = pool(&chain(e3, p2.clone(), false));
                let h = chain(e4, p3, false);
                let h = chain(d3, up_cat(&h, &p2), false);
                let h = chain(d2, up_cat(&h, &p1), false);
                chain(d1, up_cat(&h, &x), true)
            }
            Net::UNet([e1, e2, e3, e4, e5, e6, d5, d4, d3, d2, d1]) => {
                let p1 = pool(&chain(e1, x.clone(), false));
                let p2 = pool(&chain(e2, p1.clone(), false));
                let p3 = pool(&chain(e3, p2.clone(), false));
                let p4 = pool(&chain(e4, p3.clone(), false));
                let p5 = pool(&chain(e5, p4.clone(), false));
                let h = chain(e6, p5, false);
                let h = chain(d5, up_cat(&h, &p4), false);
                let h = chain(d4, up_cat(&h, &p3), false);
                let h = chain(d3, up_cat(&h, &p2), false);
                let h = chain(d2, up_cat(&h, &p1), false);
                chain(d1, up_cat(&h, &x), true)
            }
        };
        y.data
    }
}
