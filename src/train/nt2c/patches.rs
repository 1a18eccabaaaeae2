//! Noise-Transfer2Clean's patch-similarity guided noise-patch extraction (Li et al. 2022,
//! §2.2.2): the background of a micrograph, found on its coarse-denoised copy I' and cut from
//! the raw micrograph I.
//!
//! I' is scaled to [0, 1] (its min and max), tiled into d × d patches with step s; each patch
//! is split into N = g × g local patches, and it is background when the SSIM of every pair of
//! its local patches (eq. 3, one window over the whole local patch, c₁ = (0.01 L)²,
//! c₂ = (0.03 L)², L = 1) exceeds the threshold. The paper's defaults: d = 320, s = d/2,
//! N = 4, threshold 0.7.

use anyhow::{Result, bail};

use crate::image::Image;
use crate::metrics::truth::ssim_global;

/// The extraction's parameters (§2.2.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PatchSettings {
    /// Patch side d, pixels (320).
    pub patch_px: usize,
    /// Step s between patches, pixels (d / 2).
    pub step_px: usize,
    /// Local patches per side g, so N = g² local patches (2, N = 4).
    pub local_grid: usize,
    /// SSIM every pair of local patches must exceed (0.7).
    pub threshold: f64,
}

impl Default for PatchSettings {
    fn default() -> Self {
        Self {
            patch_px: 320,
            step_px: 160,
            local_grid: 2,
            threshold: 0.7,
        }
    }
}

/// A background patch: its top-left corner (x = column, y = row, pixels) and the smallest
/// SSIM among its pairs of local patches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackgroundPatch {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// The smallest local-pair SSIM (above the threshold).
    pub min_ssim: f64,
}

/// Every patch position of a `width` × `height` image (corners, row by row).
fn positions(width: usize, height: usize, s: &PatchSettings) -> Vec<(usize, usize)> {
    let along = |n: usize| (0..=n - s.patch_px).step_by(s.step_px).collect::<Vec<_>>();
    let (xs, ys) = (along(width), along(height));
    ys.iter()
        .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
        .collect()
}

/// The background patches of `enhanced` (the coarse-denoised micrograph I'), in position
/// order (rows, then columns).
///
/// # Errors
/// Settings that make no patch (a zero size, step or grid, a patch larger than the image or
/// not divisible by the grid, a threshold outside (−1, 1)); a constant or non-finite image.
pub fn find_background_patches(
    enhanced: &Image,
    settings: &PatchSettings,
) -> Result<Vec<BackgroundPatch>> {
    let s = settings;
    if s.patch_px == 0 || s.step_px == 0 || s.local_grid == 0 {
        bail!("patch size, step and local grid must be positive (got {s:?})");
    }
    if s.local_grid < 2 || !s.patch_px.is_multiple_of(s.local_grid) {
        bail!(
            "a {} px patch cannot be split into {}×{} local patches (the grid must be 2 or more and divide the patch size)",
            s.patch_px,
            s.local_grid,
            s.local_grid
        );
    }
    if !(s.threshold > -1.0 && s.threshold < 1.0) {
        bail!(
            "the SSIM threshold must lie in (−1, 1) (got {})",
            s.threshold
        );
    }
    if s.patch_px > enhanced.width || s.patch_px > enhanced.height {
        bail!(
            "{} px patches do not fit in a {}×{} micrograph (give a smaller patch size)",
            s.patch_px,
            enhanced.width,
            enhanced.height
        );
    }
    enhanced.check_finite()?;
    let st = enhanced.stats();
    let (lo, range) = (st.min, st.max - st.min);
    if range <= 0.0 || range.is_nan() {
        bail!("the denoised micrograph is constant: no patch can be told from another");
    }
    let local = s.patch_px / s.local_grid;
    let mut found = Vec::new();
    for (x, y) in positions(enhanced.width, enhanced.height, s) {
        // The local patches, scaled to [0, 1] with the micrograph's min and max.
        let locals: Vec<Vec<f32>> = (0..s.local_grid * s.local_grid)
            .map(|k| {
                let (lx, ly) = (
                    x + (k % s.local_grid) * local,
                    y + (k / s.local_grid) * local,
                );
                (ly..ly + local)
                    .flat_map(|row| {
                        let start = row * enhanced.width + lx;
                        enhanced.data[start..start + local]
                            .iter()
                            .map(|&v| (v - lo) / range)
                    })
                    .collect()
            })
            .collect();
        let mut min_ssim = f64::INFINITY;
        for a in 0..locals.len() {
            for b in a + 1..locals.len() {
                min_ssim = min_ssim.min(ssim_global(&locals[a], &locals[b], 1.0));
            }
        }
        if min_ssim > s.threshold {
            found.push(BackgroundPatch { x, y, min_ssim });
        }
    }
    Ok(found)
}

