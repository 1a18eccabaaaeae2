//! The gallery's plain data (no egui): the screening table of one output folder
//! (`cryolens screen`), the order it is shown in, the selection, and the user's decisions with
//! their undo history. The view (`gui/views/gallery.rs`) draws it and saves it.

use std::path::{Path, PathBuf};

use crate::screen::ScreenRow;
use crate::screen::curate::{self, Threshold};

/// The reason recorded with a decision made in the gallery.
pub const GALLERY_REASON: &str = "gallery";

/// Which micrographs the gallery shows, by their decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Show {
    /// Every micrograph.
    #[default]
    All,
    /// Not decided yet (and screened without error).
    Undecided,
    /// Accepted (by hand).
    Accepted,
    /// Rejected (by hand or by a threshold).
    Rejected,
    /// Failed to screen.
    Failed,
}

impl Show {
    /// Every choice, in the order of the selector.
    pub const ALL: [Show; 5] = [
        Show::All,
        Show::Undecided,
        Show::Accepted,
        Show::Rejected,
        Show::Failed,
    ];

    /// The selector's label.
    pub fn label(self) -> &'static str {
        match self {
            Show::All => "all",
            Show::Undecided => "undecided",
            Show::Accepted => "accepted",
            Show::Rejected => "rejected",
            Show::Failed => "failed",
        }
    }

    /// Whether `row` is shown.
    pub fn shows(self, row: &ScreenRow) -> bool {
        let decision = row.decision.as_deref();
        match self {
            Show::All => true,
            Show::Undecided => row.error.is_none() && decision.is_none(),
            Show::Accepted => row.error.is_none() && decision == Some("accept"),
            Show::Rejected => row.error.is_none() && decision == Some("reject"),
            Show::Failed => row.error.is_some(),
        }
    }
}

/// One row's decision and reason before a change: (table index, decision, reason).
type Earlier = (usize, Option<String>, Option<String>);

/// A screening table being curated.
#[derive(Clone, Debug)]
pub struct Gallery {
    /// The screening output folder (thumbnails are relative to it).
    pub dir: PathBuf,
    rows: Vec<ScreenRow>,
    /// Display order: indices into `rows`.
    order: Vec<usize>,
    /// Position of the selection in `order`.
    selected: usize,
    /// Show the raw thumbnails instead of the denoised ones.
    pub show_raw: bool,
    /// The metric shown under each thumbnail and sorted by (`None`: table order).
    pub sort: Option<&'static str>,
    /// Shown micrographs by decision.
    show: Show,
    /// Shown micrographs by name: those whose path contains this text (case-insensitive).
    name_filter: String,
    /// Earlier (decision, reason) of each changed row, newest last; a threshold is one step.
    undo: Vec<Vec<Earlier>>,
    /// Incremented by every change of a decision (the view saves when it moves).
    pub revision: u64,
}

impl Gallery {
    /// A gallery of `rows` read from `dir`, in table order, the first selected.
    pub fn new(dir: PathBuf, rows: Vec<ScreenRow>) -> Self {
        let order = (0..rows.len()).collect();
        Self {
            dir,
            rows,
            order,
            selected: 0,
            show_raw: false,
            sort: None,
            show: Show::All,
            name_filter: String::new(),
            undo: Vec::new(),
            revision: 0,
        }
    }

    /// The rows, in table order.
    pub fn rows(&self) -> &[ScreenRow] {
        &self.rows
    }

    /// How many micrographs.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The row shown at display position `position`.
    pub fn row_at(&self, position: usize) -> Option<&ScreenRow> {
        self.order.get(position).map(|&i| &self.rows[i])
    }

    /// The table index of the row at display position `position`.
    pub fn index_at(&self, position: usize) -> Option<usize> {
        self.order.get(position).copied()
    }

    /// The selected display position.
    pub fn selected(&self) -> usize {
        self.selected
    }

    /// Selects display position `position` (clamped).
    pub fn select(&mut self, position: usize) {
        self.selected = position.min(self.order.len().saturating_sub(1));
    }

