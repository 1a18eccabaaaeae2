//! 8-bit greyscale PNG renderings of an image for figures and previews, written atomically.
//!
//! Row 0 of the image is the top row of the PNG (the way the viewer shows it); values are
//! mapped linearly from a window (black, white) in image units to 0–255 and clamped. The
//! window is the caller's: e.g. Topaz-Denoise's display normalisation
//! (`crate::analysis::section::topaz_display_window`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::image::Image;

/// The 8-bit value of `v` in the window (`black`, `white`): 0 at or below black, 255 at or
/// above white, NaN as black. A window of zero or negative width maps everything above
/// `black` to white.
pub fn to_grey(v: f32, black: f32, white: f32) -> u8 {
    let width = white - black;
    let t = if width > 0.0 {
        (v - black) / width
    } else if v > black {
        1.0
    } else {
        0.0
    };
    if t.is_nan() {
        0
    } else {
        (t.clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// Writes `image` (row-major, width × height) as an 8-bit greyscale PNG at `path`, values
/// mapped by [`to_grey`] with the window (`black`, `white`), atomically
/// ([`crate::io::atomic::write_atomically`]).
///
/// # Errors
/// An image whose sides do not fit a PNG (over 2³¹ px) or whose data do not match its shape,
/// and any I/O failure (the file is then left as it was).
pub fn write_grey_png(path: &Path, image: &Image, black: f32, white: f32) -> Result<()> {
    let pixels: Vec<u8> = image
        .data
        .iter()
        .map(|&v| to_grey(v, black, white))
        .collect();
    let (w, h) = (
        u32::try_from(image.width).context("image too wide for a PNG")?,
        u32::try_from(image.height).context("image too tall for a PNG")?,
    );
    let grey = image::GrayImage::from_raw(w, h, pixels)
        .with_context(|| format!("{}×{} image with {} values", w, h, image.data.len()))?;
    let mut bytes = Vec::new();
    grey.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .context("encoding the PNG")?;
    crate::io::atomic::write_atomically(path, &bytes)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_maps_linearly_and_clamps() {
        assert_eq!(to_grey(-4.0, -4.0, 4.0), 0);
        assert_eq!(to_grey(0.0, -4.0, 4.0), 128);
        assert_eq!(to_grey(4.0, -4.0, 4.0), 255);
        assert_eq!(to_grey(100.0, -4.0, 4.0), 255);
        assert_eq!(to_grey(f32::NAN, -4.0, 4.0), 0);
        assert_eq!(to_grey(1.0, 0.0, 0.0), 255);
    }

    #[test]
    fn png_round_trips_rows_top_down() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        // 3 wide, 2 tall: the top row dark, the bottom row bright.
        let im = Image::new(3, 2, vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
        write_grey_png(&path, &im, 0.0, 1.0).unwrap();
        let back = image::open(&path).unwrap().to_luma8();
        assert_eq!(back.dimensions(), (3, 2));
        assert_eq!(back.get_pixel(1, 0).0[0], 0);
        assert_eq!(back.get_pixel(1, 1).0[0], 255);
    }
}
