//! Files in and out: picks (import, export), the CTF, the analysis' curves (CSV) and plots
//! (PNG), with their dialogs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use eframe::egui;
use egui::Rect;

use crate::ctf::MicrographCtf;
use crate::picking::exchange::{self, ExportFormat, ImportOptions, ParsedImport};

use crate::gui::app::CryolensApp;
use crate::gui::dialogs::{ALL_FILES, Dialog};
use crate::gui::jobs::ExportDialog;
use crate::gui::state::SessionCtf;

impl CryolensApp {
    /// Exports all picks into `dir` in `format`; the files written.
    ///
    /// # Errors
    /// A failed write.
    pub fn export_picks(
        &mut self,
        dir: &Path,
        format: ExportFormat,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let files = exchange::export(&self.picks.session, format, dir)?;
        self.exported(dir, format, &files);
        Ok(files)
    }

    /// Notes an export of `files` into `dir` (the next export dialog starts there).
    pub(in crate::gui) fn exported(&mut self, dir: &Path, format: ExportFormat, files: &[PathBuf]) {
        self.picks.last_export = Some(dir.to_path_buf());
        self.info = Some(format!(
            "Exported {} ({} files) into {}",
            format.label(),
            files.len(),
            dir.display()
        ));
    }

    /// Imports a coordinate file into the open micrograph with the panel's scale/flip.
    ///
    /// # Errors
    /// The file's errors.
    pub fn import_picks(&mut self, path: &Path) -> anyhow::Result<usize> {
        let options = self.import_options();
        let m = self.picks.session.current;
        let n = exchange::import(&mut self.picks.session, m, path, options)?;
        self.info = Some(format!("Imported {n} picks from {}", path.display()));
        Ok(n)
    }

    /// The panel's import options, flipping y by the open image's height when asked.
    fn import_options(&self) -> ImportOptions {
        let mut options = self.picks.import_options;
        if options.flip_y_rows.is_some() {
            options.flip_y_rows = self.image_size().map(|(_, h)| h);
        }
        options
    }

    /// Reads coordinate file `path` for the open micrograph on a worker, with the panel's
    /// scale/flip; [`Self::apply_imported`] puts its picks into the session when read.
    pub(in crate::gui) fn start_import_read(&mut self, path: PathBuf) {
        let options = self.import_options();
        let m = self.picks.session.current;
        let Some(micrograph_path) = self
            .picks
            .session
            .micrographs
            .get(m)
            .map(|m| m.path.clone())
        else {
            self.error = Some(format!("Import failed: no micrograph {m} in the session"));
            return;
        };
        let file = path.clone();
        self.jobs.import_read.spawn(path, "import picks", move |p| {
            p.set_message("reading picks");
            Ok(exchange::read_import(m, &micrograph_path, &file, options)?)
        });
    }

    /// Puts picks read from `path` into the session as one undoable edit; the number imported.
    ///
    /// # Errors
    /// The session no longer holds the micrograph they were read for.
    pub(in crate::gui) fn apply_imported(
        &mut self,
        path: &Path,
        parsed: ParsedImport,
    ) -> anyhow::Result<usize> {
        let n = exchange::apply_import(&mut self.picks.session, parsed)?;
        self.info = Some(format!("Imported {n} picks from {}", path.display()));
        Ok(n)
    }

    pub(in crate::gui) fn start_import(&mut self) {
        if self.jobs.import.is_running() {
            return;
        }
        let dialog = Dialog::new("Import picks into this micrograph")
            .filter(
                "Coordinates (RELION, Topaz, EMAN, crYOLO, cryoSPARC)",
                &["star", "txt", "box", "cbox", "coords", "cs"],
            )
            .filter(ALL_FILES.0, ALL_FILES.1);
        self.jobs.import.start((), dialog.file_job("import dialog"));
    }

    pub(in crate::gui) fn start_export(&mut self, format: ExportFormat) {
        if self.jobs.export.is_running() {
            return;
        }
        let start = self.default_export_dir();
        let dialog = Dialog::new("Export picks into folder")
            .directory(start.parent().unwrap_or(Path::new(".")));
        self.jobs.export.start(
            ExportDialog {
                opened: Instant::now(),
                format,
            },
            dialog.folder_job("export dialog"),
        );
    }

    /// Where picks are exported when no folder is chosen: `cryolens_picks/` beside the
    /// session file.
    pub(in crate::gui) fn default_export_dir(&self) -> PathBuf {
        self.picks
            .session_file()
            .and_then(Path::parent)
            .map_or_else(
                || PathBuf::from("cryolens_picks"),
                |d| d.join("cryolens_picks"),
            )
    }

    pub(in crate::gui) fn start_ctf_import(&mut self) {
        if self.ctf.is_importing() {
            return;
        }
        let dialog =
            Dialog::new("Read the CTF (RELION STAR, CTFFIND4 output or cryoSPARC exposures .cs)")
                .filter("CTF parameters", &["star", "txt", "cs"])
                .filter(ALL_FILES.0, ALL_FILES.1);
        let job = dialog.file_then("CTF dialog", |f, _| {
            Ok((f.to_path_buf(), read_ctf_entries(f)))
        });
        self.ctf.start_import(job);
    }

