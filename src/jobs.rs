//! Background jobs: one mechanism for the GUI and the CLI; and the share of a batch one job
//! takes ([`Shard`], `--shard K/N`).
//!
//! A job runs on its own thread and reports through a shared [`Progress`] (steps done of a
//! total, a short message, a cancel flag). The GUI polls [`Job::try_take`] and the progress
//! each frame and never blocks; the CLI draws the same progress with indicatif.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::sync::{Arc, Mutex};

/// Progress of one job, shared between the worker and whoever watches it.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    message: Mutex<String>,
}

impl Progress {
    /// A fresh, shareable progress record.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets the number of steps the job will take (resets `done`).
    pub fn start(&self, total: u64, message: impl Into<String>) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.set_message(message);
    }

    /// Marks one more step as done.
    pub fn step(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Replaces the message shown beside the progress bar.
    pub fn set_message(&self, message: impl Into<String>) {
        if let Ok(mut m) = self.message.lock() {
            *m = message.into();
        }
    }

    /// The current message.
    pub fn message(&self) -> String {
        self.message.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// `(done, total)` steps.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// Fraction done in [0, 1] (0 while the total is unknown).
    pub fn fraction(&self) -> f32 {
        let (d, t) = self.counts();
        if t == 0 {
            0.0
        } else {
            (d as f32 / t as f32).min(1.0)
        }
    }

    /// Asks the job to stop at its next step.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// A job running on a background thread, producing a `T` or an error message.
pub struct Job<T> {
    /// Shared progress of the job.
    pub progress: Arc<Progress>,
    rx: Receiver<anyhow::Result<T>>,
    finished: bool,
}

impl<T: Send + 'static> Job<T> {
    /// Starts `work` on a new thread named `name`. `work` receives the job's progress and
    /// should check [`Progress::is_cancelled`] between steps.
    pub fn spawn<F>(name: &str, work: F) -> Self
    where
        F: FnOnce(&Progress) -> anyhow::Result<T> + Send + 'static,
    {
        let progress = Progress::new();
        let (tx, rx) = channel();
        let p = Arc::clone(&progress);
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&p)))
                    .unwrap_or_else(|panic| {
                        let what = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "unknown panic".into());
                        Err(anyhow::anyhow!("internal error in background job: {what}"))
                    });
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            let (tx, rx2) = channel();
            let _ = tx.send(Err(anyhow::anyhow!("could not start a worker thread: {e}")));
            return Self {
                progress,
                rx: rx2,
                finished: false,
            };
        }
        Self {
            progress,
            rx,
            finished: false,
        }
    }

    /// The result if the job has finished (returned once), `None` while it runs.
    pub fn try_take(&mut self) -> Option<anyhow::Result<T>> {
        if self.finished {
            return None;
        }
        match self.rx.try_recv() {
            Ok(r) => {
                self.finished = true;
                Some(r)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                self.finished = true;
                Some(Err(anyhow::anyhow!(
                    "background job ended without a result"
                )))
            }
        }
    }

    /// Blocks until the job finishes and returns its result.
    pub fn wait(mut self) -> anyhow::Result<T> {
        if self.finished {
            anyhow::bail!("job result was already taken");
        }
        self.finished = true;
        self.rx
            .recv()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("background job ended without a result")))
    }
}

/// One shard of a batch: `index` of `count`, both from 1 (`--shard 2/8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: usize,
    /// How many shards share the inputs.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// Parses `K/N` with 1 ≤ K ≤ N.
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}` is not K/N (write e.g. 2/8)"))?;
        let parse = |v: &str| v.trim().parse::<usize>().ok();
        match (parse(k), parse(n)) {
            (Some(index), Some(count)) if index >= 1 && index <= count => {
                Ok(Shard { index, count })
            }
            _ => Err(format!(
                "shard `{s}` is not K/N with 1 ≤ K ≤ N (write e.g. 2/8)"
            )),
        }
    }
}

/// The positions in `inputs` that belong to `shard` (all of them for `None`), in sorted
/// path order: the i-th sorted input goes to shard `i mod N + 1`.
pub fn shard_items(inputs: &[PathBuf], shard: Option<Shard>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| inputs[a].cmp(&inputs[b]));
    match shard {
        None => order,
        Some(s) => order
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % s.count + 1 == s.index)
            .map(|(_, item)| item)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_reports_result_and_progress() {
        let job = Job::spawn("t", |p| {
            p.start(3, "counting");
            for _ in 0..3 {
                p.step();
            }
            Ok(42)
        });
        let progress = Arc::clone(&job.progress);
        assert_eq!(job.wait().unwrap(), 42);
        assert_eq!(progress.counts(), (3, 3));
        assert_eq!(progress.message(), "counting");
    }

    #[test]
    fn panic_in_job_becomes_error() {
        let job: Job<()> = Job::spawn("t", |_| panic!("boom"));
        let err = job.wait().unwrap_err().to_string();
        assert!(err.contains("boom"), "{err}");
    }

    #[test]
    fn shards_partition_the_sorted_inputs() {
        let inputs: Vec<PathBuf> = ["c", "a", "e", "b", "d"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let mut all: Vec<usize> = (1..=3)
            .flat_map(|k| shard_items(&inputs, Some(Shard { index: k, count: 3 })))
            .collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2, 3, 4]);
        // Sorted a b c d e: shard 1 takes a and d.
        assert_eq!(
            shard_items(&inputs, Some(Shard { index: 1, count: 3 })),
            vec![1, 4]
        );
        assert_eq!(shard_items(&inputs, None), vec![1, 3, 0, 4, 2]);
    }

    #[test]
    fn shard_syntax_is_checked() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
