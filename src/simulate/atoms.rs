//! Atomic models as specimens: reading PDB files (by their fixed columns) or mmCIF files (with
//! `pdbtbx`), plain or gzipped, into centred atoms with their elements, B-factors and
//! occupancies.
//!
//! Coordinates of deposited cryo-EM models sit in the frame of the EM map (not centred, unit
//! cell a placeholder), so the model is centred on the occupancy-weighted mean of its atoms
//! and the unit cell is ignored. Every model of a multi-model file but the first is skipped.
//! Alternate locations are kept, each weighted by its occupancy (an atom that pdbtbx lists in
//! several conformers is counted once). Hydrogens are used as the file has them (none are
//! added).

use std::path::Path;

use super::SimulateError;
use super::scattering::{MAX_TABULATED_Z, atomic_number, symbol};

/// The message for a model without atoms.
const NO_ATOMS: &str = "the model has no atoms (give an atomic model with ATOM/HETATM records or an `_atom_site` loop)";

/// The text of a file, gunzipped when `gz`.
fn read_text(path: &Path, gz: bool) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    if gz {
        flate2::read::GzDecoder::new(file).read_to_string(&mut text)?;
    } else {
        std::io::BufReader::new(file).read_to_string(&mut text)?;
    }
    Ok(text)
}

/// One atom of a specimen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Atom {
    /// Position relative to the model's centre, Å (x, y, z of the file's frame).
    pub position: [f64; 3],
    /// Atomic number used for the scattering factor (1..=54; heavier elements are mapped to 54).
    pub z: u8,
    /// Isotropic B-factor, Å².
    pub b_factor: f64,
    /// Occupancy in [0, 1].
    pub occupancy: f64,
}

/// A centred atomic model.
#[derive(Clone, Debug, PartialEq)]
pub struct AtomicModel {
    /// The atoms.
    pub atoms: Vec<Atom>,
    /// Largest distance of an atom from the centre, Å.
    pub radius_angstrom: f64,
    /// Things the user should know (elements replaced by xenon, atoms without element),
    /// one line each.
    pub warnings: Vec<String>,
}

impl AtomicModel {
    /// A model of the given atoms (positions in any frame), centred on their
    /// occupancy-weighted mean.
    ///
    /// # Errors
    /// A message when there are no atoms with positive occupancy.
    pub fn centred(mut atoms: Vec<Atom>, warnings: Vec<String>) -> Result<Self, String> {
        atoms.retain(|a| a.occupancy > 0.0);
        let weight: f64 = atoms.iter().map(|a| a.occupancy).sum();
        if atoms.is_empty() || weight <= 0.0 {
            return Err(NO_ATOMS.into());
        }
        let mut centre = [0.0; 3];
        for a in &atoms {
            for (c, p) in centre.iter_mut().zip(a.position) {
                *c += a.occupancy * p;
            }
        }
        centre.iter_mut().for_each(|c| *c /= weight);
        let mut radius: f64 = 0.0;
        for a in &mut atoms {
            for (p, c) in a.position.iter_mut().zip(centre) {
                *p -= c;
            }
            radius = radius.max(a.position.iter().map(|p| p * p).sum::<f64>().sqrt());
        }
        Ok(Self {
            atoms,
            radius_angstrom: radius,
            warnings,
        })
    }
}

/// Reads an atomic model: `.pdb`, `.cif` or `.mmcif`, optionally gzipped (`.pdb.gz`,
/// `.cif.gz`), the first model only. Elements come from the element column (or the atom name
/// when it is missing); atoms of elements beyond xenon use xenon's scattering factor, with a
/// warning. Non-finite B-factors become 0 and occupancies are clamped to [0, 1].
///
/// # Errors
/// [`SimulateError::Input`] naming the file: unreadable, not PDB/mmCIF, a parse error, or no
/// atoms.
pub fn read_atomic_model(path: &Path) -> Result<AtomicModel, SimulateError> {
    let bad = |reason: String| SimulateError::Input {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(bad(
            "no such file (give a PDB or mmCIF atomic model, e.g. `model.pdb` or `model.cif.gz`)"
                .into(),
        ));
    }
    let name = path.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    let known = [".pdb", ".pdb1", ".cif", ".mmcif"]
        .iter()
        .any(|ext| lower.ends_with(ext) || lower.ends_with(&format!("{ext}.gz")));
    if !known {
        return Err(bad(
            "not an atomic model by its name (rename it to .pdb, .cif or .mmcif, gzipped or not)"
                .into(),
        ));
    }
    let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
    let records = if stem.ends_with(".pdb") || stem.ends_with(".pdb1") {
        let text = read_text(path, lower.ends_with(".gz")).map_err(|e| {
            bad(format!(
                "cannot be read: {e} (check the file is a complete PDB file)"
            ))
        })?;
        pdb_records(&text)
    } else {
        mmcif_records(&name).map_err(bad)?
    };
    let mut warnings = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut heavy: Vec<String> = Vec::new();
    let mut atoms = Vec::with_capacity(records.len());
    for r in records {
        let Some(mut z) = r
            .element
            .or_else(|| element_from_name(&r.name))
            .filter(|&z| z > 0)
        else {
            if unknown.len() < 5 {
                unknown.push(r.name.trim().to_string());
            }
            continue;
        };
        if z > MAX_TABULATED_Z {
            let s = symbol(z);
            if !heavy.contains(&s) {
                heavy.push(s);
            }
            z = MAX_TABULATED_Z;
        }
        atoms.push(Atom {
            position: r.position,
            z,
            b_factor: if r.b_factor.is_finite() {
                r.b_factor.max(0.0)
            } else {
                0.0
            },
            occupancy: if r.occupancy.is_finite() {
                r.occupancy.clamp(0.0, 1.0)
            } else {
                1.0
            },
        });
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "skipped atoms with no recognisable element (e.g. {})",
            unknown.join(", ")
        ));
    }
    if !heavy.is_empty() {
        warnings.push(format!(
            "no tabulated scattering factor for {}: xenon's is used (the nearest tabulated element)",
            heavy.join(", ")
        ));
    }
    AtomicModel::centred(atoms, warnings).map_err(bad)
}

