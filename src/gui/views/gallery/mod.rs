//! The gallery (key G): every micrograph of a screening folder (`cryolens screen`) as a
//! thumbnail, with the metric it is sorted by, its decision, and the keys to curate it.
//!
//! The grid is virtualised: only the rows on screen are laid out, their thumbnails are decoded
//! from the PNGs on a worker (a few at a time, shrunk to the cell size) and textures far from
//! the view are dropped, so 10,000 micrographs cost what one screenful does. The table is read
//! and every decision saved by jobs (the whole table, atomically, whenever the decisions'
//! revision moves), never on the UI thread.

use std::collections::HashMap;
use std::path::PathBuf;

use eframe::egui;

pub(in crate::gui) mod cell;
mod jobs;
pub mod live;
pub mod plots;
pub(in crate::gui) mod table;

use crate::device::ComputeDevice;
use crate::gui::dialogs::Dialog;
use crate::gui::job_slot::JobSlot;
use crate::gui::panels::models::DenoiserChoice;
use crate::gui::state::gallery::{Gallery, Show};
use crate::screen::curate::{ExportCounts, METRICS, Threshold};
use crate::screen::curves::DatasetCurves;
use crate::screen::{ScreenRow, ScreenTable};
pub use cell::CELL;
use cell::cell;
use live::LiveWatch;
use plots::GalleryPlot;

/// Textures kept at most (≈ 4 screenfuls); those farthest from the view are dropped first.
pub const MAX_TEXTURES: usize = 400;
/// Thumbnails decoded per job.
const BATCH: usize = 8;

/// What the gallery asks of the app.
#[derive(Clone, Debug, PartialEq)]
pub enum GalleryAction {
    /// Open this micrograph in the viewer (Enter, double click).
    Open(PathBuf),
    /// The table was read (or the user asked for the accepted ones only): open these
    /// micrographs as the picking session.
    Loaded(Vec<PathBuf>),
    /// A folder to watch was chosen: start the watch with the app's model and device
    /// ([`GalleryView::start_watch`]).
    Watch(PathBuf),
}

/// A decoded thumbnail: (table index, raw?) and its pixels.
type Decoded = Vec<((usize, bool), Option<egui::ColorImage>)>;

/// The gallery's state, jobs and textures.
#[derive(Default)]
pub struct GalleryView {
    /// Shown instead of the viewer.
    pub open: bool,
    gallery: Option<Gallery>,
    load: JobSlot<PathBuf, Vec<ScreenRow>>,
    save: JobSlot<u64, ExportCounts>,
    exported: Option<ExportCounts>,
    saved_revision: u64,
    thumbs: JobSlot<(), Decoded>,
    textures: HashMap<(usize, bool), Option<egui::TextureHandle>>,
    visible: std::ops::Range<usize>,
    columns: usize,
    rule: String,
    message: Option<String>,
    plot: GalleryPlot,
    curves: JobSlot<usize, Option<DatasetCurves>>,
    /// The dataset curves and how many rows had curves when they were read.
    dataset_curves: Option<(usize, Option<DatasetCurves>)>,
    refresh: JobSlot<(), Vec<ScreenRow>>,
    refresh_again: bool,
    live: Option<LiveWatch>,
    watch_dialog: JobSlot<(), Option<PathBuf>>,
    /// The selection the grid last scrolled for.
    shown_selection: Option<usize>,
    /// The metrics table instead of the thumbnail grid.
    table: bool,
    /// The name filter as typed.
    name_filter: String,
}

impl GalleryView {
    /// Starts reading the screening table of `dir`; the gallery opens when it arrives.
    pub fn open_dir(&mut self, dir: PathBuf) {
        self.open = true;
        self.message = Some(format!(
            "reading {}",
            dir.join(crate::screen::TABLE_NAME).display()
        ));
        self.load.spawn(dir.clone(), "gallery", move |_| {
            Ok(ScreenTable::open(&dir)?.rows().to_vec())
        });
    }

