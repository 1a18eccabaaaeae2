//! The screening PNGs of a [`Screened`] micrograph: the denoised and raw thumbnails with the
//! illumination gradient flattened and a 0.5–99.5 % window (particles, not the ice wedge), and
//! the log power spectrum with a 2–99.8 % window.

use std::path::Path;

use anyhow::Result;

use super::Screened;
use crate::fourier;
use crate::image::Image;

impl Screened {
    /// Writes `thumbnails/REL.png` (denoised), `raw/REL.png` and `spectra/REL.png` under
    /// `out` (folders made as needed, each file atomically) and returns those three paths
    /// relative to `out`, `/`-separated, as the table stores them.
    ///
    /// # Errors
    /// A folder or file that cannot be written.
    pub fn write_pngs(&self, out: &Path, rel: &str) -> Result<[String; 3]> {
        let png = |folder: &str, image: &Image, (black, white): (f32, f32)| -> Result<String> {
            let file = format!("{folder}/{rel}.png");
            let target = out.join(&file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            crate::io::png::write_grey_png(&target, image, black, white)?;
            Ok(file)
        };
        let denoised = flatten(&self.denoised);
        let raw = flatten(&self.raw);
        Ok([
            png(
                "thumbnails",
                &denoised,
                percentile_window(&denoised, 0.005, 0.995),
            )?,
            png("raw", &raw, percentile_window(&raw, 0.005, 0.995))?,
            png(
                "spectra",
                &self.spectrum,
                percentile_window(&self.spectrum, 0.02, 0.998),
            )?,
        ])
    }
}

/// `image` with its illumination gradient removed for display: minus its Gaussian low-pass
/// of σ = 1/16 of the longest side (the ice gradient, not particles), computed on a mirrored
/// extension so that opposite edges do not bleed into each other.
fn flatten(image: &Image) -> Image {
    let (w, h) = (image.width, image.height);
    let sigma = w.max(h) as f32 / 16.0;
    let pad = ((3.0 * sigma) as usize).min(w.min(h).saturating_sub(1));
    let (pw, ph) = (w + 2 * pad, h + 2 * pad);
    // Mirror index into 0..n (edge pixel not repeated).
    let mirror = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let j = if i < 0 {
            -i
        } else if i >= n {
            2 * (n - 1) - i
        } else {
            i
        };
        j.clamp(0, n - 1) as usize
    };
    let mut data = Vec::with_capacity(pw * ph);
    for y in 0..ph {
        let sy = mirror(y as isize - pad as isize, h);
        for x in 0..pw {
            data.push(image.data[sy * w + mirror(x as isize - pad as isize, w)]);
        }
    }
    let Ok(padded) = Image::new(pw, ph, data) else {
        return image.clone();
    };
    let background = fourier::gaussian_lowpass(&padded, sigma);
    let mut out = image.clone();
    for y in 0..h {
        for x in 0..w {
            out.data[y * w + x] -= background.data[(y + pad) * pw + x + pad];
        }
    }
    out
}

/// A display window (black, white) at the `lo` and `hi` quantiles of the image's finite
/// values: 0.5 % and 99.5 % for thumbnails (the denoised image's contrast, not its
/// illumination gradient), 2 % and 99.8 % for log spectra.
fn percentile_window(image: &Image, lo: f64, hi: f64) -> (f32, f32) {
    let mut v: Vec<f32> = image
        .data
        .iter()
        .copied()
        .filter(|x| x.is_finite())
        .collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    (at(lo), at(hi))
}