/// One atom record as a file gives it.
struct Record {
    name: String,
    element: Option<u8>,
    position: [f64; 3],
    b_factor: f64,
    occupancy: f64,
}

/// The `ATOM`/`HETATM` records of the first model of PDB text, by the fixed columns of the
/// wwPDB format (name 13–16, x/y/z 31–54, occupancy 55–60, B 61–66, element 77–78); records
/// whose coordinates are not numbers are skipped, a missing occupancy is 1 and a missing B 0.
/// Read here rather than by pdbtbx, whose PDB reader refuses some wwPDB headers and changes the
/// occupancy of atoms shared by alternate conformers.
fn pdb_records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("ENDMDL") {
            break;
        }
        if !(line.starts_with("ATOM") || line.starts_with("HETATM")) {
            continue;
        }
        let field = |a: usize, b: usize| line.get(a..b.min(line.len())).map(str::trim);
        let number = |a: usize, b: usize| field(a, b).and_then(|f| f.parse::<f64>().ok());
        let (Some(x), Some(y), Some(z)) = (number(30, 38), number(38, 46), number(46, 54)) else {
            continue;
        };
        out.push(Record {
            name: field(12, 16).unwrap_or("").to_string(),
            element: field(76, 78)
                .filter(|e| !e.is_empty())
                .and_then(atomic_number),
            position: [x, y, z],
            occupancy: number(54, 60).unwrap_or(1.0),
            b_factor: number(60, 66).unwrap_or(0.0),
        });
    }
    out
}

/// The atoms of the first model of an mmCIF file (gzipped or not) read with pdbtbx; an atom it
/// lists in several conformers is taken once (by serial number and position).
fn mmcif_records(name: &str) -> Result<Vec<Record>, String> {
    let mut options = pdbtbx::ReadOptions::new();
    options
        .guess_format(name)
        .set_level(pdbtbx::StrictnessLevel::Loose)
        .set_only_first_model(true);
    let (pdb, _warnings) = options.read(name).map_err(|errors| {
        if errors
            .iter()
            .any(|e| e.short_description().eq_ignore_ascii_case("no atoms"))
        {
            return NO_ATOMS.to_string();
        }
        let first = errors
            .iter()
            .find(|e| e.level() == pdbtbx::ErrorLevel::BreakingError)
            .or_else(|| errors.first());
        first.map_or_else(
            || "cannot be read as mmCIF".to_string(),
            |e| {
                format!(
                    "cannot be read as mmCIF: {}: {} (check the file is a complete atomic model)",
                    e.short_description(),
                    e.long_description()
                )
            },
        )
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(pdb.atom_count());
    for atom in pdb.atoms() {
        let (x, y, z) = atom.pos();
        if !seen.insert((atom.serial_number(), x.to_bits(), y.to_bits(), z.to_bits())) {
            continue;
        }
        out.push(Record {
            name: atom.name().to_string(),
            element: atom
                .element()
                .and_then(|e| u8::try_from(e.atomic_number()).ok()),
            position: [x, y, z],
            b_factor: atom.b_factor(),
            occupancy: atom.occupancy(),
        });
    }
    Ok(out)
}

/// The element of an atom from its name when the element column is empty: the first one or two
/// letters (PDB names put one-letter elements in column 14, e.g. ` CA ` is carbon alpha).
fn element_from_name(name: &str) -> Option<u8> {
    let letters: String = name
        .trim()
        .chars()
        .skip_while(|c| c.is_ascii_digit())
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    letters
        .get(..1)
        .and_then(atomic_number)
        .or_else(|| letters.get(..2).and_then(atomic_number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centring_and_radius() {
        let atom = |x: f64| Atom {
            position: [x, 2.0, -1.0],
            z: 6,
            b_factor: 0.0,
            occupancy: 1.0,
        };
        let m = AtomicModel::centred(vec![atom(10.0), atom(14.0)], Vec::new()).unwrap();
        assert_eq!(m.atoms[0].position, [-2.0, 0.0, 0.0]);
        assert!((m.radius_angstrom - 2.0).abs() < 1e-12);
        assert!(AtomicModel::centred(Vec::new(), Vec::new()).is_err());
    }

    #[test]
    fn elements_from_atom_names() {
        assert_eq!(element_from_name(" CA "), Some(6));
        assert_eq!(element_from_name("1HB"), Some(1));
        assert_eq!(element_from_name("OG1"), Some(8));
    }
}
