//! `screening.csv`: one row per micrograph ([`ScreenRow`]), first column `micrograph` (the
//! path as given), rewritten atomically after every micrograph so that a kill never leaves a
//! torn table, and read back on a rerun to skip what is already screened.
//!
//! A sharded screen (`--shard K/N`, one task of a SLURM array) writes its rows to its own
//! `screening.shard-K-of-N.csv` instead, so that tasks running at once never write one file.
//! Opening a folder's table folds every shard table into it (rows in shard-file order, each
//! replacing an older row of the same micrograph); an unsharded run saves the folded table and
//! removes the shard tables ([`ScreenTable::remove_folded_shards`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use crate::jobs::Shard;
use serde::{Deserialize, Serialize};

/// The table's file name in the output folder.
pub const TABLE_NAME: &str = "screening.csv";

/// The file name of shard `shard`'s table: `screening.shard-K-of-N.csv`.
pub fn shard_table_name(shard: Shard) -> String {
    format!("screening.shard-{}-of-{}.csv", shard.index, shard.count)
}

/// Whether `name` is a shard table's file name.
fn is_shard_table_name(name: &str) -> bool {
    name.strip_prefix("screening.shard-")
        .and_then(|rest| rest.strip_suffix(".csv"))
        .and_then(|rest| rest.split_once("-of-"))
        .is_some_and(|(k, n)| k.parse::<usize>().is_ok() && n.parse::<usize>().is_ok())
}

/// One micrograph's screening results. Empty cells are values that could not be measured
/// (no pixel size, no halves, no CTF file) or, with `error` set, a micrograph that failed.
/// Tables written before a column existed read with that column empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScreenRow {
    /// The micrograph's path as given (or as found by the watch).
    pub micrograph: String,
    /// When it was recorded, ISO 8601 ([`super::acquisition::acquisition_time`]).
    pub acquisition_time: Option<String>,
    /// Width in pixels (x).
    pub width_px: Option<usize>,
    /// Height in pixels (y).
    pub height_px: Option<usize>,
    /// Pixel size, Å/px (header, else the CTF file's).
    pub pixel_size_angstrom: Option<f32>,
    /// Mean pixel value (counts per pixel for a counting-mode sum), image units.
    pub mean_value: Option<f64>,
    /// Dose, e⁻/Å²: mean / gain (gain estimated from the noise, image units per electron)
    /// over the pixel area; empty for data that are not counts.
    pub dose_e_per_angstrom2: Option<f64>,
    /// Where the halves for the SNR came from (even/odd sums or count splitting).
    pub halves: Option<String>,
    /// Frank & Al-Ali SNR of the raw halves at the screening pixel size, over the central
    /// 256² pixels ([`super::SNR_REGION`]), dB.
    pub snr_raw_db: Option<f64>,
    /// Topaz's even/odd SNR of the denoiser at the screening pixel size over the same region
    /// (denoised odd half against the raw even half, and the reverse, averaged), dB.
    pub snr_denoised_db: Option<f64>,
    /// Restore's SNR of a denoised half, var(S)/var(Nd) (Palovcak et al. 2020 supplement
    /// eq. 20) over the same region, dB.
    pub restore_snr_denoised_db: Option<f64>,
    /// Restore's signal-to-noise-and-bias ratio of a denoised half, var(S)/(var(Nd) + var(B))
    /// over the same region, dB.
    pub snbr_db: Option<f64>,
    /// Pixel size of the thumbnails and of the SNR columns, Å/px.
    pub screen_pixel_size_angstrom: Option<f32>,
    /// Crystalline-ice ring strength at 3.67 Å, dB ([`super::ice::ice_ring_db`]).
    pub ice_ring_db: Option<f64>,
    /// Mean defocus (U + V)/2, µm, from a CTF result.
    pub defocus_um: Option<f64>,
    /// Astigmatism |U − V|, µm.
    pub astigmatism_um: Option<f64>,
    /// Resolution of the CTF fit, Å.
    pub ctf_fit_resolution_angstrom: Option<f64>,
    /// Sample (ice) thickness estimated by CTFFIND5, nm.
    pub ice_thickness_nm: Option<f64>,
    /// Specimen tilt estimated by CTFFIND5, degrees.
    pub ctf_tilt_degrees: Option<f64>,
    /// Particles picked on it (the picking session beside the micrographs).
    pub picks: Option<usize>,
    /// The user's decision: `accept` or `reject`; empty until decided.
    pub decision: Option<String>,
    /// Why it was rejected (a threshold, or the user's words).
    pub reason: Option<String>,
    /// The error line when screening failed.
    pub error: Option<String>,
    /// The denoised thumbnail (PNG), relative to the output folder.
    pub thumbnail: Option<String>,
    /// The raw thumbnail (PNG, same binning), relative to the output folder.
    pub raw_thumbnail: Option<String>,
    /// The power-spectrum thumbnail (PNG), relative to the output folder.
    pub spectrum: Option<String>,
    /// Per-ring signal, bias and noise (CSV, [`super::curves`]), relative to the output
    /// folder.
    pub ring_curves: Option<String>,
    /// The denoising model.
    pub model: Option<String>,
    /// SHA-256 of the model's weights file (hex), what the MRC labels and STAR comments of
    /// files written with it also carry ([`crate::io::provenance`]).
    pub model_sha256: Option<String>,
    /// The Cryolens version that screened it.
    pub cryolens_version: Option<String>,
    /// Seconds spent screening it.
    pub seconds: Option<f64>,
    /// File size when screened, bytes (with `file_mtime_ns`: what a rerun compares).
    pub file_size_bytes: Option<u64>,
    /// File modification time when screened, ns since 1970.
    pub file_mtime_ns: Option<u64>,
}

