//! The analysis panel's curves: spectra, SSNR, FRC and signal / noise / bias power, the
//! comparison panes' curves drawn over each other, and the SNR table.

use std::sync::Arc;

use eframe::egui;
use egui::Color32;
use egui_plot::{GridMark, HLine, Legend, Line, Plot, PlotPoints};

use crate::analysis::{Analysis, PaneCurves};
use crate::metrics;

use super::{AnalysisPanel, Tab};
use crate::gui::panels::cref::COLOURS;

/// Colours of the comparison panes' curves, in pane order.
pub(super) const PANE_COLOURS: [Color32; 6] = [
    Color32::from_rgb(210, 210, 210),
    Color32::from_rgb(255, 170, 60),
    Color32::from_rgb(80, 200, 255),
    Color32::from_rgb(230, 80, 200),
    Color32::from_rgb(120, 220, 110),
    Color32::from_rgb(250, 230, 90),
];

/// A per-ring variance component: its name and how to read it.
pub(super) type Component = (&'static str, fn(&metrics::VarianceEstimate) -> f64);

/// Formats log10-scaled axis marks as powers of ten.
pub(super) fn log_axis(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let v = mark.value;
    if (v - v.round()).abs() < 1e-9 {
        format!("1e{}", v.round() as i64)
    } else {
        format!("{:.2e}", 10f64.powf(v))
    }
}

pub(super) fn log10_points(points: impl Iterator<Item = (f64, f64)>) -> Vec<[f64; 2]> {
    points
        .filter(|&(x, y)| x > 0.0 && y > 0.0 && y.is_finite())
        .map(|(x, y)| [x, y.log10()])
        .collect()
}

impl AnalysisPanel {
    pub(super) fn plot(&self, ui: &mut egui::Ui, a: &Analysis) {
        let unit = if a.pixel_size_angstrom.is_some() {
            "1/Å"
        } else {
            "1/px"
        };
        let res_unit = if a.pixel_size_angstrom.is_some() {
            "Å"
        } else {
            "px"
        };
        let log_y = !matches!(self.tab, Tab::Frc);
        let tab = self.tab;
        let mut plot = Plot::new(("analysis plot", tab as u8))
            .legend(Legend::default())
            .x_axis_label(format!("spatial frequency ({unit})"))
            .y_axis_label(match tab {
                Tab::Spectra => "power (log)",
                Tab::Ssnr => "SSNR (log)",
                Tab::SignalNoiseBias => "power per ring (log)",
                _ => "FRC",
            })
            .label_formatter(move |hover| {
                let p = match hover {
                    egui_plot::HoverPosition::NearDataPoint { position, .. } => *position,
                    egui_plot::HoverPosition::Elsewhere { position } => *position,
                };
                let y = if log_y { 10f64.powf(p.y) } else { p.y };
                Some(format!(
                    "{:.4} {unit} ({:.1} {res_unit})\n{y:.4e}",
                    p.x,
                    1.0 / p.x.max(1e-9)
                ))
            })
            .height(ui.available_height().max(150.0));
        if log_y {
            plot = plot.y_axis_formatter(log_axis);
        }
        // With the comparison open, SSNR and signal / noise / bias show every pane's curves.
        let panes = match tab {
            Tab::Ssnr | Tab::SignalNoiseBias => self.pane_curves_row(ui),
            _ => None,
        };
        if let Some(panes) = panes {
            plot.show(ui, |pui| pane_lines(pui, tab, &panes));
            return;
        }
        plot.show(ui, |pui| match tab {
            Tab::Spectra => {
                for (i, name) in ["raw", "denoised", "low-pass"].iter().enumerate() {
                    if let Some(s) = &a.spectra[i] {
                        let pts = log10_points(
                            s.iter().skip(1).map(|&(f, p)| (f64::from(f), f64::from(p))),
                        );
                        pui.line(Line::new(*name, PlotPoints::from(pts)).color(COLOURS[i]));
                    }
                }
            }
            Tab::Ssnr => {
                let curve = |c: &metrics::RingCurve<metrics::FrcValue>| {
                    log10_points(c.rings.iter().map(|r| (r.frequency, r.value.ssnr_half)))
                };
                pui.line(Line::new("raw", PlotPoints::from(curve(&a.raw_frc))).color(COLOURS[0]));
                if let Some(d) = &a.denoised {
                    pui.line(
                        Line::new(
                            format!("denoised ({})", d.model),
                            PlotPoints::from(curve(&d.frc)),
                        )
                        .color(COLOURS[1]),
                    );
                }
                pui.line(
                    Line::new("low-pass", PlotPoints::from(curve(&a.lowpass_frc)))
                        .color(COLOURS[2]),
                );
                // The knots (spectrum minima) have SSNR 0 by construction: left out.
                let booth = log10_points(
                    a.booth
                        .iter()
                        .filter(|p| p.ssnr > 1e-6)
                        .map(|p| (p.frequency, p.ssnr)),
                );
                pui.line(
                    Line::new("Booth: (P − N)/N, full micrograph", PlotPoints::from(booth))
                        .color(COLOURS[3]),
                );
            }
            Tab::SignalNoiseBias => {
                if let Some(d) = &a.denoised {
                    let comps: [Component; 4] = [
                        ("signal", |v| v.signal),
                        ("noise (raw)", |v| v.noise_noisy),
                        ("noise (denoised)", |v| v.noise_denoised),
                        ("bias", |v| v.bias),
                    ];
                    for (i, (name, get)) in comps.iter().enumerate() {
                        let pts = log10_points(
                            d.rings.rings.iter().map(|r| (r.frequency, get(&r.value))),
                        );
                        pui.line(Line::new(*name, PlotPoints::from(pts)).color(COLOURS[i]));
                    }
                }
            }
            Tab::Frc => {
                let curve = |c: &metrics::RingCurve<metrics::FrcValue>| -> Vec<[f64; 2]> {
                    c.rings.iter().map(|r| [r.frequency, r.value.frc]).collect()
                };
                pui.line(Line::new("raw", PlotPoints::from(curve(&a.raw_frc))).color(COLOURS[0]));
                if let Some(d) = &a.denoised {
                    pui.line(
                        Line::new("denoised", PlotPoints::from(curve(&d.frc))).color(COLOURS[1]),
                    );
                }
                pui.line(
                    Line::new("low-pass", PlotPoints::from(curve(&a.lowpass_frc)))
                        .color(COLOURS[2]),
                );
                pui.hline(HLine::new("0", 0.0).color(Color32::GRAY));
            }
            Tab::Regions | Tab::Spectrum2d | Tab::HalfMaps | Tab::Titration => {}
        });
        if tab == Tab::SignalNoiseBias && a.denoised.is_none() {
            ui.label("Run the analysis with “denoise halves” for these curves.");
        }
    }

    /// The row above an overlay plot: the pane curves' progress, or one label per pane in its
    /// colour ("pane curve N: label"). The curves to draw, when computed.
    pub(super) fn pane_curves_row(
        &self,
        ui: &mut egui::Ui,
    ) -> Option<Arc<Vec<crate::analysis::PaneCurves>>> {
        if let Some((f, msg)) = self.pane_curves_job.fraction_and_message() {
            ui.add(
                egui::ProgressBar::new(f)
                    .desired_width(320.0)
                    .text(format!("comparison panes: {msg}")),
            );
        }
        let panes = self.pane_curves.clone()?;
        ui.horizontal_wrapped(|ui| {
            ui.label("comparison panes:");
            for (i, p) in panes.iter().enumerate() {
                ui.colored_label(
                    PANE_COLOURS[i % PANE_COLOURS.len()],
                    format!("pane curve {}: {}", i + 1, p.label),
                );
            }
        });
        Some(panes)
    }
}

/// Every comparison pane's curves on one plot: SSNR of its halves, or its noise (dashed) and
/// bias (solid) power per ring over the common signal and raw noise.
pub(super) fn pane_lines(pui: &mut egui_plot::PlotUi<'_>, tab: Tab, panes: &[PaneCurves]) {
    let colour = |i: usize| PANE_COLOURS[i % PANE_COLOURS.len()];
    match tab {
        Tab::Ssnr => {
            for (i, p) in panes.iter().enumerate() {
                let pts =
                    log10_points(p.frc.rings.iter().map(|r| (r.frequency, r.value.ssnr_half)));
                pui.line(Line::new(p.label.clone(), PlotPoints::from(pts)).color(colour(i)));
            }
        }
        Tab::SignalNoiseBias => {
            // Signal and raw noise come from the raw halves alone: the same for every pane.
            if let Some(first) = panes.first() {
                let common: [Component; 2] =
                    [("signal", |v| v.signal), ("noise (raw)", |v| v.noise_noisy)];
                for (k, (name, get)) in common.iter().enumerate() {
                    let pts = log10_points(
                        first
                            .rings
                            .rings
                            .iter()
                            .map(|r| (r.frequency, get(&r.value))),
                    );
                    pui.line(
                        Line::new(*name, PlotPoints::from(pts))
                            .color(Color32::WHITE)
                            .width(if k == 0 { 2.5 } else { 1.0 })
                            .style(if k == 0 {
                                egui_plot::LineStyle::Solid
                            } else {
                                egui_plot::LineStyle::dashed_dense()
                            }),
                    );
                }
            }
            for (i, p) in panes.iter().enumerate() {
                let pts = |get: fn(&metrics::VarianceEstimate) -> f64| {
                    log10_points(p.rings.rings.iter().map(|r| (r.frequency, get(&r.value))))
                };
                pui.line(
                    Line::new(
                        format!("bias: {}", p.label),
                        PlotPoints::from(pts(|v| v.bias)),
                    )
                    .color(colour(i)),
                );
                pui.line(
                    Line::new(
                        format!("noise: {}", p.label),
                        PlotPoints::from(pts(|v| v.noise_denoised)),
                    )
                    .color(colour(i))
                    .style(egui_plot::LineStyle::dashed_loose()),
                );
            }
        }
        _ => {}
    }
}

pub(super) fn db(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |d| format!("{d:.2} dB"))
}

