//! Winograd F(4×4×4, 3×3×3) for the 3D U-nets' 3×3×3 convolutions (Lavin & Gray 2016,
//! "Fast algorithms for convolutional neural networks": the one-dimensional F(4, 3) on the
//! interpolation points 0, ±1, ±2, ∞, nested along z, y and x).
//!
//! Each 4×4×4 block of output voxels comes from the 6×6×6 block of input around it: the input
//! block is transformed (`Bᵀ d B` along each axis), multiplied point by point with the
//! transformed 3×3×3 kernel (`G g Gᵀ`), summed over input channels and transformed back
//! (`Aᵀ m A`). The sum over channels at each of the 216 transform points is one matrix
//! product over a batch of blocks, `(cout × cin) · (cin × blocks)`: 216 multiplications per
//! 64 outputs and channel pair where the direct convolution does 1,728, 8× fewer. F(2, 3)
//! (64 points per 8 outputs, 3.4× fewer) left the transforms and the gathering of the
//! overlapping input blocks as large as the products. On a 96³ cube of unet-3d-10a
//! (`cryolens bench --what denoise3d`, 2 cores): direct 7.2 s, F(2, 3) 6.4–6.7 s, F(4, 3)
//! 5.1–5.5 s, and 4.2 s once the decoder also ran natively (`models::native3d`). The larger
//! transform constants cost accuracy within what parity allows: the cube's output is within
//! 1.4e-5 σ of Topaz's.
//!
//! [`winograd_pays`] picks it for the layers where the products dominate (3×3×3, at least 16
//! channels in and out); the 7³ first layer and the one-channel output stay direct
//! ([`super::conv3d`]).

use rayon::prelude::*;

use super::matmul::matmul;
use super::tensor::Cdhw;

/// Output block side, voxels: F(M, 3) along each axis.
const M: usize = 4;

/// Input block side, voxels: the output block and the kernel's reach on both sides.
const A: usize = M + 2;

/// Transform points per output block: the A×A×A input block.
const POINTS: usize = A * A * A;

/// F(4, 3)'s input transform `Bᵀ` (interpolation points 0, ±1, ±2, ∞).
const BT: [[f32; A]; A] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// F(4, 3)'s kernel transform `G`.
const G: [[f32; 3]; A] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// F(4, 3)'s output transform `Aᵀ`.
const AT: [[f32; A]; M] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// Output blocks per batch: one matrix product per transform point over the batch, each
/// `cin × 128` (74 KB at 144 channels, near L2).
const BATCH_BLOCKS: usize = 128;

/// Whether [`conv3d_winograd`] runs a `k³` convolution of `cin → cout` channels: 3×3×3
/// with at least 16 channels in and out (narrower products lose more to the transforms
/// than they save).
pub fn winograd_pays(k: usize, cin: usize, cout: usize) -> bool {
    k == 3 && cin >= 16 && cout >= 16
}

/// The kernel transform `G g Gᵀ` along each axis: `[point][cout][cin]` from
/// `weight[cout][cin][3][3][3]` (PyTorch layout), point = `(z·A + y)·A + x`.
fn transform_weights(weight: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    let mut u = vec![0.0f32; POINTS * cout * cin];
    for co in 0..cout {
        for ci in 0..cin {
            let g = &weight[(co * cin + ci) * 27..][..27];
            // x: [kz][ky][a]; y: [kz][b][a]; z: [c][b][a] (f64 sums).
            let mut t1 = [0.0f64; 9 * A];
            for r in 0..9 {
                for a in 0..A {
                    t1[r * A + a] = (0..3)
                        .map(|kx| G[a][kx] as f64 * g[r * 3 + kx] as f64)
                        .sum();
                }
            }
            let mut t2 = [0.0f64; 3 * A * A];
            for kz in 0..3 {
                for b in 0..A {
                    for a in 0..A {
                        t2[(kz * A + b) * A + a] = (0..3)
                            .map(|ky| G[b][ky] as f64 * t1[(kz * 3 + ky) * A + a])
                            .sum();
                    }
                }
            }
            for c in 0..A {
                for ba in 0..A * A {
                    let v: f64 = (0..3).map(|kz| G[c][kz] as f64 * t2[kz * A * A + ba]).sum();
                    u[((c * A * A + ba) * cout + co) * cin + ci] = v as f32;
                }
            }
        }
    }
    u
}

