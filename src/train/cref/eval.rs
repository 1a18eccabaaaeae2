//! Applying a trained crefDenoiser to whole maps ([`apply_cref`]: zero-padded to a multiple
//! of 32 per axis, optionally averaged over the 8 axis flips, mapped back to the input's mean
//! and σ) and the paper's evaluation ([`evaluate_cref`], Agarwal et al. 2024, sections
//! 3.1–3.2, Fig. 1–2).

use anyhow::{Result, anyhow};
use burn::prelude::*;

use super::data::{mean_sd, standardise};
use crate::analysis::halfmap::HalfMaps;
use crate::image::Volume;
use crate::metrics::RingCurve;
use crate::metrics::fsc::{FscShell, FscThreshold, fsc, fsc_crossing};
use crate::models::cref::CrefUNet;

/// Paper-style evaluation of a denoised map (see the module docs). Resolutions are in Å
/// (voxels when the voxel size is unknown); an [`FscThreshold`] says whether the FSC crosses 0.5,
/// stays above it up to Nyquist, or has no signal to cross with.
#[derive(Clone, Debug)]
pub struct CrefEvaluation {
    /// RMSE over shells 1…Nyquist of FSC_FD(s)² − C_ref(s)² for the identity (D = average,
    /// FSC_FD = 1).
    pub rmse_identity: f64,
    /// Same for the denoised map.
    pub rmse_denoised: f64,
    /// FSC-0.5 of the half-maps (M₁, M₂).
    pub fsc05_halves: FscThreshold,
    /// FSC-0.5 of (D₂, M₁).
    pub fsc05_denoised_half: FscThreshold,
    /// FSC-0.5 of the average against the truth ([`FscThreshold::NoSignal`] without a truth).
    pub fsc05_average_vs_truth: FscThreshold,
    /// FSC-0.5 of the denoised map against the truth, when given.
    pub fsc05_denoised_vs_truth: FscThreshold,
    /// Mean FSC over shells 1…Nyquist of the average against the truth, when given.
    pub mean_fsc_average_vs_truth: Option<f64>,
    /// Same for the denoised map.
    pub mean_fsc_denoised_vs_truth: Option<f64>,
    /// FSC(M₁, M₂) per shell, with C_ref (eq. 4) in each shell's `c_ref`.
    pub halves_curve: RingCurve<FscShell>,
    /// FSC_FD per shell: denoised map vs half-map average.
    pub fsc_fd_curve: RingCurve<FscShell>,
    /// FSC of the average against the truth, when given.
    pub average_vs_truth_curve: Option<RingCurve<FscShell>>,
    /// FSC of the denoised map against the truth, when given.
    pub denoised_vs_truth_curve: Option<RingCurve<FscShell>>,
}

pub(super) fn mean_fsc(
    a: &Volume,
    b: &Volume,
    shell_width: f32,
    mask: Option<&Volume>,
) -> Result<f64> {
    let c = fsc(a, b, shell_width, mask)?;
    Ok(mean_of(&c))
}

pub(super) fn mean_of(c: &RingCurve<FscShell>) -> f64 {
    let n = c.rings.len().max(1) as f64;
    c.rings.iter().map(|r| r.value.fsc).sum::<f64>() / n
}

/// both `[z][y][x]` like the inputs and in their units. The maps are masked and standardised
/// as for training; the network runs on the whole map (zero-padded to a multiple of 32 per
/// axis) on the model's device.
///
/// # Errors
/// A constant map, backend failures.
pub fn apply_cref(
    model: &CrefUNet,
    maps: &HalfMaps,
    flip_average: bool,
) -> Result<(Volume, Volume)> {
    let device = model
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex);
    let m1 = standardise(&maps.half1, maps.mask.as_ref())?;
    let m2 = standardise(&maps.half2, maps.mask.as_ref())?;
    let avg = HalfMaps::new(m1, m2.clone(), None)?.average();
    let denoised = apply(model, &avg, &maps.average(), &device, flip_average)?;
    let denoised_half2 = apply(model, &m2, &maps.half2, &device, flip_average)?;
    Ok((denoised, denoised_half2))
}

/// Applies a trained crefDenoiser to one map (no training): `map` `[z][y][x]` is masked
/// (`mask`, same shape, 0…1) and standardised as for training, denoised (any size: zero-padded
/// to a multiple of 32 per axis), optionally averaged over the 8 axis flips, and mapped back to
/// the map's mean and σ. Returns the denoised map, `[z][y][x]` like `map`.
///
/// # Errors
/// A mask of another shape, a constant map, backend failures.
pub fn apply_cref_map(
    model: &CrefUNet,
    map: &Volume,
    mask: Option<&Volume>,
    flip_average: bool,
) -> Result<Volume> {
    if let Some(m) = mask
        && (m.depth, m.height, m.width) != (map.depth, map.height, map.width)
    {
        anyhow::bail!(
            "the mask ({} × {} × {} voxels) is not the map's shape ({} × {} × {})",
            m.width,
            m.height,
            m.depth,
            map.width,
            map.height,
            map.depth
        );
    }
    let device = model
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex);
    let x = standardise(map, mask)?;
    apply(model, &x, map, &device, flip_average)
}

