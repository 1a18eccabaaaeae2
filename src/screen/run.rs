//! One screening run into an output folder, shared by `cryolens screen` and the GUI's
//! **Watch folder…**: screen a micrograph, write its PNGs, ring curves and row (the table saved
//! after every micrograph, keeping the decisions the gallery saved meanwhile), apply the
//! thresholds and write the exports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::curate::{self, ExportCounts, Threshold};
use super::{FolderWatch, ScreenRow, ScreenSettings, ScreenTable, acquisition};
use crate::ctf::{MicrographCtf, find_micrograph_ctf};
use crate::denoise::Denoiser2d;
use crate::io::star::StarFile;
use crate::jobs::{Progress, Shard};

/// Counts the particles picked on a micrograph (the picking session beside it), or `None`.
pub type PickCounter = Box<dyn FnMut(&Path) -> Option<usize> + Send>;

/// What a run is told at its start.
pub struct ScreenerSetup {
    /// The denoiser of the thumbnails and of the denoised SNR.
    pub denoiser: Denoiser2d,
    /// SHA-256 of the denoiser's weights file (hex), recorded in every row.
    pub model_sha256: Option<String>,
    /// Thumbnail size and what to measure.
    pub settings: ScreenSettings,
    /// CTF results matched to micrographs by file name (a CTFFIND file beside a micrograph
    /// is used when none matches).
    pub ctfs: Vec<MicrographCtf>,
    /// The folder the inputs share: PNG and curve names are the micrographs' paths below it.
    pub root: PathBuf,
    /// The output folder (`screening.csv`, `thumbnails/`, `raw/`, `spectra/`, `curves/`).
    pub out: PathBuf,
    /// Rejection rules applied by [`Screener::decide`].
    pub thresholds: Vec<Threshold>,
    /// The RELION STAR the micrographs came from, whose optics and CTF columns the accepted
    /// STAR keeps.
    pub source_star: Option<StarFile>,
    /// One task's share of a sharded screen: rows go to its own shard table
    /// ([`super::table::shard_table_name`]) and nothing is decided or exported.
    pub shard: Option<Shard>,
}

/// A screening run: its table and counts.
pub struct Screener {
    setup: ScreenerSetup,
    table: ScreenTable,
    picks: PickCounter,
    failures: usize,
    screened: usize,
}

impl Screener {
    /// Opens (or starts) the table of `setup.out` (the shard's own table for a shard), and
    /// keeps the input STAR there ([`curate::keep_source`]).
    ///
    /// # Errors
    /// A table that cannot be read; an output folder that cannot be written.
    pub fn new(setup: ScreenerSetup, picks: PickCounter) -> Result<Self> {
        let table = match setup.shard {
            Some(shard) => ScreenTable::open_shard(&setup.out, shard)?,
            None => ScreenTable::open(&setup.out)?,
        };
        if let Some(source) = &setup.source_star {
            curate::keep_source(&setup.out, source)?;
        }
        Ok(Self {
            setup,
            table,
            picks,
            failures: 0,
            screened: 0,
        })
    }

    /// The table as screened so far.
    pub fn table(&self) -> &ScreenTable {
        &self.table
    }

    /// The table, to order its rows ([`ScreenTable::order_by`]).
    pub fn table_mut(&mut self) -> &mut ScreenTable {
        &mut self.table
    }

    /// Micrographs screened by this run, and how many of them failed.
    pub fn counts(&self) -> (usize, usize) {
        (self.screened, self.failures)
    }

    /// A folder watch over `folders` that skips the output folder and every micrograph the
    /// table holds at its current size and time (`redo`: none skipped).
    pub fn watch(
        &self,
        folders: Vec<PathBuf>,
        settle: Duration,
        batch: usize,
        redo: bool,
    ) -> FolderWatch {
        let out = &self.setup.out;
        let canonical = std::fs::canonicalize(out).unwrap_or_else(|_| out.clone());
        let mut watch = FolderWatch::new(folders, vec![out.clone(), canonical], settle, batch);
        for row in self.table.rows() {
            let p = PathBuf::from(&row.micrograph);
            if !redo && self.table.is_current(&p) {
                watch.mark_taken(p);
            }
        }
        watch
    }