    /// The gallery, once its table is read.
    pub fn gallery(&self) -> Option<&Gallery> {
        self.gallery.as_ref()
    }

    /// Thumbnails decoded into textures so far (kept ones).
    pub fn textures(&self) -> usize {
        self.textures.values().filter(|t| t.is_some()).count()
    }

    /// One notch of a mouse wheel scrolling the content up (what the benchmark and the tests
    /// send to scroll the grid down).
    pub fn wheel_notch() -> egui::Event {
        egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -120.0),
            phase: egui::TouchPhase::Move,
            modifiers: egui::Modifiers::NONE,
            source: egui::MouseWheelSource::Wheel,
        }
    }

    /// Display positions laid out in the last frame (the rows on screen).
    pub fn visible(&self) -> std::ops::Range<usize> {
        self.visible.clone()
    }

    /// Whether a job runs (the app repaints to poll it).
    pub fn is_busy(&self) -> bool {
        self.load.is_running()
            || self.save.is_running()
            || self.thumbs.is_running()
            || self.curves.is_running()
            || self.refresh.is_running()
            || self.watch_dialog.is_running()
            || self.live.as_ref().is_some_and(LiveWatch::is_busy)
    }

    /// Shows the folder dialog of **Watch folder…** (the answer comes as
    /// [`GalleryAction::Watch`]).
    pub fn choose_watch_folder(&mut self) {
        if !self.watch_dialog.is_running() {
            let dialog = Dialog::new("Watch the folder the microscope writes into");
            self.watch_dialog
                .start((), dialog.folder_job("watch folder dialog"));
        }
    }

    /// Follows `folder` ([`LiveWatch`]): its micrographs are screened with `model` on
    /// `device` into `folder/cryolens_screening`, whose gallery opens now and grows as they
    /// land, the newest shown in the live pane. A watch already running is stopped.
    pub fn start_watch(&mut self, folder: PathBuf, model: DenoiserChoice, device: ComputeDevice) {
        if let Some(old) = &mut self.live {
            old.stop();
        }
        let poll = std::time::Duration::from_secs(2);
        let settle = std::time::Duration::from_secs(3);
        let live = LiveWatch::start(folder, model, device, poll, settle);
        self.open_dir(live.out.clone());
        self.live = Some(live);
    }

    /// Stops the live watch (after the micrograph it is screening).
    pub fn stop_watch(&mut self) {
        if let Some(live) = &mut self.live {
            live.stop();
        }
    }

    /// The running or finished watch, if any.
    pub fn live(&self) -> Option<&LiveWatch> {
        self.live.as_ref()
    }

    /// The dataset's per-ring curves once read (Fig. 3b).
    pub fn dataset_curves(&self) -> Option<&DatasetCurves> {
        self.dataset_curves.as_ref()?.1.as_ref()
    }

    /// Polls the jobs: the table (returns [`GalleryAction::Loaded`]), decoded thumbnails,
    /// saves; starts a save when decisions changed and the next thumbnails to decode.
    pub fn poll(&mut self, ctx: &egui::Context) -> Option<GalleryAction> {
        let mut action = None;
        if let Some((dir, result)) = self.load.poll() {
            match result {
                Ok(rows) => {
                    let g = Gallery::new(dir, rows);
                    self.message = None;
                    action = Some(GalleryAction::Loaded(g.session_paths(false)));
                    self.gallery = Some(g);
                    self.textures.clear();
                }
                Err(e) => self.message = Some(format!("Could not read the screening table: {e:#}")),
            }
        }
        if let Some((revision, result)) = self.save.poll() {
            match result {
                Ok(counts) => {
                    self.saved_revision = self.saved_revision.max(revision);
                    self.exported = Some(counts);
                }
                Err(e) => self.message = Some(format!("Decisions not saved: {e:#}")),
            }
        }
        if let Some(((), Ok(decoded))) = self.thumbs.poll() {
            for (key, image) in decoded {
                let tex = image.map(|im| {
                    ctx.load_texture(format!("gallery {key:?}"), im, egui::TextureOptions::LINEAR)
                });
                self.textures.insert(key, tex);
            }
            self.drop_far_textures();
        }
        if let Some(((), Ok(Some(folder)))) = self.watch_dialog.poll() {
            action = Some(GalleryAction::Watch(folder));
        }
        self.poll_live(ctx);
        if let Some((rows, Ok(curves))) = self.curves.poll() {
            self.dataset_curves = Some((rows, curves));
        }
        if let Some(g) = &self.gallery {
            if g.revision != self.saved_revision && !self.save.is_running() {
                let (dir, rows, revision) = (g.dir.clone(), g.rows().to_vec(), g.revision);
                self.save
                    .spawn(revision, "gallery-save", move |_| jobs::save(&dir, rows));
            }
            if !self.thumbs.is_running() {
                self.decode_next();
            }
        }
        action
    }

    /// The gallery's keys while it is shown: arrows move (up/down by a row), A accepts,
    /// X rejects, Ctrl+Z undoes, Enter opens the selected micrograph, 1 / 2 raw / denoised.
    pub fn keys(&mut self, ctx: &egui::Context) -> Option<GalleryAction> {
        let g = self.gallery.as_mut()?;
        // Up and down move a line in the table, a row of the grid otherwise.
        let columns = if self.table {
            1
        } else {
            self.columns.max(1) as isize
        };
        let (moves, accept, reject, undo, enter, raw, denoised) = ctx.input_mut(|i| {
            let undo = i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z);
            let plain = !i.modifiers.command && !i.modifiers.alt;
            let mut moves = 0isize;
            for (key, step) in [
                (egui::Key::ArrowRight, 1),
                (egui::Key::ArrowLeft, -1),
                (egui::Key::ArrowDown, columns),
                (egui::Key::ArrowUp, -columns),
            ] {
                if i.key_pressed(key) {
                    moves += step;
                }
            }
            (
                moves,
                plain && i.key_pressed(egui::Key::A),
                plain && i.key_pressed(egui::Key::X),
                undo,
                i.key_pressed(egui::Key::Enter),
                plain && i.key_pressed(egui::Key::Num1),
                plain && i.key_pressed(egui::Key::Num2),
            )
        });
        g.move_by(moves);
        if accept {
            g.decide("accept");
        }
        if reject {
            g.decide("reject");
        }
        if undo {
            g.undo();
        }
        if raw || denoised {
            g.show_raw = raw;
        }
        if enter {
            let row = g.row_at(g.selected())?;
            return Some(GalleryAction::Open(g.micrograph_path(row)));
        }
        None
    }

    /// Draws the bar (counts, sort, raw/denoised, a threshold with its count) and the grid;
    /// returns [`GalleryAction::Open`] on a double click.
    pub fn show(&mut self, ui: &mut egui::Ui) -> Option<GalleryAction> {
        let Some(g) = self.gallery.as_mut() else {
            ui.centered_and_justified(|ui| {
                ui.label(
                    self.message
                        .as_deref()
                        .unwrap_or("No screening folder open"),
                )
            });
            return None;
        };
        let mut action = None;
        ui.painter()
            .rect_filled(ui.max_rect(), 0.0, ui.visuals().panel_fill);
        ui.add_space(4.0);
        if let Some(live) = &mut self.live {
            let rule = self.rule.trim().parse::<Threshold>().ok();
            if live.show(ui, rule.as_ref()) {
                live.stop();
            }
            ui.separator();
        }
        ui.horizontal_wrapped(|ui| {
            ui.add_space(6.0);
            let (accepted, rejected, errors) = g.counts();
            ui.strong(format!(
                "{} micrographs: {accepted} accepted, {rejected} rejected, {errors} failed",
                g.rows().len()
            ));
            ui.separator();
            let (mut show, _) = g.filter();
            egui::ComboBox::from_label("show")
                .selected_text(show.label())
                .show_ui(ui, |ui| {
                    for s in Show::ALL {
                        ui.selectable_value(&mut show, s, s.label());
                    }
                });
            let name = ui.label("name");
            ui.add(
                egui::TextEdit::singleline(&mut self.name_filter)
                    .hint_text("GridSquare_12")
                    .desired_width(110.0),
            )
            .labelled_by(name.id);
            g.set_filter(show, self.name_filter.trim());
            if g.len() < g.rows().len() {
                ui.label(format!("{} shown", g.len()));
            }
            ui.separator();
            let mut sort = g.sort;
            egui::ComboBox::from_label("sort")
                .selected_text(sort.unwrap_or("table order"))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut sort, None, "table order");
                    for m in METRICS {
                        ui.selectable_value(&mut sort, Some(m), m);
                    }
                });
            if sort != g.sort {
                g.sort_by(sort);
            }
            ui.checkbox(&mut g.show_raw, "raw (1 / 2)");
            ui.separator();
            let label = ui.label("reject if");
            ui.add(
                egui::TextEdit::singleline(&mut self.rule)
                    .hint_text("ice_ring_db>3")
                    .desired_width(150.0),
            )
            .labelled_by(label.id)
            .on_hover_text("A threshold (METRIC<VALUE or METRIC>VALUE); while watching, a banner shows when the newest micrograph crosses it");
            match self.rule.trim().parse::<Threshold>() {
                Ok(t) if !self.rule.trim().is_empty() => {
                    let n = g.would_reject(std::slice::from_ref(&t));
                    if ui.button(format!("Reject {n}")).clicked() {
                        g.apply_thresholds(&[t]);
                    }
                }
                Err(e) if !self.rule.trim().is_empty() => {
                    ui.colored_label(ui.visuals().warn_fg_color, e);
                }
                _ => {}
            }
        });
        if let Some(m) = &self.message {
            ui.colored_label(ui.visuals().warn_fg_color, m);
        }
        ui.horizontal_wrapped(|ui| {
            ui.add_space(6.0);
            ui.selectable_value(&mut self.table, false, "grid")
                .on_hover_text("Thumbnails");
            ui.selectable_value(&mut self.table, true, "table")
                .on_hover_text("The metrics, one line per micrograph; click a header to sort");
            ui.separator();
            ui.label("plot");
            for p in GalleryPlot::ALL {
                ui.selectable_value(&mut self.plot, p, p.label());
            }
            ui.separator();
            if let Some(n) = &self.exported {
                ui.label(format!(
                    "exported: {} accepted, {} rejected",
                    n.accepted, n.rejected
                ))
                .on_hover_text(
                    "accepted_micrographs.star, accepted.txt and rejected.csv, rewritten \
                         after every decision beside screening.csv",
                );
                ui.separator();
            }
            // The count every frame, the paths (a file check each) only on a click.
            let (accepted, _, _) = g.counts();
            if ui
                .button(format!("Pick on accepted ({accepted})"))
                .on_hover_text("Open only the accepted micrographs as the picking session")
                .clicked()
            {
                action = Some(GalleryAction::Loaded(g.session_paths(true)));
            }
        });
        ui.label("A accept · X reject (again: undecided) · Ctrl+Z undo · arrows move · Enter open · G back to the viewer");
        match self.plot {
            GalleryPlot::Order => {
                if let Some(i) = plots::order_plot(ui, g) {
                    g.select_index(i);
                }
            }
            GalleryPlot::Histograms => plots::histograms(ui, g),
            GalleryPlot::Rings => plots::rings(
                ui,
                self.dataset_curves.as_ref().and_then(|c| c.1.as_ref()),
                self.curves.is_running(),
            ),
            GalleryPlot::Hidden => {}
        }
        if self.table {
            let moved = self.shown_selection != Some(g.selected());
            self.shown_selection = Some(g.selected());
            let scroll_to = moved.then_some(g.selected());
            if let table::TableAction::Open(p) = table::show(ui, g, scroll_to)
                && let Some(row) = g.row_at(p)
            {
                action = Some(GalleryAction::Open(g.micrograph_path(row)));
            }
            return action;
        }
        let width = ui.available_width();
        let columns = ((width / (CELL + 8.0)).floor() as usize).max(1);
        self.columns = columns;
        let rows = g.len().div_ceil(columns);
        let row_height = CELL + 44.0;
        let selected_row = g.selected() / columns;
        let mut scroll = egui::ScrollArea::vertical().auto_shrink(false);
        // Follow the selection when it moved (keys, a plotted point) off the screen; the
        // wheel may scroll away from an unchanged selection.
        let moved = self.shown_selection != Some(g.selected());
        self.shown_selection = Some(g.selected());
        if moved
            && !self.visible.is_empty()
            && !(self.visible.start..self.visible.end).contains(&g.selected())
        {
            scroll = scroll.vertical_scroll_offset(
                selected_row as f32 * (row_height + ui.spacing().item_spacing.y),
            );
        }
        let raw = g.show_raw;
        let textures = &self.textures;
        let mut visible = 0..0;
        scroll.show_rows(ui, row_height, rows, |ui, range| {
            visible = range.start * columns..(range.end * columns).min(g.len());
            for r in range {
                ui.horizontal(|ui| {
                    for p in r * columns..((r + 1) * columns).min(g.len()) {
                        let Some(i) = g.index_at(p) else { continue };
                        let row = &g.rows()[i];
                        let texture = textures.get(&(i, raw)).and_then(Option::as_ref);
                        let response = cell(ui, row, texture, p == g.selected(), g.sort);
                        if response.double_clicked() {
                            action = Some(GalleryAction::Open(g.micrograph_path(row)));
                        }
                        if response.clicked() {
                            g.select(p);
                        }
                    }
                });
            }
        });
        self.visible = visible;
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One headless frame at time `t` with `events`.
    fn frame(ctx: &egui::Context, view: &mut GalleryView, t: f64, events: Vec<egui::Event>) {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(
                egui::Pos2::ZERO,
                egui::vec2(1200.0, 900.0),
            )),
            time: Some(t),
            events,
            ..Default::default()
        };
        let _ = ctx.run_ui(input, |ui| {
            view.show(ui);
        });
    }

    #[test]
    fn the_wheel_scrolls_away_from_the_selection_and_keys_bring_it_back() {
        let rows = (0..300)
            .map(|i| ScreenRow {
                micrograph: format!("/m/{i:03}.mrc"),
                ..Default::default()
            })
            .collect();
        let mut view = GalleryView {
            open: true,
            gallery: Some(Gallery::new(PathBuf::from("/out"), rows)),
            ..Default::default()
        };
        let ctx = egui::Context::default();
        frame(
            &ctx,
            &mut view,
            0.0,
            vec![egui::Event::PointerMoved(egui::pos2(600.0, 700.0))],
        );
        assert_eq!(view.visible().start, 0);
        for k in 1..120 {
            frame(
                &ctx,
                &mut view,
                f64::from(k) / 60.0,
                vec![GalleryView::wheel_notch()],
            );
        }
        // egui smooths the wheel over the following frames: let it settle.
        for k in 120..600 {
            frame(&ctx, &mut view, f64::from(k) / 60.0, Vec::new());
        }
        let away = view.visible();
        assert!(away.start > 20, "the wheel scrolled: {away:?}");
        assert!(!away.contains(&0), "the selection (0) is off screen");
        // A key that moves the selection brings the grid to it.
        view.gallery.as_mut().unwrap().move_by(1);
        for k in 600..610 {
            frame(&ctx, &mut view, f64::from(k) / 60.0, Vec::new());
        }
        assert!(view.visible().contains(&1), "{:?}", view.visible());
    }
}
