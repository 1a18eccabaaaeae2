//! Curation: thresholds that reject micrographs by any metric of the table ([`Threshold`],
//! applied by [`apply_thresholds`]), and the exports of the decision ([`export`]): the
//! accepted micrographs as a RELION micrographs STAR and as a plain list, the rejected ones
//! with their reasons.
//!
//! Decisions: a row's `decision` is `accept`, `reject` or empty. The user's decisions (the
//! gallery) always stand. Thresholds only decide rows the user has not: their rejections carry
//! a reason starting `threshold:` and are recomputed on every application, so loosening a
//! threshold gives those micrographs back. A row with an error is rejected in the exports
//! with its error as the reason. Everything else is accepted.

use std::path::Path;

use anyhow::{Context, Result, bail};

use super::table::ScreenRow;
use crate::io::star::{self, Block, StarFile, Table, WriteOptions};

/// The prefix of the reason of a threshold's rejection.
pub const THRESHOLD_REASON: &str = "threshold: ";

/// The numeric columns a threshold may test, in table order.
pub const METRICS: [&str; 15] = [
    "pixel_size_angstrom",
    "mean_value",
    "dose_e_per_angstrom2",
    "snr_raw_db",
    "snr_denoised_db",
    "restore_snr_denoised_db",
    "snbr_db",
    "ice_ring_db",
    "defocus_um",
    "astigmatism_um",
    "ctf_fit_resolution_angstrom",
    "ice_thickness_nm",
    "ctf_tilt_degrees",
    "picks",
    "seconds",
];

/// The value of metric `name` ([`METRICS`]) in `row`, `None` when unmeasured or unknown.
pub fn metric(row: &ScreenRow, name: &str) -> Option<f64> {
    match name {
        "pixel_size_angstrom" => row.pixel_size_angstrom.map(f64::from),
        "mean_value" => row.mean_value,
        "dose_e_per_angstrom2" => row.dose_e_per_angstrom2,
        "snr_raw_db" => row.snr_raw_db,
        "snr_denoised_db" => row.snr_denoised_db,
        "restore_snr_denoised_db" => row.restore_snr_denoised_db,
        "snbr_db" => row.snbr_db,
        "ice_ring_db" => row.ice_ring_db,
        "defocus_um" => row.defocus_um,
        "astigmatism_um" => row.astigmatism_um,
        "ctf_fit_resolution_angstrom" => row.ctf_fit_resolution_angstrom,
        "ice_thickness_nm" => row.ice_thickness_nm,
        "ctf_tilt_degrees" => row.ctf_tilt_degrees,
        "picks" => row.picks.map(|p| p as f64),
        "seconds" => row.seconds,
        _ => None,
    }
}

/// A rejection rule: reject when `metric` compares with `value` by `op`
/// (`ice_ring_db>3`, `snr_raw_db<-20`, `ctf_fit_resolution_angstrom>=6`).
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// One of [`METRICS`].
    pub metric: String,
    /// `<`, `<=`, `>` or `>=`.
    pub op: String,
    /// The bound, in the metric's units.
    pub value: f64,
}

impl std::str::FromStr for Threshold {
    type Err = String;

    /// Parses `METRIC<VALUE`, `METRIC<=VALUE`, `METRIC>VALUE` or `METRIC>=VALUE`.
    fn from_str(s: &str) -> Result<Self, String> {
        let at = s.find(['<', '>']).ok_or_else(|| {
            format!("`{s}` is not METRIC<VALUE or METRIC>VALUE (e.g. ice_ring_db>3)")
        })?;
        let (metric, rest) = s.split_at(at);
        let op_len = if rest[1..].starts_with('=') { 2 } else { 1 };
        let (op, value) = rest.split_at(op_len);
        let metric = metric.trim().to_string();
        if !METRICS.contains(&metric.as_str()) {
            return Err(format!(
                "`{metric}` is not a metric of the table (one of {})",
                METRICS.join(", ")
            ));
        }
        let value: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("`{}` in `{s}` is not a number", value.trim()))?;
        Ok(Threshold {
            metric,
            op: op.to_string(),
            value,
        })
    }
}

