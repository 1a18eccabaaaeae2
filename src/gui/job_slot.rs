//! One background job per purpose, with what it computes for: [`JobSlot`].
//!
//! Every cached result of the GUI (a denoised view, a low-pass, a section, the analysis…) is
//! made by one [`Job`] at a time, keyed by what it is computed for (a micrograph index, a
//! model, settings in hundredths). Starting a new job cancels the one before; polling hands
//! the result back once, with its key, so that a late result is stored where it belongs or
//! dropped. GUI-free: no egui here.

use std::sync::Arc;

use crate::jobs::{Job, Progress};

/// At most one running job producing a `T`, computed for key `K`.
pub struct JobSlot<K, T> {
    running: Option<(K, Job<T>)>,
}

impl<K, T> Default for JobSlot<K, T> {
    fn default() -> Self {
        Self { running: None }
    }
}

impl<K, T: Send + 'static> JobSlot<K, T> {
    /// Runs `job` for `key`, cancelling (and forgetting) the job that ran before.
    pub fn start(&mut self, key: K, job: Job<T>) {
        self.cancel();
        self.running = Some((key, job));
    }

    /// Starts `work` on a new thread named `name` for `key` (see [`Job::spawn`]), cancelling
    /// the job that ran before.
    pub fn spawn<F>(&mut self, key: K, name: &str, work: F)
    where
        F: FnOnce(&Progress) -> anyhow::Result<T> + Send + 'static,
    {
        self.start(key, Job::spawn(name, work));
    }

    /// The key and result once the job has finished (then the slot is empty); `None` while it
    /// runs or when nothing runs.
    pub fn poll(&mut self) -> Option<(K, anyhow::Result<T>)> {
        let (_, job) = self.running.as_mut()?;
        let result = job.try_take()?;
        let (key, _) = self.running.take()?;
        Some((key, result))
    }

    /// Asks the running job to stop and forgets it (its result, if any comes, is dropped);
    /// returns its key.
    pub fn cancel(&mut self) -> Option<K> {
        let (key, job) = self.running.take()?;
        job.progress.cancel();
        Some(key)
    }

    /// Asks the running job to stop at its next step but keeps waiting for its result.
    pub fn request_cancel(&self) {
        if let Some((_, job)) = &self.running {
            job.progress.cancel();
        }
    }
}

impl<K, T> JobSlot<K, T> {
    /// Whether a job runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// What the running job computes for.
    pub fn key(&self) -> Option<&K> {
        self.running.as_ref().map(|(k, _)| k)
    }

    /// Whether a job runs for `key`.
    pub fn is_running_for(&self, key: &K) -> bool
    where
        K: PartialEq,
    {
        self.key() == Some(key)
    }

    /// The running job's progress.
    pub fn progress(&self) -> Option<&Arc<Progress>> {
        self.running.as_ref().map(|(_, j)| &j.progress)
    }

    /// The running job's fraction done and message (for a progress bar).
    pub fn fraction_and_message(&self) -> Option<(f32, String)> {
        self.progress().map(|p| (p.fraction(), p.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_returns_key_and_result_once() {
        let mut slot = JobSlot::default();
        slot.spawn(7usize, "t", |_| Ok(42));
        assert!(slot.is_running_for(&7));
        let (key, result) = loop {
            if let Some(r) = slot.poll() {
                break r;
            }
            std::thread::yield_now();
        };
        assert_eq!((key, result.unwrap()), (7, 42));
        assert!(!slot.is_running());
        assert!(slot.poll().is_none());
    }

    #[test]
    fn start_cancels_the_previous_job() {
        let mut slot = JobSlot::default();
        let first = Job::spawn("t", |p| {
            while !p.is_cancelled() {
                std::thread::yield_now();
            }
            Ok(0)
        });
        let progress = Arc::clone(&first.progress);
        slot.start(1usize, first);
        slot.spawn(2, "t", |_| Ok(1));
        assert!(progress.is_cancelled());
        assert_eq!(slot.key(), Some(&2));
    }
}
