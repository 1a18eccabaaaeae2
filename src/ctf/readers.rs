//! Reading CTF parameters per micrograph: RELION STAR files (3.0 rows, 3.1+ optics groups,
//! particle tables) and CTFFIND4 output text, each into [`MicrographCtf`]s, and finding the
//! entry of a micrograph file among them ([`find_micrograph_ctf`]).

use std::path::{Path, PathBuf};

use super::{Ctf, CtfError};
use crate::io::star::{self, Block, StarFile};

/// CTF parameters of one micrograph read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct MicrographCtf {
    /// `_rlnMicrographName` (STAR), or the input file named in a CTFFIND header, with
    /// `#index` appended for the rows of a multi-micrograph CTFFIND file.
    pub micrograph_name: String,
    /// The parameters.
    pub ctf: Ctf,
    /// Pixel size of the micrograph in Å/px when the file gives it (`_rlnMicrographPixelSize`
    /// of the optics group; RELION 3.0: `_rlnDetectorPixelSize` (µm) · 10⁴ /
    /// `_rlnMagnification`; CTFFIND: the header's pixel size).
    pub pixel_size_angstrom: Option<f64>,
    /// The resolution up to which the CTF fit is good, Å, when the file gives it
    /// (`_rlnCtfMaxResolution`; CTFFIND's 7th column, the spacing up to which rings were fit).
    pub fit_resolution_angstrom: Option<f64>,
    /// CTFFIND5's estimated specimen tilt: (tilt axis angle, tilt angle), degrees (its 8th
    /// and 9th columns); `None` from other sources or when not estimated.
    pub tilt_degrees: Option<(f64, f64)>,
    /// CTFFIND5's estimated sample (ice) thickness, Å (its 10th column); `None` from other
    /// sources or when not estimated (0).
    pub sample_thickness_angstrom: Option<f64>,
}

const HINT_OPTICS: &str =
    "RELION 3.1+ keeps it in `data_optics` (joined by `_rlnOpticsGroup`), RELION 3.0 in every row";

/// Reads per-micrograph CTF parameters from a RELION STAR file (`.star`, see
/// [`parse_ctf_star`]), a cryoSPARC exposures table (`.cs`, see [`super::read_ctf_cs`]) or,
/// for any other extension, CTFFIND4 output text (see [`parse_ctffind`]).
///
/// # Errors
/// As [`read_ctf_star`] or [`read_ctffind`].
pub fn read_ctf_file(path: &Path) -> Result<Vec<MicrographCtf>, CtfError> {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("star") => read_ctf_star(path),
        Some("cs") => super::read_ctf_cs(path),
        _ => read_ctffind(path),
    }
}

/// The entry of `entries` for the micrograph file `path`, matched by name (RELION keeps
/// project-relative paths, so folders are ignored): the same file name, else the same stem
/// (`mic.mrc` and `mic.tif`), else the same micrograph base (`mic_DW`, `mic_EVN`, `mic_ODD`
/// and `mic` are one micrograph, [`crate::io::micrograph_base`]). A single entry without a
/// name (CTFFIND output whose header names no input file) matches any micrograph. `None`
/// when nothing matches.
pub fn find_micrograph_ctf<'a>(
    entries: &'a [MicrographCtf],
    path: &Path,
) -> Option<&'a MicrographCtf> {
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let stem_of = |p: &Path| p.file_stem().map(|n| n.to_string_lossy().into_owned());
    let base_of = |p: &Path| stem_of(p).map(|s| crate::io::micrograph_base(&s).to_owned());
    let file = |e: &MicrographCtf| PathBuf::from(&e.micrograph_name);
    let (name, stem, base) = (name_of(path)?, stem_of(path)?, base_of(path)?);
    entries
        .iter()
        .find(|e| name_of(&file(e)).as_ref() == Some(&name))
        .or_else(|| {
            entries
                .iter()
                .find(|e| stem_of(&file(e)).as_ref() == Some(&stem))
        })
        .or_else(|| {
            entries
                .iter()
                .find(|e| base_of(&file(e)).as_ref() == Some(&base))
        })
        .or(match entries {
            [only] if only.micrograph_name.is_empty() => Some(only),
            _ => None,
        })
}

