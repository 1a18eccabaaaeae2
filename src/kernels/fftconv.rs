//! FFT convolution for wide kernels: the same "same" convolution as
//! [`Conv2dWeights::forward`] (stride 1, zero padding `k/2`, cross-correlation like PyTorch's
//! `Conv2d`), computed by overlap-save on `n × n` tiles, where one output pixel costs
//! `8·cin·cout` flops per frequency bin instead of `2·k²·cin·cout` per pixel.
//!
//! Why: Topaz's fcnn is three 11×11 convolutions (64→64 in the middle: 991 kFLOP per output
//! pixel direct) and the unet's output block three 5×5 ones at full resolution (72 % of its
//! work). Direct convolution (im2col + `gemm`) cannot beat PyTorch by much on those: both are
//! bound by the same multiply-adds. In the Fourier domain the 64→64 11×11 layer costs about
//! 24 kFLOP of complex products per pixel plus the transforms (measured in `cryolens bench`).
//!
//! # Method
//! The image is cut into output tiles of `t = n − k + 1` pixels per side; each tile reads the
//! `n × n` input window starting `k/2` pixels above and left of it (zeros outside the image).
//! With `X_c` the 2D DFT of channel `c` of that window and `W_oc` the DFT of the kernel placed
//! at the window's origin, the circular cross-correlation `IDFT(Σ_c X_c · conj(W_oc))` equals
//! the linear one at the `t × t` positions that do not wrap. Per frequency bin `f`, the sum
//! over channels for a batch of tiles is one complex matrix product
//! `Y_f (tiles × cout) = X_f (tiles × cin) · Wᵀ_f (cin × cout)` (`gemm`'s c32 kernels).
//! The real 2D DFT is a real FFT along rows (`realfft`) then complex FFTs along the `n/2 + 1`
//! columns (`rustfft`); bins are stored column-major, `f = column · n + row`.
//!
//! Numerics: f32 FFTs; against the direct convolution the difference is a few 1e-6 of the
//! output's σ (`kernels::tests`), far inside the 1e-3 σ parity with Topaz.

use std::sync::Arc;

use gemm::c32;
use rayon::prelude::*;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use super::conv2d::{Conv2dWeights, bias_act};
use super::tensor::Hwc;

/// FFT side of the tiles (pixels).
pub const FFT_SIDE: usize = 64;

/// Floats between the output planes of one tile: `n²` plus one cache line, so that reading
/// one pixel of every plane does not hit a single cache set (planes of 16 KiB alias).
const PLANE: usize = FFT_SIDE * FFT_SIDE + 16;

thread_local! {
    /// The spectra buffers of [`FftConv::forward`], kept by each calling thread between calls.
    static SCRATCH: std::cell::RefCell<(Vec<c32>, Vec<c32>)> = Default::default();
}

/// Tiles per batch of complex products: enough rows for `gemm` to run near its peak, few
/// enough that the batch's spectra (3 × tiles × channels × bins × 8 bytes) stay ≈ 100 MiB.
const BATCH_TILES: usize = 32;

/// Whether the FFT path is cheaper than the direct one for a `k × k`, `cin → cout`
/// convolution, by a cost model in seconds per million output pixels fitted to
/// `cryolens bench --what kernels` (each layer alone on 1024²) on the development machine
/// (2 cores, AVX2; December 2026):
/// - direct: `k²·cin · (2·cout / 130 GFLOP/s + 0.15 ns)`: `gemm` at ≈ 130 GFLOP/s plus the
///   im2col copy, which dominates when `cout` is small (64→1 at 11×11: 11 GFLOP/s);
/// - FFT: `((cin + cout) · 5 ms + cin·cout · 60 µs) · (54 / t)²`: the 2D transforms of every
///   input and output channel plus the complex products, over the `t²` output pixels of a
///   tile (`t = 64 − k + 1`).
///
/// The FFT is chosen when it is estimated at least 20 % faster; kernels narrower than 5
/// pixels always run directly. Measured per million pixels: 64→64 11×11 7.7 s direct against
/// 0.92 s FFT; 64→1 11×11 1.47 against 0.41; 97→64 5×5 2.2 against 1.2; 1→64 11×11 stays
/// direct (0.22 against 0.46), as do 32→1 5×5 and 48→48 3×3.
pub fn fft_pays(k: usize, cin: usize, cout: usize) -> bool {
    let n = FFT_SIDE;
    if k < 5 || k >= n / 2 {
        return false;
    }
    let t = (n - k + 1) as f64;
    let (cin, cout) = (cin as f64, cout as f64);
    let direct = (k * k) as f64 * cin * (2.0 * cout / 130e9 + 0.15e-9) * 1e6;
    let fft = ((cin + cout) * 5e-3 + cin * cout * 60e-6) * (54.0 / t).powi(2);
    fft < 0.8 * direct
}

