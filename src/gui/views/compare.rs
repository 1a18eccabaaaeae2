//! Side-by-side comparison (key C): 2 to 4 panes, each showing any view (raw, a denoiser,
//! low-pass, merged), with linked pan, zoom and contrast (in σ of each view), or a swipe
//! between two views; each pane is labelled with its SNR and carries a scale bar. A denoised
//! pane may show another model than the selected one (Topaz's unet beside a restore model).
//! A simulated micrograph's noise-free truth can take the last pane, and then every pane is
//! labelled with its PSNR and SSIM against it ([`crate::gui::state::truth`]).

use eframe::egui;
use egui::{Color32, Pos2, Rect, Stroke, Vec2};

use std::sync::Arc;

use crate::analysis::Analysis;
use crate::gui::panels::contrast::{ColourMap, Contrast};
use crate::gui::panels::models::DenoiserChoice;
use crate::gui::state::regions::{RegionLabels, RegionSnrCache};
use crate::gui::state::truth::{TruthScoreCache, score_label};
use crate::gui::state::{Document, View, ViewImage, ViewSettings};
use crate::gui::viewer::{self, ViewTransform};

/// State of the comparison.
#[derive(Clone, Debug)]
pub struct CompareState {
    /// Whether the central area shows the comparison instead of one view.
    pub open: bool,
    /// The view of each pane (2 to 4).
    pub panes: Vec<View>,
    /// The model of each denoised pane (`None`: the selected model), same length as `panes`.
    pub models: Vec<Option<DenoiserChoice>>,
    /// Two views split by a vertical line that moves with the slider (uses the first two panes).
    pub swipe: bool,
    /// Position of the swipe line, as a fraction of the width.
    pub split: f32,
    /// The last pane (the second when swiping) shows the simulation's truth, when there is one.
    pub truth_pane: bool,
    /// Where the comparison was drawn in the last frame.
    pub frame_rect: Option<Rect>,
    /// The rectangle of each pane in the last frame.
    pub pane_rects: Vec<Rect>,
    /// The label of each pane shown in the last frame.
    pub labels: Vec<String>,
}

impl Default for CompareState {
    fn default() -> Self {
        Self {
            open: false,
            panes: vec![View::Raw, View::Lowpass, View::Denoised, View::Merged],
            models: vec![None; 4],
            swipe: false,
            split: 0.5,
            truth_pane: true,
            frame_rect: None,
            pane_rects: Vec::new(),
            labels: Vec::new(),
        }
    }
}

impl CompareState {
    /// The model pane `i` denoises with: its own for a denoised pane that has one, else
    /// `selected`.
    pub fn pane_model(&self, i: usize, selected: Option<DenoiserChoice>) -> Option<DenoiserChoice> {
        match self.panes.get(i) {
            Some(View::Denoised) => self.models.get(i).copied().flatten().or(selected),
            _ => selected,
        }
    }

    /// The panes' rectangles in `area`: side by side for 2, a 2 × 2 grid for 3 or 4.
    pub fn layout(&self, area: Rect) -> Vec<Rect> {
        let n = self.panes.len().clamp(1, 4);
        if self.swipe || n == 1 {
            return vec![area];
        }
        let gap = 4.0;
        if n == 2 {
            let w = (area.width() - gap) / 2.0;
            return (0..2)
                .map(|i| {
                    Rect::from_min_size(
                        area.min + Vec2::new(i as f32 * (w + gap), 0.0),
                        Vec2::new(w, area.height()),
                    )
                })
                .collect();
        }
        let w = (area.width() - gap) / 2.0;
        let h = (area.height() - gap) / 2.0;
        (0..n)
            .map(|i| {
                let (c, r) = (i % 2, i / 2);
                Rect::from_min_size(
                    area.min + Vec2::new(c as f32 * (w + gap), r as f32 * (h + gap)),
                    Vec2::new(w, h),
                )
            })
            .collect()
    }

