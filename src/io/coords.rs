//! Particle coordinates: import and export of RELION, Topaz, EMAN, crYOLO `.cbox` and crYOLO
//! `.coords` files.
//!
//! Every format is read into [`Pick`]s: the particle **centre** in pixels of the micrograph
//! the coordinates were made on, `x` = column, `y` = row, counted in the file's storage order
//! (the order [`crate::io::read`] returns: `image[y][x]`, numpy `array[y, x]`, MRC as stored).
//! Numbers are taken as written: no half-pixel shift and no 1-based offset is applied by any
//! reader or writer (RELION, Topaz, crYOLO and EMAN all count from 0 in this sense, and the
//! usual converters between them — crYOLO, Topaz `convert`, pyem — add none). Box formats are
//! converted between corner and centre as the table says. Nothing is scaled or flipped
//! implicitly: use [`Pick::scale`] / [`MicrographPicks::scale`] and [`Pick::flip_y`] /
//! [`MicrographPicks::flip_y`] explicitly.
//!
//! # Conventions
//!
//! | format | file | what x, y mean in the file | to our centre | z | score | other |
//! |---|---|---|---|---|---|---|
//! | RELION coordinates | `<mic>_<suffix>.star`, loop `_rlnCoordinateX/Y` (`data_` or `data_particles`; 3.0 and 3.1+ with `data_optics`) | centre | as is | `_rlnCoordinateZ` (tomograms) | `_rlnAutopickFigureOfMerit` (`-999` and `<NA>` = none) | `_rlnMicrographName` per row groups picks by micrograph |
//! | RELION index | `manualpick.star`, `data_coordinate_files`: `_rlnMicrographName`, `_rlnMicrographCoordinates` (RELION ≥ 3.2) | – | – | – | – | paths, relative to the project folder |
//! | Topaz | `particles.txt`: header `image_name x_coord y_coord [score]`, tab-separated | centre | as is | – | `score` | `image_name` (no extension) groups picks |
//! | EMAN `.box` | `x y w h` per line, tab- or space-separated | lower-left corner (smallest x and row) | `x + w/2`, `y + h/2` | – | – | `#helix:`/`#segment width:` files of e2helixboxer hold 2-column segment **centres**, one filament per `#helix` |
//! | crYOLO `.cbox` | STAR, `data_cryolo` loop `_CoordinateX/Y/Z _Width _Height _Depth _EstWidth _EstHeight _Confidence _NumBoxes _Angle [_filamentid]`, `<NA>` = missing | lower-left corner, like EMAN (crYOLO's `box.x, box.y`) | `X + Width/2`, `Y + Height/2` | `_CoordinateZ` is the centre slice, as is | `_Confidence` | `_filamentid` |
//! | crYOLO `.coords` | `x y [z [filament]]`, white space separated | centre | as is | 3rd column | – | 4th column: filament id |
//!
//! Units are pixels everywhere. Sizes ([`Pick::size`]) are box width and height in pixels.
//! RELION's `_rlnHelicalTubeID` is read as [`Pick::filament`]; `_rlnParticleSelectionType`,
//! `_rlnClassNumber`, `_rlnAnglePsi` and origins are read past (not kept, not applied).
//!
//! # Strict and lenient reading
//! Every reader is strict: a row with the wrong number of values or a value that is not a
//! number is an error naming the file and line. [`read_relion_lenient`] additionally accepts
//! STAR rows with missing trailing values (one real crYOLO example file has them) and turns a
//! bad optional value into a warning; coordinates must still be numbers.
//!
//! # Binning
//! Coordinates are in the pixels of the image they were picked on: picks made on a micrograph
//! binned by 4 must be multiplied by 4 for the full-size micrograph ([`Pick::scale`]`(4.0)`),
//! and picks for the full-size micrograph divided by 4 to show on the binned one
//! ([`Pick::scale`]`(0.25)`). Scaling multiplies x, y, z and the box size; it is exact about
//! the origin (pixel 0 maps to pixel 0), as in RELION and crYOLO.
//!
//! # TIFF and y
//! The same micrograph as TIFF and as MRC is usually stored with its rows in opposite orders:
//! TIFF's first row is the top of the picture, MRC's first row is the bottom (IMOD's
//! `tif2mrc`, RELION's and EMAN's readers flip when converting). Tools that pick on TIFF (or
//! PNG/JPEG) images — crYOLO on `.tif` input, Topaz on `.tif`/`.png`, napari-boxmanager — write
//! coordinates in the TIFF's row order, while RELION, cryoSPARC and EMAN work in MRC row
//! order. Coordinates made on a TIFF must therefore go through [`Pick::flip_y`]`(height)` before
//! being used with the MRC of the same micrograph (and back). Within one file nothing needs
//! flipping: our readers return every format in storage order. [`Pick::flip_y`] maps row `y`
//! to `height − 1 − y` (pixel centres at integers, so row 0 and row `height − 1` swap); it is
//! its own inverse. (Topaz's `convert --invert-y` uses `height − y`, one pixel different.)

