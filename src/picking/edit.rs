//! One undoable edit of a picking session ([`Edit`]) and its inverse, which undo applies.

use super::picks::SessionPick;

/// One undoable edit.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// `pick` was inserted at `index` of micrograph `micrograph`.
    Add {
        /// Micrograph index in the session.
        micrograph: usize,
        /// Position in its pick list.
        index: usize,
        /// The pick.
        pick: SessionPick,
    },
    /// `pick` was removed from `index`.
    Remove {
        /// Micrograph index in the session.
        micrograph: usize,
        /// Position it had in its pick list.
        index: usize,
        /// The pick.
        pick: SessionPick,
    },
    /// The pick at `index` moved from `from` to `to` (full-size pixels).
    Move {
        /// Micrograph index in the session.
        micrograph: usize,
        /// Position in its pick list.
        index: usize,
        /// Old centre.
        from: (f64, f64),
        /// New centre.
        to: (f64, f64),
    },
    /// A micrograph's whole pick list was replaced (import, clear).
    Replace {
        /// Micrograph index in the session.
        micrograph: usize,
        /// The list before.
        before: Vec<SessionPick>,
        /// The list after.
        after: Vec<SessionPick>,
    },
}

impl Edit {
    /// The micrograph the edit touched.
    pub fn micrograph(&self) -> usize {
        match self {
            Edit::Add { micrograph, .. }
            | Edit::Remove { micrograph, .. }
            | Edit::Move { micrograph, .. }
            | Edit::Replace { micrograph, .. } => *micrograph,
        }
    }

    pub(super) fn inverse(&self) -> Edit {
        match self.clone() {
            Edit::Add {
                micrograph,
                index,
                pick,
            } => Edit::Remove {
                micrograph,
                index,
                pick,
            },
            Edit::Remove {
                micrograph,
                index,
                pick,
            } => Edit::Add {
                micrograph,
                index,
                pick,
            },
            Edit::Move {
                micrograph,
                index,
                from,
                to,
            } => Edit::Move {
                micrograph,
                index,
                from: to,
                to: from,
            },
            Edit::Replace {
                micrograph,
                before,
                after,
            } => Edit::Replace {
                micrograph,
                before: after,
                after: before,
            },
        }
    }
}
