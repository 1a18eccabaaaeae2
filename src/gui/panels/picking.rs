//! The picking tool drawn over the viewer: clicks add, remove and move picks of the open
//! micrograph; picks are drawn (by `gui::views::picks`) as circles (particle diameter) or boxes
//! (box size) at every zoom and on every view; every edit goes to the session's autosaver.
//!
//! Mouse: left click adds a pick; left drag on a pick moves it (one undo step); right click or
//! Shift+left click removes the nearest pick within the particle radius; left drag elsewhere
//! and middle drag pan. Screen positions map to full-size micrograph pixels with the pixel
//! centre convention of [`crate::picking`]: the centre of pixel i is at i.

use std::path::{Path, PathBuf};

use eframe::egui;
use egui::{Pos2, Rect, Vec2};

use crate::picking::autosave::Autosaver;
use crate::picking::exchange::{ExportFormat, ImportOptions};
use crate::picking::{JsonCache, PickSession, SessionPick};

use crate::gui::viewer::{Interaction, ViewTransform};

/// A pick being dragged.
#[derive(Clone, Copy, Debug)]
struct Drag {
    micrograph: usize,
    index: usize,
    from: (f64, f64),
    moved: bool,
}

/// Whether the session file holds every edit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveState {
    /// All edits are on disk.
    Saved,
    /// A write is pending.
    Saving,
    /// The last write failed (the message names the file).
    Failed(String),
    /// The session has no file (nothing to save to).
    Unsaved,
}

/// What the picking panel asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum PickAction {
    /// Nothing.
    None,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Choose a coordinate file to import into the open micrograph.
    Import,
    /// Choose a folder and export all picks in this format.
    Export(ExportFormat),
    /// Remove every pick of the open micrograph (undoable).
    Clear,
}

/// Picking state of the app: the session, its autosaver, the drag in progress and the
/// import/export choices.
pub struct PickTool {
    /// The session (micrographs, picks, settings).
    pub session: PickSession,
    saver: Option<Autosaver>,
    saved_revision: u64,
    /// Each micrograph's serialised part of the last autosave (only changed ones are redone).
    json: JsonCache,
    /// Picks kept at the threshold in the whole session, with the revision and threshold
    /// they were counted at.
    total_kept: Option<(u64, u64, usize)>,
    drag: Option<Drag>,
    /// How the next import maps coordinates.
    pub import_options: ImportOptions,
    /// Format of the next export.
    pub export_format: ExportFormat,
    /// Draw the picks (toggled with H).
    pub show_picks: bool,
    /// The folder of the last export.
    pub last_export: Option<PathBuf>,
    /// On a tomogram: the section shown (z, voxels) and the half-thickness within which picks
    /// of other sections are drawn; new picks get this z.
    pub section: Option<(f64, f64)>,
}

impl PickTool {
    /// A tool over `session`, autosaving into `session_file` when given.
    pub fn new(session: PickSession, session_file: Option<&Path>) -> Self {
        let saved_revision = session.revision();
        Self {
            session,
            saver: session_file.map(Autosaver::new),
            saved_revision,
            json: JsonCache::default(),
            total_kept: None,
            drag: None,
            import_options: ImportOptions::default(),
            export_format: ExportFormat::Relion,
            show_picks: true,
            last_export: None,
            section: None,
        }
    }

    /// The session file, if the session is saved.
    pub fn session_file(&self) -> Option<&Path> {
        self.saver.as_ref().map(Autosaver::path)
    }

    /// Hands the session to the autosaver when it changed since the last call (cheap: only
    /// the micrographs changed since the last save are serialised here; the write happens on
    /// the saver's thread).
    pub fn autosave(&mut self) {
        let rev = self.session.revision();
        if rev != self.saved_revision
            && self.drag.is_none_or(|d| !d.moved)
            && let Some(saver) = &self.saver
        {
            saver.submit_parts(self.session.json_parts(&mut self.json));
            self.saved_revision = rev;
        }
    }

    /// Writes everything pending and waits for it (on exit, and in tests).
    ///
    /// # Errors
    /// The last write's error.
    pub fn flush(&mut self) -> Result<(), String> {
        self.autosave();
        self.saver.as_ref().map_or(Ok(()), Autosaver::flush)
    }

    /// Whether the session file holds every edit.
    pub fn save_state(&self) -> SaveState {
        match &self.saver {
            None => SaveState::Unsaved,
            Some(s) => match s.error() {
                Some(e) => SaveState::Failed(e),
                None if s.is_saved() && self.saved_revision == self.session.revision() => {
                    SaveState::Saved
                }
                None => SaveState::Saving,
            },
        }
    }

    /// The index of the pick being dragged on the open micrograph, if any.
    pub fn dragging(&self) -> Option<usize> {
        self.drag
            .filter(|d| d.micrograph == self.session.current)
            .map(|d| d.index)
    }

    /// How the viewer should treat the pointer this frame.
    pub fn interaction(&self) -> Interaction {
        Interaction {
            pan: self.drag.is_none(),
            double_click_fit: false,
            zoom: true,
        }
    }

