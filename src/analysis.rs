//! One micrograph's full signal/noise analysis, as the GUI's analysis panel shows it and
//! `cryolens analyze` writes it: where its two independent halves come from (an even/odd pair
//! found beside it, or binomial count splitting), the SNR table (Frank & Al-Ali; Palovcak et
//! al. 2020 supplement eq. 15–20, 23; Topaz's even/odd SNR), and the per-frequency curves
//! (rotational power spectra, FRC and SSNR of raw / denoised / low-passed halves, and the
//! signal, noise and bias power of eq. 24).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::denoise::{Denoiser2d, TileConfig};
use crate::fourier::{self, Window};
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::{self, CountSplitOptions, FrcValue, RingCurve, SnrEstimate, VarianceEstimate};

/// The suffix pairs that name even/odd frame sums, in the order they are tried: MotionCor2's
/// `_EVN`/`_ODD`, and `_even`/`_odd` (RELION, cryoCARE, Warp-style names).
pub const HALF_SUFFIXES: [(&str, &str); 2] = [("_EVN", "_ODD"), ("_even", "_odd")];

/// The even and odd frame sums of micrograph `path`, when both exist beside it with the same
/// extension: `mic.mrc` → `mic_EVN.mrc` + `mic_ODD.mrc` (or `_even`/`_odd`); `path` may also
/// be one of the halves itself (`mic_EVN.mrc` → itself + `mic_ODD.mrc`). `None` when no
/// complete pair exists.
pub fn find_half_pair(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    for (even, odd) in HALF_SUFFIXES {
        let base = stem
            .strip_suffix(even)
            .or_else(|| stem.strip_suffix(odd))
            .unwrap_or(&stem);
        let a = dir.join(format!("{base}{even}{ext}"));
        let b = dir.join(format!("{base}{odd}{ext}"));
        if a.is_file() && b.is_file() {
            return Some((a, b));
        }
    }
    None
}

/// Reads an even/odd pair, checking that the halves match.
///
/// # Errors
/// Unreadable files; halves that differ in shape or pixel size (the message names both).
pub fn read_half_pair(even: &Path, odd: &Path) -> Result<(Image, Image)> {
    let a = crate::io::read_micrograph(even)?;
    let b = crate::io::read_micrograph(odd)?;
    if (a.width, a.height) != (b.width, b.height) {
        bail!(
            "even and odd halves differ in shape: {} is {}×{}, {} is {}×{}",
            even.display(),
            a.width,
            a.height,
            odd.display(),
            b.width,
            b.height
        );
    }
    match (a.pixel_size_angstrom, b.pixel_size_angstrom) {
        (Some(p), Some(q)) if (p - q).abs() > 1e-3 * p.abs().max(q.abs()) => bail!(
            "even and odd halves differ in pixel size: {} has {p} Å, {} has {q} Å",
            even.display(),
            odd.display()
        ),
        _ => {}
    }
    Ok((a, b))
}

/// Where the two halves of an analysis came from.
#[derive(Clone, Debug, PartialEq)]
pub enum HalvesSource {
    /// Even/odd frame sums read from these files.
    Pair(PathBuf, PathBuf),
    /// Binomial count splitting of the micrograph with this gain (image units per electron).
    CountSplit {
        /// Gain used.
        gain: f64,
        /// Whether non-count data were split anyway (rounded).
        forced: bool,
        /// Pixels that were not integer counts × gain.
        non_integer_pixels: usize,
    },
}

impl HalvesSource {
    /// One line for the GUI and the CLI.
    pub fn describe(&self) -> String {
        match self {
            HalvesSource::Pair(a, b) => format!(
                "even/odd sums {} + {}",
                a.file_name().unwrap_or_default().to_string_lossy(),
                b.file_name().unwrap_or_default().to_string_lossy()
            ),
            HalvesSource::CountSplit {
                gain,
                forced,
                non_integer_pixels,
            } => format!(
                "count split (gain {gain:.3} per e-{})",
                if *forced {
                    format!(", forced: {non_integer_pixels} non-count pixels rounded")
                } else {
                    String::new()
                }
            ),
        }
    }
}

/// The halves of `micrograph` (read from `path` if it is on disk): an even/odd pair found by
/// [`find_half_pair`], else count splitting with `split` options.
///
/// # Errors
/// A bad pair; data that are not counts (unless `split.force`).
pub fn halves_for(
    micrograph: &Image,
    path: Option<&Path>,
    split: &CountSplitOptions,
) -> Result<(Image, Image, HalvesSource)> {
    if let Some((even, odd)) = path.and_then(find_half_pair) {
        let (a, b) = read_half_pair(&even, &odd)?;
        return Ok((a, b, HalvesSource::Pair(even, odd)));
    }
    let s = metrics::split_counts(micrograph, split)?;
    Ok((
        s.half1,
        s.half2,
        HalvesSource::CountSplit {
            gain: s.gain,
            forced: split.force,
            non_integer_pixels: s.non_integer_pixels,
        },
    ))
}

