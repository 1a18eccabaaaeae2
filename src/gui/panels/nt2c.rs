//! **NT2C…** (the Training panel's other method): Noise-Transfer2Clean on the open micrograph
//! ([`crate::train::nt2c::pipeline`], what `cryolens nt2c` runs) in the background, and what
//! each stage did, read back from its work folder ([`Nt2cArtefacts`]): the background patches
//! outlined on the coarse-denoised micrograph; synthesised noise beside real noise, with their
//! radial power spectra and histograms; the critic's and the denoisers' loss curves. A
//! finished run registers its fine denoiser, which the model list then offers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eframe::egui::{self, Color32};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use crate::device::ComputeDevice;
use crate::gui::job_slot::JobSlot;
use crate::gui::panels::micrograph_list::thumbnail;
use crate::gui::panels::simulate::{AtomsChooser, defocus_value};
use crate::simulate::{SimulationConfig, Specimen};
use crate::train::nt2c::artefacts::{Nt2cArtefacts, histogram, mean_radial_power};
use crate::train::nt2c::{Nt2cRun, Nt2cSettings, run_nt2c};

/// Side of the stage thumbnails, points.
const THUMB: f32 = 320.0;
/// Noise patches shown side by side, per kind.
const TILES: usize = 4;

/// The NT2C window: parameters, the run, the stage views.
pub struct Nt2cPanel {
    /// Whether the window is shown.
    pub open: bool,
    atoms: AtomsChooser,
    name: String,
    defocus_um: f64,
    dose: f64,
    simulated: usize,
    coarse_steps: u64,
    fine_steps: u64,
    gan_steps: usize,
    threshold: f64,
    /// Where work folders go (`None`: `nt2c/` beside the trained models).
    work_root: Option<PathBuf>,
    job: JobSlot<(), PathBuf>,
    log: Arc<Mutex<Vec<String>>>,
    artefacts: Option<Nt2cArtefacts>,
    /// Real and synthesised noise's radial power spectra and histograms, computed once per
    /// work folder shown (not per frame).
    curves: Option<[NoiseCurves; 2]>,
    textures: Vec<egui::TextureHandle>,
    error: Option<String>,
}

impl Default for Nt2cPanel {
    fn default() -> Self {
        let cpu = Nt2cSettings::cpu(SimulationConfig::new(Specimen::Atoms(PathBuf::new())));
        Self {
            open: false,
            atoms: AtomsChooser::default(),
            name: "nt2c".into(),
            defocus_um: 1.5,
            dose: 0.0,
            simulated: cpu.simulated_micrographs,
            coarse_steps: cpu.coarse_steps,
            fine_steps: cpu.fine_steps,
            gan_steps: cpu.gan.steps,
            threshold: cpu.patches.threshold,
            work_root: None,
            job: JobSlot::default(),
            log: Arc::default(),
            artefacts: None,
            curves: None,
            textures: Vec::new(),
            error: None,
        }
    }
}

impl Nt2cPanel {
    /// Uses the atomic model at `path`.
    pub fn set_atoms(&mut self, path: PathBuf) {
        self.atoms.path = Some(path);
    }

    /// Writes work folders under `dir`.
    pub fn set_work_root(&mut self, dir: PathBuf) {
        self.work_root = Some(dir);
    }

    /// Sets the run's size: simulated micrographs and the three trainings' steps.
    pub fn set_budget(&mut self, simulated: usize, denoiser_steps: u64, gan_steps: usize) {
        self.simulated = simulated;
        (self.coarse_steps, self.fine_steps) = (denoiser_steps, denoiser_steps);
        self.gan_steps = gan_steps;
    }

    /// Whether a dialog or a run is going.
    pub fn is_busy(&self) -> bool {
        self.atoms.is_running() || self.job.is_running()
    }

    /// Why the last run failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The stage artefacts shown (after a run, or read from a work folder).
    pub fn artefacts(&self) -> Option<&Nt2cArtefacts> {
        self.artefacts.as_ref()
    }

