//! Properties of the Fourier functions (`cryolens::fourier`), on odd and even sizes.
//!
//! Run with `cargo test --release --test fourier`.

use std::f64::consts::PI;

use cryolens::fourier::{
    self, Window, bin_lowpass, fourier_crop, fourier_pad, gaussian_lowpass,
    gaussian_lowpass_angstrom, power_spectrum, power_spectrum_linear, rotational_average,
};
use cryolens::image::Image;

/// Sizes (width, height) covering even/even, odd/odd and mixed.
const SIZES: [(usize, usize); 4] = [(64, 48), (63, 47), (50, 37), (45, 64)];

/// Deterministic pseudo-random numbers (xorshift64*), uniform in [0, 1).
struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

fn noise(w: usize, h: usize, seed: u64) -> Image {
    let mut rng = Rng(seed | 1);
    Image::new(w, h, (0..w * h).map(|_| rng.normal() as f32).collect()).unwrap()
}

/// Image from a function of (x, y).
fn from_fn(w: usize, h: usize, f: impl Fn(f64, f64) -> f64) -> Image {
    let mut data = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            data.push(f(x as f64, y as f64) as f32);
        }
    }
    Image::new(w, h, data).unwrap()
}

fn mean(im: &Image) -> f64 {
    im.data.iter().map(|&v| v as f64).sum::<f64>() / im.data.len() as f64
}

/// Amplitude of the component at integer frequency (kx, ky) cycles per image (projection on
/// cos and sin; exact for periodic components at those frequencies).
fn amplitude(im: &Image, kx: usize, ky: usize) -> f64 {
    let (w, h) = (im.width as f64, im.height as f64);
    let (mut c, mut s) = (0.0, 0.0);
    for y in 0..im.height {
        for x in 0..im.width {
            let ph = 2.0 * PI * (kx as f64 * x as f64 / w + ky as f64 * y as f64 / h);
            let v = im.get(x, y) as f64;
            c += v * ph.cos();
            s += v * ph.sin();
        }
    }
    2.0 * (c * c + s * s).sqrt() / (w * h)
}

fn max_abs_diff(a: &Image, b: &Image) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
}

#[test]
fn crop_then_pad_reproduces_a_band_limited_image() {
    for (w, h) in SIZES {
        // Components up to 5 cycles per image, well below the cropped Nyquist (w/4 cycles).
        let im = from_fn(w, h, |x, y| {
            let (fx, fy) = (x / w as f64, y / h as f64);
            10.0 + 3.0 * (2.0 * PI * (2.0 * fx) + 0.3).cos()
                + 2.0 * (2.0 * PI * (3.0 * fy + 5.0 * fx)).sin()
                + 1.5 * (2.0 * PI * (4.0 * fy - 1.0 * fx) + 1.0).cos()
        })
        .with_pixel_size(Some(1.25));
        let (cw, ch) = (w / 2, h / 2);
        let small = fourier_crop(&im, cw, ch);
        assert_eq!((small.width, small.height), (cw, ch));
        // Pixel size scales with the size ratio (x ratio; here x and y ratios can differ by
        // rounding on odd sizes, then the size is unknown).
        let rx = w as f64 / cw as f64;
        let ry = h as f64 / ch as f64;
        if (rx - ry).abs() <= 1e-3 * rx {
            let ps = small.pixel_size_angstrom.unwrap();
            assert!((ps as f64 - 1.25 * rx).abs() < 1e-4, "{w}x{h}: {ps}");
        } else {
            assert_eq!(small.pixel_size_angstrom, None);
        }
        assert!(
            (mean(&small) - 10.0).abs() < 1e-4,
            "{w}x{h}: mean {}",
            mean(&small)
        );
        let back = fourier_pad(&small, w, h);
        let err = max_abs_diff(&back, &im);
        assert!(err < 1e-4 * 10.0, "{w}x{h}: crop→pad error {err}");
    }
}

