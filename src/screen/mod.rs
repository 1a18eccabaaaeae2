//! Grid screening: for each micrograph, the numbers that say whether a grid is worth
//! collecting on, and thumbnails to look at, fast enough to keep up with acquisition
//! ([`screen_micrograph`]); the table that collects them ([`table`]); the folder watch that
//! feeds new exposures in ([`watch`]); thresholds and the exports of the decision
//! ([`curate`]).
//!
//! Screening works at *screen resolution*: the micrograph and its two halves are
//! Fourier-binned ([`crate::fourier::fourier_crop`]) so that the longest side is at most
//! [`ScreenSettings::thumbnail_size`] pixels, and the denoiser runs on that (Topaz's models
//! denoise binned micrographs: Bepler et al. 2020 denoised hardware-binned screening images).
//! The SNR columns are measured at that pixel size too, so raw and denoised compare like with
//! like. The crystalline-ice ring needs the full resolution and is measured before binning
//! ([`ice`]). Full-resolution denoising stays on demand (the viewer, `cryolens denoise`).

pub mod acquisition;
pub mod curate;
pub mod curves;
pub mod ice;
pub mod run;
pub mod table;
pub mod thumbnails;
pub mod watch;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::analysis::{HalvesSource, halves_for};
use crate::ctf::MicrographCtf;
use crate::denoise::{Denoiser2d, TileConfig};
use crate::fourier::{self, Window};
use crate::image::Image;
use crate::jobs::Progress;
use crate::metrics::{self, CountSplitOptions};

pub use table::{ScreenRow, ScreenTable, TABLE_NAME};
pub use watch::FolderWatch;

/// How micrographs are screened.
#[derive(Clone, Debug)]
pub struct ScreenSettings {
    /// Longest side of the thumbnails and of the images the SNR is measured on, pixels
    /// (micrographs already smaller are not binned).
    pub thumbnail_size: usize,
    /// Also measure the denoiser on the halves (two more denoisings of the central
    /// [`SNR_REGION`]): Topaz's even/odd SNR, restore's denoised SNR and SNBR, and the per-ring
    /// signal, bias and noise ([`curves`]).
    pub denoised_snr: bool,
    /// Count splitting when no even/odd sums lie beside a micrograph.
    pub split: CountSplitOptions,
    /// Side of the power-spectrum thumbnail (Welch tiles of the full-resolution micrograph),
    /// pixels.
    pub spectrum_size: usize,
}

impl Default for ScreenSettings {
    /// 512-pixel thumbnails, the denoised SNR measured, count splitting with an estimated
    /// gain, 512² spectra.
    fn default() -> Self {
        Self {
            thumbnail_size: 512,
            denoised_snr: true,
            split: CountSplitOptions::default(),
            spectrum_size: 512,
        }
    }
}

/// One micrograph screened: its row of numbers (everything but the paths of the PNGs, the
/// decision and the pick count) and the three images the thumbnails are drawn from.
#[derive(Clone, Debug)]
pub struct Screened {
    /// The numbers.
    pub row: ScreenRow,
    /// The micrograph binned to screen resolution (rows = y).
    pub raw: Image,
    /// Its denoised version, same shape.
    pub denoised: Image,
    /// The full-resolution power spectrum (Welch, Hann tiles of `spectrum_size`), log10, DC
    /// in the middle ([`fourier::power_spectrum`]).
    pub spectrum: Image,
    /// Per-ring signal, bias and noise of the SNR region ([`curves::RING_WIDTH`]), when the
    /// halves were denoised.
    pub rings: Option<curves::RingTable>,
}

/// The screen-resolution shape of a `width × height` micrograph: the longest side at most
/// `longest` pixels, the aspect ratio kept (each side at least 1).
pub fn screen_shape(width: usize, height: usize, longest: usize) -> (usize, usize) {
    let side = width.max(height);
    if side <= longest || side == 0 {
        return (width, height);
    }
    let scale = longest as f64 / side as f64;
    let fit = |n: usize| ((n as f64 * scale).round() as usize).clamp(1, longest);
    (fit(width), fit(height))
}

