//! Particle coordinates: import and export of RELION, Topaz, EMAN, crYOLO `.cbox`, crYOLO
//! `.coords` and cryoSPARC particle `.cs` files.
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
//! | RELION 5 tomography particles | `data_particles`: `_rlnTomoName`, `_rlnCenteredCoordinate{X,Y,Z}Angst` | centre, in Å from the tomogram's centre | voxel = (Å / `_rlnTomoTiltSeriesPixelSize` + `_rlnTomoSize*` / 2) / `_rlnTomoTomogramBinning` (tomograms STAR), minus `_rlnOrigin*Angst` | the same | `_rlnAutopickFigureOfMerit` | needs the tomograms STAR |
//! | cryoSPARC `.cs` | NumPy structured array: `location/center_x_frac`, `location/center_y_frac`, `location/micrograph_shape` (ny, nx), `location/micrograph_path` | centre, as fractions of the micrograph | x = frac_x · nx, y = frac_y · ny (pyem's `csparc2star`); MRC row order like RELION, no flip | – | `pick_stats/ncc_score` | the UID prefix of cryoSPARC's paths is dropped |
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
//!
//! # Where each format lives
//! This module holds the shared [`Pick`] type, [`CoordFormat`] detection and [`read`]; each
//! format has its own file: `relion` (coordinate files, particle files, the coordinate index
//! and whole projects), `topaz` (particle lists), `eman` (`.box`, e2helixboxer) and `cryolo`
//! (`.cbox` and `.coords`). Their functions are re-exported here, so every reader and writer is
//! `crate::io::coords::…`.

mod cryolo;
mod cryosparc;
mod eman;
mod names;
mod relion;
mod relion5;
mod topaz;

pub use cryolo::{
    format_cbox, format_cryolo_coords, parse_cbox, parse_cryolo_coords, read_cbox,
    read_cryolo_coords, write_cbox, write_cryolo_coords,
};
pub use cryosparc::{read_cryosparc_particles, write_cryosparc_particles};
pub use eman::{format_eman_box, parse_eman_box, read_eman_box, write_eman_box};
pub use names::{NameRequest, OutputName, output_names};
pub use relion::{
    CoordinateFileEntry, RELION_NO_FOM, format_relion, format_relion_index,
    format_relion_particles, parse_relion, parse_relion_index, parse_relion_lenient, read_relion,
    read_relion_index, read_relion_lenient, read_relion_project, relion_coordinate_file_name,
    write_relion, write_relion_index, write_relion_particles,
};
pub use relion5::{
    TomogramGeometry, is_relion5_tomo_particles, read_relion5_particles, read_tomograms_star,
    write_relion5_particles, write_tomograms_star,
};
pub use topaz::{format_topaz, parse_topaz, read_topaz, write_topaz};

use std::collections::HashMap;
use std::path::Path;

use super::IoError;
use super::star::{self, Block};

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
    /// cryoSPARC particles `.cs`.
    Cryosparc,
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
            "cs" => CoordFormat::Cryosparc,
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
            "unknown coordinate format: expected .star, .txt, .box, .cbox, .coords or .cs",
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
        CoordFormat::Cryosparc => read_cryosparc_particles(path)?,
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

/// Reads the text file `path` and parses it with `parse`; a parse error names the file (the
/// `read_*` functions of every format).
fn read_parsed<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, CoordsError>,
) -> Result<T, IoError> {
    let text = read_text(path)?;
    on_path(path, parse(&text))
}

/// Writes formatted coordinate `text` atomically to `path`, or returns its formatting error
/// with the file named (the `write_*` functions of every format).
fn write_formatted(path: &Path, text: Result<String, CoordsError>) -> Result<(), IoError> {
    let text = on_path(path, text)?;
    star::write_text(path, &text)
}

/// [`write_formatted`] for RELION STAR text: the provenance comment lines first.
fn write_formatted_star(path: &Path, text: Result<String, CoordsError>) -> Result<(), IoError> {
    let text = on_path(path, text)?;
    star::write_star_text(path, &text)
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
            let mut fields = format!("x {}, y {}", p.x, p.y);
            for (name, v) in [("z", p.z), ("score", p.score)] {
                if let Some(v) = v {
                    fields.push_str(&format!(", {name} {v}"));
                }
            }
            if let Some((w, h)) = p.size {
                fields.push_str(&format!(", box {w}×{h}"));
            }
            return Err(CoordsError::msg(format!(
                "pick {} has a value that is not a finite number ({fields}); fix or remove it",
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
            format!(
                "{what} `{}` is not a finite number",
                crate::errors::quote(token)
            ),
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
            format!("{what} `{}` is not an integer", crate::errors::quote(token)),
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
            crate::errors::quote(&block.name),
            row + 1
        )))
    }
}

/// The box size of pick `i` (number `i + 1` in errors): its own, else `box_size` (square).
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
