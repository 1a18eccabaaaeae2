//! The toolbar: open, the views, fit and zoom, help. It draws from [`ToolbarInfo`] and
//! returns a [`ToolbarAction`] (the key bindings give the same actions).

use eframe::egui;

use crate::gui::state::View;

/// What a toolbar button (or its key) asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ToolbarAction {
    /// Nothing.
    None,
    /// Open a micrograph (file dialog).
    Open,
    /// Open an OME-Zarr tomogram (folder dialog).
    OpenZarr,
    /// Show this view.
    View(View),
    /// Fit the micrograph to the window.
    Fit,
    /// Zoom by this factor around the viewer's centre.
    Zoom(f32),
    /// Show or hide the keyboard shortcuts.
    ToggleHelp,
    /// Choose a folder to watch (screening as micrographs land, the gallery's live pane).
    WatchFolder,
    /// Show the Simulate… window (a micrograph with its truth from an atomic model).
    Simulate,
}

/// What the toolbar shows.
pub struct ToolbarInfo<'a> {
    /// The view shown.
    pub view: View,
    /// Whether each view of [`View::ALL`] is computed.
    pub ready: [bool; 4],
    /// Zoom in screen points per image pixel.
    pub zoom: f32,
    /// The open micrograph's name.
    pub name: Option<&'a str>,
}

/// Draws the toolbar; the action of the button clicked.
pub fn show(ui: &mut egui::Ui, info: &ToolbarInfo<'_>) -> ToolbarAction {
    let mut action = ToolbarAction::None;
    ui.horizontal(|ui| {
        if ui
            .button("Open…")
            .on_hover_text("Open a micrograph (O, Ctrl+O)")
            .clicked()
        {
            action = ToolbarAction::Open;
        }
        if ui
            .button("Open OME-Zarr…")
            .on_hover_text(
                "Open a tomogram stored as OME-Zarr (a folder, e.g. from the cryoET Data Portal), \
                 read chunk by chunk at the level that fits the view (Shift+O)",
            )
            .clicked()
        {
            action = ToolbarAction::OpenZarr;
        }
        if ui
            .button("Watch folder…")
            .on_hover_text("Screen the micrographs of a folder as the microscope writes them (W)")
            .clicked()
        {
            action = ToolbarAction::WatchFolder;
        }
        if ui
            .button("Simulate…")
            .on_hover_text(
                "Make a micrograph with its noise-free truth from an atomic model, and open it",
            )
            .clicked()
        {
            action = ToolbarAction::Simulate;
        }
        ui.separator();
        for (i, view) in View::ALL.into_iter().enumerate() {
            let ready = info.ready[i];
            let r = ui
                .selectable_label(info.view == view, view.name())
                .on_hover_text(format!(
                    "Key {}{}",
                    i + 1,
                    if ready { "" } else { " (not computed yet)" }
                ));
            if r.clicked() {
                action = ToolbarAction::View(view);
            }
        }
        ui.separator();
        if ui
            .button("Fit")
            .on_hover_text("Fit the micrograph to the window (F)")
            .clicked()
        {
            action = ToolbarAction::Fit;
        }
        if ui.button("Zoom in").on_hover_text("+").clicked() {
            action = ToolbarAction::Zoom(1.25);
        }
        if ui.button("Zoom out").on_hover_text("−").clicked() {
            action = ToolbarAction::Zoom(0.8);
        }
        ui.label(format!("{:.0} %", info.zoom * 100.0));
        ui.separator();
        if ui.button("?").on_hover_text("Keyboard shortcuts").clicked() {
            action = ToolbarAction::ToggleHelp;
        }
        if let Some(name) = info.name {
            ui.separator();
            ui.label(name);
        }
    });
    action
}