impl std::fmt::Display for Threshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{}", self.metric, self.op, self.value)
    }
}

impl Threshold {
    /// Whether `row` fails this rule (an unmeasured metric never does).
    pub fn rejects(&self, row: &ScreenRow) -> bool {
        metric(row, &self.metric).is_some_and(|v| match self.op.as_str() {
            "<" => v < self.value,
            "<=" => v <= self.value,
            ">" => v > self.value,
            _ => v >= self.value,
        })
    }
}

/// Applies `thresholds` to the rows the user has not decided: earlier threshold rejections
/// are cleared, then each undecided row that fails a rule is rejected with the rule and its
/// value as the reason. Returns how many rows the thresholds reject.
pub fn apply_thresholds(rows: &mut [ScreenRow], thresholds: &[Threshold]) -> usize {
    let mut rejected = 0;
    for row in rows.iter_mut() {
        if row
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(THRESHOLD_REASON))
        {
            row.decision = None;
            row.reason = None;
        }
        if row.decision.is_some() || row.error.is_some() {
            continue;
        }
        if let Some(t) = thresholds.iter().find(|t| t.rejects(row)) {
            let v = metric(row, &t.metric).unwrap_or(f64::NAN);
            row.decision = Some("reject".into());
            row.reason = Some(format!("{THRESHOLD_REASON}{} = {v} ({t})", t.metric));
            rejected += 1;
        }
    }
    rejected
}

/// Whether `row` is accepted: screened without error and not rejected.
pub fn is_accepted(row: &ScreenRow) -> bool {
    row.error.is_none() && row.decision.as_deref() != Some("reject")
}

/// What [`export`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportCounts {
    /// Accepted micrographs.
    pub accepted: usize,
    /// Rejected ones (by the user, a threshold or an error).
    pub rejected: usize,
}

/// Writes the decision into `dir` (each file atomically): `accepted_micrographs.star` (the
/// input STAR `source` with every block kept, optics groups and CTF columns included, and
/// only the accepted rows of its micrographs table, matched by file name; without a source, a
/// RELION 3.1 STAR with one optics group per pixel size and `_rlnMicrographName`),
/// `accepted.txt` (one path a line) and `rejected.csv` (`micrograph,reason`).
///
/// # Errors
/// A source STAR without a micrographs table; an unwritable folder.
pub fn export(dir: &Path, rows: &[ScreenRow], source: Option<&StarFile>) -> Result<ExportCounts> {
    let accepted: Vec<&ScreenRow> = rows.iter().filter(|r| is_accepted(r)).collect();
    let star_file = match source {
        Some(file) => keep_accepted(file, &accepted)?,
        None => fresh_star(&accepted)?,
    };
    star::write(
        &dir.join("accepted_micrographs.star"),
        &star_file,
        &WriteOptions::relion(),
    )?;
    let list: String = accepted
        .iter()
        .map(|r| format!("{}\n", r.micrograph))
        .collect();
    crate::io::atomic::write_atomically(&dir.join("accepted.txt"), list.as_bytes())?;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["micrograph", "reason"])?;
    let mut rejected = 0;
    for r in rows.iter().filter(|r| !is_accepted(r)) {
        let reason = r
            .error
            .clone()
            .or_else(|| r.reason.clone())
            .unwrap_or_else(|| "rejected".into());
        w.write_record([r.micrograph.as_str(), reason.as_str()])?;
        rejected += 1;
    }
    let bytes = w.into_inner().context("writing rejected.csv")?;
    crate::io::atomic::write_atomically(&dir.join("rejected.csv"), &bytes)?;
    Ok(ExportCounts {
        accepted: accepted.len(),
        rejected,
    })
}

/// The copy of the input RELION STAR kept in the output folder, so that exports made later
/// (the gallery's, after each decision) keep its optics groups and CTF columns too.
pub const SOURCE_STAR: &str = "input_micrographs.star";

/// Keeps `source` as `dir/input_micrographs.star` ([`SOURCE_STAR`]), atomically.
///
/// # Errors
/// An unwritable folder.
pub fn keep_source(dir: &Path, source: &StarFile) -> Result<()> {
    star::write(&dir.join(SOURCE_STAR), source, &WriteOptions::relion())?;
    Ok(())
}

