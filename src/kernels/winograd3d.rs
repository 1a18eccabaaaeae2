//! Winograd F(2×2×2, 3×3×3) for the 3D U-nets' 3×3×3 convolutions (Lavin & Gray 2016,
//! "Fast algorithms for convolutional neural networks", the one-dimensional F(2, 3) nested
//! along z, y and x).
//!
//! Each 2×2×2 block of output voxels comes from the 4×4×4 block of input around it: the input
//! block is transformed (`Bᵀ d B` along each axis), multiplied point by point with the
//! transformed 3×3×3 kernel (`G g Gᵀ`), summed over input channels and transformed back
//! (`Aᵀ m A`). The sum over channels at each of the 64 transform points is one matrix
//! product over a batch of blocks, `(cout × cin) · (cin × blocks)`, so the work is 64
//! products instead of the direct convolution's 216 multiply-adds per 8 outputs and input
//! channel: 3.4× fewer, with transforms that are only additions and halvings. Rounding
//! stays at the direct convolution's order (F(2, 3)'s transforms have entries 0, ±½, ±1).
//!
//! [`winograd_pays`] picks it for the layers where the products dominate (3×3×3, at least 16
//! channels in and out); the 7³ first layer and the one-channel output stay direct
//! ([`super::conv3d`]).

use rayon::prelude::*;

use super::tensor::Cdhw;

/// Transform points per 2×2×2 output block: a 4×4×4 input block.
const POINTS: usize = 64;

/// Output blocks per batch: one matrix product per transform point over the batch. 128
/// blocks keep a batch's transformed input (64 × cin × 128 floats, 4.7 MB at 144 channels)
/// near the cache while the products stay wide enough for `gemm`.
const BATCH_BLOCKS: usize = 128;

/// Whether [`conv3d_winograd`] runs a `k³` convolution of `cin → cout` channels: 3×3×3
/// with at least 16 channels in and out (narrower products lose more to the transforms
/// than they save).
pub fn winograd_pays(k: usize, cin: usize, cout: usize) -> bool {
    k == 3 && cin >= 16 && cout >= 16
}

