//! The open micrograph's views scored against its simulation truth (PSNR, SSIM, FRC to the
//! truth: [`crate::metrics::truth`]), computed in a background job one image at a time and
//! kept by image id, so a view is scored once, never on the UI thread.

use std::collections::HashMap;
use std::sync::Arc;

use crate::gui::job_slot::JobSlot;
use crate::metrics::truth::{TruthScores, score_against_truth};

use super::view_image::ViewImage;

/// Ring width (Fourier pixels) of the FRC to the truth.
pub const TRUTH_RING_WIDTH: f32 = 2.0;

/// Scores by image id, and the job computing the next one.
#[derive(Default)]
pub struct TruthScoreCache {
    scores: HashMap<u64, Result<Arc<TruthScores>, String>>,
    job: JobSlot<u64, TruthScores>,
}

impl TruthScoreCache {
    /// The scores of `image` against `truth` once computed (or why they could not be); asks
    /// for them when they are not, if no other image is being scored (call again next frame).
    pub fn get(
        &mut self,
        image: &Arc<ViewImage>,
        truth: &Arc<ViewImage>,
    ) -> Option<&Result<Arc<TruthScores>, String>> {
        if !self.scores.contains_key(&image.id) && !self.job.is_running() {
            let (im, tr) = (image.clone(), truth.clone());
            self.job.spawn(image.id, "truth scores", move |_| {
                Ok(score_against_truth(&im.image, &tr.image, TRUTH_RING_WIDTH)?)
            });
        }
        self.scores.get(&image.id)
    }

    /// Takes a finished score into the cache; whether one came.
    pub fn poll(&mut self) -> bool {
        match self.job.poll() {
            Some((id, result)) => {
                self.scores
                    .insert(id, result.map(Arc::new).map_err(|e| format!("{e:#}")));
                true
            }
            None => false,
        }
    }

    /// Whether an image is being scored.
    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// Keeps only the scores of images in `keep` (ids of the open document's views).
    pub fn retain(&mut self, keep: &[u64]) {
        self.scores.retain(|id, _| keep.contains(id));
    }
}

/// A pane's short label for its scores: "PSNR 21.3 dB · SSIM 0.612", or what is missing.
pub fn score_label(scores: Option<&Result<Arc<TruthScores>, String>>) -> String {
    match scores {
        Some(Ok(s)) => format!("PSNR {:.2} dB · SSIM {:.3}", s.psnr_db, s.ssim),
        Some(Err(e)) => format!("vs truth: {e}"),
        None => "scoring against the truth…".into(),
    }
}
