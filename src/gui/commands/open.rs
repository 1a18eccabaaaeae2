//! Opening micrographs and moving through the session: the session file, the document
//! cache, prefetching the next micrograph and the list's thumbnails, undo and redo.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eframe::egui;

use crate::jobs::Job;
use crate::paths::sessions_dir;
use crate::picking::exchange;
use crate::picking::{PickSession, default_session_path};

use crate::gui::app::CryolensApp;
use crate::gui::jobs::{ExportDialog, ExportInto};
use crate::gui::loading::{Loaded, absolute, denoise_job, document, load_micrograph};
use crate::gui::panels::micrograph_list;
use crate::gui::panels::picking::PickTool;
use crate::gui::state::{CACHE_DOCS, Document, SAMPLE_NAME, SessionCtf, SessionFile, Source};
use crate::gui::viewer::ViewTransform;

impl CryolensApp {
    /// Opens `source` as a picking session (restoring its saved picks) and starts reading its
    /// current micrograph in the background; the current document stays until it loads.
    pub fn open(&mut self, source: Source) {
        let (paths, star): (Vec<PathBuf>, _) = match source {
            Source::Sample => (vec![PathBuf::from(SAMPLE_NAME)], None),
            // A STAR opened with the dialog or dropped is a micrographs STAR too.
            Source::File(p) if p.extension().is_some_and(|e| e == "star") => {
                (Vec::new(), Some(absolute(&p)))
            }
            Source::File(p) => (vec![absolute(&p)], None),
            Source::Micrographs(ps) => (ps.iter().map(|p| absolute(p)).collect(), None),
            Source::Star(p) => (Vec::new(), Some(absolute(&p))),
            Source::Screening(dir) => {
                // The session opens once the table is read (GalleryAction::Loaded).
                self.gallery.open_dir(absolute(&dir));
                return;
            }
        };
        if paths.is_empty() && star.is_none() {
            self.error = Some("Nothing to open: no micrographs were given".into());
            return;
        }
        // The session file (and a STAR's micrographs and CTFs) are read on a worker; the open
        // session and micrograph stay until the new one's micrograph is read.
        let choice = self.session_choice.clone();
        self.jobs.session.spawn((), "session", move |_| {
            let (paths, ctf) = match star {
                Some(star) => {
                    let listed = crate::picking::expand_input(&star.to_string_lossy())?;
                    let paths = listed.iter().map(|p| absolute(p)).collect();
                    (paths, SessionCtf::from_session_star(&star))
                }
                None => (paths, None),
            };
            let (session, file, note) = read_session(&choice, &paths);
            Ok((session, file, note, ctf))
        });
    }

    /// Once the session being opened is read: notes why it could not be (if so) and starts
    /// reading its current micrograph.
    pub(in crate::gui) fn poll_session(&mut self) {
        let Some(((), result)) = self.jobs.session.poll() else {
            return;
        };
        let (session, file, note, ctf) = match result {
            Ok(read) => read,
            Err(e) => {
                self.error = Some(format!("The picking session could not be opened: {e:#}"));
                return;
            }
        };
        if let Some(n) = note {
            // A notice, not an error: loading the micrograph clears errors, and this must stay
            // until the user has seen it.
            self.notice = Some(format!("The picking session could not be read: {n}"));
        }
        let index = session.current;
        let path = session.micrographs[index].path.clone();
        self.pending_open = Some((PickTool::new(session, Some(&file)), ctf));
        self.jobs
            .load
            .spawn(path.display().to_string(), "load", move |p| {
                load_micrograph(index, &path, p)
            });
    }

    /// Replaces the session by the one being opened, dropping everything of the old one.
    pub(in crate::gui) fn install_pending_session(&mut self) {
        let Some((tool, ctf)) = self.pending_open.take() else {
            return;
        };
        let _ = self.picks.flush();
        self.picks = tool;
        self.ctf.set_table(ctf);
        self.cache.clear();
        self.doc = None;
        self.jobs.prefetch.cancel();
        self.jobs.denoise.cancel();
        self.jobs.lowpass.cancel();
        self.thumbnails.clear();
        self.thumbnail_failed.clear();
        self.jobs.thumbnail.cancel();
        self.scroll_list = true;
    }

