//! The analysis panel's region SNR tab: boxes labelled on the micrograph (signal, background)
//! and each view's region SNR (cached by image and labelling, not computed every frame).

use eframe::egui;
use egui::{Color32, Rect, Stroke, Vec2};

use crate::metrics::Region;

use super::AnalysisPanel;
use crate::gui::state::ViewImage;
use crate::gui::viewer::ViewTransform;

impl AnalysisPanel {
    pub(super) fn regions_ui(&mut self, ui: &mut egui::Ui, views: [Option<&ViewImage>; 4]) {
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                ui.checkbox(&mut self.labelling, "Label regions")
                    .on_hover_text("While on, a click on the micrograph places a signal box, a right click a background box (R)");
                ui.add(
                    egui::DragValue::new(&mut self.region_side_px)
                        .range(4..=1024)
                        .prefix("box ")
                        .suffix(" px"),
                );
                if ui.button("Clear regions").clicked() {
                    self.regions.clear();
                }
            });
            let pairs = self.regions.pairs();
            ui.label(format!(
                "{} signal, {} background boxes: {} pairs (paired in labelling order)",
                self.regions.signal().len(),
                self.regions.background().len(),
                pairs.len()
            ));
            if pairs.is_empty() {
                return;
            }
            egui::Grid::new("region snr").striped(true).show(ui, |ui| {
                ui.strong("view");
                ui.strong("Topaz SNR (dB)");
                ui.strong("NT2C SNR (dB)");
                ui.end_row();
                for (name, view) in ["raw", "denoised", "low-pass", "merged"].iter().zip(views) {
                    let Some(img) = view else { continue };
                    ui.label(*name);
                    let snr = self.region_snr.get(img, &self.regions);
                    for r in [&snr.topaz_db, &snr.nt2c_db] {
                        ui.label(match r {
                            Ok(db) => format!("{db:.2}"),
                            Err(e) => e.clone(),
                        });
                    }
                    ui.end_row();
                }
            });
        });
    }

    /// Adds a region at a clicked micrograph pixel: signal (primary) or background.
    pub fn label_at(&mut self, x: f64, y: f64, background: bool, size: (usize, usize)) {
        let side = self.region_side_px.min(size.0).min(size.1).max(1);
        let clamp = |c: f64, n: usize| {
            ((c - side as f64 / 2.0).round().max(0.0) as usize).min(n.saturating_sub(side))
        };
        let r = Region {
            x: clamp(x, size.0),
            y: clamp(y, size.1),
            width: side,
            height: side,
        };
        self.regions.push(r, background);
    }

    /// Draws the labelled regions over the viewer.
    pub fn draw_regions(&self, painter: &egui::Painter, viewport: Rect, transform: &ViewTransform) {
        let draw = |r: &Region, colour: Color32, label: String| {
            let min = transform.to_screen(viewport, Vec2::new(r.x as f32, r.y as f32));
            let max = transform.to_screen(
                viewport,
                Vec2::new((r.x + r.width) as f32, (r.y + r.height) as f32),
            );
            painter.rect_stroke(
                Rect::from_min_max(min, max),
                0.0,
                Stroke::new(1.5, colour),
                egui::StrokeKind::Middle,
            );
            painter.text(
                min,
                egui::Align2::LEFT_BOTTOM,
                label,
                egui::FontId::proportional(12.0),
                colour,
            );
        };
        for (i, r) in self.regions.signal().iter().enumerate() {
            draw(r, Color32::from_rgb(80, 220, 120), format!("S{}", i + 1));
        }
        for (i, r) in self.regions.background().iter().enumerate() {
            draw(r, Color32::from_rgb(255, 90, 90), format!("B{}", i + 1));
        }
    }
}
