//! Boxes labelled on the micrograph for region-based SNR, and their SNR cached by (image,
//! regions revision) so that it is computed once per image and labelling, not every frame.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics::{self, Region, RegionPair};

use super::view_image::ViewImage;

static NEXT_REVISION: AtomicU64 = AtomicU64::new(1);

/// Labelled boxes for region-based SNR, in micrograph pixels.
#[derive(Clone, Debug)]
pub struct RegionLabels {
    signal: Vec<Region>,
    background: Vec<Region>,
    /// Changes whenever the boxes do (unique over the process).
    revision: u64,
}

impl Default for RegionLabels {
    fn default() -> Self {
        Self {
            signal: Vec::new(),
            background: Vec::new(),
            revision: NEXT_REVISION.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl RegionLabels {
    /// Signal boxes in the order labelled.
    pub fn signal(&self) -> &[Region] {
        &self.signal
    }

    /// Background boxes in the order labelled (paired with signal boxes by order).
    pub fn background(&self) -> &[Region] {
        &self.background
    }

    /// Adds a signal box, or a background box.
    pub fn push(&mut self, region: Region, background: bool) {
        if background {
            self.background.push(region);
        } else {
            self.signal.push(region);
        }
        self.revision = NEXT_REVISION.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a square box of `side_px` pixels centred on micrograph pixel `(x, y)` (clicked),
    /// kept inside a micrograph of `size` (width, height) pixels and no larger than it: a
    /// signal box, or a background box.
    pub fn label_at(
        &mut self,
        x: f64,
        y: f64,
        side_px: usize,
        background: bool,
        size: (usize, usize),
    ) {
        let side = side_px.min(size.0).min(size.1).max(1);
        let clamp = |c: f64, n: usize| {
            ((c - side as f64 / 2.0).round().max(0.0) as usize).min(n.saturating_sub(side))
        };
        let r = Region {
            x: clamp(x, size.0),
            y: clamp(y, size.1),
            width: side,
            height: side,
        };
        self.push(r, background);
    }

    /// Removes every box.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// A number that changes whenever the boxes do.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Pairs (signal i, background i).
    pub fn pairs(&self) -> Vec<RegionPair> {
        self.signal
            .iter()
            .zip(&self.background)
            .map(|(s, b)| RegionPair {
                signal: *s,
                background: *b,
            })
            .collect()
    }
}

/// Region SNR of one image (dB), by Topaz's and NT2C's formulas, or why it failed.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSnr {
    /// Topaz's region SNR (see [`metrics::region_snr_topaz`]).
    pub topaz_db: Result<f64, String>,
    /// NT2C's region SNR (see [`metrics::region_snr_nt2c`]).
    pub nt2c_db: Result<f64, String>,
}

/// Region SNR by (image id, regions revision).
#[derive(Debug, Default)]
pub struct RegionSnrCache {
    entries: HashMap<(u64, u64), RegionSnr>,
}

impl RegionSnrCache {
    /// The region SNR of `image` for `regions` (which must have pairs), computed on the first
    /// call for this image and labelling; entries of older labellings are dropped.
    pub fn get(&mut self, image: &ViewImage, regions: &RegionLabels) -> &RegionSnr {
        let revision = regions.revision();
        self.entries.retain(|(_, r), _| *r == revision);
        self.entries.entry((image.id, revision)).or_insert_with(|| {
            let pairs = regions.pairs();
            RegionSnr {
                topaz_db: metrics::region_snr_topaz(&image.image, &pairs)
                    .map(|s| s.snr_db)
                    .map_err(|e| e.to_string()),
                nt2c_db: metrics::region_snr_nt2c(&image.image, &pairs)
                    .map(|s| s.snr_db)
                    .map_err(|e| e.to_string()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_boxes_are_centred_and_stay_inside() {
        let mut labels = RegionLabels::default();
        let before = labels.revision();
        // Centred on (100, 50): a 64-pixel box starts 32 pixels up and left.
        labels.label_at(100.0, 50.0, 64, false, (400, 300));
        // Near the far corner: pushed back inside (400 − 64, 300 − 64).
        labels.label_at(399.0, 299.0, 64, true, (400, 300));
        // Larger than the micrograph: shrunk to its shorter side, at the origin.
        labels.label_at(10.0, 10.0, 500, false, (400, 300));
        let boxes: Vec<_> = labels
            .signal()
            .iter()
            .chain(labels.background())
            .map(|r| (r.x, r.y, r.width, r.height))
            .collect();
        assert_eq!(
            boxes,
            [(68, 18, 64, 64), (0, 0, 300, 300), (336, 236, 64, 64)]
        );
        assert_eq!(labels.pairs().len(), 1);
        assert_ne!(labels.revision(), before);
    }
}
