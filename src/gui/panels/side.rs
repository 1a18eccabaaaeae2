//! The side panel: volume section and slab, comparison, picking, contrast, low-pass, merge
//! and denoising controls.
//!
//! [`show`] draws from a read-only [`SideCtx`], edits in place only the settings its sliders
//! and checkboxes hold ([`SideEdits`]), and returns what the app must do as [`SideAction`]s,
//! applied in `gui/commands/`.

use std::sync::Arc;

use eframe::egui;
use egui::Rect;

use crate::fourier::merge::BandNorm;
use crate::jobs::Progress;

use crate::gui::panels::contrast::{self, ColourMap, Contrast};
use crate::gui::panels::models::{self, ModelsAction, ModelsState};
use crate::gui::panels::picking::{PickAction, PickTool};
use crate::gui::state::{View, ViewImage, ViewSettings};
use crate::gui::views::compare::CompareState;

/// What the side panel shows (read-only).
pub struct SideCtx<'a> {
    /// The open volume's depth and shown section z (`None`: a micrograph is open).
    pub section: Option<(usize, usize)>,
    /// Sections averaged around z.
    pub slab_thickness: usize,
    /// The 3D denoising job's progress while it runs.
    pub volume_denoising: Option<&'a Progress>,
    /// Whether the open volume has been denoised by a 3D model.
    pub has_denoised_volume: bool,
    /// The open micrograph's pixel size (Å).
    pub pixel_size_angstrom: Option<f32>,
    /// The view shown (the contrast controls apply to it).
    pub view: View,
    /// Its image, once computed (histogram, statistics and Topaz's window).
    pub image: Option<&'a Arc<ViewImage>>,
    /// Installed models and the selected one.
    pub models: &'a ModelsState,
    /// The denoise job's progress while it runs.
    pub denoising: Option<&'a Progress>,
    /// The install job's progress while the Topaz models are installed.
    pub installing: Option<&'a Progress>,
    /// Whether the selected model failed on the open micrograph.
    pub denoise_failed: bool,
    /// Whether the open micrograph is simulated and has its truth.
    pub has_truth: bool,
}

/// What the side panel's controls edit in place.
pub struct SideEdits<'a> {
    /// The comparison (open, panes, swipe).
    pub compare: &'a mut CompareState,
    /// The picking tool's settings (its actions come back as [`SideAction::Pick`]).
    pub picks: &'a mut PickTool,
    /// The shown view's contrast.
    pub contrast: &'a mut Contrast,
    /// The colour map.
    pub colour_map: &'a mut ColourMap,
    /// The low-pass and merge sliders.
    pub settings: &'a mut ViewSettings,
}

/// What the side panel asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum SideAction {
    /// Show section z of the open volume.
    SetSection(usize),
    /// Average this many sections around z.
    SetSlabThickness(usize),
    /// Denoise the open volume with Topaz's 3D U-net.
    DenoiseVolume,
    /// Save the comparison (this screen rectangle) as PNG.
    ExportComparison(Rect),
    /// A button of the picking section.
    Pick(PickAction),
    /// A control of the denoising section.
    Models(ModelsAction),
}

/// Draws the side panel; the actions of its buttons, in the order clicked.
pub fn show(ui: &mut egui::Ui, cx: &SideCtx<'_>, edits: SideEdits<'_>) -> Vec<SideAction> {
    let SideEdits {
        compare,
        picks,
        contrast,
        colour_map,
        settings,
    } = edits;
    let mut actions = Vec::new();
    if let Some((depth, z)) = cx.section {
        volume(ui, cx, depth, z, &mut actions);
    }
    ui.horizontal(|ui| {
        ui.heading("Compare");
        ui.checkbox(&mut compare.open, "side by side")
            .on_hover_text("C: 2 to 4 panes with linked pan, zoom and contrast, or a swipe");
    });
    if compare.open {
        compare.controls(ui, &cx.models.installed, cx.has_truth);
        if ui
            .button("Export comparison PNG")
            .on_hover_text("The panes with their labels and scale bars, into cryolens_analysis/")
            .clicked()
            && let Some(rect) = compare.frame_rect
        {
            actions.push(SideAction::ExportComparison(rect));
        }
    }
    ui.separator();
    ui.heading("Picking");
    match picks.panel(ui, cx.pixel_size_angstrom) {
        PickAction::None => {}
        a => actions.push(SideAction::Pick(a)),
    }
    ui.separator();
    ui.heading("Contrast");
    contrast::controls(
        ui,
        contrast,
        colour_map,
        cx.image.map(|v| &v.histogram),
        cx.image.map(|v| (v.stats, v.topaz_window)),
    );
    ui.label(egui::RichText::new(format!("applies to the {} view", cx.view.name())).weak());
    ui.separator();
    lowpass(ui, settings, cx.pixel_size_angstrom);
    ui.separator();
    merge(ui, settings);
    ui.separator();
    ui.heading("Denoising");
    match models::show(
        ui,
        cx.models,
        cx.denoising,
        cx.installing,
        cx.denoise_failed,
    ) {
        ModelsAction::None => {}
        a => actions.push(SideAction::Models(a)),
    }
    actions
}

