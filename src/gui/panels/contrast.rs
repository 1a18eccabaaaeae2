//! Contrast in units of the image's σ around its centre (the viewer uses robust statistics:
//! median and 1.4826 × MAD, see `state::view_image::robust_stats`), colour maps, and the small histogram.

use eframe::egui;
use egui::{Color32, Stroke, Vec2};

use crate::image::Stats;

use crate::gui::state::Histogram;

/// A display window in units of the image's standard deviation around its mean: values at
/// `mean + low_sigma·σ` map to black, `mean + high_sigma·σ` to white.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Contrast {
    /// Lower bound, in σ from the mean.
    pub low_sigma: f32,
    /// Upper bound, in σ from the mean.
    pub high_sigma: f32,
}

impl Default for Contrast {
    fn default() -> Self {
        Self {
            low_sigma: -3.0,
            high_sigma: 3.0,
        }
    }
}

impl Contrast {
    /// The absolute values `(low, high)` of the window for an image with `stats`. A constant
    /// image (σ = 0) gets a window of ±1 around its value so that it still draws.
    pub fn window(&self, stats: &Stats) -> (f32, f32) {
        let std = if stats.std > 0.0 && stats.std.is_finite() {
            stats.std
        } else {
            1.0
        };
        let low = stats.mean + self.low_sigma as f64 * std;
        let high = stats.mean + self.high_sigma as f64 * std;
        (low as f32, high.max(low + std * 1e-3) as f32)
    }

    /// The contrast that shows the absolute window `(black, white)` (image units) on an image
    /// with `stats`: the inverse of [`Contrast::window`]. With Topaz's display window
    /// ([`crate::analysis::section::topaz_display_window`]: the 16× low-pass copy's mean ±
    /// 4σ) this is Topaz-Denoise's display normalisation, the image scaled to the low-pass
    /// copy's mean and σ and shown in [−4, 4].
    pub fn showing(stats: &Stats, (black, white): (f32, f32)) -> Self {
        let std = if stats.std > 0.0 && stats.std.is_finite() {
            stats.std
        } else {
            1.0
        };
        let low = ((f64::from(black) - stats.mean) / std) as f32;
        let high = ((f64::from(white) - stats.mean) / std) as f32;
        Self {
            low_sigma: low,
            high_sigma: high.max(low + 1e-3),
        }
    }
}

/// What the Topaz preset needs of the shown image: its display statistics and Topaz's window.
pub type TopazPreset = (Stats, (f32, f32));

/// Colour maps the shader knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColourMap {
    /// Black to white.
    #[default]
    Grey,
    /// White to black.
    InvertedGrey,
    /// Black, red, yellow, white.
    Fire,
}

impl ColourMap {
    /// All maps, in menu order.
    pub const ALL: [ColourMap; 3] = [ColourMap::Grey, ColourMap::InvertedGrey, ColourMap::Fire];

    /// Menu name.
    pub fn name(self) -> &'static str {
        match self {
            ColourMap::Grey => "Grey",
            ColourMap::InvertedGrey => "Inverted grey",
            ColourMap::Fire => "Fire",
        }
    }

    /// The index the shader switches on.
    pub fn index(self) -> u32 {
        match self {
            ColourMap::Grey => 0,
            ColourMap::InvertedGrey => 1,
            ColourMap::Fire => 2,
        }
    }
}

/// The contrast controls: low/high σ, a reset button, the Topaz preset (when `topaz` gives
/// the shown image's statistics and Topaz's window), the colour map, and the histogram with
/// the window marked. Returns true if something changed.
pub fn controls(
    ui: &mut egui::Ui,
    contrast: &mut Contrast,
    colour_map: &mut ColourMap,
    histogram: Option<&Histogram>,
    topaz: Option<TopazPreset>,
) -> bool {
    let before = (*contrast, *colour_map);
    egui::Grid::new("contrast grid")
        .num_columns(2)
        .show(ui, |ui| {
            for (name, sigma, shade) in [
                ("Low (σ)", &mut contrast.low_sigma, "black"),
                ("High (σ)", &mut contrast.high_sigma, "white"),
            ] {
                let label = ui.label(name);
                ui.add(
                    egui::DragValue::new(sigma)
                        .speed(0.05)
                        .range(-50.0..=50.0)
                        .fixed_decimals(2),
                )
                .labelled_by(label.id)
                .on_hover_text(format!(
                    "Values this many σ from the mean are drawn {shade}"
                ));
                ui.end_row();
            }
        });
    if contrast.high_sigma <= contrast.low_sigma {
        contrast.high_sigma = contrast.low_sigma + 0.05;
    }
    ui.horizontal(|ui| {
        if ui
            .button("Reset contrast")
            .on_hover_text("−3σ … +3σ")
            .clicked()
        {
            *contrast = Contrast::default();
        }
        if ui
            .add_enabled(topaz.is_some(), egui::Button::new("Topaz"))
            .on_hover_text("Topaz-Denoise's display: scaled to the 16× low-pass image's mean and σ, shown in [−4, 4]")
            .clicked()
            && let Some((stats, window)) = topaz
        {
            *contrast = Contrast::showing(&stats, window);
        }
    });
    ui.horizontal(|ui| {
        let label = ui.label("Colour map");
        egui::ComboBox::from_id_salt("colour map")
            .selected_text(colour_map.name())
            .show_ui(ui, |ui| {
                for m in ColourMap::ALL {
                    ui.selectable_value(colour_map, m, m.name());
                }
            })
            .response
            .labelled_by(label.id);
    });
    if let Some(h) = histogram {
        draw_histogram(ui, h, contrast);
    }
    before != (*contrast, *colour_map)
}

