//! Key bindings (ignored while a text field has the focus); the help window lists them.

use eframe::egui;
use egui::Key;

use super::app::CryolensApp;
use super::panels::toolbar::ToolbarAction;
use super::state::View;

impl CryolensApp {
    /// Keyboard shortcuts (ignored while a text field has the focus).
    pub(in crate::gui) fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let toggle_gallery = ctx.input(|i| !i.modifiers.command && i.key_pressed(Key::G));
        if toggle_gallery && self.gallery.gallery().is_some() {
            self.gallery.open = !self.gallery.open;
        } else if toggle_gallery {
            self.info = Some(
                "No gallery: open a screening folder (`cryolens screen … -o DIR`, then `cryolens DIR`)"
                    .into(),
            );
        }
        if ctx.input(|i| !i.modifiers.command && i.key_pressed(Key::W)) {
            self.handle_toolbar_action(ToolbarAction::WatchFolder);
        }
        if self.gallery.open {
            let action = self.gallery.keys(ctx);
            self.handle_gallery_action(action);
            if ctx.input(|i| i.key_pressed(Key::Questionmark) || i.key_pressed(Key::F1)) {
                self.handle_toolbar_action(ToolbarAction::ToggleHelp);
            }
            return;
        }
        let (views, open_zarr, fit, open, zoom_in, zoom_out, help) = ctx.input_mut(|i| {
            let views = [Key::Num1, Key::Num2, Key::Num3, Key::Num4].map(|k| i.key_pressed(k));
            let open_zarr = i.consume_key(egui::Modifiers::SHIFT, Key::O);
            let open = i.consume_key(egui::Modifiers::COMMAND, Key::O) || i.key_pressed(Key::O);
            (
                views,
                open_zarr,
                i.key_pressed(Key::F),
                open,
                i.key_pressed(Key::Plus) || i.key_pressed(Key::Equals),
                i.key_pressed(Key::Minus),
                i.key_pressed(Key::Questionmark) || i.key_pressed(Key::F1),
            )
        });
        let actions = views
            .into_iter()
            .zip(View::ALL)
            .map(|(pressed, view)| (pressed, ToolbarAction::View(view)))
            .chain([
                (fit, ToolbarAction::Fit),
                (open, ToolbarAction::Open),
                (open_zarr, ToolbarAction::OpenZarr),
                (zoom_in, ToolbarAction::Zoom(1.25)),
                (zoom_out, ToolbarAction::Zoom(0.8)),
                (help, ToolbarAction::ToggleHelp),
            ]);
        for (pressed, action) in actions {
            if pressed {
                self.handle_toolbar_action(action);
            }
        }
        self.picking_shortcuts(ctx);
    }

    /// Picking keys: undo/redo, next/previous micrograph, overlay, delete under the cursor.
    pub(in crate::gui) fn picking_shortcuts(&mut self, ctx: &egui::Context) {
        use egui::Modifiers;
        let keys = ctx.input_mut(|i| {
            let redo = i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
                || i.consume_key(Modifiers::COMMAND, Key::Y);
            let undo = i.consume_key(Modifiers::COMMAND, Key::Z);
            let plain = !i.modifiers.command && !i.modifiers.alt;
            [
                undo,
                redo,
                plain && (i.key_pressed(Key::N) || i.key_pressed(Key::PageDown)),
                plain && (i.key_pressed(Key::P) || i.key_pressed(Key::PageUp)),
                plain && i.key_pressed(Key::B),
                plain && i.key_pressed(Key::H),
                plain && (i.key_pressed(Key::Delete) || i.key_pressed(Key::Backspace)),
            ]
        });
        let [undo, redo, next, previous, boxes, hide, delete] = keys;
        let step = ctx.input(|i| {
            let n = if i.modifiers.shift { 10 } else { 1 };
            if i.key_pressed(Key::ArrowUp) {
                n
            } else if i.key_pressed(Key::ArrowDown) {
                -n
            } else {
                0
            }
        });
        if step != 0
            && let Some((depth, z)) = self.section()
        {
            let target = (z as i64 + step).clamp(0, depth as i64 - 1) as usize;
            self.set_section(target);
        }
        let (analysis, regions) = ctx.input(|i| {
            let plain = !i.modifiers.command && !i.modifiers.alt;
            (
                plain && i.key_pressed(Key::A),
                plain && i.key_pressed(Key::R),
            )
        });
        if analysis {
            self.analysis.open = !self.analysis.open;
        }
        if ctx.input(|i| !i.modifiers.command && i.key_pressed(Key::T)) {
            self.training.open = !self.training.open;
        }
        if ctx.input(|i| !i.modifiers.command && i.key_pressed(Key::C)) {
            self.compare.open = !self.compare.open;
        }
        if regions {
            self.analysis.labelling = !self.analysis.labelling;
            if self.analysis.labelling {
                self.analysis.open = true;
                self.analysis.tab = crate::gui::panels::analysis::Tab::Regions;
            }
        }
        if undo {
            self.undo();
        }
        if redo {
            self.redo();
        }
        let current = self.picks.session.current;
        if next && current + 1 < self.picks.session.micrographs.len() {
            self.go_to(current + 1);
        }
        if previous && current > 0 {
            self.go_to(current - 1);
        }
        if boxes {
            self.picks.session.settings.circles = !self.picks.session.settings.circles;
            self.picks.session.touch();
        }
        if hide {
            self.picks.show_picks = !self.picks.show_picks;
        }
        if delete
            && let (Some(rect), Some(pos)) = (self.viewer_rect, ctx.pointer_hover_pos())
            && rect.contains(pos)
        {
            let radius = self.pick_radius_px();
            self.picks.remove_at(&self.transform, rect, pos, radius);
        }
    }

    pub(in crate::gui) fn zoom_step(&mut self, factor: f32) {
        if let (Some(rect), Some((w, h))) = (self.viewer_rect, self.image_size()) {
            self.transform
                .zoom_around(rect, egui::vec2(w as f32, h as f32), rect.center(), factor);
        }
    }
}
