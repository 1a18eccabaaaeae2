//! Full complex 2D FFTs of square images for the simulator (rustfft, rows then columns, in
//! parallel): the spectrum is row-major, `[ky * n + kx]`, k = 0..n (k > n/2 are the negative
//! frequencies k − n), unnormalised forward; the inverse divides by n².

use rayon::prelude::*;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

/// Transposes a square row-major matrix in place.
fn transpose(data: &mut [Complex<f64>], n: usize) {
    for r in 0..n {
        for c in r + 1..n {
            data.swap(r * n + c, c * n + r);
        }
    }
}

/// FFT (forward or inverse, unnormalised) of every row of a square matrix, in parallel.
fn rows(data: &mut [Complex<f64>], n: usize, inverse: bool) {
    let mut planner = FftPlanner::<f64>::new();
    let plan = if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    };
    data.par_chunks_mut(n).for_each_init(
        || vec![Complex::new(0.0, 0.0); plan.get_inplace_scratch_len()],
        |scratch, row| plan.process_with_scratch(row, scratch),
    );
}

/// The unnormalised 2D DFT of a real row-major `n × n` image (`data.len()` must be n²).
pub fn fft2(data: &[f64], n: usize) -> Vec<Complex<f64>> {
    let mut c: Vec<Complex<f64>> = data.iter().map(|&v| Complex::new(v, 0.0)).collect();
    rows(&mut c, n, false);
    transpose(&mut c, n);
    rows(&mut c, n, false);
    transpose(&mut c, n);
    c
}

/// The real part of the inverse 2D DFT of a row-major `n × n` spectrum, divided by n²
/// (consumes the spectrum's values).
pub fn ifft2_real(spectrum: &mut [Complex<f64>], n: usize) -> Vec<f64> {
    rows(spectrum, n, true);
    transpose(spectrum, n);
    rows(spectrum, n, true);
    transpose(spectrum, n);
    let norm = 1.0 / (n * n) as f64;
    spectrum.iter().map(|c| c.re * norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_a_known_coefficient() {
        let n = 6;
        let data: Vec<f64> = (0..n * n).map(|i| ((i * 7) % 11) as f64 - 3.0).collect();
        let mut s = fft2(&data, n);
        // Coefficient (kx = 1, ky = 2) by the definition.
        let mut direct = Complex::new(0.0, 0.0);
        for y in 0..n {
            for x in 0..n {
                let phase = -2.0 * std::f64::consts::PI * ((x + 2 * y) as f64) / n as f64;
                direct += Complex::from_polar(data[y * n + x], phase);
            }
        }
        assert!((s[2 * n + 1] - direct).norm() < 1e-9);
        let back = ifft2_real(&mut s, n);
        for (a, b) in back.iter().zip(&data) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
