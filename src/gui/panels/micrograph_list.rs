//! The micrograph list of a picking session: each micrograph's thumbnail, name and pick count;
//! a click (or N / P) moves to another micrograph. Only the visible rows are laid out
//! (`ScrollArea::show_rows`), and the app makes thumbnails for those rows only, keeping at most
//! [`MAX_THUMBNAILS`] (see [`thumbnails_to_drop`]), so a session of thousands of micrographs
//! costs what one screenful does.

use eframe::egui;

use crate::image::Image;
use crate::picking::PickSession;

/// Thumbnail side in pixels (the longer side).
pub const THUMBNAIL_SIDE: usize = 64;

/// Most thumbnails kept as textures (64² RGBA: 16 KiB each); the farthest from the visible
/// rows are dropped first.
pub const MAX_THUMBNAILS: usize = 512;

/// Rows beyond the visible ones (above and below) whose thumbnails are made ahead.
pub const THUMBNAIL_MARGIN: usize = 8;

/// The thumbnails to drop when more than `max` are kept: the farthest from the `visible`
/// rows, until `max` remain.
pub fn thumbnails_to_drop(
    kept: impl Iterator<Item = usize>,
    visible: &std::ops::Range<usize>,
    max: usize,
) -> Vec<usize> {
    let mut kept: Vec<usize> = kept.collect();
    if kept.len() <= max {
        return Vec::new();
    }
    let distance = |i: usize| {
        if i < visible.start {
            visible.start - i
        } else {
            i.saturating_sub(visible.end.saturating_sub(1))
        }
    };
    kept.sort_by_key(|&i| std::cmp::Reverse(distance(i)));
    kept.truncate(kept.len() - max);
    kept
}

/// The next micrograph whose thumbnail is wanted: in the `visible` rows first, then within
/// [`THUMBNAIL_MARGIN`] rows of them; `has(i)` says whether it is made, failed or shown.
pub fn next_thumbnail(
    visible: &std::ops::Range<usize>,
    len: usize,
    has: impl Fn(usize) -> bool,
) -> Option<usize> {
    let start = visible.start.saturating_sub(THUMBNAIL_MARGIN);
    let end = (visible.end + THUMBNAIL_MARGIN).min(len);
    visible
        .clone()
        .chain(start..visible.start.min(len))
        .chain(visible.end.min(len)..end)
        .find(|&i| i < len && !has(i))
}

/// What the list reports each frame.
pub struct ListOutput {
    /// The micrograph the user chose, if any.
    pub chosen: Option<usize>,
    /// The rows laid out (visible).
    pub visible: std::ops::Range<usize>,
}

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

/// Draws the list; returns the micrograph the user chose, if any, and the rows shown.
/// `thumbnails[i]` is the texture of micrograph `i` once made; `scroll_to_current` brings the
/// current micrograph into view (after N / P).
pub fn show(
    ui: &mut egui::Ui,
    session: &PickSession,
    thumbnails: &std::collections::HashMap<usize, egui::TextureHandle>,
    scroll_to_current: bool,
) -> ListOutput {
    let mut chosen = None;
    let mut visible = 0..0;
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
        visible = range.clone();
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
    ListOutput { chosen, visible }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbnails_follow_the_visible_rows_and_stay_bounded() {
        // Rows 100..110 visible of 5,000: those first, then the margins, nothing far away.
        let visible = 100..110;
        assert_eq!(next_thumbnail(&visible, 5000, |_| false), Some(100));
        assert_eq!(
            next_thumbnail(&visible, 5000, |i| (100..110).contains(&i)),
            Some(92)
        );
        assert_eq!(
            next_thumbnail(&visible, 5000, |i| (92..118).contains(&i)),
            None
        );
        assert_eq!(next_thumbnail(&(0..3), 3, |i| i != 2), Some(2));
        // 600 kept, 512 allowed: the 88 farthest from 100..110 go (the rows after 522).
        let mut drop = thumbnails_to_drop(0..600, &visible, MAX_THUMBNAILS);
        drop.sort_unstable();
        assert_eq!(drop, (512..600).collect::<Vec<_>>());
        assert!(thumbnails_to_drop(0..10, &visible, MAX_THUMBNAILS).is_empty());
    }

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