    /// Before the viewer runs: a primary press on a pick (no Shift) starts dragging it, so
    /// that the drag moves the pick instead of panning.
    pub fn begin_drag(
        &mut self,
        ctx: &egui::Context,
        viewport: Option<Rect>,
        transform: &ViewTransform,
        radius_px: f64,
    ) {
        let Some(viewport) = viewport else { return };
        let press = ctx.input(|i| {
            (i.pointer.primary_pressed() && !i.modifiers.shift)
                .then(|| i.pointer.press_origin())
                .flatten()
        });
        let Some(pos) = press.filter(|p| viewport.contains(*p)) else {
            return;
        };
        let (x, y) = screen_to_pick(transform, viewport, pos);
        let m = self.session.current;
        let radius = grab_radius(radius_px, transform.zoom);
        if let Some(index) = self.session.nearest(m, x, y, radius) {
            let p = self.session.picks(m)[index];
            self.drag = Some(Drag {
                micrograph: m,
                index,
                from: (p.x, p.y),
                moved: false,
            });
        }
    }

    /// After the viewer ran: clicks add or remove picks, a drag moves the grabbed pick.
    /// `size` is the micrograph's width and height in pixels; clicks outside it are ignored.
    pub fn handle(
        &mut self,
        ctx: &egui::Context,
        response: &egui::Response,
        viewport: Rect,
        transform: &ViewTransform,
        size: (usize, usize),
        radius_px: f64,
    ) {
        let m = self.session.current;
        let inside = |(x, y): (f64, f64)| {
            x >= -0.5 && y >= -0.5 && x < size.0 as f64 - 0.5 && y < size.1 as f64 - 0.5
        };
        let pointer = response.interact_pointer_pos();
        if let Some(mut d) = self.drag {
            if let Some(pos) = pointer
                && response.dragged_by(egui::PointerButton::Primary)
            {
                let (x, y) = screen_to_pick(transform, viewport, pos);
                let x = x.clamp(-0.5, size.0 as f64 - 0.5);
                let y = y.clamp(-0.5, size.1 as f64 - 0.5);
                self.session.set_position(d.micrograph, d.index, (x, y));
                d.moved = true;
                self.drag = Some(d);
            }
            let released = !ctx.input(|i| i.pointer.primary_down());
            if released {
                if d.moved {
                    let p = self.session.picks(d.micrograph).get(d.index).copied();
                    if let Some(p) = p {
                        self.session
                            .commit_move(d.micrograph, d.index, d.from, (p.x, p.y));
                    }
                }
                self.drag = None;
            }
            return;
        }
        let shift = ctx.input(|i| i.modifiers.shift);
        let radius = grab_radius(radius_px, transform.zoom);
        if response.secondary_clicked() || (response.clicked() && shift) {
            if let Some(pos) = pointer {
                let (x, y) = screen_to_pick(transform, viewport, pos);
                if let Some(i) = self.session.nearest(m, x, y, radius) {
                    self.session.remove(m, i);
                }
            }
        } else if response.clicked()
            && let Some(pos) = pointer
        {
            let xy = screen_to_pick(transform, viewport, pos);
            if inside(xy) {
                self.session
                    .add_at(m, xy.0, xy.1, self.section.map(|(z, _)| z));
            }
        }
    }

    /// Removes the pick under the cursor (Delete key).
    pub fn remove_at(
        &mut self,
        transform: &ViewTransform,
        viewport: Rect,
        pos: Pos2,
        radius_px: f64,
    ) {
        let (x, y) = screen_to_pick(transform, viewport, pos);
        let m = self.session.current;
        if let Some(i) = self
            .session
            .nearest(m, x, y, grab_radius(radius_px, transform.zoom))
        {
            self.session.remove(m, i);
        }
    }