/// Size and modification time of a file (what says it has not changed since screening).
///
/// # Errors
/// The file cannot be examined.
pub fn file_stamp(path: &Path) -> std::io::Result<(u64, u64)> {
    let meta = std::fs::metadata(path)?;
    let ns = meta
        .modified()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Ok((meta.len(), ns))
}

/// The screening table of one output folder, kept in memory and written whole.
#[derive(Debug)]
pub struct ScreenTable {
    path: PathBuf,
    rows: Vec<ScreenRow>,
    index: HashMap<String, usize>,
    /// Shard tables folded in at open.
    folded: Vec<PathBuf>,
}

impl ScreenTable {
    /// Opens `dir/screening.csv` (an empty table when there is none) with every shard table of
    /// `dir` folded in, in file-name order.
    ///
    /// # Errors
    /// A table that cannot be read or parsed (named, with what to do).
    pub fn open(dir: &Path) -> Result<Self> {
        let mut table = Self::empty(dir.join(TABLE_NAME));
        table.read_rows(&dir.join(TABLE_NAME))?;
        let mut shards: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| is_shard_table_name(&e.file_name().to_string_lossy()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        shards.sort();
        for shard in &shards {
            table.read_rows(shard)?;
        }
        table.folded = shards;
        Ok(table)
    }

    /// Opens shard `shard`'s own table in `dir` (`screening.shard-K-of-N.csv`), and only it:
    /// what this shard screened before.
    ///
    /// # Errors
    /// A table that cannot be read or parsed.
    pub fn open_shard(dir: &Path, shard: Shard) -> Result<Self> {
        let path = dir.join(shard_table_name(shard));
        let mut table = Self::empty(path.clone());
        table.read_rows(&path)?;
        Ok(table)
    }

    /// A table at `path` with no rows.
    fn empty(path: PathBuf) -> Self {
        Self {
            path,
            rows: Vec::new(),
            index: HashMap::new(),
            folded: Vec::new(),
        }
    }

    /// Upserts the rows of the table file at `path` (none: nothing).
    fn read_rows(&mut self, path: &Path) -> Result<()> {
        if !path.exists() {
            return Ok(());
        }
        let mut reader = csv::Reader::from_path(path)
            .with_context(|| format!("{}: cannot read the screening table", path.display()))?;
        for (i, row) in reader.deserialize::<ScreenRow>().enumerate() {
            let row = row.with_context(|| {
                format!(
                    "{}: row {} is not a screening row (move the file away to start afresh)",
                    path.display(),
                    i + 2
                )
            })?;
            self.upsert(row);
        }
        Ok(())
    }

    /// Whether shard tables were folded in when this table was opened.
    pub fn has_folded_shards(&self) -> bool {
        !self.folded.is_empty()
    }

    /// Puts the rows in the order of `micrographs` (paths as given), rows of other
    /// micrographs after them in their present order: a folded table then lists its rows as
    /// an unsharded run over the same inputs would.
    pub fn order_by(&mut self, micrographs: &[PathBuf]) {
        let rank: HashMap<String, usize> = micrographs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.to_string_lossy().into_owned(), i))
            .collect();
        self.rows
            .sort_by_key(|row| rank.get(&row.micrograph).copied().unwrap_or(usize::MAX));
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.micrograph.clone(), i))
            .collect();
    }

    /// Removes the shard tables folded in at [`Self::open`]; call it after [`Self::save`]
    /// has written their rows into `screening.csv`. Returns how many were removed.
    ///
    /// # Errors
    /// A shard table that cannot be removed.
    pub fn remove_folded_shards(&mut self) -> Result<usize> {
        let n = self.folded.len();
        for path in self.folded.drain(..) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("{}: cannot remove the folded shard table", path.display())
                    });
                }
            }
        }
        Ok(n)
    }

    /// The table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// All rows, in the order they were first added.
    pub fn rows(&self) -> &[ScreenRow] {
        &self.rows
    }

    /// All rows, to decide on ([`super::curate::apply_thresholds`]).
    pub fn rows_mut(&mut self) -> &mut [ScreenRow] {
        &mut self.rows
    }

    /// The row of `micrograph` (the path as given), if any.
    pub fn get(&self, micrograph: &str) -> Option<&ScreenRow> {
        self.index.get(micrograph).map(|&i| &self.rows[i])
    }

    /// Whether `micrograph` was screened without error at its current size and modification
    /// time (a rerun skips it).
    pub fn is_current(&self, micrograph: &Path) -> bool {
        let Some(row) = self.get(&micrograph.to_string_lossy()) else {
            return false;
        };
        let Ok((size, ns)) = file_stamp(micrograph) else {
            return false;
        };
        row.error.is_none() && row.file_size_bytes == Some(size) && row.file_mtime_ns == Some(ns)
    }

    /// Adds `row`, or replaces the row of the same micrograph keeping its place and the
    /// user's decision and reason when the new row has none.
    pub fn upsert(&mut self, mut row: ScreenRow) {
        match self.index.get(&row.micrograph) {
            Some(&i) => {
                let old = &self.rows[i];
                if row.decision.is_none() {
                    row.decision.clone_from(&old.decision);
                    row.reason.clone_from(&old.reason);
                }
                self.rows[i] = row;
            }
            None => {
                self.index.insert(row.micrograph.clone(), self.rows.len());
                self.rows.push(row);
            }
        }
    }

    /// Sets (or clears, with `None`) the decision and reason of `micrograph`'s row; `false`
    /// when the table has no such row.
    pub fn set_decision(
        &mut self,
        micrograph: &str,
        decision: Option<String>,
        reason: Option<String>,
    ) -> bool {
        let Some(&i) = self.index.get(micrograph) else {
            return false;
        };
        self.rows[i].decision = decision;
        self.rows[i].reason = reason;
        true
    }

    /// Takes the decisions and reasons of the table as it is on disk now, for every row it
    /// holds: the gallery may have saved the user's decisions since this table was read, and
    /// a screen (which decides nothing by hand) must not write over them. A table that cannot
    /// be read leaves the decisions as they are.
    pub fn adopt_decisions_from_disk(&mut self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let Ok(disk) = Self::open(dir) else { return };
        for row in disk.rows {
            if let Some(&i) = self.index.get(&row.micrograph) {
                self.rows[i].decision = row.decision;
                self.rows[i].reason = row.reason;
            }
        }
    }

    /// Writes the whole table atomically (temporary file, fsync, rename).
    ///
    /// # Errors
    /// The folder is not writable.
    pub fn save(&self) -> Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        if self.rows.is_empty() {
            // Header only: serialize writes it with the first row.
            writer.write_record(header())?;
        }
        for row in &self.rows {
            writer.serialize(row)?;
        }
        let bytes = writer.into_inner().context("writing the screening table")?;
        crate::io::atomic::write_atomically(&self.path, &bytes)
            .with_context(|| format!("{}: cannot write the screening table", self.path.display()))
    }
}

