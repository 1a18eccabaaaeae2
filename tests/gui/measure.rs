//! Measurements on rendered frames: luminance of a screen rectangle, its standard deviation,
//! roughness (mean difference between horizontal neighbours) and the mean absolute difference
//! of two renders. The tests compare these, not exact pixels (software rendering and timing
//! text make pixel-exact snapshots flaky).

use egui::Rect;
use image::RgbaImage;

pub fn luminance(frame: &RgbaImage, rect: Rect) -> Vec<Vec<f32>> {
    let (x0, y0) = (rect.left().max(0.0) as u32, rect.top().max(0.0) as u32);
    let x1 = (rect.right() as u32).min(frame.width());
    let y1 = (rect.bottom() as u32).min(frame.height());
    (y0..y1)
        .map(|y| {
            (x0..x1)
                .map(|x| {
                    let p = frame.get_pixel(x, y).0;
                    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
                })
                .collect()
        })
        .collect()
}

pub fn std_of(l: &[Vec<f32>]) -> f32 {
    let v: Vec<f32> = l.iter().flatten().copied().collect();
    let n = v.len().max(1) as f32;
    let mean = v.iter().sum::<f32>() / n;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n).sqrt()
}

/// Mean absolute difference between horizontal neighbours: high for noise, low when smooth.
pub fn roughness(l: &[Vec<f32>]) -> f32 {
    let (mut s, mut n) = (0.0f64, 0u64);
    for row in l {
        for w in row.windows(2) {
            s += (w[1] - w[0]).abs() as f64;
            n += 1;
        }
    }
    (s / n.max(1) as f64) as f32
}

pub fn mean_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    let (mut s, mut n) = (0.0f64, 0u64);
    for (ra, rb) in a.iter().zip(b) {
        for (x, y) in ra.iter().zip(rb) {
            s += (x - y).abs() as f64;
            n += 1;
        }
    }
    (s / n.max(1) as f64) as f32
}
