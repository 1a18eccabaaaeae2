//! `cryolens bench --what kernels`: every distinct convolution of Topaz's 2D models timed
//! alone on a 1024² input, direct (im2col + `gemm`) and through the FFT, with achieved
//! GFLOP/s, the share of the CPU's nominal peak and the algorithm [`fft_pays`] picks: the
//! measurements behind that cost model.

use std::time::Instant;

use anyhow::Result;

use crate::kernels::{Conv2dWeights, FftConv, Hwc, fft_pays};

use super::BenchArgs;

/// The layers: (cin, cout, k) and where they occur.
const LAYERS: [(usize, usize, usize, &str); 8] = [
    (64, 64, 11, "fcnn middle"),
    (1, 64, 11, "fcnn first"),
    (64, 1, 11, "fcnn last"),
    (97, 64, 5, "unet output block, first"),
    (64, 32, 5, "unet output block, second"),
    (32, 1, 5, "unet output block, last"),
    (1, 48, 11, "unet first"),
    (48, 48, 3, "unet encoder"),
];

/// Times every layer of [`LAYERS`] on a `side²` input (`--crop`, default 1024) and prints the
/// table.
///
/// # Errors
/// None in practice (kept for the benchmarks' common signature).
pub fn run_kernels(args: &BenchArgs) -> Result<()> {
    let side = if args.crop == 256 { 1024 } else { args.crop };
    let peak = super::peak::measure();
    let nominal = peak.nominal.unwrap_or(peak.measured);
    println!(
        "input {side}² per layer; peak {nominal:.0} GFLOP/s nominal ({}), {:.0} measured (gemm 2048³)",
        peak.how, peak.measured
    );
    println!(
        "| layer | k | cin→cout | direct s | direct GFLOP/s (% peak) | FFT s | FFT plan s | picked |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (cin, cout, k, name) in LAYERS {
        let n = side * side * cin;
        let x = Hwc {
            height: side,
            width: side,
            channels: cin,
            data: (0..n)
                .map(|i| ((i * 7919 % 1000) as f32) / 1000.0 - 0.5)
                .collect(),
        };
        let raw: Vec<f32> = (0..cout * cin * k * k)
            .map(|i| ((i * 104_729 % 997) as f32) / 997.0 - 0.5)
            .collect();
        let w = Conv2dWeights::from_oihw(&raw, None, cout, cin, k);
        let t = Instant::now();
        let a = w.forward(&x, Some(0.1));
        let direct = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let f = FftConv::new(&w);
        let plan = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b = f.forward(&x, Some(0.1));
        let fft = t.elapsed().as_secs_f64();
        let scale = a.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = a
            .data
            .iter()
            .zip(&b.data)
            .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        let gflops = 2.0 * (k * k * cin * cout * side * side) as f64 / direct / 1e9;
        println!(
            "| {name} | {k} | {cin}→{cout} | {direct:.3} | {gflops:.0} ({:.0} %) | {fft:.3} | {plan:.3} | {} (FFT − direct: {:.1e} of max) |",
            100.0 * gflops / nominal,
            if fft_pays(k, cin, cout) {
                "FFT"
            } else {
                "direct"
            },
            diff / scale.max(f32::MIN_POSITIVE)
        );
    }
    Ok(())
}
