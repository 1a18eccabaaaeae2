//! restore (Palovcak et al. 2020, supplement S2.1-S2.4): preprocessing and unbinning on real
//! micrographs, the merge of denoised and raw images (library and `cryolens merge`), and the
//! WDSR U-net.

mod common;

use std::process::Command;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use cryolens::ctf::Ctf;
use cryolens::fourier::merge::{
    HalfSpectrum, MergeError, MergeFilter, Merger, merge, merge_with_report,
};
use cryolens::image::Image;
use cryolens::io::read_micrograph;
use cryolens::models::wdsr::{WdsrConfig, WdsrUNet};
use cryolens::restore::{
    PreprocessConfig, RestoreError, fourier_crop_to_resolution, phase_flip, preprocess, unbin,
};

/// Pixel size of fei-extended.mrc's header (Å/px).
const FEI_PIXEL: f32 = 0.853_775_5;

fn fei_full() -> Image {
    read_micrograph(&common::data("micrographs/fei-extended/fei-extended.mrc")).unwrap()
}

/// The 1024² crop of fei-extended used for the golden Topaz outputs, with its pixel size.
fn fei_crop() -> Image {
    let im = read_micrograph(&common::golden("fei-extended_crop1024.mrc")).unwrap();
    assert_eq!(im.pixel_size_angstrom, Some(FEI_PIXEL));
    im
}

/// Topaz's unet output on that crop (its header has no pixel size).
fn fei_crop_unet() -> Image {
    read_micrograph(&common::golden("fei-extended_crop1024.unet.mrc")).unwrap()
}

fn ctf() -> Ctf {
    Ctf {
        defocus_u_angstrom: 10_500.0,
        defocus_v_angstrom: 10_200.0,
        defocus_angle_degrees: 30.0,
        voltage_kv: 300.0,
        spherical_aberration_mm: 2.7,
        amplitude_contrast: 0.1,
        phase_shift_degrees: 0.0,
    }
}

/// Largest |F| of a spectrum.
fn max_abs(s: &HalfSpectrum) -> f32 {
    s.data.iter().map(|c| c.norm()).fold(0.0, f32::max)
}

/// Calls `f(s, a, b)` for every half-plane bin of two spectra of the same shape (s in Å⁻¹).
fn for_bins(
    a: &HalfSpectrum,
    b: &HalfSpectrum,
    p: f64,
    mut f: impl FnMut(
        usize,
        usize,
        f64,
        realfft::num_complex::Complex<f32>,
        realfft::num_complex::Complex<f32>,
    ),
) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let h = a.height;
    for kx in 0..=a.width / 2 {
        for ky in 0..h {
            let (sx, sy) = a.frequency(kx, ky, p);
            f(
                kx,
                ky,
                (sx * sx + sy * sy).sqrt(),
                a.data[kx * h + ky],
                b.data[kx * h + ky],
            );
        }
    }
}

#[test]
fn crop_and_unbin_shapes_and_pixel_sizes_on_real_micrographs() {
    let full = fei_full();
    assert_eq!((full.width, full.height), (3710, 3838));
    // max resolution 4.5 Å -> pixel 2.25 Å: 3710 · 0.8538 / 2.25 = 1407.8 -> 1408 columns.
    let config = PreprocessConfig {
        max_resolution_angstrom: 4.5,
        highpass_angstrom: 200.0,
    };
    let pre = preprocess(&full, &config, Some(&ctf())).unwrap();
    assert_eq!((pre.image.width, pre.image.height), (1408, 1456));
    let p = pre.image.pixel_size_angstrom.unwrap();
    assert!((p - 2.25).abs() < 2.25 * 1e-3, "binned pixel {p}");
    assert_eq!((pre.original_width, pre.original_height), (3710, 3838));
    assert_eq!(pre.original_pixel_size_angstrom, FEI_PIXEL);
    let back = unbin(&pre.image, 3710, 3838, FEI_PIXEL, Some(&ctf())).unwrap();
    assert_eq!((back.width, back.height), (3710, 3838));
    assert_eq!(back.pixel_size_angstrom, Some(FEI_PIXEL));
    assert!(back.data.iter().all(|v| v.is_finite()));

    // ucsf-1142: its header has no pixel size, so Å cannot be placed.
    let mut ucsf = read_micrograph(&common::data(
        "micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc",
    ))
    .unwrap();
    assert_eq!(ucsf.pixel_size_angstrom, None);
    assert_eq!(
        fourier_crop_to_resolution(&ucsf, 4.5).unwrap_err(),
        RestoreError::UnknownPixelSize
    );
    // Already coarser than max_resolution/2 (a 4×-binned K2 image, ~4 Å/px): never upsampled.
    ucsf.pixel_size_angstrom = Some(4.0);
    let same = fourier_crop_to_resolution(&ucsf, 4.5).unwrap();
    assert_eq!(same, ucsf);
    // Finer target: 4 Å -> 10 Å pixels (959 · 0.4 = 383.6 -> 384 columns).
    let c = fourier_crop_to_resolution(&ucsf, 20.0).unwrap();
    assert_eq!((c.width, c.height), (384, 371));
    assert!((c.pixel_size_angstrom.unwrap() - 10.0).abs() < 0.02);
    assert!(matches!(
        fourier_crop_to_resolution(&ucsf, -1.0),
        Err(RestoreError::InvalidParameter { .. })
    ));
}