/// Draws the histogram (log counts) with the contrast window shaded.
fn draw_histogram(ui: &mut egui::Ui, h: &Histogram, contrast: &Contrast) {
    let width = ui.available_width().clamp(120.0, 320.0);
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, 64.0), egui::Sense::hover());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Histogram"));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let span = (h.to_sigma - h.from_sigma).max(1e-3);
    let x_of = |s: f32| rect.left() + (s - h.from_sigma) / span * rect.width();
    let (lo, hi) = (
        x_of(contrast.low_sigma).max(rect.left()),
        x_of(contrast.high_sigma).min(rect.right()),
    );
    if hi > lo {
        painter.rect_filled(
            egui::Rect::from_x_y_ranges(lo..=hi, rect.y_range()),
            0.0,
            Color32::from_rgba_unmultiplied(90, 140, 220, 40),
        );
    }
    let max = h.counts.iter().copied().max().unwrap_or(0).max(1) as f32;
    let log_max = (1.0 + max).ln();
    let bin_w = rect.width() / h.counts.len().max(1) as f32;
    for (i, &c) in h.counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let frac = (1.0 + c as f32).ln() / log_max;
        let x = rect.left() + i as f32 * bin_w;
        let bar = egui::Rect::from_min_max(
            egui::pos2(x, rect.bottom() - frac * (rect.height() - 4.0)),
            egui::pos2(x + bin_w.max(1.0), rect.bottom()),
        );
        painter.rect_filled(bar, 0.0, Color32::from_gray(170));
    }
    let stroke = Stroke::new(1.5, Color32::from_rgb(90, 160, 255));
    for s in [contrast.low_sigma, contrast.high_sigma] {
        let x = x_of(s);
        if x >= rect.left() && x <= rect.right() {
            painter.vline(x, rect.y_range(), stroke);
        }
    }
    let font = egui::FontId::proportional(10.0);
    let text = ui.visuals().weak_text_color();
    painter.text(
        rect.left_top() + Vec2::new(3.0, 2.0),
        egui::Align2::LEFT_TOP,
        format!("{:+.1}σ", h.from_sigma),
        font.clone(),
        text,
    );
    painter.text(
        rect.right_top() + Vec2::new(-3.0, 2.0),
        egui::Align2::RIGHT_TOP,
        format!("{:+.1}σ", h.to_sigma),
        font,
        text,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_mean_plus_sigma() {
        let stats = Stats {
            mean: 10.0,
            std: 2.0,
            min: 0.0,
            max: 20.0,
        };
        assert_eq!(Contrast::default().window(&stats), (4.0, 16.0));
        let flat = Stats {
            mean: 5.0,
            std: 0.0,
            min: 5.0,
            max: 5.0,
        };
        let (lo, hi) = Contrast::default().window(&flat);
        assert!(hi > lo);
    }

    #[test]
    fn topaz_preset_shows_the_low_pass_window() {
        let stats = Stats {
            mean: 10.0,
            std: 2.0,
            min: 0.0,
            max: 20.0,
        };
        // Low-pass copy: mean 11, σ 0.5 → Topaz shows [11 − 2, 11 + 2] = [9, 13].
        let c = Contrast::showing(&stats, (9.0, 13.0));
        assert!(
            (c.low_sigma + 0.5).abs() < 1e-6 && (c.high_sigma - 1.5).abs() < 1e-6,
            "{c:?}"
        );
        let (lo, hi) = c.window(&stats);
        assert!((lo - 9.0).abs() < 1e-5 && (hi - 13.0).abs() < 1e-5);
        // A value at the low-pass mean + 4σ maps to white, at the mean to mid-grey.
        let (lo, hi) = c.window(&stats);
        assert!(((11.0 - lo) / (hi - lo) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn histogram_counts_everything() {
        let values: Vec<f32> = (0..1000).map(|i| (i % 17) as f32).collect();
        let stats = crate::image::stats_of(&values);
        let h = Histogram::of(&values, &stats);
        assert_eq!(h.counts.iter().sum::<u64>(), 1000);
    }
}
