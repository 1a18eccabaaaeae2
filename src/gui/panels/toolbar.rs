//! The toolbar: open, the views, fit and zoom, help.

use eframe::egui;

use crate::gui::app::CryolensApp;
use crate::gui::state::View;

impl CryolensApp {
    pub(in crate::gui) fn toolbar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui
                .button("Open…")
                .on_hover_text("Open a micrograph (O, Ctrl+O)")
                .clicked()
            {
                self.open_dialog();
            }
            ui.separator();
            for (i, view) in View::ALL.into_iter().enumerate() {
                let ready = self.has_view(view);
                let r = ui
                    .selectable_label(self.view == view, view.name())
                    .on_hover_text(format!(
                        "Key {}{}",
                        i + 1,
                        if ready { "" } else { " (not computed yet)" }
                    ));
                if r.clicked() {
                    self.set_view(view);
                }
            }
            ui.separator();
            if ui
                .button("Fit")
                .on_hover_text("Fit the micrograph to the window (F)")
                .clicked()
            {
                self.transform.fit = true;
            }
            if ui.button("Zoom in").on_hover_text("+").clicked() {
                self.zoom_step(1.25);
            }
            if ui.button("Zoom out").on_hover_text("−").clicked() {
                self.zoom_step(0.8);
            }
            ui.label(format!("{:.0} %", self.transform.zoom * 100.0));
            ui.separator();
            if ui.button("?").on_hover_text("Keyboard shortcuts").clicked() {
                self.show_help = !self.show_help;
            }
            if let Some(doc) = &self.doc {
                ui.separator();
                ui.label(&doc.name);
            }
        });
    }
}