use std::collections::HashMap;
use std::path::Path;

use super::IoError;
use super::star::{self, Block, StarFile, Table, WriteOptions};

/// One particle pick. Coordinates are the particle centre in pixels, `x` = column, `y` = row,
/// in the storage order of the micrograph it was picked on (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pick {
    /// Centre column, pixels.
    pub x: f64,
    /// Centre row, pixels.
    pub y: f64,
    /// Centre section (slice) for tomograms, pixels; `None` for 2D picks.
    pub z: Option<f64>,
    /// Picker score (RELION figure of merit, Topaz score, crYOLO confidence).
    pub score: Option<f64>,
    /// Box width and height, pixels, when the format gives them (EMAN, crYOLO).
    pub size: Option<(f64, f64)>,
    /// Filament (helical tube) the pick belongs to, for filament picks.
    pub filament: Option<i64>,
}

impl Pick {
    /// A 2D pick at centre (`x`, `y`) pixels, with nothing else.
    pub fn new(x: f64, y: f64) -> Self {
        Pick {
            x,
            y,
            ..Pick::default()
        }
    }

    /// The pick scaled by `factor` about the origin: x, y, z and the box size are multiplied.
    /// Use `factor` = binning to go from binned to full-size pixels, `1/binning` for the other
    /// way.
    pub fn scale(self, factor: f64) -> Self {
        Pick {
            x: self.x * factor,
            y: self.y * factor,
            z: self.z.map(|z| z * factor),
            size: self.size.map(|(w, h)| (w * factor, h * factor)),
            ..self
        }
    }

    /// The pick mirrored top to bottom in a micrograph of `height` rows: `y → height − 1 − y`.
    /// Needed between TIFF-based and MRC-based coordinates of the same micrograph (see the
    /// module documentation); its own inverse.
    pub fn flip_y(self, height: usize) -> Self {
        Pick {
            y: (height as f64 - 1.0) - self.y,
            ..self
        }
    }
}

/// The picks of one micrograph.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MicrographPicks {
    /// The micrograph as the file names it (RELION `_rlnMicrographName`, Topaz `image_name`),
    /// or, for per-micrograph files, the coordinate file's name without extension and without
    /// a trailing `_autopick` / `_manualpick`.
    pub micrograph: String,
    /// The picks, in file order.
    pub picks: Vec<Pick>,
}

impl MicrographPicks {
    /// Every pick scaled by `factor` (see [`Pick::scale`]).
    pub fn scale(&mut self, factor: f64) {
        for p in &mut self.picks {
            *p = p.scale(factor);
        }
    }

    /// Every pick mirrored in a micrograph of `height` rows (see [`Pick::flip_y`]).
    pub fn flip_y(&mut self, height: usize) {
        for p in &mut self.picks {
            *p = p.flip_y(height);
        }
    }
}

/// An error in coordinate text: the line (from 1) when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", .line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct CoordsError {
    /// The line, counted from 1, when the error is tied to one.
    pub line: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl CoordsError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        CoordsError {
            line: Some(line),
            message: message.into(),
        }
    }

    fn msg(message: impl Into<String>) -> Self {
        CoordsError {
            line: None,
            message: message.into(),
        }
    }
}

impl From<star::StarError> for CoordsError {
    fn from(e: star::StarError) -> Self {
        match e {
            star::StarError::Syntax { line, message } => CoordsError::at(line, message),
            other => CoordsError::msg(other.to_string()),
        }
    }
}

