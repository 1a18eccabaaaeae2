//! The micrograph list of a picking session: each micrograph's thumbnail, name and pick count;
//! a click (or N / P) moves to another micrograph.

use eframe::egui;

use crate::image::Image;
use crate::picking::PickSession;

/// Thumbnail side in pixels (the longer side).
pub const THUMBNAIL_SIDE: usize = 64;

/// A small 8-bit rendering of `image`: box-averaged down to at most `side` pixels on the
/// longer side, contrast ±3σ around the mean (the longer side is `side`, the shorter scaled
/// to keep the aspect ratio).
pub fn thumbnail(image: &Image, side: usize) -> egui::ColorImage {
    let (w, h) = (image.width.max(1), image.height.max(1));
    let scale = (w.max(h) as f64 / side.max(1) as f64).max(1.0);
    let tw = ((w as f64 / scale).round() as usize).max(1);
    let th = ((h as f64 / scale).round() as usize).max(1);
    let mut sums = vec![0.0f64; tw * th];
    let mut counts = vec![0u32; tw * th];
    for y in 0..image.height {
        let ty = ((y as f64 / scale) as usize).min(th - 1);
        for x in 0..image.width {
            let tx = ((x as f64 / scale) as usize).min(tw - 1);
            let v = f64::from(image.data[y * image.width + x]);
            if v.is_finite() {
                sums[ty * tw + tx] += v;
                counts[ty * tw + tx] += 1;
            }
        }
    }
    let means: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &c)| if c > 0 { s / f64::from(c) } else { 0.0 })
        .collect();
    let n = means.len() as f64;
    let mean = means.iter().sum::<f64>() / n;
    let sd = (means.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-12);
    let pixels = means
        .iter()
        .map(|v| {
            let t = ((v - mean) / (6.0 * sd) + 0.5).clamp(0.0, 1.0);
            let g = (t * 255.0).round() as u8;
            egui::Color32::from_gray(g)
        })
        .collect();
    egui::ColorImage::new([tw, th], pixels)
}

/// Draws the list; returns the micrograph the user chose, if any. `thumbnails[i]` is the
/// texture of micrograph `i` once made; `scroll_to_current` brings the current micrograph
/// into view (after N / P).
pub fn show(
    ui: &mut egui::Ui,
    session: &PickSession,
    thumbnails: &std::collections::HashMap<usize, egui::TextureHandle>,
    scroll_to_current: bool,
) -> Option<usize> {
    let mut chosen = None;
    let n = session.micrographs.len();
    ui.horizontal(|ui| {
        ui.heading("Micrographs");
        ui.label(format!("{} / {n}", session.current + 1));
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(session.current > 0, egui::Button::new("< Previous"))
            .on_hover_text("P, Page Up")
            .clicked()
        {
            chosen = Some(session.current - 1);
        }
        if ui
            .add_enabled(session.current + 1 < n, egui::Button::new("Next >"))
            .on_hover_text("N, Page Down")
            .clicked()
        {
            chosen = Some(session.current + 1);
        }
    });
    ui.separator();
    let row_height = THUMBNAIL_SIDE as f32 + 6.0;
    let mut area = egui::ScrollArea::vertical().auto_shrink([false, false]);
    if scroll_to_current {
        let spacing = ui.spacing().item_spacing.y;
        let top = session.current as f32 * (row_height + spacing);
        area = area.vertical_scroll_offset((top - 2.0 * row_height).max(0.0));
    }
    area.show_rows(ui, row_height, n, |ui, range| {
        for i in range {
            let m = &session.micrographs[i];
            let selected = i == session.current;
            let response = ui
                .horizontal(|ui| {
                    ui.set_min_height(row_height - 4.0);
                    match thumbnails.get(&i) {
                        Some(t) => {
                            let size = t.size_vec2();
                            let s = THUMBNAIL_SIDE as f32 / size.x.max(size.y);
                            ui.add(egui::Image::new((t.id(), size * s)));
                        }
                        None => {
                            ui.add_sized(
                                [THUMBNAIL_SIDE as f32, THUMBNAIL_SIDE as f32],
                                egui::Spinner::new(),
                            );
                        }
                    }
                    ui.vertical(|ui| {
                        let label = ui.selectable_label(selected, m.name());
                        ui.label(
                            egui::RichText::new(format!("{} picks", session.kept_count(i))).weak(),
                        );
                        label
                    })
                    .inner
                })
                .inner;
            if response.clicked() && !selected {
                chosen = Some(i);
            }
        }
    });
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnail_keeps_aspect_and_contrast() {
        let (w, h) = (300, 150);
        let data: Vec<f32> = (0..w * h).map(|i| (i % w) as f32).collect();
        let img = Image::new(w, h, data).unwrap();
        let t = thumbnail(&img, 64);
        assert_eq!(t.size, [64, 32]);
        // A horizontal ramp: dark on the left, bright on the right, increasing (±3σ window).
        let row: Vec<u8> = t.pixels[..64].iter().map(|p| p.r()).collect();
        assert!(row[0] < 70 && row[63] > 185, "{row:?}");
        assert!(row.windows(2).all(|w| w[0] <= w[1]), "{row:?}");
    }
}
