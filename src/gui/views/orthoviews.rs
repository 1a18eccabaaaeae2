//! The XZ and YZ orthoviews of a volume under the XY view, through the shared cursor.

use eframe::egui;
use egui::{Rect, Vec2};

use crate::gui::state::OrthoKey;

/// The orthoviews drawn: what they show and their textures, and where they were drawn in the
/// last frame.
#[derive(Default)]
pub struct Orthoviews {
    /// The XZ and YZ textures and what they show.
    pub shown: Option<(OrthoKey, [egui::TextureHandle; 2])>,
    /// Where the XZ and YZ views were drawn in the last frame (screen points).
    pub rects: Vec<Rect>,
}

impl Orthoviews {
    /// Draws the XZ and YZ orthoviews under the XY view, with the section and cursor marked,
    /// for a volume of `shape` (width, height, depth; `None`: no volume open).
    pub fn show(&mut self, ui: &mut egui::Ui, shape: Option<(usize, usize, usize)>) {
        let Some((key, [xz, yz])) = &self.shown else {
            ui.spinner();
            return;
        };
        let OrthoKey { x, y, z, shows, .. } = *key;
        let Some((w, h, d)) = shape else {
            return;
        };
        let (w, h, d) = (w as f32, h as f32, d as f32);
        let shows = shows.name().to_lowercase();
        let height = ui.available_height().max(180.0);
        let mut rects = Vec::new();
        ui.horizontal(|ui| {
            for (tex, label, across, cursor) in [
                (xz, format!("XZ at y = {y} ({shows})"), w, x as f32),
                (yz, format!("YZ at x = {x} ({shows})"), h, y as f32),
            ] {
                // XZ: columns x, rows z; YZ stored as columns z, rows y: shown transposed so
                // that both have the section axis vertical.
                let scale = (height / d).min(ui.available_width() / 2.0 / across);
                let size = Vec2::new(across * scale, d * scale);
                let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
                rects.push(rect);
                let painter = ui.painter_at(rect);
                if label.starts_with("XZ") {
                    painter.image(
                        tex.id(),
                        rect,
                        Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                        egui::Color32::WHITE,
                    );
                } else {
                    // Transpose by drawing a mesh with swapped UVs.
                    let mut mesh = egui::Mesh::with_texture(tex.id());
                    let c = egui::Color32::WHITE;
                    let idx = mesh.vertices.len() as u32;
                    let corners = [
                        (rect.left_top(), (0.0, 0.0)),
                        (rect.right_top(), (0.0, 1.0)),
                        (rect.right_bottom(), (1.0, 1.0)),
                        (rect.left_bottom(), (1.0, 0.0)),
                    ];
                    for (pos, (u, v)) in corners {
                        mesh.vertices.push(egui::epaint::Vertex {
                            pos,
                            uv: egui::pos2(u, v),
                            color: c,
                        });
                    }
                    mesh.indices
                        .extend([idx, idx + 1, idx + 2, idx, idx + 2, idx + 3]);
                    painter.add(egui::Shape::mesh(mesh));
                }
                let line = egui::Stroke::new(1.0, egui::Color32::from_rgb(255, 200, 40));
                let zy = rect.top() + (z as f32 + 0.5) * scale;
                painter.hline(rect.x_range(), zy, line);
                let cx = rect.left() + (cursor + 0.5) * scale;
                painter.vline(
                    cx,
                    rect.y_range(),
                    egui::Stroke::new(1.0, egui::Color32::from_rgb(80, 200, 255)),
                );
                painter.text(
                    rect.left_top() + Vec2::splat(3.0),
                    egui::Align2::LEFT_TOP,
                    label,
                    egui::FontId::proportional(12.0),
                    egui::Color32::LIGHT_GRAY,
                );
            }
        });
        self.rects = rects;
    }
}
