//! The training panel (key T): noise2noise training of a Topaz architecture or of restore's
//! WDSR U-net (`wdsr`, with restore's preprocessing and defaults) on the session's
//! micrographs (even/odd pairs found beside them, else count-split halves), started, paused,
//! cancelled, resumed and finished from the GUI, with live loss curves, a preview of a held-out
//! region denoised by the current weights, throughput and ETA. The finished model joins the
//! model list at once. Training runs on its own thread (`crate::train::start`); the panel only
//! polls its shared state.

use std::path::PathBuf;

use eframe::egui;
use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::train::loss::LossKind;
use crate::train::{MetricPoint, OptimizerKind, TrainConfig, TrainEnd, TrainHandle, TrainPhase};

/// What the panel asks the app to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainingAction {
    /// Nothing.
    None,
    /// Start a new run (or resume the checkpoint of the named model when `true`).
    Start {
        /// Continue from the checkpoint.
        resume: bool,
    },
    /// Open the NT2C window (the other method: simulated pairs and noise transfer).
    Nt2c,
}

/// State of the training panel.
pub struct TrainingPanel {
    /// Whether the panel is shown.
    pub open: bool,
    /// The configuration of the next run.
    pub config: TrainConfig,
    /// Name of the model to write (in the trained-models folder).
    pub name: String,
    /// Split counts of non-count data (rounded).
    pub force_split: bool,
    /// The running (or last) run.
    handle: Option<TrainHandle>,
    /// Loss history of the run.
    history: Vec<MetricPoint>,
    /// Preview textures (raw, denoised) and the generation they show.
    preview: Option<(u64, [egui::TextureHandle; 2], Option<f64>, u64)>,
    /// How the last run ended.
    outcome: Option<Result<String, String>>,
}

impl Default for TrainingPanel {
    fn default() -> Self {
        let mut config = TrainConfig::default();
        config.data.crop_px = 256;
        config.data.batch = 4;
        config.epochs = 5;
        config.steps_per_epoch = Some(20);
        config.validate_every_steps = 10;
        config.checkpoint_every_steps = 20;
        config.preview_every_steps = 10;
        config.preview_size_px = 256;
        Self {
            open: false,
            config,
            name: "my-denoiser".into(),
            force_split: false,
            handle: None,
            history: Vec::new(),
            preview: None,
            outcome: None,
        }
    }
}

/// Switches `c` between a Topaz architecture and restore's WDSR U-net (`c.architecture` is
/// the new name, `before` the old one): entering `wdsr` takes restore's optimiser, learning
/// rate and decay, crops, batch, epochs and preprocessing ([`TrainConfig::restore`]); leaving
/// it goes back to the Topaz settings of the panel. Intervals and preview stay.
fn switch_family(c: &mut TrainConfig, before: &str) {
    let (was, is) = (
        crate::train::is_wdsr_architecture(before),
        crate::train::is_wdsr_architecture(&c.architecture),
    );
    if was == is {
        return;
    }
    let base = if is {
        TrainConfig::restore()
    } else {
        TrainingPanel::default().config
    };
    *c = TrainConfig {
        architecture: c.architecture.clone(),
        from_pretrained: None,
        data: crate::train::DataOptions {
            seed: c.data.seed,
            holdout_fraction: c.data.holdout_fraction,
            ..base.data.clone()
        },
        validate_every_steps: c.validate_every_steps,
        checkpoint_every_steps: c.checkpoint_every_steps,
        preview_every_steps: c.preview_every_steps,
        preview_size_px: c.preview_size_px,
        ..base
    };
}

