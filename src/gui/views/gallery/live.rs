//! The live view of **Watch folder…**: a screening run following the folder the microscope
//! writes into (the engine of `cryolens screen --watch`, [`crate::screen::run::follow`]) on a
//! worker, and the pane above the gallery that shows the newest micrograph denoised as soon as
//! it is screened, its numbers, and a banner when it crosses the threshold the user set.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eframe::egui;

use crate::device::ComputeDevice;
use crate::gui::job_slot::JobSlot;
use crate::gui::panels::models::DenoiserChoice;
use crate::screen::curate::{Threshold, metric};
use crate::screen::run::{Followed, Screener, ScreenerSetup, follow};
use crate::screen::{ScreenRow, ScreenSettings};

/// The output folder a watch of `folder` writes into: `cryolens_screening` inside it (the
/// watch never takes files from there).
pub fn output_for(folder: &std::path::Path) -> PathBuf {
    folder.join("cryolens_screening")
}

/// Side of the newest micrograph's image in the pane, points.
const SIDE: f32 = 256.0;

/// What the worker tells the UI.
#[derive(Debug, Default)]
struct Shared {
    /// Incremented whenever the table on disk changed.
    generation: u64,
    /// The newest row screened.
    newest: Option<ScreenRow>,
    /// What the worker does now.
    status: String,
    /// Micrographs screened by this watch.
    screened: usize,
}

/// A running (or finished) watch of one folder.
pub struct LiveWatch {
    /// The folder followed.
    pub folder: PathBuf,
    /// Where the screening outputs go ([`output_for`]).
    pub out: PathBuf,
    job: JobSlot<(), ()>,
    shared: Arc<Mutex<Shared>>,
    seen: u64,
    error: Option<String>,
    image: JobSlot<String, Option<egui::ColorImage>>,
    texture: Option<(String, egui::TextureHandle)>,
}