impl AnalysisPanel {
    /// The SNR table: raw SNR (Frank & Al-Ali), and with a denoiser SNR after, SNBR, SBR (eq.
    /// 19, 20, 23) and Topaz's even/odd SNR.
    pub(super) fn snr_table(ui: &mut egui::Ui, a: &Analysis) {
        ui.label(egui::RichText::new(a.source.describe()).weak());
        egui::Grid::new("snr table").striped(true).show(ui, |ui| {
            ui.strong("measure");
            ui.strong("linear");
            ui.strong("dB");
            ui.end_row();
            ui.label("SNR raw (cc/(1-cc))");
            ui.label(format!("{:.4}", a.raw_snr.snr));
            ui.label(db(a.raw_snr.snr_db));
            ui.end_row();
            if let Some(d) = &a.denoised {
                let v = &d.variance;
                ui.label("SNR denoised (eq. 20)");
                ui.label(format!("{:.4}", v.snr_denoised));
                ui.label(db(metrics::to_db(v.snr_denoised)));
                ui.end_row();
                ui.label("SNBR (eq. 23)");
                ui.label(format!("{:.4}", v.snbr));
                ui.label(db(metrics::to_db(v.snbr)));
                ui.end_row();
                ui.label("SBR (eq. 23)");
                ui.label(format!("{:.4}", v.sbr));
                ui.label(db(metrics::to_db(v.sbr)));
                ui.end_row();
                ui.label("Topaz even/odd SNR");
                ui.label("");
                ui.label(db(d.topaz_snr_db));
                ui.end_row();
                ui.label(egui::RichText::new(format!("denoiser: {}", d.model)).weak());
                ui.end_row();
            }
        });
    }
}
