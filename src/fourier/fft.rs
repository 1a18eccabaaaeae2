//! FFT plumbing shared by the filters: cached plans, 1D line operations run in parallel over
//! rows with `rayon`, and transposes to reach columns.
//!
//! Plans come from one `realfft::RealFftPlanner` / `rustfft::FftPlanner` per thread
//! (`thread_local!`): the planners cache every plan they make, so each length is planned once
//! per worker thread and no lock is taken on the hot path.

use std::cell::RefCell;
use std::sync::Arc;

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

thread_local! {
    static REAL_PLANNER: RefCell<RealFftPlanner<f32>> = RefCell::new(RealFftPlanner::new());
    static COMPLEX_PLANNER: RefCell<FftPlanner<f32>> = RefCell::new(FftPlanner::new());
}

/// Forward real-to-complex plan of length `n` (n/2 + 1 output bins), cached per thread.
pub(crate) fn r2c(n: usize) -> Arc<dyn RealToComplex<f32>> {
    REAL_PLANNER.with(|p| p.borrow_mut().plan_fft_forward(n))
}

/// Inverse complex-to-real plan of length `n`, cached per thread. Unnormalised (the caller
/// divides by `n`).
pub(crate) fn c2r(n: usize) -> Arc<dyn ComplexToReal<f32>> {
    REAL_PLANNER.with(|p| p.borrow_mut().plan_fft_inverse(n))
}

/// Forward complex plan of length `n`, cached per thread.
pub(crate) fn forward(n: usize) -> Arc<dyn Fft<f32>> {
    COMPLEX_PLANNER.with(|p| p.borrow_mut().plan_fft_forward(n))
}

/// Buffers for one line transform, reused across lines on a rayon worker.
struct LineBuffers {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    input: Vec<f32>,
    spectrum_in: Vec<Complex<f32>>,
    spectrum_out: Vec<Complex<f32>>,
    scratch_f: Vec<Complex<f32>>,
    scratch_i: Vec<Complex<f32>>,
}

impl LineBuffers {
    fn new(n_in: usize, n_out: usize) -> Self {
        let forward = r2c(n_in);
        let inverse = c2r(n_out);
        Self {
            input: forward.make_input_vec(),
            spectrum_in: forward.make_output_vec(),
            spectrum_out: inverse.make_input_vec(),
            scratch_f: forward.make_scratch_vec(),
            scratch_i: inverse.make_scratch_vec(),
            forward,
            inverse,
        }
    }

    /// Transforms `line_in` (length n_in), lets `map` fill the output spectrum (n_out/2 + 1
    /// bins, zeroed first) from the input spectrum, and writes the inverse transform divided by
    /// `n_out` into `line_out`.
    fn run(
        &mut self,
        line_in: &[f32],
        line_out: &mut [f32],
        map: &(impl Fn(&[Complex<f32>], &mut [Complex<f32>]) + Sync),
    ) {
        self.input.copy_from_slice(line_in);
        // Lengths are right by construction, so the transforms cannot fail.
        let _ = self.forward.process_with_scratch(
            &mut self.input,
            &mut self.spectrum_in,
            &mut self.scratch_f,
        );
        self.spectrum_out
            .iter_mut()
            .for_each(|c| *c = Complex::new(0.0, 0.0));
        map(&self.spectrum_in, &mut self.spectrum_out);
        // The inverse of a real signal needs real DC and (even length) Nyquist bins.
        let n_out = line_out.len();
        if let Some(c) = self.spectrum_out.first_mut() {
            c.im = 0.0;
        }
        if n_out.is_multiple_of(2)
            && let Some(c) = self.spectrum_out.last_mut()
        {
            c.im = 0.0;
        }
        let _ = self.inverse.process_with_scratch(
            &mut self.spectrum_out,
            line_out,
            &mut self.scratch_i,
        );
        let norm = 1.0 / n_out as f32;
        line_out.iter_mut().for_each(|v| *v *= norm);
    }
}

