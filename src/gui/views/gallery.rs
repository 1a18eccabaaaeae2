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

use crate::gui::job_slot::JobSlot;
use crate::gui::state::gallery::Gallery;
use crate::screen::curate::{METRICS, Threshold};
use crate::screen::{ScreenRow, ScreenTable};

/// Side of a grid cell's image, points.
pub const CELL: f32 = 176.0;
/// Textures kept at most (≈ 4 screenfuls); those farthest from the view are dropped first.
pub const MAX_TEXTURES: usize = 400;
/// Thumbnails decoded per job.
const BATCH: usize = 8;

/// What the gallery asks of the app.
#[derive(Clone, Debug, PartialEq)]
pub enum GalleryAction {
    /// Open this micrograph in the viewer (Enter, double click).
    Open(PathBuf),
    /// The table was read: open these micrographs as the picking session.
    Loaded(Vec<PathBuf>),
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
    save: JobSlot<u64, ()>,
    saved_revision: u64,
    thumbs: JobSlot<(), Decoded>,
    textures: HashMap<(usize, bool), Option<egui::TextureHandle>>,
    visible: std::ops::Range<usize>,
    columns: usize,
    rule: String,
    message: Option<String>,
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

    /// Whether a job runs (the app repaints to poll it).
    pub fn is_busy(&self) -> bool {
        self.load.is_running() || self.save.is_running() || self.thumbs.is_running()
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
                    action = Some(GalleryAction::Loaded(g.session_paths()));
                    self.gallery = Some(g);
                    self.textures.clear();
                }
                Err(e) => self.message = Some(format!("Could not read the screening table: {e:#}")),
            }
        }
        if let Some((revision, result)) = self.save.poll() {
            match result {
                Ok(()) => self.saved_revision = self.saved_revision.max(revision),
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
        if let Some(g) = &self.gallery {
            if g.revision != self.saved_revision && !self.save.is_running() {
                let (dir, rows, revision) = (g.dir.clone(), g.rows().to_vec(), g.revision);
                self.save
                    .spawn(revision, "gallery-save", move |_| save(&dir, rows));
            }
            if !self.thumbs.is_running() {
                self.decode_next();
            }
        }
        action
    }

    /// Starts decoding the visible thumbnails that have no texture yet.
    fn decode_next(&mut self) {
        let Some(g) = &self.gallery else { return };
        let raw = g.show_raw;
        let wanted: Vec<(usize, PathBuf)> = self
            .visible
            .clone()
            .filter_map(|p| g.index_at(p))
            .filter(|&i| !self.textures.contains_key(&(i, raw)))
            .take(BATCH)
            .map(|i| {
                let row = &g.rows()[i];
                let rel = if raw {
                    &row.raw_thumbnail
                } else {
                    &row.thumbnail
                };
                (i, rel.as_ref().map(|r| g.dir.join(r)).unwrap_or_default())
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        self.thumbs.spawn((), "gallery-thumbnails", move |_| {
            Ok(wanted
                .into_iter()
                .map(|(i, path)| ((i, raw), decode(&path)))
                .collect())
        });
    }

    /// Drops textures beyond [`MAX_TEXTURES`], those farthest from the visible rows first.
    fn drop_far_textures(&mut self) {
        if self.textures.len() <= MAX_TEXTURES {
            return;
        }
        let Some(g) = &self.gallery else { return };
        let centre = (self.visible.start + self.visible.end) / 2;
        let position: HashMap<usize, usize> = (0..g.len())
            .filter_map(|p| g.index_at(p).map(|i| (i, p)))
            .collect();
        let mut keys: Vec<(usize, bool)> = self.textures.keys().copied().collect();
        keys.sort_by_key(|(i, _)| {
            std::cmp::Reverse(position.get(i).map_or(usize::MAX, |p| p.abs_diff(centre)))
        });
        let excess = self.textures.len() - MAX_TEXTURES;
        for k in keys.into_iter().take(excess) {
            self.textures.remove(&k);
        }
    }

    /// The gallery's keys while it is shown: arrows move (up/down by a row), A accepts,
    /// X rejects, Ctrl+Z undoes, Enter opens the selected micrograph, 1 / 2 raw / denoised.
    pub fn keys(&mut self, ctx: &egui::Context) -> Option<GalleryAction> {
        let g = self.gallery.as_mut()?;
        let columns = self.columns.max(1) as isize;
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
        ui.horizontal(|ui| {
            ui.add_space(6.0);
            let (accepted, rejected, errors) = g.counts();
            ui.strong(format!(
                "{} micrographs: {accepted} accepted, {rejected} rejected, {errors} failed",
                g.len()
            ));
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
            ui.label("reject if");
            ui.add(
                egui::TextEdit::singleline(&mut self.rule)
                    .hint_text("ice_ring_db>3")
                    .desired_width(150.0),
            );
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
        ui.label("A accept · X reject (again: undecided) · Ctrl+Z undo · arrows move · Enter open · G back to the viewer");
        metric_plot(ui, g);
        let width = ui.available_width();
        let columns = ((width / (CELL + 8.0)).floor() as usize).max(1);
        self.columns = columns;
        let rows = g.len().div_ceil(columns);
        let row_height = CELL + 44.0;
        let selected_row = g.selected() / columns;
        let mut scroll = egui::ScrollArea::vertical().auto_shrink(false);
        if !self.visible.is_empty()
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

/// The sort metric (SNR of the raw halves when unsorted) of every micrograph against its
/// place in the table (acquisition order, as cryoSPARC Live plots it), the selected one marked.
fn metric_plot(ui: &mut egui::Ui, g: &Gallery) {
    use egui_plot::{Plot, PlotPoints, Points, VLine};
    let metric = g.sort.unwrap_or("snr_raw_db");
    let points: Vec<[f64; 2]> = g
        .rows()
        .iter()
        .enumerate()
        .filter_map(|(i, r)| crate::screen::curate::metric(r, metric).map(|v| [i as f64, v]))
        .collect();
    if points.is_empty() {
        return;
    }
    let selected = g.index_at(g.selected()).map(|i| i as f64);
    Plot::new("gallery metric")
        .height(110.0)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .x_axis_label("micrograph (acquisition order)")
        .y_axis_label(metric)
        .show(ui, |pui| {
            pui.points(Points::new(metric, PlotPoints::from(points)).radius(2.5));
            if let Some(x) = selected {
                pui.vline(VLine::new("selected", x));
            }
        });
}

/// One grid cell: the thumbnail framed by its decision (green accepted by hand, red
/// rejected, grey undecided; blue outline when selected), its name and metric.
fn cell(
    ui: &mut egui::Ui,
    row: &ScreenRow,
    texture: Option<&egui::TextureHandle>,
    selected: bool,
    metric: Option<&'static str>,
) -> egui::Response {
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(CELL + 4.0, CELL + 40.0), egui::Sense::click());
    let painter = ui.painter_at(rect);
    let image_rect =
        egui::Rect::from_min_size(rect.min + egui::vec2(2.0, 2.0), egui::vec2(CELL, CELL));
    match (texture, &row.error) {
        (_, Some(e)) => {
            painter.rect_filled(image_rect, 2.0, egui::Color32::from_rgb(60, 20, 20));
            painter.text(
                image_rect.center(),
                egui::Align2::CENTER_CENTER,
                short(e, 28),
                egui::FontId::proportional(11.0),
                egui::Color32::LIGHT_RED,
            );
        }
        (Some(t), None) => {
            let [w, h] = t.size();
            let scale = CELL / w.max(h) as f32;
            let size = egui::vec2(w as f32 * scale, h as f32 * scale);
            let r = egui::Rect::from_center_size(image_rect.center(), size);
            painter.image(
                t.id(),
                r,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                egui::Color32::WHITE,
            );
        }
        (None, None) => {
            painter.rect_filled(image_rect, 2.0, egui::Color32::from_gray(40));
        }
    }
    let frame = match row.decision.as_deref() {
        Some("reject") => egui::Color32::from_rgb(220, 50, 50),
        Some("accept") => egui::Color32::from_rgb(60, 190, 90),
        _ => egui::Color32::from_gray(90),
    };
    painter.rect_stroke(
        image_rect,
        2.0,
        egui::Stroke::new(3.0, frame),
        egui::StrokeKind::Outside,
    );
    if selected {
        painter.rect_stroke(
            rect,
            3.0,
            egui::Stroke::new(2.0, egui::Color32::from_rgb(80, 160, 255)),
            egui::StrokeKind::Inside,
        );
    }
    let name = row
        .micrograph
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(&row.micrograph);
    let value = metric.map_or_else(
        || {
            row.snr_denoised_db
                .or(row.snr_raw_db)
                .map_or(String::new(), |v| format!("SNR {v:.1} dB"))
        },
        |m| {
            crate::screen::curate::metric(row, m)
                .map_or_else(|| format!("{m}: –"), |v| format!("{m}: {v:.2}"))
        },
    );
    let text = ui.visuals().text_color();
    painter.text(
        egui::pos2(rect.left() + 2.0, image_rect.bottom() + 4.0),
        egui::Align2::LEFT_TOP,
        short(name, 30),
        egui::FontId::proportional(11.0),
        text,
    );
    painter.text(
        egui::pos2(rect.left() + 2.0, image_rect.bottom() + 20.0),
        egui::Align2::LEFT_TOP,
        short(&value, 30),
        egui::FontId::proportional(11.0),
        text,
    );
    response
}

/// `s` cut to `n` characters with an ellipsis.
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Decodes a thumbnail PNG shrunk to fit a cell; `None` when it cannot be read.
fn decode(path: &std::path::Path) -> Option<egui::ColorImage> {
    let img = image::open(path).ok()?.into_luma8();
    let side = CELL as u32;
    let longest = img.width().max(img.height());
    let small = if longest > side {
        let fit = |n: u32| ((u64::from(n) * u64::from(side) / u64::from(longest)) as u32).max(1);
        image::imageops::thumbnail(&img, fit(img.width()), fit(img.height()))
    } else {
        img
    };
    let (w, h) = (small.width() as usize, small.height() as usize);
    let pixels = small
        .pixels()
        .map(|p| egui::Color32::from_gray(p.0[0]))
        .collect();
    Some(egui::ColorImage::new([w, h], pixels))
}

/// Writes the decisions of `rows` into the table of `dir` as it is on disk now (a screen
/// still running there may have added rows), atomically.
fn save(dir: &std::path::Path, rows: Vec<ScreenRow>) -> anyhow::Result<()> {
    let mut table = ScreenTable::open(dir)?;
    for row in rows {
        table.set_decision(&row.micrograph, row.decision, row.reason);
    }
    table.save()
}
