//! RELION coordinates: per-micrograph coordinate files (`<mic>_<suffix>.star`, RELION 3.0–5,
//! autopick or manual), particle STAR files grouped by `_rlnMicrographName`, the coordinate
//! index of RELION ≥ 3.2 (`manualpick.star`, `data_coordinate_files`) and whole projects read
//! through it. Centres, pixels, as written (see the conventions table in [`super`]).

use std::path::Path;

use super::{
    CoordsError, MicrographPicks, Pick, check_finite, finite, fmt6, group, micrograph_from_path,
    on_path, read_parsed, read_text, write_formatted_star,
};
use crate::io::IoError;
use crate::io::star::{self, Block, StarFile, Table, WriteOptions};

/// RELION's "no figure of merit" value, written for manual picks.
pub const RELION_NO_FOM: f64 = -999.0;

/// Picks from RELION STAR text: the first block whose loop has `_rlnCoordinateX` and
/// `_rlnCoordinateY` (optics and other blocks are skipped). With `_rlnMicrographName` the picks
/// are grouped by it, else they all go to `default_micrograph`. Optional columns:
/// `_rlnCoordinateZ`, `_rlnAutopickFigureOfMerit` (score; `-999`, `<NA>`, `nan` = none),
/// `_rlnHelicalTubeID` (filament). Origins (`_rlnOriginX/YAngst`) are not applied. Empty text
/// gives no picks.
///
/// # Errors
/// Bad STAR (with the line), no coordinate loop, or a value that is not a number (naming
/// block, column, row and line).
pub fn parse_relion(
    text: &str,
    default_micrograph: &str,
) -> Result<Vec<MicrographPicks>, CoordsError> {
    relion_from_star(&star::parse(text)?, default_micrograph, None)
}

/// Like [`parse_relion`], for damaged files: a row with fewer values than labels is padded
/// with `<NA>` ([`star::parse_lenient`]), and a bad or missing optional value
/// (`_rlnAutopickFigureOfMerit`, `_rlnHelicalTubeID`) becomes `None`; each is reported in the
/// returned warnings (with its line). Coordinates must still be numbers.
///
/// # Errors
/// As [`parse_relion`] for anything else.
pub fn parse_relion_lenient(
    text: &str,
    default_micrograph: &str,
) -> Result<(Vec<MicrographPicks>, Vec<String>), CoordsError> {
    let (file, mut warnings) = star::parse_lenient(text)?;
    let groups = relion_from_star(&file, default_micrograph, Some(&mut warnings))?;
    Ok((groups, warnings))
}

/// The picks of a parsed RELION STAR file; with `lenient`, bad optional values become
/// warnings.
fn relion_from_star(
    file: &StarFile,
    default_micrograph: &str,
    mut lenient: Option<&mut Vec<String>>,
) -> Result<Vec<MicrographPicks>, CoordsError> {
    if file.blocks.is_empty() {
        return Ok(Vec::new());
    }
    let Some(block) = file
        .blocks
        .iter()
        .find(|b| b.has_column("rlnCoordinateX") && b.has_column("rlnCoordinateY"))
    else {
        let names: Vec<String> = file
            .blocks
            .iter()
            .take(10)
            .map(|b| format!("data_{}", crate::errors::quote(&b.name)))
            .collect();
        return Err(CoordsError::msg(format!(
            "no loop with `_rlnCoordinateX` and `_rlnCoordinateY` in blocks {} \
             (give a RELION coordinate or particle STAR file)",
            names.join(", ")
        )));
    };
    let has = |c: &str| block.has_column(c);
    let (has_z, has_fom, has_mic, has_tube) = (
        has("rlnCoordinateZ"),
        has("rlnAutopickFigureOfMerit"),
        has("rlnMicrographName"),
        has("rlnHelicalTubeID"),
    );
    let mut items = Vec::with_capacity(block.len());
    for r in 0..block.len() {
        let mut p = Pick::new(
            finite(block, "rlnCoordinateX", r)?,
            finite(block, "rlnCoordinateY", r)?,
        );
        if has_z {
            p.z = Some(finite(block, "rlnCoordinateZ", r)?);
        }
        if has_fom {
            let v = block.f64_opt_finite("rlnAutopickFigureOfMerit", r);
            p.score = optional(v, lenient.as_deref_mut())?.filter(|&v| v != RELION_NO_FOM);
        }
        if has_tube {
            let v = if star::is_missing(block.get("rlnHelicalTubeID", r)?) {
                Ok(None)
            } else {
                block.i64("rlnHelicalTubeID", r).map(Some)
            };
            p.filament = optional(v, lenient.as_deref_mut())?;
        }
        let mic = if has_mic {
            block.get("rlnMicrographName", r)?.to_string()
        } else {
            default_micrograph.to_string()
        };
        items.push((mic, p));
    }
    Ok(group(items))
}

