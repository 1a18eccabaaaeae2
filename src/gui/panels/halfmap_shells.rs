//! The Half-map tab's second plot: signal and noise power per shell of the open half-maps
//! (crefDenoiser eq. 12–16, Fig. 7) with FSC_scalar (eq. 2), and the paper's caveat that the
//! estimates fail under correlated damping beside the curves.

use eframe::egui;
use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::analysis::halfmap::FscReport;

/// The caveat shown beside the curves (crefDenoiser section 3.3, Fig. S4).
pub const CAVEAT: &str = "Assumes noise independent of the signal and between the halves: \
the estimates fail when signal and noise are damped together (correlated damping, e.g. a \
denoiser's low-pass; crefDenoiser Fig. S4).";

/// Draws FSC_scalar, the caveat and the signal / noise / SNR per shell (log scale) of
/// `report`, `width` × `height` points; `unit` "Å" or "voxels".
pub fn shells_ui(ui: &mut egui::Ui, report: &FscReport, unit: &str, width: f32, height: f32) {
    ui.vertical(|ui| {
        ui.set_width(width);
        let per = if unit == "Å" { "1/Å" } else { "cycles/voxel" };
        ui.label(format!(
            "FSC_scalar {:.4} {per} (mean FSC {:.3})",
            report.scalar.integral, report.scalar.mean
        ));
        ui.colored_label(ui.visuals().warn_fg_color, CAVEAT);
        let labels_height = ui.min_rect().height();
        type Get = fn(&crate::metrics::VarianceEstimate) -> f64;
        let series: [(&str, Get, Color32); 3] = [
            (
                "signal var(S)",
                |v| v.signal,
                Color32::from_rgb(80, 200, 255),
            ),
            (
                "noise var(N)",
                |v| v.noise_noisy,
                Color32::from_rgb(255, 170, 60),
            ),
            (
                "SNR var(S)/var(N)",
                |v| v.snr_noisy,
                Color32::from_rgb(230, 80, 200),
            ),
        ];
        Plot::new("half-map shells")
            .legend(Legend::default())
            .x_axis_label(format!("spatial frequency (1/{unit})"))
            .y_axis_label("power per shell (log)")
            .y_axis_formatter(|mark, _| format!("1e{:.1}", mark.value))
            // What the labels above left of the row's height: the plot must not make the
            // row taller than `height`, or the panel grows a little every frame.
            .height((height - labels_height - 8.0).max(120.0))
            .show(ui, |pui| {
                for (name, get, colour) in series {
                    // log10 of the positive values (egui_plot has no log axis).
                    let pts: Vec<[f64; 2]> = report
                        .shells
                        .rings
                        .iter()
                        .map(|r| (r.frequency, get(&r.value)))
                        .filter(|&(_, y)| y > 0.0 && y.is_finite())
                        .map(|(x, y)| [x, y.log10()])
                        .collect();
                    pui.line(Line::new(name, PlotPoints::from(pts)).color(colour));
                }
            });
    });
}