    /// Reads the open micrograph's CTF from a RELION STAR or CTFFIND4 file into the analysis
    /// panel (the entry whose micrograph name has the same stem, else the first); returns the
    /// micrograph name used.
    ///
    /// # Errors
    /// The file's errors; no entries.
    pub fn import_ctf(&mut self, path: &Path) -> anyhow::Result<String> {
        let entries = read_ctf_entries(path)?;
        self.apply_ctf(path, &entries)
    }

    /// Shows the entry of `entries` (read from `path`) whose micrograph name has the open
    /// micrograph's stem, else the first; returns the micrograph name used.
    ///
    /// # Errors
    /// No entries.
    pub(in crate::gui) fn apply_ctf(
        &mut self,
        path: &Path,
        entries: &[MicrographCtf],
    ) -> anyhow::Result<String> {
        let stem = self.analysis_stem();
        let entry = entries
            .iter()
            .find(|e| {
                Path::new(&e.micrograph_name)
                    .file_stem()
                    .is_some_and(|s| s.to_string_lossy() == stem)
            })
            .or(entries.first())
            .ok_or_else(|| anyhow::anyhow!("{}: no CTF entries", path.display()))?;
        self.analysis.ctf = entry.ctf;
        self.analysis.show_ctf = true;
        let name = entry.micrograph_name.clone();
        // The file also gives every micrograph's CTF to models trained on phase-flipped
        // micrographs: those that failed for want of one are tried again.
        self.ctf.set_table(Some(SessionCtf {
            path: path.to_path_buf(),
            entries: entries.to_vec(),
        }));
        for doc in self.doc.iter_mut().chain(self.cache.iter_mut()) {
            doc.denoise_failed.clear();
        }
        self.info = Some(format!(
            "CTF of {} from {}",
            entry.micrograph_name,
            path.display()
        ));
        Ok(name)
    }

    /// Where analysis exports go: `cryolens_analysis/` beside the session file.
    pub(in crate::gui) fn analysis_dir(&self) -> PathBuf {
        self.default_export_dir()
            .with_file_name("cryolens_analysis")
    }

    pub(in crate::gui) fn analysis_stem(&self) -> String {
        self.doc.as_ref().map_or_else(
            || "micrograph".into(),
            |d| {
                Path::new(&d.name)
                    .file_stem()
                    .map_or_else(|| d.name.clone(), |s| s.to_string_lossy().into_owned())
                    .replace(' ', "_")
            },
        )
    }

    /// Writes the open micrograph's curves as CSV into `cryolens_analysis/`; returns the file.
    ///
    /// # Errors
    /// No analysis yet, or a failed write.
    pub fn export_analysis_csv(&mut self) -> anyhow::Result<PathBuf> {
        let csv = self
            .analysis()
            .ok_or_else(|| anyhow::anyhow!("no analysis of this micrograph yet"))?
            .curves_csv();
        let dir = self.analysis_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}_curves.csv", self.analysis_stem()));
        crate::io::atomic::write_atomically(&path, csv.as_bytes())?;
        self.info = Some(format!("Saved the curves to {}", path.display()));
        Ok(path)
    }

    pub(in crate::gui) fn export_plot_png(&mut self, ctx: &egui::Context, rect: Rect) {
        let what = format!("{:?}", self.analysis.tab);
        self.export_png(ctx, rect, &what);
    }

    /// Saves screen rectangle `rect` of the next frame as `cryolens_analysis/<mic>_<what>.png`.
    pub(in crate::gui) fn export_png(&mut self, ctx: &egui::Context, rect: Rect, what: &str) {
        let dir = self.analysis_dir();
        let path = dir.join(format!("{}_{what}.png", self.analysis_stem()));
        let message = Arc::clone(&self.png_message);
        let ppp = ctx.pixels_per_point();
        ctx.request_screenshot(move |shot| {
            let result = (|| -> anyhow::Result<String> {
                let [w, h] = shot.size;
                let x0 = ((rect.min.x * ppp).max(0.0) as usize).min(w);
                let y0 = ((rect.min.y * ppp).max(0.0) as usize).min(h);
                let x1 = ((rect.max.x * ppp) as usize).clamp(x0, w);
                let y1 = ((rect.max.y * ppp) as usize).clamp(y0, h);
                let mut img = image::RgbaImage::new((x1 - x0) as u32, (y1 - y0) as u32);
                for y in y0..y1 {
                    for x in x0..x1 {
                        let c = shot.pixels[y * w + x];
                        img.put_pixel(
                            (x - x0) as u32,
                            (y - y0) as u32,
                            image::Rgba([c.r(), c.g(), c.b(), 255]),
                        );
                    }
                }
                std::fs::create_dir_all(&dir)?;
                let mut bytes = Vec::new();
                img.write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )?;
                crate::io::atomic::write_atomically(&path, &bytes)?;
                Ok(format!("Saved the plot to {}", path.display()))
            })();
            if let Ok(mut m) = message.lock() {
                *m = Some(result.map_err(|e| format!("Saving the plot failed: {e:#}")));
            }
        });
        ctx.request_repaint();
    }
}

/// The CTF entries of a RELION STAR (`.star`) or CTFFIND4 output file.
///
/// # Errors
/// The file's errors.
pub fn read_ctf_entries(path: &Path) -> anyhow::Result<Vec<MicrographCtf>> {
    Ok(crate::ctf::read_ctf_file(path)?)
}