/// One convolution prepared for the FFT path: the conjugated, scaled kernel spectra and the
/// transform plans.
pub struct FftConv {
    k: usize,
    cin: usize,
    cout: usize,
    /// `[bin][cin][cout]`: `conj(DFT(w_oc)) / n²` (the inverse transform's scale folded in).
    spectra: Vec<c32>,
    bias: Vec<f32>,
    plans: Plans,
}

impl std::fmt::Debug for FftConv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FftConv({}×{}, {}→{}, {} tiles)",
            self.k, self.k, self.cin, self.cout, FFT_SIDE
        )
    }
}

/// The 2D real transforms of `n × n` blocks.
#[derive(Clone)]
struct Plans {
    n: usize,
    r2c: Arc<dyn RealToComplex<f32>>,
    c2r: Arc<dyn ComplexToReal<f32>>,
    forward: Arc<dyn Fft<f32>>,
    inverse: Arc<dyn Fft<f32>>,
}

/// Per-thread buffers of the 2D transforms.
struct Work {
    rows: Vec<c32>,
    scratch: Vec<c32>,
    real: Vec<f32>,
}

impl Plans {
    fn new(n: usize) -> Self {
        let mut real = RealFftPlanner::<f32>::new();
        let mut complex = FftPlanner::<f32>::new();
        Self {
            n,
            r2c: real.plan_fft_forward(n),
            c2r: real.plan_fft_inverse(n),
            forward: complex.plan_fft_forward(n),
            inverse: complex.plan_fft_inverse(n),
        }
    }

    fn bins(&self) -> usize {
        self.n * (self.n / 2 + 1)
    }

    fn work(&self) -> Work {
        let scratch = [
            self.r2c.get_scratch_len(),
            self.c2r.get_scratch_len(),
            self.forward.get_inplace_scratch_len(),
            self.inverse.get_inplace_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Work {
            rows: vec![c32::new(0.0, 0.0); self.bins()],
            scratch: vec![c32::new(0.0, 0.0); scratch],
            real: vec![0.0; self.n],
        }
    }

    /// The 2D DFT of the row-major `n × n` block `block` (overwritten) into `out`
    /// (`bins()` values, column-major: `out[column · n + row]`).
    fn forward_2d(&self, block: &mut [f32], out: &mut [c32], w: &mut Work) {
        let (n, nc) = (self.n, self.n / 2 + 1);
        for (row, spec) in block.chunks_exact_mut(n).zip(w.rows.chunks_exact_mut(nc)) {
            // Lengths are the plan's: cannot fail.
            let _ = self.r2c.process_with_scratch(row, spec, &mut w.scratch);
        }
        for r in 0..n {
            for c in 0..nc {
                out[c * n + r] = w.rows[r * nc + c];
            }
        }
        self.forward.process_with_scratch(out, &mut w.scratch);
    }

    /// The inverse of [`Plans::forward_2d`] without the `1/n²` scale: `spec` (column-major,
    /// overwritten) to the row-major `n × n` block `out`.
    fn inverse_2d(&self, spec: &mut [c32], out: &mut [f32], w: &mut Work) {
        let (n, nc) = (self.n, self.n / 2 + 1);
        self.inverse.process_with_scratch(spec, &mut w.scratch);
        for r in 0..n {
            for c in 0..nc {
                w.rows[r * nc + c] = spec[c * n + r];
            }
        }
        for (row, dst) in w.rows.chunks_exact_mut(nc).zip(out.chunks_exact_mut(n)) {
            // A real signal's DC and Nyquist bins are real; drop the rounding in them.
            row[0].im = 0.0;
            row[nc - 1].im = 0.0;
            let _ = self
                .c2r
                .process_with_scratch(row, &mut w.real, &mut w.scratch);
            dst.copy_from_slice(&w.real);
        }
    }
}

impl FftConv {
    /// Transforms the kernels of `weights` (`[tap][cin][cout]`) for tiles of [`FFT_SIDE`].
    ///
    /// # Panics
    /// When the kernel is not narrower than half the FFT side.
    pub fn new(weights: &Conv2dWeights) -> Self {
        let (k, cin, cout) = (weights.k, weights.cin, weights.cout);
        let n = FFT_SIDE;
        assert!(k < n / 2, "kernel {k} too wide for {n}² FFT tiles");
        let plans = Plans::new(n);
        let bins = plans.bins();
        let scale = 1.0 / (n * n) as f32;
        // Input channels in parallel: `[cin][bin][cout]` first, then regrouped by bin.
        let per_channel: Vec<Vec<c32>> = (0..cin)
            .into_par_iter()
            .map(|c| {
                let mut work = plans.work();
                let mut block = vec![0.0f32; n * n];
                let mut spec = vec![c32::new(0.0, 0.0); bins];
                let mut out = vec![c32::new(0.0, 0.0); bins * cout];
                for o in 0..cout {
                    block.fill(0.0);
                    for u in 0..k {
                        for v in 0..k {
                            block[u * n + v] = weights.weights[((u * k + v) * cin + c) * cout + o];
                        }
                    }
                    plans.forward_2d(&mut block, &mut spec, &mut work);
                    for (f, s) in spec.iter().enumerate() {
                        out[f * cout + o] = s.conj() * scale;
                    }
                }
                out
            })
            .collect();
        let mut spectra = vec![c32::new(0.0, 0.0); bins * cin * cout];
        for (c, channel) in per_channel.iter().enumerate() {
            for (f, values) in channel.chunks_exact(cout).enumerate() {
                spectra[(f * cin + c) * cout..][..cout].copy_from_slice(values);
            }
        }
        Self {
            k,
            cin,
            cout,
            spectra,
            bias: weights.bias.clone(),
            plans,
        }
    }