/// Screens the micrograph at `path` with `denoiser`: reads it, measures the crystalline-ice
/// ring at full resolution, finds its halves (even/odd sums beside it, else count
/// splitting), bins image and halves to screen resolution, denoises, and measures the SNR of
/// the raw halves (Frank & Al-Ali) and of the denoiser (Topaz's even/odd SNR), both in dB at
/// the screening pixel size. `ctf`, when known, gives the defocus columns and is passed to a
/// restore model that phase flips.
///
/// Halves that cannot be made (data that are not counts, with no even/odd sums) leave the
/// SNR and dose columns empty; they are not an error.
///
/// # Errors
/// An unreadable micrograph, non-finite pixels, a failing denoiser, cancellation.
pub fn screen_micrograph(
    path: &Path,
    denoiser: &Denoiser2d,
    ctf: Option<&MicrographCtf>,
    settings: &ScreenSettings,
    progress: &Progress,
) -> Result<Screened> {
    let started = Instant::now();
    let mut image = crate::io::read_micrograph(path)?;
    image.check_finite()?;
    if image.pixel_size_angstrom.is_none() {
        image.pixel_size_angstrom = ctf.and_then(|c| c.pixel_size_angstrom).map(|p| p as f32);
    }
    let pixel = image.pixel_size_angstrom;
    let (full_w, full_h) = (image.width, image.height);
    let mean = image.stats().mean;
    progress.set_message("power spectrum");
    let linear = fourier::power_spectrum_linear(&image, settings.spectrum_size, Window::Hann);
    let ice_ring_db = ice::ice_ring_db_of(&linear);
    let spectrum = fourier::log_spectrum(&linear);
    drop(linear);
    progress.set_message("halves");
    let halves = screen_halves(&image, path, &settings.split);
    let gain = match &halves {
        Some((_, _, HalvesSource::CountSplit { gain, .. })) => Some(*gain),
        _ => metrics::estimate_gain(&image)
            .ok()
            .and_then(|g| g.quantum.map(|_| g.gain)),
    };
    let dose = gain
        .zip(pixel)
        .map(|(g, p)| mean / g / f64::from(p).powi(2));
    let (w, h) = screen_shape(image.width, image.height, settings.thumbnail_size);
    let bin = |im: &Image| fourier::fourier_crop(im, w, h);
    let small_halves = halves
        .as_ref()
        .map(|(a, b, source)| (bin(a), bin(b), source));
    // A count split sums exactly to the micrograph: its binned halves give the binned image.
    let raw = match &small_halves {
        Some((a, b, HalvesSource::CountSplit { .. })) => add(a, b),
        _ => bin(&image),
    };
    drop(image);
    progress.set_message("denoising");
    let tiles = TileConfig::default();
    let c = ctf.map(|c| &c.ctf);
    let denoised = denoiser
        .denoise_with_ctf(&raw, c, true, &tiles, progress)
        .context("denoising the binned micrograph")?;
    let mut snr_raw_db = None;
    let mut snr_denoised_db = None;
    let mut restore = None;
    let mut rings = None;
    if let Some((a, b, _)) = &small_halves {
        let (a, b) = (central(a, SNR_REGION), central(b, SNR_REGION));
        snr_raw_db = metrics::frank_al_ali_snr(&a, &b)
            .ok()
            .and_then(|s| s.snr_db);
        if settings.denoised_snr {
            progress.set_message("denoised SNR");
            let run = |half: &Image| denoiser.denoise_with_ctf(half, c, true, &tiles, progress);
            let da = run(&a).context("denoising the first half")?;
            let db = run(&b).context("denoising the second half")?;
            let eo = metrics::topaz_even_odd_snr_of(&a, &b, &da, &db)?;
            snr_denoised_db = eo.snr_db;
            restore = metrics::variance_estimate(&a, &b, &da, &db).ok();
            rings = metrics::variance_estimate_rings(&a, &b, &da, &db, curves::RING_WIDTH)
                .ok()
                .map(|curve| curves::RingTable::from_curve(&curve));
        }
    }
    let (size, ns) = table::file_stamp(path).map_or((None, None), |(s, n)| (Some(s), Some(n)));
    let round = |v: f64, digits: i32| (v * 10f64.powi(digits)).round() / 10f64.powi(digits);
    let row = ScreenRow {
        micrograph: path.to_string_lossy().into_owned(),
        acquisition_time: acquisition::acquisition_time(path),
        width_px: Some(full_w),
        height_px: Some(full_h),
        pixel_size_angstrom: pixel.map(|p| round(f64::from(p), 4) as f32),
        mean_value: Some(round(mean, 4)),
        dose_e_per_angstrom2: dose.map(|d| round(d, 3)),
        halves: small_halves.as_ref().map(|(_, _, s)| s.describe()),
        snr_raw_db: snr_raw_db.map(|v| round(v, 2)),
        snr_denoised_db: snr_denoised_db.map(|v| round(v, 2)),
        restore_snr_denoised_db: restore
            .and_then(|r| metrics::to_db(r.snr_denoised))
            .map(|v| round(v, 2)),
        snbr_db: restore
            .and_then(|r| metrics::to_db(r.snbr))
            .map(|v| round(v, 2)),
        screen_pixel_size_angstrom: raw
            .pixel_size_angstrom
            .map(|p| round(f64::from(p), 4) as f32),
        ice_ring_db: ice_ring_db.map(|v| round(v, 2)),
        defocus_um: ctf.map(|c| {
            round(
                (c.ctf.defocus_u_angstrom + c.ctf.defocus_v_angstrom) / 2e4,
                3,
            )
        }),
        astigmatism_um: ctf.map(|c| {
            round(
                (c.ctf.defocus_u_angstrom - c.ctf.defocus_v_angstrom).abs() / 1e4,
                3,
            )
        }),
        ctf_fit_resolution_angstrom: ctf.and_then(|c| c.fit_resolution_angstrom),
        ice_thickness_nm: ctf
            .and_then(|c| c.sample_thickness_angstrom)
            .map(|t| round(t / 10.0, 1)),
        ctf_tilt_degrees: ctf.and_then(|c| c.tilt_degrees).map(|(_, t)| round(t, 2)),
        model: Some(denoiser.label().to_string()),
        seconds: Some(round(started.elapsed().as_secs_f64(), 2)),
        file_size_bytes: size,
        file_mtime_ns: ns,
        ..Default::default()
    };
    Ok(Screened {
        row,
        raw,
        denoised,
        spectrum,
        rings,
    })
}

