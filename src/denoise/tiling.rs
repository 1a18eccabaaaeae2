//! Tile plans for images larger than one forward pass should take.
//!
//! A tile has a core (the pixels it writes) and a padded input window (the pixels it reads).
//! Cores partition the image. Windows extend the core by the padding on each side, clipped to
//! the image. For the result to equal an untiled run, (1) the padding must cover the model's
//! receptive radius and (2) window origins must fall on the model's pooling grid (multiples
//! of 2^pools), so that every pooling window and nearest up-sampling covers the same pixels as
//! in the whole image. Padding and core size are rounded up to the alignment to ensure (2).

use anyhow::{Result, bail};

use crate::image::Image;
use crate::jobs::Progress;
use crate::models::TopazConfig;

/// Tiling parameters (`--patch-size`, `--padding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileConfig {
    /// Core size of a tile in pixels (Topaz's default 1024). 0 disables tiling.
    pub patch_size: usize,
    /// Context pixels read around each core, per side. `None`: the model's receptive-field
    /// radius rounded up to its alignment (exact results at the least cost: 224 px for Topaz's
    /// unet, against Topaz's fixed 500).
    pub padding: Option<usize>,
}

impl Default for TileConfig {
    fn default() -> Self {
        Self {
            patch_size: 1024,
            padding: None,
        }
    }
}

/// One tile: input window `[in_x, in_x + in_w) × [in_y, in_y + in_h)` and core
/// `[core_x, core_x + core_w) × [core_y, core_y + core_h)`, in image pixels (x = column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Window origin, column.
    pub in_x: usize,
    /// Window origin, row.
    pub in_y: usize,
    /// Window width.
    pub in_w: usize,
    /// Window height.
    pub in_h: usize,
    /// Core origin, column.
    pub core_x: usize,
    /// Core origin, row.
    pub core_y: usize,
    /// Core width.
    pub core_w: usize,
    /// Core height.
    pub core_h: usize,
}

impl Tile {
    /// Copies the window out of a row-major image of width `width`.
    pub fn extract(&self, data: &[f32], width: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.in_w * self.in_h);
        for y in self.in_y..self.in_y + self.in_h {
            let row = y * width;
            out.extend_from_slice(&data[row + self.in_x..row + self.in_x + self.in_w]);
        }
        out
    }

    /// Writes the core of a window-shaped result into a row-major image, mapping each value.
    pub fn insert(&self, window: &[f32], out: &mut [f32], width: usize, map: impl Fn(f32) -> f32) {
        let (dx, dy) = (self.core_x - self.in_x, self.core_y - self.in_y);
        for r in 0..self.core_h {
            let src = (dy + r) * self.in_w + dx;
            let dst = (self.core_y + r) * width + self.core_x;
            for c in 0..self.core_w {
                out[dst + c] = map(window[src + c]);
            }
        }
    }
}

/// Runs a network over `image` tile by tile: z-scores the image with its `mean` and `std`
/// (image units), passes each window of `plan` to `forward` (normalised units in and out,
/// row-major `in_h × in_w`) and writes each core back in image units, into an image of
/// `image`'s shape and pixel size. One progress step per tile; `progress` must already be
/// started with `plan.len()` steps.
///
/// # Errors
/// `forward`'s errors; "denoising cancelled" when the job is cancelled between tiles.
pub fn denoise_tiles(
    image: &Image,
    (mean, std): (f64, f64),
    plan: &[Tile],
    progress: &Progress,
    mut forward: impl FnMut(Vec<f32>, &Tile) -> Result<Vec<f32>>,
) -> Result<Image> {
    let normalised: Vec<f32> = image
        .data
        .iter()
        .map(|&v| ((v as f64 - mean) / std) as f32)
        .collect();
    let mut out =
        Image::zeros(image.width, image.height).with_pixel_size(image.pixel_size_angstrom);
    for tile in plan {
        if progress.is_cancelled() {
            bail!("denoising cancelled");
        }
        let values = forward(tile.extract(&normalised, image.width), tile)?;
        tile.insert(&values, &mut out.data, image.width, |v| {
            (v as f64 * std + mean) as f32
        });
        progress.step();
    }
    Ok(out)
}

fn round_up(v: usize, m: usize) -> usize {
    v.div_ceil(m) * m
}

