//! crYOLO files: `.cbox` (STAR syntax, lower-left corners, `data_cryolo`) and plain `.coords`
//! (`x y [z [filament]]` centres).

use std::path::Path;

use super::{
    CoordsError, Pick, check_finite, finite, fmt_short, fmt6, parse_int, parse_num, read_parsed,
    size_of, write_formatted,
};
use crate::io::IoError;
use crate::io::star::{self, Block, StarFile, Table, WriteOptions};

// ---------------------------------------------------------------------------------------------
// crYOLO .cbox

/// The columns crYOLO writes in a `.cbox` (1.8+), in order.
const CBOX_COLUMNS: [&str; 11] = [
    "CoordinateX",
    "CoordinateY",
    "CoordinateZ",
    "Width",
    "Height",
    "Depth",
    "EstWidth",
    "EstHeight",
    "Confidence",
    "NumBoxes",
    "Angle",
];

/// Picks from a crYOLO `.cbox` (STAR syntax): the `data_cryolo` loop. `_CoordinateX/Y` are
/// the lower-left corner, so the centre is `X + Width/2`, `Y + Height/2`; `_CoordinateZ` is the
/// centre slice (`<NA>` for 2D); `_Confidence` the score; `_filamentid` the filament. `<NA>`
/// marks missing values. `_EstWidth/_EstHeight/_NumBoxes/_Angle/_Depth` and the
/// `data_cryolo_include` slice list are not kept. Empty text gives no picks.
///
/// # Errors
/// Bad STAR (with the line), no `data_cryolo` loop, or a missing or bad number (naming
/// column, row and line).
pub fn parse_cbox(text: &str) -> Result<Vec<Pick>, CoordsError> {
    let file = star::parse(text)?;
    if file.blocks.is_empty() {
        return Ok(Vec::new());
    }
    let block = file
        .block("cryolo")
        .filter(|b| b.table.is_some())
        .ok_or_else(|| CoordsError::msg("no `data_cryolo` loop: not a crYOLO .cbox file"))?;
    let required = |c: &str| {
        if block.has_column(c) {
            Ok(())
        } else {
            Err(CoordsError::msg(format!("`data_cryolo` has no `_{c}`")))
        }
    };
    for c in ["CoordinateX", "CoordinateY", "Width", "Height"] {
        required(c)?;
    }
    let (has_z, has_c, has_f) = (
        block.has_column("CoordinateZ"),
        block.has_column("Confidence"),
        block.has_column("filamentid"),
    );
    let mut picks = Vec::with_capacity(block.len());
    for r in 0..block.len() {
        let w = finite(block, "Width", r)?;
        let h = finite(block, "Height", r)?;
        let mut p = Pick::new(
            finite(block, "CoordinateX", r)? + w / 2.0,
            finite(block, "CoordinateY", r)? + h / 2.0,
        );
        p.size = Some((w, h));
        if has_z {
            p.z = block.f64_opt_finite("CoordinateZ", r)?;
        }
        if has_c {
            p.score = block.f64_opt_finite("Confidence", r)?;
        }
        if has_f && !star::is_missing(block.get("filamentid", r)?) {
            p.filament = Some(block.i64("filamentid", r)?);
        }
        picks.push(p);
    }
    Ok(picks)
}

/// Reads a crYOLO `.cbox` file (see [`parse_cbox`]).
///
/// # Errors
/// As [`parse_cbox`], with the file named.
pub fn read_cbox(path: &Path) -> Result<Vec<Pick>, IoError> {
    read_parsed(path, parse_cbox)
}

