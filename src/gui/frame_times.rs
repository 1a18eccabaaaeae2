//! The debug frame-time readout of the status bar, on when `CRYOLENS_FRAME_TIMES=1` is set:
//! the UI thread's time per frame (eframe's `cpu_usage`: input, layout, tessellation) and the
//! wall time between consecutive frames while the app repaints (which includes the GPU's
//! work and the wait for the display), median and 95th percentile over the last 120 frames.

use std::collections::VecDeque;
use std::time::Instant;

/// Frames remembered.
const KEPT: usize = 120;
/// Gaps longer than this are idle time, not frames (ms).
const IDLE_GAP_MS: f64 = 500.0;

/// Recent frame times.
#[derive(Default)]
pub struct FrameTimes {
    last: Option<Instant>,
    intervals_ms: VecDeque<f64>,
    ui_ms: VecDeque<f64>,
}

impl FrameTimes {
    /// `Some` when the environment asks for the readout.
    pub fn from_env() -> Option<Self> {
        std::env::var("CRYOLENS_FRAME_TIMES")
            .is_ok_and(|v| v == "1")
            .then(Self::default)
    }

    /// Records a frame starting now; `ui_seconds` is the UI thread's time of the previous one.
    pub fn frame(&mut self, ui_seconds: Option<f32>) {
        let now = Instant::now();
        if let Some(last) = self.last {
            let ms = (now - last).as_secs_f64() * 1e3;
            if ms < IDLE_GAP_MS {
                push(&mut self.intervals_ms, ms);
            }
        }
        self.last = Some(now);
        if let Some(s) = ui_seconds {
            push(&mut self.ui_ms, f64::from(s) * 1e3);
        }
    }

    /// "frame 16.7 ms (p95 20.1) · UI 1.2 ms (p95 2.0)", or `None` before two frames.
    pub fn describe(&self) -> Option<String> {
        let (m, p) = median_p95(&self.intervals_ms)?;
        let ui = median_p95(&self.ui_ms)
            .map(|(um, up)| format!(" · UI {um:.1} ms (p95 {up:.1})"))
            .unwrap_or_default();
        Some(format!("frame {m:.1} ms (p95 {p:.1}){ui}"))
    }
}

fn push(q: &mut VecDeque<f64>, v: f64) {
    if q.len() == KEPT {
        q.pop_front();
    }
    q.push_back(v);
}

fn median_p95(q: &VecDeque<f64>) -> Option<(f64, f64)> {
    if q.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = q.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    Some((v[v.len() / 2], v[(v.len() * 95 / 100).min(v.len() - 1)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95_of_known_frames() {
        let mut q = VecDeque::new();
        for ms in 1..=100 {
            push(&mut q, f64::from(ms));
        }
        assert_eq!(median_p95(&q), Some((51.0, 96.0)));
        for _ in 0..200 {
            push(&mut q, 7.0);
        }
        assert_eq!(q.len(), KEPT, "only the last frames are kept");
        assert_eq!(median_p95(&q), Some((7.0, 7.0)));
    }
}