#[test]
fn bandpass_leaves_no_power_below_one_over_200_angstrom_nor_beyond_nyquist() {
    let image = fei_crop();
    let config = PreprocessConfig {
        max_resolution_angstrom: 3.4,
        highpass_angstrom: 200.0,
    };
    for ctf in [None, Some(ctf())] {
        let pre = preprocess(&image, &config, ctf.as_ref()).unwrap();
        let p = pre.image.pixel_size_angstrom.unwrap() as f64;
        assert!((p - 1.7).abs() < 0.01);
        let spec = HalfSpectrum::of(&pre.image);
        let (mut low, mut corner, mut total) = (0.0f64, 0.0f64, 0.0f64);
        let mut low_bins = 0;
        for_bins(&spec, &spec, p, |_, _, s, c, _| {
            let pw = c.norm_sqr() as f64;
            total += pw;
            if s <= 1.0 / 200.0 {
                low += pw;
                low_bins += 1;
            }
            if s > 0.5 / p {
                corner += pw;
            }
        });
        assert!(low_bins > 20, "{low_bins} bins below 1/200 Å⁻¹");
        assert!(low <= 1e-12 * total, "power below 1/200: {low} of {total}");
        assert!(
            corner <= 1e-12 * total,
            "power beyond Nyquist: {corner} of {total}"
        );
        // The mean is removed with the lowest frequencies.
        assert!(pre.image.stats().mean.abs() < 1e-3 * pre.image.stats().std);
    }
}

#[test]
fn phase_flipping_twice_is_identity_and_flips_negative_ctf() {
    let image = fei_crop();
    let once = phase_flip(&image, &ctf()).unwrap();
    let twice = phase_flip(&once, &ctf()).unwrap();
    let sd = image.stats().std as f32;
    let max_diff = twice
        .data
        .iter()
        .zip(&image.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max_diff < 1e-4 * sd,
        "flip twice differs by {max_diff} (σ {sd})"
    );
    // Once: every coefficient is ±1 times the original, −1 exactly where the CTF is negative.
    let (f0, f1) = (HalfSpectrum::of(&image), HalfSpectrum::of(&once));
    let scale = max_abs(&f0);
    let p = FEI_PIXEL as f64;
    let mut flipped = 0usize;
    for_bins(&f0, &f1, p, |kx, ky, _, a, b| {
        let (sx, sy) = f0.frequency(kx, ky, p);
        // The Nyquist column stands for ±sx: it takes |sy| (a real image's spectrum).
        let sy = if kx == 512 { sy.abs() } else { sy };
        let sign = if ctf().value(sx, sy) < 0.0 { -1.0 } else { 1.0 };
        assert!((b - a * sign).norm() < 1e-5 * scale, "bin ({kx}, {ky})");
        flipped += usize::from(sign < 0.0);
    });
    assert!(flipped > 1000);
    assert!(matches!(
        phase_flip(&image.clone().with_pixel_size(None), &ctf()),
        Err(RestoreError::UnknownPixelSize)
    ));
}

#[test]
fn crop_then_unbin_keeps_the_low_frequencies() {
    let image = fei_crop();
    // 4 Å -> 2 Å pixels: 1024 · 0.8538 / 2 = 437.1 -> 437 (odd) pixels.
    let binned = fourier_crop_to_resolution(&image, 4.0).unwrap();
    assert_eq!((binned.width, binned.height), (437, 437));
    let pb = binned.pixel_size_angstrom.unwrap() as f64;
    let back = unbin(&binned, 1024, 1024, FEI_PIXEL, None).unwrap();
    assert_eq!((back.width, back.height), (1024, 1024));
    assert_eq!(back.pixel_size_angstrom, Some(FEI_PIXEL));
    let (f0, f1) = (HalfSpectrum::of(&image), HalfSpectrum::of(&back));
    let scale = max_abs(&f0);
    let nyq = 0.5 / pb;
    let (mut kept, mut cut) = (0usize, 0usize);
    for_bins(&f0, &f1, FEI_PIXEL as f64, |kx, ky, s, a, b| {
        if s < 0.9 * nyq {
            assert!((a - b).norm() < 2e-5 * scale, "bin ({kx}, {ky}) at {s} Å⁻¹");
            kept += 1;
        } else if s >= nyq {
            assert!(
                b.norm() < 1e-5 * scale,
                "bin ({kx}, {ky}) beyond binned Nyquist"
            );
            cut += 1;
        }
    });
    assert!(kept > 50_000 && cut > 100_000, "{kept} kept, {cut} cut");
    // The whole restore round trip with phase flipping and flipping back: the band between
    // 1/160 Å⁻¹ (band-pass fully open) and 0.9 × Nyquist comes back unchanged.
    let config = PreprocessConfig {
        max_resolution_angstrom: 4.0,
        highpass_angstrom: 200.0,
    };
    let pre = preprocess(&image, &config, Some(&ctf())).unwrap();
    let back = unbin(&pre.image, 1024, 1024, FEI_PIXEL, Some(&ctf())).unwrap();
    let f2 = HalfSpectrum::of(&back);
    for_bins(&f0, &f2, FEI_PIXEL as f64, |kx, ky, s, a, b| {
        if s > 1.0 / 160.0 && s < 0.9 * nyq {
            assert!((a - b).norm() < 2e-5 * scale, "bin ({kx}, {ky}) at {s} Å⁻¹");
        }
    });
    assert!(matches!(
        unbin(&binned, 400, 1024, FEI_PIXEL, None),
        Err(RestoreError::ShapeTooSmall { .. })
    ));
}