/// An optional value: its error is returned, or with `lenient` recorded as a warning and
/// read as `None`.
fn optional<T>(
    v: Result<Option<T>, star::StarError>,
    lenient: Option<&mut Vec<String>>,
) -> Result<Option<T>, CoordsError> {
    match (v, lenient) {
        (Ok(v), _) => Ok(v),
        (Err(e), Some(w)) => {
            w.push(format!("{e}; read as missing"));
            Ok(None)
        }
        (Err(e), None) => Err(e.into()),
    }
}

/// Reads a RELION coordinate file (per micrograph, RELION 3.0–5, autopick or manual) or a
/// particle STAR file (grouped by `_rlnMicrographName`). See [`parse_relion`]; the micrograph
/// name of a per-micrograph file comes from [`micrograph_from_path`].
///
/// # Errors
/// As [`parse_relion`], with the file named.
pub fn read_relion(path: &Path) -> Result<Vec<MicrographPicks>, IoError> {
    read_parsed(path, |text| parse_relion(text, &micrograph_from_path(path)))
}

/// Reads a RELION STAR file with [`parse_relion_lenient`]: picks and warnings.
///
/// # Errors
/// As [`parse_relion_lenient`], with the file named.
pub fn read_relion_lenient(path: &Path) -> Result<(Vec<MicrographPicks>, Vec<String>), IoError> {
    let text = read_text(path)?;
    on_path(
        path,
        parse_relion_lenient(&text, &micrograph_from_path(path)),
    )
}

/// The columns and values of a RELION coordinate table for `picks`.
fn relion_table(picks: &[Pick], micrographs: Option<&[&str]>) -> Result<Table, CoordsError> {
    check_finite(picks)?;
    let has_z = picks.iter().any(|p| p.z.is_some());
    if has_z && let Some(i) = picks.iter().position(|p| p.z.is_none()) {
        return Err(CoordsError::msg(format!(
            "pick {} has no z while others have one",
            i + 1
        )));
    }
    let has_fom = picks.iter().any(|p| p.score.is_some());
    let has_tube = picks.iter().any(|p| p.filament.is_some());
    if has_tube && let Some(i) = picks.iter().position(|p| p.filament.is_none()) {
        return Err(CoordsError::msg(format!(
            "pick {} has no filament id while others have one",
            i + 1
        )));
    }
    let mut cols = Vec::new();
    if micrographs.is_some() {
        cols.push("rlnMicrographName");
    }
    cols.extend(["rlnCoordinateX", "rlnCoordinateY"]);
    if has_z {
        cols.push("rlnCoordinateZ");
    }
    if has_fom {
        cols.push("rlnAutopickFigureOfMerit");
    }
    if has_tube {
        cols.push("rlnHelicalTubeID");
    }
    let mut table = Table::new(&cols);
    for (i, p) in picks.iter().enumerate() {
        let mut row = Vec::with_capacity(cols.len());
        if let Some(m) = micrographs.and_then(|m| m.get(i)) {
            row.push((*m).to_string());
        }
        row.push(fmt6(p.x));
        row.push(fmt6(p.y));
        if let Some(z) = p.z {
            row.push(fmt6(z));
        }
        if has_fom {
            row.push(fmt6(p.score.unwrap_or(RELION_NO_FOM)));
        }
        if let Some(f) = p.filament {
            row.push(f.to_string());
        }
        table.push_row(row)?;
    }
    Ok(table)
}

/// STAR text of one data block `data_<name>` holding `table`, written as RELION writes.
///
/// # Errors
/// A value STAR cannot hold.
fn one_block_text(name: &str, table: Table) -> Result<String, CoordsError> {
    let file = StarFile {
        blocks: vec![Block::with_table(name, table)],
    };
    Ok(star::to_string(&file, &WriteOptions::relion())?)
}

/// RELION per-micrograph coordinate file text (`<micrograph>_manualpick.star`), as RELION 3.1–5
/// writes it: `# version 30001`, `data_`, a loop `_rlnCoordinateX #1`, `_rlnCoordinateY #2`,
/// then `_rlnCoordinateZ` if the picks have z and `_rlnAutopickFigureOfMerit` if any has a score
/// (`-999.000000`, RELION's "none", for those without), then `_rlnHelicalTubeID` if the picks
/// have filament ids. Numbers as `%.6f` unless that would lose precision; columns
/// right-aligned. Box sizes are not written.
///
/// # Errors
/// A non-finite value, or z or a filament id on some picks only.
pub fn format_relion(picks: &[Pick]) -> Result<String, CoordsError> {
    one_block_text("", relion_table(picks, None)?)
}

/// Writes [`format_relion`] atomically to `path`.
///
/// # Errors
/// As [`format_relion`], or a failed write.
pub fn write_relion(path: &Path, picks: &[Pick]) -> Result<(), IoError> {
    write_formatted_star(path, format_relion(picks))
}