/// The halves screening measures the SNR on: even/odd sums beside the micrograph, else count
/// splitting ([`halves_for`]). A counting-mode sum stored gain-normalised (values off the
/// count lattice, as EPU writes them) is split forced, rounding value / gain to counts, when
/// its noise is white as a counting detector's is (neighbour-pixel correlation
/// 1 − (difference variance / mean) / (variance / mean) below 0.1) and the counts per pixel
/// are plausible (0.01 to [`metrics::MAX_COUNTS_PER_PIXEL`]); anything else (a
/// dose-weighted or filtered image) has no halves.
fn screen_halves(
    image: &Image,
    path: &Path,
    split: &CountSplitOptions,
) -> Option<(Image, Image, HalvesSource)> {
    if let Ok(h) = halves_for(image, Some(path), split) {
        return Some(h);
    }
    let g = metrics::estimate_gain(image).ok()?;
    let correlation = 1.0 - g.difference_variance_over_mean / g.variance_over_mean;
    let counts = image.stats().mean / g.gain;
    let plausible = (0.01..=metrics::MAX_COUNTS_PER_PIXEL).contains(&counts);
    if correlation < 0.1 && plausible && !split.force {
        // The gain just estimated, not estimated a third time over the full micrograph.
        let forced = CountSplitOptions {
            force: true,
            gain: metrics::GainSource::Given(g.gain),
            ..*split
        };
        halves_for(image, Some(path), &forced).ok()
    } else {
        None
    }
}

/// The side of the central region of the screen-resolution halves that both SNR columns are
/// measured on, pixels (the denoiser runs twice on it: 0.3 s each for unet on 2 cores).
pub const SNR_REGION: usize = 256;

/// The central `side × side` region of `image` (all of it along a shorter axis).
fn central(image: &Image, side: usize) -> Image {
    let (w, h) = (image.width.min(side), image.height.min(side));
    image.crop((image.width - w) / 2, (image.height - h) / 2, w, h)
}

/// Pixel-wise sum of two images of one shape (the pixel size of `a`).
fn add(a: &Image, b: &Image) -> Image {
    let data = a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect();
    Image { data, ..a.clone() }
}
