//! The Half-maps tab of the analysis panel: the FSC of two half-maps, and training a
//! crefDenoiser on them (options, live progress, the result's curves) or applying a saved one
//! (e.g. the imported general model) to their average.

use std::sync::Arc;

use eframe::egui;
use egui::Color32;
use egui_plot::{HLine, Legend, Line, Plot, PlotPoints};

use crate::device::ComputeDevice;
use crate::jobs::Job;
use crate::metrics;

use crate::gui::dialogs::{Dialog, MAPS};
use crate::gui::job_slot::JobSlot;
use crate::gui::loading::{CrefEpochs, HalfMapFsc, cref_run_number, half_map_fsc, read_truth_map};

/// Curve colours shared by the analysis plots and the Half-maps tab.
pub const COLOURS: [Color32; 4] = [
    Color32::from_rgb(200, 200, 200),
    Color32::from_rgb(80, 200, 255),
    Color32::from_rgb(255, 170, 60),
    Color32::from_rgb(230, 80, 200),
];

/// What a button of the Half-maps tab asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrefAction {
    /// Nothing.
    None,
    /// Choose two half-maps and compute their FSC.
    OpenHalfMaps,
    /// Train a crefDenoiser on the open half-maps.
    TrainCref,
    /// Cancel the crefDenoiser training.
    CancelCref,
    /// Choose the true map of the evaluation.
    ChooseCrefTruth,
    /// Open the crefDenoiser's denoised average in the volume viewer.
    OpenCrefDenoised,
    /// Apply the saved crefDenoiser named in the tab to the open half-maps (no training).
    ApplyCrefModel,
}

/// The crefDenoiser part of the Half-maps tab: options, live progress and the result. It owns
/// its jobs (computing the FSC of two half-maps, reading a true map, training); the app polls
/// it once per frame ([`CrefPanel::poll`]).
pub struct CrefPanel {
    /// The FSC of two half-maps (their names), once computed.
    half_maps: Option<(String, Arc<crate::analysis::halfmap::FscReport>)>,
    /// The open half-maps (set with the FSC).
    maps: Option<Arc<crate::analysis::halfmap::HalfMaps>>,
    /// A true map for the evaluation (synthetic half-maps), and its file name.
    truth: Option<(String, Arc<crate::image::Volume>)>,
    /// Maximum epochs.
    pub epochs: usize,
    /// Patch edge (voxels, a multiple of 32).
    pub patch_px: usize,
    /// Random patches per epoch.
    pub patches_per_epoch: usize,
    /// Patches per optimiser step.
    pub batch_size: usize,
    /// Initial learning rate.
    pub learning_rate: f64,
    /// The saved crefDenoiser "Apply model" uses (a name or a `.safetensors` path).
    pub model_name: String,
    /// While training: fraction done and the progress message.
    running: Option<(f32, String)>,
    /// Epochs finished so far (live curves; kept after the run).
    live_epochs: Vec<crate::train::cref::CrefEpoch>,
    /// The last finished run.
    result: Option<Arc<CrefResult>>,
    /// Why the last run failed.
    error: Option<String>,
    /// Choosing two half-maps and computing their FSC.
    fsc_job: JobSlot<(), Option<HalfMapFsc>>,
    /// Training a crefDenoiser on the open half-maps (keyed by its epochs so far).
    train_job: JobSlot<CrefEpochs, CrefResult>,
    /// Choosing and reading the true map for the evaluation.
    truth_job: JobSlot<(), Option<(String, crate::image::Volume)>>,
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
    /// The saved model applied (no training), if that is what ran.
    pub applied_model: Option<String>,
}

/// Writes a denoised map as an MRC in the temporary folder (on the worker, so that opening it
/// in the viewer later costs the UI thread nothing); a failure is kept for that moment.
fn write_temp_denoised(v: &crate::image::Volume) -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("cryolens-cref-{}", std::process::id()));
    let file = dir.join(format!("cref-denoised-{}.mrc", cref_run_number()));
    std::fs::create_dir_all(&dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(crate::io::mrc::write_volume(&file, v)?))
        .map(|()| file)
        .map_err(|e| format!("{e:#}"))
}