    /// The convolution of `x` (`cin` channels), then bias and (if `leak` is given) the leaky
    /// ReLU of that slope: the same values as [`Conv2dWeights::forward`] to f32 rounding.
    ///
    /// # Panics
    /// When `x` does not have `cin` channels.
    pub fn forward(&self, x: &Hwc, leak: Option<f32>) -> Hwc {
        assert_eq!(x.channels, self.cin);
        let (h, w, cout) = (x.height, x.width, self.cout);
        let n = self.plans.n;
        let t = n - self.k + 1;
        let tiles_x = w.div_ceil(t);
        let rows_per_batch = BATCH_TILES.div_ceil(tiles_x).max(1);
        let mut out = vec![0.0f32; h * w * cout];
        // Two spectra buffers, reused by every batch and, through the calling thread's
        // scratch, by the next call (a U-net's strips call this many times: fresh buffers
        // each time cost a page fault per 4 KiB, measured ≈ 15 % of a 1024² unet).
        let (mut a, mut b) = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        for (bi, out_rows) in out.chunks_mut(rows_per_batch * t * w * cout).enumerate() {
            let ty0 = bi * rows_per_batch;
            let tile_rows = (out_rows.len() / (w * cout)).div_ceil(t);
            let tiles: Vec<(usize, usize)> = (0..tile_rows)
                .flat_map(|r| (0..tiles_x).map(move |c| (ty0 + r, c)))
                .collect();
            let nt = tiles.len();
            let bins = self.plans.bins();
            self.spectra_of(x, &tiles, &mut a);
            // [tile][cin][bin] → [bin][tile][cin]
            transpose(&a, nt * self.cin, bins, &mut b);
            self.products(&b, nt, &mut a);
            // [bin][tile][cout] → [tile][cout][bin]
            transpose(&a, bins, nt * cout, &mut b);
            let y = &b;
            out_rows
                .par_chunks_mut(t * w * cout)
                .enumerate()
                .for_each_init(
                    || {
                        let spec = vec![c32::new(0.0, 0.0); bins];
                        (self.plans.work(), spec, vec![0.0f32; cout * PLANE])
                    },
                    |(work, spec, block), (r, dst)| {
                        for tx in 0..tiles_x {
                            self.tile_output(y, r * tiles_x + tx, block, spec, work);
                            write_tile(block, dst, w, tx * t, t, n, cout);
                        }
                        bias_act(dst, &self.bias, leak);
                    },
                );
        }
        SCRATCH.with(|s| *s.borrow_mut() = (a, b));
        Hwc {
            height: h,
            width: w,
            channels: cout,
            data: out,
        }
    }

    /// `[tile][cin][bin]` into `dst`: the input windows' spectra of `tiles` (tile row, tile
    /// column).
    fn spectra_of(&self, x: &Hwc, tiles: &[(usize, usize)], per_tile: &mut Vec<c32>) {
        let (n, cin, bins) = (self.plans.n, self.cin, self.plans.bins());
        let t = n - self.k + 1;
        let p = (self.k / 2) as isize;
        per_tile.resize(tiles.len() * cin * bins, c32::new(0.0, 0.0));
        per_tile
            .par_chunks_mut(cin * bins)
            .zip(tiles)
            .for_each_init(
                || {
                    (
                        self.plans.work(),
                        vec![0.0f32; cin * n * n],
                        vec![0.0f32; n * n],
                    )
                },
                |(work, window, block), (dst, &(ty, tx))| {
                    gather_window(x, (ty * t) as isize - p, (tx * t) as isize - p, n, window);
                    for (c, spec) in dst.chunks_exact_mut(bins).enumerate() {
                        for (v, px) in block.iter_mut().zip(window.chunks_exact(cin)) {
                            *v = px[c];
                        }
                        self.plans.forward_2d(block, spec, work);
                    }
                },
            );
    }