#[test]
fn merge_filters_sum_to_one_everywhere() {
    for (cutoff, width) in [(8.0f32, 4.0f32), (3.0, 2.0), (20.0, 0.5)] {
        let f = MergeFilter::new(cutoff, width).unwrap();
        assert!((f.band_start_inv_angstrom - 1.0 / (cutoff + width) as f64).abs() < 1e-12);
        assert!((f.band_end_inv_angstrom - 1.0 / cutoff as f64).abs() < 1e-12);
        for i in 0..=10_000 {
            let s = i as f64 * 1e-4;
            let (l, h) = (f.lowpass(s), f.highpass(s));
            assert!((l + h - 1.0).abs() < 1e-15);
            assert!((0.0..=1.0).contains(&l));
        }
    }
    assert!(matches!(
        MergeFilter::new(0.0, 1.0),
        Err(MergeError::InvalidParameter { .. })
    ));
    assert!(matches!(
        MergeFilter::new(5.0, f32::NAN),
        Err(MergeError::InvalidParameter { .. })
    ));
}

#[test]
fn merged_spectrum_is_raw_above_the_band_and_scaled_denoised_below() {
    let (raw, denoised) = (fei_crop(), fei_crop_unet());
    assert_eq!(denoised.pixel_size_angstrom, None);
    let (m, report) = merge_with_report(&raw, &denoised, 8.0, 4.0).unwrap();
    assert_eq!((m.width, m.height), (1024, 1024));
    assert_eq!(m.pixel_size_angstrom, Some(FEI_PIXEL));
    let (fr, fd, fm) = (
        HalfSpectrum::of(&raw),
        HalfSpectrum::of(&denoised),
        HalfSpectrum::of(&m),
    );
    let k = report.scale as f32;
    let tol = 2e-5 * max_abs(&fr).max(max_abs(&fd));
    let f = report.filter;
    let p = FEI_PIXEL as f64;
    let (mut above, mut below, mut band) = (0usize, 0usize, 0usize);
    for kx in 0..=512usize {
        for ky in 0..1024usize {
            let i = kx * 1024 + ky;
            let (sx, sy) = fm.frequency(kx, ky, p);
            let s = (sx * sx + sy * sy).sqrt();
            let (r, d, mm) = (fr.data[i], fd.data[i], fm.data[i]);
            if i == 0 {
                assert!((mm - d).norm() < tol, "the mean is the denoised image's");
            } else if s >= 1.0 / 8.0 {
                assert!((mm - r).norm() < tol, "above the band: raw at ({kx}, {ky})");
                above += 1;
            } else if s <= 1.0 / 12.0 {
                assert!((mm - d * k).norm() < tol, "below the band: k·denoised");
                below += 1;
            } else {
                let l = f.lowpass(s) as f32;
                assert!((mm - (d * (l * k) + r * (1.0 - l))).norm() < tol);
                band += 1;
            }
        }
    }
    assert!(
        above > 400_000 && below > 5_000 && band > 5_000,
        "{above} {below} {band}"
    );
    // Topaz's unet damps high frequencies, so its band amplitudes are scaled up.
    assert!(report.scale > 1.0, "scale {}", report.scale);
}