#[test]
fn pad_then_crop_is_identity_and_keeps_mean() {
    for (w, h) in SIZES {
        let im = noise(w, h, 7);
        let big = fourier_pad(&im, 2 * w + 1, 2 * h);
        assert!((mean(&big) - mean(&im)).abs() < 1e-5);
        // Padding interpolates: every other sample (even sizes) is the original.
        if w % 2 == 0 {
            let big_even = fourier_pad(&im, 2 * w, 2 * h);
            assert!((big_even.get(2, 2) - im.get(1, 1)).abs() < 1e-4);
        }
        let back = fourier_crop(&big, w, h);
        assert!(max_abs_diff(&back, &im) < 1e-4, "{w}x{h}");
    }
}

#[test]
fn bin_lowpass_keeps_mean_and_low_frequency_removes_high_frequency() {
    for (w, h) in SIZES {
        // factor 4: cutoff 0.125 cycles/px. Low: 2 cycles per image along x (≤ 0.05 cycles/px).
        // High: about 0.3 cycles/px along y (k = round(0.3 h) cycles per image).
        let k_high = (0.3 * h as f64).round() as usize;
        let im = from_fn(w, h, |x, y| {
            100.0
                + 5.0 * (2.0 * PI * 2.0 * x / w as f64).cos()
                + 7.0 * (2.0 * PI * k_high as f64 * y / h as f64).sin()
        })
        .with_pixel_size(Some(0.8538));
        assert!((amplitude(&im, 2, 0) - 5.0).abs() < 1e-3);
        assert!((amplitude(&im, 0, k_high) - 7.0).abs() < 1e-3);
        let out = bin_lowpass(&im, 4.0);
        assert_eq!(
            (out.width, out.height, out.pixel_size_angstrom),
            (w, h, Some(0.8538))
        );
        assert!(
            (mean(&out) - 100.0).abs() < 1e-3,
            "{w}x{h}: mean {}",
            mean(&out)
        );
        let low = amplitude(&out, 2, 0);
        let high = amplitude(&out, 0, k_high);
        assert!((low - 5.0).abs() < 1e-3, "{w}x{h}: low amplitude {low}");
        assert!(high < 1e-3, "{w}x{h}: high amplitude {high}");
    }
}

#[test]
fn bin_lowpass_is_fourier_crop_then_pad() {
    for (w, h) in SIZES {
        let im = noise(w, h, 11);
        for factor in [2.0f32, 3.0, 4.0] {
            // Topaz keeps |k| ≤ n/(2·factor): an odd crop size 2·⌊n/(2·factor)⌋ + 1.
            let m = |n: usize| 2 * ((n as f64 / (2.0 * factor as f64)).floor() as usize) + 1;
            let expected = fourier_pad(&fourier_crop(&im, m(w), m(h)), w, h);
            let got = bin_lowpass(&im, factor);
            let err = max_abs_diff(&got, &expected);
            assert!(err < 1e-4, "{w}x{h} factor {factor}: {err}");
        }
    }
}

#[test]
fn bin_lowpass_matches_topaz_numbers() {
    // Reference values from Topaz's `lowpass(x, factor)` formula (topaz/denoise.py, v0.3.20)
    // run with numpy 2 in float64 on x = ((arange(w*h) * 7919) % 101).reshape(h, w), printed
    // at flat indices [0, 1, w+3, h*w//2, h*w-1].
    let cases: [(usize, usize, f32, [f64; 5]); 2] = [
        (
            32,
            24,
            3.0,
            [
                49.17457578143507,
                52.428608183212354,
                48.07702615354207,
                44.18885677993349,
                50.39384133642582,
            ],
        ),
        (
            31,
            25,
            2.5,
            [
                30.268848877876646,
                54.24526371237952,
                69.24430371434815,
                35.283337295667096,
                23.487190626510873,
            ],
        ),
    ];
    for (w, h, factor, want) in cases {
        let im = Image::new(
            w,
            h,
            (0..w * h).map(|i| ((i * 7919) % 101) as f32).collect(),
        )
        .unwrap();
        let out = bin_lowpass(&im, factor);
        for (idx, want) in [0, 1, w + 3, h * w / 2, h * w - 1].into_iter().zip(want) {
            let got = out.data[idx] as f64;
            assert!(
                (got - want).abs() < 2e-3,
                "{w}x{h} f={factor} idx {idx}: {got} vs {want}"
            );
        }
    }
    // factor ≤ 1 is no filtering, as in Topaz.
    let im = noise(16, 9, 3);
    assert_eq!(bin_lowpass(&im, 1.0), im);
}