/// The coordinate file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoordFormat {
    /// RELION coordinate or particle STAR file (`.star`).
    Relion,
    /// Topaz particle list (`.txt`).
    Topaz,
    /// EMAN box file (`.box`).
    EmanBox,
    /// crYOLO box file in STAR syntax (`.cbox`).
    Cbox,
    /// crYOLO plain coordinates (`.coords`).
    CryoloCoords,
}

impl CoordFormat {
    /// The format of a file from its extension (`.star .txt .box .cbox .coords`, any case).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "star" => CoordFormat::Relion,
            "txt" => CoordFormat::Topaz,
            "box" => CoordFormat::EmanBox,
            "cbox" => CoordFormat::Cbox,
            "coords" => CoordFormat::CryoloCoords,
            _ => return None,
        })
    }
}

/// Reads any coordinate file, the format told by [`CoordFormat::from_path`].
///
/// Per-micrograph formats give one [`MicrographPicks`] named after the file (see
/// [`MicrographPicks::micrograph`]); RELION particle files and Topaz lists give one per
/// micrograph, in order of first appearance.
///
/// # Errors
/// [`IoError::Invalid`] for an unknown extension or bad content (with the line), or
/// [`IoError::Os`].
pub fn read(path: &Path) -> Result<Vec<MicrographPicks>, IoError> {
    let format = CoordFormat::from_path(path).ok_or_else(|| {
        IoError::invalid(
            path,
            "unknown coordinate format: expected .star, .txt, .box, .cbox or .coords",
        )
    })?;
    let single = |picks: Vec<Pick>| {
        vec![MicrographPicks {
            micrograph: micrograph_from_path(path),
            picks,
        }]
    };
    Ok(match format {
        CoordFormat::Relion => read_relion(path)?,
        CoordFormat::Topaz => read_topaz(path)?,
        CoordFormat::EmanBox => single(read_eman_box(path)?),
        CoordFormat::Cbox => single(read_cbox(path)?),
        CoordFormat::CryoloCoords => single(read_cryolo_coords(path)?),
    })
}

/// The micrograph name a per-micrograph coordinate file stands for: its file name without
/// extension and without a trailing `_autopick` or `_manualpick`.
pub fn micrograph_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    for suffix in ["_autopick", "_manualpick"] {
        if let Some(s) = stem.strip_suffix(suffix)
            && !s.is_empty()
        {
            return s.to_string();
        }
    }
    stem
}

fn read_text(path: &Path) -> Result<String, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    String::from_utf8(bytes).map_err(|e| IoError::invalid(path, format!("not UTF-8 text: {e}")))
}

fn on_path<T>(path: &Path, r: Result<T, CoordsError>) -> Result<T, IoError> {
    r.map_err(|e| IoError::invalid(path, e.to_string()))
}

/// A number as RELION writes it (`%.6f`) when that reads back as the same `f64`, else the
/// shortest text that does, so that export never loses precision.
fn fmt6(v: f64) -> String {
    let s = format!("{v:.6}");
    if s.parse::<f64>().ok() == Some(v) {
        s
    } else {
        format!("{v}")
    }
}

/// The shortest text that reads back as the same `f64` (`6924`, `0.25`, `33.5926053042125`).
fn fmt_short(v: f64) -> String {
    format!("{v}")
}

/// Checks that every value a writer will write is finite.
fn check_finite(picks: &[Pick]) -> Result<(), CoordsError> {
    for (i, p) in picks.iter().enumerate() {
        let mut vals = vec![p.x, p.y];
        vals.extend(p.z);
        vals.extend(p.score);
        if let Some((w, h)) = p.size {
            vals.extend([w, h]);
        }
        if vals.iter().any(|v| !v.is_finite()) {
            return Err(CoordsError::msg(format!(
                "pick {} has a value that is not a finite number: {p:?}",
                i + 1
            )));
        }
    }
    Ok(())
}

fn parse_num(token: &str, line: usize, what: &str) -> Result<f64, CoordsError> {
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(CoordsError::at(
            line,
            format!("{what} `{token}` is not a finite number"),
        )),
    }
}

fn parse_int(token: &str, line: usize, what: &str) -> Result<i64, CoordsError> {
    let v = parse_num(token, line, what)?;
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Ok(v as i64)
    } else {
        Err(CoordsError::at(
            line,
            format!("{what} `{token}` is not an integer"),
        ))
    }
}

