//! The keyboard shortcuts window (`?` or F1).

use eframe::egui;

/// Shows the keyboard shortcuts window while `open` (its close button clears it).
pub fn show(ctx: &egui::Context, open: &mut bool) {
    egui::Window::new("Keyboard shortcuts")
        .open(open)
        .resizable(false)
        .collapsible(false)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts")
                .num_columns(2)
                .striped(true)
                .show(ui, |ui| {
                    for (k, what) in [
                        ("1 / 2 / 3 / 4", "raw / denoised / low-pass / merged view"),
                        ("F", "fit the micrograph to the window"),
                        ("+ / −", "zoom in / out"),
                        ("wheel", "zoom around the cursor"),
                        ("drag (off a pick)", "pan"),
                        ("O, Ctrl+O", "open a file"),
                        ("Shift+O", "open an OME-Zarr tomogram (a folder)"),
                        ("click", "add a pick"),
                        ("right click, Shift+click", "remove the nearest pick"),
                        ("drag a pick", "move it"),
                        ("Delete", "remove the pick under the cursor"),
                        ("Ctrl+Z", "undo (all edits, all micrographs)"),
                        ("Ctrl+Shift+Z, Ctrl+Y", "redo"),
                        ("N / P, PgDn / PgUp", "next / previous micrograph"),
                        ("B", "circles / boxes"),
                        ("Up / Down (Shift: ×10)", "section of a volume"),
                        ("H", "hide / show picks"),
                        ("middle drag", "pan"),
                        ("A", "analysis panel (spectra, SSNR, signal/noise/bias)"),
                        (
                            "G",
                            "screening gallery (`cryolens DIR` of `cryolens screen -o DIR`)",
                        ),
                        (
                            "W",
                            "watch a folder: screen micrographs as they land (live pane)",
                        ),
                        (
                            "gallery: arrows, A / X",
                            "move; accept / reject (again: undecided)",
                        ),
                        (
                            "gallery: Ctrl+Z, Enter, 1 / 2",
                            "undo; open in the viewer; raw / denoised",
                        ),
                        ("T", "training panel (noise2noise on this session)"),
                        ("C", "compare views side by side (linked pan and zoom)"),
                        (
                            "R",
                            "label regions for region SNR (click signal, right click background)",
                        ),
                        ("Ctrl+P (analysis)", "save the plot as PNG"),
                        ("? or F1", "this help"),
                    ] {
                        ui.monospace(k);
                        ui.label(what);
                        ui.end_row();
                    }
                });
        });
}