/// Splits one axis of length `n` into (core_start, core_len, win_start, win_len).
fn axis(n: usize, core: usize, pad: usize) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut s = 0;
    while s < n {
        let e = (s + core).min(n);
        let ws = s.saturating_sub(pad);
        let we = (e + pad).min(n);
        out.push((s, e - s, ws, we - ws));
        s = e;
    }
    out
}

/// Plans the tiles for a `width`×`height` image.
///
/// `max_values` bounds the elements of the largest intermediate tensor (channels × window
/// pixels) on devices with a buffer limit (wgpu); the core is shrunk to fit, keeping the
/// padding. With `patch_size == 0` or an image that fits in one window, one tile covers it.
pub fn plan_tiles(
    width: usize,
    height: usize,
    cfg: &TileConfig,
    model: TopazConfig,
    max_values: Option<u64>,
) -> Vec<Tile> {
    let align = model.alignment();
    let pad = round_up(cfg.padding.unwrap_or(model.receptive_radius()), align);
    let mut core = if cfg.patch_size == 0 {
        width.max(height)
    } else {
        round_up(cfg.patch_size, align)
    };
    if let Some(limit) = max_values {
        let per_px = model.max_channels() as u64;
        let fits = |c: usize| {
            let w = (c + 2 * pad).min(width) as u64;
            let h = (c + 2 * pad).min(height) as u64;
            w * h * per_px <= limit
        };
        while core > align && !fits(core) {
            core = (core / 2).max(align);
            core = round_up(core, align);
            if core == align {
                break;
            }
        }
    }
    // An image that fits in one padded window is run whole.
    if width <= core + pad && height <= core + pad && max_values.is_none() {
        core = width.max(height);
    }
    let xs = axis(width, core, pad);
    let ys = axis(height, core, pad);
    let mut tiles = Vec::with_capacity(xs.len() * ys.len());
    for &(core_y, core_h, in_y, in_h) in &ys {
        for &(core_x, core_w, in_x, in_w) in &xs {
            tiles.push(Tile {
                in_x,
                in_y,
                in_w,
                in_h,
                core_x,
                core_y,
                core_w,
                core_h,
            });
        }
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::TopazArch;

    #[test]
    fn cores_partition_the_image_and_windows_are_aligned() {
        let model = TopazArch::UNet.config();
        let cfg = TileConfig {
            patch_size: 1000,
            padding: Some(200),
        };
        let (w, h) = (3710, 3838);
        let tiles = plan_tiles(w, h, &cfg, model, None);
        let mut covered = vec![0u8; w * h];
        for t in &tiles {
            assert_eq!(t.in_x % 32, 0);
            assert_eq!(t.in_y % 32, 0);
            assert!(t.core_x >= t.in_x && t.core_x + t.core_w <= t.in_x + t.in_w);
            // padding ≥ requested on every inner side
            if t.core_x > 0 {
                assert!(t.core_x - t.in_x >= 200);
            }
            for y in t.core_y..t.core_y + t.core_h {
                for x in t.core_x..t.core_x + t.core_w {
                    covered[y * w + x] += 1;
                }
            }
        }
        assert!(covered.iter().all(|&c| c == 1));
        assert_eq!(tiles.len(), 4 * 4);
    }

    #[test]
    fn auto_padding_is_receptive_radius_rounded_to_alignment() {
        let model = TopazArch::UNet.config();
        let tiles = plan_tiles(4096, 4096, &TileConfig::default(), model, None);
        assert_eq!(tiles.len(), 16);
        let inner = tiles.iter().find(|t| t.core_x > 0 && t.core_y > 0).unwrap();
        assert_eq!(inner.core_x - inner.in_x, 224);
    }

    #[test]
    fn buffer_limit_shrinks_tiles() {
        let model = TopazArch::UNet.config();
        let limit = 128 * 1024 * 1024 / 4; // lavapipe's 128 MiB binding
        let tiles = plan_tiles(2048, 2048, &TileConfig::default(), model, Some(limit));
        for t in &tiles {
            assert!((t.in_w * t.in_h * 144) as u64 <= limit, "{t:?}");
        }
    }

    #[test]
    fn small_image_is_one_tile() {
        let tiles = plan_tiles(
            959,
            927,
            &TileConfig::default(),
            TopazArch::UNet.config(),
            None,
        );
        assert_eq!(tiles.len(), 1);
        assert_eq!((tiles[0].in_w, tiles[0].in_h), (959, 927));
    }
}
