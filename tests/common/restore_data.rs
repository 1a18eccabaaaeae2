//! Shared data and helpers of the restore tests (`tests/restore*.rs`): the real FEI
//! micrograph and its golden 1024² crop (with Topaz's unet output), a CTF near its defocus, and
//! half-plane spectrum helpers.

use cryolens::ctf::Ctf;
use cryolens::fourier::merge::HalfSpectrum;
use cryolens::image::Image;
use cryolens::io::read_micrograph;

/// Pixel size of fei-extended.mrc's header (Å/px).
pub const FEI_PIXEL: f32 = 0.853_775_5;

pub fn fei_full() -> Image {
    read_micrograph(&super::data("micrographs/fei-extended/fei-extended.mrc")).unwrap()
}

/// The 1024² crop of fei-extended used for the golden Topaz outputs, with its pixel size.
pub fn fei_crop() -> Image {
    let im = read_micrograph(&super::golden("fei-extended_crop1024.mrc")).unwrap();
    assert_eq!(im.pixel_size_angstrom, Some(FEI_PIXEL));
    im
}

/// Topaz's unet output on that crop (its header has no pixel size).
pub fn fei_crop_unet() -> Image {
    read_micrograph(&super::golden("fei-extended_crop1024.unet.mrc")).unwrap()
}

pub fn ctf() -> Ctf {
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
pub fn max_abs(s: &HalfSpectrum) -> f32 {
    s.data.iter().map(|c| c.norm()).fold(0.0, f32::max)
}

/// Calls `f(s, a, b)` for every half-plane bin of two spectra of the same shape (s in Å⁻¹).
pub fn for_bins(
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
