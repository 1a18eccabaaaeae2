//! The matrix products of the native kernels: thin, bounds-checked wrappers of `gemm` (the
//! crate burn's Flex backend uses; AVX-512 when available) for row-major and strided f32
//! matrices.

/// `dst[m × n] = lhs[m × k] · rhs[k × n]`, all row-major, single-threaded.
#[inline]
pub fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], lhs: &[f32], rhs: &[f32]) {
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

/// `dst[m × n] (+)= lhs · rhs` with row-major `rhs` (`k × n`); `lhs` is row-major `m × k`, or,
/// when `lhs_transposed`, the transpose of a row-major `k × m` matrix. Accumulates into `dst`
/// when `accumulate`. `par`: gemm's own threading (`None` inside rayon tasks).
///
/// # Panics
/// When a slice is shorter than its matrix (checked before the unsafe call).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn matmul_ext(
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
#[inline]
pub fn gemm_strided(
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