    /// The side-panel controls: number of panes, each pane's view (and, for a denoised pane,
    /// its model among `installed`), swipe, and with a simulation's truth (`has_truth`) the
    /// truth pane.
    pub fn controls(&mut self, ui: &mut egui::Ui, installed: &[DenoiserChoice], has_truth: bool) {
        let mut n = self.panes.len();
        ui.add(egui::Slider::new(&mut n, 2..=4).text("panes"));
        while self.panes.len() < n {
            let next = View::ALL[self.panes.len() % View::ALL.len()];
            self.panes.push(next);
        }
        self.panes.truncate(n);
        self.models.resize(n, None);
        for (i, (v, m)) in self.panes.iter_mut().zip(&mut self.models).enumerate() {
            egui::ComboBox::from_label(format!("pane {}", i + 1))
                .selected_text(v.name())
                .show_ui(ui, |ui| {
                    for w in View::ALL {
                        ui.selectable_value(v, w, w.name());
                    }
                });
            if *v == View::Denoised && !installed.is_empty() {
                egui::ComboBox::from_label(format!("pane {} model", i + 1))
                    .selected_text(m.map_or("selected model", |c| c.name()))
                    .show_ui(ui, |ui| {
                        ui.selectable_value(m, None, "selected model");
                        for &c in installed {
                            ui.selectable_value(m, Some(c), c.name());
                        }
                    });
            }
        }
        if has_truth {
            ui.checkbox(&mut self.truth_pane, "Truth in the last pane")
                .on_hover_text(
                    "The simulation's noise-free truth; every pane is scored against it (PSNR, SSIM)",
                );
        }
        ui.checkbox(&mut self.swipe, "Swipe (panes 1 | 2)");
        if self.swipe {
            ui.add(egui::Slider::new(&mut self.split, 0.0..=1.0).text("split"));
        }
    }
}

/// A "nice" scale-bar length in Å for a pane showing `width_px` screen points at `zoom`
/// points per pixel of `pixel_size_angstrom`: 1, 2 or 5 × 10ⁿ Å, about a fifth of the pane.
pub fn scale_bar_angstrom(width_px: f32, zoom: f32, pixel_size_angstrom: f32) -> f32 {
    let target = 0.2 * width_px / zoom * pixel_size_angstrom;
    let e = target.log10().floor();
    let base = 10f32.powf(e);
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * base)
        .find(|&l| l <= target)
        .unwrap_or(base)
}

/// Draws a pane's label (top left) and, with a pixel size, a scale bar (bottom left).
pub fn decorate(
    painter: &egui::Painter,
    rect: Rect,
    label: &str,
    zoom: f32,
    pixel_size_angstrom: Option<f32>,
) {
    let font = egui::FontId::proportional(14.0);
    let galley = painter.layout_no_wrap(label.to_string(), font.clone(), Color32::WHITE);
    let bg = Rect::from_min_size(
        rect.min + Vec2::splat(4.0),
        galley.size() + Vec2::splat(6.0),
    );
    painter.rect_filled(bg, 3.0, Color32::from_black_alpha(170));
    painter.galley(bg.min + Vec2::splat(3.0), galley, Color32::WHITE);
    if let Some(p) = pixel_size_angstrom.filter(|p| *p > 0.0) {
        let len_a = scale_bar_angstrom(rect.width(), zoom, p);
        let len_pts = len_a / p * zoom;
        let y = rect.bottom() - 12.0;
        let x0 = rect.left() + 12.0;
        painter.line_segment(
            [Pos2::new(x0, y), Pos2::new(x0 + len_pts, y)],
            Stroke::new(4.0, Color32::WHITE),
        );
        let text = if len_a >= 10.0 {
            format!("{:.0} nm", len_a / 10.0)
        } else {
            format!("{len_a:.0} Å")
        };
        painter.text(
            Pos2::new(x0, y - 6.0),
            egui::Align2::LEFT_BOTTOM,
            text,
            egui::FontId::proportional(13.0),
            Color32::WHITE,
        );
    }
}