/// One axis of a transform over columns: `dst` row `dst_rows[i]` = Σ_j `mat[i][j]` · `src`
/// row `src_rows[j]`, every row `n` long (zero coefficients skipped).
fn mat_rows<const R: usize>(
    src: &[f32],
    dst: &mut [f32],
    n: usize,
    mat: &[[f32; A]; R],
    src_rows: [usize; A],
    dst_rows: [usize; R],
) {
    for (coeffs, &dr) in mat.iter().zip(&dst_rows) {
        let out = &mut dst[dr * n..(dr + 1) * n];
        out.fill(0.0);
        for (&c, &sr) in coeffs.iter().zip(&src_rows) {
            if c == 0.0 {
                continue;
            }
            for (o, &v) in out.iter_mut().zip(&src[sr * n..(sr + 1) * n]) {
                *o += c * v;
            }
        }
    }
}

/// `Bᵀ d B` along x, y and z of every column of `tile` (`[point][n]`, point `(z·A + y)·A +
/// x`) into `out` (same layout); `tmp` is scratch of the same size.
fn transform_input(tile: &[f32], n: usize, tmp: &mut [f32], out: &mut [f32]) {
    let at = |z: usize, y: usize, x: usize| (z * A + y) * A + x;
    let idx = |f: &dyn Fn(usize) -> usize| -> [usize; A] { std::array::from_fn(f) };
    for p in 0..A {
        for q in 0..A {
            let rows = idx(&|x| at(p, q, x));
            mat_rows(tile, tmp, n, &BT, rows, rows);
        }
    }
    for p in 0..A {
        for q in 0..A {
            let rows = idx(&|y| at(p, y, q));
            mat_rows(tmp, out, n, &BT, rows, rows);
        }
    }
    tmp[..POINTS * n].copy_from_slice(&out[..POINTS * n]);
    for p in 0..A {
        for q in 0..A {
            let rows = idx(&|z| at(z, p, q));
            mat_rows(tmp, out, n, &BT, rows, rows);
        }
    }
}

/// `Aᵀ m A` along x, y and z: `out` (`[M³][n]`, `(oz·M + oy)·M + ox`) from `m` (`[A³][n]`);
/// `t1`, `t2` are scratch of `A²·M·n` and `A·M²·n`.
fn transform_output(m: &[f32], n: usize, t1: &mut [f32], t2: &mut [f32], out: &mut [f32]) {
    for zy in 0..A * A {
        let src: [usize; A] = std::array::from_fn(|x| zy * A + x);
        let dst: [usize; M] = std::array::from_fn(|ox| zy * M + ox);
        mat_rows(m, t1, n, &AT, src, dst);
    }
    for z in 0..A {
        for ox in 0..M {
            let src: [usize; A] = std::array::from_fn(|y| (z * A + y) * M + ox);
            let dst: [usize; M] = std::array::from_fn(|oy| (z * M + oy) * M + ox);
            mat_rows(t1, t2, n, &AT, src, dst);
        }
    }
    for yx in 0..M * M {
        let src: [usize; A] = std::array::from_fn(|z| z * M * M + yx);
        let dst: [usize; M] = std::array::from_fn(|oz| oz * M * M + yx);
        mat_rows(t2, out, n, &AT, src, dst);
    }
}

/// Scratch of one worker: where the batch's blocks start and which cross the edge,
/// transformed input (`points × cin × blocks`), products (`points × cout × blocks`), one
/// channel's gathered blocks and the transforms' buffers.
#[derive(Default)]
struct Scratch {
    bases: Vec<usize>,
    edges: Vec<usize>,
    v: Vec<f32>,
    m: Vec<f32>,
    tile: Vec<f32>,
    tmp: Vec<f32>,
    tmp2: Vec<f32>,
    out: Vec<f32>,
}