/// A rotationally averaged power spectrum: (frequency, power) per ring, frequency in 1/Å when
/// the pixel size is known (else cycles/px); power in squared image units per pixel.
pub type Spectrum = Vec<(f32, f32)>;

/// Everything the analysis panel shows for one micrograph.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Where the halves came from.
    pub source: HalvesSource,
    /// Pixel size of the frequency axes (Å), if known.
    pub pixel_size_angstrom: Option<f32>,
    /// Frank & Al-Ali SNR of the raw halves.
    pub raw_snr: SnrEstimate,
    /// FRC/SSNR between the raw halves (Palovcak Fig. 2e convention in `ssnr_half`).
    pub raw_frc: RingCurve<FrcValue>,
    /// FRC/SSNR between the low-passed halves (same binning as the low-pass view).
    pub lowpass_frc: RingCurve<FrcValue>,
    /// Rotational power spectra of the raw, denoised and low-passed micrograph (Welch, 512²
    /// Hann tiles).
    pub spectra: [Option<Spectrum>; 3],
    /// With a denoiser: its name and the denoised-half results.
    pub denoised: Option<DenoisedAnalysis>,
}

/// The part of an [`Analysis`] that needs a denoiser.
#[derive(Clone, Debug)]
pub struct DenoisedAnalysis {
    /// The denoiser's label.
    pub model: String,
    /// Global variances and ratios (eq. 15–20, 23).
    pub variance: VarianceEstimate,
    /// The same per Fourier ring (eq. 24).
    pub rings: RingCurve<VarianceEstimate>,
    /// FRC/SSNR between the denoised halves.
    pub frc: RingCurve<FrcValue>,
    /// Topaz's even/odd SNR (denoise one half, correlate with the other raw half, both
    /// ways averaged), dB.
    pub topaz_snr_db: Option<f64>,
}

/// Inputs of [`analyze`] besides the halves.
pub struct AnalysisInput<'a> {
    /// The micrograph (full sum) for the raw spectrum.
    pub raw: &'a Image,
    /// Its denoised view, if computed (for the denoised spectrum).
    pub denoised_view: Option<&'a Image>,
    /// Low-pass bin factor (Topaz binning) of the low-pass view.
    pub lowpass_factor: f32,
    /// Denoiser for the signal/noise/bias part.
    pub denoiser: Option<&'a Denoiser2d>,
    /// Ring width in Fourier pixels.
    pub ring_width: f32,
}

/// Tile side of the Welch power spectra.
pub const SPECTRUM_TILE: usize = 512;

