//! The central area showing one view: the viewer with picks or region labels, or a
//! placeholder saying what is being computed.

use eframe::egui;

use crate::paths::topaz_dir;

use crate::gui::app::CryolensApp;
use crate::gui::panels::analysis::Tab;
use crate::gui::panels::models::{self, ModelsAction};
use crate::gui::panels::picking::screen_to_pick;
use crate::gui::state::View;
use crate::gui::viewer;

impl CryolensApp {
    /// The central area showing the current view (with picks, or region labels while
    /// labelling), or a placeholder while it is computed.
    pub(in crate::gui) fn single_view(&mut self, ui: &mut egui::Ui, ctx: &egui::Context) {
        self.compare.frame_rect = None;
        let view = self.view_image(self.view).cloned();
        match (view, &self.doc) {
            (Some(view), Some(doc)) => {
                let keep = doc.keep_ids();
                let size = (view.image.width, view.image.height);
                let radius = self.pick_radius_px();
                let labelling = self.analysis.labelling;
                if !labelling {
                    self.picks
                        .begin_drag(ctx, self.viewer_rect, &self.transform, radius);
                }
                let out = viewer::show(
                    ui,
                    &mut self.transform,
                    &view,
                    viewer::Look {
                        contrast: self.contrast[self.view.index()],
                        colour_map: self.colour_map,
                        keep,
                        gpu_ready: self.max_texture_side.is_some(),
                    },
                    self.picks.interaction(),
                );
                self.hover = out.hover;
                self.viewer_rect = out.rect;
                if let Some((x, y, _)) = out.hover
                    && self.section().is_some()
                {
                    self.volume_view.ortho_cursor = Some((x, y));
                }
                if let (Some(rect), Some(response)) = (out.rect, &out.response)
                    && labelling
                {
                    if let Some(pos) = response.interact_pointer_pos()
                        && (response.clicked() || response.secondary_clicked())
                    {
                        let (x, y) = screen_to_pick(&self.transform, rect, pos);
                        self.analysis
                            .label_at(x, y, response.secondary_clicked(), size);
                    }
                    self.analysis
                        .draw_regions(&ui.painter_at(rect), rect, &self.transform);
                } else if let (Some(rect), Some(response)) = (out.rect, &out.response) {
                    if self.analysis.open && self.analysis.tab == Tab::Regions {
                        self.analysis
                            .draw_regions(&ui.painter_at(rect), rect, &self.transform);
                    }
                    self.picks
                        .handle(ctx, response, rect, &self.transform, size, radius);
                    self.picks
                        .draw(&ui.painter_at(rect), rect, &self.transform, radius);
                }
            }
            _ => self.placeholder(ui),
        }
    }

    /// The central area when the current view is not ready.
    pub(in crate::gui) fn placeholder(&mut self, ui: &mut egui::Ui) {
        let mut action = None;
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() * 0.3);
            let Some(doc) = &self.doc else {
                if self.jobs.load.is_running() {
                    ui.spinner();
                    ui.label("Reading the micrograph…");
                } else {
                    ui.label("No micrograph open. Press O to open one, or drop a file here.");
                }
                return;
            };
            match self.view {
                View::Raw => {}
                View::Denoised => {
                    if self.models.installed.is_empty() {
                        ui.heading("No Topaz model is installed");
                        ui.label(
                            "Denoising needs Topaz's pretrained weights (GPL-3.0). They are unpacked from \
                             the topaz-em package into the models folder:",
                        );
                        ui.monospace(topaz_dir().display().to_string());
                        action = models::install_button(ui, self.jobs.install.progress().map(|p| &**p));
                    } else if let (Some(k), Some(p)) = (self.jobs.denoise.key(), self.jobs.denoise.progress()) {
                        ui.spinner();
                        ui.label(format!("Denoising with {}…", k.model));
                        ui.add(egui::ProgressBar::new(p.fraction()).desired_width(300.0).show_percentage());
                        if ui.button("Cancel denoising").clicked() {
                            action = Some(ModelsAction::Cancel);
                        }
                    } else if let Some(err) =
                        self.models.selected.and_then(|a| doc.denoise_failed.get(a.name()))
                    {
                        ui.colored_label(ui.visuals().error_fg_color, format!("Denoising failed: {err}"));
                        if ui.button("Retry denoising").clicked() {
                            action = Some(ModelsAction::Retry);
                        }
                    } else if self.device.is_none() {
                        ui.spinner();
                        ui.label("Detecting the compute device…");
                    } else {
                        ui.spinner();
                    }
                }
                View::Merged => {
                    let failed = self
                        .merge_key()
                        .and_then(|k| doc.merge_failed.as_ref().filter(|(f, _)| *f == k));
                    if let Some((_, e)) = failed {
                        ui.colored_label(ui.visuals().error_fg_color, format!("Merging failed: {e}"));
                    } else if self.models.selected.is_some_and(|a| !doc.denoised.contains_key(a.name())) {
                        ui.spinner();
                        ui.label("Waiting for the denoised view to merge it…");
                    } else {
                        ui.spinner();
                        ui.label(format!("Merging at {} Å…", self.settings.merge_cutoff_angstrom));
                    }
                }
                View::Lowpass => {
                    ui.spinner();
                    ui.label(format!("Low-passing ({})…", self.settings.lowpass().describe()));
                }
            }
        });
        if let Some(a) = action {
            self.handle_models_action(a);
        }
    }
}