/// A 3×3×3 kernel of `cin → cout` channels transformed for [`WinogradKernel::apply`]
/// (`G g Gᵀ` per channel pair, `[point][cout][cin]`): made once per layer, applied to every
/// window and region.
pub struct WinogradKernel {
    u: Vec<f32>,
    cin: usize,
    cout: usize,
}

impl WinogradKernel {
    /// Transforms `weight[cout][cin][3][3][3]` (PyTorch layout).
    ///
    /// # Panics
    /// When `weight` is shorter than `cout · cin · 27`.
    pub fn new(weight: &[f32], cin: usize, cout: usize) -> Self {
        assert!(
            weight.len() >= cout * cin * 27,
            "WinogradKernel: weight too short"
        );
        Self {
            u: transform_weights(weight, cin, cout),
            cin,
            cout,
        }
    }

    /// The "same" convolution of `x` (`[cin][d][h][w]`) with this kernel and `bias[cout]`, then
    /// the leaky ReLU of slope `leak` when given, by Winograd F(4×4×4, 3×3×3): returns
    /// `[cout][d][h][w]`, equal to [`super::conv3d`] to float rounding. Any sizes (odd ones
    /// included: blocks past the edge read zeros and write nothing). Batches of
    /// [`BATCH_BLOCKS`] output blocks run in parallel on rayon.
    ///
    /// # Panics
    /// When `x` does not have `cin` channels, `bias` is not `cout` long or `x.data` is
    /// shorter than its shape.
    pub fn apply(&self, x: &Cdhw, bias: &[f32], leak: Option<f32>) -> Cdhw {
        assert!(
            x.channels == self.cin && bias.len() == self.cout,
            "WinogradKernel::apply: {} channels in, {} biases for a {}→{} kernel",
            x.channels,
            bias.len(),
            self.cin,
            self.cout
        );
        apply(x, &self.u, bias, leak)
    }
}

/// The "same" 3×3×3 convolution of `x` (`[cin][d][h][w]`) with `weight[cout][cin][3][3][3]`
/// (PyTorch layout) and `bias[cout]`, then the leaky ReLU of slope `leak` when given:
/// [`WinogradKernel::new`] then [`WinogradKernel::apply`].
///
/// # Panics
/// When `weight` is shorter than `cout · cin · 27` or `x.data` than its shape.
pub fn conv3d_winograd(x: &Cdhw, weight: &[f32], bias: &[f32], leak: Option<f32>) -> Cdhw {
    WinogradKernel::new(weight, x.channels, bias.len()).apply(x, bias, leak)
}

