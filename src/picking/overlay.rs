//! What of a micrograph's picks to draw at the current zoom ([`plan_overlay`]): only the picks
//! inside the viewport, each as a circle or box while there are few enough and they are large
//! enough on screen to tell apart, else merged into a density of screen cells, so that the
//! drawing stays bounded whatever the number of picks (a 100,000-pick autopick import drawn as
//! circles overflows the GPU's index buffer).
//!
//! Screen positions are in points: a pick at micrograph pixel (x, y) is drawn at
//! `origin + (x + 0.5, y + 0.5) · zoom` (the centre of pixel i is at i, see [`crate::picking`]).

use super::picks::SessionPick;

/// Most picks drawn one by one (as circles or boxes); more visible picks are merged.
pub const MAX_MARKS: usize = 3000;
/// Marks smaller than this radius on screen (points) are merged: they would be unreadable.
pub const MIN_MARK_RADIUS: f32 = 2.0;
/// Smallest side of a density cell (points).
pub const MIN_CELL: f32 = 4.0;
/// Most density cells in the viewport; larger viewports get larger cells.
pub const MAX_CELLS: usize = 16_384;

/// The view the overlay is planned for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverlayView {
    /// Visible area on screen: min x, min y, max x, max y (points).
    pub viewport: [f32; 4],
    /// Screen position of the micrograph's corner (pixel edge (0, 0)), points.
    pub origin: (f32, f32),
    /// Screen points per micrograph pixel.
    pub zoom: f32,
    /// Half the largest mark's extent on screen (points): a pick this far outside the viewport
    /// still shows part of its mark.
    pub mark_radius: f32,
    /// Autopicks with a figure of merit below this are not drawn.
    pub threshold: f64,
    /// On a tomogram: the section shown and the half-thickness within which picks are drawn.
    pub section: Option<(f64, f64)>,
}

/// One pick drawn on its own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    /// Index in the micrograph's pick list.
    pub index: usize,
    /// Screen position (points).
    pub pos: (f32, f32),
    /// An imported autopick (it has a score) rather than a manual pick.
    pub auto: bool,
}

/// Visible picks merged into square screen cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Density {
    /// Cell side (points).
    pub cell: f32,
    /// Screen position of cell (0, 0)'s corner (the viewport's corner).
    pub origin: (f32, f32),
    /// Occupied cells: column, row, number of picks, number of them that are manual.
    pub cells: Vec<(u32, u32, u32, u32)>,
}

/// How to draw the visible picks.
#[derive(Clone, Debug, PartialEq)]
pub enum Overlay {
    /// Each visible pick on its own.
    Marks(Vec<Mark>),
    /// Too many or too small: merged into cells.
    Density(Density),
}

/// The plan for one frame: what to draw and how many picks it covers.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayPlan {
    /// What to draw.
    pub overlay: Overlay,
    /// Picks inside the viewport (kept at the threshold, on the section).
    pub visible: usize,
}

impl OverlayPlan {
    /// Number of shapes (marks or cells) to draw: at most [`MAX_MARKS`] or [`MAX_CELLS`].
    pub fn len(&self) -> usize {
        match &self.overlay {
            Overlay::Marks(m) => m.len(),
            Overlay::Density(d) => d.cells.len(),
        }
    }

