//! A spatial index over one micrograph's picks ([`PickIndex`]): a uniform grid whose cells are
//! about one particle radius wide, so that "the pick nearest to a click within the particle
//! radius" looks at the 3×3 cells around the click instead of every pick.
//!
//! The grid is stored compactly (counting sort): `starts[c]..starts[c + 1]` are the positions in
//! `entries` of the picks of cell `c`, in increasing pick order. Building it is O(picks + cells);
//! a query within radius r visits ⌈r / cell⌉ rings of cells around the query's cell.

use super::picks::SessionPick;

/// Most cells along one side of the grid: a micrograph with picks spread over a huge area (or
/// a tiny radius) gets larger cells instead of a huge grid.
const MAX_CELLS_PER_SIDE: usize = 4096;

/// A uniform grid over the kept picks of one micrograph (see the module documentation).
#[derive(Clone, Debug)]
pub struct PickIndex {
    /// Cell side in micrograph pixels.
    cell: f64,
    /// Lower corner of cell (0, 0) in micrograph pixels (x, y).
    origin: (f64, f64),
    cols: usize,
    rows: usize,
    /// `cols * rows + 1` offsets into `entries`.
    starts: Vec<u32>,
    /// Pick indices grouped by cell, increasing within a cell.
    entries: Vec<u32>,
    /// Coordinates of every pick (x, y), by pick index; NaN for picks not indexed.
    points: Vec<(f64, f64)>,
}

impl PickIndex {
    /// Indexes the picks of `picks` for which `keep` holds, in cells of about `cell_px`
    /// micrograph pixels (the particle radius; at least 1 px, and larger when the picks span more
    /// than [`MAX_CELLS_PER_SIDE`] cells). Picks with non-finite coordinates are left out.
    pub fn build(picks: &[SessionPick], cell_px: f64, keep: impl Fn(&SessionPick) -> bool) -> Self {
        let points: Vec<(f64, f64)> = picks
            .iter()
            .map(|p| {
                if keep(p) && p.x.is_finite() && p.y.is_finite() {
                    (p.x, p.y)
                } else {
                    (f64::NAN, f64::NAN)
                }
            })
            .collect();
        let (mut lo, mut hi) = (
            (f64::INFINITY, f64::INFINITY),
            (f64::NEG_INFINITY, f64::NEG_INFINITY),
        );
        for &(x, y) in points.iter().filter(|p| !p.0.is_nan()) {
            lo = (lo.0.min(x), lo.1.min(y));
            hi = (hi.0.max(x), hi.1.max(y));
        }
        if lo.0 > hi.0 {
            lo = (0.0, 0.0);
            hi = (0.0, 0.0);
        }
        let span = (hi.0 - lo.0).max(hi.1 - lo.1);
        let mut cell = if cell_px.is_finite() {
            cell_px.max(1.0)
        } else {
            1.0
        };
        cell = cell.max(span / (MAX_CELLS_PER_SIDE - 1) as f64);
        let cols = ((hi.0 - lo.0) / cell) as usize + 1;
        let rows = ((hi.1 - lo.1) / cell) as usize + 1;
        let mut index = Self {
            cell,
            origin: lo,
            cols,
            rows,
            starts: vec![0; cols * rows + 1],
            entries: Vec::new(),
            points,
        };
        let cells: Vec<Option<usize>> = index
            .points
            .iter()
            .map(|&(x, y)| (!x.is_nan()).then(|| index.cell_of(x, y)))
            .collect();
        for c in cells.iter().flatten() {
            index.starts[c + 1] += 1;
        }
        for c in 0..cols * rows {
            index.starts[c + 1] += index.starts[c];
        }
        let mut next: Vec<u32> = index.starts[..cols * rows].to_vec();
        index.entries = vec![0; index.starts[cols * rows] as usize];
        for (i, c) in cells.iter().enumerate() {
            if let Some(c) = *c {
                index.entries[next[c] as usize] = i as u32;
                next[c] += 1;
            }
        }
        index
    }

    /// Cell side in micrograph pixels.
    pub fn cell_px(&self) -> f64 {
        self.cell
    }