#[test]
fn merge_band_normalisation_holds() {
    let (raw, denoised) = (fei_crop(), fei_crop_unet());
    let (_, report) = merge_with_report(&raw, &denoised, 8.0, 4.0).unwrap();
    // Independently: full-plane std of |R| and of |k·D| over the components strictly inside
    // the band, from the full (not half) spectrum through the conjugate mirror.
    let (fr, fd) = (HalfSpectrum::of(&raw), HalfSpectrum::of(&denoised));
    let p = FEI_PIXEL as f64;
    let n = 1024i64;
    let (mut ar, mut ad) = (Vec::new(), Vec::new());
    for kx in -n / 2 + 1..=n / 2 {
        for ky in -n / 2 + 1..=n / 2 {
            let s = ((kx * kx + ky * ky) as f64).sqrt() / (n as f64 * p);
            if !report.filter.in_band(s) {
                continue;
            }
            let (kxa, kya) = if kx >= 0 { (kx, ky) } else { (-kx, -ky) };
            ar.push(fr.get(kxa as usize, kya).unwrap().norm() as f64);
            ad.push(report.scale * fd.get(kxa as usize, kya).unwrap().norm() as f64);
        }
    }
    let std = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
    };
    assert!(ar.len() > 1000);
    let (sr, sd) = (std(&ar), std(&ad));
    assert!(
        (sr - sd).abs() < 1e-3 * sr,
        "band std raw {sr} vs scaled denoised {sd}"
    );
    assert!((sr - report.raw_band_amplitude_std).abs() < 1e-3 * sr);

    // Known truth: a "denoiser" that halves the image is scaled back by exactly 2, so the
    // merge returns the raw image, less half its mean (the mean is the denoised image's).
    let half = Image {
        data: raw.data.iter().map(|v| 0.5 * v).collect(),
        ..raw.clone()
    };
    let (m, report) = merge_with_report(&raw, &half, 6.0, 3.0).unwrap();
    assert!((report.scale - 2.0).abs() < 1e-4, "scale {}", report.scale);
    let mean = raw.stats().mean as f32;
    let sd = raw.stats().std as f32;
    for (a, b) in m.data.iter().zip(&raw.data) {
        assert!((a - (b - 0.5 * mean)).abs() < 1e-3 * sd);
    }
}

#[test]
fn merger_reuses_the_spectra_for_new_cutoffs() {
    let (raw, denoised) = (fei_crop(), fei_crop_unet());
    let merger = Merger::new(&raw, &denoised).unwrap();
    assert_eq!(merger.pixel_size_angstrom(), FEI_PIXEL);
    for (cutoff, width) in [(8.0, 4.0), (15.0, 10.0)] {
        let (a, ra) = merger.merge(cutoff, width).unwrap();
        let (b, rb) = merge_with_report(&raw, &denoised, cutoff, width).unwrap();
        assert_eq!(a, b);
        assert_eq!(ra, rb);
    }
    // A wider, lower-resolution band gives a different normalisation.
    let k1 = merger.merge(8.0, 4.0).unwrap().1.scale;
    let k2 = merger.merge(15.0, 10.0).unwrap().1.scale;
    assert!((k1 - k2).abs() > 1e-3 * k1);
}

#[test]
fn merge_errors_are_clear() {
    let raw = fei_crop();
    let small = raw.crop(0, 0, 512, 512);
    assert!(matches!(
        merge(&raw, &small, 8.0, 4.0),
        Err(MergeError::ShapeMismatch { .. })
    ));
    let other = raw.clone().with_pixel_size(Some(1.0));
    let e = merge(&raw, &other, 8.0, 4.0).unwrap_err();
    assert!(matches!(e, MergeError::PixelSizeMismatch { .. }));
    let none = raw.clone().with_pixel_size(None);
    assert_eq!(
        merge(&none, &none, 8.0, 4.0).unwrap_err(),
        MergeError::UnknownPixelSize
    );
    assert!(matches!(
        merge(&raw, &raw, -8.0, 4.0),
        Err(MergeError::InvalidParameter { .. })
    ));
    // A band entirely beyond the corners of the spectrum (Nyquist 1.71 Å).
    let e = merge(&raw, &raw, 0.5, 0.3).unwrap_err();
    assert!(matches!(e, MergeError::EmptyBand { .. }), "{e}");
    assert!(e.to_string().contains("Nyquist"));
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cryolens"))
        .args(args)
        .output()
        .expect("running cryolens")
}