fn apply(x: &Cdhw, u: &[f32], bias: &[f32], leak: Option<f32>) -> Cdhw {
    let cin = x.channels;
    let [d, h, w] = x.shape;
    let cout = bias.len();
    let plane = h * w;
    let volume = d * plane;
    assert!(
        x.data.len() >= cin * volume,
        "conv3d_winograd: input too short"
    );
    let (bd, bh, bw) = (d.div_ceil(M), h.div_ceil(M), w.div_ceil(M));
    let blocks = bd * bh * bw;
    let mut y = vec![0.0f32; cout * volume];
    // Batches write disjoint output blocks of `y`, through its address.
    let y_addr = y.as_mut_ptr() as usize;
    (0..blocks.div_ceil(BATCH_BLOCKS))
        .into_par_iter()
        .for_each_init(Scratch::default, |s, batch| {
            let first = batch * BATCH_BLOCKS;
            let n = (blocks - first).min(BATCH_BLOCKS);
            let origin = |t: usize| {
                let b = first + t;
                [M * (b / (bh * bw)), M * ((b / bw) % bh), M * (b % bw)]
            };
            s.v.resize(POINTS * cin * n, 0.0);
            s.m.resize(POINTS * cout * n, 0.0);
            s.tile.resize(POINTS * n, 0.0);
            s.tmp.resize(POINTS * n, 0.0);
            s.tmp2.resize(POINTS * n, 0.0);
            s.out.resize(M * M * M * n, 0.0);
            // Where each block's input starts in a channel (interior blocks), and the blocks
            // that cross the volume's edge (filled with bounds checks).
            s.bases.clear();
            s.edges.clear();
            for t in 0..n {
                let [z0, y0, x0] = origin(t);
                if z0 >= 1 && z0 + M < d && y0 >= 1 && y0 + M < h && x0 >= 1 && x0 + M < w {
                    s.bases.push(((z0 - 1) * h + y0 - 1) * w + x0 - 1);
                } else {
                    s.bases.push(0);
                    s.edges.push(t);
                }
            }
            for ci in 0..cin {
                let src = &x.data[ci * volume..][..volume];
                // Point by point: each pass reads the batch's blocks in order and writes one
                // contiguous row.
                for p in 0..POINTS {
                    let off = ((p / (A * A)) * h + (p / A) % A) * w + p % A;
                    let row = &mut s.tile[p * n..][..n];
                    for (v, &base) in row.iter_mut().zip(&s.bases) {
                        // Edge blocks are overwritten below.
                        *v = src.get(base + off).copied().unwrap_or(0.0);
                    }
                }
                for &t in &s.edges {
                    let [z0, y0, x0] = origin(t);
                    for p in 0..POINTS {
                        let (iz, iy, ix) = (z0 + p / (A * A), y0 + (p / A) % A, x0 + p % A);
                        // The block starts one voxel before the output block (padding 1).
                        let inside =
                            (1..=d).contains(&iz) && (1..=h).contains(&iy) && (1..=w).contains(&ix);
                        s.tile[p * n + t] = if inside {
                            src[((iz - 1) * h + iy - 1) * w + ix - 1]
                        } else {
                            0.0
                        };
                    }
                }
                transform_input(&s.tile, n, &mut s.tmp, &mut s.tmp2);
                for p in 0..POINTS {
                    s.v[(p * cin + ci) * n..][..n].copy_from_slice(&s.tmp2[p * n..][..n]);
                }
            }
            for p in 0..POINTS {
                // m[p] (cout × n) = u[p] (cout × cin) · v[p] (cin × n), all row-major.
                matmul(
                    cout,
                    n,
                    cin,
                    &mut s.m[p * cout * n..][..cout * n],
                    &u[p * cout * cin..][..cout * cin],
                    &s.v[p * cin * n..][..cin * n],
                );
            }
            for (co, &b) in bias.iter().enumerate() {
                for p in 0..POINTS {
                    s.tile[p * n..][..n].copy_from_slice(&s.m[(p * cout + co) * n..][..n]);
                }
                transform_output(&s.tile, n, &mut s.tmp, &mut s.tmp2, &mut s.out);
                let dst = (y_addr as *mut f32).wrapping_add(co * volume);
                let act = |v: f32| {
                    let v = v + b;
                    match leak {
                        Some(slope) if v < 0.0 => v * slope,
                        _ => v,
                    }
                };
                for t in 0..n {
                    let [z0, y0, x0] = origin(t);
                    if z0 + M <= d && y0 + M <= h && x0 + M <= w {
                        for o in 0..M * M * M {
                            let (z, yy, xx) = (z0 + o / (M * M), y0 + (o / M) % M, x0 + o % M);
                            // SAFETY: as below; the whole block is inside the volume.
                            unsafe { *dst.add((z * h + yy) * w + xx) = act(s.out[o * n + t]) };
                        }
                        continue;
                    }
                    for (o, &v) in s.out.chunks_exact(n).map(|r| &r[t]).enumerate() {
                        let (z, yy, xx) = (z0 + o / (M * M), y0 + (o / M) % M, x0 + o % M);
                        if z >= d || yy >= h || xx >= w {
                            continue;
                        }
                        let v = act(v);
                        // SAFETY: (z, yy, xx) is inside the volume, so the index is inside
                        // channel `co` of `y`; only this batch writes its blocks' voxels,
                        // and `y` outlives the parallel loop.
                        unsafe { *dst.add((z * h + yy) * w + xx) = v };
                    }
                }
            }
        });
    Cdhw {
        channels: cout,
        shape: x.shape,
        data: y,
    }
}