/// Reads per-micrograph CTF parameters from a RELION STAR file (see [`parse_ctf_star`]).
///
/// # Errors
/// [`CtfError::Io`] when the file cannot be read or is not STAR; otherwise as
/// [`parse_ctf_star`].
pub fn read_ctf_star(path: &Path) -> Result<Vec<MicrographCtf>, CtfError> {
    let file = star::read(path)?;
    ctf_from_star(&file)
}

/// Parses per-micrograph CTF parameters from RELION STAR text.
///
/// Accepted layouts:
/// - RELION 3.1+ `micrographs_ctf.star`: `data_optics` with `_rlnOpticsGroup`, `_rlnVoltage`,
///   `_rlnSphericalAberration`, `_rlnAmplitudeContrast` and optionally
///   `_rlnMicrographPixelSize`; `data_micrographs` with `_rlnMicrographName`,
///   `_rlnDefocusU`, `_rlnDefocusV`, `_rlnDefocusAngle`, optionally `_rlnPhaseShift`
///   (degrees, 0 when absent) and `_rlnOpticsGroup` (1 when absent).
/// - RELION 3.0 (no optics block): one table (`data_`, `data_images`, …) whose rows carry
///   voltage, Cs and amplitude contrast themselves, and the pixel size as
///   `_rlnDetectorPixelSize` (µm) and `_rlnMagnification`, or `_rlnMicrographPixelSize`.
/// - A particles table (`data_particles`) works too: one entry per distinct micrograph name
///   (its first row).
///
/// Per-row columns override optics-group values when both exist.
///
/// # Errors
/// [`CtfError::Star`] for malformed STAR or non-numeric values (with block, column, row and
/// line), [`CtfError::NoCtfTable`] when no block has `_rlnDefocusU` and `_rlnMicrographName`,
/// [`CtfError::MissingColumn`] naming a needed column that is absent,
/// [`CtfError::UnknownOpticsGroup`], [`CtfError::InvalidParameter`] for values out of range.
pub fn parse_ctf_star(text: &str) -> Result<Vec<MicrographCtf>, CtfError> {
    ctf_from_star(&star::parse(text)?)
}

/// Optics-group values: voltage, Cs, amplitude contrast, pixel size.
#[derive(Clone, Copy, Default)]
struct Optics {
    voltage: Option<f64>,
    cs: Option<f64>,
    ac: Option<f64>,
    pixel: Option<f64>,
}

fn opt_col(block: &Block, label: &str, row: usize) -> Result<Option<f64>, CtfError> {
    if block.has_column(label) {
        Ok(block.f64_opt(label, row)?)
    } else {
        Ok(None)
    }
}

