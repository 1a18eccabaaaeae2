//! Fourier shell correlation (FSC) between two volumes, its 0.143 and 0.5 crossings, the
//! C_ref curve, and signal/noise/bias variances per Fourier shell from noisy and denoised
//! half-maps.
//!
//! Sources: Agarwal et al. 2024, crefDenoiser (`shared/seeds/003_*`), eq. 12–16 (variances
//! per shell from half-map covariances) and the C_ref target C_ref = √(2·FSC/(1+FSC)), the
//! expected correlation of the half-map average with the true map (Rosenthal & Henderson
//! 2003); Palovcak et al. 2020 supplement eq. 15–18 and 24 (the same estimators per 2D ring,
//! [`super::variance_estimate_rings`]).
//!
//! Shells (the 3D form of [`super::RingCurve`]'s rings, sharing its curve type): for a
//! volume of `depth` × `height` × `width` voxels and n = min of the three, the Fourier
//! component (kx, ky, kz) (signed) has frequency f = √((kx/width)² + (ky/height)² +
//! (kz/depth)²) cycles/voxel and belongs to shell s = round(f · n / `shell_width`). Shells
//! run to ⌊(n/2)/`shell_width`⌋ (Nyquist); the corners beyond and the DC term are left out.
//! Frequencies are in Å⁻¹ when the voxel size is known, cycles/voxel otherwise. Covariances
//! per shell (eq. 16) are divided by the number of components and by the number of voxels,
//! so that white noise of variance σ² gives σ² in every shell.
//!
//! A mask, when given, multiplies both volumes voxel by voxel before the transforms.

use rayon::prelude::*;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex;

use super::frc::{RingCurve, build_curve};
use super::{FrequencyUnit, VarianceEstimate};
use crate::image::Volume;

/// Errors of the volume metrics.
#[derive(Debug, thiserror::Error)]
pub enum FscError {
    /// A volume's buffer does not match its shape, or it is empty.
    #[error("{what}: {width}×{height}×{depth} voxels (x, y, z) but {len} values")]
    BadShape {
        /// Which input.
        what: &'static str,
        /// Columns.
        width: usize,
        /// Rows.
        height: usize,
        /// Sections.
        depth: usize,
        /// Number of values held.
        len: usize,
    },
    /// A non-finite value.
    #[error("{what} has a non-finite value at voxel index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// First bad index (`[z][y][x]` order).
        index: usize,
    },
    /// Two inputs differ in shape.
    #[error(
        "{what} is {got:?} voxels (z, y, x) but {reference} is {expected:?}; the volumes must have the same shape"
    )]
    ShapeMismatch {
        /// The input that differs.
        what: &'static str,
        /// The input it was compared with.
        reference: &'static str,
        /// Its shape `[z, y, x]`.
        got: [usize; 3],
        /// The reference shape.
        expected: [usize; 3],
    },
    /// Two inputs have different known voxel sizes.
    #[error(
        "{what} has a voxel size of {got} Å but {reference} has {expected} Å; the volumes must have the same sampling"
    )]
    PixelSizeMismatch {
        /// The input that differs.
        what: &'static str,
        /// The input it was compared with.
        reference: &'static str,
        /// Its voxel size (Å).
        got: f32,
        /// Reference voxel size (Å).
        expected: f32,
    },
    /// A parameter out of range.
    #[error("{what} must be {requirement}, got {value}")]
    InvalidParameter {
        /// The parameter.
        what: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// What was given.
        value: f64,
    },
}

fn shape_of(v: &Volume) -> [usize; 3] {
    [v.depth, v.height, v.width]
}

