//! restore (Palovcak et al. 2020, supplement S2.1-S2.3): Fourier cropping, band-pass, CTF phase
//! flipping and unbinning on real micrographs. The merge is in `restore_merge.rs`, the WDSR
//! U-net and the restore denoiser in `restore_wdsr.rs`.

mod common;

use common::restore_data::{FEI_PIXEL, ctf, fei_crop, fei_full, for_bins, max_abs};
use cryolens::fourier::merge::HalfSpectrum;
use cryolens::io::read_micrograph;
use cryolens::restore::{
    PreprocessConfig, RestoreError, UNBIN_MAX_EDGE_FRACTION, UNBIN_SOFT_EDGE_PX,
    fourier_crop_to_resolution, phase_flip, preprocess, unbin, unbin_soft_edge,
};

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
    // restore's released soft mask: 1 up to the edge, a quarter sine down to 0 at Nyquist.
    let fourier_px = 1.0 / (1024.0 * FEI_PIXEL as f64);
    let edge_px = UNBIN_SOFT_EDGE_PX.min(UNBIN_MAX_EDGE_FRACTION * nyq / fourier_px);
    let open = nyq - (edge_px - 1.0) * fourier_px;
    let (mut kept, mut edge, mut cut) = (0usize, 0usize, 0usize);
    for_bins(&f0, &f1, FEI_PIXEL as f64, |kx, ky, s, a, b| {
        if s < open {
            assert!((a - b).norm() < 2e-5 * scale, "bin ({kx}, {ky}) at {s} Å⁻¹");
            kept += 1;
        } else if s < nyq {
            let m = unbin_soft_edge((nyq - s) / fourier_px, edge_px);
            assert!(
                (a * m as f32 - b).norm() < 2e-5 * scale,
                "bin ({kx}, {ky}) at {s} Å⁻¹ in the soft edge"
            );
            edge += 1;
        } else if s >= nyq {
            assert!(
                b.norm() < 1e-5 * scale,
                "bin ({kx}, {ky}) beyond binned Nyquist"
            );
            cut += 1;
        }
    });
    assert!(
        kept > 30_000 && edge > 10_000 && cut > 100_000,
        "{kept} kept, {edge} in the edge, {cut} cut"
    );
    // The whole restore round trip with phase flipping and flipping back: the band between
    // 1/160 Å⁻¹ (band-pass fully open) and the soft edge comes back unchanged.
    let config = PreprocessConfig {
        max_resolution_angstrom: 4.0,
        highpass_angstrom: 200.0,
    };
    let pre = preprocess(&image, &config, Some(&ctf())).unwrap();
    let back = unbin(&pre.image, 1024, 1024, FEI_PIXEL, Some(&ctf())).unwrap();
    let f2 = HalfSpectrum::of(&back);
    for_bins(&f0, &f2, FEI_PIXEL as f64, |kx, ky, s, a, b| {
        if s > 1.0 / 160.0 && s < open {
            assert!((a - b).norm() < 2e-5 * scale, "bin ({kx}, {ky}) at {s} Å⁻¹");
        }
    });
    assert!(matches!(
        unbin(&binned, 400, 1024, FEI_PIXEL, None),
        Err(RestoreError::ShapeTooSmall { .. })
    ));
}