    /// **Watch folder…**: screens `folder`'s micrographs as they land with the selected model
    /// on the app's device, into `folder/cryolens_screening`, and shows its gallery with the
    /// live pane.
    pub(in crate::gui) fn watch_folder(&mut self, folder: PathBuf) {
        let Some(model) = self.models.selected else {
            self.error = Some(
                "No denoising model: install the Topaz models (Models panel) to watch a folder"
                    .into(),
            );
            return;
        };
        let Some(device) = self.device.clone() else {
            self.error = Some("The compute device is not ready yet: try again in a moment".into());
            return;
        };
        if !folder.is_dir() {
            self.error = Some(format!(
                "error: {}: not a folder (choose the folder the microscope writes into)",
                folder.display()
            ));
            return;
        }
        self.gallery.start_watch(absolute(&folder), model, device);
    }

    /// What the gallery asked for: open the screening folder's micrographs as the session, or
    /// show one of them in the viewer (leaving the gallery).
    pub(in crate::gui) fn handle_gallery_action(
        &mut self,
        action: Option<crate::gui::views::gallery::GalleryAction>,
    ) {
        use crate::gui::views::gallery::GalleryAction;
        match action {
            Some(GalleryAction::Loaded(paths)) if !paths.is_empty() => {
                self.open(Source::Micrographs(paths));
            }
            Some(GalleryAction::Watch(folder)) => self.watch_folder(folder),
            Some(GalleryAction::Open(path)) => {
                let wanted = absolute(&path);
                match self
                    .picks
                    .session
                    .micrographs
                    .iter()
                    .position(|m| m.path == wanted || m.path == path)
                {
                    Some(i) => {
                        self.gallery.open = false;
                        self.go_to(i);
                    }
                    None => self.open(Source::File(path)),
                }
            }
            _ => {}
        }
    }

    /// Shows micrograph `index` of the session: at once when it is cached (prefetched or
    /// recently shown), else after reading it in the background. The view, zoom policy and
    /// contrast stay.
    pub fn go_to(&mut self, index: usize) {
        let Some(m) = self.picks.session.micrographs.get(index) else {
            return;
        };
        let path = m.path.clone();
        let _ = self.picks.flush();
        self.picks.session.current = index;
        self.scroll_list = true;
        if let Some(doc) = self.doc.take() {
            if doc.index == index {
                self.doc = Some(doc);
                return;
            }
            self.cache.push(doc);
        }
        if let Some(pos) = self.cache.iter().position(|d| d.index == index) {
            let doc = self.cache.remove(pos);
            self.doc = Some(doc);
            self.transform = ViewTransform::default();
            self.jobs.load.cancel();
        } else if self.jobs.prefetch.is_running_for(&index) {
            // Being read (and denoised) already: shown when the prefetch finishes.
            self.jobs.load.cancel();
        } else {
            self.jobs
                .load
                .spawn(path.display().to_string(), "load", move |p| {
                    load_micrograph(index, &path, p)
                });
        }
        while self.cache.len() > CACHE_DOCS {
            // Keep the neighbours of the current micrograph; drop the farthest.
            let far = (0..self.cache.len())
                .max_by_key(|&i| self.cache[i].index.abs_diff(index))
                .unwrap_or(0);
            self.cache.remove(far);
        }
    }

    /// Undoes the last pick edit (switching to its micrograph).
    pub fn undo(&mut self) {
        if let Some(m) = self.picks.session.undo()
            && m != self.picks.session.current
        {
            self.go_to(m);
        }
    }

    /// Redoes the last undone pick edit (switching to its micrograph).
    pub fn redo(&mut self) {
        if let Some(m) = self.picks.session.redo()
            && m != self.picks.session.current
        {
            self.go_to(m);
        }
    }