/// What the comparison draws from (read-only).
pub struct PaneContext<'a> {
    /// The open micrograph and its views.
    pub doc: &'a Document,
    /// The selected model.
    pub selected: Option<DenoiserChoice>,
    /// The derived views' settings.
    pub settings: &'a ViewSettings,
    /// Contrast of each view.
    pub contrast: &'a [Contrast; 4],
    /// The colour map.
    pub colour_map: ColourMap,
    /// Whether the viewer's GPU resources exist.
    pub gpu_ready: bool,
    /// The analysis of the open micrograph (its even/odd SNR labels raw and denoised panes).
    pub analysis: Option<&'a Analysis>,
    /// The labelled regions (their SNR labels every pane when there are pairs).
    pub regions: &'a RegionLabels,
}

impl PaneContext<'_> {
    /// The image of `view` for the selected model, once computed.
    fn view_image(&self, view: View) -> Option<&Arc<ViewImage>> {
        self.doc
            .view(view, self.selected.map(|m| m.name()), self.settings)
    }

    /// The denoised image of `model`, once computed (the denoised volume's section when a 3D
    /// model has run and `model` is the selected one).
    fn denoised_by(&self, model: DenoiserChoice) -> Option<&Arc<ViewImage>> {
        if Some(model) == self.selected {
            return self.view_image(View::Denoised);
        }
        self.doc.denoised.get(model.name())
    }
}

impl CompareState {
    /// Draws the comparison panes in the central area from `cx`, with the shared pan and zoom
    /// `transform`; region SNR comes from (and goes into) `snr`, scores against a simulation's
    /// truth from `truth`. Returns the first pane's viewer rectangle.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        cx: &PaneContext<'_>,
        transform: &mut ViewTransform,
        snr: &mut RegionSnrCache,
        truth: &mut TruthScoreCache,
    ) -> Option<Rect> {
        let area = ui.available_rect_before_wrap();
        self.frame_rect = Some(area);
        let rects = self.layout(area);
        self.pane_rects = rects.clone();
        let pixel = cx.doc.raw.image.pixel_size_angstrom;
        let keep = cx.doc.keep_ids();
        let model = cx.selected.map_or("", |m| m.name());
        let mut viewer_rect = None;
        let mut labels = Vec::new();
        let swipe_x = area.left() + self.split * area.width();
        let panes: Vec<(usize, View, Rect)> = if self.swipe {
            self.panes
                .iter()
                .take(2)
                .enumerate()
                .map(|(i, v)| (i, *v, area))
                .collect()
        } else {
            self.panes
                .iter()
                .zip(rects)
                .enumerate()
                .map(|(i, (v, r))| (i, *v, r))
                .collect()
        };
        let truth_index = (self.truth_pane && cx.doc.truth.is_some())
            .then(|| if self.swipe { 1 } else { panes.len() - 1 });
        for (i, view, rect) in panes {
            let is_truth = truth_index == Some(i);
            let own = self
                .pane_model(i, cx.selected)
                .filter(|m| view == View::Denoised && Some(*m) != cx.selected);
            let name = match (view, own) {
                _ if is_truth => "Truth (noise-free)".to_string(),
                (View::Denoised, Some(m)) => format!("{} ({})", view.name(), m.name()),
                (View::Denoised, None) => format!("{} ({model})", view.name()),
                _ => view.name().to_string(),
            };
            let img = match own {
                _ if is_truth => cx.doc.truth.clone(),
                Some(m) => cx.denoised_by(m).cloned(),
                None => cx.view_image(view).cloned(),
            };
            let Some(img) = img else {
                // A denoiser that failed on this micrograph says why (e.g. restore without a
                // pixel size), instead of waiting for a result that will not come.
                let failed = match view {
                    View::Denoised | View::Merged => self
                        .pane_model(i, cx.selected)
                        .and_then(|m| cx.doc.denoise_failed.get(m.name())),
                    _ => None,
                };
                let text = match failed {
                    Some(e) => format!("{name}: failed: {e}"),
                    None => format!("{name}: not computed yet"),
                };
                let galley = ui.painter().layout(
                    text.clone(),
                    egui::FontId::proportional(15.0),
                    egui::Color32::LIGHT_GRAY,
                    (rect.width() - 24.0).max(40.0),
                );
                let at = rect.center() - galley.size() / 2.0;
                ui.painter().galley(at, galley, egui::Color32::LIGHT_GRAY);
                labels.push(text);
                continue;
            };
            let mut clip = rect;
            if self.swipe && i == 1 {
                clip.min.x = swipe_x;
            }
            let mut child =
                ui.new_child(egui::UiBuilder::new().max_rect(rect).id_salt(("pane", i)));
            child.set_clip_rect(clip.intersect(ui.clip_rect()));
            let out = viewer::show(
                &mut child,
                transform,
                &img,
                viewer::Look {
                    contrast: cx.contrast[if is_truth { 0 } else { view.index() }],
                    colour_map: cx.colour_map,
                    keep: keep.clone(),
                    gpu_ready: cx.gpu_ready,
                },
                viewer::Interaction {
                    pan: !(self.swipe && i == 1),
                    zoom: !(self.swipe && i == 1),
                    double_click_fit: true,
                },
            );
            if i == 0 {
                viewer_rect = out.rect;
            }
            // The analysis's even/odd SNR is the selected model's: another model's pane
            // shows region SNR only.
            let mut snr = if is_truth {
                String::new()
            } else {
                pane_snr(cx, snr, view, &img, own.is_none())
            };
            if let (Some(t), false) = (&cx.doc.truth, is_truth) {
                let scores = score_label(truth.get(&img, t));
                snr = if snr.is_empty() {
                    scores
                } else {
                    format!("{snr} · {scores}")
                };
            }
            let label = if snr.is_empty() {
                name
            } else {
                format!("{name}  {snr}")
            };
            let painter = ui.painter_at(clip);
            let corner = if self.swipe && i == 1 {
                Rect::from_min_max(egui::pos2(swipe_x, rect.top()), rect.max)
            } else {
                rect
            };
            decorate(&painter, corner, &label, transform.zoom, pixel);
            labels.push(label);
        }
        if self.swipe {
            ui.painter().vline(
                swipe_x,
                area.y_range(),
                egui::Stroke::new(2.0, egui::Color32::from_rgb(255, 200, 40)),
            );
        }
        self.labels = labels;
        viewer_rect
    }
}

