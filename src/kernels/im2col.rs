//! Unrolling convolution windows into matrix rows (im2col) so that a convolution becomes one
//! matrix product: for 2D channels-last images ([`im2col`], and the zero-padded copy
//! [`pad_image`] that lets a product read overlapping rows instead), and for one z-section of
//! a 3D channels-first volume ([`im2col3_rows`]). All for "same" convolutions: stride 1,
//! zero padding `k/2`.

use super::tensor::Hwc;

/// Fills `col` (`m × k·k·cin`, row-major, at least that long) with the im2col rows of output
/// pixels `start..start + m` (row-major pixel order) of a "same" (padding k/2) `k`×`k`
/// convolution over the channels-last image `x` (`h × w × cin`); taps outside the image are 0.
/// Row `r`, column `(ky·k + kx)·cin + i` holds `x[oy + ky − k/2, ox + kx − k/2, i]`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn im2col(
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

/// Zero-padded copy of `x`: `(h + 2p) × (w + 2p) × c` followed by `slack` zeros.
///
/// In this layout the `k·cin` values of one kernel row of output pixel `q` (padded-width
/// pixel order) start at `q · cin` of the kernel row's first padded input row: a matrix with
/// overlapping rows (row stride `cin`), which gemm reads without an explicit im2col.
pub fn pad_image(x: &Hwc, p: usize, slack: usize) -> Vec<f32> {
    let (h, w, c) = (x.height, x.width, x.channels);
    let wp = w + 2 * p;
    let mut out = vec![0.0f32; (h + 2 * p) * wp * c + slack];
    for (y, row) in x.data.chunks_exact(w * c).enumerate() {
        let at = ((y + p) * wp + p) * c;
        out[at..at + w * c].copy_from_slice(row);
    }
    out
}

/// Fills `col` (`cin·k³ × rows.len()·w`, row-major, exactly that long) with the im2col
/// matrix of output rows `rows` of output section `z` of a "same" 3D convolution over the
/// channels-first volume `x` (`[cin][d][h][w]`): row `((ci·k + kz)·k + ky)·k + kx` holds the
/// band's pixels of input channel `ci` shifted by `(kz, ky, kx) − k/2`, zero outside the
/// volume. Rows are copied as runs of shifted input rows.
#[inline]
pub fn im2col3_rows(
    x: &[f32],
    cin: usize,
    [d, h, w]: [usize; 3],
    k: usize,
    z: usize,
    rows: std::ops::Range<usize>,
    col: &mut [f32],
) {
    let p = k / 2;
    let plane = h * w;
    let band = rows.len() * w;
    for ci in 0..cin {
        for kz in 0..k {
            let iz = z as isize + kz as isize - p as isize;
            let inside = iz >= 0 && iz < d as isize;
            for ky in 0..k {
                for kx in 0..k {
                    let row = ((ci * k + kz) * k + ky) * k + kx;
                    let dst = &mut col[row * band..(row + 1) * band];
                    if !inside {
                        dst.fill(0.0);
                        continue;
                    }
                    let src_plane = &x[(ci * d + iz as usize) * plane..][..plane];
                    let dx = kx as isize - p as isize;
                    let x0 = (-dx).max(0) as usize;
                    let x1 = (w as isize - dx).clamp(0, w as isize) as usize;
                    for (i, oy) in rows.clone().enumerate() {
                        let line = &mut dst[i * w..(i + 1) * w];
                        let iy = oy as isize + ky as isize - p as isize;
                        if iy < 0 || iy >= h as isize || x0 >= x1 {
                            line.fill(0.0);
                            continue;
                        }
                        line[..x0].fill(0.0);
                        line[x1..].fill(0.0);
                        let s0 = iy as usize * w + (x0 as isize + dx) as usize;
                        line[x0..x1].copy_from_slice(&src_plane[s0..s0 + (x1 - x0)]);
                    }
                }
            }
        }
    }
}