/// For each of the `data.len() / n_in` lines of length `n_in`, computes a line of length
/// `n_out` whose spectrum `map` builds from the line's spectrum (both real-FFT half spectra,
/// unnormalised forward transform; the inverse is divided by `n_out`). Lines run in parallel.
pub(crate) fn map_lines(
    data: &[f32],
    n_in: usize,
    n_out: usize,
    map: impl Fn(&[Complex<f32>], &mut [Complex<f32>]) + Sync,
) -> Vec<f32> {
    if n_in == 0 || n_out == 0 {
        return Vec::new();
    }
    let lines = data.len() / n_in;
    let mut out = vec![0.0f32; lines * n_out];
    out.par_chunks_mut(n_out)
        .zip(data.par_chunks(n_in))
        .with_min_len(8)
        .for_each_init(
            || LineBuffers::new(n_in, n_out),
            |buf, (line_out, line_in)| buf.run(line_in, line_out, &map),
        );
    out
}

/// Multiplies the spectrum of every line of length `n` by `gain(k)` (k = 0..=n/2, frequency
/// k/n cycles per pixel; the same gain applies to −k, so the filter is real and symmetric).
pub(crate) fn filter_lines(
    data: &[f32],
    n: usize,
    gain: &(impl Fn(usize) -> f32 + Sync),
) -> Vec<f32> {
    let gains: Vec<f32> = (0..n / 2 + 1).map(gain).collect();
    map_lines(data, n, n, |src, dst| {
        for ((d, s), g) in dst.iter_mut().zip(src).zip(&gains) {
            *d = s * *g;
        }
    })
}

/// Band-limited resampling of every line from `n_in` to `n_out` samples: Fourier crop
/// (`n_out < n_in`) or zero-pad (`n_out > n_in`), scaled so the mean is kept.
///
/// Frequencies |k| < m/2 (m = min(n_in, n_out)) are copied. For even m the bin k = m/2 stands
/// for both ±m/2: when cropping it receives the sum of the two (2·Re X[m/2]), when padding
/// the input's Nyquist value is split evenly between +m/2 and −m/2. So pad-then-crop is the
/// identity, and crop-then-pad is the identity for lines without content at |k| ≥ m/2.
pub(crate) fn resample_lines(data: &[f32], n_in: usize, n_out: usize) -> Vec<f32> {
    let m = n_in.min(n_out);
    let scale = n_out as f32 / n_in as f32;
    map_lines(data, n_in, n_out, |src, dst| {
        let plain = if m.is_multiple_of(2) {
            m / 2
        } else {
            m / 2 + 1
        };
        for k in 0..plain.min(src.len()).min(dst.len()) {
            dst[k] = src[k] * scale;
        }
        if m.is_multiple_of(2) {
            let k = m / 2;
            if let (Some(s), Some(d)) = (src.get(k), dst.get_mut(k)) {
                *d = match n_out.cmp(&n_in) {
                    std::cmp::Ordering::Less => Complex::new(2.0 * s.re * scale, 0.0),
                    std::cmp::Ordering::Greater => Complex::new(0.5 * s.re * scale, 0.0),
                    std::cmp::Ordering::Equal => *s,
                };
            }
        }
    })
}

/// Transpose of a `rows × cols` row-major matrix into `cols × rows`, in cache blocks, parallel
/// over output rows.
pub(crate) fn transpose<T: Copy + Send + Sync + Default>(
    src: &[T],
    rows: usize,
    cols: usize,
) -> Vec<T> {
    let mut dst = vec![T::default(); rows * cols];
    if rows == 0 || cols == 0 {
        return dst;
    }
    const B: usize = 32;
    dst.par_chunks_mut(rows * B)
        .enumerate()
        .for_each(|(block, out)| {
            let c0 = block * B;
            let c1 = (c0 + B).min(cols);
            for r0 in (0..rows).step_by(B) {
                let r1 = (r0 + B).min(rows);
                for c in c0..c1 {
                    let row_out = &mut out[(c - c0) * rows..(c - c0 + 1) * rows];
                    for r in r0..r1 {
                        row_out[r] = src[r * cols + c];
                    }
                }
            }
        });
    dst
}

/// Applies a separable line operation to a `width × height` image: `op(lines, n_in)` on the
/// rows (x), then on the columns (y). `op` returns the new lines and their length.
pub(crate) fn separable(
    data: &[f32],
    width: usize,
    height: usize,
    op_x: impl Fn(&[f32], usize) -> (Vec<f32>, usize),
    op_y: impl Fn(&[f32], usize) -> (Vec<f32>, usize),
) -> (Vec<f32>, usize, usize) {
    let (rows, new_w) = op_x(data, width);
    let cols = transpose(&rows, height, new_w);
    let (cols, new_h) = op_y(&cols, height);
    (transpose(&cols, new_w, new_h), new_w, new_h)
}