    /// The lines the run has printed, one per finished stage.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Shows the stages of the work folder `dir` (its report's stage lines replace the log).
    ///
    /// # Errors
    /// A damaged artefact (named).
    pub fn show_work_folder(&mut self, dir: &Path) -> anyhow::Result<()> {
        let artefacts = Nt2cArtefacts::read(dir)?;
        if let (Some(report), Ok(mut log)) = (&artefacts.report, self.log.lock()) {
            *log = report
                .stages
                .iter()
                .map(|s| format!("{}: {} ({:.0} s)", s.stage, s.detail, s.seconds))
                .collect();
        }
        self.curves = noise_curves(&artefacts);
        self.artefacts = Some(artefacts);
        self.textures.clear();
        Ok(())
    }

    /// Starts NT2C on `micrograph` (its header's pixel size; the dose estimated from its
    /// counts unless set) with the window's parameters, on `device`.
    pub fn start(&mut self, micrograph: &Path, device: ComputeDevice) {
        let Some(atoms) = self.atoms.path.clone() else {
            self.error = Some("choose an atomic model (PDB or mmCIF) first".into());
            return;
        };
        let name = self.name.trim().to_string();
        if name.is_empty() || name.contains(['/', '\\']) {
            self.error = Some("the model name must be a plain name".into());
            return;
        }
        self.error = None;
        self.artefacts = None;
        self.curves = None;
        self.textures.clear();
        let work = self
            .work_root
            .clone()
            .unwrap_or_else(|| crate::paths::trained_models_dir().join("nt2c"))
            .join(&name);
        let (micrograph, log) = (micrograph.to_path_buf(), Arc::clone(&self.log));
        if let Ok(mut l) = log.lock() {
            l.clear();
        }
        let (dose, defocus_um, simulated) = (self.dose, self.defocus_um, self.simulated);
        let (coarse, fine, gan, threshold) = (
            self.coarse_steps,
            self.fine_steps,
            self.gan_steps,
            self.threshold,
        );
        self.job.spawn((), "NT2C", move |progress| {
            let image = crate::io::read_micrograph(&micrograph)?;
            let Some(pixel) = image.pixel_size_angstrom else {
                anyhow::bail!(
                    "{}: no pixel size in the header (NT2C simulates at the data's pixel size)",
                    micrograph.display()
                );
            };
            let pixel = f64::from(pixel);
            let dose = if dose > 0.0 {
                dose
            } else {
                crate::train::nt2c::pipeline::estimate_dose(&image, pixel)?
            };
            let mut settings = Nt2cSettings::cpu(SimulationConfig {
                size: 768,
                pixel_size_angstrom: pixel,
                defocus_um,
                dose_e_per_angstrom2: dose,
                particles: 4,
                b_factor: 80.0,
                ..SimulationConfig::new(Specimen::Atoms(atoms))
            });
            settings.simulated_micrographs = simulated;
            (settings.coarse_steps, settings.fine_steps) = (coarse, fine);
            settings.gan.steps = gan;
            settings.patches.threshold = threshold;
            let run = Nt2cRun {
                settings,
                micrographs: vec![micrograph],
                work_dir: work.clone(),
                model_output: crate::models::format::resolve_output(&name),
                command_line: "gui: NT2C".into(),
            };
            run_nt2c(&run, &device, progress, &mut |line| {
                if let Ok(mut l) = log.lock() {
                    l.push(line.to_string());
                }
            })?;
            Ok(work)
        });
    }

    /// Takes a finished dialog or run: `true` when a run finished (a model was registered).
    pub fn poll(&mut self) -> bool {
        if let Some(e) = self.atoms.poll() {
            self.error = Some(e);
        }
        match self.job.poll() {
            Some(((), Ok(work))) => {
                if let Err(e) = self.show_work_folder(&work) {
                    self.error = Some(format!("{e:#}"));
                }
                true
            }
            Some(((), Err(e))) => {
                self.error = Some(format!("NT2C failed: {e:#}"));
                false
            }
            None => false,
        }
    }

