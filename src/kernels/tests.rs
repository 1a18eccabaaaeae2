//! Unit tests of the native kernels against direct (loop) definitions.

use super::backward::{ConvGrad, conv_weight_grad};
use super::conv2d::{Conv2dWeights, Scratch, conv_image};
use super::pool::{pool_backward, up_cat_backward};
use super::*;

/// Deterministic pseudo-random values in [−1, 1).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Direct "same" convolution of a channels-last image with PyTorch-layout weights.
fn direct_conv(x: &Hwc, raw: &[f32], bias: &[f32], cout: usize, k: usize) -> Vec<f32> {
    let (h, w, cin, p) = (x.height, x.width, x.channels, (k / 2) as isize);
    let mut out = vec![0.0f32; h * w * cout];
    for y in 0..h {
        for xo in 0..w {
            for o in 0..cout {
                let mut acc = bias[o] as f64;
                for ky in 0..k {
                    for kx in 0..k {
                        let (iy, ix) =
                            (y as isize + ky as isize - p, xo as isize + kx as isize - p);
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        for i in 0..cin {
                            let v = x.data[(iy as usize * w + ix as usize) * cin + i];
                            acc += v as f64 * raw[((o * cin + i) * k + ky) * k + kx] as f64;
                        }
                    }
                }
                out[(y * w + xo) * cout + o] = acc as f32;
            }
        }
    }
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A random `h × w × cin` input, a `k × k` `cin → cout` convolution with bias (values from
/// `seed`, `seed + 1`, `seed + 2`) and its output by the brute-force sum.
fn conv_case(
    cin: usize,
    cout: usize,
    k: usize,
    h: usize,
    w: usize,
    seed: u32,
) -> (Hwc, Conv2dWeights, Vec<f32>) {
    let x = Hwc {
        height: h,
        width: w,
        channels: cin,
        data: values(h * w * cin, seed),
    };
    let raw = values(cout * cin * k * k, seed + 1);
    let bias = values(cout, seed + 2);
    let expected = direct_conv(&x, &raw, &bias, cout, k);
    let c = Conv2dWeights::from_oihw(&raw, Some(bias), cout, cin, k);
    (x, c, expected)
}

#[test]
fn conv2d_paths_equal_the_direct_convolution() {
    // cin·k = 3·3 takes the explicit im2col; 24·3 the implicit padded-rows path.
    for (cin, cout, k, h, w) in [(3, 5, 3, 19, 23), (24, 4, 3, 30, 41), (2, 3, 5, 7, 6)] {
        let (x, c, expected) = conv_case(cin, cout, k, h, w, 1);
        let inference = c.forward(&x, None);
        assert!(max_diff(&inference.data, &expected) < 1e-5);
        let mut s = Scratch::new(gemm::Parallelism::None);
        let training = conv_image(&x, k, &c.weights, Some((&c.bias, None)), cout, &mut s);
        assert!(max_diff(&training.data, &expected) < 1e-5);
        // The leaky ReLU of the fused write-back.
        let leaky = c.forward(&x, Some(0.1));
        let want: Vec<f32> = expected
            .iter()
            .map(|&v| if v < 0.0 { v * 0.1 } else { v })
            .collect();
        assert!(max_diff(&leaky.data, &want) < 1e-5);
    }
}

#[test]
fn fft_convolution_equals_the_direct_one() {
    // Sizes that leave partial tiles on both axes, images smaller than one tile, one input
    // or one output channel, and the fcnn's 11×11 and the unet's 5×5 widths.
    for (cin, cout, k, h, w) in [
        (4, 6, 11, 130, 71),
        (3, 2, 5, 20, 9),
        (1, 8, 11, 60, 150),
        (9, 1, 7, 61, 64),
    ] {
        let (x, c, expected) = conv_case(cin, cout, k, h, w, 7);
        let fft = FftConv::new(&c);
        let scale = expected.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        let got = fft.forward(&x, None);
        assert_eq!((got.height, got.width, got.channels), (h, w, cout));
        let d = max_diff(&got.data, &expected);
        assert!(d < 1e-5 * scale.max(1.0), "{cin}→{cout} k {k} {h}×{w}: {d}");
        let leaky = fft.forward(&x, Some(0.1));
        let want: Vec<f32> = expected
            .iter()
            .map(|&v| if v < 0.0 { v * 0.1 } else { v })
            .collect();
        assert!(max_diff(&leaky.data, &want) < 1e-5 * scale.max(1.0));
    }
}

#[test]
fn fft_is_planned_only_for_wide_kernels_with_many_channels() {
    assert!(fft_pays(11, 64, 64), "fcnn's middle layer");
    assert!(fft_pays(11, 64, 1), "fcnn's last layer");
    assert!(fft_pays(5, 97, 64), "the unet's output block");
    assert!(fft_pays(5, 64, 32), "the unet's output block");
    assert!(
        !fft_pays(11, 1, 64),
        "one input channel: 64 inverse transforms cost more"
    );
    assert!(!fft_pays(5, 32, 1), "the unet's last layer");
    assert!(!fft_pays(3, 48, 48), "3×3 stays direct");
}

#[test]
fn weight_gradient_is_the_adjoint_of_the_convolution() {
    // ⟨conv(x; W), dz⟩ is linear in W, so its gradient dW satisfies ⟨dW, V⟩ = ⟨conv(x; V), dz⟩.
    for (cin, cout, k) in [(2, 3, 3), (32, 2, 3)] {
        let (h, w) = (13, 17);
        let x = Hwc {
            height: h,
            width: w,
            channels: cin,
            data: values(h * w * cin, 4),
        };
        let dz = values(h * w * cout, 5);
        let v = Conv2dWeights::from_oihw(&values(cout * cin * k * k, 6), None, cout, cin, k);
        let mut g = ConvGrad::zeros(&v);
        let mut s = Scratch::new(gemm::Parallelism::None);
        conv_weight_grad(&x, k, &dz, cout, &mut g, &mut s);
        let lhs: f64 = g
            .weight
            .iter()
            .zip(&v.weights)
            .map(|(a, b)| (a * b) as f64)
            .sum();
        let y = v.forward(&x, None);
        let rhs: f64 = y.data.iter().zip(&dz).map(|(a, b)| (a * b) as f64).sum();
        assert!(
            (lhs - rhs).abs() < 1e-3 * rhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
        let db: f64 = dz.iter().map(|&d| d as f64).sum();
        assert!((g.bias.iter().sum::<f64>() - db).abs() < 1e-3);
    }
}

#[test]
fn pool_and_up_cat_backward_are_adjoints() {
    let (h, w, c) = (9, 11, 3);
    let x = Hwc {
        height: h,
        width: w,
        channels: c,
        data: values(h * w * c, 7),
    };
    let p = pool(&x);
    assert_eq!((p.height, p.width), (4, 5));
    let dp = Hwc {
        data: values(p.data.len(), 8),
        ..p.clone()
    };
    let dx = pool_backward(&dp, &x);
    // Each pooled gradient lands on its window's maximum: Σ dx·x = Σ dp·pool(x).
    let a: f32 = dx.data.iter().zip(&x.data).map(|(g, v)| g * v).sum();
    let b: f32 = dp.data.iter().zip(&p.data).map(|(g, v)| g * v).sum();
    assert!((a - b).abs() < 1e-4);
    let cat = up_cat(&p, &x);
    let dcat = values(cat.data.len(), 9);
    let (ds, dk) = up_cat_backward(
        &Hwc {
            data: dcat.clone(),
            ..cat.clone()
        },
        &p,
        c,
    );
    let lhs: f32 = cat.data.iter().zip(&dcat).map(|(u, g)| u * g).sum();
    let rhs: f32 = ds.data.iter().zip(&p.data).map(|(g, u)| g * u).sum::<f32>()
        + dk.data.iter().zip(&x.data).map(|(g, u)| g * u).sum::<f32>();
    assert!((lhs - rhs).abs() < 1e-3);
}

#[test]
fn conv3d_equals_the_direct_convolution_and_pool3d_takes_cube_maxima() {
    let (cin, cout, k, [d, h, w]) = (2, 3, 3, [5usize, 6, 7]);
    let x = Cdhw {
        channels: cin,
        shape: [d, h, w],
        data: values(cin * d * h * w, 10),
    };
    let weight = values(cout * cin * k * k * k, 11);
    let bias = values(cout, 12);
    let y = conv3d(&x, &weight, &bias, k, None);
    let p = (k / 2) as isize;
    let mut worst = 0.0f32;
    for o in 0..cout {
        for z in 0..d {
            for yy in 0..h {
                for xx in 0..w {
                    let mut acc = bias[o] as f64;
                    for i in 0..cin {
                        for (t, wv) in weight[(o * cin + i) * k * k * k..][..k * k * k]
                            .iter()
                            .enumerate()
                        {
                            let (kz, ky, kx) = (t / (k * k), (t / k) % k, t % k);
                            let iz = z as isize + kz as isize - p;
                            let iy = yy as isize + ky as isize - p;
                            let ix = xx as isize + kx as isize - p;
                            if [iz, iy, ix]
                                .iter()
                                .zip([d, h, w])
                                .any(|(&a, n)| a < 0 || a >= n as isize)
                            {
                                continue;
                            }
                            let at = ((i * d + iz as usize) * h + iy as usize) * w + ix as usize;
                            acc += x.data[at] as f64 * *wv as f64;
                        }
                    }
                    let got = y.data[((o * d + z) * h + yy) * w + xx];
                    worst = worst.max((got - acc as f32).abs());
                }
            }
        }
    }
    assert!(worst < 1e-5, "conv3d differs by {worst}");
    let pooled = pool3d(&y);
    assert_eq!(pooled.shape, [2, 3, 3]);
    let want = (0..2)
        .flat_map(|dz| (0..2).flat_map(move |dy| (0..2).map(move |dx| (dz, dy, dx))))
        .map(|(dz, dy, dx)| y.data[(dz * h + dy) * w + dx])
        .fold(f32::NEG_INFINITY, f32::max);
    assert_eq!(pooled.data[0], want);
}

#[test]
fn band_policy_sizes() {
    assert_eq!(band_px(Band::Inference), 256);
    assert_eq!(band_px(Band::Training), 512);
    assert_eq!(band_px(Band::Volume), 512);
}

#[test]
fn conv3d_bands_and_winograd_equal_the_direct_convolution_on_odd_shapes() {
    // Shapes whose rows split into several bands (80 rows of 5 > 512 voxels), with sides
    // not divisible by the Winograd block, and smaller than one block.
    for (case, (cin, cout, shape)) in [
        (5, 4, [7usize, 9, 10]),
        (3, 2, [2, 80, 5]),
        (17, 16, [3, 3, 3]),
        (16, 18, [6, 11, 13]),
    ]
    .into_iter()
    .enumerate()
    {
        let [d, h, w] = shape;
        let seed = 20 + 3 * case as u32;
        let x = Cdhw {
            channels: cin,
            shape,
            data: values(cin * d * h * w, seed),
        };
        let weight = values(cout * cin * 27, seed + 1);
        let bias = values(cout, seed + 2);
        let want = direct3d(&x, &weight, &bias, 3);
        let banded = conv3d(&x, &weight, &bias, 3, None);
        let fast = conv3d_winograd(&x, &weight, &bias, None);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        // F(4, 3)'s transforms have entries up to 8 (points ±2): its rounding is a few times
        // the direct sum's, about 1e-5 of the largest output with 16 input channels.
        for (name, got, tol) in [
            ("bands", &banded.data, 1e-5),
            ("winograd", &fast.data, 5e-5),
        ] {
            let worst = got
                .iter()
                .zip(&want)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst <= tol * scale, "{name} {shape:?}: {worst} of {scale}");
        }
        // The leaky ReLU is applied after the bias, on both paths.
        let leaky = conv3d_winograd(&x, &weight, &bias, Some(0.1));
        for (l, v) in leaky.data.iter().zip(&want) {
            let expect = if *v < 0.0 { v * 0.1 } else { *v };
            assert!((l - expect).abs() <= 5e-5 * scale);
        }
    }
    assert!(winograd_pays(3, 48, 48) && !winograd_pays(7, 1, 48) && !winograd_pays(3, 32, 1));
}

/// The 3D "same" convolution written out (f64 sums), `[cout][d][h][w]`.
fn direct3d(x: &Cdhw, weight: &[f32], bias: &[f32], k: usize) -> Vec<f32> {
    let (cin, [d, h, w]) = (x.channels, x.shape);
    let p = (k / 2) as isize;
    let mut out = Vec::with_capacity(bias.len() * d * h * w);
    for (o, &b) in bias.iter().enumerate() {
        for z in 0..d {
            for yy in 0..h {
                for xx in 0..w {
                    let mut acc = b as f64;
                    for i in 0..cin {
                        for (t, wv) in weight[(o * cin + i) * k * k * k..][..k * k * k]
                            .iter()
                            .enumerate()
                        {
                            let (kz, ky, kx) = (t / (k * k), (t / k) % k, t % k);
                            let at = [z, yy, xx]
                                .iter()
                                .zip([kz, ky, kx])
                                .zip([d, h, w])
                                .map(|((&c, kk), n)| {
                                    let v = c as isize + kk as isize - p;
                                    (v >= 0 && v < n as isize).then_some(v as usize)
                                })
                                .collect::<Option<Vec<usize>>>();
                            if let Some(a) = at {
                                let idx = ((i * d + a[0]) * h + a[1]) * w + a[2];
                                acc += x.data[idx] as f64 * *wv as f64;
                            }
                        }
                    }
                    out.push(acc as f32);
                }
            }
        }
    }
    out
}
