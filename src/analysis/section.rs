//! Which 2D image of a file is shown: the image itself, or the middle section of a stack or
//! volume (which stays open, memory-mapped when large, for its other sections); and the
//! display statistics of a volume's sections.

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;

use crate::image::Image;
use crate::io::ContentKind;
use crate::io::mapped::{self, VolumeSource};

/// A micrograph as read: the image shown and, for a stack or volume, the whole of it.
pub struct Micrograph {
    /// Its name for display (the file name).
    pub name: String,
    /// What the image is, for a stack or volume (e.g. "volume of 40 sections…").
    pub note: Option<String>,
    /// The image shown (a stack's or volume's middle section).
    pub image: Image,
    /// The whole stack or volume (more than one section), memory-mapped when large.
    pub volume: Option<Arc<dyn VolumeSource>>,
}

/// Reads the micrograph at `path`: large MRC files are mapped, not read, so that only the
/// sections shown are decoded (see [`mapped::open_volume`]).
///
/// # Errors
/// Unreadable files; see [`micrograph_from`].
pub fn read_micrograph(path: &Path) -> Result<Micrograph> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (kind, volume) = mapped::open_volume(path)?;
    micrograph_from(name, kind, volume)
}

/// The micrograph of a file's contents `volume` (of `kind`), named `name`.
///
/// # Errors
/// A file without pixels; non-finite values in the image shown (the message starts with
/// `name`).
pub fn micrograph_from(
    name: String,
    kind: ContentKind,
    volume: Arc<dyn VolumeSource>,
) -> Result<Micrograph> {
    let (image, note) = pick_section(kind, &*volume)?;
    let volume = (volume.shape().2 > 1).then_some(volume);
    image
        .check_finite()
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(Micrograph {
        name,
        note,
        image,
        volume,
    })
}

/// The 2D image to show for a file's contents: the image itself, or the middle section of a
/// stack or volume (with a note saying so).
///
/// # Errors
/// A file without pixels.
pub fn pick_section(
    kind: ContentKind,
    volume: &dyn VolumeSource,
) -> Result<(Image, Option<String>)> {
    let (width, height, depth) = volume.shape();
    if width == 0 || height == 0 || depth == 0 {
        anyhow::bail!("the file holds no pixels ({width}×{height}×{depth})");
    }
    let described = volume.describe();
    if depth == 1 {
        let image = volume.section(0);
        fail_on_read_error(volume)?;
        return Ok((image, described));
    }
    let what = match kind {
        ContentKind::Stack => "stack",
        _ => "volume",
    };
    let mapped = match described {
        Some(d) => format!(" ({d})"),
        None if volume.is_mapped() => " (memory-mapped: sections are read as shown)".into(),
        None => String::new(),
    };
    let image = volume.section(depth / 2);
    fail_on_read_error(volume)?;
    Ok((
        image,
        Some(format!(
            "{what} of {depth} sections{mapped}: section slider and Up/Down keys in the side panel"
        )),
    ))
}

/// The source's first failed read as an error (see [`VolumeSource::take_read_error`]).
fn fail_on_read_error(volume: &dyn VolumeSource) -> Result<()> {
    match volume.take_read_error() {
        Some(e) => anyhow::bail!("{e}"),
        None => Ok(()),
    }
}

/// The display statistics (median, robust σ) shared by all sections of `volume`, when it
/// has them: for a memory-mapped volume they come from a sample of sections across it (see
/// [`VolumeSource::contrast_stats`]), so that the contrast holds from section to section
/// without reading the whole file. `None` (use each section's own) otherwise, or when σ is
/// not a positive finite number.
pub fn section_contrast(volume: &dyn VolumeSource) -> Option<(f32, f32)> {
    volume
        .contrast_stats()
        .filter(|&(_, sigma)| sigma > 0.0 && sigma.is_finite())
}

/// Bin factor of Topaz's display normalisation ([`topaz_display_window`]).
pub const TOPAZ_DISPLAY_LOWPASS: f32 = 16.0;

/// Half-width of Topaz's display window in σ of the low-passed image.
pub const TOPAZ_DISPLAY_SIGMAS: f32 = 4.0;

/// Topaz-Denoise's display normalisation (Bepler et al. 2020, figures of raw, low-passed and
/// denoised micrographs): the image is scaled by the mean μ and σ of its 16× low-passed copy
/// ([`crate::fourier::bin_lowpass`], factor [`TOPAZ_DISPLAY_LOWPASS`]) and shown in [−4, 4],
/// i.e. the absolute window (μ − 4σ, μ + 4σ), returned as (black, white) in image units.
///
/// Images above 4 M pixels are first averaged in 4 × 4 blocks and low-passed by 4× (the
/// same band of frequencies; the block mean damps the band's edge by ≤ 2.5 %, so σ by less)
/// to keep this cheap enough to run beside every view. A constant low-pass (σ = 0) gets
/// the image's own σ; an empty image (0, 1).
pub fn topaz_display_window(image: &Image) -> (f32, f32) {
    let (w, h) = (image.width, image.height);
    if w == 0 || h == 0 || image.data.len() != w * h {
        return (0.0, 1.0);
    }
    let low = if w * h > 4 << 20 && w >= 8 && h >= 8 {
        let (bw, bh) = (w / 4, h / 4);
        let mut data = vec![0.0f32; bw * bh];
        for (i, v) in data.iter_mut().enumerate() {
            let (x, y) = (4 * (i % bw), 4 * (i / bw));
            let mut s = 0.0f32;
            for dy in 0..4 {
                let row = &image.data[(y + dy) * w + x..(y + dy) * w + x + 4];
                s += row.iter().sum::<f32>();
            }
            *v = s / 16.0;
        }
        let binned = Image {
            width: bw,
            height: bh,
            data,
            pixel_size_angstrom: None,
        };
        crate::fourier::bin_lowpass(&binned, TOPAZ_DISPLAY_LOWPASS / 4.0)
    } else {
        crate::fourier::bin_lowpass(image, TOPAZ_DISPLAY_LOWPASS)
    };
    let s = low.stats();
    let sigma = if s.std > 0.0 && s.std.is_finite() {
        s.std
    } else {
        image.stats().std.max(f64::MIN_POSITIVE)
    };
    let k = f64::from(TOPAZ_DISPLAY_SIGMAS);
    ((s.mean - k * sigma) as f32, (s.mean + k * sigma) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::synthetic::smooth_field;
    use crate::rng::Rng;

    /// A smooth signal of σ 2 (all its power far below the 16× cutoff) plus white noise of
    /// σ 5 around 100: the low-pass keeps the signal and 1/256 of the noise power, so the
    /// window is 100 ± 4·√(4 + 25/256).
    #[test]
    fn window_is_lowpass_mean_plus_minus_four_sigma() {
        for side in [512usize, 2304] {
            let s = smooth_field(side, side, side as f32 / 16.0, 3);
            let mut r = Rng::new(8);
            let data = s
                .data
                .iter()
                .map(|v| 100.0 + 2.0 * v + 5.0 * r.normal() as f32)
                .collect();
            let im = Image::new(side, side, data).unwrap();
            let (lo, hi) = topaz_display_window(&im);
            let sigma = (4.0f64 + 25.0 / 256.0).sqrt();
            assert!(((lo + hi) / 2.0 - 100.0).abs() < 0.05, "{side}: {lo} {hi}");
            let got = f64::from(hi - lo) / 8.0;
            assert!(
                (got / sigma - 1.0).abs() < 0.03,
                "{side}: σ {got} vs {sigma}"
            );
        }
    }
}
