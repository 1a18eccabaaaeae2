//! Max pooling (2×2 on channels-last images, 2×2×2 on channels-first volumes; stride 2,
//! floor mode, PyTorch's `nn.MaxPool2d(2)` / `nn.MaxPool3d(2)`) and the U-net's nearest
//! up-sampling followed by channel concatenation, with the gradients of the 2D ones for
//! training.
//!
//! Up-sampling follows PyTorch's `F.interpolate(mode='nearest')`: output index `o` reads
//! source index `⌊o · in/out⌋` computed in f32.

use rayon::prelude::*;

use super::tensor::{Cdhw, Hwc};

/// 2×2 max pooling, stride 2, floor mode.
pub fn pool(x: &Hwc) -> Hwc {
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
///
/// # Panics
/// An empty `x` (a U-net input smaller than 2^poolings per side pools to nothing): the
/// models pad such inputs to their minimum size first (`models::fit`).
pub fn up_cat(x: &Hwc, skip: &Hwc) -> Hwc {
    up_cat_rows(x, skip, 0, skip.height)
}

/// Rows `[y0, y1)` of [`up_cat`]`(x, skip)`, with the up-sampling's source rows those of the
/// whole image (so that strips of a U-net's output block can be built one at a time).
///
/// # Panics
/// An empty `x`, or `y1` beyond `skip`'s height.
pub fn up_cat_rows(x: &Hwc, skip: &Hwc, y0: usize, y1: usize) -> Hwc {
    let (h, w) = (skip.height, skip.width);
    assert!(y0 <= y1 && y1 <= h, "rows {y0}..{y1} of {h}");
    let (c1, c2) = (x.channels, skip.channels);
    let c = c1 + c2;
    let src_y = nearest_sources(h, x.height);
    let src_x = nearest_sources(w, x.width);
    let mut data = vec![0.0f32; (y1 - y0) * w * c];
    data.par_chunks_mut(w * c).enumerate().for_each(|(r, row)| {
        let yo = y0 + r;
        let yi = src_y[yo];
        for xo in 0..w {
            let a = (yi * x.width + src_x[xo]) * c1;
            row[xo * c..xo * c + c1].copy_from_slice(&x.data[a..a + c1]);
            let b = (yo * w + xo) * c2;
            row[xo * c + c1..(xo + 1) * c].copy_from_slice(&skip.data[b..b + c2]);
        }
    });
    Hwc {
        height: y1 - y0,
        width: w,
        channels: c,
        data,
    }
}

/// Nearest-neighbour source index of each of `out_len` destination pixels along an axis of
/// `in_len` source pixels, as PyTorch's `nearest` computes it: ⌊dst · in/out⌋ in f32, clamped
/// to the last source pixel. Used by [`up_cat`] and [`up_cat_backward`] alike.
fn nearest_sources(out_len: usize, in_len: usize) -> Vec<usize> {
    let scale = in_len as f32 / out_len as f32;
    (0..out_len)
        .map(|o| ((o as f32 * scale).floor() as usize).min(in_len - 1))
        .collect()
}

/// Gradient of 2×2 max pooling (floor mode): each pooled gradient goes to the first maximum
/// of its window in `pre` (the pooled tensor's input).
pub fn pool_backward(dp: &Hwc, pre: &Hwc) -> Hwc {
    let c = pre.channels;
    let (w, ph, pw) = (pre.width, dp.height, dp.width);
    let mut data = vec![0.0f32; pre.data.len()];
    for y in 0..ph {
        for x in 0..pw {
            let i00 = ((2 * y) * w + 2 * x) * c;
            let i01 = i00 + c;
            let i10 = i00 + w * c;
            let i11 = i10 + c;
            let g = &dp.data[(y * pw + x) * c..(y * pw + x + 1) * c];
            for (ch, &gv) in g.iter().enumerate() {
                let mut best = i00 + ch;
                for idx in [i01 + ch, i10 + ch, i11 + ch] {
                    if pre.data[idx] > pre.data[best] {
                        best = idx;
                    }
                }
                data[best] += gv;
            }
        }
    }
    Hwc {
        height: pre.height,
        width: pre.width,
        channels: c,
        data,
    }
}

/// Gradient of [`up_cat`]`(small, skip)`: (gradient of `small`, gradient of `skip`). Each
/// source pixel sums the gradients of the pixels it was copied to; the concatenation's
/// gradient splits by channels.
pub fn up_cat_backward(dcat: &Hwc, small: &Hwc, skip_channels: usize) -> (Hwc, Hwc) {
    let (h, w) = (dcat.height, dcat.width);
    let (c1, c2) = (small.channels, skip_channels);
    let c = c1 + c2;
    // Same source indices as the forward (PyTorch nearest: ⌊dst · in/out⌋ in f32).
    let src_y = nearest_sources(h, small.height);
    let src_x = nearest_sources(w, small.width);
    let mut ds = vec![0.0f32; small.data.len()];
    let mut dk = vec![0.0f32; h * w * c2];
    for yo in 0..h {
        let yi = src_y[yo];
        for (xo, &xi) in src_x.iter().enumerate() {
            let px = &dcat.data[(yo * w + xo) * c..(yo * w + xo + 1) * c];
            let a = (yi * small.width + xi) * c1;
            for (d, v) in ds[a..a + c1].iter_mut().zip(&px[..c1]) {
                *d += v;
            }
            dk[(yo * w + xo) * c2..(yo * w + xo + 1) * c2].copy_from_slice(&px[c1..]);
        }
    }
    (
        Hwc {
            height: small.height,
            width: small.width,
            channels: c1,
            data: ds,
        },
        Hwc {
            height: h,
            width: w,
            channels: c2,
            data: dk,
        },
    )
}

/// 2×2×2 max pooling, stride 2, floor mode, of a channels-first volume: `[c][d][h][w]` →
/// `[c][d/2][h/2][w/2]`; channels run in parallel.
pub fn pool3d(x: &Cdhw) -> Cdhw {
    let c = x.channels;
    let [d, h, w] = x.shape;
    let (d2, h2, w2) = (d / 2, h / 2, w / 2);
    let mut out = vec![0.0f32; c * d2 * h2 * w2];
    out.par_chunks_mut(d2 * h2 * w2)
        .enumerate()
        .for_each(|(ci, o)| {
            let vol = &x.data[ci * d * h * w..(ci + 1) * d * h * w];
            for z in 0..d2 {
                for y in 0..h2 {
                    for xx in 0..w2 {
                        let mut m = f32::NEG_INFINITY;
                        for dz in 0..2 {
                            for dy in 0..2 {
                                let row = ((2 * z + dz) * h + 2 * y + dy) * w + 2 * xx;
                                m = m.max(vol[row]).max(vol[row + 1]);
                            }
                        }
                        o[(z * h2 + y) * w2 + xx] = m;
                    }
                }
            }
        });
    Cdhw {
        channels: c,
        shape: [d2, h2, w2],
        data: out,
    }
}
