//! The central area showing one view: the viewer with picks or region labels, or a
//! placeholder saying what is being computed.
//!
//! [`show`] draws from a read-only [`SingleViewCtx`] and changes only what it is handed
//! mutably (the shared pan and zoom, the picking tool, the labelled regions); what the app
//! takes from the frame (hover, viewer rectangle, a models action) comes back as a
//! [`SingleViewOutput`], applied in `gui/commands/`.

use std::sync::Arc;

use eframe::egui;
use egui::{Color32, Rect, Stroke, Vec2};

use crate::jobs::Progress;
use crate::metrics::Region;
use crate::paths::topaz_dir;

use crate::gui::panels::contrast::{ColourMap, Contrast};
use crate::gui::panels::models::{self, ModelsAction, ModelsState};
use crate::gui::panels::picking::{PickTool, screen_to_pick};
use crate::gui::state::regions::RegionLabels;
use crate::gui::state::{Document, MergeKey, View, ViewImage, ViewSettings};
use crate::gui::viewer::{self, ViewTransform};

/// What the single view draws from (read-only).
pub struct SingleViewCtx<'a> {
    /// The view shown.
    pub view: View,
    /// Its image, once computed for the selected model and the current sliders.
    pub image: Option<&'a Arc<ViewImage>>,
    /// The open micrograph and its views (`None` while none is open).
    pub doc: Option<&'a Document>,
    /// The view's contrast window.
    pub contrast: Contrast,
    /// The colour map.
    pub colour_map: ColourMap,
    /// Whether the viewer's GPU resources exist.
    pub gpu_ready: bool,
    /// The particle radius in pixels of the open micrograph.
    pub pick_radius_px: f64,
    /// The viewer's rectangle in the last frame (a press on a pick there starts a drag).
    pub last_viewer_rect: Option<Rect>,
    /// Clicks label regions for region SNR instead of picking.
    pub labelling: bool,
    /// Side of labelled region boxes, pixels.
    pub region_side_px: usize,
    /// Draw the labelled regions while picking (the analysis panel's Regions tab is open).
    pub show_regions: bool,
    /// Installed models and the selected one.
    pub models: &'a ModelsState,
    /// Whether the micrograph is being read.
    pub loading: bool,
    /// The install job's progress while the Topaz models are installed.
    pub installing: Option<&'a Progress>,
    /// The running denoise job's model and progress.
    pub denoising: Option<(&'static str, &'a Progress)>,
    /// Whether the compute device has been detected.
    pub device_ready: bool,
    /// The merged view's key for the selected model and the sliders.
    pub merge_key: Option<MergeKey>,
    /// The derived views' settings (low-pass, merge).
    pub settings: &'a ViewSettings,
}

/// What the viewer reported in a frame where the view was drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewerReport {
    /// The pixel under the cursor and its value.
    pub hover: Option<(usize, usize, f32)>,
    /// The viewer's rectangle on screen (points).
    pub rect: Option<Rect>,
}

/// What the app takes from a frame of the single view.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SingleViewOutput {
    /// The viewer's report when the view was drawn (`None`: the placeholder was).
    pub viewer: Option<ViewerReport>,
    /// A button of the placeholder (install, cancel or retry denoising).
    pub action: Option<ModelsAction>,
}

/// Draws the central area: the current view (with picks, or region labels while labelling),
/// or a placeholder while it is computed. `transform` is the shared pan and zoom, `picks` the
/// picking tool (clicks add, move and remove picks), `regions` the labelled boxes (clicks
/// add boxes while labelling).
pub fn show(
    ui: &mut egui::Ui,
    cx: &SingleViewCtx<'_>,
    transform: &mut ViewTransform,
    picks: &mut PickTool,
    regions: &mut RegionLabels,
) -> SingleViewOutput {
    let (Some(view), Some(doc)) = (cx.image, cx.doc) else {
        return SingleViewOutput {
            viewer: None,
            action: placeholder(ui, cx),
        };
    };
    let ctx = ui.ctx().clone();
    let keep = doc.keep_ids();
    let size = view.display_size();
    let radius = cx.pick_radius_px;
    if !cx.labelling {
        picks.begin_drag(&ctx, cx.last_viewer_rect, transform, radius);
    }
    let out = viewer::show(
        ui,
        transform,
        view,
        viewer::Look {
            contrast: cx.contrast,
            colour_map: cx.colour_map,
            keep,
            gpu_ready: cx.gpu_ready,
        },
        picks.interaction(),
    );
    if let (Some(rect), Some(b)) = (out.rect, view.preview_binning()) {
        let text = format!("Preview (denoised at {b:.1}× binning) · full resolution on its way");
        let painter = ui.painter_at(rect);
        let at = rect.left_top() + egui::vec2(8.0, 8.0);
        let galley =
            painter.layout_no_wrap(text, egui::FontId::proportional(14.0), egui::Color32::WHITE);
        let back = egui::Rect::from_min_size(at, galley.size()).expand(4.0);
        painter.rect_filled(back, 4.0, egui::Color32::from_black_alpha(170));
        painter.galley(at, galley, egui::Color32::WHITE);
    }
    if let (Some(rect), Some(response)) = (out.rect, &out.response) {
        if cx.labelling {
            if let Some(pos) = response.interact_pointer_pos()
                && (response.clicked() || response.secondary_clicked())
            {
                let (x, y) = screen_to_pick(transform, rect, pos);
                let background = response.secondary_clicked();
                regions.label_at(x, y, cx.region_side_px, background, size);
            }
            draw_regions(regions, &ui.painter_at(rect), rect, transform);
        } else {
            if cx.show_regions {
                draw_regions(regions, &ui.painter_at(rect), rect, transform);
            }
            picks.handle(&ctx, response, rect, transform, size, radius);
            picks.draw(&ui.painter_at(rect), rect, transform, radius);
        }
    }
    SingleViewOutput {
        viewer: Some(ViewerReport {
            hover: out.hover,
            rect: out.rect,
        }),
        action: None,
    }
}