    /// Draws the window when open; `micrograph` is the open one (`None` for none or the
    /// bundled sample, which has no file), `device` the compute device once detected.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        micrograph: Option<&Path>,
        device: Option<ComputeDevice>,
    ) {
        let mut open = self.open;
        egui::Window::new("NT2C: Noise-Transfer2Clean")
            .open(&mut open)
            .default_size([720.0, 1000.0])
            .show(ctx, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink(false)
                    .show(ui, |ui| {
                        self.parameters(ui, micrograph, device);
                        self.stages(ui);
                    });
            });
        self.open = open;
    }

    fn parameters(
        &mut self,
        ui: &mut egui::Ui,
        micrograph: Option<&Path>,
        device: Option<ComputeDevice>,
    ) {
        ui.label(
            "Simulated pairs from an atomic model at this micrograph's pixel size, dose and \
             defocus train a coarse denoiser; its background patches of this micrograph teach a \
             WGAN-GP the real noise; re-weighted simulated signal plus synthesised noise train \
             the fine denoiser (Li et al. 2022).",
        );
        ui.horizontal(|ui| {
            self.atoms.ui(ui);
            ui.label("Model name");
            ui.text_edit_singleline(&mut self.name);
        });
        egui::Grid::new("nt2c-parameters").show(ui, |ui| {
            let mut row = |label: &str, value: egui::DragValue<'_>| {
                ui.label(label);
                ui.add(value);
                ui.end_row();
            };
            row("Defocus", defocus_value(&mut self.defocus_um));
            row(
                "Dose (0: from the counts)",
                egui::DragValue::new(&mut self.dose)
                    .range(0.0..=200.0)
                    .suffix(" e/Å²"),
            );
            row(
                "Simulated micrographs",
                egui::DragValue::new(&mut self.simulated).range(2..=64),
            );
            row(
                "Coarse steps",
                egui::DragValue::new(&mut self.coarse_steps).range(1..=100_000),
            );
            row(
                "Fine steps",
                egui::DragValue::new(&mut self.fine_steps).range(1..=100_000),
            );
            row(
                "Noise synthesiser steps",
                egui::DragValue::new(&mut self.gan_steps).range(1..=100_000),
            );
            row(
                "Background SSIM threshold",
                egui::DragValue::new(&mut self.threshold)
                    .range(0.0..=0.99)
                    .speed(0.01),
            );
        });
        ui.horizontal(|ui| {
            let ready = !self.job.is_running()
                && self.atoms.path.is_some()
                && micrograph.is_some()
                && device.is_some();
            let button = ui
                .add_enabled(ready, egui::Button::new("Run NT2C"))
                .on_disabled_hover_text(
                    "needs an atomic model, a micrograph file (not the bundled sample) and the compute device",
                );
            if button.clicked()
                && let (Some(m), Some(d)) = (micrograph, device)
            {
                self.start(m, d);
            }
            if let Some((fraction, message)) = self.job.fraction_and_message() {
                ui.add(egui::ProgressBar::new(fraction).text(message));
            }
        });
        for line in self.log_lines() {
            ui.label(egui::RichText::new(line).monospace());
        }
        if let Some(e) = &self.error {
            ui.colored_label(Color32::LIGHT_RED, e);
        }
    }

    fn stages(&mut self, ui: &mut egui::Ui) {
        let Some(a) = &self.artefacts else { return };
        if self.textures.is_empty() {
            let mut images = Vec::new();
            if let Some((_, enhanced)) = &a.enhanced {
                images.push(thumbnail(enhanced, THUMB as usize));
            }
            for im in a.real_noise.iter().chain(&a.synthetic_noise).take(64) {
                images.push(thumbnail(im, 64));
            }
            self.textures = images
                .into_iter()
                .enumerate()
                .map(|(i, im)| {
                    ui.ctx()
                        .load_texture(format!("nt2c-{i}"), im, egui::TextureOptions::LINEAR)
                })
                .collect();
        }
        ui.separator();
        ui.heading(format!("Stages of {}", a.work_dir.display()));
        let mut textures = self.textures.iter();
        if let Some((name, enhanced)) = &a.enhanced
            && let Some(tex) = textures.next()
        {
            ui.label(format!(
                "Background patches: {} of {} px on the coarse-denoised {name} (yellow)",
                a.patches.len(),
                a.patch_px
            ));
            let scale = THUMB / enhanced.width.max(enhanced.height) as f32;
            let size = egui::vec2(enhanced.width as f32, enhanced.height as f32) * scale;
            let response = ui.image((tex.id(), size));
            let painter = ui.painter_at(response.rect);
            for p in &a.patches {
                let min = response.rect.min + egui::vec2(p.x as f32, p.y as f32) * scale;
                let rect =
                    egui::Rect::from_min_size(min, egui::Vec2::splat(a.patch_px as f32 * scale));
                painter.rect_stroke(
                    rect,
                    0.0,
                    egui::Stroke::new(2.0, Color32::YELLOW),
                    egui::StrokeKind::Inside,
                );
            }
        }
        let real: Vec<_> = textures.by_ref().take(a.real_noise.len().min(64)).collect();
        let synthetic: Vec<_> = textures.collect();
        for (label, row) in [
            ("Real noise (64² centres)", &real),
            ("Synthesised (WGAN-GP)", &synthetic),
        ] {
            ui.label(label);
            ui.horizontal(|ui| {
                for tex in row.iter().take(TILES) {
                    ui.image((tex.id(), egui::Vec2::splat(96.0)));
                }
            });
        }
        if let Some(curves) = &self.curves {
            ui.horizontal(|ui| {
                plot(
                    ui,
                    "nt2c-spectra",
                    "cycles/px",
                    "log₁₀ power",
                    curves,
                    |c| {
                        c.0.iter()
                            .skip(1)
                            .map(|&(f, p)| [f64::from(f), f64::from(p.max(1e-12)).log10()])
                            .collect()
                    },
                );
                plot(ui, "nt2c-histograms", "value", "fraction", curves, |c| {
                    c.1.iter()
                        .map(|&(v, n)| [f64::from(v), f64::from(n)])
                        .collect()
                });
            });
        }
        if !a.critic_loss.is_empty() || a.validation.iter().any(|v| !v.is_empty()) {
            ui.horizontal(|ui| {
                Plot::new("nt2c-critic")
                    .legend(Legend::default())
                    .x_axis_label("generator step")
                    .width(340.0)
                    .height(180.0)
                    .show(ui, |p| {
                        let pts: Vec<[f64; 2]> = a
                            .critic_loss
                            .iter()
                            .enumerate()
                            .map(|(i, &l)| [(i + 1) as f64, l])
                            .collect();
                        p.line(Line::new("critic loss", PlotPoints::from(pts)));
                    });
                Plot::new("nt2c-validation")
                    .legend(Legend::default())
                    .x_axis_label("step")
                    .width(340.0)
                    .height(180.0)
                    .show(ui, |p| {
                        for (name, v) in ["coarse validation", "fine validation"]
                            .iter()
                            .zip(&a.validation)
                        {
                            let pts: Vec<[f64; 2]> =
                                v.iter().map(|&(s, l)| [s as f64, l]).collect();
                            p.line(Line::new(*name, PlotPoints::from(pts)));
                        }
                    });
            });
        }
    }
}