/// [`export`] of the table of `dir` as it is on disk, with the input STAR kept there
/// ([`keep_source`]) when there is one: what the gallery runs after saving decisions.
///
/// # Errors
/// An unreadable table or kept STAR; an unwritable folder.
pub fn export_folder(dir: &Path) -> Result<ExportCounts> {
    let table = super::ScreenTable::open(dir)?;
    let kept = dir.join(SOURCE_STAR);
    let source = if kept.is_file() {
        Some(star::read(&kept)?)
    } else {
        None
    };
    export(dir, table.rows(), source.as_ref())
}

/// `file` with only the accepted rows of its micrographs table.
fn keep_accepted(file: &StarFile, accepted: &[&ScreenRow]) -> Result<StarFile> {
    let names: std::collections::HashSet<&str> = accepted
        .iter()
        .map(|r| crate::io::file_name_in(&r.micrograph))
        .collect();
    let index = file
        .blocks
        .iter()
        .position(|b| b.name != "optics" && b.has_column("rlnMicrographName"));
    let Some(index) = index else {
        bail!("the input STAR has no table with `_rlnMicrographName`");
    };
    let mut out = file.clone();
    let table = file.blocks[index]
        .table
        .as_ref()
        .context("micrographs table")?;
    let col = table
        .column_index("rlnMicrographName")
        .context("no _rlnMicrographName")?;
    let mut kept = Table::new(table.columns());
    for row in table.rows() {
        if names.contains(crate::io::file_name_in(&row[col])) {
            kept.push_row(row.clone())?;
        }
    }
    out.blocks[index].table = Some(kept);
    Ok(out)
}