    /// Screens `path`, writes its PNGs, ring curves and row, saves the table and returns the
    /// row. A micrograph that fails becomes a row with its error line (counted in
    /// [`Self::counts`]); only a table that cannot be written is an error.
    ///
    /// # Errors
    /// The table cannot be written.
    pub fn screen_one(&mut self, path: &Path, progress: &Progress) -> Result<ScreenRow> {
        let ctf = find_micrograph_ctf(&self.setup.ctfs, path)
            .cloned()
            .or_else(|| acquisition::ctffind_beside(path));
        let s = &self.setup;
        let result =
            super::screen_micrograph(path, &s.denoiser, ctf.as_ref(), &s.settings, progress)
                .and_then(|screened| {
                    let rel = relative_name(&s.root, path);
                    let [thumbnail, raw, spectrum] = screened.write_pngs(&s.out, &rel)?;
                    let mut row = screened.row;
                    (row.thumbnail, row.raw_thumbnail, row.spectrum) =
                        (Some(thumbnail), Some(raw), Some(spectrum));
                    if let Some(rings) = &screened.rings {
                        row.ring_curves = Some(rings.write(&s.out, &rel)?);
                    }
                    Ok(row)
                });
        self.screened += 1;
        let mut row = match result {
            Ok(row) => row,
            Err(e) => {
                self.failures += 1;
                let (size, ns) = super::table::file_stamp(path)
                    .map_or((None, None), |(s, n)| (Some(s), Some(n)));
                ScreenRow {
                    micrograph: path.to_string_lossy().into_owned(),
                    acquisition_time: acquisition::acquisition_time(path),
                    error: Some(crate::errors::error_line_for(path, &e)),
                    file_size_bytes: size,
                    file_mtime_ns: ns,
                    ..Default::default()
                }
            }
        };
        row.picks = (self.picks)(path);
        row.cryolens_version = Some(env!("CARGO_PKG_VERSION").to_string());
        if row.error.is_none() {
            row.model_sha256.clone_from(&self.setup.model_sha256);
        }
        self.table.upsert(row.clone());
        self.table.adopt_decisions_from_disk();
        self.table.save()?;
        Ok(row)
    }

    /// Applies the thresholds (after taking the decisions saved on disk), saves the table,
    /// removes the shard tables it folded in, and writes the exports; returns the counts and
    /// how many the thresholds rejected.
    ///
    /// # Errors
    /// A shard's run (it decides nothing: the run that folds the shards does); the table or an
    /// export cannot be written.
    pub fn decide(&mut self) -> Result<(ExportCounts, usize)> {
        anyhow::ensure!(
            self.setup.shard.is_none(),
            "a shard of a screen does not decide: run the screen without --shard to fold the shards' tables and decide"
        );
        self.table.adopt_decisions_from_disk();
        let by_threshold = curate::apply_thresholds(self.table.rows_mut(), &self.setup.thresholds);
        self.table.save()?;
        self.table.remove_folded_shards()?;
        let counts = curate::export(
            &self.setup.out,
            self.table.rows(),
            self.setup.source_star.as_ref(),
        )?;
        Ok((counts, by_threshold))
    }
}

/// What [`follow`] tells its caller.
pub enum Followed<'a> {
    /// A micrograph was screened (or failed: the row holds the error).
    Screened(&'a Path, &'a ScreenRow),
    /// A batch was decided: the export counts and how many the thresholds rejected.
    Decided(ExportCounts, usize),
    /// Nothing new for this long (`idle_exit` reached: the watch stops).
    Idle(Duration),
}

/// Follows `watch`: every `poll`, screens the micrographs that became complete (skipping
/// those the table holds at their current size and time, unless `redo`), then decides and
/// exports; reports each step to `report`. Stops when `progress` is cancelled (between two
/// micrographs) or after `idle_exit` without a new micrograph.
///
/// # Errors
/// The table or an export cannot be written.
pub fn follow(
    s: &mut Screener,
    watch: &mut FolderWatch,
    poll: Duration,
    idle_exit: Option<Duration>,
    redo: bool,
    progress: &Progress,
    mut report: impl FnMut(Followed<'_>),
) -> Result<()> {
    let mut last_new = std::time::Instant::now();
    while !progress.is_cancelled() {
        let new = watch.poll();
        if new.is_empty() {
            if let Some(limit) = idle_exit
                && last_new.elapsed() >= limit
            {
                report(Followed::Idle(limit));
                break;
            }
            // Short sleeps, so that a cancel is seen soon.
            let until = std::time::Instant::now() + poll;
            while std::time::Instant::now() < until && !progress.is_cancelled() {
                std::thread::sleep(poll.min(Duration::from_millis(100)));
            }
            continue;
        }
        last_new = std::time::Instant::now();
        for path in new {
            if progress.is_cancelled() {
                break;
            }
            if !redo && s.table().is_current(&path) {
                continue;
            }
            let row = s.screen_one(&path, progress)?;
            report(Followed::Screened(&path, &row));
        }
        let (counts, by_threshold) = s.decide()?;
        report(Followed::Decided(counts, by_threshold));
    }
    Ok(())
}

/// `path` below `root`, without extension (`GridSquare_1/Data/x`), `/`-separated.
pub fn relative_name(root: &Path, path: &Path) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let rel = abs.strip_prefix(root).unwrap_or(&abs);
    let rel = rel.with_extension("");
    rel.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The deepest folder that holds every path of `roots` (absolute), or `/`.
pub fn common_root(roots: &[PathBuf]) -> PathBuf {
    let abs: Vec<PathBuf> = roots
        .iter()
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect();
    let Some(first) = abs.first() else {
        return PathBuf::from("/");
    };
    let mut common = first.clone();
    for p in &abs[1..] {
        while !p.starts_with(&common) {
            if !common.pop() {
                return PathBuf::from("/");
            }
        }
    }
    common
}
