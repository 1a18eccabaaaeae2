//! The analysis panel's region SNR tab: boxes labelled on the micrograph (signal, background)
//! and each view's region SNR (cached by image and labelling, not computed every frame). The
//! boxes are drawn over the micrograph by `gui::views::single`.

use eframe::egui;

use super::AnalysisPanel;
use crate::gui::state::ViewImage;

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
    /// Boxes are [`AnalysisPanel::region_side_px`] a side, inside a micrograph of `size`.
    pub fn label_at(&mut self, x: f64, y: f64, background: bool, size: (usize, usize)) {
        self.regions
            .label_at(x, y, self.region_side_px, background, size);
    }
}
