//! The analysis panel (key A): rotational power spectra of the raw / denoised / low-pass
//! views, SSNR and FRC of their halves, signal / noise / bias power per frequency (Palovcak
//! et al. 2020 Fig. 3b), the SNR table, and region-based SNR from boxes labelled on the
//! micrograph. Curves export to CSV, the plot to PNG (a screenshot of its rectangle).
//!
//! Frequencies are in 1/Å when the pixel size is known (cycles/px otherwise); hovering a
//! curve shows the resolution in Å. egui_plot has no log axis: log-scaled plots draw log10 of
//! the value and label the axis with powers of ten.

use std::sync::Arc;

use eframe::egui;
use egui::{Color32, Rect, Stroke, Vec2};
use egui_plot::{GridMark, HLine, Legend, Line, Plot, PlotPoints};

use crate::analysis::Analysis;
use crate::ctf::Ctf;
use crate::image::Image;
use crate::metrics::{self, Region, RegionPair};

use crate::gui::viewer::ViewTransform;

/// Which plot the panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Rotational power spectra.
    Spectra,
    /// Spectral SNR of the halves.
    Ssnr,
    /// Signal, noise and bias power per ring.
    SignalNoiseBias,
    /// Fourier ring correlation of the halves.
    Frc,
    /// Region-based SNR.
    Regions,
    /// The 2D power spectrum with CTF zero rings.
    Spectrum2d,
    /// FSC and C_ref of two half-maps.
    HalfMaps,
}

impl Tab {
    const ALL: [Tab; 7] = [
        Tab::Spectrum2d,
        Tab::Spectra,
        Tab::Ssnr,
        Tab::SignalNoiseBias,
        Tab::Frc,
        Tab::Regions,
        Tab::HalfMaps,
    ];

    fn label(self) -> &'static str {
        match self {
            Tab::Spectra => "Power spectra",
            Tab::Ssnr => "SSNR",
            Tab::SignalNoiseBias => "Signal / noise / bias",
            Tab::Frc => "FRC",
            Tab::Regions => "Regions",
            Tab::Spectrum2d => "2D spectrum + CTF",
            Tab::HalfMaps => "Half-map FSC",
        }
    }
}

/// What the panel asks the app to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnalysisAction {
    /// Nothing.
    None,
    /// Start (or restart) the analysis of the open micrograph.
    Run,
    /// Cancel the running analysis.
    Cancel,
    /// Save the curves as CSV.
    ExportCsv,
    /// Save the plot (this screen rectangle) as PNG.
    ExportPng(Rect),
    /// Choose a RELION/CTFFIND file to read this micrograph's CTF from.
    ImportCtf,
    /// Choose two half-maps to compare.
    OpenHalfMaps,
    /// Train a crefDenoiser on the open half-maps (Half-maps tab).
    TrainCref,
    /// Cancel the running crefDenoiser training.
    CancelCref,
    /// Choose the true map for the crefDenoiser evaluation (synthetic half-maps).
    ChooseCrefTruth,
    /// Open the crefDenoiser's denoised average in the volume viewer.
    OpenCrefDenoised,
}

/// Labelled boxes for region-based SNR, in micrograph pixels.
#[derive(Clone, Debug, Default)]
pub struct RegionLabels {
    /// Signal boxes in the order labelled.
    pub signal: Vec<Region>,
    /// Background boxes in the order labelled (paired with signal boxes by order).
    pub background: Vec<Region>,
}

impl RegionLabels {
    /// Pairs (signal i, background i).
    pub fn pairs(&self) -> Vec<RegionPair> {
        self.signal
            .iter()
            .zip(&self.background)
            .map(|(s, b)| RegionPair {
                signal: *s,
                background: *b,
            })
            .collect()
    }
}

