//! The Dose titration tab (Topaz-Denoise Results 3, Fig. 3): SNR of the raw, low-passed and
//! denoised micrograph against exposure in e/Å², the lower exposures made by binomial
//! thinning of the open counting-mode micrograph ([`crate::analysis::titration`]).

use std::sync::Arc;

use eframe::egui;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use crate::analysis::{Titration, parse_fractions};
use crate::jobs::Job;

use crate::gui::job_slot::JobSlot;
use crate::gui::panels::cref::COLOURS;

/// State of the Dose titration tab: the fractions typed in, the job and its result.
pub struct TitrationTab {
    /// Fractions of the exposure, comma-separated (each in (0, 0.5]).
    pub fractions: String,
    /// The last titration and the micrograph index it belongs to.
    result: Option<(usize, Arc<Titration>)>,
    /// Why the last titration failed (or the fractions do not parse).
    error: Option<String>,
    /// The titration of micrograph (index).
    job: JobSlot<usize, Titration>,
}

impl Default for TitrationTab {
    fn default() -> Self {
        Self {
            fractions: "0.05,0.1,0.175,0.25,0.375,0.5".into(),
            result: None,
            error: None,
            job: JobSlot::default(),
        }
    }
}

impl TitrationTab {
    /// Runs `job`, the titration of micrograph `index` (cancelling the one before).
    pub fn start(&mut self, index: usize, job: Job<Titration>) {
        self.error = None;
        self.job.start(index, job);
    }

    /// The fractions typed in, or why they do not parse (also shown in the tab).
    pub fn parsed_fractions(&mut self) -> Option<Vec<f64>> {
        match parse_fractions(&self.fractions) {
            Ok(f) => Some(f),
            Err(e) => {
                self.error = Some(format!("{e:#}"));
                None
            }
        }
    }

    /// True while a titration runs.
    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// Takes a finished titration.
    pub fn poll(&mut self) {
        if let Some((index, result)) = self.job.poll() {
            match result {
                Ok(t) => self.result = Some((index, Arc::new(t))),
                Err(e) => self.error = Some(format!("Dose titration failed: {e:#}")),
            }
        }
    }

    /// The titration of micrograph `index`, if it is the last one computed.
    pub fn current(&self, index: Option<usize>) -> Option<&Arc<Titration>> {
        self.result
            .as_ref()
            .filter(|(i, _)| Some(*i) == index)
            .map(|(_, t)| t)
    }

    /// Draws the tab; true when the user asks for a titration.
    pub fn show(&mut self, ui: &mut egui::Ui, index: Option<usize>) -> bool {
        let mut run = false;
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                ui.label("fractions of the exposure");
                ui.add(
                    egui::TextEdit::singleline(&mut self.fractions)
                        .desired_width(220.0),
                )
                .on_hover_text("Each in (0, 0.5]: two disjoint binomially thinned copies of the counts per fraction (independent noise, same signal)");
                if let Some((f, msg)) = self.job.fraction_and_message() {
                    ui.add(egui::ProgressBar::new(f).desired_width(200.0).text(msg));
                    if ui.button("Cancel titration").clicked() {
                        self.job.cancel();
                    }
                } else if ui
                    .button("Titrate")
                    .on_hover_text("Thin the open counting-mode micrograph and measure the SNR of raw, low-passed and (with 'denoise halves') denoised copies")
                    .clicked()
                {
                    run = true;
                }
            });
            if let Some(e) = &self.error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            if let Some(t) = self.current(index).cloned() {
                plot(ui, &t);
            } else if !self.job.is_running() {
                ui.label("Titrate to see the SNR against exposure (Topaz-Denoise Fig. 3).");
            }
        });
        run
    }
}

/// SNR (dB) against exposure (e/Å², or the fraction when the pixel size is unknown).
fn plot(ui: &mut egui::Ui, t: &Titration) {
    ui.label(format!(
        "full exposure {} ({:.2} e/px, gain {:.3}); low-pass {}; SNR of one thinned copy, raw and low-pass from the two copies' correlation, denoised by Topaz's even/odd SNR",
        t.full_exposure
            .map_or_else(|| "unknown (no pixel size)".to_string(), |e| format!("{e:.1} e/Å²")),
        t.mean_count,
        t.gain,
        t.lowpass.describe()
    ));
    let known = t.full_exposure.is_some();
    let x = |p: &crate::analysis::TitrationPoint| p.exposure.unwrap_or(p.fraction);
    let series: [(String, Vec<[f64; 2]>); 3] = [
        (
            "raw".into(),
            t.points
                .iter()
                .filter_map(|p| p.raw.snr_db.map(|d| [x(p), d]))
                .collect(),
        ),
        (
            format!("low-pass ({})", t.lowpass.describe()),
            t.points
                .iter()
                .filter_map(|p| p.lowpass.snr_db.map(|d| [x(p), d]))
                .collect(),
        ),
        (
            format!("denoised ({})", t.model.as_deref().unwrap_or("none")),
            t.points
                .iter()
                .filter_map(|p| p.denoised_db.map(|d| [x(p), d]))
                .collect(),
        ),
    ];
    Plot::new("dose titration")
        .legend(Legend::default())
        .x_axis_label(if known {
            "exposure (e/Å²)"
        } else {
            "fraction of the exposure"
        })
        .y_axis_label("SNR (dB)")
        .height(ui.available_height().max(150.0))
        .show(ui, |pui| {
            for (i, (name, pts)) in series.into_iter().enumerate() {
                if pts.is_empty() {
                    continue;
                }
                pui.line(Line::new(name.clone(), PlotPoints::from(pts.clone())).color(COLOURS[i]));
                pui.points(
                    Points::new(name, PlotPoints::from(pts))
                        .radius(3.0)
                        .color(COLOURS[i]),
                );
            }
        });
}