impl TrainingPanel {
    /// Whether a run is going (including paused).
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| {
            !matches!(
                h.status().phase,
                TrainPhase::Finished | TrainPhase::Cancelled | TrainPhase::Failed
            )
        })
    }

    /// Shows run `handle` just started (the history and last outcome are cleared).
    pub fn begin(&mut self, handle: TrainHandle) {
        self.history.clear();
        self.outcome = None;
        self.handle = Some(handle);
    }

    /// Notes that a run could not start, and why.
    pub fn failed_to_start(&mut self, message: String) {
        self.outcome = Some(Err(message));
    }

    /// Steps done and total of the current (or last) run.
    pub fn steps(&self) -> Option<(u64, u64)> {
        let s = self.handle.as_ref()?.status();
        Some((s.step, s.total_steps))
    }

    /// How the last run ended (message), once it has.
    pub fn outcome_message(&self) -> Option<String> {
        self.outcome.as_ref().map(|r| match r {
            Ok(m) | Err(m) => m.clone(),
        })
    }

    /// The model file the next run writes.
    pub fn output(&self) -> PathBuf {
        crate::models::format::resolve_output(&self.name)
    }

    /// Polls the run: new loss points, the preview, and its end. Returns the model path when
    /// a run has just written its model.
    pub fn poll(&mut self, ctx: &egui::Context) -> Option<PathBuf> {
        let handle = self.handle.as_mut()?;
        let new = handle.shared().history_since(self.history.len());
        self.history.extend(new);
        let status = handle.status();
        if self
            .preview
            .as_ref()
            .is_none_or(|(g, ..)| *g != status.preview_generation)
            && let Some(p) = handle.preview()
        {
            let side = p.raw.width.max(p.raw.height);
            let tex = |name: &str, im| {
                ctx.load_texture(
                    name,
                    super::micrograph_list::thumbnail(im, side),
                    egui::TextureOptions::LINEAR,
                )
            };
            self.preview = Some((
                status.preview_generation,
                [
                    tex("preview raw", &p.raw),
                    tex("preview denoised", &p.denoised),
                ],
                p.snr_db,
                p.step,
            ));
        }
        let result = handle.try_result()?;
        let mut written = None;
        self.outcome = Some(match result {
            Ok(o) => {
                written = o.model_path.clone();
                Ok(match o.end {
                    TrainEnd::Completed | TrainEnd::Stopped => format!(
                        "Model written after {} steps: {} ({:.2} crops/s)",
                        o.steps,
                        o.model_path
                            .as_ref()
                            .map_or_else(String::new, |p| p.display().to_string()),
                        o.crops_per_second
                    ),
                    TrainEnd::Cancelled => format!(
                        "Cancelled after {} steps; checkpoint kept in {} (Resume continues)",
                        o.steps,
                        o.checkpoint_dir.display()
                    ),
                })
            }
            Err(e) => Err(format!("Training failed: {e:#}")),
        });
        written
    }

    /// Draws the panel.
    pub fn show(&mut self, ui: &mut egui::Ui, data_note: &str) -> TrainingAction {
        let mut action = TrainingAction::None;
        let running = self.is_running();
        ui.horizontal_wrapped(|ui| {
            ui.heading("Training");
            ui.label(egui::RichText::new(data_note).weak());
        });
        ui.add_enabled_ui(!running, |ui| {
            ui.horizontal_wrapped(|ui| {
                let c = &mut self.config;
                let before = c.architecture.clone();
                egui::ComboBox::from_label("Architecture")
                    .selected_text(c.architecture.clone())
                    .show_ui(ui, |ui| {
                        for a in ["affine", "fcnn", "unet-small", "unet", "wdsr"] {
                            ui.selectable_value(&mut c.architecture, a.to_string(), a);
                        }
                    })
                    .response
                    .on_hover_text(
                        "wdsr: restore's WDSR U-net (Palovcak et al. 2020): micrographs are \
                         Fourier cropped to the max resolution, band-passed, and trained with \
                         Adam lr 1e-4 halved at each quarter of the epochs, crops 192 each \
                         z-scored on its own, batch 10",
                    );
                if c.architecture != before {
                    switch_family(c, &before);
                }
                egui::ComboBox::from_label("Loss")
                    .selected_text(c.loss.name())
                    .show_ui(ui, |ui| {
                        for l in [LossKind::L2, LossKind::L1, LossKind::L0] {
                            ui.selectable_value(&mut c.loss, l, l.name());
                        }
                    });
                egui::ComboBox::from_label("Optimiser")
                    .selected_text(match c.optimizer {
                        OptimizerKind::Adagrad => "Adagrad",
                        OptimizerKind::Adam => "Adam",
                    })
                    .show_ui(ui, |ui| {
                        ui.selectable_value(&mut c.optimizer, OptimizerKind::Adagrad, "Adagrad");
                        ui.selectable_value(&mut c.optimizer, OptimizerKind::Adam, "Adam");
                    });
                ui.add(
                    egui::DragValue::new(&mut c.learning_rate)
                        .range(1e-6..=1.0)
                        .speed(1e-4)
                        .prefix("lr "),
                );
                ui.add(
                    egui::DragValue::new(&mut c.data.crop_px)
                        .range(32..=2048)
                        .prefix("crop ")
                        .suffix(" px"),
                );
                ui.add(
                    egui::DragValue::new(&mut c.data.batch)
                        .range(1..=64)
                        .prefix("batch "),
                );
                let epochs = ui.add(
                    egui::DragValue::new(&mut c.epochs)
                        .range(1..=1000)
                        .prefix("epochs "),
                );
                // restore halves the rate at each quarter of the run, whatever its length.
                if epochs.changed() && c.is_wdsr() {
                    c.lr_decay = Some(crate::train::StepDecay::quarters(c.epochs));
                }
                let mut steps = c.steps_per_epoch.unwrap_or(0);
                if ui
                    .add(
                        egui::DragValue::new(&mut steps)
                            .range(0..=100_000)
                            .prefix("steps/epoch "),
                    )
                    .on_hover_text("0: one crop per pair per epoch, as Topaz")
                    .changed()
                {
                    c.steps_per_epoch = (steps > 0).then_some(steps);
                }
                if let Some(r) = c.data.restore.as_mut() {
                    ui.add(
                        egui::DragValue::new(&mut r.max_resolution_angstrom)
                            .range(1.0..=50.0)
                            .speed(0.1)
                            .prefix("max resolution ")
                            .suffix(" Å"),
                    )
                    .on_hover_text(
                        "restore: micrographs are Fourier cropped to half this pixel size (Å/px)",
                    );
                }
                let mut fine_tune = c.from_pretrained.is_some();
                if !c.is_wdsr()
                    && ui
                        .checkbox(&mut fine_tune, "from Topaz weights")
                        .on_hover_text("Fine-tune Topaz's pretrained model of this architecture")
                        .changed()
                {
                    c.from_pretrained = fine_tune.then(|| c.architecture.clone());
                }
                ui.checkbox(&mut self.force_split, "force count split");
                ui.label("Model name");
                ui.add(egui::TextEdit::singleline(&mut self.name).desired_width(120.0));
            });
        });
        ui.horizontal(|ui| {
            if !running {
                if ui.button("Start training").clicked() {
                    action = TrainingAction::Start { resume: false };
                }
                if ui
                    .button("NT2C…")
                    .on_hover_text(
                        "Noise-Transfer2Clean: a denoiser from simulated pairs of an atomic model and this micrograph's own noise",
                    )
                    .clicked()
                {
                    action = TrainingAction::Nt2c;
                }
                let checkpoint = self.output().with_extension("checkpoints");
                if ui
                    .add_enabled(checkpoint.is_dir(), egui::Button::new("Resume"))
                    .on_hover_text("Continue the run of this model name from its last checkpoint")
                    .clicked()
                {
                    action = TrainingAction::Start { resume: true };
                }
            } else if let Some(h) = &self.handle {
                let paused = h.shared().is_paused();
                if ui
                    .button(if paused { "Continue" } else { "Pause" })
                    .clicked()
                {
                    if paused {
                        h.resume();
                    } else {
                        h.pause();
                    }
                }
                if ui
                    .button("Finish now")
                    .on_hover_text("Stop and write the model with the current weights")
                    .clicked()
                {
                    h.finish_now();
                }
                if ui
                    .button("Cancel training")
                    .on_hover_text("Stop; a checkpoint is kept so the run can be resumed")
                    .clicked()
                {
                    h.cancel();
                }
            }
            if let Some(h) = &self.handle {
                let s = h.status();
                let frac = if s.total_steps > 0 {
                    s.step as f32 / s.total_steps as f32
                } else {
                    0.0
                };
                ui.add(
                    egui::ProgressBar::new(frac)
                        .desired_width(200.0)
                        .text(format!("{:?} step {}/{}", s.phase, s.step, s.total_steps)),
                );
                ui.label(format!(
                    "{:.2} crops/s, ETA {}, on {}",
                    s.crops_per_second,
                    s.eta_seconds
                        .map_or_else(|| "…".into(), |e| format!("{:.0} s", e)),
                    s.device
                ));
            }
        });
        match &self.outcome {
            Some(Ok(m)) => {
                ui.label(m);
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
        ui.horizontal_top(|ui| {
            let h = ui.available_height().max(120.0);
            let w = (ui.available_width() - 2.0 * h - 20.0).max(200.0);
            let train: Vec<[f64; 2]> = self
                .history
                .iter()
                .filter_map(|p| p.train_loss.map(|l| [p.epoch, l]))
                .collect();
            let val: Vec<[f64; 2]> = self
                .history
                .iter()
                .filter_map(|p| p.validation_loss.map(|l| [p.epoch, l]))
                .collect();
            Plot::new("training loss")
                .legend(Legend::default())
                .x_axis_label("epoch")
                .y_axis_label("loss")
                .width(w)
                .height(h)
                .show(ui, |pui| {
                    pui.line(
                        Line::new("training", PlotPoints::from(train))
                            .color(Color32::from_rgb(80, 200, 255)),
                    );
                    pui.line(
                        Line::new("validation", PlotPoints::from(val))
                            .color(Color32::from_rgb(255, 170, 60)),
                    );
                });
            if let Some((_, [raw, den], snr, step)) = &self.preview {
                for (t, label) in [(raw, "held-out half A"), (den, "denoised")] {
                    ui.vertical(|ui| {
                        ui.label(match (label, snr) {
                            ("denoised", Some(s)) => format!("{label} (step {step}, {s:.2} dB)"),
                            _ => label.to_string(),
                        });
                        ui.add(egui::Image::new((t.id(), egui::Vec2::splat(h - 24.0))));
                    });
                }
            }
        });
        action
    }
}