/// The column names, in order.
pub fn header() -> Vec<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Serializing a default row writes the header line first.
    if w.serialize(ScreenRow::default()).is_err() {
        return vec!["micrograph".into()];
    }
    let bytes = w.into_inner().unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .next()
        .unwrap_or("micrograph")
        .split(',')
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_keep_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let mic = dir.path().join("a, b.mrc");
        std::fs::write(&mic, b"x").unwrap();
        let (size, ns) = file_stamp(&mic).unwrap();
        let mut t = ScreenTable::open(dir.path()).unwrap();
        t.save().unwrap();
        let text = std::fs::read_to_string(t.path()).unwrap();
        assert!(text.starts_with("micrograph,acquisition_time,"), "{text}");
        let row = ScreenRow {
            micrograph: mic.to_string_lossy().into_owned(),
            snr_raw_db: Some(-12.5),
            decision: Some("reject".into()),
            reason: Some("ice_ring_db > 3".into()),
            file_size_bytes: Some(size),
            file_mtime_ns: Some(ns),
            ..Default::default()
        };
        t.upsert(row.clone());
        t.save().unwrap();
        let back = ScreenTable::open(dir.path()).unwrap();
        assert_eq!(back.rows(), std::slice::from_ref(&row));
        assert!(back.is_current(&mic));
        // A rescreen keeps the decision.
        let mut back = back;
        back.upsert(ScreenRow {
            snr_raw_db: Some(-11.0),
            decision: None,
            reason: None,
            ..row.clone()
        });
        assert_eq!(back.rows()[0].decision.as_deref(), Some("reject"));
        assert_eq!(back.rows()[0].snr_raw_db, Some(-11.0));
        // A changed file is no longer current.
        std::fs::write(&mic, b"xy").unwrap();
        assert!(!back.is_current(&mic));
    }

    #[test]
    fn a_damaged_table_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TABLE_NAME),
            "micrograph,width_px\na.mrc,wide\n",
        )
        .unwrap();
        let e = format!("{:#}", ScreenTable::open(dir.path()).unwrap_err());
        assert!(e.contains("screening.csv") && e.contains("row 2"), "{e}");
    }

    #[test]
    fn older_tables_read_with_new_columns_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(TABLE_NAME),
            "micrograph,snr_raw_db,decision
