//! The side panel: volume section and slab, comparison, picking, contrast, low-pass, merge
//! and denoising controls.

use eframe::egui;

use crate::gui::app::CryolensApp;
use crate::gui::panels::{contrast, models};

impl CryolensApp {
    pub(in crate::gui) fn side_panel(&mut self, ui: &mut egui::Ui) {
        if let Some((depth, z)) = self.section() {
            ui.heading("Volume");
            let mut zz = z;
            if ui
                .add(egui::Slider::new(&mut zz, 0..=depth - 1).text("Section z"))
                .on_hover_text("Up / Down arrows (Shift: 10 sections)")
                .changed()
            {
                self.set_section(zz);
            }
            let mut t = self.volume_view.slab_thickness;
            if ui
                .add(egui::Slider::new(&mut t, 1..=depth.clamp(1, 64)).text("Slab (sections)"))
                .on_hover_text("Average this many sections around z (all three views)")
                .changed()
            {
                self.set_slab_thickness(t);
            }
            match (self.jobs.volume_denoise.progress(), self.has_denoised_volume()) {
                (Some(p), _) => {
                    ui.add(
                        egui::ProgressBar::new(p.fraction())
                            .text(p.message())
                            .desired_width(240.0),
                    );
                }
                (None, true) => {
                    ui.label("Denoised view: unet-3d-10a (whole volume)");
                }
                (None, false) => {
                    if ui
                        .button("Denoise volume (unet-3d-10a)")
                        .on_hover_text("Topaz's 3D U-net on 96³ patches with 48 voxels of padding; until then the denoised view runs the 2D model on each section")
                        .clicked()
                    {
                        self.denoise_volume();
                    }
                }
            }
            ui.separator();
        }
        ui.horizontal(|ui| {
            ui.heading("Compare");
            ui.checkbox(&mut self.compare.open, "side by side")
                .on_hover_text("C: 2 to 4 panes with linked pan, zoom and contrast, or a swipe");
        });
        if self.compare.open {
            let installed = self.models.installed.clone();
            self.compare.controls(ui, &installed);
            if ui
                .button("Export comparison PNG")
                .on_hover_text(
                    "The panes with their labels and scale bars, into cryolens_analysis/",
                )
                .clicked()
                && let Some(rect) = self.compare.frame_rect
            {
                let ctx = ui.ctx().clone();
                self.export_png(&ctx, rect, "comparison");
            }
        }
        ui.separator();
        ui.heading("Picking");
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        let action = self.picks.panel(ui, pixel);
        self.handle_pick_action(action);
        ui.separator();
        ui.heading("Contrast");
        let histogram = self.view_image(self.view).map(|v| v.histogram.clone());
        let topaz = self
            .view_image(self.view)
            .map(|v| (v.stats, v.topaz_window));
        let idx = self.view.index();
        contrast::controls(
            ui,
            &mut self.contrast[idx],
            &mut self.colour_map,
            histogram.as_ref(),
            topaz,
        );
        ui.label(egui::RichText::new(format!("applies to the {} view", self.view.name())).weak());
        ui.separator();

        ui.heading("Low-pass");
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.settings.lowpass_gaussian, false, "Binning");
            ui.selectable_value(&mut self.settings.lowpass_gaussian, true, "Gaussian (Å)")
                .on_hover_text("Gaussian low-pass of real-space σ in Å (restore's figures: 20 Å); needs the pixel size");
        });
        let pixel = self
            .doc
            .as_ref()
            .and_then(|d| d.raw.image.pixel_size_angstrom);
        if self.settings.lowpass_gaussian {
            ui.add(
                egui::Slider::new(&mut self.settings.lowpass_sigma_angstrom, 1.0..=100.0)
                    .step_by(0.5)
                    .text("σ (Å)"),
            );
            ui.label(match pixel {
                Some(p) => format!(
                    "σ = {:.1} px; power at 1/e at {:.1} Å",
                    self.settings.lowpass_sigma_angstrom / p,
                    std::f32::consts::TAU * self.settings.lowpass_sigma_angstrom
                ),
                None => "pixel size unknown: the Gaussian needs it".into(),
            });
        } else {
            ui.add(
                egui::Slider::new(&mut self.settings.lowpass_factor, 1.0..=16.0)
                    .step_by(0.5)
                    .text("Bin factor"),
            )
            .on_hover_text("Topaz-style binning: Fourier crop by this factor");
            ui.label(match pixel {
                Some(p) => format!(
                    "≈ {:.1} Å resolution (2 × {p:.4} Å × {})",
                    2.0 * p * self.settings.lowpass_factor,
                    self.settings.lowpass_factor
                ),
                None => format!(
                    "{}× Nyquist (pixel size unknown)",
                    self.settings.lowpass_factor
                ),
            });
        }
        ui.separator();

        ui.heading("Merge");
        ui.add(
            egui::Slider::new(&mut self.settings.merge_cutoff_angstrom, 2.0..=60.0)
                .step_by(0.5)
                .text("Cutoff (Å)"),
        )
        .on_hover_text("Merged view (4): denoised below this resolution, raw above");
        ui.add(
            egui::Slider::new(&mut self.settings.merge_width_angstrom, 0.5..=30.0)
                .step_by(0.5)
                .text("Edge (Å)"),
        )
        .on_hover_text("Width of the soft edge between the denoised and raw bands");
        ui.horizontal(|ui| {
            use crate::fourier::merge::BandNorm;
            ui.label("Match in band:");
            let norm = &mut self.settings.merge_band_norm;
            ui.selectable_value(norm, BandNorm::Std, "σ")
                .on_hover_text("The denoised amplitudes' standard deviation is set to the raw's in the band (default)");
            ui.selectable_value(norm, BandNorm::Rms, "RMS")
                .on_hover_text("The denoised amplitudes' root mean square is set to the raw's in the band");
        });
        ui.label(
            egui::RichText::new(format!(
                "band {:.1}–{:.1} Å; denoised amplitudes rescaled to the raw's in the band",
                self.settings.merge_cutoff_angstrom + self.settings.merge_width_angstrom,
                self.settings.merge_cutoff_angstrom
            ))
            .weak(),
        );
        ui.separator();

        ui.heading("Denoising");
        let failed = self
            .doc
            .as_ref()
            .zip(self.models.selected)
            .is_some_and(|(d, a)| d.denoise_failed.contains_key(a.name()));
        let action = models::show(
            ui,
            &self.models,
            self.jobs.denoise.progress().map(|p| &**p),
            self.jobs.install.progress().map(|p| &**p),
            failed,
        );
        self.handle_models_action(action);
    }
}
