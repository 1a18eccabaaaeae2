//! Import and export of a session's picks as coordinate files (RELION, Topaz, EMAN, crYOLO),
//! and reading the micrograph list of a RELION micrographs STAR.
//!
//! RELION export writes what RELION ≥ 3.2 (4, 5) reads as a manual-picking job's output:
//! one `<micrograph stem>_manualpick.star` per micrograph (`data_` block with
//! `_rlnCoordinateX/Y`, plus `_rlnAutopickFigureOfMerit` when some pick has a score, and
//! `_rlnParticleSelectionType` = 2 for manual picks) and the index `manualpick.star`
//! (`data_coordinate_files`: `_rlnMicrographName`, `_rlnMicrographCoordinates`). Every file is
//! written atomically.

use std::path::{Path, PathBuf};

use crate::io::coords::{self, CoordinateFileEntry, MicrographPicks, Pick};
use crate::io::star;

use super::{PickSession, PickingError, SessionPick};

/// The micrograph paths of a RELION micrographs STAR (`data_micrographs`, or the first block
/// with `_rlnMicrographName`; RELION 3.0 files without optics groups too). Relative names
/// are resolved against whichever of the STAR's folder, its parent and its grandparent holds
/// most of them (RELION stores names relative to the project folder, and STAR files live in
/// `Job/jobNNN/`); a missing micrograph is reported when it is opened.
///
/// # Errors
/// The STAR's syntax errors, or no `_rlnMicrographName` column.
pub fn micrographs_from_star(path: &Path) -> Result<Vec<PathBuf>, PickingError> {
    let file = star::read(path)?;
    let block = file
        .block("micrographs")
        .filter(|b| b.has_column("rlnMicrographName"))
        .or_else(|| {
            file.blocks
                .iter()
                .find(|b| b.has_column("rlnMicrographName"))
        })
        .ok_or_else(|| {
            PickingError::Other(format!(
                "{}: no _rlnMicrographName column: not a micrographs STAR",
                path.display()
            ))
        })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let names = (0..block.len())
        .map(|row| {
            block
                .get("rlnMicrographName", row)
                .map(PathBuf::from)
                .map_err(|e| PickingError::Other(format!("{}: {e}", path.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The folder most relative names exist under (ties: the nearest).
    let root = base
        .ancestors()
        .take(3)
        .max_by_key(|d| {
            let found = names.iter().filter(|n| d.join(n).exists()).count();
            (found, std::cmp::Reverse(d.components().count()))
        })
        .unwrap_or(base);
    let out = names
        .into_iter()
        .map(|n| if n.is_absolute() { n } else { root.join(n) })
        .collect();
    Ok(out)
}

/// The formats a session exports to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// RELION per-micrograph `_manualpick.star` files plus the `manualpick.star` index.
    Relion,
    /// One Topaz particle list `particles.txt` for all micrographs.
    Topaz,
    /// EMAN `.box` files, one per micrograph (needs the box size).
    Eman,
    /// crYOLO `.cbox` files, one per micrograph (needs the box size).
    Cryolo,
    /// For cryoSPARC: `particles.star` (one RELION particles table naming each micrograph by
    /// file name, what cryoSPARC's Import Particles job reads) and, when every micrograph's
    /// shape can be read from its MRC header, `particles.cs` (fractions of that shape).
    Cryosparc,
    /// RELION 5 tomography: `particles.star` with `_rlnTomoName` (the tomogram's file stem)
    /// and `_rlnCenteredCoordinate{X,Y,Z}Angst`, and the `tomograms.star` they were converted
    /// with (each tomogram as shown: its voxels as unbinned pixels of its voxel size).
    Relion5,
}

impl ExportFormat {
    /// All formats, in menu order.
    pub const ALL: [ExportFormat; 6] = [
        ExportFormat::Relion,
        ExportFormat::Topaz,
        ExportFormat::Eman,
        ExportFormat::Cryolo,
        ExportFormat::Cryosparc,
        ExportFormat::Relion5,
    ];

    /// Menu label.
    pub fn label(self) -> &'static str {
        match self {
            ExportFormat::Relion => "RELION STAR",
            ExportFormat::Topaz => "Topaz txt",
            ExportFormat::Eman => "EMAN box",
            ExportFormat::Cryolo => "crYOLO cbox",
            ExportFormat::Cryosparc => "cryoSPARC",
            ExportFormat::Relion5 => "RELION 5 tomo",
        }
    }
}

/// The picks of micrograph `index` kept at the session's threshold, as coordinate-file picks.
fn kept_picks(session: &PickSession, index: usize) -> Vec<Pick> {
    let t = session.settings.autopick_threshold;
    session
        .picks(index)
        .iter()
        .filter(|p| p.passes(t))
        .map(|p| p.to_pick())
        .collect()
}

/// Writes the session's picks (those kept at the autopick threshold; micrographs without
/// picks are skipped) into folder `out_dir` in `format`; returns the files written.
///
/// RELION's index names each micrograph by its path as the session holds it, and each
/// coordinate file by its path relative to the folder holding `out_dir` (RELION's project
/// folder when `out_dir` is `ManualPick/jobNNN`), as RELION does. Micrographs of one name in
/// different folders are written under their folders relative to the folder all share
/// ([`coords::output_names`]), never over each other.
///
/// # Errors
/// A failed write (naming the file), a value a format cannot hold, or two micrographs that
/// would share a file.
pub fn export(
    session: &PickSession,
    format: ExportFormat,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, PickingError> {
    std::fs::create_dir_all(out_dir).map_err(|source| PickingError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let picked: Vec<(usize, Vec<Pick>)> = (0..session.micrographs.len())
        .map(|i| (i, kept_picks(session, i)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let name_of = |i: usize| session.micrographs[i].path.to_string_lossy().into_owned();
    // One file per micrograph that no other can overwrite (same names in different folders
    // keep their folders); a collision is refused before anything is written.
    let requests: Vec<coords::NameRequest> = picked
        .iter()
        .map(|(i, _)| coords::NameRequest {
            micrograph: name_of(*i),
            source: "the session".into(),
        })
        .collect();
    let names = coords::output_names(&requests).map_err(|e| PickingError::Other(e.to_string()))?;
    let target = |name: &coords::OutputName, suffix: &str| -> Result<PathBuf, PickingError> {
        let path = out_dir.join(name.file(suffix));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| PickingError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        Ok(path)
    };
    let box_size = Some(session.settings.box_size_px);
    match format {
        ExportFormat::Relion => {
            let mut index = Vec::new();
            for ((i, picks), out_name) in picked.iter().zip(&names) {
                let path = target(out_name, "_manualpick.star")?;
                let file = out_name.key() + "_manualpick.star";
                coords::write_relion(&path, picks)?;
                index.push(CoordinateFileEntry {
                    micrograph: name_of(*i),
                    coordinates: relion_relative(out_dir, &file),
                });
                written.push(path);
            }
            let path = out_dir.join("manualpick.star");
            coords::write_relion_index(&path, &index)?;
            written.push(path);
        }
        ExportFormat::Topaz => {
            let groups: Vec<MicrographPicks> = picked
                .iter()
                .zip(&names)
                .map(|((_, picks), out_name)| MicrographPicks {
                    micrograph: out_name.key(),
                    picks: picks.clone(),
                })
                .collect();
            let path = out_dir.join("particles.txt");
            coords::write_topaz(&path, &groups)?;
            written.push(path);
        }
        ExportFormat::Cryosparc => {
            let groups: Vec<MicrographPicks> = picked
                .iter()
                .map(|(i, picks)| MicrographPicks {
                    micrograph: session.micrographs[*i]
                        .path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| name_of(*i)),
                    picks: picks.clone(),
                })
                .collect();
            let path = out_dir.join("particles.star");
            coords::write_relion_particles(&path, &groups)?;
            written.push(path);
            // (ny, nx) of each micrograph from its MRC header; TIFF or unreadable: no .cs.
            let shapes: Vec<Option<(u32, u32)>> = picked
                .iter()
                .map(|(i, _)| {
                    let info = crate::io::mrc::read_info(&session.micrographs[*i].path).ok()?;
                    Some((u32::try_from(info.ny).ok()?, u32::try_from(info.nx).ok()?))
                })
                .collect();
            if shapes.iter().all(Option::is_some) {
                let path = out_dir.join("particles.cs");
                coords::write_cryosparc_particles(&path, &groups, |name| {
                    groups
                        .iter()
                        .position(|g| g.micrograph == name)
                        .and_then(|k| shapes[k])
                })?;
                written.push(path);
            }
        }
        ExportFormat::Relion5 => {
            let mut groups = Vec::new();
            let mut tomograms = Vec::new();
            for (i, picks) in &picked {
                let path = &session.micrographs[*i].path;
                let geometry = tomogram_geometry(path)?;
                groups.push(MicrographPicks {
                    micrograph: geometry.name.clone(),
                    picks: picks.clone(),
                });
                tomograms.push(geometry);
            }
            let path = out_dir.join("tomograms.star");
            coords::write_tomograms_star(&path, &tomograms)?;
            written.push(path);
            let path = out_dir.join("particles.star");
            coords::write_relion5_particles(&path, &groups, &tomograms)?;
            written.push(path);
        }
        ExportFormat::Eman | ExportFormat::Cryolo => {
            for ((_, picks), out_name) in picked.iter().zip(&names) {
                let path = if format == ExportFormat::Eman {
                    let p = target(out_name, ".box")?;
                    coords::write_eman_box(&p, picks, box_size)?;
                    p
                } else {
                    let p = target(out_name, ".cbox")?;
                    coords::write_cbox(&p, picks, box_size)?;
                    p
                };
                written.push(path);
            }
        }
    }
    Ok(written)
}

/// The geometry of the tomogram at `path` as it is shown (the level a view opens, for
/// OME-Zarr): named by its file stem, its voxels taken as unbinned tilt-series pixels of its
/// voxel size. Positions in Å from the centre do not depend on the binning, so the particles
/// match RELION's own tomograms STAR for the same tomogram.
///
/// # Errors
/// An unreadable file, a 2D image (no z), or no voxel size in its header.
fn tomogram_geometry(path: &Path) -> Result<coords::TomogramGeometry, PickingError> {
    let (_, volume) = crate::io::mapped::open_volume(path)?;
    let (w, h, d) = volume.shape();
    let fail = |what: &str| PickingError::Other(format!("{}: {what}", path.display()));
    if d < 2 {
        return Err(fail(
            "a 2D micrograph, not a tomogram (RELION 5 particles are for tomograms; export as RELION STAR)",
        ));
    }
    let px = volume.pixel_size_angstrom().ok_or_else(|| {
        fail("no voxel size in its header (RELION 5 positions are in Å: set the header's pixel size, e.g. IMOD `alterheader -del`)")
    })?;
    let name = path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    Ok(coords::TomogramGeometry {
        name,
        size_px: [w as f64, h as f64, d as f64],
        pixel_size_angstrom: f64::from(px),
        binning: 1.0,
    })
}

/// RELION names coordinate files relative to the project folder, which holds the job folder:
/// for `out_dir` = `…/ManualPick/job004` and file `a_manualpick.star` that is
/// `ManualPick/job004/a_manualpick.star`. For a folder that is not a RELION job folder (its
/// name does not start with `job`), the file's absolute path, which RELION also accepts.
fn relion_relative(out_dir: &Path, file: &str) -> String {
    let name = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
    };
    match (name(Some(out_dir)), name(out_dir.parent())) {
        (Some(job), Some(kind)) if job.starts_with("job") => format!("{kind}/{job}/{file}"),
        _ => std::path::absolute(out_dir.join(file))
            .unwrap_or_else(|_| out_dir.join(file))
            .to_string_lossy()
            .into_owned(),
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// How imported coordinates map onto the micrograph.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImportOptions {
    /// Multiply coordinates by this (4 for picks made on images binned by 4).
    pub scale: f64,
    /// Flip y (y → rows − 1 − y, after scaling) for picks made on TIFF/PNG renderings.
    pub flip_y_rows: Option<usize>,
    /// Replace the micrograph's picks (true) or add to them (false).
    pub replace: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            scale: 1.0,
            flip_y_rows: None,
            replace: false,
        }
    }
}

/// Picks read from a coordinate file for one micrograph, not yet in the session: what
/// [`read_import`] returns (on a worker) and [`apply_import`] puts into the session.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedImport {
    /// The micrograph's index in the session.
    pub micrograph: usize,
    /// The micrograph's path (the session must still hold it at that index when applied).
    pub micrograph_path: PathBuf,
    /// The picks, scaled and flipped as asked (non-finite positions dropped).
    pub picks: Vec<SessionPick>,
    /// Replace the micrograph's picks (true) or add to them (false).
    pub replace: bool,
}

/// Reads the coordinate file `path` (any format of `crate::io::coords`, RELION 3.0/3.1+
/// coordinate and autopick files with their figures of merit included) for micrograph
/// `micrograph` at `micrograph_path`, without touching a session (a worker may run it). A
/// file listing several micrographs (a Topaz list, a RELION particles STAR, a cryoSPARC
/// particles `.cs`) contributes the group whose name matches the micrograph's file stem, else
/// its micrograph base ([`crate::io::micrograph_base`]).
///
/// # Errors
/// The file's errors; no group for this micrograph in a multi-micrograph file.
pub fn read_import(
    micrograph: usize,
    micrograph_path: &Path,
    path: &Path,
    options: ImportOptions,
) -> Result<ParsedImport, PickingError> {
    let mic_stem = stem(micrograph_path);
    let mut groups = coords::read(path)?;
    let base = |s: &str| crate::io::micrograph_base(s).to_string();
    let group = if groups.len() == 1 {
        groups.into_iter().next()
    } else {
        // The same stem, else the same micrograph base (cryoSPARC's
        // `mic_patch_aligned_doseweighted.mrc` and RELION's `mic_DW.mrc` for `mic.mrc`).
        let at = groups
            .iter()
            .position(|g| stem(Path::new(&g.micrograph)) == mic_stem)
            .or_else(|| {
                groups
                    .iter()
                    .position(|g| base(&stem(Path::new(&g.micrograph))) == base(&mic_stem))
            });
        at.map(|i| groups.swap_remove(i))
    }
    .ok_or_else(|| {
        PickingError::Other(format!(
            "{}: no picks for micrograph {mic_stem}",
            path.display()
        ))
    })?;
    let picks: Vec<SessionPick> = group
        .picks
        .iter()
        .map(|p| {
            let mut p = p.scale(options.scale);
            if let Some(rows) = options.flip_y_rows {
                p = p.flip_y(rows);
            }
            SessionPick::from_pick(&p)
        })
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    Ok(ParsedImport {
        micrograph,
        micrograph_path: micrograph_path.to_path_buf(),
        picks,
        replace: options.replace,
    })
}

/// Puts picks read by [`read_import`] into `session` as one undoable edit (replacing the
/// micrograph's picks or added to them). Returns the number of picks imported.
///
/// # Errors
/// The session no longer holds that micrograph at that index.
pub fn apply_import(
    session: &mut PickSession,
    parsed: ParsedImport,
) -> Result<usize, PickingError> {
    let ParsedImport {
        micrograph,
        micrograph_path,
        mut picks,
        replace,
    } = parsed;
    if session.micrographs.get(micrograph).map(|m| &m.path) != Some(&micrograph_path) {
        return Err(PickingError::Other(format!(
            "{} is no longer micrograph {micrograph} of the session",
            micrograph_path.display()
        )));
    }
    let n = picks.len();
    let after = if replace {
        picks
    } else {
        let mut all = session.picks(micrograph).to_vec();
        all.append(&mut picks);
        all
    };
    session.replace(micrograph, after);
    Ok(n)
}

/// Imports the coordinate file `path` into micrograph `micrograph` as one undoable edit:
/// [`read_import`] then [`apply_import`]. Returns the number of picks imported.
///
/// # Errors
/// No such micrograph; the file's errors; no group for this micrograph in a multi-micrograph
/// file.
pub fn import(
    session: &mut PickSession,
    micrograph: usize,
    path: &Path,
    options: ImportOptions,
) -> Result<usize, PickingError> {
    let Some(m) = session.micrographs.get(micrograph) else {
        return Err(PickingError::Other(format!(
            "no micrograph {micrograph} in the session"
        )));
    };
    let parsed = read_import(micrograph, &m.path, path, options)?;
    apply_import(session, parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relion_paths_are_relative_to_the_project() {
        assert_eq!(
            relion_relative(Path::new("/p/ManualPick/job004"), "a_manualpick.star"),
            "ManualPick/job004/a_manualpick.star"
        );
        let abs = relion_relative(Path::new("out"), "a_manualpick.star");
        assert!(Path::new(&abs).is_absolute() && abs.ends_with("out/a_manualpick.star"));
    }

    #[test]
    fn a_cryosparc_particles_table_imports_into_the_users_micrograph() {
        use crate::io::coords::{MicrographPicks, Pick, write_cryosparc_particles};
        let dir = tempfile::tempdir().unwrap();
        let cs = dir.path().join("J5_picked_particles.cs");
        let group = |name: &str, x: f64| MicrographPicks {
            micrograph: format!("J3/motioncorrected/{name}_patch_aligned_doseweighted.mrc"),
            picks: vec![Pick::new(x, 100.0)],
        };
        write_cryosparc_particles(
            &cs,
            &[group("mic_0001", 500.0), group("mic_0002", 700.0)],
            |_| Some((4092, 5760)),
        )
        .unwrap();
        let mic = dir.path().join("mic_0002.mrc");
        let parsed = read_import(3, &mic, &cs, ImportOptions::default()).unwrap();
        assert_eq!(parsed.picks.len(), 1);
        assert!((parsed.picks[0].x - 700.0).abs() < 1e-2);
        let other = dir.path().join("mic_0003.mrc");
        let e = read_import(0, &other, &cs, ImportOptions::default()).unwrap_err();
        assert!(
            e.to_string().contains("no picks for micrograph mic_0003"),
            "{e}"
        );
    }

    #[test]
    fn the_cryosparc_export_writes_the_import_star_and_the_cs() {
        use crate::io::coords::{self, Pick};
        let ucsf = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/data/micrographs/ucsf-1142/Ucsf_stack_1142_DW.mrc");
        let mut session = PickSession::new(vec![ucsf]);
        session.micrographs[0].picks = [(100.0, 200.0), (958.0, 926.0)]
            .iter()
            .map(|&(x, y)| SessionPick::from_pick(&Pick::new(x, y)))
            .collect();
        session.touch();
        let dir = tempfile::tempdir().unwrap();
        let written = export(&session, ExportFormat::Cryosparc, dir.path()).unwrap();
        assert_eq!(written.len(), 2, "{written:?}");
        let star = coords::read_relion(&dir.path().join("particles.star")).unwrap();
        assert_eq!(star[0].micrograph, "Ucsf_stack_1142_DW.mrc");
        let cs = crate::io::cryosparc::CsFile::read(&dir.path().join("particles.cs")).unwrap();
        // The real header's shape: 959 columns, 927 rows, stored as (ny, nx).
        assert_eq!(cs.number_at("location/micrograph_shape", 0, 0), Some(927.0));
        assert_eq!(cs.number_at("location/micrograph_shape", 0, 1), Some(959.0));
        let back = coords::read(&dir.path().join("particles.cs")).unwrap();
        assert!((back[0].picks[1].x - 958.0).abs() < 1e-3);
        assert!((back[0].picks[1].y - 926.0).abs() < 1e-3);
    }
}
