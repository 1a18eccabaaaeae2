//! One cell of the gallery's grid (the thumbnail framed by its decision, its name and metric)
//! and the decoding of thumbnail PNGs.

use eframe::egui;

use crate::screen::ScreenRow;

/// Side of a grid cell's image, points.
pub const CELL: f32 = 176.0;

/// One grid cell: the thumbnail framed by its decision (green accepted by hand, red
/// rejected, grey undecided; blue outline when selected), its name and metric.
pub(super) fn cell(
    ui: &mut egui::Ui,
    row: &ScreenRow,
    texture: Option<&egui::TextureHandle>,
    selected: bool,
    metric: Option<&'static str>,
) -> egui::Response {
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(CELL + 4.0, CELL + 40.0), egui::Sense::click());
    let painter = ui.painter_at(rect);
    let image_rect =
        egui::Rect::from_min_size(rect.min + egui::vec2(2.0, 2.0), egui::vec2(CELL, CELL));
    match (texture, &row.error) {
        (_, Some(e)) => {
            painter.rect_filled(image_rect, 2.0, egui::Color32::from_rgb(60, 20, 20));
            painter.text(
                image_rect.center(),
                egui::Align2::CENTER_CENTER,
                short(e, 28),
                egui::FontId::proportional(11.0),
                egui::Color32::LIGHT_RED,
            );
        }
        (Some(t), None) => {
            let [w, h] = t.size();
            let scale = CELL / w.max(h) as f32;
            let size = egui::vec2(w as f32 * scale, h as f32 * scale);
            let r = egui::Rect::from_center_size(image_rect.center(), size);
            painter.image(
                t.id(),
                r,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                egui::Color32::WHITE,
            );
        }
        (None, None) => {
            painter.rect_filled(image_rect, 2.0, egui::Color32::from_gray(40));
        }
    }
    let frame = match row.decision.as_deref() {
        Some("reject") => egui::Color32::from_rgb(220, 50, 50),
        Some("accept") => egui::Color32::from_rgb(60, 190, 90),
        _ => egui::Color32::from_gray(90),
    };
    painter.rect_stroke(
        image_rect,
        2.0,
        egui::Stroke::new(3.0, frame),
        egui::StrokeKind::Outside,
    );
    if selected {
        painter.rect_stroke(
            rect,
            3.0,
            egui::Stroke::new(2.0, egui::Color32::from_rgb(80, 160, 255)),
            egui::StrokeKind::Inside,
        );
    }
    let name = crate::io::file_name_in(&row.micrograph);
    let value = metric.map_or_else(
        || {
            row.snr_denoised_db
                .or(row.snr_raw_db)
                .map_or(String::new(), |v| format!("SNR {v:.1} dB"))
        },
        |m| {
            crate::screen::curate::metric(row, m)
                .map_or_else(|| format!("{m}: –"), |v| format!("{m}: {v:.2}"))
        },
    );
    let text = ui.visuals().text_color();
    painter.text(
        egui::pos2(rect.left() + 2.0, image_rect.bottom() + 4.0),
        egui::Align2::LEFT_TOP,
        short(name, 30),
        egui::FontId::proportional(11.0),
        text,
    );
    painter.text(
        egui::pos2(rect.left() + 2.0, image_rect.bottom() + 20.0),
        egui::Align2::LEFT_TOP,
        short(&value, 30),
        egui::FontId::proportional(11.0),
        text,
    );
    response
}

/// `s` cut to `n` characters with an ellipsis.
pub(super) fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Decodes a thumbnail PNG shrunk to fit `side` pixels; `None` when it cannot be read.
pub(super) fn decode(path: &std::path::Path, side: u32) -> Option<egui::ColorImage> {
    let img = image::open(path).ok()?.into_luma8();
    let longest = img.width().max(img.height());
    let small = if longest > side {
        let fit = |n: u32| ((u64::from(n) * u64::from(side) / u64::from(longest)) as u32).max(1);
        image::imageops::thumbnail(&img, fit(img.width()), fit(img.height()))
    } else {
        img
    };
    let (w, h) = (small.width() as usize, small.height() as usize);
    let pixels = small
        .pixels()
        .map(|p| egui::Color32::from_gray(p.0[0]))
        .collect();
    Some(egui::ColorImage::new([w, h], pixels))
}