/// State of the analysis panel.
pub struct AnalysisPanel {
    /// Whether the panel is shown (key A).
    pub open: bool,
    /// The plot shown.
    pub tab: Tab,
    /// Split counts even when the data are not integer counts × gain.
    pub force_split: bool,
    /// Denoise the halves with the selected model (signal/noise/bias, Topaz SNR).
    pub with_denoiser: bool,
    /// Ring width in Fourier pixels.
    pub ring_width: f32,
    /// The last analysis and the micrograph index it belongs to.
    pub result: Option<(usize, Arc<Analysis>)>,
    /// Why the last analysis failed.
    pub error: Option<String>,
    /// Clicks on the micrograph label regions instead of picking.
    pub labelling: bool,
    /// Side of labelled boxes, pixels.
    pub region_side_px: usize,
    /// The labelled regions of the open micrograph.
    pub regions: RegionLabels,
    /// The CTF whose zeros are drawn over the 2D spectrum (typed in or read from a STAR).
    pub ctf: Ctf,
    /// Draw the CTF rings.
    pub show_ctf: bool,
    /// Number of zero rings drawn.
    pub ctf_rings: usize,
    /// Magnification of the 2D spectrum (1: the edge is Nyquist).
    pub spectrum_zoom: f32,
    /// The FSC of two half-maps (their names), once computed.
    pub half_maps: Option<(String, Arc<crate::halfmap::FscReport>)>,
    /// crefDenoiser training on the open half-maps (Half-maps tab).
    pub cref: CrefPanel,
    /// The 2D spectrum texture and the micrograph index and pixel size it belongs to.
    pub spectrum: Option<(usize, Option<f32>, egui::TextureHandle)>,
    /// With the comparison open: each pane's SSNR and signal / noise / bias curves, drawn
    /// over each other on the SSNR and signal / noise / bias tabs (set by the app).
    pub pane_curves: Option<Arc<Vec<crate::analysis::PaneCurves>>>,
    /// Progress (fraction, message) of the job computing [`AnalysisPanel::pane_curves`].
    pub pane_curves_progress: Option<(f32, String)>,
}

impl Default for AnalysisPanel {
    fn default() -> Self {
        Self {
            open: false,
            tab: Tab::Spectra,
            force_split: false,
            with_denoiser: true,
            ring_width: 4.0,
            result: None,
            error: None,
            labelling: false,
            region_side_px: 64,
            regions: RegionLabels::default(),
            ctf: Ctf {
                defocus_u_angstrom: 15000.0,
                defocus_v_angstrom: 15000.0,
                defocus_angle_degrees: 0.0,
                voltage_kv: 300.0,
                spherical_aberration_mm: 2.7,
                amplitude_contrast: 0.1,
                phase_shift_degrees: 0.0,
            },
            show_ctf: true,
            ctf_rings: 8,
            spectrum_zoom: 2.0,
            half_maps: None,
            cref: CrefPanel::default(),
            spectrum: None,
            pane_curves: None,
            pane_curves_progress: None,
        }
    }
}

/// Colours of the comparison panes' curves, in pane order.
const PANE_COLOURS: [Color32; 6] = [
    Color32::from_rgb(210, 210, 210),
    Color32::from_rgb(255, 170, 60),
    Color32::from_rgb(80, 200, 255),
    Color32::from_rgb(230, 80, 200),
    Color32::from_rgb(120, 220, 110),
    Color32::from_rgb(250, 230, 90),
];

const COLOURS: [Color32; 4] = [
    Color32::from_rgb(200, 200, 200),
    Color32::from_rgb(80, 200, 255),
    Color32::from_rgb(255, 170, 60),
    Color32::from_rgb(230, 80, 200),
];

