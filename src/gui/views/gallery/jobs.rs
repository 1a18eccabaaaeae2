//! The gallery's background work, polled every frame: the live watch and the re-reading of
//! the table it grows, the per-ring curves of the data set, thumbnail decoding (a few at a
//! time, the textures farthest from the view dropped) and the save of the decisions with the
//! exports.

use std::collections::HashMap;
use std::path::PathBuf;

use eframe::egui;

use super::cell::decode;
use super::plots::GalleryPlot;
use super::{BATCH, CELL, GalleryView, MAX_TEXTURES};
use crate::screen::curate::{self, ExportCounts};
use crate::screen::curves::{RingTable, mean_sd};
use crate::screen::{ScreenRow, ScreenTable};

impl GalleryView {
    /// Polls the live watch and re-reads the table when it changed (merged into the gallery,
    /// decisions made here kept); starts reading the per-ring curves when the plot shows them
    /// and rows with curves came or went.
    pub(super) fn poll_live(&mut self, ctx: &egui::Context) {
        if let Some(live) = &mut self.live
            && live.poll(ctx)
        {
            self.refresh_again = true;
        }
        if let Some(((), Ok(rows))) = self.refresh.poll()
            && let Some(g) = &mut self.gallery
        {
            g.merge(rows);
        }
        if self.refresh_again
            && !self.refresh.is_running()
            && !self.load.is_running()
            && let Some(g) = &self.gallery
        {
            self.refresh_again = false;
            let dir = g.dir.clone();
            self.refresh.spawn((), "gallery-refresh", move |_| {
                Ok(ScreenTable::open(&dir)?.rows().to_vec())
            });
        }
        let Some(g) = &self.gallery else { return };
        let with_curves = g.rows().iter().filter(|r| r.ring_curves.is_some()).count();
        let current = self.dataset_curves.as_ref().map(|c| c.0);
        if self.plot == GalleryPlot::Rings
            && current != Some(with_curves)
            && !self.curves.is_running()
        {
            let dir = g.dir.clone();
            let files: Vec<PathBuf> = g
                .rows()
                .iter()
                .filter_map(|r| r.ring_curves.as_ref().map(|c| dir.join(c)))
                .collect();
            self.curves.spawn(with_curves, "gallery-curves", move |_| {
                let tables: Vec<RingTable> = files
                    .iter()
                    .filter_map(|f| RingTable::read(f).ok())
                    .collect();
                Ok(mean_sd(&tables))
            });
        }
    }

    /// Starts decoding the visible thumbnails that have no texture yet.
    pub(super) fn decode_next(&mut self) {
        let Some(g) = &self.gallery else { return };
        let raw = g.show_raw;
        let wanted: Vec<(usize, PathBuf)> = self
            .visible
            .clone()
            .filter_map(|p| g.index_at(p))
            .filter(|&i| !self.textures.contains_key(&(i, raw)))
            .take(BATCH)
            .map(|i| {
                let row = &g.rows()[i];
                let rel = if raw {
                    &row.raw_thumbnail
                } else {
                    &row.thumbnail
                };
                (i, rel.as_ref().map(|r| g.dir.join(r)).unwrap_or_default())
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        self.thumbs.spawn((), "gallery-thumbnails", move |_| {
            Ok(wanted
                .into_iter()
                .map(|(i, path)| ((i, raw), decode(&path, CELL as u32)))
                .collect())
        });
    }

    /// Drops textures beyond [`MAX_TEXTURES`], those farthest from the visible rows first.
    pub(super) fn drop_far_textures(&mut self) {
        if self.textures.len() <= MAX_TEXTURES {
            return;
        }
        let Some(g) = &self.gallery else { return };
        let centre = (self.visible.start + self.visible.end) / 2;
        let position: HashMap<usize, usize> = (0..g.len())
            .filter_map(|p| g.index_at(p).map(|i| (i, p)))
            .collect();
        let mut keys: Vec<(usize, bool)> = self.textures.keys().copied().collect();
        keys.sort_by_key(|(i, _)| {
            std::cmp::Reverse(position.get(i).map_or(usize::MAX, |p| p.abs_diff(centre)))
        });
        let excess = self.textures.len() - MAX_TEXTURES;
        for k in keys.into_iter().take(excess) {
            self.textures.remove(&k);
        }
    }
}

/// Writes the decisions of `rows` into the table of `dir` as it is on disk now (a screen
/// still running there may have added rows), atomically, then the exports
/// ([`curate::export_folder`]: `accepted_micrographs.star`, `accepted.txt`, `rejected.csv`).
pub(super) fn save(dir: &std::path::Path, rows: Vec<ScreenRow>) -> anyhow::Result<ExportCounts> {
    let mut table = ScreenTable::open(dir)?;
    for row in rows {
        table.set_decision(&row.micrograph, row.decision, row.reason);
    }
    table.save()?;
    curate::export_folder(dir)
}