/// The central area when the current view is not ready; a button clicked there.
fn placeholder(ui: &mut egui::Ui, cx: &SingleViewCtx<'_>) -> Option<ModelsAction> {
    let mut action = None;
    ui.vertical_centered(|ui| {
        ui.add_space(ui.available_height() * 0.3);
        let Some(doc) = cx.doc else {
            if cx.loading {
                ui.spinner();
                ui.label("Reading the micrograph…");
            } else {
                ui.label("No micrograph open. Press O to open one, or drop a file here.");
            }
            return;
        };
        match cx.view {
            View::Raw => {}
            View::Denoised => {
                if cx.models.installed.is_empty() {
                    ui.heading("No Topaz model is installed");
                    ui.label(
                        "Denoising needs Topaz's pretrained weights (GPL-3.0). They are unpacked from \
                         the topaz-em package into the models folder:",
                    );
                    ui.monospace(topaz_dir().display().to_string());
                    action = models::install_button(ui, cx.installing);
                } else if let Some((model, p)) = cx.denoising {
                    ui.spinner();
                    ui.label(format!("Denoising with {model}…"));
                    ui.add(egui::ProgressBar::new(p.fraction()).desired_width(300.0).show_percentage());
                    if ui.button("Cancel denoising").clicked() {
                        action = Some(ModelsAction::Cancel);
                    }
                } else if let Some(err) =
                    cx.models.selected.and_then(|a| doc.denoise_failed.get(a.name()))
                {
                    ui.colored_label(ui.visuals().error_fg_color, format!("Denoising failed: {err}"));
                    if ui.button("Retry denoising").clicked() {
                        action = Some(ModelsAction::Retry);
                    }
                } else if !cx.device_ready {
                    ui.spinner();
                    ui.label("Detecting the compute device…");
                } else {
                    ui.spinner();
                }
            }
            View::Merged => {
                let failed = cx
                    .merge_key
                    .and_then(|k| doc.merge_failed.as_ref().filter(|(f, _)| *f == k));
                if let Some((_, e)) = failed {
                    ui.colored_label(ui.visuals().error_fg_color, format!("Merging failed: {e}"));
                } else if cx.models.selected.is_some_and(|a| !doc.denoised.contains_key(a.name())) {
                    ui.spinner();
                    ui.label("Waiting for the denoised view to merge it…");
                } else {
                    ui.spinner();
                    ui.label(format!("Merging at {} Å…", cx.settings.merge_cutoff_angstrom));
                }
            }
            View::Lowpass => {
                ui.spinner();
                ui.label(format!("Low-passing ({})…", cx.settings.lowpass().describe()));
            }
        }
    });
    action
}

/// Draws the labelled regions over the viewer (`viewport`): signal boxes green (S1, S2…),
/// background boxes red (B1, B2…).
fn draw_regions(
    regions: &RegionLabels,
    painter: &egui::Painter,
    viewport: Rect,
    transform: &ViewTransform,
) {
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
    for (i, r) in regions.signal().iter().enumerate() {
        draw(r, Color32::from_rgb(80, 220, 120), format!("S{}", i + 1));
    }
    for (i, r) in regions.background().iter().enumerate() {
        draw(r, Color32::from_rgb(255, 90, 90), format!("B{}", i + 1));
    }
}