    pub(in crate::gui) fn set_document(&mut self, loaded: Loaded) {
        self.store_thumbnail(loaded.index, &loaded.thumbnail);
        self.doc = Some(document(loaded, None));
        self.transform = ViewTransform::default();
        self.error = None;
    }

    /// The open or a cached document of micrograph `index`.
    pub(in crate::gui) fn doc_mut(&mut self, index: usize) -> Option<&mut Document> {
        if self.doc.as_ref().is_some_and(|d| d.index == index) {
            return self.doc.as_mut();
        }
        self.cache.iter_mut().find(|d| d.index == index)
    }

    /// Polls the picking jobs: prefetch, thumbnails, import and export dialogs.
    pub(in crate::gui) fn poll_picking_jobs(&mut self) {
        if let Some((_, Ok((loaded, denoised)))) = self.jobs.prefetch.poll() {
            let index = loaded.index;
            if self.doc.is_none() && index == self.picks.session.current {
                self.set_document(loaded);
                if let (Some(doc), Some((model, img))) = (&mut self.doc, denoised) {
                    doc.denoised.insert(model, Arc::new(img));
                }
            } else if self.doc.as_ref().is_some_and(|d| d.index == index) {
                // The user got there first: keep the denoised view.
                if let (Some(doc), Some((model, img))) = (&mut self.doc, denoised) {
                    doc.denoised.entry(model).or_insert_with(|| Arc::new(img));
                }
            } else if !self.cache.iter().any(|d| d.index == index) {
                self.store_thumbnail(index, &loaded.thumbnail);
                self.cache.push(document(loaded, denoised));
            }
        }
        if let Some((key, result)) = self.jobs.thumbnail.poll() {
            let index = key;
            match result {
                Ok(img) => self.store_thumbnail(index, &img),
                Err(_) => {
                    self.thumbnail_failed.insert(index);
                }
            }
        }
        if let Some(((), result)) = self.jobs.import.poll() {
            match result {
                Ok(Some(path)) => self.start_import_read(path),
                Ok(None) => {}
                Err(e) => self.error = Some(format!("File dialog failed: {e:#}")),
            }
        }
        if let Some((path, result)) = self.jobs.import_read.poll()
            && let Err(e) = result.and_then(|parsed| self.apply_imported(&path, parsed))
        {
            self.error = Some(format!("Import failed: {e:#}"));
        }
        if let Some((key, result)) = self.jobs.export.poll() {
            let ExportDialog {
                opened: started,
                format,
            } = key;
            let dir = match result {
                Ok(Some(dir)) => Some(dir),
                // No portal answered: export beside the session file.
                Ok(None) if started.elapsed() < Duration::from_millis(1500) => {
                    Some(self.default_export_dir())
                }
                Ok(None) => None,
                Err(e) => {
                    self.error = Some(format!("Folder dialog failed: {e:#}"));
                    None
                }
            };
            if let Some(dir) = dir {
                // Written on a worker, from a copy of the session.
                let session = self.picks.session.clone();
                self.jobs.export_write.spawn(
                    ExportInto {
                        dir: dir.clone(),
                        format,
                    },
                    "export picks",
                    move |_| Ok(exchange::export(&session, format, &dir)?),
                );
            }
        }
        if let Some((ExportInto { dir, format }, result)) = self.jobs.export_write.poll() {
            match result {
                Ok(files) => self.exported(&dir, format, &files),
                Err(e) => self.error = Some(format!("Export failed: {e:#}")),
            }
        }
    }

