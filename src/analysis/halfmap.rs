//! Half-maps of a single-particle reconstruction: loading a pair (and an optional mask),
//! their average, their FSC and resolution, and synthetic half-maps with known truth.
//!
//! No real half-map pairs are available offline, so [`synthetic_half_maps`] makes them from a
//! real map (the "truth" S) by adding independent noise N₁, N₂ whose power in every Fourier
//! shell is the map's own power there divided by a chosen SNR: M_i = S + N_i (crefDenoiser
//! eq. 6). The expected FSC between the halves is then SNR/(1 + SNR) in every shell, and the
//! half-map average correlates with S as C_ref = √(2·FSC/(1+FSC)) (crefDenoiser section 2.1).
//! The components are returned too, so tests can compare estimates with the realised truth.

use std::path::Path;

use anyhow::{Result, bail};
use rustfft::num_complex::Complex;

use crate::image::Volume;
use crate::metrics::fsc::{
    FscShell, FscThreshold, ShellGrid, check_volumes, fft3, fsc, fsc_crossing, ifft3_real,
    variance_estimate_shells,
};
use crate::metrics::{FscScalar, RingCurve, VarianceEstimate, fsc_scalar};
use crate::rng::Rng;
use crate::sampling::SamplingOverride;

/// Two half-maps (`[z][y][x]`, same shape and voxel size) and an optional mask (same shape,
/// values typically 0…1, applied by multiplication before any Fourier analysis).
#[derive(Clone, Debug)]
pub struct HalfMaps {
    /// First half-map.
    pub half1: Volume,
    /// Second half-map.
    pub half2: Volume,
    /// Optional mask.
    pub mask: Option<Volume>,
}

/// The FSC of a pair of half-maps and its standard crossings.
#[derive(Clone, Debug)]
pub struct FscReport {
    /// FSC and C_ref per shell.
    pub curve: RingCurve<FscShell>,
    /// Crossing of 0.143 (gold-standard resolution): where the FSC falls that low, or why
    /// there is none (stays above up to Nyquist; no signal in the maps).
    pub at_0143: FscThreshold,
    /// Crossing of 0.5, likewise.
    pub at_05: FscThreshold,
    /// FSC_scalar, the curve integrated up to Nyquist (crefDenoiser eq. 2).
    pub scalar: FscScalar,
    /// Signal and noise power per shell from the half-maps alone (crefDenoiser eq. 12, 13,
    /// 16): var(S) = cov(M₁, M₂), var(N) = [cov(M₁, M₁) cov(M₂, M₂)]^½ − cov(M₁, M₂); no
    /// denoiser, so the denoised noise equals the noise and the bias is 0
    /// ([`HalfMaps::shells_with_denoised`] adds a denoiser's). They assume noise independent
    /// of the signal and between the halves.
    pub shells: RingCurve<VarianceEstimate>,
}

impl HalfMaps {
    /// Checks that the maps (and mask) agree in shape and voxel size and hold finite values.
    ///
    /// # Errors
    /// Any mismatch, an empty volume or a non-finite value.
    pub fn new(half1: Volume, half2: Volume, mask: Option<Volume>) -> Result<Self> {
        let mut vols = vec![("half-map 1", &half1), ("half-map 2", &half2)];
        if let Some(m) = &mask {
            vols.push(("mask", m));
        }
        check_volumes(&vols)?;
        Ok(Self { half1, half2, mask })
    }

