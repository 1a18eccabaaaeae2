//! The denoising panel: which installed Topaz model to use, cancel, install.

use eframe::egui;

use crate::jobs::Progress;
use crate::models::{ModelError, ModelSpec, TopazArch, installed_topaz_models};

/// Installed models and the user's choice.
/// A denoiser the GUI can run: one of Topaz's pretrained 2D models, or Cryolens' bundled
/// default (`assets/models/cryolens-unet-small`, trained by count splitting on fei-extended;
/// usable with no download).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DenoiserChoice {
    /// A Topaz pretrained model (installed with `cryolens models install topaz`).
    Topaz(TopazArch),
    /// The model shipped with Cryolens.
    Bundled,
    /// A model trained with Cryolens (`cryolens train` or the training panel), by name.
    Trained(&'static str),
}

impl DenoiserChoice {
    /// The name shown and used as the cache key of denoised views.
    pub fn name(self) -> &'static str {
        match self {
            DenoiserChoice::Topaz(a) => a.name(),
            DenoiserChoice::Bundled => crate::models::format::BUNDLED_DEFAULT_MODEL,
            DenoiserChoice::Trained(name) => name,
        }
    }

    /// The model to load.
    ///
    /// # Errors
    /// The bundled model's files are missing.
    pub fn spec(self) -> Result<ModelSpec, ModelError> {
        match self {
            DenoiserChoice::Topaz(a) => Ok(ModelSpec::Topaz(a)),
            DenoiserChoice::Bundled => {
                ModelSpec::parse(crate::models::format::BUNDLED_DEFAULT_MODEL)
            }
            DenoiserChoice::Trained(name) => ModelSpec::parse(name),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelsState {
    /// Pretrained models found on disk (refreshed at start and after an install).
    pub installed: Vec<DenoiserChoice>,
    /// The model to denoise with (`None` when none is installed).
    pub selected: Option<DenoiserChoice>,
    /// A line about each trained model (its architecture; for restore models the max
    /// resolution), read from its JSON at refresh, shown as the model's tooltip.
    pub notes: Vec<(DenoiserChoice, String)>,
}

/// What a trained model's JSON says about it, for tooltips: "restore (WDSR U-net) model, max
/// resolution 4.5 Å: …" or "unet-small (…), trained by Cryolens".
pub fn trained_model_note(name: &str) -> Option<String> {
    let path = crate::models::format::find_trained_model(name)?;
    let meta = crate::models::format::read_meta::<crate::train::TrainConfig>(&path).ok()?;
    Some(match meta.architecture {
        crate::models::format::ArchJson::Wdsr(_) => {
            let r = meta.training.data.restore.clone().unwrap_or_default();
            format!(
                "restore (WDSR U-net) model, max resolution {} Å, band-pass from {} Å{}: \
                 denoises a Fourier-cropped copy and returns it at full size (no detail finer \
                 than {} Å); {} steps",
                r.max_resolution_angstrom,
                r.highpass_angstrom,
                if r.phase_flip() {
                    ", trained on phase-flipped data"
                } else {
                    ""
                },
                r.max_resolution_angstrom,
                meta.provenance.steps
            )
        }
        _ => format!(
            "{} trained by Cryolens, {} steps",
            meta.architecture_name, meta.provenance.steps
        ),
    })
}

impl ModelsState {
    /// Reads the installed models from disk.
    pub fn scan() -> Self {
        let mut s = Self::default();
        s.refresh();
        s
    }

    /// Re-reads the installed models, keeping the selection when still installed, else
    /// preferring `unet` (Topaz's default), else the first installed.
    pub fn refresh(&mut self) {
        self.installed = installed_topaz_models()
            .into_iter()
            .map(DenoiserChoice::Topaz)
            .collect();
        if crate::models::format::find_trained_model(crate::models::format::BUNDLED_DEFAULT_MODEL)
            .is_some()
        {
            self.installed.push(DenoiserChoice::Bundled);
        }
        for (name, _) in crate::models::format::list_trained_models() {
            if name == crate::models::format::BUNDLED_DEFAULT_MODEL {
                continue;
            }
            // Names live for the whole session (a handful of models): leaked once each.
            let known = self
                .installed
                .iter()
                .any(|c| matches!(c, DenoiserChoice::Trained(n) if *n == name));
            if !known {
                self.installed
                    .push(DenoiserChoice::Trained(Box::leak(name.into_boxed_str())));
            }
        }
        self.notes = self
            .installed
            .iter()
            .filter_map(|&c| match c {
                DenoiserChoice::Topaz(_) => None,
                _ => trained_model_note(c.name()).map(|n| (c, n)),
            })
            .collect();
        if self.selected.is_none_or(|s| !self.installed.contains(&s)) {
            let unet = DenoiserChoice::Topaz(TopazArch::UNet);
            self.selected = if self.installed.contains(&unet) {
                Some(unet)
            } else {
                self.installed.first().copied()
            };
        }
    }

    /// The tooltip line of `choice` (trained models only).
    pub fn note(&self, choice: DenoiserChoice) -> Option<&str> {
        self.notes
            .iter()
            .find(|(c, _)| *c == choice)
            .map(|(_, n)| n.as_str())
    }

    /// Whether any Topaz pretrained model is installed.
    pub fn has_topaz(&self) -> bool {
        self.installed
            .iter()
            .any(|c| matches!(c, DenoiserChoice::Topaz(_)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelsAction {
    /// Nothing.
    None,
    /// Use another model (denoises with it unless cached).
    Select(DenoiserChoice),
    /// Run denoising again with the selected model (after a failure).
    Retry,
    /// Stop the running denoising job.
    Cancel,
    /// Download and install Topaz's weights.
    Install,
}

/// Draws the panel. `denoising` is the running denoise job's progress, `installing` the
/// install job's.
pub fn show(
    ui: &mut egui::Ui,
    state: &ModelsState,
    denoising: Option<&Progress>,
    installing: Option<&Progress>,
    failed: bool,
) -> ModelsAction {
    let mut action = ModelsAction::None;
    if state.installed.is_empty() {
        ui.label("No denoising model is installed.");
        action = install_button(ui, installing).unwrap_or(action);
        return action;
    }
    ui.horizontal(|ui| {
        let label = ui.label("Model");
        let mut chosen = state.selected;
        egui::ComboBox::from_id_salt("denoising model")
            .selected_text(state.selected.map_or("none", |a| a.name()))
            .show_ui(ui, |ui| {
                for &choice in &state.installed {
                    let item = ui.selectable_value(&mut chosen, Some(choice), choice.name());
                    if let Some(note) = state.note(choice) {
                        item.on_hover_text(note);
                    }
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text(match state.selected.and_then(|s| state.note(s)) {
                Some(note) => note.to_string(),
                None => "Denoising model: Topaz pretrained (unet is Topaz's default), Cryolens' \
                         bundled cryolens-unet-small, or a model trained with Cryolens (restore \
                         WDSR models included)"
                    .to_string(),
            });
        if let Some(a) = chosen
            && chosen != state.selected
        {
            action = ModelsAction::Select(a);
        }
    });
    if !state.has_topaz() {
        ui.label(
            egui::RichText::new("Topaz's pretrained models are not installed (GPL-3.0, via pip):")
                .weak(),
        );
        if let Some(a) = install_button(ui, installing) {
            action = a;
        }
    }
    if let Some(p) = denoising {
        ui.horizontal(|ui| {
            ui.add(
                egui::ProgressBar::new(p.fraction())
                    .desired_width(140.0)
                    .show_percentage(),
            );
            if ui.button("Cancel denoising").clicked() {
                action = ModelsAction::Cancel;
            }
        });
    } else if failed && ui.button("Retry denoising").clicked() {
        action = ModelsAction::Retry;
    }
    action
}

/// The "Install Topaz models" button, or the install progress while it runs.
pub fn install_button(ui: &mut egui::Ui, installing: Option<&Progress>) -> Option<ModelsAction> {
    match installing {
        Some(p) => {
            ui.add(egui::ProgressBar::new(p.fraction()).text(p.message()).desired_width(260.0));
            None
        }
        None => ui
            .button("Install Topaz models")
            .on_hover_text(
                "Downloads the topaz-em wheel (pip) and unpacks Topaz's pretrained denoising weights \
                 (GPL-3.0) into the models folder",
            )
            .clicked()
            .then_some(ModelsAction::Install),
    }
}
