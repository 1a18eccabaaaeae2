//! The CPU's floating-point peak, the yardstick of `cryolens bench`'s "% of peak" columns:
//! the nominal peak from the processor's clock and vector units, and the attainable one, a
//! large f32 matrix product through `gemm` (the library our direct convolutions call) on
//! all of rayon's threads.

use std::time::Instant;

/// Both peaks, GFLOP/s.
#[derive(Clone, Debug)]
pub struct Peak {
    /// `threads × clock × f32 flops per cycle` (two FMA units: 64 with AVX-512, 32 with AVX2
    /// and FMA, 8 otherwise); `None` when the clock cannot be read (`/proc/cpuinfo`).
    pub nominal: Option<f64>,
    /// Best of 5 `2048 × 2048 × 2048` f32 products (`gemm`, all threads).
    pub measured: f64,
    /// What `nominal` was computed from, e.g. "2 threads × 2.45 GHz × 32 (AVX2 FMA)".
    pub how: String,
}

/// Measures [`Peak`] (≈ 1 s).
pub fn measure() -> Peak {
    let threads = rayon::current_num_threads();
    let (per_cycle, isa) = flops_per_cycle();
    let ghz = clock_ghz();
    let nominal = ghz.map(|g| threads as f64 * g * per_cycle);
    let how = match ghz {
        Some(g) => format!("{threads} threads × {g:.2} GHz × {per_cycle} ({isa})"),
        None => format!("{threads} threads, clock unknown"),
    };
    let n = 2048;
    let a: Vec<f32> = (0..n * n).map(|i| (i % 17) as f32 * 0.01).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut c = vec![0.0f32; n * n];
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        // SAFETY: all three are n × n row-major with exactly n² elements.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads),
            );
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    Peak {
        nominal,
        measured: 2.0 * (n * n * n) as f64 / best / 1e9,
        how,
    }
}

fn flops_per_cycle() -> (f64, &'static str) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return (64.0, "AVX-512 FMA");
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return (32.0, "AVX2 FMA");
        }
    }
    (8.0, "SSE")
}

/// The first core's clock from `/proc/cpuinfo`'s "cpu MHz", GHz.
fn clock_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|mhz| mhz / 1000.0)
}
