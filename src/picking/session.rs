//! The picking session: [`PickSession`] applies [`Edit`]s to the picks of its micrographs and
//! keeps the undo/redo history over all of them.

use std::path::PathBuf;

use std::sync::{Arc, Mutex};

use super::Edit;
use super::index::PickIndex;
use super::picks::{PickSettings, SessionMicrograph, SessionPick};

/// A picking session: micrographs, their picks, settings, and the undo/redo history (which
/// spans all micrographs and is not saved).
#[derive(Clone, Debug, Default)]
pub struct PickSession {
    /// The micrographs in display order.
    pub micrographs: Vec<SessionMicrograph>,
    /// Picking settings.
    pub settings: PickSettings,
    /// The micrograph being picked.
    pub current: usize,
    pub(super) undo: Vec<Edit>,
    pub(super) redo: Vec<Edit>,
    pub(super) revision: u64,
    /// The revision at which each micrograph's picks last changed (by index; missing = 0).
    pub(super) changed_at: Vec<u64>,
    pub(super) index: IndexCache,
}

/// What a cached [`PickIndex`] was built from: micrograph, session revision, the pick list's
/// address and length (a list replaced through the public fields), threshold and cell size.
type IndexKey = (usize, u64, usize, usize, u64, u64);

/// The spatial index of the last micrograph hit-tested, rebuilt when its key changes. A clone
/// starts empty (the index is derived data).
#[derive(Default)]
pub(super) struct IndexCache(Mutex<Option<(IndexKey, Arc<PickIndex>)>>);

impl Clone for IndexCache {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexCache")
    }
}

