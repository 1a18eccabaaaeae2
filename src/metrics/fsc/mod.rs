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

/// Checks the volumes (buffer, finiteness, equal shapes, voxel sizes within 1 %: the shared
/// rule of [`crate::sampling::check_same_pixel_size`]). Returns the first known voxel size.
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
                Some((r, q))
                    if crate::sampling::check_same_pixel_size(r, Some(q), what, Some(p))
                        .is_err() =>
                {
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
    /// Both maps have power in this shell (more than [`NO_POWER`] of their mean square): the
    /// FSC means something here. `false` for a constant or fully masked map, where `fsc` is 0
    /// by convention and no resolution can be read from it.
    pub signal: bool,
}

/// A shell has no power in a map when its power per voxel (the covariance of eq. 16 of the map
/// with itself) is at most this fraction of the map's mean square (DC included). Float32
/// rounding of a constant map leaves ≈ 1e-14 of it; real structure is many orders above.
pub const NO_POWER: f64 = 1e-10;

/// Mean square of `data` (times the mask when given), in f64.
fn mean_square(data: &[f32], mask: Option<&Volume>) -> f64 {
    let sum: f64 = match mask {
        Some(m) => data
            .iter()
            .zip(&m.data)
            .map(|(&a, &b)| (a as f64 * b as f64).powi(2))
            .sum(),
        None => data.iter().map(|&a| (a as f64).powi(2)).sum(),
    };
    sum / data.len().max(1) as f64
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
    let (floor_a, floor_b) = (
        NO_POWER * mean_square(&a.data, mask),
        NO_POWER * mean_square(&b.data, mask),
    );
    Ok(s.grid.curve(|r| {
        let signal = aa[r] > floor_a && bb[r] > floor_b;
        let den = (aa[r] * bb[r]).sqrt();
        let fsc = if signal && den > 0.0 {
            (ab[r] / den).clamp(-1.0, 1.0)
        } else {
            0.0
        };
        FscShell {
            fsc,
            c_ref: c_ref(fsc),
            signal,
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

/// What an FSC curve says about one threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FscThreshold {
    /// The FSC falls below the threshold here.
    Crossed(FscCrossing),
    /// The FSC stays at or above the threshold up to Nyquist: the resolution is at least the
    /// Nyquist limit.
    NotReached,
    /// No shell has power in both maps (a constant or fully masked map): the FSC is undefined
    /// and there is no crossing to report.
    NoSignal,
}

impl FscThreshold {
    /// The crossing, if the FSC crosses.
    pub fn crossing(&self) -> Option<&FscCrossing> {
        match self {
            FscThreshold::Crossed(c) => Some(c),
            _ => None,
        }
    }

    /// The resolution of the crossing (Å, or voxels when the voxel size is unknown), if any.
    pub fn resolution(&self) -> Option<f64> {
        self.crossing().map(|c| c.resolution)
    }

    /// Words for a crossing that is not there (`None` when it is): what the CLI, CSV and GUI
    /// print in place of a resolution.
    pub fn absent_reason(&self) -> Option<&'static str> {
        match self {
            FscThreshold::Crossed(_) => None,
            FscThreshold::NotReached => Some("not reached up to Nyquist"),
            FscThreshold::NoSignal => {
                Some("no crossing: the maps have no signal (constant or fully masked)")
            }
        }
    }
}

/// The first crossing of `threshold` by the FSC, from low to high frequency: the first shell
/// whose FSC is below `threshold`, linearly interpolated between it and the shell before (FSC
/// = 1 at frequency 0 before the first shell). [`FscThreshold::NotReached`] when the FSC stays
/// at or above the threshold up to Nyquist; [`FscThreshold::NoSignal`] when no shell has
/// power in both maps ([`FscShell::signal`]) or the curve is empty, since an FSC of 0 by
/// convention is no measurement. Shells without power after shells with power count as FSC 0
/// (the information ends there, as for a low-pass filtered map).
pub fn fsc_crossing(curve: &RingCurve<FscShell>, threshold: f64) -> FscThreshold {
    if !curve.rings.iter().any(|r| r.value.signal) {
        return FscThreshold::NoSignal;
    }
    let points = curve.rings.iter().map(|r| (r.frequency, r.value.fsc));
    match super::first_crossing(points, threshold) {
        Some(frequency) => FscThreshold::Crossed(FscCrossing {
            threshold,
            frequency,
            resolution: 1.0 / frequency,
            unit: curve.unit,
        }),
        None => FscThreshold::NotReached,
    }
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
mod tests;