    /// Reads two half-maps and an optional mask (MRC, or a TIFF stack).
    ///
    /// # Errors
    /// Unreadable files, 2D images, voxel sizes that disagree by more than 1 % or are
    /// implausible (unless `sampling` gives the size or forces; see
    /// [`SamplingOverride::reconcile`]), and the errors of [`HalfMaps::new`].
    pub fn read(
        half1: &Path,
        half2: &Path,
        mask: Option<&Path>,
        sampling: &SamplingOverride,
    ) -> Result<Self> {
        let load = |p: &Path| -> Result<Volume> {
            let v = crate::io::read_volume(p, "map")?;
            if let Some(i) = v.data.iter().position(|x| !x.is_finite()) {
                let (x, y, z) = (
                    i % v.width,
                    (i / v.width) % v.height,
                    i / (v.width * v.height),
                );
                bail!(
                    "{}: voxel x={x}, y={y}, z={z} is not a finite number (NaN or ±inf) (fix the map or replace those voxels)",
                    p.display()
                );
            }
            Ok(v)
        };
        let (n1, n2) = (half1.display().to_string(), half2.display().to_string());
        let n3 = mask.map(|m| m.display().to_string()).unwrap_or_default();
        let mask_path = mask;
        let (mut a, mut b) = (load(half1)?, load(half2)?);
        let mut mask = mask.map(load).transpose()?;
        let stated = |p: &Path| crate::io::stated_pixel_size(p).ok().flatten();
        let mut inputs = vec![
            (n1.as_str(), a.pixel_size_angstrom, stated(half1)),
            (n2.as_str(), b.pixel_size_angstrom, stated(half2)),
        ];
        if let (Some(m), Some(path)) = (&mask, mask_path) {
            inputs.push((n3.as_str(), m.pixel_size_angstrom, stated(path)));
        }
        let size = sampling.reconcile(&inputs)?;
        for v in [Some(&mut a), Some(&mut b), mask.as_mut()]
            .into_iter()
            .flatten()
        {
            v.pixel_size_angstrom = size;
        }
        Self::new(a, b, mask)
    }

    /// (half1 + half2) / 2, the map the two halves average to.
    pub fn average(&self) -> Volume {
        Volume {
            data: self
                .half1
                .data
                .iter()
                .zip(&self.half2.data)
                .map(|(a, b)| 0.5 * (a + b))
                .collect(),
            ..self.half1.clone()
        }
    }

    /// FSC between the halves (masked when a mask is set), with its 0.143 and 0.5 crossings.
    /// `shell_width` in Fourier voxels.
    ///
    /// # Errors
    /// A shell width that is not > 0.
    pub fn fsc(&self, shell_width: f32) -> Result<FscReport> {
        let curve = fsc(&self.half1, &self.half2, shell_width, self.mask.as_ref())?;
        let shells = self.shells_with_denoised(&self.half1, &self.half2, shell_width)?;
        Ok(FscReport {
            at_0143: fsc_crossing(&curve, 0.143),
            at_05: fsc_crossing(&curve, 0.5),
            scalar: fsc_scalar(&curve),
            curve,
            shells,
        })
    }

    /// Signal, noise and bias power per shell (crefDenoiser eq. 12–16, Fig. 7) from these
    /// half-maps and their denoised versions `d1` = D(half 1), `d2` = D(half 2) (same shape;
    /// mask applied), [`variance_estimate_shells`]. Given the half-maps themselves the bias is
    /// 0 and the denoised noise is the noise. The estimates fail when a denoiser damps signal
    /// and noise together (correlated damping, crefDenoiser section 3.3 and Fig. S4): the
    /// independence assumptions of eq. 14–15 no longer hold.
    ///
    /// # Errors
    /// Mismatched volumes or a shell width that is not > 0.
    pub fn shells_with_denoised(
        &self,
        d1: &Volume,
        d2: &Volume,
        shell_width: f32,
    ) -> Result<RingCurve<VarianceEstimate>> {
        Ok(variance_estimate_shells(
            &self.half1,
            &self.half2,
            d1,
            d2,
            shell_width,
            self.mask.as_ref(),
        )?)
    }
}

/// Multiplies the spectrum of `volume` by `gain(f)`, f the frequency of each component in
/// cycles/voxel (√((kx/w)² + (ky/h)² + (kz/d)²), signed bins), and transforms back: a
/// rotationally symmetric linear filter (e.g. a low-pass `exp(−(f/f₀)²)`). The DC term is
/// multiplied by `gain(0)`.
pub fn radial_filter(volume: &Volume, gain: impl Fn(f64) -> f64) -> Volume {
    let shape = [volume.depth, volume.height, volume.width];
    let mut s = fft3(&volume.data, shape);
    let [d, h, w] = shape;
    let sf = |k: usize, n: usize| -> f64 {
        let k = if k <= n / 2 {
            k as f64
        } else {
            k as f64 - n as f64
        };
        k / n as f64
    };
    for kz in 0..d {
        for ky in 0..h {
            for kx in 0..w {
                let f = (sf(kx, w).powi(2) + sf(ky, h).powi(2) + sf(kz, d).powi(2)).sqrt();
                s[(kz * h + ky) * w + kx] *= gain(f) as f32;
            }
        }
    }
    Volume {
        data: ifft3_real(s, shape),
        ..volume.clone()
    }
}