fn ctf_from_star(file: &StarFile) -> Result<Vec<MicrographCtf>, CtfError> {
    let table = file
        .blocks
        .iter()
        .filter(|b| b.name != "optics")
        .find(|b| b.has_column("rlnDefocusU") && b.has_column("rlnMicrographName"))
        .ok_or_else(|| {
            CtfError::NoCtfTable(
                file.blocks
                    .iter()
                    .map(|b| format!("data_{}", b.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let missing = |column: &str, hint: &'static str| CtfError::MissingColumn {
        block: table.name.clone(),
        column: column.to_string(),
        hint,
    };
    for col in ["rlnDefocusV", "rlnDefocusAngle"] {
        if !table.has_column(col) {
            return Err(missing(col, "every CTF table has defocus U, V and angle"));
        }
    }
    // Optics groups (RELION 3.1+).
    let mut groups: Vec<(i64, Optics)> = Vec::new();
    if let Some(optics) = file.block("optics") {
        for r in 0..optics.len() {
            let id = if optics.has_column("rlnOpticsGroup") {
                optics.i64("rlnOpticsGroup", r)?
            } else {
                r as i64 + 1
            };
            groups.push((
                id,
                Optics {
                    voltage: opt_col(optics, "rlnVoltage", r)?,
                    cs: opt_col(optics, "rlnSphericalAberration", r)?,
                    ac: opt_col(optics, "rlnAmplitudeContrast", r)?,
                    pixel: opt_col(optics, "rlnMicrographPixelSize", r)?,
                },
            ));
        }
    }
    let mut out: Vec<MicrographCtf> = Vec::new();
    for r in 0..table.len() {
        let name = table.get("rlnMicrographName", r)?.to_string();
        if out.iter().any(|m| m.micrograph_name == name) {
            continue;
        }
        let optics = if groups.is_empty() {
            Optics::default()
        } else {
            let g = if table.has_column("rlnOpticsGroup") {
                table.i64("rlnOpticsGroup", r)?
            } else {
                1
            };
            groups
                .iter()
                .find(|(id, _)| *id == g)
                .map(|(_, o)| *o)
                .ok_or(CtfError::UnknownOpticsGroup {
                    row: r + 1,
                    group: g,
                })?
        };
        let pick = |label: &'static str, group_value: Option<f64>| -> Result<f64, CtfError> {
            opt_col(table, label, r)?
                .or(group_value)
                .ok_or_else(|| missing(label, HINT_OPTICS))
        };
        let voltage = pick("rlnVoltage", optics.voltage)?;
        let cs = pick("rlnSphericalAberration", optics.cs)?;
        let ac = pick("rlnAmplitudeContrast", optics.ac)?;
        let pixel = match opt_col(table, "rlnMicrographPixelSize", r)?.or(optics.pixel) {
            Some(p) => Some(p),
            None => match (
                opt_col(table, "rlnDetectorPixelSize", r)?,
                opt_col(table, "rlnMagnification", r)?,
            ) {
                (Some(det_um), Some(mag)) if mag > 0.0 => Some(det_um * 1e4 / mag),
                _ => None,
            },
        };
        let ctf = Ctf {
            defocus_u_angstrom: table.f64("rlnDefocusU", r)?,
            defocus_v_angstrom: table.f64("rlnDefocusV", r)?,
            defocus_angle_degrees: table.f64("rlnDefocusAngle", r)?,
            voltage_kv: voltage,
            spherical_aberration_mm: cs,
            amplitude_contrast: ac,
            phase_shift_degrees: opt_col(table, "rlnPhaseShift", r)?.unwrap_or(0.0),
        };
        ctf.validate()?;
        out.push(MicrographCtf {
            tilt_degrees: None,
            sample_thickness_angstrom: None,
            micrograph_name: name,
            ctf,
            pixel_size_angstrom: pixel.filter(|p| p.is_finite() && *p > 0.0),
            fit_resolution_angstrom: opt_col(table, "rlnCtfMaxResolution", r)?
                .filter(|v| v.is_finite() && *v > 0.0),
        });
    }
    Ok(out)
}

/// Reads a CTFFIND4 output text file (see [`parse_ctffind`]).
///
/// # Errors
/// [`CtfError::Io`] when it cannot be read, otherwise as [`parse_ctffind`].
pub fn read_ctffind(path: &Path) -> Result<Vec<MicrographCtf>, CtfError> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::io::IoError::Os {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse_ctffind(&text)
}

/// Finds the number after `key` (case-insensitive) in a header line, e.g. `Pixel size:` in
/// `# Pixel size: 1.000 Angstroms ; acceleration voltage: 300.0 keV`.
fn header_number(header: &str, key: &str) -> Option<f64> {
    let lower = header.to_ascii_lowercase();
    let at = lower.find(&key.to_ascii_lowercase())? + key.len();
    header[at..]
        .split(|c: char| c.is_whitespace() || c == ';')
        .find(|t| !t.is_empty())
        .and_then(|t| t.parse::<f64>().ok())
}

/// Parses CTFFIND4's output text (`diagnostic_output.txt`).
///
/// Header comment lines (`#`) must give `Pixel size:` (Å), `acceleration voltage:` (keV),
/// `spherical aberration:` (mm) and `amplitude contrast:`; `Input file:` names the
/// micrograph when present. Each data line has at least 7 numbers: micrograph number,
/// defocus 1 (Å), defocus 2 (Å), azimuth of astigmatism (degrees), additional phase shift
/// (radians), cross-correlation, spacing up to which rings were fit (Å). CTFFIND5 adds the
/// estimated tilt axis angle and tilt angle (degrees) and the sample thickness (Å) as
/// columns 8–10: they are kept ([`MicrographCtf::tilt_degrees`],
/// [`MicrographCtf::sample_thickness_angstrom`]; a thickness of 0 means not estimated). Defocus 1/2 and the azimuth map to RELION's U/V/angle
/// unchanged (RELION imports CTFFIND this way); the phase shift is converted to degrees.
///
/// # Errors
/// [`CtfError::Ctffind`] naming the missing header field or the bad line,
/// [`CtfError::InvalidParameter`] for out-of-range values.
pub fn parse_ctffind(text: &str) -> Result<Vec<MicrographCtf>, CtfError> {
    let header: String = text
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let need = |key: &str| {
        header_number(&header, key).ok_or_else(|| CtfError::Ctffind {
            line: 0,
            message: format!(
                "the header has no `{key}` value (expected CTFFIND4's `# Pixel size: … ; acceleration voltage: … keV ; spherical aberration: … mm ; amplitude contrast: …` line)"
            ),
        })
    };
    let pixel = need("pixel size:")?;
    let voltage = need("acceleration voltage:")?;
    let cs = need("spherical aberration:")?;
    let ac = need("amplitude contrast:")?;
    let input = header
        .lines()
        .find_map(|l| {
            let lower = l.to_ascii_lowercase();
            let at = lower.find("input file:")? + "input file:".len();
            l[at..].split(';').next().map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let values: Result<Vec<f64>, _> = t.split_whitespace().map(str::parse::<f64>).collect();
        let values = values.map_err(|e| CtfError::Ctffind {
            line: i + 1,
            message: format!("`{t}` is not a row of numbers ({e})"),
        })?;
        if values.len() < 7 {
            return Err(CtfError::Ctffind {
                line: i + 1,
                message: format!(
                    "{} columns, expected at least 7 (number, defocus 1, defocus 2, azimuth, phase shift, cross-correlation, spacing)",
                    values.len()
                ),
            });
        }
        rows.push(values);
    }
    if rows.is_empty() {
        return Err(CtfError::Ctffind {
            line: 0,
            message: "no data lines after the header".into(),
        });
    }
    let multi = rows.len() > 1;
    rows.into_iter()
        .map(|v| {
            let ctf = Ctf {
                defocus_u_angstrom: v[1],
                defocus_v_angstrom: v[2],
                defocus_angle_degrees: v[3],
                voltage_kv: voltage,
                spherical_aberration_mm: cs,
                amplitude_contrast: ac,
                phase_shift_degrees: v[4].to_degrees(),
            };
            ctf.validate()?;
            let micrograph_name = if multi {
                format!("{input}#{}", v[0])
            } else {
                input.clone()
            };
            Ok(MicrographCtf {
                micrograph_name,
                ctf,
                pixel_size_angstrom: (pixel.is_finite() && pixel > 0.0).then_some(pixel),
                fit_resolution_angstrom: (v[6].is_finite() && v[6] > 0.0).then_some(v[6]),
                tilt_degrees: (v.len() >= 9 && v[7].is_finite() && v[8].is_finite())
                    .then(|| (v[7], v[8])),
                sample_thickness_angstrom: v.get(9).copied().filter(|t| t.is_finite() && *t > 0.0),
            })
        })
        .collect()
}