/// The SNR shown under a comparison pane: region SNR (Topaz's formula) when regions are
/// labelled, else the analysis' even/odd figures for raw and denoised (when `even_odd`:
/// they are the selected model's).
fn pane_snr(
    cx: &PaneContext<'_>,
    cache: &mut RegionSnrCache,
    view: View,
    image: &ViewImage,
    even_odd: bool,
) -> String {
    if !cx.regions.pairs().is_empty() {
        return match &cache.get(image, cx.regions).topaz_db {
            Ok(db) => format!("region SNR {db:.2} dB"),
            Err(_) => "region SNR n/a".into(),
        };
    }
    match (view, cx.analysis.filter(|_| even_odd)) {
        (View::Raw, Some(a)) => a
            .raw_snr
            .snr_db
            .map_or_else(|| "SNR n/a".into(), |d| format!("even/odd SNR {d:.2} dB")),
        (View::Denoised, Some(a)) => a
            .denoised
            .as_ref()
            .and_then(|d| d.topaz_snr_db)
            .map_or_else(String::new, |d| format!("Topaz even/odd SNR {d:.2} dB")),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_bars_are_round_and_fit() {
        // 800 pts wide at 0.25 pts/px of 0.85 Å: a fifth is 544 Å → 500 Å.
        assert_eq!(scale_bar_angstrom(800.0, 0.25, 0.85), 500.0);
        assert_eq!(scale_bar_angstrom(400.0, 1.0, 1.0), 50.0);
        assert_eq!(scale_bar_angstrom(100.0, 1.0, 1.0), 20.0);
    }

    #[test]
    fn layouts_tile_the_area() {
        let area = Rect::from_min_size(Pos2::ZERO, Vec2::new(804.0, 604.0));
        let mut s = CompareState::default();
        assert_eq!(s.layout(area).len(), 4);
        s.panes.truncate(2);
        let r = s.layout(area);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].width(), 400.0);
        assert_eq!(r[1].left(), 404.0);
        s.swipe = true;
        assert_eq!(s.layout(area), vec![area]);
    }
}