/// Groups (micrograph, pick) pairs by micrograph, in order of first appearance.
fn group(items: Vec<(String, Pick)>) -> Vec<MicrographPicks> {
    let mut out: Vec<MicrographPicks> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (mic, pick) in items {
        let i = *index.entry(mic.clone()).or_insert_with(|| {
            out.push(MicrographPicks {
                micrograph: mic,
                picks: Vec::new(),
            });
            out.len() - 1
        });
        out[i].picks.push(pick);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// RELION

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
            .map(|b| format!("data_{}", b.name))
            .collect();
        return Err(CoordsError::msg(format!(
            "no loop with `_rlnCoordinateX` and `_rlnCoordinateY` (blocks: {})",
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
            let v = block.f64_opt("rlnAutopickFigureOfMerit", r);
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

/// A finite number from a column, or an error naming block, column, row and line.
fn finite(block: &Block, label: &str, row: usize) -> Result<f64, CoordsError> {
    let v = block.f64(label, row)?;
    if v.is_finite() {
        Ok(v)
    } else {
        let line = block
            .table
            .as_ref()
            .and_then(|t| t.line_of_row(row))
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        Err(CoordsError::msg(format!(
            "block `data_{}`, column `_{label}`, row {}{line}: `{v}` is not a finite number",
            block.name,
            row + 1
        )))
    }
}

/// Reads a RELION coordinate file (per micrograph, RELION 3.0–5, autopick or manual) or a
/// particle STAR file (grouped by `_rlnMicrographName`). See [`parse_relion`]; the micrograph
/// name of a per-micrograph file comes from [`micrograph_from_path`].
///
/// # Errors
/// As [`parse_relion`], with the file named.
pub fn read_relion(path: &Path) -> Result<Vec<MicrographPicks>, IoError> {
    let text = read_text(path)?;
    on_path(path, parse_relion(&text, &micrograph_from_path(path)))
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
    let file = StarFile {
        blocks: vec![Block::with_table("", relion_table(picks, None)?)],
    };
    Ok(star::to_string(&file, &WriteOptions::relion())?)
}

/// Writes [`format_relion`] atomically to `path`.
///
/// # Errors
/// As [`format_relion`], or a failed write.
pub fn write_relion(path: &Path, picks: &[Pick]) -> Result<(), IoError> {
    let text = on_path(path, format_relion(picks))?;
    star::write_text(path, &text)
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
    let file = StarFile {
        blocks: vec![Block::with_table("particles", table)],
    };
    Ok(star::to_string(&file, &WriteOptions::relion())?)
}

/// Writes [`format_relion_particles`] atomically to `path`.
///
/// # Errors
/// As [`format_relion_particles`], or a failed write.
pub fn write_relion_particles(path: &Path, groups: &[MicrographPicks]) -> Result<(), IoError> {
    let text = on_path(path, format_relion_particles(groups))?;
    star::write_text(path, &text)
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
            CoordsError::msg("no loop with `_rlnMicrographName` and `_rlnMicrographCoordinates`")
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
    let text = read_text(path)?;
    on_path(path, parse_relion_index(&text))
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
    let file = StarFile {
        blocks: vec![Block::with_table("coordinate_files", table)],
    };
    Ok(star::to_string(&file, &WriteOptions::relion())?)
}

/// Writes [`format_relion_index`] atomically to `path`.
///
/// # Errors
/// As [`format_relion_index`], or a failed write.
pub fn write_relion_index(path: &Path, entries: &[CoordinateFileEntry]) -> Result<(), IoError> {
    let text = on_path(path, format_relion_index(entries))?;
    star::write_text(path, &text)
}

// ---------------------------------------------------------------------------------------------
// Topaz

/// Picks from a Topaz particle list: a header line naming `image_name`, `x_coord`, `y_coord`
/// and optionally `score` (any order), then one pick per line, tab-separated (white space when
/// the header has no tab). Grouped by `image_name` in order of first appearance. Empty text
/// gives no picks; a score of `nan` is none.
///
/// # Errors
/// A missing header column, a row with the wrong number of fields or a bad number (with the
/// line).
pub fn parse_topaz(text: &str) -> Result<Vec<MicrographPicks>, CoordsError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let tabbed = header.contains('\t');
    let split = |l: &str| -> Vec<String> {
        if tabbed {
            l.trim_end_matches(['\r', '\n'])
                .split('\t')
                .map(|s| s.trim().to_string())
                .collect()
        } else {
            l.split_whitespace().map(str::to_string).collect()
        }
    };
    let names = split(header);
    let col = |n: &str| names.iter().position(|h| h == n);
    let (Some(ci), Some(cx), Some(cy)) = (col("image_name"), col("x_coord"), col("y_coord")) else {
        return Err(CoordsError::at(
            hline,
            format!(
                "Topaz header must name image_name, x_coord and y_coord; found `{}`",
                header.trim()
            ),
        ));
    };
    let cs = col("score");
    let mut items = Vec::new();
    for (n, line) in lines {
        let f = split(line);
        if f.len() != names.len() {
            return Err(CoordsError::at(
                n,
                format!("{} fields where the header has {}", f.len(), names.len()),
            ));
        }
        let mut p = Pick::new(
            parse_num(&f[cx], n, "x_coord")?,
            parse_num(&f[cy], n, "y_coord")?,
        );
        if let Some(cs) = cs
            && !f[cs].eq_ignore_ascii_case("nan")
        {
            p.score = Some(parse_num(&f[cs], n, "score")?);
        }
        items.push((f[ci].clone(), p));
    }
    Ok(group(items))
}

/// Reads a Topaz particle list (see [`parse_topaz`]).
///
/// # Errors
/// As [`parse_topaz`], with the file named.
pub fn read_topaz(path: &Path) -> Result<Vec<MicrographPicks>, IoError> {
    let text = read_text(path)?;
    on_path(path, parse_topaz(&text))
}

/// Topaz particle list text: `image_name\tx_coord\ty_coord` plus `\tscore` when any pick has a
/// score (`nan` for those without), then one line per pick, numbers in their shortest exact
/// form (`6924`, `12.5`).
///
/// # Errors
/// A non-finite value, or a micrograph name with a tab or line break.
pub fn format_topaz(groups: &[MicrographPicks]) -> Result<String, CoordsError> {
    let has_score = groups
        .iter()
        .flat_map(|g| &g.picks)
        .any(|p| p.score.is_some());
    let mut out = String::from("image_name\tx_coord\ty_coord");
    if has_score {
        out.push_str("\tscore");
    }
    out.push('\n');
    for g in groups {
        check_finite(&g.picks)?;
        if g.micrograph.contains(['\t', '\n', '\r']) {
            return Err(CoordsError::msg(format!(
                "micrograph name {:?} holds a tab or line break",
                g.micrograph
            )));
        }
        for p in &g.picks {
            out.push_str(&g.micrograph);
            out.push('\t');
            out.push_str(&fmt_short(p.x));
            out.push('\t');
            out.push_str(&fmt_short(p.y));
            if has_score {
                out.push('\t');
                out.push_str(&p.score.map_or_else(|| "nan".to_string(), fmt_short));
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// Writes [`format_topaz`] atomically to `path`.
///
/// # Errors
/// As [`format_topaz`], or a failed write.
pub fn write_topaz(path: &Path, groups: &[MicrographPicks]) -> Result<(), IoError> {
    let text = on_path(path, format_topaz(groups))?;
    star::write_text(path, &text)
}

// ---------------------------------------------------------------------------------------------
// EMAN .box

/// Picks from an EMAN `.box` file. Lines of 4 or more numbers are `x y w h [flag]` with (x, y)
/// the lower-left corner: the centre is `(x + w/2, y + h/2)` and the size `(w, h)`. Lines of 2
/// numbers are e2helixboxer segment centres: the size is the `#segment width:` header's, the
/// filament the number of `#helix:` lines seen before, minus one. Other `#` lines are comments.
///
/// # Errors
/// A line with 1 or 3 values, or a value that is not a number (with the line).
pub fn parse_eman_box(text: &str) -> Result<Vec<Pick>, CoordsError> {
    let mut picks = Vec::new();
    let mut segment_width: Option<f64> = None;
    let mut helix: Option<i64> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            if let Some(w) = c.strip_prefix("segment width:") {
                segment_width = Some(parse_num(w.trim(), n, "segment width")?);
            } else if c.starts_with("helix:") {
                helix = Some(helix.map_or(0, |h| h + 1));
            }
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        match f.len() {
            2 => {
                let mut p = Pick::new(parse_num(f[0], n, "x")?, parse_num(f[1], n, "y")?);
                p.size = segment_width.map(|w| (w, w));
                p.filament = helix;
                picks.push(p);
            }
            k if k >= 4 => {
                let x = parse_num(f[0], n, "x")?;
                let y = parse_num(f[1], n, "y")?;
                let w = parse_num(f[2], n, "width")?;
                let h = parse_num(f[3], n, "height")?;
                let mut p = Pick::new(x + w / 2.0, y + h / 2.0);
                p.size = Some((w, h));
                picks.push(p);
            }
            k => {
                return Err(CoordsError::at(
                    n,
                    format!(
                        "{k} values; an EMAN box line is `x y width height` (or `x y` in e2helixboxer files)"
                    ),
                ));
            }
        }
    }
    Ok(picks)
}

/// Reads an EMAN `.box` file (see [`parse_eman_box`]).
///
/// # Errors
/// As [`parse_eman_box`], with the file named.
pub fn read_eman_box(path: &Path) -> Result<Vec<Pick>, IoError> {
    let text = read_text(path)?;
    on_path(path, parse_eman_box(&text))
}

/// EMAN `.box` text: one `x\ty\tw\th` line per pick, (x, y) the lower-left corner
/// `(centre − size/2)`, numbers in their shortest exact form. The size is the pick's, else
/// `box_size` (square).
///
/// # Errors
/// A pick without size when `box_size` is `None`, or a non-finite value.
pub fn format_eman_box(picks: &[Pick], box_size: Option<f64>) -> Result<String, CoordsError> {
    check_finite(picks)?;
    let mut out = String::new();
    for (i, p) in picks.iter().enumerate() {
        let (w, h) = size_of(p, i, box_size)?;
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            fmt_short(p.x - w / 2.0),
            fmt_short(p.y - h / 2.0),
            fmt_short(w),
            fmt_short(h)
        ));
    }
    Ok(out)
}

fn size_of(p: &Pick, i: usize, box_size: Option<f64>) -> Result<(f64, f64), CoordsError> {
    match p.size.or(box_size.map(|b| (b, b))) {
        Some((w, h)) if w.is_finite() && h.is_finite() => Ok((w, h)),
        Some(_) => Err(CoordsError::msg("box size is not a finite number")),
        None => Err(CoordsError::msg(format!(
            "pick {} has no box size and none was given",
            i + 1
        ))),
    }
}

/// Writes [`format_eman_box`] atomically to `path`.
///
/// # Errors
/// As [`format_eman_box`], or a failed write.
pub fn write_eman_box(path: &Path, picks: &[Pick], box_size: Option<f64>) -> Result<(), IoError> {
    let text = on_path(path, format_eman_box(picks, box_size))?;
    star::write_text(path, &text)
}

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
            p.z = block.f64_opt("CoordinateZ", r)?;
        }
        if has_c {
            p.score = block.f64_opt("Confidence", r)?;
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
    let text = read_text(path)?;
    on_path(path, parse_cbox(&text))
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
    let text = on_path(path, format_cbox(picks, box_size))?;
    star::write_text(path, &text)
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
    let text = read_text(path)?;
    on_path(path, parse_cryolo_coords(&text))
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
    let text = on_path(path, format_cryolo_coords(picks))?;
    star::write_text(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_flip() {
        let p = Pick {
            z: Some(3.0),
            size: Some((10.0, 12.0)),
            ..Pick::new(1.5, 2.0)
        };
        let s = p.scale(4.0);
        assert_eq!(
            (s.x, s.y, s.z, s.size),
            (6.0, 8.0, Some(12.0), Some((40.0, 48.0)))
        );
        assert_eq!(p.flip_y(100).y, 97.0);
        assert_eq!(p.flip_y(100).flip_y(100), p);
    }

    #[test]
    fn micrograph_names() {
        assert_eq!(
            micrograph_from_path(Path::new("a/mic_001_autopick.star")),
            "mic_001"
        );
        assert_eq!(micrograph_from_path(Path::new("mic.box")), "mic");
        assert_eq!(
            micrograph_from_path(Path::new("_manualpick.star")),
            "_manualpick"
        );
    }
}