/// The tab starts with the CPU preset ([`crate::train::cref::CrefTrainConfig::quick`]).
impl Default for CrefPanel {
    fn default() -> Self {
        let quick = crate::train::cref::CrefTrainConfig::quick();
        Self {
            half_maps: None,
            maps: None,
            truth: None,
            epochs: quick.epochs,
            patch_px: quick.patch_px,
            patches_per_epoch: quick.patches_per_epoch,
            batch_size: quick.batch_size,
            learning_rate: quick.learning_rate,
            model_name: crate::models::format::cref_tf::CREF_GENERAL_MODEL.into(),
            running: None,
            live_epochs: Vec::new(),
            result: None,
            error: None,
            fsc_job: JobSlot::default(),
            train_job: JobSlot::default(),
            truth_job: JobSlot::default(),
        }
    }
}

impl CrefPanel {
    /// Shows the FSC of two half-maps (names for display, report, maps) and keeps the maps
    /// for training.
    pub fn set_half_maps(&mut self, (names, report, maps): HalfMapFsc) {
        self.half_maps = Some((names, Arc::new(report)));
        self.maps = Some(Arc::new(maps));
    }

    /// Sets the true map of the evaluation (its file name for display).
    pub fn set_truth(&mut self, name: String, map: crate::image::Volume) {
        self.truth = Some((name, Arc::new(map)));
    }

    /// The FSC report of the open half-maps, once computed.
    pub fn fsc(&self) -> Option<&crate::analysis::halfmap::FscReport> {
        self.half_maps.as_ref().map(|(_, r)| &**r)
    }

    /// The last finished run.
    pub fn result(&self) -> Option<&Arc<CrefResult>> {
        self.result.as_ref()
    }

    /// Whether a crefDenoiser training runs.
    pub fn is_training(&self) -> bool {
        self.train_job.is_running()
    }

    /// Whether any of the panel's jobs runs.
    pub fn is_busy(&self) -> bool {
        self.fsc_job.is_running() || self.train_job.is_running() || self.truth_job.is_running()
    }

    /// Opens the dialog for two half-maps and computes their FSC (a background job).
    pub fn choose_half_maps(&mut self) {
        let dialog = Dialog::new("Choose the two half-maps").filter(MAPS.0, MAPS.1);
        let job = Job::spawn("half-maps", move |p| match dialog.pick_files().as_slice() {
            [a, b] => half_map_fsc(a, b, p).map(Some),
            [] => Ok(None),
            _ => anyhow::bail!("choose exactly two half-maps"),
        });
        self.fsc_job.start((), job);
    }

    /// Opens the dialog for the true map and reads it (a background job).
    pub fn choose_truth(&mut self) {
        let dialog = Dialog::new("Choose the true map").filter(MAPS.0, MAPS.1);
        let job = dialog.file_then("truth map", |f, _| read_truth_map(f));
        self.truth_job.start((), job);
    }

    /// Asks the running training to stop (its result still comes).
    pub fn cancel_training(&self) {
        self.train_job.request_cancel();
    }

    /// Starts training a crefDenoiser on the open half-maps with the tab's options on
    /// `device` (a background job; the tab shows progress, live loss and, at the end, the
    /// curves). `device` is asked only when a run starts.
    pub fn start_training(&mut self, device: impl FnOnce() -> ComputeDevice) {
        let Some(maps) = self.maps.clone() else {
            self.error = Some("Open two half-maps first".into());
            return;
        };
        if self.train_job.is_running() {
            return;
        }
        let cfg = crate::train::cref::CrefTrainConfig {
            epochs: self.epochs,
            patch_px: self.patch_px,
            patches_per_epoch: self.patches_per_epoch,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            device: device(),
            ..Default::default()
        };
        let truth = self.truth.as_ref().map(|(_, v)| Arc::clone(v));
        self.error = None;
        self.live_epochs.clear();
        self.running = Some((0.0, "crefDenoiser: starting".into()));
        let epochs: CrefEpochs = Arc::default();
        let shared = Arc::clone(&epochs);
        let job = Job::spawn("crefDenoiser", move |p| {
            use crate::train::cref::{evaluate_cref, train_cref_observed};
            let out = train_cref_observed(
                &maps.half1,
                &maps.half2,
                maps.mask.as_ref(),
                &cfg,
                p,
                &mut |e| {
                    if let Ok(mut v) = shared.lock() {
                        v.push(*e);
                    }
                },
            )?;
            let evaluation = evaluate_cref(
                &maps,
                &out.denoised,
                &out.denoised_half2,
                truth.as_deref(),
                cfg.shell_width,
            )?;
            p.set_message("writing the denoised map");
            Ok(CrefResult {
                denoised_file: write_temp_denoised(&out.denoised),
                denoised: Arc::new(out.denoised),
                evaluation,
                best_epoch: out.best_epoch,
                epochs_run: out.loss_history.len(),
                loss: (out.initial_loss, out.final_loss),
                applied_model: None,
            })
        });
        self.train_job.start(epochs, job);
    }

