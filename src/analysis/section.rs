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
    if depth == 1 {
        return Ok((volume.section(0), None));
    }
    let what = match kind {
        ContentKind::Stack => "stack",
        _ => "volume",
    };
    let mapped = if volume.is_mapped() {
        " (memory-mapped: sections are read as shown)"
    } else {
        ""
    };
    Ok((
        volume.section(depth / 2),
        Some(format!(
            "{what} of {depth} sections{mapped}: section slider and Up/Down keys in the side panel"
        )),
    ))
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