#[test]
fn cli_merge_writes_the_merged_image() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged.mrc");
    let raw_path = common::golden("fei-extended_crop1024.mrc");
    let den_path = common::golden("fei-extended_crop1024.unet.mrc");
    let o = cli(&[
        "merge",
        raw_path.to_str().unwrap(),
        den_path.to_str().unwrap(),
        "--cutoff-angstrom",
        "8",
        "--width-angstrom",
        "4",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let written = read_micrograph(&out).unwrap();
    assert_eq!((written.width, written.height), (1024, 1024));
    assert!((written.pixel_size_angstrom.unwrap() - FEI_PIXEL).abs() < 1e-5);
    let want = merge(&fei_crop(), &fei_crop_unet(), 8.0, 4.0).unwrap();
    let sd = want.stats().std as f32;
    for (a, b) in written.data.iter().zip(&want.data) {
        assert!((a - b).abs() <= 1e-5 * sd);
    }
    // Different from both inputs.
    let raw = fei_crop();
    assert!(
        written
            .data
            .iter()
            .zip(&raw.data)
            .any(|(a, b)| (a - b).abs() > 0.1 * sd)
    );

    // Shape mismatch: non-zero exit and a message naming the problem.
    let ucsf = common::data("micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
    let o = cli(&[
        "merge",
        ucsf.to_str().unwrap(),
        den_path.to_str().unwrap(),
        "--cutoff-angstrom",
        "8",
        "--width-angstrom",
        "4",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("same shape"));
    // Neither ucsf-1142 nor its Topaz output has a pixel size: an error, unless one is given.
    let ucsf_unet = common::golden("ucsf-1142.unet.mrc");
    let args = |extra: &[&str]| {
        let mut v = vec![
            "merge".to_string(),
            ucsf.to_str().unwrap().to_string(),
            ucsf_unet.to_str().unwrap().to_string(),
            "--cutoff-angstrom".into(),
            "30".into(),
            "--width-angstrom".into(),
            "10".into(),
            "--output".into(),
            out.to_str().unwrap().to_string(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let a = args(&[]);
    let o = cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("pixel size"));
    let a = args(&["--pixel-size-angstrom", "4.0"]);
    let o = cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read_micrograph(&out).unwrap().pixel_size_angstrom,
        Some(4.0)
    );
}

#[test]
fn wdsr_parameter_count_matches_the_paper() {
    let cfg = WdsrConfig::paper();
    // S2.2: "96 convolutional layers with 2.3 million trainable parameters".
    assert_eq!(cfg.conv_layers(), 96);
    let weights = cfg.weight_count() as f64;
    // The paper rounds to two significant figures; our count (weight-norm gains excluded, as
    // Keras keeps them in the optimiser) must be within 5 % of 2.3 M.
    assert!(
        (weights / 2.3e6 - 1.0).abs() < 0.05,
        "{weights} weights vs the paper's 2.3 M"
    );
    // With 3×3 decoder kernels the count is far from the paper's (1.79 M, −22 %).
    let k3 = WdsrConfig {
        decoder_kernel_size: 3,
        ..cfg
    };
    assert!((k3.weight_count() as f64 / 2.3e6 - 1.0).abs() > 0.2);
    // Counted by hand from S2.2/Fig. S1 (head 320, per level: down block 67,972, up block
    // 726,167 with 4×4 decoder kernels or 526,583 with 3×3; output 1,089).
    assert_eq!(cfg.weight_count(), 320 + 3 * (67_972 + 726_167) + 1_089);
    assert_eq!(k3.weight_count(), 320 + 3 * (67_972 + 526_583) + 1_089);
    assert_eq!(cfg.parameter_count() - cfg.weight_count(), 9_362);
    // The burn module holds exactly the analytic count, gains included.
    let model = cfg.init(&Device::flex());
    assert_eq!(model.num_params(), cfg.parameter_count());
    assert!(cfg.parameter_count() > cfg.weight_count());
}

#[test]
fn wdsr_forward_keeps_the_shape() {
    let device = Device::flex();
    let model = WdsrConfig::paper().init(&device);
    for (h, w) in [(64usize, 64usize), (32, 48)] {
        let x = Tensor::<4>::random(
            [2, 1, h, w],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let y = model.forward(x);
        assert_eq!(y.dims(), [2, 1, h, w]);
        let v = y.into_data().as_slice::<f32>().unwrap().to_vec();
        assert!(v.iter().all(|x| x.is_finite()));
    }
    // Any size through padding.
    let x = Tensor::<4>::random(
        [1, 1, 37, 50],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    assert_eq!(model.forward_padded(x).dims(), [1, 1, 37, 50]);
}

/// The network trains: a small WDSR U-net learns the identity on noise images with Adam
/// (gradients flow through the weight-norm parametrisation, the residual paths, pooling and
/// depth-to-space).
#[test]
fn wdsr_learns_the_identity() {
    let device = Device::flex().autodiff();
    let cfg = WdsrConfig {
        filters: 8,
        expansion: 2,
        reduction: 0.8,
        levels: 2,
        blocks_per_level: 2,
        kernel_size: 3,
        decoder_kernel_size: 4,
    };
    let mut model: WdsrUNet = cfg.init(&device).set_require_grad(true);
    let mut optim = AdamConfig::new().init();
    let x = Tensor::<4>::random(
        [4, 1, 16, 16],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let loss_of = |m: &WdsrUNet| (m.forward(x.clone()) - x.clone()).powf_scalar(2.0).mean();
    let first: f32 = loss_of(&model).into_data().as_slice::<f32>().unwrap()[0];
    for _ in 0..60 {
        let loss = loss_of(&model);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let last: f32 = loss_of(&model).into_data().as_slice::<f32>().unwrap()[0];
    assert!(last < 0.5 * first, "loss {first} -> {last}");
}

// ---- restore's WDSR U-net through the training loop, and the restore denoiser ----

use std::sync::Arc;

use cryolens::denoise::{Denoiser2d, RestoreDenoiser, TileConfig};
use cryolens::device::ComputeDevice;
use cryolens::jobs::Progress;
use cryolens::models::ModelSpec;
use cryolens::models::format::{self, ArchJson, Provenance, RestorePreprocessing};
use cryolens::train::{
    self, DataOptions, LossKind, OptimizerKind, PairSource, StepDecay, TrainConfig, TrainEnd,
    TrainRun, TrainShared,
};

/// A WDSR U-net small enough to train in seconds (receptive radius 34 px).
fn tiny_wdsr() -> WdsrConfig {
    WdsrConfig {
        filters: 8,
        expansion: 2,
        reduction: 0.8,
        levels: 2,
        blocks_per_level: 2,
        kernel_size: 3,
        decoder_kernel_size: 4,
    }
}

/// 512² of fei-extended's top-left (training rows), as an MRC file to count split.
fn fei_training_crop(dir: &std::path::Path) -> std::path::PathBuf {
    let crop = fei_full().crop(0, 0, 512, 512);
    assert_eq!(crop.pixel_size_angstrom, Some(FEI_PIXEL));
    let path = dir.join("fei-crop.mrc");
    cryolens::io::mrc::write_image(&path, &crop).unwrap();
    path
}

/// Trains the tiny WDSR U-net through `train::train` on count-split halves of a fei-extended
/// crop, preprocessed as restore does (max resolution 6 Å → 3 Å/px, 512² → 146²).
fn train_tiny_wdsr(dir: &std::path::Path) -> train::TrainOutcome {
    let path = fei_training_crop(dir);
    let base = TrainConfig::restore();
    // restore's defaults, shrunk: same optimiser and decay shape, small crops and model.
    assert_eq!(base.data.crop_px, 192);
    assert_eq!(base.data.batch, 10);
    assert_eq!(base.steps_per_epoch, Some(500));
    assert_eq!(base.epochs, 100);
    assert_eq!(base.learning_rate_at(24), 1e-4);
    assert_eq!(base.learning_rate_at(25), 0.25e-4);
    let config = TrainConfig {
        wdsr: Some(tiny_wdsr()),
        learning_rate: 3e-3,
        lr_decay: Some(StepDecay {
            factor: 0.5,
            every_epochs: 2,
        }),
        epochs: 3,
        steps_per_epoch: Some(10),
        loss: LossKind::L2,
        optimizer: OptimizerKind::Adam,
        data: DataOptions {
            crop_px: 48,
            batch: 4,
            holdout_fraction: 0.25,
            seed: 3,
            validation_crops: 4,
            restore: Some(RestorePreprocessing {
                max_resolution_angstrom: 6.0,
                highpass_angstrom: 200.0,
                ctf_star: None,
            }),
            ..DataOptions::default()
        },
        preview_size_px: 64,
        ..base
    };
    let run = TrainRun {
        config,
        sources: train::count_split_sources(&[path], true),
        output: dir.join("trained").join("tiny-restore.safetensors"),
        resume: false,
        command_line: "test".into(),
        notes: String::new(),
    };
    train::train(
        &run,
        &ComputeDevice::flex("test"),
        &Progress::new(),
        &TrainShared::new(),
    )
    .expect("training the WDSR U-net")
}

/// The tiny WDSR U-net trains through the loop on count-split real data (the validation loss
/// falls), its JSON records the architecture and restore's preprocessing, a save → load round
/// trip computes the same output, and the model loads by name (`ModelSpec`, `cryolens
/// denoise --model NAME`) as a restore denoiser.
#[test]
fn wdsr_trains_on_count_split_fei_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_tiny_wdsr(dir.path());
    assert_eq!(out.end, TrainEnd::Completed);
    assert_eq!(out.steps, 30);
    let first = out.history.first().unwrap().validation_loss.unwrap();
    let last = out.final_validation_loss.unwrap();
    assert!(last < first, "validation loss {first} -> {last}");

    let weights = out.model_path.unwrap();
    let meta = format::read_meta::<TrainConfig>(&weights).unwrap();
    assert_eq!(meta.architecture, ArchJson::Wdsr(tiny_wdsr()));
    let r = meta.training.data.restore.clone().unwrap();
    assert_eq!(r.max_resolution_angstrom, 6.0);
    assert_eq!(r.highpass_angstrom, 200.0);
    assert!(!r.phase_flip());
    assert_eq!(meta.training.lr_decay.unwrap().every_epochs, 2);
    // The training data were binned to max_resolution / 2 = 3 Å/px.
    let p = meta.pixel_size_angstrom.unwrap();
    assert!((p - 3.0).abs() < 0.02, "training pixel size {p}");
    assert!(meta.data.count_split);
    // A Topaz loader refuses it with a clear message.
    let err = format::load_model::<TrainConfig>(&weights, &Device::flex()).unwrap_err();
    assert!(err.to_string().contains("restore"), "{err}");

    // Save → load: the same output.
    let device = Device::flex();
    let (model, cfg, meta) = format::load_wdsr_model::<TrainConfig>(&weights, &device).unwrap();
    assert_eq!(cfg, tiny_wdsr());
    let copy = dir.path().join("copy.safetensors");
    format::save_model(&model, &meta, &copy).unwrap();
    let (back, _, _) = format::load_wdsr_model::<TrainConfig>(&copy, &device).unwrap();
    let input = Image::new(
        40,
        24,
        (0..960)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect(),
    )
    .unwrap();
    let ya = train::denoise_normalised(&model, &input, &device).unwrap();
    let yb = train::denoise_normalised(&back, &input, &device).unwrap();
    assert_eq!(ya.data, yb.data);
    assert!(ya.data.iter().any(|v| *v != 0.0));

    // By path through ModelSpec and the generic 2D denoiser: a restore model.
    let spec = ModelSpec::parse(weights.to_str().unwrap()).unwrap();
    let den = Denoiser2d::load(&spec, &ComputeDevice::cpu("test")).unwrap();
    assert!(den.config().is_none());
    let restore = den.restore().expect("a restore model");
    assert_eq!(restore.max_resolution_angstrom(), 6.0);
    assert!(
        den.describe().contains("restore (WDSR U-net"),
        "{}",
        den.describe()
    );
    assert!(
        den.describe().contains("max resolution 6 Å"),
        "{}",
        den.describe()
    );

    // By name from the trained-models folder, through the CLI.
    let input_path = dir.path().join("held-out.mrc");
    cryolens::io::mrc::write_image(&input_path, &fei_full().crop(0, 3200, 300, 256)).unwrap();
    let out_dir = dir.path().join("denoised");
    let output = Command::new(env!("CARGO_BIN_EXE_cryolens"))
        .env("CRYOLENS_MODELS_DIR", dir.path())
        .args([
            "denoise",
            "--model",
            "tiny-restore",
            "--device",
            "cpu",
            "-o",
        ])
        .arg(&out_dir)
        .arg(&input_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("restore (WDSR U-net"), "{stdout}");
    let denoised = read_micrograph(&out_dir.join("held-out.mrc")).unwrap();
    assert_eq!((denoised.width, denoised.height), (300, 256));
    let direct = restore
        .denoise(
            &read_micrograph(&input_path).unwrap(),
            &TileConfig::default(),
            &Progress::new(),
        )
        .unwrap();
    let diff = denoised
        .data
        .iter()
        .zip(&direct.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-3, "CLI and library differ by {diff}");
}

/// A restore denoiser with a freshly initialised tiny network (the properties below hold for
/// any weights).
fn untrained_restore(max_resolution_angstrom: f64) -> RestoreDenoiser {
    let device = ComputeDevice::flex("test");
    let arch = ArchJson::Wdsr(tiny_wdsr());
    let train::TrainableModel::Wdsr(model) =
        train::TrainableModel::init_seeded(arch, 11, &device.burn)
    else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut meta_config = TrainConfig::restore();
    meta_config.data.restore = Some(RestorePreprocessing {
        max_resolution_angstrom,
        ..RestorePreprocessing::default()
    });
    let meta = format::ModelMeta {
        format: format::MODEL_FORMAT.into(),
        version: format::MODEL_FORMAT_VERSION,
        architecture: arch,
        architecture_name: tiny_wdsr().describe(),
        training: meta_config,
        data: Default::default(),
        pixel_size_angstrom: None,
        provenance: Provenance {
            steps: 0,
            final_validation_loss: None,
            final_train_loss: None,
            created_utc: format::utc_now_iso8601(),
            command_line: "test".into(),
            device: "test".into(),
            cryolens_version: "test".into(),
            notes: String::new(),
        },
    };
    // Through the file format, so the JSON's preprocessing is what the denoiser uses.
    let path = dir.path().join("r.safetensors");
    format::save_model(&model, &meta, &path).unwrap();
    RestoreDenoiser::load(&ModelSpec::File(path), &device).unwrap()
}

/// The restore denoiser returns the input's shape and pixel size; its output has no power
/// beyond the binned Nyquist frequency 1/max_resolution (before any merge) nor below
/// 1/200 Å⁻¹ apart from the mean; tiling gives the untiled result.
#[test]
fn restore_denoiser_keeps_shape_and_band_limit() {
    let den = untrained_restore(4.5);
    let image = fei_full().crop(700, 900, 600, 520);
    let progress = Progress::new();
    let out = den
        .denoise(&image, &TileConfig::default(), &progress)
        .unwrap();
    assert_eq!((out.width, out.height), (600, 520));
    assert_eq!(out.pixel_size_angstrom, Some(FEI_PIXEL));
    assert!(out.data.iter().all(|v| v.is_finite()));
    // The mean of the input is kept.
    let (mi, mo) = (image.stats().mean, out.stats().mean);
    assert!((mi - mo).abs() < 1e-3 * mi.abs().max(1.0), "{mi} vs {mo}");

    let spec = HalfSpectrum::of(&out);
    let total: f64 = spec.data.iter().map(|c| c.norm_sqr() as f64).sum();
    let (mut beyond, mut inside) = (0.0f64, 0.0f64);
    let s_nyq = 1.0 / 4.5;
    for_bins(&spec, &spec, FEI_PIXEL as f64, |kx, ky, s, a, _| {
        if kx == 0 && ky == 0 {
            return;
        }
        if s >= s_nyq {
            beyond += a.norm_sqr() as f64;
        } else if s > 1.0 / 200.0 {
            inside += a.norm_sqr() as f64;
        }
    });
    assert!(inside > 0.0);
    assert!(
        beyond < 1e-8 * total,
        "power beyond 1/4.5 Å⁻¹: {beyond} of {total}"
    );

    // The binned stage: 2.25 Å/px, and tiles (core 64) reproduce the whole-image run.
    let whole = den
        .denoise_binned(
            &image,
            None,
            &TileConfig {
                patch_size: 0,
                padding: None,
            },
            &progress,
        )
        .unwrap();
    let p = whole.denoised.pixel_size_angstrom.unwrap();
    assert!((p - 2.25).abs() < 0.01, "binned pixel size {p}");
    assert_eq!(
        (whole.denoised.width, whole.denoised.height),
        (
            whole.preprocessed.image.width,
            whole.preprocessed.image.height
        )
    );
    let tiled = den
        .denoise_binned(
            &image,
            None,
            &TileConfig {
                patch_size: 64,
                padding: None,
            },
            &progress,
        )
        .unwrap();
    assert!(
        progress.counts().1 > 4,
        "tiled into {:?}",
        progress.counts()
    );
    let scale = whole.denoised.stats().std as f32;
    let diff = whole
        .denoised
        .data
        .iter()
        .zip(&tiled.denoised.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff < 1e-4 * scale, "tiled vs whole: {diff} (σ {scale})");

    // Phase flipped in and back out: still the input's shape and pixel size.
    let flipped = den
        .denoise_with_ctf(
            &image,
            Some(&ctf()),
            true,
            &TileConfig::default(),
            &progress,
        )
        .unwrap();
    assert_eq!((flipped.width, flipped.height), (600, 520));
    assert_eq!(flipped.pixel_size_angstrom, Some(FEI_PIXEL));
}

/// Bad input gives errors, not panics.
#[test]
fn restore_denoiser_errors_are_clear() {
    let den = untrained_restore(4.5);
    let p = Progress::new();
    let t = TileConfig::default();
    let no_pixel = Image::new(64, 64, (0..4096).map(|i| (i % 7) as f32).collect()).unwrap();
    let e = den.denoise(&no_pixel, &t, &p).unwrap_err();
    assert!(format!("{e:#}").contains("pixel size"), "{e:#}");
    let mut nan = fei_full().crop(0, 0, 64, 64);
    nan.data[5] = f32::NAN;
    assert!(den.denoise(&nan, &t, &p).is_err());
    let constant = Image::new(64, 64, vec![3.0; 4096])
        .unwrap()
        .with_pixel_size(Some(1.0));
    let e = den.denoise(&constant, &t, &p).unwrap_err();
    assert!(format!("{e:#}").contains("constant"), "{e:#}");
    let e = den
        .denoise_with_ctf(&fei_full().crop(0, 0, 64, 64), None, true, &t, &p)
        .unwrap_err();
    assert!(format!("{e:#}").contains("CTF"), "{e:#}");
    // A Topaz-architecture file is not a restore model.
    let bundled = ModelSpec::parse(format::BUNDLED_DEFAULT_MODEL).unwrap();
    let e = RestoreDenoiser::load(&bundled, &ComputeDevice::flex("test"))
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("not a restore"), "{e:#}");
    // Phase flipping the training data needs a CTF for every micrograph.
    let dir = tempfile::tempdir().unwrap();
    let star = dir.path().join("ctf.star");
    std::fs::write(
        &star,
        "data_\nloop_\n_rlnMicrographName\n_rlnDefocusU\n_rlnDefocusV\n_rlnDefocusAngle\n\
         _rlnVoltage\n_rlnSphericalAberration\n_rlnAmplitudeContrast\nother.mrc 10000 10000 0 300 2.7 0.1\n",
    )
    .unwrap();
    let im = Arc::new(fei_full().crop(0, 0, 256, 256));
    let e = train::TrainingData::new(
        vec![PairSource::InMemory {
            name: "fei".into(),
            even: Arc::clone(&im),
            odd: im,
        }],
        DataOptions {
            crop_px: 32,
            restore: Some(RestorePreprocessing {
                ctf_star: Some(star),
                ..RestorePreprocessing::default()
            }),
            ..DataOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(format!("{e:#}").contains("no CTF for fei"), "{e:#}");
}
