//! One micrograph's full analysis: the SNR table (Frank & Al-Ali; Palovcak et al. 2020
//! supplement eq. 15–20, 23; Topaz's even/odd SNR) and the per-frequency curves (rotational
//! power spectra, FRC and SSNR of raw / denoised / low-passed halves, and the signal, noise
//! and bias power of eq. 24), with their CSV.

use anyhow::{Context, Result, bail};

use crate::ctf::Ctf;
use crate::denoise::{Denoiser2d, TileConfig};
use crate::fourier::{self, Window};
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::{self, FrcValue, RingCurve, SnrEstimate, VarianceEstimate};

use super::halves::HalvesSource;

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
    /// Booth's SSNR of the raw micrograph from its power spectrum, the background through the
    /// spectrum's minima (the CTF zeros), beside the FRC-based SSNR ([`booth_of`]).
    pub booth: Vec<metrics::BoothPoint>,
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
    /// The micrograph's CTF, for a denoiser trained on phase-flipped micrographs (the halves
    /// are flipped before denoising and back after; others ignore it).
    pub ctf: Option<Ctf>,
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
    let booth = spectra[0].as_ref().map(booth_of).unwrap_or_default();
    let denoised = match input.denoiser {
        None => None,
        Some(d) => {
            if progress.is_cancelled() {
                bail!("analysis cancelled");
            }
            let tiles = TileConfig::default();
            progress.set_message("denoising half 1");
            let ctf = input.ctf.as_ref();
            let d1 = d
                .denoise_with_ctf(m1, ctf, true, &tiles, progress)
                .context("denoising half 1")?;
            progress.set_message("denoising half 2");
            let d2 = d
                .denoise_with_ctf(m2, ctf, true, &tiles, progress)
                .context("denoising half 2")?;
            progress.set_message("signal, noise and bias");
            let variance = metrics::variance_estimate(m1, m2, &d1, &d2)?;
            let rings = metrics::variance_estimate_rings(m1, m2, &d1, &d2, input.ring_width)?;
            let frc = metrics::frc(&d1, &d2, input.ring_width)?;
            let eo = metrics::topaz_even_odd_snr_of(m1, m2, &d1, &d2)?;
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
        booth,
    })
}

/// Booth's SSNR of a rotationally averaged power spectrum (Booth et al. 2004; restore
/// supplement S3): the noise background through its local minima (the CTF zeros; ±2 rings,
/// the first 3 rings skipped), [`metrics::booth_ssnr`].
pub fn booth_of(spectrum: &Spectrum) -> Vec<metrics::BoothPoint> {
    let s: Vec<(f64, f64)> = spectrum
        .iter()
        .map(|&(f, p)| (f64::from(f), f64::from(p)))
        .collect();
    let zeros = metrics::spectrum_minima(&s, 2, 3);
    metrics::booth_ssnr(&s, &zeros)
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
