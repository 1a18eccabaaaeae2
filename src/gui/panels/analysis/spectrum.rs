//! The analysis panel's 2D power spectrum tab, with the CTF's zero rings and its fields.

use eframe::egui;
use egui::{Color32, Rect, Stroke, Vec2};

use super::AnalysisPanel;

impl AnalysisPanel {
    /// The 2D spectrum with CTF rings and the CTF fields; true when “From file…” is pressed.
    pub(super) fn spectrum_ui(&mut self, ui: &mut egui::Ui, index: Option<usize>) -> bool {
        let mut import = false;
        ui.vertical(|ui| {
            ui.set_width(250.0);
            ui.checkbox(&mut self.show_ctf, "CTF zero rings");
            let c = &mut self.ctf;
            egui::Grid::new("ctf fields").num_columns(2).show(ui, |ui| {
                let row = |ui: &mut egui::Ui, name: &str, v: &mut f64, speed: f64, suffix: &str| {
                    ui.label(name);
                    ui.add(egui::DragValue::new(v).speed(speed).suffix(suffix));
                    ui.end_row();
                };
                row(ui, "Defocus U", &mut c.defocus_u_angstrom, 50.0, " Å");
                row(ui, "Defocus V", &mut c.defocus_v_angstrom, 50.0, " Å");
                row(ui, "Astig. angle", &mut c.defocus_angle_degrees, 1.0, "°");
                row(ui, "Voltage", &mut c.voltage_kv, 1.0, " kV");
                row(ui, "Cs", &mut c.spherical_aberration_mm, 0.01, " mm");
                row(ui, "Amp. contrast", &mut c.amplitude_contrast, 0.01, "");
                row(ui, "Phase shift", &mut c.phase_shift_degrees, 1.0, "°");
            });
            ui.add(egui::Slider::new(&mut self.ctf_rings, 1..=30).text("rings"));
            ui.add(egui::Slider::new(&mut self.spectrum_zoom, 1.0..=4.0).text("zoom"));
            if ui
                .button("From file…")
                .on_hover_text("Read this micrograph's CTF from a RELION micrographs_ctf.star or a CTFFIND4 output")
                .clicked()
            {
                import = true;
            }
            if let Err(e) = self.ctf.validate() {
                ui.colored_label(ui.visuals().error_fg_color, e.to_string());
            }
        });
        ui.separator();
        let Some((_, pixel, tex)) = self.spectrum.as_ref().filter(|(i, _, _)| Some(*i) == index)
        else {
            ui.spinner();
            ui.label("Computing the power spectrum…");
            return import;
        };
        let side = ui.available_height().min(ui.available_width()).max(64.0);
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(side), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        let zoom = self.spectrum_zoom.max(1.0);
        let (u0, u1) = (0.5 - 0.5 / zoom, 0.5 + 0.5 / zoom);
        painter.image(
            tex.id(),
            rect,
            Rect::from_min_max(egui::pos2(u0, u0), egui::pos2(u1, u1)),
            Color32::WHITE,
        );
        let Some(p) = pixel.map(f64::from) else {
            painter.text(
                rect.left_top() + Vec2::splat(6.0),
                egui::Align2::LEFT_TOP,
                "pixel size unknown: no CTF rings",
                egui::FontId::proportional(13.0),
                Color32::LIGHT_RED,
            );
            return import;
        };
        painter.text(
            rect.left_top() + Vec2::splat(6.0),
            egui::Align2::LEFT_TOP,
            format!("edge: {:.2} Å", 2.0 * p * f64::from(zoom)),
            egui::FontId::proportional(13.0),
            Color32::LIGHT_GRAY,
        );
        if self.show_ctf && self.ctf.validate().is_ok() {
            // Frequency f (1/Å) at angle θ lies f·p·side·zoom from the centre (Nyquist at
            // side·zoom/2).
            let centre = rect.center();
            let steps = 120;
            let zeros: Vec<Vec<f64>> = (0..=steps)
                .map(|i| {
                    let theta = i as f64 / steps as f64 * std::f64::consts::TAU;
                    self.ctf.zeros_along(theta, self.ctf_rings)
                })
                .collect();
            for k in 0..self.ctf_rings {
                let points: Vec<egui::Pos2> = zeros
                    .iter()
                    .enumerate()
                    .filter_map(|(i, z)| {
                        let f = *z.get(k)?;
                        let theta = i as f64 / steps as f64 * std::f64::consts::TAU;
                        let r = f * p * f64::from(side) * f64::from(zoom);
                        (r <= f64::from(side) * 0.75).then(|| {
                            centre + Vec2::new((r * theta.cos()) as f32, (r * theta.sin()) as f32)
                        })
                    })
                    .collect();
                if points.len() > 2 {
                    painter.add(egui::Shape::line(
                        points,
                        Stroke::new(1.0, Color32::from_rgba_unmultiplied(80, 220, 255, 170)),
                    ));
                }
            }
        }
        import
    }
}