/// Synthetic half-maps with known truth: M_i = S + N_i.
#[derive(Clone, Debug)]
pub struct SyntheticHalfMaps {
    /// The truth S (the input map).
    pub truth: Volume,
    /// Noise added to half 1.
    pub noise1: Volume,
    /// Noise added to half 2.
    pub noise2: Volume,
    /// S + N₁ and S + N₂.
    pub halves: HalfMaps,
}

/// Makes two half-maps from `truth` by adding independent Gaussian noise coloured so that, in
/// expectation, Fourier shell s (width 1 Fourier voxel, centre frequency f_s = s / n
/// cycles/voxel, n the smallest dimension) of each half has signal-to-noise power ratio
/// `snr(f_s)`: the noise spectrum there is white complex Gaussian noise scaled to
/// P_S(s)/snr(f_s), P_S the shell power of `truth`. Expected FSC between the halves:
/// snr/(1 + snr) per shell. Deterministic for a given `seed`.
///
/// # Errors
/// `snr` not finite and > 0 on some shell, a truth map that is constant or malformed.
pub fn synthetic_half_maps(
    truth: &Volume,
    snr: impl Fn(f64) -> f64,
    seed: u64,
) -> Result<SyntheticHalfMaps> {
    check_volumes(&[("truth map", truth)])?;
    let shape = [truth.depth, truth.height, truth.width];
    let n = truth.depth.min(truth.height).min(truth.width) as f64;
    let grid = ShellGrid::new(shape, 1.0, truth.pixel_size_angstrom)?;
    let spectrum = fft3(&truth.data, shape);
    let power = grid.cross(&spectrum, &spectrum);
    if power.iter().all(|p| *p <= 0.0) {
        bail!("the truth map is constant: it has no signal to add noise to");
    }
    let max_shell = grid.max_shell();
    // Noise power per shell.
    let mut noise_power = Vec::with_capacity(max_shell + 1);
    for (s, p) in power.iter().enumerate() {
        let r = snr(s as f64 / n);
        if !(r.is_finite() && r > 0.0) {
            bail!(
                "the SNR must be a finite number > 0 on every shell; got {r} at {} cycles/voxel",
                s as f64 / n
            );
        }
        noise_power.push((p / r).max(0.0));
    }
    let make_noise = |stream: u64| -> Volume {
        let mut rng = Rng::stream(seed, stream);
        let white: Vec<f32> = (0..truth.data.len()).map(|_| rng.normal() as f32).collect();
        // White noise of unit variance has unit power in every shell (shell covariance
        // normalisation), so scaling shell s by √(P_N(s)) gives P_N(s).
        let mut s: Vec<Complex<f32>> = fft3(&white, shape);
        for (c, &shell) in s.iter_mut().zip(grid.shell_of()) {
            // Corners beyond Nyquist (outside every shell) get the Nyquist shell's level.
            let shell = if shell == u32::MAX {
                max_shell
            } else {
                shell as usize
            };
            *c *= noise_power[shell].sqrt() as f32;
        }
        // No noise in the mean (DC).
        s[0] = Complex::new(0.0, 0.0);
        Volume {
            data: ifft3_real(s, shape),
            ..truth.clone()
        }
    };
    let noise1 = make_noise(1);
    let noise2 = make_noise(2);
    let add = |n: &Volume| Volume {
        data: truth.data.iter().zip(&n.data).map(|(a, b)| a + b).collect(),
        ..truth.clone()
    };
    let halves = HalfMaps::new(add(&noise1), add(&noise2), None)?;
    Ok(SyntheticHalfMaps {
        truth: truth.clone(),
        noise1,
        noise2,
        halves,
    })
}