/// Runs the analysis on halves `m1`, `m2` (both denoised when a denoiser is given), reporting
/// progress in 5 steps plus the denoiser's own.
///
/// # Errors
/// Mismatched halves, non-finite values, a failing denoiser, cancellation.
pub fn analyze(
    m1: &Image,
    m2: &Image,
    source: HalvesSource,
    input: &AnalysisInput<'_>,
    progress: &Progress,
) -> Result<Analysis> {
    progress.set_message("FRC of the raw halves");
    let raw_snr = metrics::frank_al_ali_snr(m1, m2)?;
    let raw_frc = metrics::frc(m1, m2, input.ring_width)?;
    progress.set_message("low-passed halves");
    let l1 = fourier::bin_lowpass(m1, input.lowpass_factor);
    let l2 = fourier::bin_lowpass(m2, input.lowpass_factor);
    let lowpass_frc = metrics::frc(&l1, &l2, input.ring_width)?;
    progress.set_message("power spectra");
    let spectrum = |im: &Image| {
        let lin = fourier::power_spectrum_linear(
            im,
            SPECTRUM_TILE.min(im.width.min(im.height)),
            Window::Hann,
        );
        fourier::rotational_average(&lin, im.pixel_size_angstrom)
    };
    let lowpass_full = fourier::bin_lowpass(input.raw, input.lowpass_factor);
    let spectra = [
        Some(spectrum(input.raw)),
        input.denoised_view.map(spectrum),
        Some(spectrum(&lowpass_full)),
    ];
    let denoised = match input.denoiser {
        None => None,
        Some(d) => {
            if progress.is_cancelled() {
                bail!("analysis cancelled");
            }
            let tiles = TileConfig::default();
            progress.set_message("denoising half 1");
            let d1 = d
                .denoise(m1, &tiles, progress)
                .context("denoising half 1")?;
            progress.set_message("denoising half 2");
            let d2 = d
                .denoise(m2, &tiles, progress)
                .context("denoising half 2")?;
            progress.set_message("signal, noise and bias");
            let variance = metrics::variance_estimate(m1, m2, &d1, &d2)?;
            let rings = metrics::variance_estimate_rings(m1, m2, &d1, &d2, input.ring_width)?;
            let frc = metrics::frc(&d1, &d2, input.ring_width)?;
            let eo = metrics::topaz_even_odd_snr(m1, m2, |half: &Image| {
                Ok(if std::ptr::eq(half, m1) {
                    d1.clone()
                } else {
                    d2.clone()
                })
            })?;
            Some(DenoisedAnalysis {
                model: d.label().to_string(),
                variance,
                rings,
                frc,
                topaz_snr_db: eo.snr_db,
            })
        }
    };
    Ok(Analysis {
        source,
        pixel_size_angstrom: m1.pixel_size_angstrom,
        raw_snr,
        raw_frc,
        lowpass_frc,
        spectra,
        denoised,
    })
}

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
/// Fourier pixels wide. The denoised halves are computed once per denoiser and shared by
/// denoised and merged panes. Progress: one message per pane plus the denoiser's own.
///
/// # Errors
/// Mismatched halves, non-finite values, a failing denoiser or merge (e.g. no pixel size for
/// a merged pane), cancellation.
pub fn pane_curves(
    m1: &Image,
    m2: &Image,
    panes: &[(String, PaneFilter<'_>)],
    ring_width: f32,
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
                .denoise(m1, &tiles, progress)
                .context("denoising half 1")?;
            let b = d
                .denoise(m2, &tiles, progress)
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
            } => {
                let (d1, d2) = denoise(denoiser)?;
                let merge = |m: &Image, d: &Image| {
                    fourier::merge::merge(m, d, cutoff_angstrom, width_angstrom)
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

impl Analysis {
    /// The per-ring curves as CSV: frequency (1/Å or 1/px) and resolution, FRC and half-map
    /// SSNR of raw / low-passed / denoised halves, and with a denoiser the signal, noise
    /// (noisy, denoised) and bias power per ring.
    pub fn curves_csv(&self) -> String {
        use std::fmt::Write as _;
        let unit = match self.raw_frc.unit {
            metrics::FrequencyUnit::PerAngstrom => "frequency_per_angstrom,resolution_angstrom",
            metrics::FrequencyUnit::PerPixel => "frequency_per_pixel,resolution_pixels",
        };
        let mut csv = format!("{unit},frc_raw,ssnr_raw,frc_lowpass,ssnr_lowpass");
        if self.denoised.is_some() {
            csv.push_str(",frc_denoised,ssnr_denoised,signal,noise_noisy,noise_denoised,bias");
        }
        csv.push('\n');
        for (i, r) in self.raw_frc.rings.iter().enumerate() {
            let l = self.lowpass_frc.rings.get(i).map(|r| r.value);
            let _ = write!(
                csv,
                "{},{},{},{},{},{}",
                r.frequency,
                1.0 / r.frequency,
                r.value.frc,
                r.value.ssnr_half,
                l.map_or(f64::NAN, |v| v.frc),
                l.map_or(f64::NAN, |v| v.ssnr_half)
            );
            if let Some(d) = &self.denoised {
                let f = d.frc.rings.get(i).map(|r| r.value);
                let v = d.rings.rings.get(i).map(|r| r.value);
                let _ = write!(
                    csv,
                    ",{},{},{},{},{},{}",
                    f.map_or(f64::NAN, |v| v.frc),
                    f.map_or(f64::NAN, |v| v.ssnr_half),
                    v.map_or(f64::NAN, |v| v.signal),
                    v.map_or(f64::NAN, |v| v.noise_noisy),
                    v.map_or(f64::NAN, |v| v.noise_denoised),
                    v.map_or(f64::NAN, |v| v.bias)
                );
            }
            csv.push('\n');
        }
        csv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_found_by_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |n: &str| std::fs::write(dir.path().join(n), b"x").unwrap();
        touch("a.mrc");
        touch("a_EVN.mrc");
        touch("a_ODD.mrc");
        touch("b_even.tif");
        touch("b_odd.tif");
        touch("c.mrc");
        touch("c_EVN.mrc");
        let d = dir.path();
        let ab = Some((d.join("a_EVN.mrc"), d.join("a_ODD.mrc")));
        assert_eq!(find_half_pair(&d.join("a.mrc")), ab);
        assert_eq!(find_half_pair(&d.join("a_ODD.mrc")), ab);
        assert_eq!(
            find_half_pair(&d.join("b.tif")),
            Some((d.join("b_even.tif"), d.join("b_odd.tif")))
        );
        assert_eq!(find_half_pair(&d.join("c.mrc")), None);
        assert_eq!(find_half_pair(&d.join("b.mrc")), None);
    }
}
