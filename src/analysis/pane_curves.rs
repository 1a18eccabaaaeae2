//! The comparison panes' curves: each pane's SSNR and signal / noise / bias power, measured
//! on the even/odd halves filtered as the pane shows the micrograph (raw, low-pass, denoised,
//! merged).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::ctf::Ctf;
use crate::denoise::{Denoiser2d, TileConfig};
use crate::fourier;
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::{self, CountSplitOptions, FrcValue, RingCurve, VarianceEstimate};

use super::halves::halves_for;

/// What a comparison pane does to each half before its curves are measured (the pane's view).
#[derive(Clone, Copy)]
pub enum PaneFilter<'a> {
    /// The raw halves.
    Raw,
    /// Topaz's binning low-pass by `factor` ([`fourier::bin_lowpass`]).
    Lowpass {
        /// Bin factor.
        factor: f32,
    },
    /// Each half denoised by this denoiser.
    Denoised(&'a Denoiser2d),
    /// Each half merged with its denoised self (Palovcak et al. 2020 S2.4,
    /// [`fourier::merge::merge`]): denoised below `cutoff_angstrom` resolution, raw above.
    Merged {
        /// The denoiser of the low frequencies.
        denoiser: &'a Denoiser2d,
        /// Merge cutoff (Å).
        cutoff_angstrom: f32,
        /// Width of the soft edge (Å).
        width_angstrom: f32,
        /// What the band's amplitudes are matched by ([`fourier::merge::BandNorm`]).
        band_norm: fourier::merge::BandNorm,
    },
}

/// One comparison pane's curves, measured on its filtered halves.
#[derive(Clone, Debug)]
pub struct PaneCurves {
    /// The pane's label (view, and model for denoised views).
    pub label: String,
    /// FRC and half-map SSNR between the pane's two filtered halves (as
    /// [`Analysis::raw_frc`]).
    pub frc: RingCurve<FrcValue>,
    /// Signal, noise and bias power per ring with the pane's filter as the "denoiser"
    /// (Palovcak et al. 2020 supplement eq. 24; for the raw pane bias is 0 and noise after
    /// equals noise before).
    pub rings: RingCurve<VarianceEstimate>,
}

/// The SSNR and signal / noise / bias curves of each comparison pane (`label`, filter), on
/// the even/odd halves `m1`, `m2` filtered by the pane's view, with the estimators of
/// [`analyze`] (`metrics::frc`, `metrics::variance_estimate_rings`); rings `ring_width`
/// Fourier pixels wide. The denoised halves are computed once per denoiser (with `ctf` for a
/// model trained on phase-flipped micrographs, flipped back) and shared by denoised and
/// merged panes. Progress: one message per pane plus the denoiser's own.
///
/// # Errors
/// Mismatched halves, non-finite values, a failing denoiser or merge (e.g. no pixel size for
/// a merged pane), cancellation.
pub fn pane_curves(
    m1: &Image,
    m2: &Image,
    panes: &[(String, PaneFilter<'_>)],
    ring_width: f32,
    ctf: Option<&Ctf>,
    progress: &Progress,
) -> Result<Vec<PaneCurves>> {
    let mut denoised: Vec<(*const Denoiser2d, Image, Image)> = Vec::new();
    let mut out = Vec::with_capacity(panes.len());
    for (label, filter) in panes {
        if progress.is_cancelled() {
            bail!("pane curves cancelled");
        }
        progress.set_message(format!("curves of {label}"));
        let mut denoise = |d: &Denoiser2d| -> Result<(Image, Image)> {
            let key = d as *const Denoiser2d;
            if let Some((_, a, b)) = denoised.iter().find(|(k, _, _)| *k == key) {
                return Ok((a.clone(), b.clone()));
            }
            let tiles = TileConfig::default();
            let a = d
                .denoise_with_ctf(m1, ctf, true, &tiles, progress)
                .context("denoising half 1")?;
            let b = d
                .denoise_with_ctf(m2, ctf, true, &tiles, progress)
                .context("denoising half 2")?;
            denoised.push((key, a.clone(), b.clone()));
            Ok((a, b))
        };
        let (f1, f2) = match *filter {
            PaneFilter::Raw => (m1.clone(), m2.clone()),
            PaneFilter::Lowpass { factor } => (
                fourier::bin_lowpass(m1, factor),
                fourier::bin_lowpass(m2, factor),
            ),
            PaneFilter::Denoised(d) => denoise(d)?,
            PaneFilter::Merged {
                denoiser,
                cutoff_angstrom,
                width_angstrom,
                band_norm,
            } => {
                let (d1, d2) = denoise(denoiser)?;
                let merge = |m: &Image, d: &Image| {
                    fourier::merge::Merger::new(m, d)
                        .and_then(|mg| {
                            mg.merge_with_norm(cutoff_angstrom, width_angstrom, band_norm)
                        })
                        .map(|(img, _)| img)
                        .with_context(|| format!("merging the halves of {label}"))
                };
                (merge(m1, &d1)?, merge(m2, &d2)?)
            }
        };
        out.push(PaneCurves {
            label: label.clone(),
            frc: metrics::frc(&f1, &f2, ring_width)?,
            rings: metrics::variance_estimate_rings(m1, m2, &f1, &f2, ring_width)?,
        });
    }
    Ok(out)
}

/// What a comparison pane shows (the GUI's views).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaneView {
    /// The micrograph as read.
    Raw,
    /// Denoised by the pane's model.
    Denoised,
    /// Low-passed by Fourier binning.
    Lowpass,
    /// Denoised low frequencies merged with raw high frequencies.
    Merged,
}

/// One comparison pane: its view, the view's name for labels, and the model of a denoised
/// or merged pane (`None`: no model, the pane has no curves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PaneSpec {
    /// What the pane shows.
    pub view: PaneView,
    /// The view's name (the label's start).
    pub name: &'static str,
    /// The model's name, for denoised and merged panes.
    pub model: Option<&'static str>,
}