/// The kernel transform `G g Gᵀ` along each axis: `[point][cout][cin]` from
/// `weight[cout][cin][3][3][3]` (PyTorch layout), point = `(z·4 + y)·4 + x`.
fn transform_weights(weight: &[f32], cin: usize, cout: usize) -> Vec<f32> {
    const G: [[f32; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut u = vec![0.0f32; POINTS * cout * cin];
    for co in 0..cout {
        for ci in 0..cin {
            let g = &weight[(co * cin + ci) * 27..][..27];
            // x: [kz][ky][a]; y: [kz][b][a]; z: [c][b][a].
            let mut t1 = [0.0f32; 36];
            for r in 0..9 {
                for a in 0..4 {
                    t1[r * 4 + a] = (0..3).map(|kx| G[a][kx] * g[r * 3 + kx]).sum();
                }
            }
            let mut t2 = [0.0f32; 48];
            for kz in 0..3 {
                for b in 0..4 {
                    for a in 0..4 {
                        t2[(kz * 4 + b) * 4 + a] =
                            (0..3).map(|ky| G[b][ky] * t1[(kz * 3 + ky) * 4 + a]).sum();
                    }
                }
            }
            for c in 0..4 {
                for ba in 0..16 {
                    let v: f32 = (0..3).map(|kz| G[c][kz] * t2[kz * 16 + ba]).sum();
                    u[((c * 16 + ba) * cout + co) * cin + ci] = v;
                }
            }
        }
    }
    u
}

/// `Bᵀ` along one axis of `buf` (`[point][n]`): the four rows `rows` (point indices)
/// become `d0 − d2, d1 + d2, d2 − d1, d1 − d3`, for every column.
fn input_rows(buf: &mut [f32], n: usize, rows: [usize; 4]) {
    let Ok([r0, r1, r2, r3]) = buf.get_disjoint_mut(rows.map(|r| r * n..(r + 1) * n)) else {
        unreachable!("four distinct rows of the block");
    };
    for (((a, b), c), e) in r0
        .iter_mut()
        .zip(r1.iter_mut())
        .zip(r2.iter_mut())
        .zip(r3.iter_mut())
    {
        let (d0, d1, d2, d3) = (*a, *b, *c, *e);
        *a = d0 - d2;
        *b = d1 + d2;
        *c = d2 - d1;
        *e = d1 - d3;
    }
}

/// `Bᵀ d B` along x, y and z of every column of `buf` (`[point][n]`, in place).
fn transform_input(buf: &mut [f32], n: usize) {
    let at = |z: usize, y: usize, x: usize| (z * 4 + y) * 4 + x;
    for p in 0..4 {
        for q in 0..4 {
            input_rows(buf, n, [0, 1, 2, 3].map(|x| at(p, q, x)));
        }
    }
    for p in 0..4 {
        for q in 0..4 {
            input_rows(buf, n, [0, 1, 2, 3].map(|y| at(p, y, q)));
        }
    }
    for p in 0..4 {
        for q in 0..4 {
            input_rows(buf, n, [0, 1, 2, 3].map(|z| at(z, p, q)));
        }
    }
}

/// `Aᵀ m A` along x, y and z: `out` (`[8][n]`, `(oz·2 + oy)·2 + ox`) from `m` (`[64][n]`);
/// `tmp` is scratch of `48 · n`.
fn transform_output(m: &[f32], n: usize, tmp: &mut [f32], out: &mut [f32]) {
    // 1D: o0 = m0 + m1 + m2, o1 = m1 − m2 − m3.
    let step = |src: &[f32], dst: &mut [f32], s: [usize; 4], d: [usize; 2]| {
        let [m0, m1, m2, m3] = s.map(|r| &src[r * n..(r + 1) * n]);
        let Ok([o0, o1]) = dst.get_disjoint_mut(d.map(|r| r * n..(r + 1) * n)) else {
            unreachable!("two distinct output rows");
        };
        for j in 0..n {
            o0[j] = m0[j] + m1[j] + m2[j];
            o1[j] = m1[j] - m2[j] - m3[j];
        }
    };
    let (t1, t2) = tmp.split_at_mut(32 * n);
    // x: [z][y][ox] (32 rows).
    for zy in 0..16 {
        step(
            m,
            t1,
            [0, 1, 2, 3].map(|x| zy * 4 + x),
            [zy * 2, zy * 2 + 1],
        );
    }
    // y: [z][oy][ox] (16 rows).
    for z in 0..4 {
        for ox in 0..2 {
            step(
                t1,
                t2,
                [0, 1, 2, 3].map(|y| (z * 4 + y) * 2 + ox),
                [(z * 2) * 2 + ox, (z * 2 + 1) * 2 + ox],
            );
        }
    }
    // z: [oz][oy][ox] (8 rows).
    for yx in 0..4 {
        step(t2, out, [0, 1, 2, 3].map(|z| z * 4 + yx), [yx, 4 + yx]);
    }
}

/// Scratch of one worker: where the batch's blocks start and which cross the edge,
/// transformed input (`64 × cin × blocks`), products (`64 × cout ×
/// blocks`), one channel's gathered blocks and the output transform's buffers.
#[derive(Default)]
struct Scratch {
    bases: Vec<usize>,
    edges: Vec<usize>,
    v: Vec<f32>,
    m: Vec<f32>,
    tile: Vec<f32>,
    tmp: Vec<f32>,
    out: Vec<f32>,
}

/// The "same" 3×3×3 convolution of `x` (`[cin][d][h][w]`) with `weight[cout][cin][3][3][3]`
/// (PyTorch layout) and `bias[cout]`, then the leaky ReLU of slope `leak` when given, by
/// Winograd F(2×2×2, 3×3×3): returns `[cout][d][h][w]`, equal to [`super::conv3d`] to float
/// rounding. Any sizes (odd ones included: blocks past the edge read zeros and write
/// nothing). Batches of [`BATCH_BLOCKS`] output blocks run in parallel on rayon.
///
/// # Panics
/// When `weight` is shorter than `cout · cin · 27` or `x.data` than its shape.
pub fn conv3d_winograd(x: &Cdhw, weight: &[f32], bias: &[f32], leak: Option<f32>) -> Cdhw {
    let cin = x.channels;
    let [d, h, w] = x.shape;
    let cout = bias.len();
    let plane = h * w;
    let volume = d * plane;
    assert!(
        weight.len() >= cout * cin * 27 && x.data.len() >= cin * volume,
        "conv3d_winograd: slices too short"
    );
    let u = transform_weights(weight, cin, cout);
    let (bd, bh, bw) = (d.div_ceil(2), h.div_ceil(2), w.div_ceil(2));
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
                [2 * (b / (bh * bw)), 2 * ((b / bw) % bh), 2 * (b % bw)]
            };
            s.v.resize(POINTS * cin * n, 0.0);
            s.m.resize(POINTS * cout * n, 0.0);
            s.tile.resize(POINTS * n, 0.0);
            s.tmp.resize(48 * n, 0.0);
            s.out.resize(8 * n, 0.0);
            // Where each block's input starts in a channel (interior blocks), and the blocks
            // that cross the volume's edge (filled with bounds checks).
            s.bases.clear();
            s.edges.clear();
            for t in 0..n {
                let [z0, y0, x0] = origin(t);
                if z0 >= 1 && z0 + 3 <= d && y0 >= 1 && y0 + 3 <= h && x0 >= 1 && x0 + 3 <= w {
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
                    let off = ((p / 16) * h + (p / 4) % 4) * w + p % 4;
                    let row = &mut s.tile[p * n..][..n];
                    for (v, &base) in row.iter_mut().zip(&s.bases) {
                        // Edge blocks are overwritten below.
                        *v = src.get(base + off).copied().unwrap_or(0.0);
                    }
                }
                for &t in &s.edges {
                    let [z0, y0, x0] = origin(t);
                    for p in 0..POINTS {
                        let (iz, iy, ix) = (z0 + p / 16, y0 + (p / 4) % 4, x0 + p % 4);
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
                transform_input(&mut s.tile, n);
                for p in 0..POINTS {
                    s.v[(p * cin + ci) * n..][..n].copy_from_slice(&s.tile[p * n..][..n]);
                }
            }
            for p in 0..POINTS {
                // m[p] (cout × n) = u[p] (cout × cin) · v[p] (cin × n), all row-major.
                // SAFETY: the three matrices lie inside `s.m`, `u` and `s.v`, sized above.
                unsafe {
                    gemm::gemm(
                        cout,
                        n,
                        cin,
                        s.m.as_mut_ptr().add(p * cout * n),
                        1,
                        n as isize,
                        false,
                        u.as_ptr().add(p * cout * cin),
                        1,
                        cin as isize,
                        s.v.as_ptr().add(p * cin * n),
                        1,
                        n as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
            for (co, &b) in bias.iter().enumerate() {
                for p in 0..POINTS {
                    s.tile[p * n..][..n].copy_from_slice(&s.m[(p * cout + co) * n..][..n]);
                }
                transform_output(&s.tile, n, &mut s.tmp, &mut s.out);
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
                    if z0 + 2 <= d && y0 + 2 <= h && x0 + 2 <= w {
                        for o in 0..8 {
                            let (z, yy, xx) = (z0 + o / 4, y0 + (o / 2) % 2, x0 + o % 2);
                            // SAFETY: as below; the whole block is inside the volume.
                            unsafe { *dst.add((z * h + yy) * w + xx) = act(s.out[o * n + t]) };
                        }
                        continue;
                    }
                    for (o, &v) in s.out.chunks_exact(n).map(|r| &r[t]).enumerate() {
                        let (z, yy, xx) = (z0 + o / 4, y0 + (o / 2) % 2, x0 + o % 2);
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