/// A radial power spectrum (cycles/px, power) and a histogram (value, fraction).
type NoiseCurves = (Vec<(f32, f32)>, Vec<(f32, f32)>);

/// The real and synthesised noise's curves, histograms over the real noise's value range;
/// `None` without both kinds of patch.
fn noise_curves(a: &Nt2cArtefacts) -> Option<[NoiseCurves; 2]> {
    if a.real_noise.is_empty() || a.synthetic_noise.is_empty() {
        return None;
    }
    let (lo, hi) = value_range(&a.real_noise);
    let curves = |p: &[crate::image::Image]| (mean_radial_power(p), histogram(p, lo, hi, 48));
    Some([curves(&a.real_noise), curves(&a.synthetic_noise)])
}

/// The 1st and 99th percentiles of the patches' values (the histograms' range).
fn value_range(patches: &[crate::image::Image]) -> (f32, f32) {
    let mut v: Vec<f32> = patches
        .iter()
        .flat_map(|im| im.data.iter().copied())
        .collect();
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize];
    let (lo, hi) = (at(0.01), at(0.99));
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    }
}

/// A small plot of the real (blue) and synthetic (orange) curves `points` picks.
fn plot<T>(
    ui: &mut egui::Ui,
    id: &str,
    x: &str,
    y: &str,
    curves: &[T; 2],
    points: impl Fn(&T) -> Vec<[f64; 2]>,
) {
    Plot::new(id)
        .legend(Legend::default())
        .x_axis_label(x)
        .y_axis_label(y)
        .width(340.0)
        .height(180.0)
        .show(ui, |p| {
            for ((name, color), c) in [
                ("real", Color32::from_rgb(80, 200, 255)),
                ("synthesised", Color32::from_rgb(255, 160, 60)),
            ]
            .iter()
            .zip(curves)
            {
                p.line(Line::new(*name, PlotPoints::from(points(c))).color(*color));
            }
        });
}