/// The patches at `found` cut from `raw` (the original micrograph I), each `patch_px`².
///
/// # Errors
/// A patch that leaves `raw` (a micrograph of another shape than the denoised one).
pub fn cut_patches(raw: &Image, found: &[BackgroundPatch], patch_px: usize) -> Result<Vec<Image>> {
    found
        .iter()
        .map(|p| {
            if p.x + patch_px > raw.width || p.y + patch_px > raw.height {
                bail!(
                    "patch at ({}, {}) leaves the {}×{} micrograph (is it the one that was denoised?)",
                    p.x,
                    p.y,
                    raw.width,
                    raw.height
                );
            }
            Ok(raw.crop(p.x, p.y, patch_px, patch_px))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A 640 × 480 "denoised micrograph": a smooth, faint background (the ice after coarse
    /// denoising) with two dark particles of radius 40 px at known places.
    fn field() -> (Image, [(f64, f64); 2]) {
        let (w, h) = (640usize, 480usize);
        let particles = [(100.0, 100.0), (420.0, 300.0)];
        let mut rng = Rng::new(3);
        let data = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let mut v = 1.0 + 0.01 * (x / 50.0).sin() + 0.002 * rng.normal();
                for (px, py) in particles {
                    let r2 = (x - px).powi(2) + (y - py).powi(2);
                    v -= 0.5 * (-r2 / (2.0 * 20.0 * 20.0)).exp();
                }
                v as f32
            })
            .collect();
        (Image::new(w, h, data).unwrap(), particles)
    }

    #[test]
    fn patches_with_particles_are_not_background() {
        let (im, particles) = field();
        let s = PatchSettings {
            patch_px: 160,
            step_px: 80,
            ..PatchSettings::default()
        };
        let found = find_background_patches(&im, &s).unwrap();
        let all = positions(im.width, im.height, &s);
        assert_eq!(all.len(), 7 * 5);
        // Distance from a patch to the nearest particle centre (0 when one is inside).
        let distance = |x: usize, y: usize| {
            particles
                .iter()
                .map(|&(px, py)| {
                    let (cx, cy) = (
                        px.clamp(x as f64, (x + 160) as f64),
                        py.clamp(y as f64, (y + 160) as f64),
                    );
                    (cx - px).hypot(cy - py)
                })
                .fold(f64::INFINITY, f64::min)
        };
        let mut clear = 0;
        for (x, y) in all {
            let is_bg = found.iter().any(|p| (p.x, p.y) == (x, y));
            let d = distance(x, y);
            // A particle inside: never background; 4σ or more away: always.
            if d == 0.0 {
                assert!(!is_bg, "patch at ({x}, {y}) holds a particle");
            }
            if d >= 80.0 {
                assert!(is_bg, "patch at ({x}, {y}) is {d:.0} px from any particle");
                clear += 1;
            }
        }
        assert!(clear >= 10, "{clear}");
        assert!(found.iter().all(|p| p.min_ssim > 0.7));
        let cut = cut_patches(&im, &found, 160).unwrap();
        assert_eq!(cut.len(), found.len());
        assert_eq!(cut[0].get(3, 5), im.get(found[0].x + 3, found[0].y + 5));
    }

    #[test]
    fn bad_settings_and_images_are_refused() {
        let (im, _) = field();
        let bad = |s: PatchSettings| find_background_patches(&im, &s).unwrap_err().to_string();
        assert!(
            bad(PatchSettings {
                patch_px: 1000,
                ..Default::default()
            })
            .contains("do not fit")
        );
        assert!(
            bad(PatchSettings {
                patch_px: 161,
                step_px: 80,
                ..Default::default()
            })
            .contains("cannot be split")
        );
        assert!(
            bad(PatchSettings {
                threshold: 1.5,
                ..Default::default()
            })
            .contains("(−1, 1)")
        );
        let flat = Image::new(400, 400, vec![2.0; 160_000]).unwrap();
        let e = find_background_patches(&flat, &PatchSettings::default()).unwrap_err();
        assert!(e.to_string().contains("constant"), "{e}");
        let found = [BackgroundPatch {
            x: 600,
            y: 0,
            min_ssim: 0.9,
        }];
        assert!(cut_patches(&im, &found, 160).is_err());
    }
}
