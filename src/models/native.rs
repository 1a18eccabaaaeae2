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
struct NativeConv {
    k: usize,
    cin: usize,
    cout: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl NativeConv {
    fn from_burn(conv: &Conv2d) -> Self {
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
        let p = k / 2;
        let kdim = k * k * cin;
        let mut out = vec![0.0f32; h * w * cout];
        // Bands of output pixels (row-major order), processed independently.
        const BAND: usize = 256;
        out.par_chunks_mut(BAND * cout)
            .enumerate()
            .for_each(|(b, out_band)| {
                let start = b * BAND;
                let m = out_band.len() / cout;
                let mut col = vec![0.0f32; m * kdim];
                for (r, col_row) in col.chunks_mut(kdim).enumerate() {
                    let (oy, ox) = ((start + r) / w, (start + r) % w);
                    for ky in 0..k {
                        let iy = oy as isize + ky as isize - p as isize;
                        for kx in 0..k {
                            let ix = ox as isize + kx as isize - p as isize;
                            let dst = &mut col_row[(ky * k + kx) * cin..(ky * k + kx + 1) * cin];
                            if iy >= 0 && (iy as usize) < h && ix >= 0 && (ix as usize) < w {
                                let src = (iy as usize * w + ix as usize) * cin;
                                dst.copy_from_slice(&x.data[src..src + cin]);
                            }
                        }
                    }
                }
                // out_band[m × cout] = col[m × kdim] · weights[kdim × cout]
                // SAFETY: the three matrices are distinct, fully allocated buffers of exactly the
                // dimensions and row strides given (row-major, column stride 1).
                unsafe {
                    gemm::gemm(
                        m,
                        cout,
                        kdim,
                        out_band.as_mut_ptr(),
                        1,
                        cout as isize,
                        false,
                        col.as_ptr(),
                        1,
                        kdim as isize,
                        self.weights.as_ptr(),
                        1,
                        cout as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for px in out_band.chunks_mut(cout) {
                    for (v, b) in px.iter_mut().zip(&self.bias) {
                        let y = *v + b;
                        *v = if leaky && y < 0.0 { y * LEAK as f32 } else { y };
                    }
                }
            });
        Hwc {
            height: h,
            width: w,
            channels: cout,
            data: out,
        }
    }
}

/// 2×2 max pooling, stride 2, floor mode.
fn pool(x: &Hwc) -> Hwc {
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
fn up_cat(x: &Hwc, skip: &Hwc) -> Hwc {
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