/// Runs the network (no gradients) on the whole standardised map `x`, zero-padded to a
/// multiple of 32 per axis, and maps the output to the mean and σ of `like`.
pub(super) fn apply(
    model: &CrefUNet,
    x: &Volume,
    like: &Volume,
    device: &Device,
    flips: bool,
) -> Result<Volume> {
    let plain = device.clone().without_autodiff();
    let up = |n: usize| n.div_ceil(32) * 32;
    let (d, h, w) = (up(x.depth), up(x.height), up(x.width));
    let mut padded = vec![0.0f32; d * h * w];
    for z in 0..x.depth {
        for y in 0..x.height {
            let src = (z * x.height + y) * x.width;
            let dst = (z * h + y) * w;
            padded[dst..dst + x.width].copy_from_slice(&x.data[src..src + x.width]);
        }
    }
    let t = Tensor::<5>::from_data(TensorData::new(padded, [1, 1, d, h, w]), &plain);
    let net = model.valid();
    let out = if flips {
        let flip = |mut u: Tensor<5>, bits: usize| {
            for axis in 0..3 {
                if bits >> axis & 1 == 1 {
                    u = u.flip([2 + axis]);
                }
            }
            u
        };
        let mut sum = net.forward(t.clone());
        for bits in 1..8 {
            sum = sum + flip(net.forward(flip(t.clone(), bits)), bits);
        }
        sum
    } else {
        net.forward(t)
    };
    let out = out
        .try_into_data()
        .map_err(|e| anyhow!("backend failure: {e:?}"))?
        .try_to_vec::<f32>()
        .map_err(|e| anyhow!("unexpected output type: {e:?}"))?;
    let mut data = Vec::with_capacity(x.data.len());
    for z in 0..x.depth {
        for y in 0..x.height {
            let src = (z * h + y) * w;
            data.extend_from_slice(&out[src..src + x.width]);
        }
    }
    let (mo, so) = mean_sd(&data);
    let (ml, sl) = mean_sd(&like.data);
    let scale = if so > 0.0 { sl / so } else { 0.0 };
    Ok(Volume {
        data: data
            .iter()
            .map(|v| ((*v as f64 - mo) * scale + ml) as f32)
            .collect(),
        ..like.clone()
    })
}

/// The paper's evaluation of a denoised average `denoised` and denoised second half-map
/// `denoised_half2` for the half-maps `maps` (mask applied to every FSC), plus FSC against
/// `truth` (`[z][y][x]`, same shape) when it is known. `shell_width` in Fourier voxels. See
/// [`CrefEvaluation`] and the module docs (sections 3.1–3.2).
///
/// # Errors
/// Volumes of other shapes than the half-maps, a bad shell width.
pub fn evaluate_cref(
    maps: &HalfMaps,
    denoised: &Volume,
    denoised_half2: &Volume,
    truth: Option<&Volume>,
    shell_width: f32,
) -> Result<CrefEvaluation> {
    let mask = maps.mask.as_ref();
    let avg = maps.average();
    let halves = maps.fsc(shell_width)?;
    let fd = fsc(denoised, &avg, shell_width, mask)?;
    let (mut e_id, mut e_dn, mut n) = (0.0, 0.0, 0usize);
    for (h, d) in halves.curve.rings.iter().zip(&fd.rings) {
        let c2 = h.value.c_ref.powi(2);
        e_id += (1.0 - c2).powi(2);
        e_dn += (d.value.fsc.powi(2) - c2).powi(2);
        n += 1;
    }
    let n = n.max(1) as f64;
    let res05 = |c: &RingCurve<FscShell>| fsc_crossing(c, 0.5);
    let (t_avg, t_dn) = match truth {
        Some(t) => (
            Some(fsc(&avg, t, shell_width, mask)?),
            Some(fsc(denoised, t, shell_width, mask)?),
        ),
        None => (None, None),
    };
    Ok(CrefEvaluation {
        rmse_identity: (e_id / n).sqrt(),
        rmse_denoised: (e_dn / n).sqrt(),
        fsc05_halves: halves.at_05,
        fsc05_denoised_half: res05(&fsc(denoised_half2, &maps.half1, shell_width, mask)?),
        fsc05_average_vs_truth: t_avg.as_ref().map_or(FscThreshold::NoSignal, res05),
        fsc05_denoised_vs_truth: t_dn.as_ref().map_or(FscThreshold::NoSignal, res05),
        mean_fsc_average_vs_truth: t_avg.as_ref().map(mean_of),
        mean_fsc_denoised_vs_truth: t_dn.as_ref().map(mean_of),
        halves_curve: halves.curve,
        fsc_fd_curve: fd,
        average_vs_truth_curve: t_avg,
        denoised_vs_truth_curve: t_dn,
    })
}