/// A RELION particle-style STAR text holding several micrographs: `data_particles` with
/// `_rlnMicrographName` per row, then the columns of [`format_relion`]. Reads back with
/// [`parse_relion`] into the same groups.
///
/// # Errors
/// As [`format_relion`], for any group.
pub fn format_relion_particles(groups: &[MicrographPicks]) -> Result<String, CoordsError> {
    let all: Vec<Pick> = groups
        .iter()
        .flat_map(|g| g.picks.iter().copied())
        .collect();
    let names: Vec<&str> = groups
        .iter()
        .flat_map(|g| g.picks.iter().map(|_| g.micrograph.as_str()))
        .collect();
    let table = relion_table(&all, Some(&names))?;
    one_block_text("particles", table)
}

/// Writes [`format_relion_particles`] atomically to `path`.
///
/// # Errors
/// As [`format_relion_particles`], or a failed write.
pub fn write_relion_particles(path: &Path, groups: &[MicrographPicks]) -> Result<(), IoError> {
    write_formatted_star(path, format_relion_particles(groups))
}

/// One row of RELION's coordinate index (`manualpick.star`, `data_coordinate_files`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinateFileEntry {
    /// `_rlnMicrographName`: the micrograph, relative to the RELION project folder.
    pub micrograph: String,
    /// `_rlnMicrographCoordinates`: its coordinate file, relative to the project folder.
    pub coordinates: String,
}

/// Parses a RELION ≥ 3.2 coordinate index: the loop with `_rlnMicrographName` and
/// `_rlnMicrographCoordinates` (normally `data_coordinate_files`).
///
/// # Errors
/// Bad STAR, or no such loop.
pub fn parse_relion_index(text: &str) -> Result<Vec<CoordinateFileEntry>, CoordsError> {
    let file = star::parse(text)?;
    let block = file
        .block("coordinate_files")
        .filter(|b| b.has_column("rlnMicrographCoordinates"))
        .or_else(|| {
            file.blocks.iter().find(|b| {
                b.has_column("rlnMicrographName") && b.has_column("rlnMicrographCoordinates")
            })
        })
        .ok_or_else(|| {
            CoordsError::msg(
                "no loop with `_rlnMicrographName` and `_rlnMicrographCoordinates` \
                 (give the coordinate_files.star of a RELION picking job)",
            )
        })?;
    (0..block.len())
        .map(|r| {
            Ok(CoordinateFileEntry {
                micrograph: block.get("rlnMicrographName", r)?.to_string(),
                coordinates: block.get("rlnMicrographCoordinates", r)?.to_string(),
            })
        })
        .collect()
}

/// Reads a RELION coordinate index file (see [`parse_relion_index`]).
///
/// # Errors
/// As [`parse_relion_index`], with the file named.
pub fn read_relion_index(path: &Path) -> Result<Vec<CoordinateFileEntry>, IoError> {
    read_parsed(path, parse_relion_index)
}

/// Reads the picks of a RELION project through its coordinate index (`manualpick.star` or
/// `autopick.star` of RELION ≥ 3.2): every `_rlnMicrographCoordinates` file, resolved against
/// `project_dir` (the folder RELION runs in, where the paths are relative to), read with
/// [`read_relion`]; each group is named after the index's `_rlnMicrographName`. A listed
/// file that does not exist is an error (RELION lists only files it wrote).
///
/// # Errors
/// The index's or any coordinate file's, naming that file.
pub fn read_relion_project(
    index: &Path,
    project_dir: &Path,
) -> Result<Vec<MicrographPicks>, IoError> {
    let mut out = Vec::new();
    for entry in read_relion_index(index)? {
        let path = project_dir.join(&entry.coordinates);
        let picks = read_relion(&path)?
            .into_iter()
            .flat_map(|g| g.picks)
            .collect();
        out.push(MicrographPicks {
            micrograph: entry.micrograph,
            picks,
        });
    }
    Ok(out)
}

/// The name RELION gives the coordinate file of a micrograph: the micrograph's file name
/// without folder and extension, `_`, `suffix`, `.star` (`Movies/mic_001.mrc`, `manualpick`
/// → `mic_001_manualpick.star`).
pub fn relion_coordinate_file_name(micrograph: &str, suffix: &str) -> String {
    let stem = Path::new(micrograph)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{stem}_{suffix}.star")
}

/// The text of a RELION coordinate index (`manualpick.star` / `autopick.star` as RELION ≥ 3.2
/// reads them): `data_coordinate_files` with `_rlnMicrographName #1` and
/// `_rlnMicrographCoordinates #2`.
///
/// # Errors
/// A path STAR cannot hold (a line break in it).
pub fn format_relion_index(entries: &[CoordinateFileEntry]) -> Result<String, CoordsError> {
    let mut table = Table::new(&["rlnMicrographName", "rlnMicrographCoordinates"]);
    for e in entries {
        table.push_row(vec![e.micrograph.clone(), e.coordinates.clone()])?;
    }
    one_block_text("coordinate_files", table)
}

/// Writes [`format_relion_index`] atomically to `path`.
///
/// # Errors
/// As [`format_relion_index`], or a failed write.
pub fn write_relion_index(path: &Path, entries: &[CoordinateFileEntry]) -> Result<(), IoError> {
    write_formatted_star(path, format_relion_index(entries))
}