    /// Moves the selection by `delta` positions (clamped to the ends).
    pub fn move_by(&mut self, delta: isize) {
        let last = self.order.len().saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, last.max(0)) as usize;
    }

    /// Decides the selected micrograph (`accept` or `reject`); deciding it the same way
    /// again clears the decision. One undo step.
    pub fn decide(&mut self, decision: &str) {
        let Some(&i) = self.order.get(self.selected) else {
            return;
        };
        let row = &mut self.rows[i];
        self.undo
            .push(vec![(i, row.decision.clone(), row.reason.clone())]);
        if row.decision.as_deref() == Some(decision) {
            row.decision = None;
            row.reason = None;
        } else {
            row.decision = Some(decision.to_string());
            row.reason = Some(GALLERY_REASON.to_string());
        }
        self.revision += 1;
    }

    /// Applies `thresholds` to the micrographs not decided by hand
    /// ([`curate::apply_thresholds`]) as one undo step; returns how many they reject.
    pub fn apply_thresholds(&mut self, thresholds: &[Threshold]) -> usize {
        let before: Vec<_> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.decision.clone(), r.reason.clone()))
            .collect();
        let n = curate::apply_thresholds(&mut self.rows, thresholds);
        let changed: Vec<_> = before
            .into_iter()
            .filter(|(i, d, r)| self.rows[*i].decision != *d || self.rows[*i].reason != *r)
            .collect();
        if !changed.is_empty() {
            self.undo.push(changed);
            self.revision += 1;
        }
        n
    }

    /// How many micrographs `thresholds` would reject now (for the count beside the rule,
    /// every frame: counted in place, as [`curate::apply_thresholds`] would decide).
    pub fn would_reject(&self, thresholds: &[Threshold]) -> usize {
        self.rows
            .iter()
            .filter(|r| {
                let by_threshold = r
                    .reason
                    .as_deref()
                    .is_some_and(|x| x.starts_with(curate::THRESHOLD_REASON));
                r.error.is_none()
                    && (r.decision.is_none() || by_threshold)
                    && thresholds.iter().any(|t| t.rejects(r))
            })
            .count()
    }

    /// Undoes the last decision or threshold; `false` when there is nothing to undo.
    pub fn undo(&mut self) -> bool {
        let Some(step) = self.undo.pop() else {
            return false;
        };
        for (i, decision, reason) in step {
            self.rows[i].decision = decision;
            self.rows[i].reason = reason;
        }
        self.revision += 1;
        true
    }

    /// Sorts by `metric` (descending: best SNR first, worst ice first; rows without a value
    /// last), or table order for `None`; the selected micrograph stays selected.
    pub fn sort_by(&mut self, metric: Option<&'static str>) {
        let current = self.order.get(self.selected).copied();
        self.sort = metric;
        let text = self.name_filter.to_lowercase();
        self.order = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                self.show.shows(r)
                    && (text.is_empty() || r.micrograph.to_lowercase().contains(&text))
            })
            .collect();
        if let Some(m) = metric {
            let value = |i: usize| curate::metric(&self.rows[i], m);
            self.order.sort_by(|&a, &b| match (value(a), value(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => a.cmp(&b),
            });
        }
        self.selected = current
            .and_then(|c| self.order.iter().position(|&i| i == c))
            .unwrap_or(0);
    }

    /// Shows only the micrographs of `show` whose path contains `name` (case-insensitive; empty:
    /// any), in the current sort. Decisions made meanwhile do not hide a micrograph until the
    /// filter is set again.
    pub fn set_filter(&mut self, show: Show, name: &str) {
        if show != self.show || name != self.name_filter {
            self.show = show;
            self.name_filter = name.to_string();
            self.sort_by(self.sort);
        }
    }

    /// The decision filter and the name filter.
    pub fn filter(&self) -> (Show, &str) {
        (self.show, &self.name_filter)
    }

    /// (accepted, rejected, with an error) counts over the table.
    pub fn counts(&self) -> (usize, usize, usize) {
        let errors = self.rows.iter().filter(|r| r.error.is_some()).count();
        let accepted = self.rows.iter().filter(|r| curate::is_accepted(r)).count();
        (accepted, self.rows.len() - accepted - errors, errors)
    }

    /// The micrograph file of `row`: its path as written when that exists, else resolved
    /// against the screening folder's parent and the folder itself (a table written from
    /// another working folder).
    pub fn micrograph_path(&self, row: &ScreenRow) -> PathBuf {
        let p = PathBuf::from(&row.micrograph);
        if p.is_absolute() || p.exists() {
            return p;
        }
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        [parent.join(&p), self.dir.join(&p)]
            .into_iter()
            .find(|c| c.exists())
            .unwrap_or(p)
    }

    /// The micrographs that screened without error, in table order (the picking session the
    /// gallery opens); with `accepted_only`, only those the exports accept.
    pub fn session_paths(&self, accepted_only: bool) -> Vec<PathBuf> {
        self.rows
            .iter()
            .filter(|r| r.error.is_none() && (!accepted_only || curate::is_accepted(r)))
            .map(|r| self.micrograph_path(r))
            .collect()
    }

    /// Selects the micrograph of table index `index` (a plotted point), wherever the sort
    /// shows it.
    pub fn select_index(&mut self, index: usize) {
        if let Some(p) = self.order.iter().position(|&i| i == index) {
            self.selected = p;
        }
    }

    /// Takes the table as re-read from disk while a screen adds to it: new micrographs are
    /// appended (shown in the current sort), known ones get their new numbers but keep the
    /// decisions made here. Returns how many were added. When the table on disk disagrees
    /// with a decision made here (a save that a screen wrote over), the revision moves so the
    /// view saves again.
    pub fn merge(&mut self, rows: Vec<ScreenRow>) -> usize {
        let index: std::collections::HashMap<String, usize> = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.micrograph.clone(), i))
            .collect();
        let mut added = 0;
        let mut disagrees = false;
        for mut row in rows {
            match index.get(&row.micrograph) {
                Some(&i) => {
                    let mine = &self.rows[i];
                    disagrees |= row.decision != mine.decision || row.reason != mine.reason;
                    row.decision.clone_from(&mine.decision);
                    row.reason.clone_from(&mine.reason);
                    self.rows[i] = row;
                }
                None => {
                    self.rows.push(row);
                    added += 1;
                }
            }
        }
        if added > 0 {
            self.sort_by(self.sort);
        }
        if disagrees {
            self.revision += 1;
        }
        added
    }

    /// The newest micrograph (last in table order) that screened without error.
    pub fn newest(&self) -> Option<&ScreenRow> {
        self.rows.iter().rev().find(|r| r.error.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gallery() -> Gallery {
        let rows = ["a", "b", "c"]
            .iter()
            .zip([Some(-10.0), None, Some(-5.0)])
            .map(|(n, snr)| ScreenRow {
                micrograph: format!("/m/{n}.mrc"),
                snr_raw_db: snr,
                ice_ring_db: Some(if *n == "b" { 6.0 } else { 0.0 }),
                ..Default::default()
            })
            .collect();
        Gallery::new(PathBuf::from("/out"), rows)
    }

    #[test]
    fn decisions_toggle_and_undo() {
        let mut g = gallery();
        g.move_by(1);
        g.decide("reject");
        assert_eq!(g.rows()[1].decision.as_deref(), Some("reject"));
        g.decide("reject");
        assert!(
            g.rows()[1].decision.is_none(),
            "the same key again clears it"
        );
        assert!(g.undo());
        assert_eq!(g.rows()[1].decision.as_deref(), Some("reject"));
        assert!(g.undo() && !g.undo());
        assert!(g.rows()[1].decision.is_none());
        assert_eq!(g.revision, 4);
        g.move_by(10);
        assert_eq!(g.selected(), 2);
        g.move_by(-10);
        assert_eq!(g.selected(), 0);
    }

    #[test]
    fn thresholds_count_apply_and_undo_as_one_step() {
        let mut g = gallery();
        let t: Threshold = "ice_ring_db>3".parse().unwrap();
        assert_eq!(g.would_reject(std::slice::from_ref(&t)), 1);
        assert_eq!(g.counts(), (3, 0, 0));
        assert_eq!(g.apply_thresholds(&[t]), 1);
        assert_eq!(g.counts(), (2, 1, 0));
        assert!(g.undo());
        assert_eq!(g.counts(), (3, 0, 0));
        // A decision by hand stands: the rule no longer counts b.
        g.move_by(1);
        g.decide("accept");
        let t: Threshold = "ice_ring_db>3".parse().unwrap();
        assert_eq!(g.would_reject(std::slice::from_ref(&t)), 0);
        assert_eq!(g.apply_thresholds(&[t]), 0);
    }

    #[test]
    fn sorting_keeps_the_selection() {
        let mut g = gallery();
        g.move_by(2);
        g.sort_by(Some("snr_raw_db"));
        // c (−5) first, a (−10), b (no value) last; c stays selected.
        let names: Vec<_> = (0..3)
            .map(|p| g.row_at(p).unwrap().micrograph.clone())
            .collect();
        assert_eq!(names, ["/m/c.mrc", "/m/a.mrc", "/m/b.mrc"]);
        assert_eq!(g.selected(), 0);
        g.sort_by(None);
        assert_eq!(g.index_at(g.selected()), Some(2));
    }

    #[test]
    fn merge_appends_new_rows_and_keeps_decisions_made_here() {
        let mut g = gallery();
        g.sort_by(Some("snr_raw_db"));
        g.select(0);
        let selected = g.index_at(0);
        g.decide("accept");
        let saved = g.revision;
        // The screen rewrote the table without that decision, and added d.
        let mut rows = g.rows().to_vec();
        rows[selected.unwrap()].decision = None;
        rows[0].snr_raw_db = Some(-9.0);
        rows.push(ScreenRow {
            micrograph: "/m/d.mrc".into(),
            snr_raw_db: Some(-1.0),
            ..Default::default()
        });
        assert_eq!(g.merge(rows), 1);
        assert_eq!(g.len(), 4);
        assert_eq!(
            g.rows()[selected.unwrap()].decision.as_deref(),
            Some("accept")
        );
        assert_eq!(g.rows()[0].snr_raw_db, Some(-9.0));
        assert!(g.revision > saved, "the disagreement is saved again");
        // Sorted by SNR, d (−1 dB) comes first; the selection follows its micrograph.
        assert_eq!(g.row_at(0).unwrap().micrograph, "/m/d.mrc");
        assert_eq!(g.index_at(g.selected()), selected);
        assert_eq!(g.newest().unwrap().micrograph, "/m/d.mrc");
        g.select_index(1);
        assert_eq!(g.index_at(g.selected()), Some(1));
    }

    #[test]
    fn the_session_can_be_restricted_to_accepted_micrographs() {
        let mut g = gallery();
        g.select(1);
        g.decide("reject");
        assert_eq!(g.session_paths(false).len(), 3);
        let accepted = g.session_paths(true);
        assert_eq!(accepted.len(), 2);
        // The count the gallery shows every frame is the same set.
        assert_eq!(g.counts().0, accepted.len());
        assert!(!accepted.iter().any(|p| p.ends_with("b.mrc")));
    }

    #[test]
    fn filters_by_decision_and_name_within_the_sort() {
        let mut g = gallery();
        g.select(1);
        g.decide("reject");
        g.sort_by(Some("snr_raw_db"));
        g.set_filter(Show::Undecided, "");
        // a (−10 dB) and c (−5 dB) are undecided; sorted, c first.
        let shown: Vec<&str> = (0..g.len())
            .map(|p| g.row_at(p).unwrap().micrograph.as_str())
            .collect();
        assert_eq!(shown, ["/m/c.mrc", "/m/a.mrc"]);
        g.set_filter(Show::Rejected, "");
        assert_eq!(g.len(), 1);
        assert_eq!(g.row_at(0).unwrap().micrograph, "/m/b.mrc");
        g.set_filter(Show::All, "A.MRC");
        assert_eq!(g.len(), 1);
        assert_eq!(g.row_at(0).unwrap().micrograph, "/m/a.mrc");
        g.set_filter(Show::Failed, "");
        assert!(g.is_empty());
        g.set_filter(Show::All, "");
        assert_eq!(g.len(), 3);
        // Counts and thresholds are over the whole table, not what is shown.
        g.set_filter(Show::Accepted, "");
        assert_eq!(g.counts(), (2, 1, 0));
    }
}
