//! The native 3D convolution (stride 1, "same" zero padding `k/2`) on channels-first volumes,
//! with bias and leaky ReLU fused: what runs Topaz's 3D U-net on a CPU
//! (`models::topaz3d::Kernels3d::NativeCpu`). burn Flex's 3D convolution takes its
//! slow direct path for the one-channel 7³ first layer (33 s against ≈ 3 s here for a 192³
//! window, measured).

use rayon::prelude::*;

use super::im2col::im2col3_rows;
use super::tensor::Cdhw;
use super::{Band, band_px};

/// 3D convolution of `x` (`[cin][d][h][w]`) with `weight[cout][cin][k][k][k]` (PyTorch
/// layout) and `bias[cout]`, then the leaky ReLU of slope `leak` when given: returns
/// `[cout][d][h][w]`.
///
/// Each band (whole rows of one output z-section, about [`Band::Volume`] voxels) is one
/// `gemm` of the weights (`cout × cin·k³`) with the band's im2col matrix ([`im2col3_rows`],
/// `cin·k³ × band`, one buffer per worker thread, reused), written straight into the output;
/// bands run in parallel on rayon. Whole sections as bands (9,216 voxels at 96²) made the
/// im2col matrix 96 MB for the 97→64 output layer, so it and gemm's packing of it streamed
/// through memory: the 3D U-net reached 31 % of this CPU's peak on a 96³ cube against
/// PyTorch's 70 % (`cryolens bench --what denoise3d`).
///
/// # Panics
/// When `weight` is shorter than `cout · cin · k³` or `x.data` than its shape.
pub fn conv3d(x: &Cdhw, weight: &[f32], bias: &[f32], k: usize, leak: Option<f32>) -> Cdhw {
    let cin = x.channels;
    let [d, h, w] = x.shape;
    let cout = bias.len();
    let kdim = cin * k * k * k;
    let plane = h * w;
    assert!(
        weight.len() >= cout * kdim && x.data.len() >= cin * d * plane,
        "conv3d: slices too short"
    );
    let rows_per_band = (band_px(Band::Volume) / w.max(1)).clamp(1, h.max(1));
    let bands = h.div_ceil(rows_per_band);
    let mut y = vec![0.0f32; cout * d * plane];
    // Bands write disjoint parts of `y` (columns z·plane + rows·w of each channel's rows),
    // through its address.
    let y_addr = y.as_mut_ptr() as usize;
    (0..d * bands)
        .into_par_iter()
        .for_each_init(Vec::<f32>::new, |col, t| {
            let (z, b) = (t / bands, t % bands);
            let rows = b * rows_per_band..((b + 1) * rows_per_band).min(h);
            let n = rows.len() * w;
            col.resize(kdim * n, 0.0);
            im2col3_rows(&x.data, cin, x.shape, k, z, rows.clone(), col);
            let out = (y_addr as *mut f32).wrapping_add(z * plane + rows.start * w);
            // y[co·d·plane + z·plane + r0·w + j] = Σ weight[co][·] · col[·][j]: a `cout × n`
            // matrix with row stride d·plane inside `y`; weight `cout × kdim` and col
            // `kdim × n` row-major.
            // SAFETY: `col` and `weight` are fully allocated with these dimensions (checked
            // above); the band's columns of every channel row lie inside `y`
            // (co·d·plane + z·plane + r0·w + n ≤ cout·d·plane) and no other band writes them;
            // `y` outlives the parallel loop.
            unsafe {
                gemm::gemm(
                    cout,
                    n,
                    kdim,
                    out,
                    1,
                    (d * plane) as isize,
                    false,
                    weight.as_ptr(),
                    1,
                    kdim as isize,
                    col.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
                for (co, b) in bias.iter().enumerate() {
                    let row = std::slice::from_raw_parts_mut(out.add(co * d * plane), n);
                    for v in row {
                        let t = *v + b;
                        *v = match leak {
                            Some(slope) if t < 0.0 => t * slope,
                            _ => t,
                        };
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