    /// The picking section of the side panel: sizes with their pixel equivalents, the
    /// overlay, counts, autopick threshold, undo/redo, import and export.
    pub fn panel(&mut self, ui: &mut egui::Ui, pixel_size_angstrom: Option<f32>) -> PickAction {
        let mut action = PickAction::None;
        let s = &mut self.session;
        let m = s.current;
        let before = s.settings;
        egui::Grid::new("pick settings")
            .num_columns(2)
            .show(ui, |ui| {
                ui.label("Particle diameter");
                ui.horizontal(|ui| {
                    ui.add(
                        egui::DragValue::new(&mut s.settings.particle_diameter_angstrom)
                            .range(1.0..=5000.0)
                            .speed(1.0)
                            .suffix(" Å"),
                    )
                    .on_hover_text("Particle diameter: the circle drawn, and how near a click must be to remove or move a pick");
                    ui.label(match pixel_size_angstrom {
                        Some(p) => format!("= {:.0} px", s.settings.particle_diameter_angstrom / f64::from(p)),
                        None => "(pixel size unknown: 40 px)".into(),
                    });
                });
                ui.end_row();
                ui.label("Box size");
                ui.horizontal(|ui| {
                    ui.add(
                        egui::DragValue::new(&mut s.settings.box_size_px)
                            .range(2.0..=4096.0)
                            .speed(1.0)
                            .suffix(" px"),
                    )
                    .on_hover_text("Extraction box in full-size micrograph pixels (EMAN/crYOLO export)");
                    if let Some(p) = pixel_size_angstrom {
                        ui.label(format!("= {:.0} Å", s.settings.box_size_px * f64::from(p)));
                    }
                });
                ui.end_row();
                ui.label("Overlay");
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut s.settings.circles, true, "Circles");
                    ui.selectable_value(&mut s.settings.circles, false, "Boxes");
                    ui.checkbox(&mut self.show_picks, "Show").on_hover_text("H");
                });
                ui.end_row();
            });
        let scores: Vec<f64> = s.picks(m).iter().filter_map(|p| p.score).collect();
        if !scores.is_empty() {
            let lo = scores.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut t = s.settings.autopick_threshold.clamp(lo, hi);
            if ui
                .add(egui::Slider::new(&mut t, lo..=hi).text("Autopick threshold"))
                .on_hover_text(
                    "Autopicks with a figure of merit below this are hidden and not exported",
                )
                .changed()
            {
                s.settings.autopick_threshold = t;
            }
        }
        if s.settings != before {
            s.touch();
        }
        let key = (s.revision(), s.settings.autopick_threshold.to_bits());
        let total = match self.total_kept {
            Some((rev, t, n)) if (rev, t) == key => n,
            _ => {
                let n = (0..s.micrographs.len()).map(|i| s.kept_count(i)).sum();
                self.total_kept = Some((key.0, key.1, n));
                n
            }
        };
        ui.label(format!(
            "{} picks here, {} in {} micrographs",
            s.kept_count(m),
            total,
            s.micrographs.len()
        ));
        let (undo, redo) = s.history_len();
        ui.horizontal(|ui| {
            if ui
                .add_enabled(undo > 0, egui::Button::new("Undo"))
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                action = PickAction::Undo;
            }
            if ui
                .add_enabled(redo > 0, egui::Button::new("Redo"))
                .on_hover_text("Ctrl+Shift+Z, Ctrl+Y")
                .clicked()
            {
                action = PickAction::Redo;
            }
            if ui
                .add_enabled(!s.picks(m).is_empty(), egui::Button::new("Clear"))
                .on_hover_text("Remove every pick of this micrograph (undoable)")
                .clicked()
            {
                action = PickAction::Clear;
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Import…")
                .on_hover_text("Add picks from a RELION, Topaz, EMAN or crYOLO file")
                .clicked()
            {
                action = PickAction::Import;
            }
            ui.add(
                egui::DragValue::new(&mut self.import_options.scale)
                    .range(0.01..=64.0)
                    .speed(0.05)
                    .prefix("× "),
            )
            .on_hover_text("Scale imported coordinates to full-size pixels: 4 for picks made on 4×-binned images");
            let mut flip = self.import_options.flip_y_rows.is_some();
            if ui
                .checkbox(&mut flip, "flip y")
                .on_hover_text("Picks made on TIFF/PNG renderings (crYOLO, Topaz, napari) are y-flipped relative to MRC")
                .changed()
            {
                // The row count is filled in by the app from the open micrograph.
                self.import_options.flip_y_rows = flip.then_some(0);
            }
        });
        ui.horizontal(|ui| {
            egui::ComboBox::from_label("Export format")
                .selected_text(self.export_format.label())
                .show_ui(ui, |ui| {
                    for f in ExportFormat::ALL {
                        ui.selectable_value(&mut self.export_format, f, f.label());
                    }
                });
            if ui
                .button("Export…")
                .on_hover_text("Write the picks of all micrographs (RELION: _manualpick.star files + manualpick.star)")
                .clicked()
            {
                action = PickAction::Export(self.export_format);
            }
        });
        ui.label(
            egui::RichText::new(match self.save_state() {
                SaveState::Saved => "all picks saved".to_string(),
                SaveState::Saving => "saving…".into(),
                SaveState::Failed(e) => format!("NOT SAVED: {e}"),
                SaveState::Unsaved => "picks are not saved (no session file)".into(),
            })
            .weak(),
        )
        .on_hover_text(
            self.session_file()
                .map_or_else(String::new, |p| p.display().to_string()),
        );
        action
    }
}

/// A click within this many micrograph pixels of a pick grabs or removes it: the particle
/// radius, but at least 6 screen points.
fn grab_radius(radius_px: f64, zoom: f32) -> f64 {
    radius_px.max(6.0 / f64::from(zoom.max(1e-6)))
}

/// Screen position → pick coordinates (full-size pixels, centre of pixel i at i).
pub fn screen_to_pick(transform: &ViewTransform, viewport: Rect, pos: Pos2) -> (f64, f64) {
    let q = transform.to_image(viewport, pos);
    (f64::from(q.x) - 0.5, f64::from(q.y) - 0.5)
}

/// Pick → screen position (inverse of [`screen_to_pick`]).
pub fn pick_to_screen(transform: &ViewTransform, viewport: Rect, p: &SessionPick) -> Pos2 {
    transform.to_screen(viewport, Vec2::new((p.x + 0.5) as f32, (p.y + 0.5) as f32))
}