    /// Uploads a thumbnail made on a worker (no image work on the UI thread), and drops the
    /// thumbnails farthest from the list's visible rows beyond
    /// [`micrograph_list::MAX_THUMBNAILS`].
    pub(in crate::gui) fn store_thumbnail(&mut self, index: usize, img: &egui::ColorImage) {
        if self.thumbnails.contains_key(&index) {
            return;
        }
        let tex = self.egui_ctx.load_texture(
            format!("thumbnail {index}"),
            img.clone(),
            egui::TextureOptions::LINEAR,
        );
        self.thumbnails.insert(index, tex);
        let drop = micrograph_list::thumbnails_to_drop(
            self.thumbnails.keys().copied(),
            &self.list_visible,
            micrograph_list::MAX_THUMBNAILS,
        );
        for i in drop {
            self.thumbnails.remove(&i);
        }
    }

    /// Background work for picking when nothing else runs: prefetch (read and denoise) the
    /// next micrograph, then thumbnails of the others, one at a time.
    pub(in crate::gui) fn start_picking_jobs(&mut self) {
        let foreground_busy = self.jobs.load.is_running()
            || self.jobs.denoise.is_running()
            || self.jobs.lowpass.is_running()
            || self.jobs.install.is_running();
        if foreground_busy || self.jobs.prefetch.is_running() || self.jobs.thumbnail.is_running() {
            return;
        }
        let session = &self.picks.session;
        let next = session.current + 1;
        if next < session.micrographs.len()
            && !self.cache.iter().any(|d| d.index == next)
            && self.doc.is_some()
        {
            let path = session.micrographs[next].path.clone();
            let model = self.models.selected.zip(self.device.clone());
            let ctf = self.ctf_for(next);
            let job = Job::spawn("prefetch", move |p| {
                let loaded = load_micrograph(next, &path, p)?;
                let denoised = match model {
                    Some((arch, device)) if !p.is_cancelled() => {
                        denoise_job(arch, &device, &loaded.raw, ctf.as_ref(), p)
                            .ok()
                            .map(|img| (arch.name(), img))
                    }
                    _ => None,
                };
                Ok((loaded, denoised))
            });
            self.jobs.prefetch.start(next, job);
            return;
        }
        let missing =
            micrograph_list::next_thumbnail(&self.list_visible, session.micrographs.len(), |i| {
                self.thumbnails.contains_key(&i)
                    || self.thumbnail_failed.contains(&i)
                    || self.doc.as_ref().is_some_and(|d| d.index == i)
            });
        if let Some(index) = missing {
            let path = session.micrographs[index].path.clone();
            let job = Job::spawn("thumbnail", move |p| {
                let loaded = load_micrograph(index, &path, p)?;
                Ok(micrograph_list::thumbnail(
                    &loaded.raw.image,
                    micrograph_list::THUMBNAIL_SIDE,
                ))
            });
            self.jobs.thumbnail.start(index, job);
        }
    }
}

/// The session over `paths` saved in the file `choice` names (or a new one), its file, and why
/// a saved session could not be read (it is then kept aside, never overwritten). The current
/// micrograph is `paths[0]`. Reads the disk: runs on a worker.
fn read_session(choice: &SessionFile, paths: &[PathBuf]) -> (PickSession, PathBuf, Option<String>) {
    let file = match choice {
        SessionFile::At(p) => p.clone(),
        SessionFile::Default if paths[0] == Path::new(SAMPLE_NAME) => {
            let dir = sessions_dir();
            let _ = std::fs::create_dir_all(&dir);
            dir.join("sample.json")
        }
        SessionFile::Default => default_session_path(paths),
    };
    let mut note = None;
    let mut session = if file.exists() {
        match PickSession::load(&file) {
            Ok(mut s) => {
                s.merge_paths(paths);
                s
            }
            Err(e) => {
                // Never overwrite a session we cannot read: keep it, save beside it.
                let aside = file.with_extension(format!("unreadable-{}.json", std::process::id()));
                let _ = std::fs::rename(&file, &aside);
                note = Some(format!("{e}; it was kept as {}", aside.display()));
                PickSession::new(paths.to_vec())
            }
        }
    } else {
        PickSession::new(paths.to_vec())
    };
    if let Some(i) = session.micrographs.iter().position(|m| m.path == paths[0]) {
        session.current = i;
    }
    (session, file, note)
}