a.mrc,-12.5,accept
",
        )
        .unwrap();
        let t = ScreenTable::open(dir.path()).unwrap();
        assert_eq!(t.rows()[0].snr_raw_db, Some(-12.5));
        assert_eq!(t.rows()[0].decision.as_deref(), Some("accept"));
        assert_eq!(t.rows()[0].snbr_db, None);
    }

    #[test]
    fn a_screen_keeps_decisions_saved_by_the_gallery_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let row = |m: &str| ScreenRow {
            micrograph: m.into(),
            ..Default::default()
        };
        let mut screen = ScreenTable::open(dir.path()).unwrap();
        screen.upsert(row("a.mrc"));
        screen.upsert(row("b.mrc"));
        screen.save().unwrap();
        // The gallery decides on its own copy and saves.
        let mut gallery = ScreenTable::open(dir.path()).unwrap();
        gallery.set_decision("a.mrc", Some("reject".into()), Some("drift".into()));
        gallery.save().unwrap();
        // The screen adds a micrograph and saves its (stale) copy.
        screen.upsert(row("c.mrc"));
        screen.adopt_decisions_from_disk();
        screen.save().unwrap();
        let back = ScreenTable::open(dir.path()).unwrap();
        assert_eq!(back.rows().len(), 3);
        assert_eq!(
            back.get("a.mrc").unwrap().decision.as_deref(),
            Some("reject")
        );
        assert_eq!(back.get("a.mrc").unwrap().reason.as_deref(), Some("drift"));
    }
}