    /// Applies the saved crefDenoiser [`Self::model_name`] to the open half-maps on `device`
    /// (a background job in the training's slot: it replaces a running training); the result
    /// shows as a training's does, with the paper's evaluation.
    pub fn start_apply(&mut self, device: impl FnOnce() -> ComputeDevice) {
        let Some(maps) = self.maps.clone() else {
            self.error = Some("Open two half-maps first".into());
            return;
        };
        let name = self.model_name.trim().to_string();
        let truth = self.truth.as_ref().map(|(_, v)| Arc::clone(v));
        let device = device();
        self.error = None;
        self.live_epochs.clear();
        self.running = Some((0.0, format!("crefDenoiser: applying {name}")));
        let job = Job::spawn("crefDenoiser", move |p| {
            p.start(3, format!("crefDenoiser: applying {name}"));
            let dev = crate::train::training_device(&device).without_autodiff();
            let (model, _) = crate::models::format::load_cref_model(&name, &dev)?;
            p.step();
            let (denoised, half2) = crate::train::cref::apply_cref(&model, &maps, false)?;
            p.step();
            let evaluation =
                crate::train::cref::evaluate_cref(&maps, &denoised, &half2, truth.as_deref(), 1.0)?;
            p.step();
            Ok(CrefResult {
                denoised_file: write_temp_denoised(&denoised),
                denoised: Arc::new(denoised),
                evaluation,
                best_epoch: 0,
                epochs_run: 0,
                loss: (f64::NAN, f64::NAN),
                applied_model: Some(name),
            })
        });
        self.train_job.start(Arc::default(), job);
    }

    /// Polls the panel's jobs: the half-maps' FSC, the true map, the training's progress,
    /// live epochs and result. Returns an error for the app's error line (the FSC failed).
    pub fn poll(&mut self) -> Option<String> {
        let mut app_error = None;
        if let Some(((), result)) = self.fsc_job.poll() {
            match result {
                Ok(Some(fsc)) => self.set_half_maps(fsc),
                Ok(None) => {}
                Err(e) => app_error = Some(format!("Half-map FSC failed: {e:#}")),
            }
        }
        if let Some(((), result)) = self.truth_job.poll() {
            match result {
                Ok(Some((name, v))) => self.set_truth(name, v),
                Ok(None) => {}
                Err(e) => self.error = Some(format!("Reading the truth failed: {e:#}")),
            }
        }
        let Some(running) = self.train_job.fraction_and_message() else {
            return app_error;
        };
        if let Some(epochs) = self.train_job.key()
            && let Ok(v) = epochs.lock()
        {
            self.live_epochs.clone_from(&v);
        }
        self.running = Some(running);
        if let Some((_, result)) = self.train_job.poll() {
            self.running = None;
            match result {
                Ok(r) => self.result = Some(Arc::new(r)),
                Err(e) => self.error = Some(format!("crefDenoiser training failed: {e:#}")),
            }
        }
        app_error
    }
}