/// crYOLO `.cbox` text as crYOLO 1.8+ writes it: `data_global` (`_cbox_format_version 1.0`),
/// `data_cryolo` with the 11 standard columns (plus `_filamentid` when any pick has one) and an
/// empty `data_cryolo_include` loop. X/Y are the lower-left corner (centre − size/2); the size
/// is the pick's, else `box_size`; Depth is the width for 3D picks; missing values are `<NA>`.
///
/// # Errors
/// A pick without size when `box_size` is `None`, or a non-finite value.
pub fn format_cbox(picks: &[Pick], box_size: Option<f64>) -> Result<String, CoordsError> {
    check_finite(picks)?;
    let na = || "<NA>".to_string();
    let has_f = picks.iter().any(|p| p.filament.is_some());
    let mut cols: Vec<&str> = CBOX_COLUMNS.to_vec();
    if has_f {
        cols.push("filamentid");
    }
    let mut table = Table::new(&cols);
    for (i, p) in picks.iter().enumerate() {
        let (w, h) = size_of(p, i, box_size)?;
        let mut row = vec![
            fmt_short(p.x - w / 2.0),
            fmt_short(p.y - h / 2.0),
            p.z.map_or_else(na, fmt_short),
            fmt_short(w),
            fmt_short(h),
            if p.z.is_some() { fmt_short(w) } else { na() },
            na(),
            na(),
            p.score.map_or_else(na, fmt_short),
            na(),
            na(),
        ];
        if has_f {
            row.push(p.filament.map_or_else(na, |f| f.to_string()));
        }
        table.push_row(row)?;
    }
    let global = Block {
        name: "global".to_string(),
        pairs: vec![("cbox_format_version".to_string(), "1.0".to_string())],
        table: None,
    };
    let file = StarFile {
        blocks: vec![
            global,
            Block::with_table("cryolo", table),
            Block::with_table("cryolo_include", Table::new(&["slice_index"])),
        ],
    };
    Ok(star::to_string(&file, &WriteOptions::default())?)
}

/// Writes [`format_cbox`] atomically to `path`.
///
/// # Errors
/// As [`format_cbox`], or a failed write.
pub fn write_cbox(path: &Path, picks: &[Pick], box_size: Option<f64>) -> Result<(), IoError> {
    write_formatted(path, format_cbox(picks, box_size))
}

// ---------------------------------------------------------------------------------------------
// crYOLO .coords

/// Picks from a crYOLO `.coords` file: white space separated `x y`, `x y z` or
/// `x y z filament` centres per line; blank lines and `#` lines are skipped.
///
/// # Errors
/// A line with 1 or more than 4 values, or a bad number (with the line).
pub fn parse_cryolo_coords(text: &str) -> Result<Vec<Pick>, CoordsError> {
    let mut picks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        if !(2..=4).contains(&f.len()) {
            return Err(CoordsError::at(
                n,
                format!("{} values; a .coords line is `x y [z [filament]]`", f.len()),
            ));
        }
        let mut p = Pick::new(parse_num(f[0], n, "x")?, parse_num(f[1], n, "y")?);
        if f.len() >= 3 {
            p.z = Some(parse_num(f[2], n, "z")?);
        }
        if f.len() == 4 {
            p.filament = Some(parse_int(f[3], n, "filament id")?);
        }
        picks.push(p);
    }
    Ok(picks)
}

/// Reads a crYOLO `.coords` file (see [`parse_cryolo_coords`]).
///
/// # Errors
/// As [`parse_cryolo_coords`], with the file named.
pub fn read_cryolo_coords(path: &Path) -> Result<Vec<Pick>, IoError> {
    read_parsed(path, parse_cryolo_coords)
}

/// crYOLO `.coords` text: `x y` per pick, plus `z` when the picks have z, plus the filament id
/// when they have one; numbers as `%.6f` unless that would lose precision, space-separated.
///
/// # Errors
/// A non-finite value, z or filament on some picks only, or a filament without z.
pub fn format_cryolo_coords(picks: &[Pick]) -> Result<String, CoordsError> {
    check_finite(picks)?;
    let has_z = picks.first().is_some_and(|p| p.z.is_some());
    let has_f = picks.first().is_some_and(|p| p.filament.is_some());
    if has_f && !has_z {
        return Err(CoordsError::msg(
            "a .coords file holds a filament id only after z",
        ));
    }
    let mut out = String::new();
    for (i, p) in picks.iter().enumerate() {
        if p.z.is_some() != has_z || p.filament.is_some() != has_f {
            return Err(CoordsError::msg(format!(
                "pick {} differs from the first in having z or a filament id",
                i + 1
            )));
        }
        out.push_str(&fmt6(p.x));
        out.push(' ');
        out.push_str(&fmt6(p.y));
        if let Some(z) = p.z {
            out.push(' ');
            out.push_str(&fmt6(z));
        }
        if let Some(f) = p.filament {
            out.push(' ');
            out.push_str(&f.to_string());
        }
        out.push('\n');
    }
    Ok(out)
}

/// Writes [`format_cryolo_coords`] atomically to `path`.
///
/// # Errors
/// As [`format_cryolo_coords`], or a failed write.
pub fn write_cryolo_coords(path: &Path, picks: &[Pick]) -> Result<(), IoError> {
    write_formatted(path, format_cryolo_coords(picks))
}
