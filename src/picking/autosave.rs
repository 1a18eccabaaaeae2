//! Autosave of the session file on a background thread.
//!
//! Every edit hands the session's JSON to the saver ([`Autosaver::submit`], or as parts
//! shared with earlier saves, [`Autosaver::submit_parts`] and
//! [`crate::picking::PickSession::json_parts`]), which returns at once. The saver thread writes the newest text it has, atomically (temporary file in the same
//! folder, fsync, rename, fsync of the folder), so the file on disk is always a complete
//! session. Edits that arrive while a write is in progress are coalesced into the next write
//! (the debounce): a crash loses at most the edits made during the last write, which takes
//! milliseconds.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

#[derive(Default)]
struct State {
    /// Text waiting to be written (parts, concatenated), with its sequence number.
    pending: Option<(u64, Vec<Arc<str>>)>,
    /// Sequence number of the last text written.
    written: u64,
    /// Sequence number of the last text submitted.
    submitted: u64,
    /// The last write's error, if it failed.
    error: Option<String>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// Saves a session file in the background; see the module documentation.
pub struct Autosaver {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Autosaver {
    /// A saver for the session file `path` (its folder must exist).
    pub fn new(path: &Path) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = Arc::clone(&shared);
            let path = path.to_path_buf();
            std::thread::Builder::new()
                .name("autosave".into())
                .spawn(move || run(&shared, &path))
                .ok()
        };
        Self {
            path: path.to_path_buf(),
            shared,
            thread,
        }
    }

    /// The session file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `text` to be written (replacing any text still waiting); returns at once. Without
    /// a saver thread (it could not be started) the text is written here, synchronously.
    pub fn submit(&self, text: String) {
        self.submit_parts(vec![Arc::from(text)]);
    }

    /// As [`Self::submit`] for a text made of `parts` (written one after the other; parts
    /// shared with earlier submissions are not copied).
    pub fn submit_parts(&self, parts: Vec<Arc<str>>) {
        if self.thread.is_none() {
            let result = write_parts(&self.path, &parts);
            let mut st = lock(&self.shared);
            st.submitted += 1;
            st.written = st.submitted;
            st.error = result.err().map(|e| format!("{e:#}"));
            return;
        }
        let mut st = lock(&self.shared);
        st.submitted += 1;
        st.pending = Some((st.submitted, parts));
        self.shared.wake.notify_all();
    }

    /// Waits until everything submitted so far is on disk; returns the last write's error.
    pub fn flush(&self) -> Result<(), String> {
        let mut st = lock(&self.shared);
        while self.thread.is_some() && st.written < st.submitted && st.error.is_none() {
            st = self.shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.error.clone().map_or(Ok(()), Err)
    }

    /// Whether everything submitted is on disk.
    pub fn is_saved(&self) -> bool {
        let st = lock(&self.shared);
        st.written >= st.submitted
    }

    /// The last write's error, if it failed (cleared by the next successful write).
    pub fn error(&self) -> Option<String> {
        lock(&self.shared).error.clone()
    }
}

impl Drop for Autosaver {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.shared);
            st.stop = true;
            self.shared.wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes the concatenation of `parts` to `path` atomically.
///
/// # Errors
/// Any I/O failure (the file is then left as it was).
pub fn write_parts(path: &Path, parts: &[Arc<str>]) -> anyhow::Result<()> {
    crate::io::atomic::write_atomically_with(path, |tmp| {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(tmp)?);
        for p in parts {
            out.write_all(p.as_bytes())?;
        }
        out.flush()?;
        Ok(())
    })
}

fn run(shared: &Shared, path: &Path) {
    loop {
        let (seq, text) = {
            let mut st = lock(shared);
            loop {
                if let Some(p) = st.pending.take() {
                    break p;
                }
                if st.stop {
                    return;
                }
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        let result = write_parts(path, &text);
        let mut st = lock(shared);
        match result {
            Ok(()) => {
                st.written = st.written.max(seq);
                st.error = None;
            }
            Err(e) => st.error = Some(format!("saving {}: {e:#}", path.display())),
        }
        shared.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_the_newest_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let saver = Autosaver::new(&path);
        for i in 0..50 {
            saver.submit(format!("{i}"));
        }
        saver.flush().unwrap();
        assert!(saver.is_saved());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "49");
    }

    #[test]
    fn reports_unwritable_folder() {
        let saver = Autosaver::new(Path::new("/nonexistent-folder-cryolens/s.json"));
        saver.submit("x".into());
        assert!(saver.flush().is_err());
        assert!(
            saver
                .error()
                .unwrap()
                .contains("nonexistent-folder-cryolens")
        );
    }
}