    /// Number of picks indexed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no pick is indexed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn cell_of(&self, x: f64, y: f64) -> usize {
        let (cx, cy) = self.cell_xy(x, y);
        cy as usize * self.cols + cx as usize
    }

    /// Cell column and row of `(x, y)`, clamped to the grid.
    fn cell_xy(&self, x: f64, y: f64) -> (i64, i64) {
        let cx = ((x - self.origin.0) / self.cell).floor() as i64;
        let cy = ((y - self.origin.1) / self.cell).floor() as i64;
        (
            cx.clamp(0, self.cols as i64 - 1),
            cy.clamp(0, self.rows as i64 - 1),
        )
    }

    /// Index of the indexed pick nearest to `(x, y)` within `radius` micrograph pixels (inclusive);
    /// of several at the same distance, the one made first (lowest index), as a linear scan
    /// with `Iterator::min_by` finds.
    pub fn nearest(&self, x: f64, y: f64, radius: f64) -> Option<usize> {
        if self.entries.is_empty() || !(x.is_finite() && y.is_finite() && radius >= 0.0) {
            return None;
        }
        let (x0, y0) = self.cell_xy(x - radius, y - radius);
        let (x1, y1) = self.cell_xy(x + radius, y + radius);
        let r2 = radius * radius;
        let mut best: Option<(f64, u32)> = None;
        for cy in y0..=y1 {
            let row = cy as usize * self.cols;
            for cx in x0..=x1 {
                let c = row + cx as usize;
                let (a, b) = (self.starts[c] as usize, self.starts[c + 1] as usize);
                for &i in &self.entries[a..b] {
                    let (px, py) = self.points[i as usize];
                    let d2 = (px - x).powi(2) + (py - y).powi(2);
                    if d2 <= r2 && best.is_none_or(|(bd, bi)| d2 < bd || (d2 == bd && i < bi)) {
                        best = Some((d2, i));
                    }
                }
            }
        }
        best.map(|(_, i)| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn brute(picks: &[SessionPick], x: f64, y: f64, r: f64, t: f64) -> Option<usize> {
        picks
            .iter()
            .enumerate()
            .filter(|(_, p)| p.passes(t))
            .map(|(i, p)| (i, (p.x - x).powi(2) + (p.y - y).powi(2)))
            .filter(|&(_, d2)| d2 <= r * r)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    #[test]
    fn nearest_matches_brute_force_on_random_picks() {
        let mut rng = Rng::new(7);
        for (n, side, radius) in [
            (0, 100.0, 10.0),
            (1, 100.0, 10.0),
            (500, 4000.0, 50.0),
            (20_000, 4000.0, 20.0),
        ] {
            let picks: Vec<SessionPick> = (0..n)
                .map(|k| SessionPick {
                    // Whole-pixel coordinates make exact ties common (and duplicates).
                    x: (rng.uniform() * side).round(),
                    y: (rng.uniform() * side).round(),
                    score: (k % 3 == 0).then(|| rng.uniform()),
                    z: None,
                })
                .collect();
            let t = 0.5;
            let index = PickIndex::build(&picks, radius, |p| p.passes(t));
            for _ in 0..2000 {
                let (x, y) = (
                    rng.uniform() * (side + 200.0) - 100.0,
                    rng.uniform() * (side + 200.0) - 100.0,
                );
                // Query radii below, at and far above the cell size.
                let r = radius * [0.3, 1.0, 2.5, 40.0][(rng.uniform() * 4.0) as usize % 4];
                assert_eq!(
                    index.nearest(x, y, r),
                    brute(&picks, x, y, r, t),
                    "n {n} at ({x}, {y}) r {r}"
                );
            }
        }
    }

    #[test]
    fn skips_non_finite_and_caps_the_grid() {
        let picks = vec![
            SessionPick::manual(f64::NAN, 3.0),
            SessionPick::manual(0.0, 0.0),
            SessionPick::manual(1e9, 1e9),
        ];
        let index = PickIndex::build(&picks, 1.0, |_| true);
        assert_eq!(index.len(), 2);
        assert!(index.cell_px() >= 1e9 / MAX_CELLS_PER_SIDE as f64);
        assert_eq!(index.nearest(1.0, 1.0, 5.0), Some(1));
        assert_eq!(index.nearest(1e9, 1e9 - 3.0, 5.0), Some(2));
        assert_eq!(index.nearest(f64::NAN, 0.0, 5.0), None);
        assert_eq!(
            PickIndex::build(&[], 10.0, |_| true).nearest(0.0, 0.0, 1e6),
            None
        );
    }
}