/// The settings the comparison panes' filters use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaneSettings {
    /// Fourier-binning factor of low-pass panes.
    pub lowpass_factor: f32,
    /// Merge cutoff (Å) of merged panes.
    pub cutoff_angstrom: f32,
    /// Merge edge width (Å) of merged panes.
    pub width_angstrom: f32,
    /// Band normalisation of merged panes.
    pub band_norm: fourier::merge::BandNorm,
    /// Ring width of the curves in Fourier pixels.
    pub ring_width: f32,
    /// The micrograph's CTF, for models trained on phase-flipped micrographs
    /// ([`Denoiser2d::denoise_with_ctf`]; others ignore it).
    pub ctf: Option<Ctf>,
}

/// The curves of each comparison pane of micrograph `raw` (read from `path`, `None` for an
/// in-memory micrograph): finds the same halves as [`super::analyze`]'s caller (an even/odd
/// pair beside the file, else the seeded count split `split`), loads each model that a
/// denoised or merged pane needs once with `load`, and measures [`pane_curves`]. A pane
/// without a model (or, to merge, without a pixel size) has no curves and is left out; the
/// labels are the view's name, with the denoiser's label for denoised and merged panes.
///
/// # Errors
/// Those of [`halves_for`], `load` and [`pane_curves`].
pub fn comparison_pane_curves(
    raw: &Image,
    path: Option<&Path>,
    split: &CountSplitOptions,
    panes: &[PaneSpec],
    load: Option<&dyn Fn(&'static str) -> Result<Denoiser2d>>,
    settings: &PaneSettings,
    p: &Progress,
) -> Result<Vec<PaneCurves>> {
    p.set_message("finding halves");
    // The same halves as the analysis (same pair, or the same seeded count split).
    let (m1, m2, _) = halves_for(raw, path, split)?;
    // One denoiser per model that a denoised or merged pane needs.
    let mut denoisers: Vec<(&'static str, Denoiser2d)> = Vec::new();
    if let Some(load) = load {
        for pane in panes {
            if let (PaneView::Denoised | PaneView::Merged, Some(name)) = (pane.view, pane.model)
                && !denoisers.iter().any(|(n, _)| *n == name)
            {
                p.set_message(format!("loading {name}"));
                denoisers.push((name, load(name)?));
            }
        }
    }
    let find = |m: Option<&'static str>| {
        m.and_then(|name| denoisers.iter().find(|(n, _)| *n == name))
            .map(|(_, d)| d)
    };
    let mut filtered = Vec::new();
    for pane in panes {
        let denoiser = find(pane.model);
        let filter = if pane.view == PaneView::Raw {
            PaneFilter::Raw
        } else if pane.view == PaneView::Lowpass {
            PaneFilter::Lowpass {
                factor: settings.lowpass_factor,
            }
        } else if let (PaneView::Denoised, Some(d)) = (pane.view, denoiser) {
            PaneFilter::Denoised(d)
        } else if let (PaneView::Merged, Some(d), Some(_)) =
            (pane.view, denoiser, m1.pixel_size_angstrom)
        {
            PaneFilter::Merged {
                denoiser: d,
                cutoff_angstrom: settings.cutoff_angstrom,
                width_angstrom: settings.width_angstrom,
                band_norm: settings.band_norm,
            }
        } else {
            // No model (or, to merge, no pixel size): this pane has no curves.
            continue;
        };
        let label = match (pane.view, denoiser) {
            (PaneView::Denoised | PaneView::Merged, Some(d)) => {
                format!("{} ({})", pane.name, d.label())
            }
            _ => pane.name.to_string(),
        };
        filtered.push((label, filter));
    }
    pane_curves(
        &m1,
        &m2,
        &filtered,
        settings.ring_width,
        settings.ctf.as_ref(),
        p,
    )
}