#[test]
fn gaussian_lowpass_of_a_delta_has_the_requested_sigma_and_spectrum() {
    for (w, h) in SIZES {
        for sigma in [1.5f32, 3.0] {
            let (cx, cy) = (w / 2, h / 2);
            let mut delta = Image::zeros(w, h);
            delta.data[cy * w + cx] = 1.0;
            let g = gaussian_lowpass(&delta, sigma);
            let total: f64 = g.data.iter().map(|&v| v as f64).sum();
            assert!((total - 1.0).abs() < 1e-5, "sum {total}");
            // Second moments about the centre along x and y.
            let (mut mx, mut my) = (0.0, 0.0);
            for y in 0..h {
                for x in 0..w {
                    let v = g.get(x, y) as f64;
                    mx += v * (x as f64 - cx as f64).powi(2);
                    my += v * (y as f64 - cy as f64).powi(2);
                }
            }
            let s2 = (sigma as f64).powi(2);
            assert!(
                (mx - s2).abs() < 0.01 * s2,
                "{w}x{h} σ={sigma}: var x {mx} vs {s2}"
            );
            assert!(
                (my - s2).abs() < 0.01 * s2,
                "{w}x{h} σ={sigma}: var y {my} vs {s2}"
            );
            // Spectrum: |DFT| at (kx, 0) and (0, ky) equals exp(−2π²σ²f²).
            for k in [1usize, 3, 6, w / 4] {
                let f = k as f64 / w as f64;
                let want = (-2.0 * PI * PI * s2 * f * f).exp();
                let got = amplitude(&g, k, 0) * (w * h) as f64 / 2.0;
                assert!(
                    (got - want).abs() < 1e-4,
                    "{w}x{h} σ={sigma} kx={k}: {got} vs {want}"
                );
            }
            for k in [2usize, 5, h / 3] {
                let f = k as f64 / h as f64;
                let want = (-2.0 * PI * PI * s2 * f * f).exp();
                let got = amplitude(&g, 0, k) * (w * h) as f64 / 2.0;
                assert!(
                    (got - want).abs() < 1e-4,
                    "{w}x{h} σ={sigma} ky={k}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn gaussian_lowpass_in_angstrom_uses_the_pixel_size() {
    let im = noise(40, 33, 5).with_pixel_size(Some(2.0));
    let a = gaussian_lowpass_angstrom(&im, 5.0).unwrap();
    let b = gaussian_lowpass(&im, 2.5);
    assert!(max_abs_diff(&a, &b) < 1e-6);
    let unknown = noise(8, 8, 1);
    assert_eq!(
        gaussian_lowpass_angstrom(&unknown, 5.0).unwrap_err(),
        fourier::FourierError::UnknownPixelSize
    );
}

#[test]
fn power_spectrum_of_white_noise_is_flat() {
    for (w, h, tile) in [(512, 512, 64), (511, 383, 63)] {
        let sigma = 3.0f64;
        let mut im = noise(w, h, 42);
        im.data
            .iter_mut()
            .for_each(|v| *v = (*v as f64 * sigma + 50.0) as f32);
        for window in [Window::Hann, Window::None] {
            let lin = power_spectrum_linear(&im, tile, window);
            assert_eq!((lin.width, lin.height), (tile, tile));
            let ring = rotational_average(&lin, None);
            let var = sigma * sigma;
            // Rings away from DC (where the per-tile mean subtraction removes power).
            for &(f, p) in ring.iter().filter(|(f, _)| *f > 3.0 / tile as f32) {
                let rel = (p as f64 - var).abs() / var;
                assert!(
                    rel < 0.06,
                    "{w}x{h} tile {tile} {window:?}: ring f={f} power {p} vs {var}"
                );
            }
            // The overall level (all pixels but the DC neighbourhood) within 2 %.
            let c = tile / 2;
            let mut sum = 0.0;
            let mut n = 0usize;
            for y in 0..tile {
                for x in 0..tile {
                    if x.abs_diff(c) <= 1 && y.abs_diff(c) <= 1 {
                        continue;
                    }
                    sum += lin.get(x, y) as f64;
                    n += 1;
                }
            }
            let level = sum / n as f64;
            assert!(
                (level - var).abs() < 0.02 * var,
                "{w}x{h} {window:?}: level {level}"
            );
        }
        // The log spectrum is log10 of the linear one, centred, finite.
        let log = power_spectrum(&im, tile);
        assert_eq!((log.width, log.height), (tile, tile));
        assert!(log.data.iter().all(|v| v.is_finite()));
        let lin = power_spectrum_linear(&im, tile, Window::Hann);
        let (x, y) = (tile / 2 + 5, tile / 2 - 3);
        assert!((log.get(x, y) - lin.get(x, y).log10()).abs() < 1e-5);
    }
}

#[test]
fn power_spectrum_shows_a_sinusoid_at_the_right_pixel() {
    for (w, h, tile) in [(256, 200, 64), (255, 201, 63)] {
        // 8 cycles per tile along x, 5 along y: frequency (8/t, 5/t) cycles/px.
        let (kx, ky) = (8.0, 5.0);
        let mut im = noise(w, h, 9);
        for y in 0..h {
            for x in 0..w {
                let ph = 2.0 * PI * (kx * x as f64 + ky * y as f64) / tile as f64;
                im.data[y * w + x] += (10.0 * ph.cos()) as f32;
            }
        }
        let lin = power_spectrum_linear(&im, tile, Window::Hann);
        let c = tile / 2;
        // Brightest pixel is at (c ± 8, c ± 5) (the two conjugate peaks).
        let (mut best, mut at) = (f32::MIN, (0, 0));
        for y in 0..tile {
            for x in 0..tile {
                if lin.get(x, y) > best {
                    best = lin.get(x, y);
                    at = (x, y);
                }
            }
        }
        assert!(
            at == (c + 8, c + 5) || at == (c - 8, c - 5),
            "{w}x{h}: peak at {at:?}"
        );
        assert!((lin.get(c + 8, c + 5) - lin.get(c - 8, c - 5)).abs() < 1e-3 * best);
        // Far above the noise floor (≈ 1).
        assert!(best > 100.0, "{best}");
        // The display spectrum has it at the same place.
        let log = power_spectrum(&im, tile);
        assert!((log.get(c + 8, c + 5) - lin.get(c + 8, c + 5).log10()).abs() < 1e-4);
    }
}

#[test]
fn rotational_average_frequency_units() {
    let lin = Image::new(8, 8, vec![1.0; 64]).unwrap();
    let px = rotational_average(&lin, None);
    assert_eq!(px.first().map(|p| p.0), Some(0.0));
    assert!((px.last().unwrap().0 - 0.5).abs() < 1e-6, "{px:?}");
    assert!(px.iter().all(|&(_, p)| (p - 1.0).abs() < 1e-6));
    let a = rotational_average(&lin, Some(2.0));
    assert!(
        (a.last().unwrap().0 - 0.25).abs() < 1e-6,
        "Nyquist of 2 Å/px is 1/4 Å⁻¹"
    );
    assert_eq!(a.len(), 5);
}