/// Checks the volumes (buffer, finiteness, equal shapes, compatible voxel sizes within
/// 0.01 %). Returns the first known voxel size.
pub(crate) fn check_volumes(vols: &[(&'static str, &Volume)]) -> Result<Option<f32>, FscError> {
    let Some(&(ref_name, reference)) = vols.first() else {
        return Ok(None);
    };
    let mut known: Option<(&'static str, f32)> = None;
    for &(what, v) in vols {
        let n = v.width * v.height * v.depth;
        if n == 0 || v.data.len() != n {
            return Err(FscError::BadShape {
                what,
                width: v.width,
                height: v.height,
                depth: v.depth,
                len: v.data.len(),
            });
        }
        if let Some(index) = v.data.iter().position(|x| !x.is_finite()) {
            return Err(FscError::NonFinite { what, index });
        }
        if shape_of(v) != shape_of(reference) {
            return Err(FscError::ShapeMismatch {
                what,
                reference: ref_name,
                got: shape_of(v),
                expected: shape_of(reference),
            });
        }
        if let Some(p) = v.pixel_size_angstrom.filter(|p| p.is_finite() && *p > 0.0) {
            match known {
                None => known = Some((what, p)),
                Some((r, q)) if ((p - q) / q).abs() > 1e-4 => {
                    return Err(FscError::PixelSizeMismatch {
                        what,
                        reference: r,
                        got: p,
                        expected: q,
                    });
                }
                Some(_) => {}
            }
        }
    }
    Ok(known.map(|k| k.1))
}

/// In-place 3D DFT of a `[z][y][x]` complex buffer of `shape` `[depth, height, width]`,
/// unnormalised in both directions (the inverse needs a division by the voxel count).
pub(crate) fn fft3_in_place(buf: &mut [Complex<f32>], shape: [usize; 3], inverse: bool) {
    let [d, h, w] = shape;
    let mut planner = FftPlanner::<f32>::new();
    let mut plan = |n: usize| {
        if inverse {
            planner.plan_fft_inverse(n)
        } else {
            planner.plan_fft_forward(n)
        }
    };
    let (px, py, pz) = (plan(w), plan(h), plan(d));
    // x: contiguous lines.
    buf.par_chunks_mut(w * h).for_each(|section| {
        let mut scratch = vec![Complex::default(); px.get_inplace_scratch_len()];
        px.process_with_scratch(section, &mut scratch);
    });
    // y: per section, through a transpose.
    buf.par_chunks_mut(w * h).for_each(|section| {
        let mut t = vec![Complex::default(); w * h];
        for y in 0..h {
            for x in 0..w {
                t[x * h + y] = section[y * w + x];
            }
        }
        let mut scratch = vec![Complex::default(); py.get_inplace_scratch_len()];
        py.process_with_scratch(&mut t, &mut scratch);
        for y in 0..h {
            for x in 0..w {
                section[y * w + x] = t[x * h + y];
            }
        }
    });
    // z: lines of stride w·h, through a transpose of [d][w·h].
    let plane = w * h;
    let mut t = vec![Complex::default(); buf.len()];
    t.par_chunks_mut(d).enumerate().for_each(|(i, line)| {
        for (z, v) in line.iter_mut().enumerate() {
            *v = buf[z * plane + i];
        }
    });
    t.par_chunks_mut(d).for_each(|line| {
        let mut scratch = vec![Complex::default(); pz.get_inplace_scratch_len()];
        pz.process_with_scratch(line, &mut scratch);
    });
    buf.par_chunks_mut(plane)
        .enumerate()
        .for_each(|(z, section)| {
            for (i, v) in section.iter_mut().enumerate() {
                *v = t[i * d + z];
            }
        });
}

/// Forward 3D DFT (unnormalised) of a real `[z][y][x]` volume; full complex spectrum in the
/// same layout (index `(kz·height + ky)·width + kx`, negative frequencies above n/2).
pub(crate) fn fft3(data: &[f32], shape: [usize; 3]) -> Vec<Complex<f32>> {
    let mut buf: Vec<Complex<f32>> = data.iter().map(|&v| Complex::new(v, 0.0)).collect();
    fft3_in_place(&mut buf, shape, false);
    buf
}

/// Inverse of [`fft3`] (normalised): the real part of the inverse DFT divided by the voxel
/// count.
pub(crate) fn ifft3_real(mut spectrum: Vec<Complex<f32>>, shape: [usize; 3]) -> Vec<f32> {
    fft3_in_place(&mut spectrum, shape, true);
    let n = spectrum.len() as f32;
    spectrum.into_iter().map(|c| c.re / n).collect()
}

/// Signed frequency index of DFT bin `k` of a length-`n` axis.
fn signed(k: usize, n: usize) -> f64 {
    if k <= n / 2 {
        k as f64
    } else {
        k as f64 - n as f64
    }
}

/// The shell of every spectrum component (`u32::MAX` for DC and corners beyond Nyquist) and
/// the component count per shell.
pub(crate) struct ShellGrid {
    shape: [usize; 3],
    shell_of: Vec<u32>,
    counts: Vec<f64>,
    shell_width: f32,
    pixel_size: Option<f32>,
}

impl ShellGrid {
    pub(crate) fn new(
        shape: [usize; 3],
        shell_width: f32,
        pixel_size: Option<f32>,
    ) -> Result<Self, FscError> {
        if !(shell_width.is_finite() && shell_width > 0.0) {
            return Err(FscError::InvalidParameter {
                what: "shell width (Fourier voxels)",
                requirement: "a finite number > 0",
                value: shell_width as f64,
            });
        }
        let [d, h, w] = shape;
        let n = d.min(h).min(w) as f64;
        let sw = shell_width as f64;
        let max_shell = ((n / 2.0) / sw + 1e-9).floor() as usize;
        let mut shell_of = vec![u32::MAX; d * h * w];
        let mut counts = vec![0.0f64; max_shell + 1];
        for kz in 0..d {
            let fz = signed(kz, d) / d as f64;
            for ky in 0..h {
                let fy = signed(ky, h) / h as f64;
                for kx in 0..w {
                    if kx == 0 && ky == 0 && kz == 0 {
                        continue;
                    }
                    let fx = signed(kx, w) / w as f64;
                    let f = (fx * fx + fy * fy + fz * fz).sqrt();
                    let s = (f * n / sw).round() as usize;
                    if s <= max_shell {
                        shell_of[(kz * h + ky) * w + kx] = s as u32;
                        counts[s] += 1.0;
                    }
                }
            }
        }
        Ok(Self {
            shape,
            shell_of,
            counts,
            shell_width,
            pixel_size,
        })
    }

    /// Shell index per component (`u32::MAX`: not in any shell).
    pub(crate) fn shell_of(&self) -> &[u32] {
        &self.shell_of
    }

    /// Largest shell index (Nyquist).
    pub(crate) fn max_shell(&self) -> usize {
        self.counts.len() - 1
    }

    /// Eq. 16 per shell: Σ Re[A·B*] / (components · voxels).
    pub(crate) fn cross(&self, a: &[Complex<f32>], b: &[Complex<f32>]) -> Vec<f64> {
        let mut sums = vec![0.0f64; self.counts.len()];
        for ((x, y), &s) in a.iter().zip(b).zip(&self.shell_of) {
            if s != u32::MAX {
                sums[s as usize] += x.re as f64 * y.re as f64 + x.im as f64 * y.im as f64;
            }
        }
        let nvox = self.shell_of.len() as f64;
        sums.iter()
            .zip(&self.counts)
            .map(|(s, c)| if *c > 0.0 { s / (c * nvox) } else { 0.0 })
            .collect()
    }

    /// The curve of per-shell values (non-empty shells only).
    pub(crate) fn curve<T>(&self, value: impl FnMut(usize) -> T) -> RingCurve<T> {
        let n = self.shape.iter().copied().min().unwrap_or(0);
        build_curve(&self.counts, n, self.shell_width, self.pixel_size, value)
    }
}

/// Spectra of several same-shape volumes (masked first when a mask is given) and their shells.
pub(crate) struct ShellSpectra {
    pub(crate) grid: ShellGrid,
    spectra: Vec<Vec<Complex<f32>>>,
}

impl ShellSpectra {
    pub(crate) fn new(
        vols: &[(&'static str, &Volume)],
        shell_width: f32,
        mask: Option<&Volume>,
    ) -> Result<Self, FscError> {
        let mut all = vols.to_vec();
        if let Some(m) = mask {
            all.push(("mask", m));
        }
        let pixel_size = check_volumes(&all)?;
        let shape = shape_of(vols[0].1);
        let grid = ShellGrid::new(shape, shell_width, pixel_size)?;
        let spectra = vols
            .iter()
            .map(|(_, v)| match mask {
                Some(m) => {
                    let masked: Vec<f32> = v.data.iter().zip(&m.data).map(|(a, b)| a * b).collect();
                    fft3(&masked, shape)
                }
                None => fft3(&v.data, shape),
            })
            .collect();
        Ok(Self { grid, spectra })
    }

    pub(crate) fn cross(&self, i: usize, j: usize) -> Vec<f64> {
        self.grid.cross(&self.spectra[i], &self.spectra[j])
    }
}

/// C_ref = √(2·FSC / (1 + FSC)): the correlation between the average of two half-maps and
/// the true map implied by the half-maps' FSC (crefDenoiser, section 2.1; Rosenthal &
/// Henderson 2003). 0 for FSC ≤ 0.
pub fn c_ref(fsc: f64) -> f64 {
    if fsc > 0.0 {
        (2.0 * fsc / (1.0 + fsc)).sqrt()
    } else {
        0.0
    }
}

/// FSC and C_ref on one shell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FscShell {
    /// FSC(s) = Σ Re[F₁F₂*] / [Σ|F₁|² Σ|F₂|²]^½ over shell s, in [−1, 1] (0 when either map
    /// has no power there).
    pub fsc: f64,
    /// [`c_ref`] of `fsc`.
    pub c_ref: f64,
}

/// Fourier shell correlation of two volumes (`[z][y][x]`, same shape and voxel size), per
/// shell, with C_ref. `shell_width` in Fourier voxels (1: one-voxel shells); `mask` (same
/// shape, typically 0…1) multiplies both volumes first.
///
/// # Errors
/// [`FscError`] for bad or mismatched volumes or mask, and a shell width that is not > 0.
pub fn fsc(
    a: &Volume,
    b: &Volume,
    shell_width: f32,
    mask: Option<&Volume>,
) -> Result<RingCurve<FscShell>, FscError> {
    let s = ShellSpectra::new(&[("first map", a), ("second map", b)], shell_width, mask)?;
    let (ab, aa, bb) = (s.cross(0, 1), s.cross(0, 0), s.cross(1, 1));
    Ok(s.grid.curve(|r| {
        let den = (aa[r] * bb[r]).sqrt();
        let fsc = if den > 0.0 {
            (ab[r] / den).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        FscShell {
            fsc,
            c_ref: c_ref(fsc),
        }
    }))
}

/// Covariance of two volumes per Fourier shell, crefDenoiser eq. 16 (power spectral density
/// per voxel, squared map units; with `a = b` the rotationally averaged power spectrum).
///
/// # Errors
/// As [`fsc`].
pub fn shell_covariance(
    a: &Volume,
    b: &Volume,
    shell_width: f32,
    mask: Option<&Volume>,
) -> Result<RingCurve<f64>, FscError> {
    let s = ShellSpectra::new(&[("first map", a), ("second map", b)], shell_width, mask)?;
    let c = s.cross(0, 1);
    Ok(s.grid.curve(|r| c[r]))
}

/// Where an FSC curve crosses a threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FscCrossing {
    /// The threshold (0.143, 0.5, …).
    pub threshold: f64,
    /// Frequency of the crossing, in the curve's unit (Å⁻¹, or cycles/voxel).
    pub frequency: f64,
    /// 1 / `frequency`: the resolution in Å (voxels when the voxel size is unknown).
    pub resolution: f64,
    /// Unit of `frequency`.
    pub unit: FrequencyUnit,
}

/// The first crossing of `threshold` by the FSC, from low to high frequency: the first shell
/// whose FSC is below `threshold`, linearly interpolated between it and the shell before (FSC
/// = 1 at frequency 0 before the first shell). `None` when the FSC stays at or above the
/// threshold up to Nyquist (or the curve is empty).
pub fn fsc_crossing(curve: &RingCurve<FscShell>, threshold: f64) -> Option<FscCrossing> {
    let mut prev = (0.0f64, 1.0f64);
    for r in &curve.rings {
        let (f, v) = (r.frequency, r.value.fsc);
        if v < threshold {
            let (f0, v0) = prev;
            let t = if v0 > v {
                (v0 - threshold) / (v0 - v)
            } else {
                1.0
            };
            let frequency = f0 + t.clamp(0.0, 1.0) * (f - f0);
            return Some(FscCrossing {
                threshold,
                frequency,
                resolution: 1.0 / frequency,
                unit: curve.unit,
            });
        }
        prev = (f, v);
    }
    None
}

/// Signal, noise and bias variances per Fourier shell from noisy half-maps `m1`, `m2` and
/// their denoised versions `d1 = D(m1)`, `d2 = D(m2)` (crefDenoiser eq. 12–16; the shell form
/// of [`super::variance_estimate_rings`]): var(S) = cov(M₁,M₂) (eq. 12), var(N) =
/// [cov(M₁,M₁)cov(M₂,M₂)]^½ − cov(M₁,M₂) (eq. 13), var(B) = cov(D₁,D₂) +
/// [cov(M₁,M₁)cov(M₂,M₂)]^½ − 2cov(M₁,D₂) − var(N) (eq. 14; = cov(D₁,D₂) + cov(M₁,M₂) −
/// 2cov(M₁,D₂), with cov(M₁,D₂) taken as the mean of cov(M₁,D₂) and cov(M₂,D₁)), var(Nᵈ) =
/// [cov(D₁,D₁)cov(D₂,D₂)]^½ − cov(D₁,D₂) (eq. 15), every covariance per shell (eq. 16).
/// Squared map units (power spectral density per voxel).
///
/// # Errors
/// As [`fsc`].
pub fn variance_estimate_shells(
    m1: &Volume,
    m2: &Volume,
    d1: &Volume,
    d2: &Volume,
    shell_width: f32,
    mask: Option<&Volume>,
) -> Result<RingCurve<VarianceEstimate>, FscError> {
    let s = ShellSpectra::new(
        &[
            ("noisy half-map 1", m1),
            ("noisy half-map 2", m2),
            ("denoised half-map 1", d1),
            ("denoised half-map 2", d2),
        ],
        shell_width,
        mask,
    )?;
    let (m11, m22, m12) = (s.cross(0, 0), s.cross(1, 1), s.cross(0, 1));
    let (d11, d22, d12) = (s.cross(2, 2), s.cross(3, 3), s.cross(2, 3));
    let (m1d2, m2d1) = (s.cross(0, 3), s.cross(1, 2));
    Ok(s.grid.curve(|r| {
        let signal = m12[r];
        let noise = (m11[r] * m22[r]).max(0.0).sqrt() - m12[r];
        let noise_denoised = (d11[r] * d22[r]).max(0.0).sqrt() - d12[r];
        let bias = d12[r] + m12[r] - (m1d2[r] + m2d1[r]);
        VarianceEstimate::from_variances(signal, noise, noise_denoised, bias)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn noise(shape: [usize; 3], seed: u64) -> Volume {
        let mut r = Rng::new(seed);
        let [d, h, w] = shape;
        Volume {
            width: w,
            height: h,
            depth: d,
            data: (0..d * h * w).map(|_| r.normal() as f32).collect(),
            pixel_size_angstrom: None,
        }
    }

    #[test]
    fn fft3_round_trip_and_parseval() {
        let v = noise([6, 5, 8], 1);
        let shape = [6, 5, 8];
        let s = fft3(&v.data, shape);
        let energy: f64 = v.data.iter().map(|x| (*x as f64).powi(2)).sum();
        let spec: f64 = s.iter().map(|c| c.norm_sqr() as f64).sum::<f64>() / 240.0;
        assert!((energy - spec).abs() < 1e-3 * energy);
        let back = ifft3_real(s, shape);
        let err = back
            .iter()
            .zip(&v.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "{err}");
    }

    #[test]
    fn white_noise_gives_its_variance_per_shell_and_fsc_of_self_is_one() {
        let a = noise([32, 32, 32], 2);
        let c = shell_covariance(&a, &a, 2.0, None).unwrap();
        // Relative sd of a shell's power is √(1/components) (two real d.o.f. per conjugate
        // pair): 0.1 at 100 components, so shells of ≥ 400 components are within 0.25 (5 sd).
        for r in c.rings.iter().filter(|r| r.components >= 400) {
            assert!((r.value - 1.0).abs() < 0.25, "{r:?}");
        }
        let k: f64 = c.rings.iter().map(|r| r.components as f64).sum();
        let mean = c
            .rings
            .iter()
            .map(|r| r.value * r.components as f64)
            .sum::<f64>()
            / k;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        assert!((c.rings.last().unwrap().frequency - 0.5).abs() < 1e-9);
        let f = fsc(&a, &a, 1.0, None).unwrap();
        assert!(f.rings.iter().all(|r| (r.value.fsc - 1.0).abs() < 1e-9));
        assert!(fsc_crossing(&f, 0.143).is_none());
    }

    #[test]
    fn crossing_is_interpolated() {
        let curve = build_curve(&[0.0, 1.0, 1.0, 1.0], 6, 1.0, Some(2.0), |r| FscShell {
            fsc: [1.0, 0.9, 0.3, 0.1][r],
            c_ref: 0.0,
        });
        // Shells at 1/12, 2/12, 3/12 Å⁻¹; 0.5 is crossed 2/3 of the way from shell 1 to 2.
        let c = fsc_crossing(&curve, 0.5).unwrap();
        let f = 1.0 / 12.0 + (0.4 / 0.6) / 12.0;
        assert!((c.frequency - f).abs() < 1e-12);
        assert!((c.resolution - 1.0 / f).abs() < 1e-9);
        assert_eq!(c.unit, FrequencyUnit::PerAngstrom);
    }

    #[test]
    fn c_ref_limits() {
        assert_eq!(c_ref(0.0), 0.0);
        assert!((c_ref(1.0) - 1.0).abs() < 1e-12);
        // FSC 0.143 ↔ C_ref 0.5 (the 0.143 criterion).
        assert!((c_ref(0.143) - 0.5).abs() < 1e-3);
    }

    #[test]
    fn mismatches_are_errors() {
        let a = noise([4, 4, 4], 3);
        let b = noise([4, 4, 5], 4);
        assert!(matches!(
            fsc(&a, &b, 1.0, None),
            Err(FscError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            fsc(&a, &a, 0.0, None),
            Err(FscError::InvalidParameter { .. })
        ));
        let mut c = a.clone();
        c.data[5] = f32::NAN;
        assert!(matches!(
            fsc(&a, &c, 1.0, None),
            Err(FscError::NonFinite { index: 5, .. })
        ));
    }
}