/// A per-ring variance component: its name and how to read it.
type Component = (&'static str, fn(&metrics::VarianceEstimate) -> f64);

/// Formats log10-scaled axis marks as powers of ten.
fn log_axis(mark: GridMark, _range: &std::ops::RangeInclusive<f64>) -> String {
    let v = mark.value;
    if (v - v.round()).abs() < 1e-9 {
        format!("1e{}", v.round() as i64)
    } else {
        format!("{:.2e}", 10f64.powf(v))
    }
}

fn log10_points(points: impl Iterator<Item = (f64, f64)>) -> Vec<[f64; 2]> {
    points
        .filter(|&(x, y)| x > 0.0 && y > 0.0 && y.is_finite())
        .map(|(x, y)| [x, y.log10()])
        .collect()
}

impl AnalysisPanel {
    /// Draws the panel; `running` is the analysis job's progress (fraction, message), `views`
    /// the raw / denoised / low-pass / merged images for region SNR.
    pub fn show(
        &mut self,
        ui: &mut egui::Ui,
        index: Option<usize>,
        running: Option<(f32, String)>,
        views: [Option<&Image>; 4],
    ) -> AnalysisAction {
        let mut action = AnalysisAction::None;
        ui.horizontal(|ui| {
            ui.heading("Analysis");
            if let Some((f, msg)) = &running {
                ui.add(
                    egui::ProgressBar::new(*f)
                        .desired_width(220.0)
                        .text(msg.clone()),
                );
                if ui.button("Cancel analysis").clicked() {
                    action = AnalysisAction::Cancel;
                }
            } else if ui
                .button("Analyse")
                .on_hover_text("Halves: an even/odd pair beside the micrograph (_EVN/_ODD, _even/_odd), else binomial count splitting")
                .clicked()
            {
                action = AnalysisAction::Run;
            }
            ui.checkbox(&mut self.with_denoiser, "denoise halves")
                .on_hover_text("Signal, noise and bias after denoising with the selected model (Palovcak eq. 15-24) and Topaz's even/odd SNR");
            ui.checkbox(&mut self.force_split, "force count split")
                .on_hover_text("Split data that are not integer counts × gain (rounded): the noise of the halves is then only approximately independent");
            ui.add(
                egui::DragValue::new(&mut self.ring_width)
                    .range(1.0..=32.0)
                    .speed(0.1)
                    .prefix("ring width ")
                    .suffix(" px"),
            );
            ui.separator();
            for t in Tab::ALL {
                ui.selectable_value(&mut self.tab, t, t.label());
            }
            ui.separator();
            let have = self.current(index).is_some();
            if ui
                .add_enabled(have, egui::Button::new("Export CSV…"))
                .clicked()
            {
                action = AnalysisAction::ExportCsv;
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        let result = self.current(index).cloned();
        ui.horizontal_top(|ui| {
            let table_width = 300.0;
            ui.vertical(|ui| {
                ui.set_width(table_width);
                match &result {
                    Some(a) => snr_table(ui, a),
                    None if running.is_none() => {
                        ui.label("Press Analyse to measure the SNR of this micrograph.");
                    }
                    None => {}
                }
            });
            ui.separator();
            let plot_rect = ui.available_rect_before_wrap();
            if self.tab == Tab::HalfMaps {
                let a = self.half_maps_ui(ui);
                if a != AnalysisAction::None {
                    action = a;
                }
            } else if self.tab == Tab::Regions {
                self.regions_ui(ui, views);
            } else if self.tab == Tab::Spectrum2d {
                if self.spectrum_ui(ui, index) {
                    action = AnalysisAction::ImportCtf;
                }
            } else if let Some(a) = &result {
                self.plot(ui, a);
                if ui
                    .ctx()
                    .input(|i| i.modifiers.command && i.key_pressed(egui::Key::P))
                {
                    action = AnalysisAction::ExportPng(plot_rect);
                }
            }
        });
        action
    }

    /// The analysis of micrograph `index`, if it is the last one computed.
    pub fn current(&self, index: Option<usize>) -> Option<&Arc<Analysis>> {
        self.result
            .as_ref()
            .filter(|(i, _)| Some(*i) == index)
            .map(|(_, a)| a)
    }

    fn plot(&self, ui: &mut egui::Ui, a: &Analysis) {
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
            Tab::Regions | Tab::Spectrum2d | Tab::HalfMaps => {}
        });
        if tab == Tab::SignalNoiseBias && a.denoised.is_none() {
            ui.label("Run the analysis with “denoise halves” for these curves.");
        }
    }

    /// The row above an overlay plot: the pane curves' progress, or one label per pane in its
    /// colour ("pane curve N: label"). The curves to draw, when computed.
    fn pane_curves_row(&self, ui: &mut egui::Ui) -> Option<Arc<Vec<crate::analysis::PaneCurves>>> {
        if let Some((f, msg)) = &self.pane_curves_progress {
            ui.add(
                egui::ProgressBar::new(*f)
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

    /// The 2D spectrum with CTF rings and the CTF fields; true when “From file…” is pressed.
    fn spectrum_ui(&mut self, ui: &mut egui::Ui, index: Option<usize>) -> bool {
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

    /// FSC and C_ref of two half-maps with the 0.143 and 0.5 crossings, and the
    /// crefDenoiser controls and curves; the action a button asked for.
    fn half_maps_ui(&mut self, ui: &mut egui::Ui) -> AnalysisAction {
        let mut action = AnalysisAction::None;
        ui.vertical(|ui| {
            if ui
                .button("Open half-maps…")
                .on_hover_text(
                    "Two half-maps (MRC) of one reconstruction: FSC, C_ref = sqrt(2 FSC/(1+FSC))",
                )
                .clicked()
            {
                action = AnalysisAction::OpenHalfMaps;
            }
            let Some((names, report)) = &self.half_maps else {
                ui.label("No half-maps open.");
                return;
            };
            let unit = match report.curve.unit {
                metrics::FrequencyUnit::PerAngstrom => "Å",
                metrics::FrequencyUnit::PerPixel => "voxels",
            };
            let crossing = |c: &Option<crate::metrics::fsc::FscCrossing>| {
                c.as_ref().map_or_else(
                    || "not crossed".into(),
                    |c| format!("{:.2} {unit}", c.resolution),
                )
            };
            ui.label(format!(
                "{names}: FSC = 0.143 at {}, FSC = 0.5 at {}",
                crossing(&report.at_0143),
                crossing(&report.at_05)
            ));
            let a = self.cref.controls_ui(ui, unit);
            if a != AnalysisAction::None {
                action = a;
            }
            let points = |c: &crate::metrics::RingCurve<crate::metrics::fsc::FscShell>,
                          v: fn(&crate::metrics::fsc::FscShell) -> f64|
             -> Vec<[f64; 2]> {
                c.rings.iter().map(|r| [r.frequency, v(&r.value)]).collect()
            };
            let fsc = points(&report.curve, |v| v.fsc);
            let cref = points(&report.curve, |v| v.c_ref);
            let result = self.cref.result.clone();
            let height = ui.available_height().max(150.0);
            let has_loss = !self.cref.live_epochs.is_empty();
            ui.horizontal_top(|ui| {
                let plot_width = if has_loss {
                    ui.available_width() * 0.68
                } else {
                    ui.available_width()
                };
                Plot::new("half-map fsc")
                    .legend(Legend::default())
                    .x_axis_label(format!("spatial frequency (1/{unit})"))
                    .y_axis_label("correlation")
                    .height(height)
                    .width(plot_width)
                    .show(ui, |pui| {
                        pui.line(
                            Line::new("FSC(half 1, half 2)", PlotPoints::from(fsc))
                                .color(COLOURS[1]),
                        );
                        pui.line(Line::new("C_ref", PlotPoints::from(cref)).color(COLOURS[2]));
                        if let Some(r) = &result {
                            let e = &r.evaluation;
                            pui.line(
                                Line::new(
                                    "FSC_FD (input vs output)",
                                    PlotPoints::from(points(&e.fsc_fd_curve, |v| v.fsc)),
                                )
                                .color(COLOURS[3]),
                            );
                            if let Some(c) = &e.average_vs_truth_curve {
                                pui.line(
                                    Line::new(
                                        "FSC(average, truth)",
                                        PlotPoints::from(points(c, |v| v.fsc)),
                                    )
                                    .color(COLOURS[0]),
                                );
                            }
                            if let Some(c) = &e.denoised_vs_truth_curve {
                                pui.line(
                                    Line::new(
                                        "FSC(denoised, truth)",
                                        PlotPoints::from(points(c, |v| v.fsc)),
                                    )
                                    .color(Color32::from_rgb(120, 230, 120)),
                                );
                            }
                        }
                        pui.hline(HLine::new("0.143", 0.143).color(Color32::GRAY));
                        pui.hline(HLine::new("0.5", 0.5).color(Color32::DARK_GRAY));
                    });
                if has_loss {
                    let loss: Vec<[f64; 2]> = self
                        .cref
                        .live_epochs
                        .iter()
                        .map(|e| [e.epoch as f64, e.loss])
                        .collect();
                    let check: Vec<[f64; 2]> = self
                        .cref
                        .live_epochs
                        .iter()
                        .map(|e| [e.epoch as f64, e.validation])
                        .collect();
                    let identity = self.cref.live_epochs[0].validation_identity;
                    Plot::new("cref loss")
                        .legend(Legend::default())
                        .x_axis_label("epoch")
                        .height(height)
                        .show(ui, |pui| {
                            pui.line(Line::new("L_C", PlotPoints::from(loss)).color(COLOURS[2]));
                            pui.line(
                                Line::new("independent-noise FSC", PlotPoints::from(check))
                                    .color(COLOURS[1]),
                            );
                            pui.hline(HLine::new("input's FSC", identity).color(Color32::GRAY));
                        });
                }
            });
        });
        action
    }

    fn regions_ui(&mut self, ui: &mut egui::Ui, views: [Option<&Image>; 4]) {
        ui.vertical(|ui| {
            ui.horizontal(|ui| {
                ui.checkbox(&mut self.labelling, "Label regions")
                    .on_hover_text("While on, a click on the micrograph places a signal box, a right click a background box (R)");
                ui.add(
                    egui::DragValue::new(&mut self.region_side_px)
                        .range(4..=1024)
                        .prefix("box ")
                        .suffix(" px"),
                );
                if ui.button("Clear regions").clicked() {
                    self.regions = RegionLabels::default();
                }
            });
            let pairs = self.regions.pairs();
            ui.label(format!(
                "{} signal, {} background boxes: {} pairs (paired in labelling order)",
                self.regions.signal.len(),
                self.regions.background.len(),
                pairs.len()
            ));
            if pairs.is_empty() {
                return;
            }
            egui::Grid::new("region snr").striped(true).show(ui, |ui| {
                ui.strong("view");
                ui.strong("Topaz SNR (dB)");
                ui.strong("NT2C SNR (dB)");
                ui.end_row();
                for (name, view) in ["raw", "denoised", "low-pass", "merged"].iter().zip(views) {
                    let Some(img) = view else { continue };
                    ui.label(*name);
                    for r in [
                        metrics::region_snr_topaz(img, &pairs),
                        metrics::region_snr_nt2c(img, &pairs),
                    ] {
                        ui.label(match r {
                            Ok(s) => format!("{:.2}", s.snr_db),
                            Err(e) => format!("{e}"),
                        });
                    }
                    ui.end_row();
                }
            });
        });
    }

    /// Adds a region at a clicked micrograph pixel: signal (primary) or background.
    pub fn label_at(&mut self, x: f64, y: f64, background: bool, size: (usize, usize)) {
        let side = self.region_side_px.min(size.0).min(size.1).max(1);
        let clamp = |c: f64, n: usize| {
            ((c - side as f64 / 2.0).round().max(0.0) as usize).min(n.saturating_sub(side))
        };
        let r = Region {
            x: clamp(x, size.0),
            y: clamp(y, size.1),
            width: side,
            height: side,
        };
        if background {
            self.regions.background.push(r);
        } else {
            self.regions.signal.push(r);
        }
    }

    /// Draws the labelled regions over the viewer.
    pub fn draw_regions(&self, painter: &egui::Painter, viewport: Rect, transform: &ViewTransform) {
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
        for (i, r) in self.regions.signal.iter().enumerate() {
            draw(r, Color32::from_rgb(80, 220, 120), format!("S{}", i + 1));
        }
        for (i, r) in self.regions.background.iter().enumerate() {
            draw(r, Color32::from_rgb(255, 90, 90), format!("B{}", i + 1));
        }
    }
}

/// Every comparison pane's curves on one plot: SSNR of its halves, or its noise (dashed) and
/// bias (solid) power per ring over the common signal and raw noise.
fn pane_lines(pui: &mut egui_plot::PlotUi<'_>, tab: Tab, panes: &[crate::analysis::PaneCurves]) {
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

fn db(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |d| format!("{d:.2} dB"))
}

/// The SNR table: raw SNR (Frank & Al-Ali), and with a denoiser SNR after, SNBR, SBR (eq.
/// 19, 20, 23) and Topaz's even/odd SNR.
fn snr_table(ui: &mut egui::Ui, a: &Analysis) {
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

/// The crefDenoiser part of the Half-maps tab: options, live progress and the result.
pub struct CrefPanel {
    /// The open half-maps (set with the FSC).
    pub maps: Option<Arc<crate::halfmap::HalfMaps>>,
    /// A true map for the evaluation (synthetic half-maps), and its file name.
    pub truth: Option<(String, Arc<crate::image::Volume>)>,
    /// Maximum epochs.
    pub epochs: usize,
    /// Patch edge (voxels, a multiple of 32).
    pub patch_px: usize,
    /// Random patches per epoch.
    pub patches_per_epoch: usize,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// While training: fraction done and the progress message.
    pub running: Option<(f32, String)>,
    /// Epochs finished so far (live curves; kept after the run).
    pub live_epochs: Vec<crate::train::cref::CrefEpoch>,
    /// The last finished run.
    pub result: Option<Arc<CrefResult>>,
    /// Why the last run failed.
    pub error: Option<String>,
}

/// A finished crefDenoiser run as the Half-maps tab shows it.
pub struct CrefResult {
    /// The denoised half-map average, `[z][y][x]`.
    pub denoised: Arc<crate::image::Volume>,
    /// The denoised map as an MRC in the temporary folder (written by the training job), or
    /// why it could not be written.
    pub denoised_file: Result<std::path::PathBuf, String>,
    /// The paper's evaluation with the curves.
    pub evaluation: crate::train::cref::CrefEvaluation,
    /// Epoch kept, epochs run.
    pub best_epoch: usize,
    /// Epochs run.
    pub epochs_run: usize,
    /// L_C on the monitor patches: untrained, kept network.
    pub loss: (f64, f64),
}

impl Default for CrefPanel {
    fn default() -> Self {
        Self {
            maps: None,
            truth: None,
            epochs: 10,
            patch_px: 32,
            patches_per_epoch: 16,
            learning_rate: 1e-3,
            running: None,
            live_epochs: Vec::new(),
            result: None,
            error: None,
        }
    }
}

impl CrefPanel {
    /// Options, the Train / Cancel / Open buttons, progress and the evaluation numbers.
    fn controls_ui(&mut self, ui: &mut egui::Ui, unit: &str) -> AnalysisAction {
        let mut action = AnalysisAction::None;
        ui.horizontal_wrapped(|ui| {
            ui.strong("crefDenoiser");
            ui.add(
                egui::DragValue::new(&mut self.epochs)
                    .range(1..=500)
                    .prefix("epochs "),
            );
            ui.add(
                egui::DragValue::new(&mut self.patch_px)
                    .range(32..=256)
                    .speed(32.0)
                    .prefix("patch ")
                    .suffix(" vx"),
            )
            .on_hover_text("Patch edge in voxels, a multiple of 32 (the paper: 96)");
            self.patch_px = (self.patch_px / 32).max(1) * 32;
            ui.add(
                egui::DragValue::new(&mut self.patches_per_epoch)
                    .range(1..=10_000)
                    .prefix("patches/epoch "),
            );
            ui.add(
                egui::DragValue::new(&mut self.learning_rate)
                    .range(1e-6..=1e-1)
                    .speed(1e-4)
                    .prefix("lr "),
            );
            if ui
                .button(match &self.truth {
                    Some((n, _)) => format!("Truth: {n}"),
                    None => "Truth map…".into(),
                })
                .on_hover_text("Optional true map (synthetic half-maps): FSC against it")
                .clicked()
            {
                action = AnalysisAction::ChooseCrefTruth;
            }
            if self.running.is_some() {
                if ui.button("Cancel training").clicked() {
                    action = AnalysisAction::CancelCref;
                }
            } else if ui
                .add_enabled(self.maps.is_some(), egui::Button::new("Train crefDenoiser"))
                .on_hover_text(
                    "Self-supervised training on these half-maps with the C_ref loss (Agarwal et al. 2024)",
                )
                .clicked()
            {
                action = AnalysisAction::TrainCref;
            }
            if ui
                .add_enabled(self.result.is_some(), egui::Button::new("Open denoised map"))
                .clicked()
            {
                action = AnalysisAction::OpenCrefDenoised;
            }
        });
        if let Some((fraction, message)) = &self.running {
            ui.add(
                egui::ProgressBar::new(*fraction)
                    .show_percentage()
                    .text(message.clone()),
            );
        }
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        if let Some(r) = &self.result {
            let e = &r.evaluation;
            let res = |v: Option<f64>| v.map_or_else(|| "n/a".into(), |v| format!("{v:.2} {unit}"));
            ui.label(format!(
                "kept epoch {} of {}; L_C {:.4} -> {:.4}; RMSE(FSC_FD^2, C_ref^2) {:.4} (input) -> {:.4} (denoised)",
                r.best_epoch, r.epochs_run, r.loss.0, r.loss.1, e.rmse_identity, e.rmse_denoised
            ));
            ui.label(format!(
                "FSC-0.5: {} (M1, M2) -> {} (D2, M1)",
                res(e.fsc05_halves),
                res(e.fsc05_denoised_half)
            ));
            if let (Some(a), Some(d)) = (e.mean_fsc_average_vs_truth, e.mean_fsc_denoised_vs_truth)
            {
                ui.label(format!(
                    "against the truth: FSC-0.5 {} -> {}, mean FSC {a:.4} -> {d:.4}",
                    res(e.fsc05_average_vs_truth),
                    res(e.fsc05_denoised_vs_truth)
                ));
            }
        }
        action
    }
}