/// The volume section: section and slab sliders, 3D denoising.
fn volume(ui: &mut egui::Ui, cx: &SideCtx<'_>, depth: usize, z: usize, out: &mut Vec<SideAction>) {
    ui.heading("Volume");
    let mut zz = z;
    if ui
        .add(egui::Slider::new(&mut zz, 0..=depth - 1).text("Section z"))
        .on_hover_text("Up / Down arrows (Shift: 10 sections)")
        .changed()
    {
        out.push(SideAction::SetSection(zz));
    }
    let mut t = cx.slab_thickness;
    if ui
        .add(egui::Slider::new(&mut t, 1..=depth.clamp(1, 64)).text("Slab (sections)"))
        .on_hover_text("Average this many sections around z (all three views)")
        .changed()
    {
        out.push(SideAction::SetSlabThickness(t));
    }
    match (cx.volume_denoising, cx.has_denoised_volume) {
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
                out.push(SideAction::DenoiseVolume);
            }
        }
    }
    ui.separator();
}

/// The low-pass section: binning or a Gaussian (Å), with what it means at `pixel` Å.
fn lowpass(ui: &mut egui::Ui, settings: &mut ViewSettings, pixel: Option<f32>) {
    ui.heading("Low-pass");
    ui.horizontal(|ui| {
        ui.selectable_value(&mut settings.lowpass_gaussian, false, "Binning");
        ui.selectable_value(&mut settings.lowpass_gaussian, true, "Gaussian (Å)")
            .on_hover_text("Gaussian low-pass of real-space σ in Å (restore's figures: 20 Å); needs the pixel size");
    });
    if settings.lowpass_gaussian {
        ui.add(
            egui::Slider::new(&mut settings.lowpass_sigma_angstrom, 1.0..=100.0)
                .step_by(0.5)
                .text("σ (Å)"),
        );
        ui.label(match pixel {
            Some(p) => format!(
                "σ = {:.1} px; power at 1/e at {:.1} Å",
                settings.lowpass_sigma_angstrom / p,
                std::f32::consts::TAU * settings.lowpass_sigma_angstrom
            ),
            None => "pixel size unknown: the Gaussian needs it".into(),
        });
    } else {
        ui.add(
            egui::Slider::new(&mut settings.lowpass_factor, 1.0..=16.0)
                .step_by(0.5)
                .text("Bin factor"),
        )
        .on_hover_text("Topaz-style binning: Fourier crop by this factor");
        ui.label(match pixel {
            Some(p) => format!(
                "≈ {:.1} Å resolution (2 × {p:.4} Å × {})",
                2.0 * p * settings.lowpass_factor,
                settings.lowpass_factor
            ),
            None => format!("{}× Nyquist (pixel size unknown)", settings.lowpass_factor),
        });
    }
}

/// The merge section: cutoff, edge width and what is matched in the band.
fn merge(ui: &mut egui::Ui, settings: &mut ViewSettings) {
    ui.heading("Merge");
    ui.add(
        egui::Slider::new(&mut settings.merge_cutoff_angstrom, 2.0..=60.0)
            .step_by(0.5)
            .text("Cutoff (Å)"),
    )
    .on_hover_text("Merged view (4): denoised below this resolution, raw above");
    ui.add(
        egui::Slider::new(&mut settings.merge_width_angstrom, 0.5..=30.0)
            .step_by(0.5)
            .text("Edge (Å)"),
    )
    .on_hover_text("Width of the soft edge between the denoised and raw bands");
    ui.horizontal(|ui| {
        ui.label("Match in band:");
        let norm = &mut settings.merge_band_norm;
        ui.selectable_value(norm, BandNorm::Std, "σ").on_hover_text(
            "The denoised amplitudes' standard deviation is set to the raw's in the band (default)",
        );
        ui.selectable_value(norm, BandNorm::Rms, "RMS")
            .on_hover_text(
                "The denoised amplitudes' root mean square is set to the raw's in the band",
            );
    });
    ui.label(
        egui::RichText::new(format!(
            "band {:.1}–{:.1} Å; denoised amplitudes rescaled to the raw's in the band",
            settings.merge_cutoff_angstrom + settings.merge_width_angstrom,
            settings.merge_cutoff_angstrom
        ))
        .weak(),
    );
}
