//! The Half-map tab's second plot: signal and noise power per shell of the open half-maps
//! (crefDenoiser eq. 12–16, Fig. 7) with FSC_scalar (eq. 2), and the paper's caveat that the
//! estimates fail under correlated damping beside the curves.

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::analysis::halfmap::FscReport;

use super::analysis::plots::{log_axis, log10_points};
use super::cref::COLOURS;

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
        let series: [(&str, fn(&crate::metrics::VarianceEstimate) -> f64); 3] = [
            ("signal var(S)", |v| v.signal),
            ("noise var(N)", |v| v.noise_noisy),
            ("SNR var(S)/var(N)", |v| v.snr_noisy),
        ];
        Plot::new("half-map shells")
            .legend(Legend::default())
            .x_axis_label(format!("spatial frequency (1/{unit})"))
            .y_axis_label("power per shell (log)")
            .y_axis_formatter(log_axis)
            .height((height - 50.0).max(120.0))
            .show(ui, |pui| {
                for (i, (name, get)) in series.iter().enumerate() {
                    let pts = log10_points(
                        report
                            .shells
                            .rings
                            .iter()
                            .map(|r| (r.frequency, get(&r.value))),
                    );
                    pui.line(Line::new(*name, PlotPoints::from(pts)).color(COLOURS[i + 1]));
                }
            });
    });
}
