//! **Simulate…** (toolbar): a micrograph with its noise-free truth made from an atomic model
//! ([`crate::simulate`], what `cryolens simulate` runs) in the background, written into the
//! user's `simulations/` folder and opened; the comparison then offers the truth pane and
//! scores every view against it.

use std::path::PathBuf;

use eframe::egui;

use crate::gui::dialogs::{ALL_FILES, Dialog};
use crate::gui::job_slot::JobSlot;
use crate::simulate::{SimulationConfig, Specimen, outputs, simulate};

/// What the panel asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum SimulateAction {
    /// Nothing.
    None,
    /// Open this simulated micrograph (a simulation's `noisy.mrc`).
    Open(PathBuf),
}

/// The Simulate… window: the parameters, the atomic-model dialog and the simulation job.
pub struct SimulatePanel {
    /// Whether the window is shown.
    pub open: bool,
    atoms: AtomsChooser,
    size: usize,
    pixel_size_angstrom: f64,
    defocus_um: f64,
    dose: f64,
    particles: usize,
    ice_nm: f64,
    seed: u64,
    /// Where simulations go (`None`: [`crate::paths::simulations_dir`]).
    output_root: Option<PathBuf>,
    job: JobSlot<u64, PathBuf>,
    error: Option<String>,
}

impl Default for SimulatePanel {
    fn default() -> Self {
        Self {
            open: false,
            atoms: AtomsChooser::default(),
            size: 1024,
            pixel_size_angstrom: 2.0,
            defocus_um: 2.0,
            dose: 40.0,
            particles: 10,
            ice_nm: 30.0,
            seed: 1,
            output_root: None,
            job: JobSlot::default(),
            error: None,
        }
    }
}

impl SimulatePanel {
    /// Uses the atomic model at `path` (PDB or mmCIF, gzipped or not).
    pub fn set_atoms(&mut self, path: PathBuf) {
        self.atoms.path = Some(path);
    }

    /// Writes simulations into `dir` instead of the user's `simulations/` folder.
    pub fn set_output_root(&mut self, dir: PathBuf) {
        self.output_root = Some(dir);
    }

    /// Sets the micrograph side in pixels and the number of particles.
    pub fn set_field(&mut self, size: usize, particles: usize) {
        (self.size, self.particles) = (size, particles);
    }

    /// Whether a dialog or a simulation is running.
    pub fn is_busy(&self) -> bool {
        self.atoms.is_running() || self.job.is_running()
    }

    /// Why the last simulation failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The folder the simulation of the current parameters is written into:
    /// `simulations/<model stem>-<size>px-seed<seed>` in the user's Cryolens data folder (or
    /// the root set with [`Self::set_output_root`]).
    fn output_folder(&self, atoms: &std::path::Path) -> PathBuf {
        let stem = atoms
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = stem.split('.').next().unwrap_or("model").to_string();
        self.output_root
            .clone()
            .unwrap_or_else(crate::paths::simulations_dir)
            .join(format!("{stem}-{}px-seed{}", self.size, self.seed))
    }

    /// Starts the simulation of the current parameters (nothing without an atomic model).
    pub fn start(&mut self) {
        let Some(atoms) = self.atoms.path.clone() else {
            self.error = Some("choose an atomic model (PDB or mmCIF) first".into());
            return;
        };
        self.error = None;
        let config = SimulationConfig {
            size: self.size,
            pixel_size_angstrom: self.pixel_size_angstrom,
            defocus_um: self.defocus_um,
            dose_e_per_angstrom2: self.dose,
            particles: self.particles,
            ice_thickness_nm: self.ice_nm,
            b_factor: 50.0,
            seed: self.seed,
            ..SimulationConfig::new(Specimen::Atoms(atoms.clone()))
        };
        let out = self.output_folder(&atoms);
        self.job.spawn(self.seed, "simulate", move |progress| {
            let sim = simulate(&config, progress)?;
            let paths = outputs::write_outputs(&out, &config, &sim)?;
            Ok(paths[1].clone())
        });
    }

