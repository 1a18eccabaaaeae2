//! The native file dialogs (rfd), each run as a background [`Job`] so that the UI thread never
//! waits on the desktop's file-chooser portal.

use std::path::{Path, PathBuf};

use crate::jobs::{Job, Progress};

/// What a dialog asks for: its title and file filters (name, extensions).
#[derive(Clone, Debug, Default)]
pub struct Dialog {
    /// The window title.
    pub title: &'static str,
    /// File filters, in order: (name, extensions without the dot).
    pub filters: Vec<(&'static str, &'static [&'static str])>,
    /// The folder it starts in.
    pub directory: Option<PathBuf>,
}

impl Dialog {
    /// A dialog titled `title` without filters.
    pub fn new(title: &'static str) -> Self {
        Self {
            title,
            ..Self::default()
        }
    }

    /// Adds a file filter.
    pub fn filter(mut self, name: &'static str, extensions: &'static [&'static str]) -> Self {
        self.filters.push((name, extensions));
        self
    }

    /// Starts in `dir`.
    pub fn directory(mut self, dir: &Path) -> Self {
        self.directory = Some(dir.to_path_buf());
        self
    }

    fn rfd(&self) -> rfd::AsyncFileDialog {
        let mut dialog = rfd::AsyncFileDialog::new().set_title(self.title);
        for (name, extensions) in &self.filters {
            dialog = dialog.add_filter(*name, extensions);
        }
        if let Some(dir) = &self.directory {
            dialog = dialog.set_directory(dir);
        }
        dialog
    }

    /// Shows the dialog (blocking: call on a worker) for one file; `None` when cancelled.
    pub fn pick_file(&self) -> Option<PathBuf> {
        pollster::block_on(self.rfd().pick_file()).map(|f| f.path().to_path_buf())
    }

    /// Shows the dialog (blocking: call on a worker) for several files.
    pub fn pick_files(&self) -> Vec<PathBuf> {
        pollster::block_on(self.rfd().pick_files())
            .unwrap_or_default()
            .iter()
            .map(|f| f.path().to_path_buf())
            .collect()
    }

    /// Shows the dialog (blocking: call on a worker) for a folder; `None` when cancelled.
    pub fn pick_folder(&self) -> Option<PathBuf> {
        pollster::block_on(self.rfd().pick_folder()).map(|f| f.path().to_path_buf())
    }

    /// A job showing the dialog for one file.
    pub fn file_job(self, name: &str) -> Job<Option<PathBuf>> {
        Job::spawn(name, move |_| Ok(self.pick_file()))
    }

    /// A job showing the dialog for one file, then running `then` on the file chosen (on the
    /// same worker); `None` when cancelled.
    pub fn file_then<T, F>(self, name: &str, then: F) -> Job<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Path, &Progress) -> anyhow::Result<T> + Send + 'static,
    {
        Job::spawn(name, move |p| match self.pick_file() {
            Some(f) => then(&f, p).map(Some),
            None => Ok(None),
        })
    }

    /// A job showing the dialog for a folder.
    pub fn folder_job(self, name: &str) -> Job<Option<PathBuf>> {
        Job::spawn(name, move |_| Ok(self.pick_folder()))
    }
}

/// The filters of a "MRC maps" dialog.
pub const MAPS: (&str, &[&str]) = ("Maps (MRC)", &["mrc", "map", "rec"]);
/// The "all files" filter.
pub const ALL_FILES: (&str, &[&str]) = ("All files", &["*"]);