    /// `[bin][tile][cout]` into `y`: per bin, the product of the `nt` tiles' spectra `x`
    /// (`[bin][tile][cin]`) with the kernels'.
    fn products(&self, x: &[c32], nt: usize, y: &mut Vec<c32>) {
        let (cin, cout) = (self.cin, self.cout);
        y.resize(self.plans.bins() * nt * cout, c32::new(0.0, 0.0));
        y.par_chunks_mut(nt * cout)
            .zip(x.par_chunks(nt * cin))
            .zip(self.spectra.par_chunks(cin * cout))
            .for_each(|((dst, lhs), rhs)| {
                // SAFETY: dst is nt × cout, lhs nt × cin, rhs cin × cout, all row-major with
                // column stride 1 and the lengths checked by the chunking above.
                unsafe {
                    gemm::gemm(
                        nt,
                        cout,
                        cin,
                        dst.as_mut_ptr(),
                        1,
                        cout as isize,
                        false,
                        lhs.as_ptr(),
                        1,
                        cin as isize,
                        rhs.as_ptr(),
                        1,
                        cout as isize,
                        c32::new(0.0, 0.0),
                        c32::new(1.0, 0.0),
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            });
    }

    /// Tile `tile`'s output, `[cout][n × n]` row-major blocks (valid in the top-left `t × t`),
    /// from the products `y` (`[tile][cout][bin]`).
    fn tile_output(
        &self,
        y: &[c32],
        tile: usize,
        block: &mut [f32],
        spec: &mut [c32],
        work: &mut Work,
    ) {
        let (n, cout, bins) = (self.plans.n, self.cout, self.plans.bins());
        let src = &y[tile * cout * bins..][..cout * bins];
        for (dst, s) in block.chunks_exact_mut(PLANE).zip(src.chunks_exact(bins)) {
            spec.copy_from_slice(s);
            self.plans.inverse_2d(spec, &mut dst[..n * n], work);
        }
    }
}

/// The transpose of the row-major `rows × cols` matrix `src` into `out`, in parallel over
/// blocks of 16 output rows (each read of `src` then covers two cache lines).
fn transpose(src: &[c32], rows: usize, cols: usize, out: &mut Vec<c32>) {
    const B: usize = 16;
    out.resize(rows * cols, c32::new(0.0, 0.0));
    out.par_chunks_mut(B * rows)
        .enumerate()
        .for_each(|(cb, dst)| {
            let c0 = cb * B;
            let nc = dst.len() / rows;
            for r0 in (0..rows).step_by(B) {
                for r in r0..(r0 + B).min(rows) {
                    let s = &src[r * cols + c0..][..nc];
                    for (dc, v) in s.iter().enumerate() {
                        dst[dc * rows + r] = *v;
                    }
                }
            }
        });
}

/// Copies the `n × n` window of `x` whose top-left pixel is (`y0`, `x0`) (may be negative or
/// past the edge: zeros there) into `window`, channels-last.
fn gather_window(x: &Hwc, y0: isize, x0: isize, n: usize, window: &mut [f32]) {
    let (h, w, c) = (x.height as isize, x.width as isize, x.channels);
    window.fill(0.0);
    let xs = x0.max(0);
    let xe = (x0 + n as isize).min(w);
    if xs >= xe {
        return;
    }
    for r in 0..n as isize {
        let yy = y0 + r;
        if yy < 0 || yy >= h {
            continue;
        }
        let src = &x.data[((yy * w + xs) as usize) * c..((yy * w + xe) as usize) * c];
        let at = ((r * n as isize + xs - x0) as usize) * c;
        window[at..at + src.len()].copy_from_slice(src);
    }
}

/// Writes the valid `t × t` corner of a tile's `[cout][PLANE]` blocks into the tile row
/// `dst` (`rows × w × cout`, channels-last) at column `x0`, clipped to the image.
fn write_tile(
    block: &[f32],
    dst: &mut [f32],
    w: usize,
    x0: usize,
    t: usize,
    n: usize,
    cout: usize,
) {
    let rows = (dst.len() / (w * cout)).min(t);
    let cols = (w - x0).min(t);
    for r in 0..rows {
        for cx in 0..cols {
            let px = &mut dst[((r * w) + x0 + cx) * cout..][..cout];
            for (o, v) in px.iter_mut().enumerate() {
                *v = block[o * PLANE + r * n + cx];
            }
        }
    }
}