    /// Takes finished dialogs and simulations: the simulated micrograph to open, if one is
    /// done.
    pub fn poll(&mut self) -> SimulateAction {
        if let Some(e) = self.atoms.poll() {
            self.error = Some(e);
        }
        match self.job.poll() {
            Some((_, Ok(noisy))) => {
                self.open = false;
                SimulateAction::Open(noisy)
            }
            Some((_, Err(e))) => {
                self.error = Some(format!("{e:#}"));
                SimulateAction::None
            }
            None => SimulateAction::None,
        }
    }

    /// Draws the window when open.
    pub fn show(&mut self, ctx: &egui::Context) {
        let mut open = self.open;
        egui::Window::new("Simulate a micrograph")
            .open(&mut open)
            .resizable(false)
            .show(ctx, |ui| self.contents(ui));
        self.open = open;
    }

    fn contents(&mut self, ui: &mut egui::Ui) {
        ui.label(
            "A micrograph with its noise-free truth, from an atomic model: projected potential, \
             CTF, Poisson shot noise (ideal detector), even/odd frame sums.",
        );
        ui.horizontal(|ui| self.atoms.ui(ui));
        egui::Grid::new("simulate-parameters").show(ui, |ui| {
            let mut row = |label: &str, value: egui::DragValue<'_>| {
                ui.label(label);
                ui.add(value);
                ui.end_row();
            };
            row(
                "Size",
                egui::DragValue::new(&mut self.size)
                    .range(64..=8192)
                    .suffix(" px"),
            );
            row(
                "Pixel size",
                egui::DragValue::new(&mut self.pixel_size_angstrom)
                    .range(0.3..=10.0)
                    .speed(0.05)
                    .suffix(" Å"),
            );
            row("Defocus", defocus_value(&mut self.defocus_um));
            row(
                "Dose",
                egui::DragValue::new(&mut self.dose)
                    .range(1.0..=200.0)
                    .suffix(" e/Å²"),
            );
            row(
                "Particles",
                egui::DragValue::new(&mut self.particles).range(1..=500),
            );
            row(
                "Ice",
                egui::DragValue::new(&mut self.ice_nm)
                    .range(5.0..=300.0)
                    .suffix(" nm"),
            );
            row("Seed", egui::DragValue::new(&mut self.seed));
        });
        ui.horizontal(|ui| {
            let running = self.job.is_running();
            if ui
                .add_enabled(
                    !running && self.atoms.path.is_some(),
                    egui::Button::new("Simulate"),
                )
                .clicked()
            {
                self.start();
            }
            if let Some((fraction, message)) = self.job.fraction_and_message() {
                ui.add(egui::ProgressBar::new(fraction).text(message));
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(egui::Color32::LIGHT_RED, e);
        }
    }
}

/// The defocus field of the simulation windows: 0.1–10 µm, with its unit.
pub(crate) fn defocus_value(defocus_um: &mut f64) -> egui::DragValue<'_> {
    egui::DragValue::new(defocus_um)
        .range(0.1..=10.0)
        .speed(0.05)
        .suffix(" µm")
}

/// The atomic-model chooser of the simulation windows: the chosen file's name and an
/// **Atomic model…** button whose file dialog runs in the background.
#[derive(Default)]
pub(crate) struct AtomsChooser {
    /// The chosen PDB or mmCIF file.
    pub path: Option<PathBuf>,
    dialog: JobSlot<(), Option<PathBuf>>,
}

impl AtomsChooser {
    /// Whether the file dialog is open.
    pub fn is_running(&self) -> bool {
        self.dialog.is_running()
    }

    /// Takes a finished dialog's choice; the error line when the dialog failed.
    pub fn poll(&mut self) -> Option<String> {
        match self.dialog.poll()? {
            ((), Ok(Some(path))) => self.path = Some(path),
            ((), Ok(None)) => {}
            ((), Err(e)) => return Some(format!("file dialog failed: {e:#}")),
        }
        None
    }

    /// The file's name (or "no atomic model") and the button.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        let name = self.path.as_ref().map_or("no atomic model".into(), |p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        });
        ui.label(name);
        if ui.button("Atomic model…").clicked() && !self.dialog.is_running() {
            let dialog = Dialog::new("Choose an atomic model")
                .filter("PDB, mmCIF", &["pdb", "cif", "ent", "gz"])
                .filter(ALL_FILES.0, ALL_FILES.1);
            self.dialog
                .start((), dialog.file_job("atomic model dialog"));
        }
    }
}