impl PickSession {
    /// A session over `paths` with no picks.
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            micrographs: paths
                .into_iter()
                .map(|path| SessionMicrograph {
                    path,
                    picks: Vec::new(),
                })
                .collect(),
            ..Self::default()
        }
    }

    /// Incremented by every change (edits, undo, redo, settings through [`Self::touch`]);
    /// the autosaver saves when it changes.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Marks a change made directly to public fields (settings, current micrograph).
    pub fn touch(&mut self) {
        self.revision += 1;
    }

    /// The revision at which the picks of `micrograph` last changed through the session's
    /// methods (0 when never): the autosaver re-serialises only micrographs whose revision
    /// moved (see [`super::JsonCache`]).
    pub fn micrograph_revision(&self, micrograph: usize) -> u64 {
        self.changed_at.get(micrograph).copied().unwrap_or(0)
    }

    fn mark_changed(&mut self, micrograph: usize) {
        self.revision += 1;
        if self.changed_at.len() <= micrograph {
            self.changed_at.resize(micrograph + 1, 0);
        }
        self.changed_at[micrograph] = self.revision;
    }

    /// The picks of micrograph `micrograph` (empty when out of range).
    pub fn picks(&self, micrograph: usize) -> &[SessionPick] {
        self.micrographs
            .get(micrograph)
            .map_or(&[], |m| m.picks.as_slice())
    }

    /// Number of picks of `micrograph` kept at the current autopick threshold.
    pub fn kept_count(&self, micrograph: usize) -> usize {
        let t = self.settings.autopick_threshold;
        self.picks(micrograph)
            .iter()
            .filter(|p| p.passes(t))
            .count()
    }

    /// Index of the pick of `micrograph` nearest to `(x, y)` within `radius` pixels, among the
    /// picks kept at the threshold (of equally near picks, the one made first).
    ///
    /// Uses a spatial index ([`PickIndex`], cells of the power of two at or below `radius`)
    /// built on the first query after a change and reused until the next one, so a click on a
    /// micrograph with 100,000 picks looks at a few cells, not at every pick. Code that changes
    /// `micrographs` directly must call [`Self::touch`].
    pub fn nearest(&self, micrograph: usize, x: f64, y: f64, radius: f64) -> Option<usize> {
        self.pick_index(micrograph, radius)?.nearest(x, y, radius)
    }

    /// The spatial index of `micrograph`'s kept picks with cells of about `radius` pixels
    /// (cached; see [`Self::nearest`]); `None` when the micrograph does not exist.
    pub fn pick_index(&self, micrograph: usize, radius: f64) -> Option<Arc<PickIndex>> {
        let picks = &self.micrographs.get(micrograph)?.picks;
        let t = self.settings.autopick_threshold;
        let cell = if radius.is_finite() && radius > 1.0 {
            2f64.powi(radius.log2().floor() as i32)
        } else {
            1.0
        };
        let key = (
            micrograph,
            self.revision,
            picks.as_ptr() as usize,
            picks.len(),
            t.to_bits(),
            cell.to_bits(),
        );
        let mut cache = self.index.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((k, index)) = cache.as_ref()
            && *k == key
        {
            return Some(Arc::clone(index));
        }
        let index = Arc::new(PickIndex::build(picks, cell, |p| p.passes(t)));
        *cache = Some((key, Arc::clone(&index)));
        Some(index)
    }

    /// Adds a manual pick at `(x, y)` to `micrograph`; returns its index, or `None` when the
    /// micrograph does not exist or a coordinate is not finite.
    pub fn add(&mut self, micrograph: usize, x: f64, y: f64) -> Option<usize> {
        self.add_at(micrograph, x, y, None)
    }

    /// As [`Self::add`], with the section `z` (voxels) for a pick in a tomogram.
    pub fn add_at(&mut self, micrograph: usize, x: f64, y: f64, z: Option<f64>) -> Option<usize> {
        if !(x.is_finite() && y.is_finite() && z.is_none_or(f64::is_finite)) {
            return None;
        }
        let index = self.micrographs.get(micrograph)?.picks.len();
        self.apply_new(Edit::Add {
            micrograph,
            index,
            pick: SessionPick {
                z,
                ..SessionPick::manual(x, y)
            },
        });
        Some(index)
    }

    /// Removes pick `index` of `micrograph`; false when there is none.
    pub fn remove(&mut self, micrograph: usize, index: usize) -> bool {
        let Some(&pick) = self.picks(micrograph).get(index) else {
            return false;
        };
        self.apply_new(Edit::Remove {
            micrograph,
            index,
            pick,
        });
        true
    }

    /// Moves pick `index` of `micrograph` to `to`; `from` is where the move began (a pick
    /// dragged live is moved with [`Self::set_position`] and committed here once, so that one
    /// drag is one undo step).
    pub fn commit_move(
        &mut self,
        micrograph: usize,
        index: usize,
        from: (f64, f64),
        to: (f64, f64),
    ) -> bool {
        if self.picks(micrograph).get(index).is_none() || !(to.0.is_finite() && to.1.is_finite()) {
            return false;
        }
        if from == to {
            self.set_position(micrograph, index, to);
            return false;
        }
        self.apply_new(Edit::Move {
            micrograph,
            index,
            from,
            to,
        });
        true
    }

    /// Sets a pick's position without recording an edit (live dragging; see
    /// [`Self::commit_move`]).
    pub fn set_position(&mut self, micrograph: usize, index: usize, to: (f64, f64)) {
        self.mark_changed(micrograph);
        if let Some(p) = self
            .micrographs
            .get_mut(micrograph)
            .and_then(|m| m.picks.get_mut(index))
        {
            p.x = to.0;
            p.y = to.1;
        }
    }

    /// Replaces the picks of `micrograph` (an import or a clear) as one undoable edit.
    pub fn replace(&mut self, micrograph: usize, after: Vec<SessionPick>) -> bool {
        let Some(m) = self.micrographs.get(micrograph) else {
            return false;
        };
        let before = m.picks.clone();
        self.apply_new(Edit::Replace {
            micrograph,
            before,
            after,
        });
        true
    }

    /// Undoes the last edit; returns the micrograph it touched.
    pub fn undo(&mut self) -> Option<usize> {
        let edit = self.undo.pop()?;
        self.apply(&edit.inverse());
        let m = edit.micrograph();
        self.redo.push(edit);
        Some(m)
    }

    /// Redoes the last undone edit; returns the micrograph it touched.
    pub fn redo(&mut self) -> Option<usize> {
        let edit = self.redo.pop()?;
        self.apply(&edit);
        let m = edit.micrograph();
        self.undo.push(edit);
        Some(m)
    }

    /// Number of edits that can be undone and redone.
    pub fn history_len(&self) -> (usize, usize) {
        (self.undo.len(), self.redo.len())
    }

    fn apply_new(&mut self, edit: Edit) {
        self.apply(&edit);
        self.undo.push(edit);
        self.redo.clear();
    }

    fn apply(&mut self, edit: &Edit) {
        self.mark_changed(edit.micrograph());
        let Some(m) = self.micrographs.get_mut(edit.micrograph()) else {
            return;
        };
        match edit {
            Edit::Add { index, pick, .. } => {
                let i = (*index).min(m.picks.len());
                m.picks.insert(i, *pick);
            }
            Edit::Remove { index, .. } => {
                if *index < m.picks.len() {
                    m.picks.remove(*index);
                }
            }
            Edit::Move { index, to, .. } => {
                if let Some(p) = m.picks.get_mut(*index) {
                    p.x = to.0;
                    p.y = to.1;
                }
            }
            Edit::Replace { after, .. } => m.picks = after.clone(),
        }
    }

    /// Adds the micrographs of `paths` that the session lacks (a folder that gained files), and
    /// keeps the picks of those it has; micrographs no longer present are kept (their picks
    /// are user work).
    pub fn merge_paths(&mut self, paths: &[PathBuf]) {
        let mut known: std::collections::HashSet<PathBuf> =
            self.micrographs.iter().map(|m| m.path.clone()).collect();
        for p in paths {
            if known.insert(p.clone()) {
                self.micrographs.push(SessionMicrograph {
                    path: p.clone(),
                    picks: Vec::new(),
                });
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// An empty session over two micrographs, `a.mrc` and `b.mrc`.
    pub(in crate::picking) fn session() -> PickSession {
        PickSession::new(vec!["a.mrc".into(), "b.mrc".into()])
    }

    #[test]
    fn undo_redo_restore_every_state() {
        let mut s = session();
        let mut states = vec![s.micrographs.clone()];
        s.add(0, 10.0, 20.0);
        states.push(s.micrographs.clone());
        s.add(1, 5.0, 6.0);
        states.push(s.micrographs.clone());
        s.add(0, 30.0, 40.0);
        states.push(s.micrographs.clone());
        s.commit_move(0, 0, (10.0, 20.0), (11.0, 21.0));
        states.push(s.micrographs.clone());
        assert!(s.remove(0, 1));
        states.push(s.micrographs.clone());
        s.replace(1, vec![]);
        states.push(s.micrographs.clone());
        for expected in states.iter().rev().skip(1) {
            s.undo().unwrap();
            assert_eq!(&s.micrographs, expected);
        }
        assert!(s.undo().is_none());
        for expected in states.iter().skip(1) {
            s.redo().unwrap();
            assert_eq!(&s.micrographs, expected);
        }
        assert!(s.redo().is_none());
    }

    #[test]
    fn new_edit_clears_redo() {
        let mut s = session();
        s.add(0, 1.0, 1.0);
        s.undo();
        assert_eq!(s.history_len(), (0, 1));
        s.add(0, 2.0, 2.0);
        assert_eq!(s.history_len(), (1, 0));
    }

    #[test]
    fn nearest_respects_radius_and_threshold() {
        let mut s = session();
        s.add(0, 100.0, 100.0);
        s.replace(
            0,
            vec![
                SessionPick::manual(100.0, 100.0),
                SessionPick {
                    x: 110.0,
                    y: 100.0,
                    score: Some(-2.0),
                    z: None,
                },
            ],
        );
        assert_eq!(s.nearest(0, 108.0, 100.0, 20.0), Some(1));
        s.settings.autopick_threshold = 0.0;
        assert_eq!(s.nearest(0, 108.0, 100.0, 20.0), Some(0));
        assert_eq!(s.nearest(0, 200.0, 100.0, 20.0), None);
        assert_eq!(s.kept_count(0), 1);
    }
}