impl CrefPanel {
    /// Options, the Train / Cancel / Open buttons, progress and the evaluation numbers.
    fn controls_ui(&mut self, ui: &mut egui::Ui, unit: &str) -> CrefAction {
        let mut action = CrefAction::None;
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
                egui::DragValue::new(&mut self.batch_size)
                    .range(1..=64)
                    .prefix("batch "),
            )
            .on_hover_text("Patches per optimiser step (the paper: 6)");
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
                action = CrefAction::ChooseCrefTruth;
            }
            if self.running.is_some() {
                if ui.button("Cancel training").clicked() {
                    action = CrefAction::CancelCref;
                }
            } else if ui
                .add_enabled(self.maps.is_some(), egui::Button::new("Train crefDenoiser"))
                .on_hover_text(
                    "Self-supervised training on these half-maps with the C_ref loss (Agarwal et al. 2024)",
                )
                .clicked()
            {
                action = CrefAction::TrainCref;
            }
            ui.add(egui::TextEdit::singleline(&mut self.model_name).desired_width(110.0))
                .on_hover_text("Saved crefDenoiser to apply: a name (e.g. the imported cref-general) or a .safetensors path");
            if ui
                .add_enabled(
                    self.maps.is_some() && self.running.is_none(),
                    egui::Button::new("Apply model"),
                )
                .on_hover_text("Denoise the half-map average with this saved model, no training")
                .clicked()
            {
                action = CrefAction::ApplyCrefModel;
            }
            if ui
                .add_enabled(self.result.is_some(), egui::Button::new("Open denoised map"))
                .clicked()
            {
                action = CrefAction::OpenCrefDenoised;
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
            let res = |t: crate::metrics::fsc::FscThreshold| match (t.resolution(), t) {
                (Some(v), _) => format!("{v:.2} {unit}"),
                (None, crate::metrics::fsc::FscThreshold::NotReached) => "beyond Nyquist".into(),
                (None, _) => "none (no signal)".into(),
            };
            let run = match &r.applied_model {
                Some(m) => format!("applied {m}"),
                None => format!(
                    "kept epoch {} of {}; L_C {:.4} -> {:.4}",
                    r.best_epoch, r.epochs_run, r.loss.0, r.loss.1
                ),
            };
            ui.label(format!(
                "{run}; RMSE(FSC_FD^2, C_ref^2) {:.4} (input) -> {:.4} (denoised)",
                e.rmse_identity, e.rmse_denoised
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

impl CrefPanel {
    /// FSC and C_ref of two half-maps with the 0.143 and 0.5 crossings, and the
    /// crefDenoiser controls and curves; the action a button asked for.
    pub fn show(&mut self, ui: &mut egui::Ui) -> CrefAction {
        let mut action = CrefAction::None;
        ui.vertical(|ui| {
            if ui
                .button("Open half-maps…")
                .on_hover_text(
                    "Two half-maps (MRC) of one reconstruction: FSC, C_ref = sqrt(2 FSC/(1+FSC))",
                )
                .clicked()
            {
                action = CrefAction::OpenHalfMaps;
            }
            let Some((names, report)) = self.half_maps.clone() else {
                ui.label("No half-maps open.");
                return;
            };
            let unit = match report.curve.unit {
                metrics::FrequencyUnit::PerAngstrom => "Å",
                metrics::FrequencyUnit::PerPixel => "voxels",
            };
            let crossing = |c: &crate::metrics::fsc::FscThreshold| match c.crossing() {
                Some(c) => format!("{:.2} {unit}", c.resolution),
                None => match c {
                    crate::metrics::fsc::FscThreshold::NoSignal => "none (no signal)".to_string(),
                    _ => "not crossed".to_string(),
                },
            };
            ui.label(format!(
                "{names}: FSC = 0.143 at {}, FSC = 0.5 at {}",
                crossing(&report.at_0143),
                crossing(&report.at_05)
            ));
            let a = self.controls_ui(ui, unit);
            if a != CrefAction::None {
                action = a;
            }
            let points = |c: &crate::metrics::RingCurve<crate::metrics::fsc::FscShell>,
                          v: fn(&crate::metrics::fsc::FscShell) -> f64|
             -> Vec<[f64; 2]> {
                c.rings.iter().map(|r| [r.frequency, v(&r.value)]).collect()
            };
            let fsc = points(&report.curve, |v| v.fsc);
            let cref = points(&report.curve, |v| v.c_ref);
            let result = self.result.clone();
            let height = ui.available_height().max(150.0);
            let has_loss = !self.live_epochs.is_empty();
            ui.horizontal_top(|ui| {
                let shells_width = ui.available_width() * 0.34;
                let plot_width = if has_loss {
                    (ui.available_width() - shells_width) * 0.68
                } else {
                    ui.available_width() - shells_width
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
                super::halfmap_shells::shells_ui(ui, &report, unit, shells_width - 8.0, height);
                if has_loss {
                    let loss: Vec<[f64; 2]> = self
                        .live_epochs
                        .iter()
                        .map(|e| [e.epoch as f64, e.loss])
                        .collect();
                    let check: Vec<[f64; 2]> = self
                        .live_epochs
                        .iter()
                        .map(|e| [e.epoch as f64, e.validation])
                        .collect();
                    let identity = self.live_epochs[0].validation_identity;
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
}