impl LiveWatch {
    /// Starts following `folder` with `model` on `device`: every micrograph already there,
    /// then each new one once its size has not changed for `settle`, looking every `poll`.
    pub fn start(
        folder: PathBuf,
        model: DenoiserChoice,
        device: ComputeDevice,
        poll: Duration,
        settle: Duration,
    ) -> Self {
        let out = output_for(&folder);
        let shared = Arc::new(Mutex::new(Shared {
            status: format!("loading {}", model.name()),
            ..Default::default()
        }));
        let mut job = JobSlot::default();
        let (f, o, s) = (folder.clone(), out.clone(), shared.clone());
        job.spawn((), "watch folder", move |progress| {
            std::fs::create_dir_all(&o)?;
            let spec = model.spec()?;
            let denoiser = crate::denoise::Denoiser2d::load(&spec, &device)?;
            let model_sha256 = Some(crate::io::provenance::sha256_file(&spec.weights_path()?)?);
            let setup = ScreenerSetup {
                denoiser,
                model_sha256,
                settings: ScreenSettings::default(),
                ctfs: Vec::new(),
                root: std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone()),
                out: o,
                thresholds: Vec::new(),
                source_star: None,
                shard: None,
            };
            let mut screener = Screener::new(setup, crate::picking::pick_counter())?;
            let mut watch = screener.watch(vec![f.clone()], settle, 4, false);
            set(&s, |sh| {
                sh.status = format!("watching {}", f.display());
                sh.generation += 1;
            });
            follow(
                &mut screener,
                &mut watch,
                poll,
                None,
                false,
                progress,
                |step| match step {
                    Followed::Screened(_, row) => set(&s, |sh| {
                        sh.screened += 1;
                        sh.newest = Some(row.clone());
                        sh.generation += 1;
                    }),
                    Followed::Decided(..) => set(&s, |sh| sh.generation += 1),
                    Followed::Idle(_) => {}
                },
            )
        });
        Self {
            folder,
            out,
            job,
            shared,
            seen: 0,
            error: None,
            image: JobSlot::default(),
            texture: None,
        }
    }

    /// Whether the watch still runs.
    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// Whether a job of the watch runs (the app repaints to poll it).
    pub fn is_busy(&self) -> bool {
        self.job.is_running() || self.image.is_running()
    }

    /// Stops the watch after the micrograph it is screening.
    pub fn stop(&mut self) {
        self.job.request_cancel();
    }

    /// Micrographs screened by this watch so far.
    pub fn screened(&self) -> usize {
        lock(&self.shared).screened
    }

    /// The newest micrograph screened.
    pub fn newest(&self) -> Option<ScreenRow> {
        lock(&self.shared).newest.clone()
    }

    /// Polls the worker and the newest image; `true` when the table on disk changed (the
    /// gallery re-reads it).
    pub fn poll(&mut self, ctx: &egui::Context) -> bool {
        if let Some(((), result)) = self.job.poll()
            && let Err(e) = result
        {
            self.error = Some(format!("The watch stopped: {e:#}"));
        }
        if let Some((name, Ok(Some(image)))) = self.image.poll() {
            let texture = ctx.load_texture("live newest", image, egui::TextureOptions::LINEAR);
            self.texture = Some((name, texture));
        }
        let (generation, newest) = {
            let sh = lock(&self.shared);
            (sh.generation, sh.newest.clone())
        };
        if let Some(row) = newest
            && let Some(rel) = row.thumbnail
            && self.texture.as_ref().is_none_or(|(n, _)| *n != rel)
            && !self.image.is_running_for(&rel)
        {
            let path = self.out.join(&rel);
            self.image.spawn(rel, "live image", move |_| {
                Ok(super::cell::decode(&path, SIDE as u32))
            });
        }
        let changed = generation != self.seen;
        self.seen = generation;
        changed
    }

    /// The pane: what the watch does, the newest micrograph denoised with its numbers, and a
    /// red banner when it crosses `rule`; a Stop button (`true` when clicked).
    pub fn show(&self, ui: &mut egui::Ui, rule: Option<&Threshold>) -> bool {
        let mut stop = false;
        let (status, newest, screened) = {
            let sh = lock(&self.shared);
            (sh.status.clone(), sh.newest.clone(), sh.screened)
        };
        if let Some(row) = &newest
            && let Some(t) = rule
            && t.rejects(row)
        {
            let value = metric(row, &t.metric).unwrap_or(f64::NAN);
            let text = format!(
                "Threshold: {}: {} = {value:.2} crosses {}{}{}",
                crate::io::file_name_in(&row.micrograph),
                t.metric,
                t.metric,
                t.op,
                t.value
            );
            egui::Frame::new()
                .fill(egui::Color32::from_rgb(150, 30, 30))
                .inner_margin(6.0)
                .show(ui, |ui| {
                    ui.colored_label(egui::Color32::WHITE, egui::RichText::new(text).strong());
                });
        }
        ui.horizontal(|ui| {
            match &self.texture {
                Some((_, t)) => {
                    let [w, h] = t.size();
                    let scale = SIDE / w.max(h) as f32;
                    ui.image((t.id(), egui::vec2(w as f32 * scale, h as f32 * scale)));
                }
                None => {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(SIDE, SIDE), egui::Sense::hover());
                    ui.painter()
                        .rect_filled(rect, 2.0, egui::Color32::from_gray(40));
                }
            }
            ui.vertical(|ui| {
                let state = if self.is_running() {
                    &status
                } else {
                    "stopped"
                };
                ui.strong(format!("Live: {state}"));
                ui.label(format!(
                    "{} into {}",
                    self.folder.display(),
                    self.out.display()
                ));
                ui.label(format!("{screened} micrographs screened by this watch"));
                if let Some(e) = &self.error {
                    ui.colored_label(ui.visuals().warn_fg_color, e);
                }
                if let Some(row) = &newest {
                    ui.separator();
                    ui.label(format!(
                        "newest: {}",
                        crate::io::file_name_in(&row.micrograph)
                    ));
                    if let Some(e) = &row.error {
                        ui.colored_label(ui.visuals().warn_fg_color, e);
                    }
                    for (label, column, unit) in super::table::COLUMNS {
                        if let Some(v) = metric(row, column) {
                            ui.label(format!("{label}: {v:.2} {unit}"));
                        }
                    }
                }
                if self.is_running() && ui.button("Stop watching").clicked() {
                    stop = true;
                }
            });
        });
        stop
    }
}

/// Locks the shared state (a worker that panicked while holding it leaves it usable).
fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Changes the shared state under its lock.
fn set(shared: &Mutex<Shared>, change: impl FnOnce(&mut Shared)) {
    change(&mut lock(shared));
}
