//! The gallery as a table of the screening metrics: one line per micrograph in the gallery's
//! sort and filter (virtualised: only the lines on screen are laid out), a click on a metric's
//! header sorts by it, a click on a line selects it, a double click opens it.

use eframe::egui;
use egui_extras::{Column, TableBuilder};

use crate::gui::state::gallery::Gallery;
use crate::screen::ScreenRow;
use crate::screen::curate::metric;

/// The metrics shown by name (the table's columns, the live pane's lines): label, table
/// column ([`crate::screen::curate::METRICS`]), unit.
pub(super) const COLUMNS: [(&str, &str, &str); 12] = [
    ("SNR raw", "snr_raw_db", "dB"),
    ("SNR denoised", "snr_denoised_db", "dB"),
    ("SNBR", "snbr_db", "dB"),
    ("ice ring", "ice_ring_db", "dB"),
    ("dose", "dose_e_per_angstrom2", "e/Å²"),
    ("defocus", "defocus_um", "µm"),
    ("astigmatism", "astigmatism_um", "µm"),
    ("CTF fit", "ctf_fit_resolution_angstrom", "Å"),
    ("ice (CTFFIND5)", "ice_thickness_nm", "nm"),
    ("tilt (CTFFIND5)", "ctf_tilt_degrees", "°"),
    ("picks", "picks", ""),
    ("pixel", "pixel_size_angstrom", "Å"),
];

/// Height of a line, points.
const LINE: f32 = 20.0;

/// What the table asks for.
pub enum TableAction {
    /// Nothing.
    None,
    /// Open the micrograph at this display position (double click).
    Open(usize),
}

/// Draws the table of `g` (scrolled to display position `scroll_to` when given); sorts,
/// selects and returns [`TableAction::Open`] on a double click.
pub fn show(ui: &mut egui::Ui, g: &mut Gallery, scroll_to: Option<usize>) -> TableAction {
    // Wider than the window with the side panels open: scroll sideways.
    let mut action_out = TableAction::None;
    egui::ScrollArea::horizontal().show(ui, |ui| {
        action_out = table_ui(ui, g, scroll_to);
    });
    action_out
}

/// The table itself (inside the horizontal scroll area).
fn table_ui(ui: &mut egui::Ui, g: &mut Gallery, scroll_to: Option<usize>) -> TableAction {
    let mut action = TableAction::None;
    let mut sort_by = None;
    let selected = g.selected();
    let mut clicked = None;
    let mut table = TableBuilder::new(ui)
        .striped(true)
        .sense(egui::Sense::click())
        .column(
            Column::initial(300.0)
                .at_least(120.0)
                .resizable(true)
                .clip(true),
        )
        .column(Column::initial(80.0).at_least(60.0));
    if let Some(p) = scroll_to {
        table = table.scroll_to_row(p, None);
    }
    for _ in COLUMNS {
        table = table.column(
            Column::initial(112.0)
                .at_least(50.0)
                .resizable(true)
                .clip(true),
        );
    }
    table = table.column(Column::initial(240.0).at_least(80.0).clip(true));
    table
        .header(LINE + 4.0, |mut header| {
            header.col(|ui| {
                if ui
                    .selectable_label(g.sort.is_none(), "micrograph")
                    .on_hover_text("Table (acquisition) order")
                    .clicked()
                {
                    sort_by = Some(None);
                }
            });
            header.col(|ui| {
                ui.strong("decision");
            });
            for (name, column, unit) in COLUMNS {
                header.col(|ui| {
                    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                    let label = if unit.is_empty() {
                        name.to_string()
                    } else {
                        format!("{name} ({unit})")
                    };
                    if ui
                        .selectable_label(g.sort == Some(column), label)
                        .on_hover_text(format!("{column}: click to sort, highest first"))
                        .clicked()
                    {
                        sort_by = Some(Some(column));
                    }
                });
            }
            header.col(|ui| {
                ui.strong("reason / error");
            });
        })
        .body(|body| {
            body.rows(LINE, g.len(), |mut line| {
                let p = line.index();
                let Some(row) = g.row_at(p) else { return };
                line.set_selected(p == selected);
                cells(&mut line, row);
                let response = line.response();
                if response.double_clicked() {
                    action = TableAction::Open(p);
                } else if response.clicked() {
                    clicked = Some(p);
                }
            });
        });
    if let Some(p) = clicked {
        g.select(p);
    }
    if let Some(sort) = sort_by {
        g.sort_by(sort);
    }
    action
}

/// The cells of one line.
fn cells(line: &mut egui_extras::TableRow<'_, '_>, row: &ScreenRow) {
    line.col(|ui| {
        let name = crate::io::file_name_in(&row.micrograph);
        ui.label(name).on_hover_text(&row.micrograph);
    });
    line.col(|ui| {
        let (text, colour) = match (row.error.is_some(), row.decision.as_deref()) {
            (true, _) => ("error", egui::Color32::LIGHT_RED),
            (false, Some("accept")) => ("accept", egui::Color32::from_rgb(60, 190, 90)),
            (false, Some("reject")) => ("reject", egui::Color32::from_rgb(220, 50, 50)),
            _ => ("–", ui.visuals().weak_text_color()),
        };
        ui.colored_label(colour, text);
    });
    for (_, column, _) in COLUMNS {
        line.col(|ui| {
            ui.label(metric(row, column).map_or_else(|| "–".to_string(), |v| format!("{v:.2}")));
        });
    }
    line.col(|ui| {
        let text = row.error.as_deref().or(row.reason.as_deref()).unwrap_or("");
        ui.label(text).on_hover_text(text);
    });
}
