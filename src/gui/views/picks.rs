//! The picks drawn over the single view: the overlay planned by
//! [`crate::picking::overlay::plan_overlay`] (only what is inside the viewport), drawn as
//! circles or boxes one by one, or, when the picks are too many or too small on screen, as one
//! mesh of density cells with a note saying how many picks there are. The drawing is bounded
//! (at most [`MAX_MARKS`] marks or [`MAX_CELLS`] cells) whatever the number of picks.

use eframe::egui;
use egui::{Color32, Pos2, Rect, Vec2};

use crate::picking::PickSettings;
use crate::picking::overlay::{
    Density, MAX_CELLS, MAX_MARKS, Mark, Overlay, OverlayPlan, OverlayView, plan_overlay,
};

use crate::gui::marks_gpu::{GpuMark, paint_marks};
use crate::gui::panels::picking::PickTool;
use crate::gui::viewer::ViewTransform;

/// Colour of manual picks.
const MANUAL: Color32 = Color32::from_rgb(60, 230, 90);
/// Colour of imported autopicks.
const AUTO: Color32 = Color32::from_rgb(255, 200, 40);
/// Colour of the pick being dragged.
const DRAGGED: Color32 = Color32::from_rgb(255, 120, 255);
/// Width of a mark's outline, points.
const OUTLINE_PT: f32 = 1.5;
/// Radius of the dot at a mark's centre, points.
const DOT_PT: f32 = 1.5;

impl PickTool {
    /// Draws the open micrograph's picks (those kept at the threshold and on the section) over
    /// the viewer; returns what was drawn (`None` when picks are hidden).
    pub fn draw(
        &self,
        painter: &egui::Painter,
        viewport: Rect,
        transform: &ViewTransform,
        radius_px: f64,
    ) -> Option<OverlayPlan> {
        if !self.show_picks {
            return None;
        }
        let settings = &self.session.settings;
        let zoom = transform.zoom;
        let radius = radius_px as f32 * zoom;
        let half_box = 0.5 * settings.box_size_px as f32 * zoom;
        let origin = transform.to_screen(viewport, Vec2::ZERO);
        let view = OverlayView {
            viewport: [
                viewport.min.x,
                viewport.min.y,
                viewport.max.x,
                viewport.max.y,
            ],
            origin: (origin.x, origin.y),
            zoom,
            mark_radius: if settings.circles { radius } else { half_box },
            threshold: settings.autopick_threshold,
            section: self.section,
        };
        let plan = plan_overlay(self.session.picks(self.session.current), &view);
        match &plan.overlay {
            Overlay::Marks(marks) => {
                draw_marks(
                    painter,
                    viewport,
                    marks,
                    settings,
                    (radius.max(3.0), half_box.max(3.0)),
                    self.dragging(),
                );
            }
            Overlay::Density(d) => {
                draw_density(painter, d);
                let text = format!("{} picks, zoom in to see circles", plan.visible);
                let pos = viewport.left_top() + Vec2::splat(8.0);
                let font = egui::FontId::proportional(13.0);
                let galley = painter.layout_no_wrap(text, font, Color32::WHITE);
                let back = Rect::from_min_size(pos, galley.size()).expand(4.0);
                painter.rect_filled(back, 3.0, Color32::from_black_alpha(170));
                painter.galley(pos, galley, Color32::WHITE);
            }
        }
        Some(plan)
    }
}

/// At most [`MAX_MARKS`] circles (radius `r`, points) or boxes (half side `half_box`), each
/// with a dot at its centre, drawn on the GPU in one call ([`marks_gpu`]).
fn draw_marks(
    painter: &egui::Painter,
    viewport: Rect,
    marks: &[Mark],
    settings: &PickSettings,
    (r, half_box): (f32, f32),
    dragging: Option<usize>,
) {
    debug_assert!(marks.len() <= MAX_MARKS);
    let size = if settings.circles { r } else { half_box };
    let gpu_marks = marks
        .iter()
        .map(|m| {
            let colour = if Some(m.index) == dragging {
                DRAGGED
            } else if m.auto {
                AUTO
            } else {
                MANUAL
            };
            let c = Pos2::new(m.pos.0, m.pos.1);
            GpuMark::new(viewport, c, size, !settings.circles, colour)
        })
        .collect();
    paint_marks(painter, viewport, 0, gpu_marks, OUTLINE_PT, DOT_PT);
}

/// The density cells (at most [`MAX_CELLS`]) as one mesh of squares: green where most picks
/// are manual, amber where most are autopicks, more opaque where there are more.
fn draw_density(painter: &egui::Painter, d: &Density) {
    debug_assert!(d.cells.len() <= MAX_CELLS);
    let most = d.cells.iter().map(|c| c.2).max().unwrap_or(1).max(1);
    let scale = 1.0 / (1.0 + most as f32).ln();
    let mut mesh = egui::Mesh::default();
    let side = (d.cell - 1.0).max(1.0);
    for &(col, row, count, manual) in &d.cells {
        let min = Pos2::new(
            d.origin.0 + col as f32 * d.cell,
            d.origin.1 + row as f32 * d.cell,
        );
        let base = if 2 * manual >= count { MANUAL } else { AUTO };
        let alpha = 0.35 + 0.65 * ((1.0 + count as f32).ln() * scale).min(1.0);
        mesh.add_colored_rect(
            Rect::from_min_size(min, Vec2::splat(side)),
            base.gamma_multiply(alpha),
        );
    }
    painter.add(egui::Shape::mesh(mesh));
}