/// Periodogram accumulator for real `n × n` tiles: real FFT along rows, complex FFT along the
/// n/2 + 1 resulting columns (the other half of the spectrum is the conjugate mirror).
pub(crate) struct TilePower {
    n: usize,
    rows: Arc<dyn RealToComplex<f32>>,
    cols: Arc<dyn Fft<f32>>,
    half: Vec<Complex<f32>>,
    transposed: Vec<Complex<f32>>,
    scratch_r: Vec<Complex<f32>>,
    scratch_c: Vec<Complex<f32>>,
}

impl TilePower {
    /// Buffers and plans for tiles of `n × n` (n ≥ 1).
    pub(crate) fn new(n: usize) -> Self {
        let rows = r2c(n);
        let cols = forward(n);
        let hw = n / 2 + 1;
        Self {
            n,
            half: vec![Complex::new(0.0, 0.0); n * hw],
            transposed: vec![Complex::new(0.0, 0.0); n * hw],
            scratch_r: rows.make_scratch_vec(),
            scratch_c: vec![Complex::new(0.0, 0.0); cols.get_inplace_scratch_len()],
            rows,
            cols,
        }
    }

    /// Adds |F(kx, ky)|² of the real row-major `n × n` `tile` (overwritten) into
    /// `acc[kx * n + ky]` for kx = 0..=n/2, ky = 0..n (unnormalised DFT).
    pub(crate) fn accumulate(&mut self, tile: &mut [f32], acc: &mut [f64]) {
        let n = self.n;
        let hw = n / 2 + 1;
        for (row, out) in tile.chunks_exact_mut(n).zip(self.half.chunks_exact_mut(hw)) {
            // Lengths are right by construction, so the transform cannot fail.
            let _ = self
                .rows
                .process_with_scratch(row, out, &mut self.scratch_r);
        }
        for y in 0..n {
            for kx in 0..hw {
                self.transposed[kx * n + y] = self.half[y * hw + kx];
            }
        }
        for col in self.transposed.chunks_exact_mut(n) {
            self.cols.process_with_scratch(col, &mut self.scratch_c);
        }
        for (a, c) in acc.iter_mut().zip(&self.transposed) {
            *a += (c.re as f64).powi(2) + (c.im as f64).powi(2);
        }
    }
}

/// 2D forward DFT (unnormalised) of a real row-major `width × height` image, as the
/// non-redundant half spectrum: real FFT along each row (kx = 0..=width/2), then complex FFT
/// along each of the `width/2 + 1` columns. Returned column-major in kx: the coefficient of
/// (kx, ky) is at `[kx * height + ky]`, ky = 0..height (ky ≥ height/2 are negative
/// frequencies ky − height). The omitted kx < 0 half is the conjugate mirror
/// F(−kx, −ky) = F(kx, ky)*. Rows and columns run in parallel. `data.len()` must be
/// `width * height` (else an empty vector is returned).
pub(crate) fn rfft2(data: &[f32], width: usize, height: usize) -> Vec<Complex<f32>> {
    if width == 0 || height == 0 || data.len() != width * height {
        return Vec::new();
    }
    let hw = width / 2 + 1;
    let mut half = vec![Complex::new(0.0f32, 0.0); height * hw];
    half.par_chunks_mut(hw)
        .zip(data.par_chunks(width))
        .with_min_len(8)
        .for_each_init(
            || {
                let plan = r2c(width);
                (plan.make_input_vec(), plan.make_scratch_vec(), plan)
            },
            |(input, scratch, plan), (out, row)| {
                input.copy_from_slice(row);
                // Lengths are right by construction, so the transform cannot fail.
                let _ = plan.process_with_scratch(input, out, scratch);
            },
        );
    let mut cols = transpose(&half, height, hw);
    cols.par_chunks_mut(height).with_min_len(8).for_each_init(
        || {
            let plan = forward(height);
            (
                vec![Complex::new(0.0f32, 0.0); plan.get_inplace_scratch_len()],
                plan,
            )
        },
        |(scratch, plan), col| plan.process_with_scratch(col, scratch),
    );
    cols
}