    /// Whether nothing is to be drawn.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Plans the drawing of `picks` in `view`: one linear pass that maps each kept pick to the
/// screen and drops those outside the viewport (grown by the mark radius); then marks when at
/// most [`MAX_MARKS`] are visible and the mark radius is at least [`MIN_MARK_RADIUS`], else a
/// density of cells at least [`MIN_CELL`] points wide and at most [`MAX_CELLS`] in the
/// viewport. Picks with non-finite coordinates are skipped.
pub fn plan_overlay(picks: &[SessionPick], view: &OverlayView) -> OverlayPlan {
    let [x0, y0, x1, y1] = view.viewport;
    let m = view.mark_radius.max(0.0) + 2.0;
    let (cx0, cy0, cx1, cy1) = (x0 - m, y0 - m, x1 + m, y1 + m);
    let small = view.mark_radius < MIN_MARK_RADIUS;
    let (w, h) = ((x1 - x0).max(1.0), (y1 - y0).max(1.0));
    let cell = MIN_CELL.max((w * h / MAX_CELLS as f32).sqrt());
    let cols = (w / cell).ceil().max(1.0) as usize;
    let rows = (h / cell).ceil().max(1.0) as usize;
    let mut marks: Vec<Mark> = Vec::new();
    let mut grid: Option<Vec<(u32, u32)>> = small.then(|| vec![(0, 0); cols * rows]);
    let bin = |grid: &mut Vec<(u32, u32)>, mark: &Mark| {
        let c = (((mark.pos.0 - x0) / cell).max(0.0) as usize).min(cols - 1);
        let r = (((mark.pos.1 - y0) / cell).max(0.0) as usize).min(rows - 1);
        let g = &mut grid[r * cols + c];
        g.0 += 1;
        g.1 += u32::from(!mark.auto);
    };
    let mut visible = 0;
    for (index, p) in picks.iter().enumerate() {
        if !(p.passes(view.threshold) && p.x.is_finite() && p.y.is_finite()) {
            continue;
        }
        if let (Some((z, half)), Some(pz)) = (view.section, p.z)
            && (pz - z).abs() > half
        {
            continue;
        }
        let sx = view.origin.0 + (p.x + 0.5) as f32 * view.zoom;
        let sy = view.origin.1 + (p.y + 0.5) as f32 * view.zoom;
        if !(sx >= cx0 && sx <= cx1 && sy >= cy0 && sy <= cy1) {
            continue;
        }
        let mark = Mark {
            index,
            pos: (sx, sy),
            auto: p.score.is_some(),
        };
        visible += 1;
        match &mut grid {
            Some(g) => {
                // A mark just outside the viewport is counted in the edge cell.
                if sx >= x0 && sx <= x1 && sy >= y0 && sy <= y1 {
                    bin(g, &mark);
                }
            }
            None if marks.len() < MAX_MARKS => marks.push(mark),
            None => {
                let mut g = vec![(0, 0); cols * rows];
                for m in marks.drain(..).chain(std::iter::once(mark)) {
                    bin(&mut g, &m);
                }
                grid = Some(g);
            }
        }
    }
    let overlay = match grid {
        None => Overlay::Marks(marks),
        Some(g) => Overlay::Density(Density {
            cell,
            origin: (x0, y0),
            cells: g
                .iter()
                .enumerate()
                .filter(|(_, c)| c.0 > 0)
                .map(|(i, c)| ((i % cols) as u32, (i / cols) as u32, c.0, c.1))
                .collect(),
        }),
    };
    OverlayPlan { overlay, visible }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(zoom: f32, radius_px: f32) -> OverlayView {
        OverlayView {
            viewport: [10.0, 20.0, 810.0, 620.0],
            origin: (10.0, 20.0),
            zoom,
            mark_radius: radius_px * zoom,
            threshold: f64::NEG_INFINITY,
            section: None,
        }
    }

    /// A lattice of `side`² picks every `step` px from (0, 0).
    fn lattice(side: usize, step: f64) -> Vec<SessionPick> {
        (0..side * side)
            .map(|k| SessionPick::manual((k % side) as f64 * step, (k / side) as f64 * step))
            .collect()
    }

    #[test]
    fn draws_only_visible_picks_as_marks() {
        // 40 × 40 picks every 50 px (0..1950 px); at zoom 0.25 the viewport (800 × 600
        // points) shows x < 3200 px, y < 2400 px: all; at zoom 1, x ≤ 800, y ≤ 600 px plus the
        // mark margin.
        let picks = lattice(40, 50.0);
        let all = plan_overlay(&picks, &view(0.25, 20.0));
        assert_eq!(all.visible, 1600);
        assert!(matches!(all.overlay, Overlay::Marks(ref m) if m.len() == 1600));
        let near = plan_overlay(&picks, &view(1.0, 20.0));
        let Overlay::Marks(marks) = &near.overlay else {
            panic!("{near:?}")
        };
        // Visible: x + 0.5 ≤ 800 + 22 → x ≤ 800 (17 columns), y ≤ 600 (13 rows).
        assert_eq!(marks.len(), 17 * 13);
        assert!(marks.iter().all(|m| m.pos.0 <= 832.0 && m.pos.1 <= 642.0));
        let m = marks.iter().find(|m| m.index == 41).unwrap();
        assert_eq!(m.pos, (10.0 + 50.5, 20.0 + 50.5));
    }

    #[test]
    fn dense_picks_merge_into_bounded_cells_that_count_every_visible_pick() {
        // 100,000 picks (317² lattice, every 10 px, cut at 100,000): all visible at zoom 0.18.
        let mut picks = lattice(317, 10.0);
        picks.truncate(100_000);
        picks[5].score = Some(1.0);
        let plan = plan_overlay(&picks, &view(0.18, 20.0));
        assert_eq!(plan.visible, 100_000);
        let Overlay::Density(d) = &plan.overlay else {
            panic!("expected a density")
        };
        assert!(d.cells.len() <= MAX_CELLS && d.cell >= MIN_CELL);
        let total: u32 = d.cells.iter().map(|c| c.2).sum();
        let manual: u32 = d.cells.iter().map(|c| c.3).sum();
        assert_eq!((total, manual), (100_000, 99_999));
        // Zoomed in on a corner: a few hundred picks, drawn one by one again.
        let mut v = view(4.0, 20.0);
        v.origin = (10.0 - 400.0, 20.0 - 400.0);
        let plan = plan_overlay(&picks, &v);
        assert!(
            matches!(plan.overlay, Overlay::Marks(_)),
            "{}",
            plan.visible
        );
        assert!(plan.visible < MAX_MARKS);
    }

    #[test]
    fn tiny_marks_threshold_and_section() {
        let mut picks = lattice(10, 100.0);
        picks[0].score = Some(-1.0);
        picks[1].z = Some(50.0);
        picks[2].z = Some(10.0);
        // Circles under 2 points: merged even though there are few.
        let plan = plan_overlay(&picks, &view(0.05, 20.0));
        assert!(matches!(plan.overlay, Overlay::Density(_)));
        assert_eq!(plan.visible, 100);
        let mut v = view(0.5, 20.0);
        v.threshold = 0.0;
        v.section = Some((12.0, 5.0));
        let plan = plan_overlay(&picks, &v);
        assert_eq!(
            plan.visible, 98,
            "the autopick below 0 and the pick at z = 50 are hidden"
        );
    }
}
