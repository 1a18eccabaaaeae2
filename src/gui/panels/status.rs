//! The status bar: compute device, pixel size, dimensions, cursor, and running jobs.

use std::sync::Arc;

use eframe::egui;

use crate::jobs::Progress;

/// What the status bar shows this frame.
#[derive(Default)]
pub struct StatusInfo {
    /// `ComputeDevice::describe()`, or a note while it is being detected.
    pub device: String,
    /// Pixel size in Å/px, if known.
    pub pixel_size: Option<f32>,
    /// Image width × height in pixels.
    pub dims: Option<(usize, usize)>,
    /// Pixel under the cursor and its value.
    pub hover: Option<(usize, usize, f32)>,
    /// A note about what is shown (e.g. the section of a volume).
    pub note: Option<String>,
    /// Running jobs: a short name and their progress.
    pub jobs: Vec<(&'static str, Arc<Progress>)>,
    /// The debug frame-time readout (`CRYOLENS_FRAME_TIMES=1`).
    pub frame_times: Option<String>,
}

/// Formats a value for the status bar with 4 significant digits.
pub fn format_value(v: f32) -> String {
    if v == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&v.abs()) {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// Draws the status bar contents.
pub fn show(ui: &mut egui::Ui, info: &StatusInfo) {
    ui.horizontal_wrapped(|ui| {
        ui.label(&info.device)
            .on_hover_text("Where denoising runs (never hides a CPU fallback)");
        ui.separator();
        match info.pixel_size {
            Some(p) => ui.label(format!("{p:.4} Å/px")),
            None => ui.label("pixel size unknown"),
        };
        ui.separator();
        if let Some((w, h)) = info.dims {
            ui.label(format!("{w} × {h} px"));
            ui.separator();
        }
        match info.hover {
            Some((x, y, v)) => ui.label(format!("x {x}, y {y}: {}", format_value(v))),
            None => ui.label("x –, y –"),
        };
        if let Some(note) = &info.note {
            ui.separator();
            ui.label(note);
        }
        if let Some(frames) = &info.frame_times {
            ui.separator();
            ui.monospace(frames)
                .on_hover_text("CRYOLENS_FRAME_TIMES=1: time between frames while repainting, and the UI thread's share");
        }
    });
    // A second row, always present so the viewer does not jump when jobs start and end.
    ui.horizontal(|ui| {
        if info.jobs.is_empty() {
            ui.label(egui::RichText::new("No background job running").weak());
        }
        for (i, (name, p)) in info.jobs.iter().enumerate() {
            if i > 0 {
                ui.separator();
            }
            let (done, total) = p.counts();
            let text = if total > 0 {
                format!("{name} {done}/{total}")
            } else {
                name.to_string()
            };
            let bar = egui::ProgressBar::new(p.fraction())
                .desired_width(160.0)
                .text(text);
            let msg = p.message();
            let r = ui.add(bar);
            if !msg.is_empty() {
                r.on_hover_text(msg);
            }
        }
    });
}

/// The banner of the error, the persistent notice (e.g. a damaged session file set aside) and
/// the informational message, each with its dismiss button. The error is shown as the CLI
/// prints it ([`crate::errors::clean`]: one line, printable, repeated parts removed, cut).
pub fn messages(
    ui: &mut egui::Ui,
    error: &mut Option<String>,
    notice: &mut Option<String>,
    info: &mut Option<String>,
) {
    if let Some(err) = error.as_deref().map(crate::errors::clean) {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(ui.visuals().error_fg_color, err);
            if ui.button("Dismiss error").clicked() {
                *error = None;
            }
        });
    }
    if let Some(text) = notice.clone() {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(ui.visuals().warn_fg_color, text);
            if ui.button("Dismiss notice").clicked() {
                *notice = None;
            }
        });
    }
    if let Some(text) = info.clone() {
        ui.horizontal_wrapped(|ui| {
            ui.label(text);
            if ui.button("Dismiss").clicked() {
                *info = None;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_short() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(2803.0), "2803");
        assert_eq!(format_value(f32::NAN), "NaN");
        assert_eq!(format_value(12.3456), "12.35");
        assert_eq!(format_value(-0.5), "-0.5000");
        assert_eq!(format_value(1.0e7), "1.000e7");
    }
}