/// A RELION 3.1 micrographs STAR of `accepted`, one optics group per pixel size.
fn fresh_star(accepted: &[&ScreenRow]) -> Result<StarFile> {
    let mut sizes: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for r in accepted {
        let size = r
            .pixel_size_angstrom
            .map_or_else(|| "1.0".to_string(), |p| format!("{p}"));
        let group = match sizes.iter().position(|s| *s == size) {
            Some(i) => i + 1,
            None => {
                sizes.push(size);
                sizes.len()
            }
        };
        rows.push(vec![r.micrograph.clone(), group.to_string()]);
    }
    let mut optics = Table::new(&[
        "rlnOpticsGroupName",
        "rlnOpticsGroup",
        "rlnMicrographPixelSize",
    ]);
    for (i, size) in sizes.iter().enumerate() {
        optics.push_row(vec![
            format!("opticsGroup{}", i + 1),
            (i + 1).to_string(),
            size.clone(),
        ])?;
    }
    let mut mics = Table::new(&["rlnMicrographName", "rlnOpticsGroup"]);
    for row in rows {
        mics.push_row(row)?;
    }
    Ok(StarFile {
        blocks: vec![
            Block::with_table("optics", optics),
            Block::with_table("micrographs", mics),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, ice: Option<f64>) -> ScreenRow {
        ScreenRow {
            micrograph: name.into(),
            ice_ring_db: ice,
            pixel_size_angstrom: Some(0.85),
            ..Default::default()
        }
    }

    #[test]
    fn thresholds_parse_and_reject_only_undecided_rows() {
        let t: Threshold = "ice_ring_db>3".parse().unwrap();
        assert_eq!((t.op.as_str(), t.value), (">", 3.0));
        assert!("ice<3".parse::<Threshold>().is_err());
        assert!("ice_ring_db=3".parse::<Threshold>().is_err());
        assert!("snr_raw_db<=x".parse::<Threshold>().is_err());
        let mut rows = vec![
            row("a.mrc", Some(5.0)),
            row("b.mrc", Some(1.0)),
            row("c.mrc", None),
            ScreenRow {
                decision: Some("accept".into()),
                ..row("d.mrc", Some(9.0))
            },
        ];
        assert_eq!(apply_thresholds(&mut rows, &[t]), 1);
        assert_eq!(rows[0].decision.as_deref(), Some("reject"));
        assert!(
            rows[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("ice_ring_db = 5")
        );
        assert!(rows[1].decision.is_none() && rows[2].decision.is_none());
        assert_eq!(rows[3].decision.as_deref(), Some("accept"));
        // Loosened: the threshold's rejection is taken back.
        let loose: Threshold = "ice_ring_db>6".parse().unwrap();
        assert_eq!(apply_thresholds(&mut rows, &[loose]), 0);
        assert!(rows[0].decision.is_none());
    }

    #[test]
    fn export_keeps_the_input_star_and_writes_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let source = star::parse(
            "data_optics\nloop_\n_rlnOpticsGroupName\n_rlnOpticsGroup\n_rlnMicrographPixelSize\n_rlnVoltage\n\
             opticsGroup1 1 0.85 300\n\n\
             data_micrographs\nloop_\n_rlnMicrographName\n_rlnOpticsGroup\n_rlnDefocusU\n\
             MotionCorr/job002/a.mrc 1 10000\nMotionCorr/job002/b.mrc 1 12000\n",
        )
        .unwrap();
        let mut rows = vec![row("/data/a.mrc", Some(0.1)), row("/data/b.mrc", Some(8.0))];
        rows.push(ScreenRow {
            error: Some("error: c.mrc: truncated".into()),
            ..row("/data/c.mrc", None)
        });
        apply_thresholds(&mut rows, &["ice_ring_db>3".parse().unwrap()]);
        let n = export(dir.path(), &rows, Some(&source)).unwrap();
        assert_eq!(
            n,
            ExportCounts {
                accepted: 1,
                rejected: 2
            }
        );
        let back = star::read(&dir.path().join("accepted_micrographs.star")).unwrap();
        assert_eq!(back.block("optics"), source.block("optics"));
        let mics = back.block("micrographs").unwrap();
        assert_eq!(mics.len(), 1);
        assert_eq!(
            mics.get("rlnMicrographName", 0).unwrap(),
            "MotionCorr/job002/a.mrc"
        );
        assert_eq!(mics.f64("rlnDefocusU", 0).unwrap(), 10000.0);
        let list = std::fs::read_to_string(dir.path().join("accepted.txt")).unwrap();
        assert_eq!(list, "/data/a.mrc\n");
        let rejected = std::fs::read_to_string(dir.path().join("rejected.csv")).unwrap();
        assert!(
            rejected.contains("/data/b.mrc,threshold: ice_ring_db = 8"),
            "{rejected}"
        );
        assert!(
            rejected.contains("/data/c.mrc,error: c.mrc: truncated"),
            "{rejected}"
        );
        // Without a source: a RELION 3.1 STAR of its own, read back by our reader.
        export(dir.path(), &rows, None).unwrap();
        let own = star::read(&dir.path().join("accepted_micrographs.star")).unwrap();
        let optics = own.block("optics").unwrap();
        assert_eq!(optics.f64("rlnMicrographPixelSize", 0).unwrap(), 0.85);
        let mics = own.block("micrographs").unwrap();
        assert_eq!(mics.get("rlnMicrographName", 0).unwrap(), "/data/a.mrc");
        assert_eq!(mics.i64("rlnOpticsGroup", 0).unwrap(), 1);

        // A later export from the folder alone (the gallery's, after a decision) keeps the
        // input STAR's optics and CTF columns through the copy kept there.
        keep_source(dir.path(), &source).unwrap();
        let mut table = crate::screen::ScreenTable::open(dir.path()).unwrap();
        rows[1].decision = Some("accept".into());
        rows[1].reason = Some("gallery".into());
        for r in rows {
            table.upsert(r);
        }
        table.save().unwrap();
        let n = export_folder(dir.path()).unwrap();
        assert_eq!(n.accepted, 2);
        let back = star::read(&dir.path().join("accepted_micrographs.star")).unwrap();
        assert_eq!(back.block("optics"), source.block("optics"));
        let mics = back.block("micrographs").unwrap();
        assert_eq!(mics.len(), 2);
        assert_eq!(mics.f64("rlnDefocusU", 1).unwrap(), 12000.0);
    }
}
