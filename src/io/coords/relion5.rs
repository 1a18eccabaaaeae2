//! RELION 5 tomography particles: `_rlnTomoName` and `_rlnCenteredCoordinate{X,Y,Z}Angst`,
//! positions in Å from the centre of the tomogram, converted to and from voxels of the
//! reconstructed (binned) tomogram with the tomograms STAR (`_rlnTomoSizeX/Y/Z` in unbinned
//! tilt-series pixels, `_rlnTomoTiltSeriesPixelSize`, `_rlnTomoTomogramBinning`).
//!
//! RELION 5's definition, per axis: centred Å = (voxel · binning − size / 2) · pixel size,
//! so voxel = (centred Å / pixel size + size / 2) / binning, voxels counted from 0 as in our
//! other formats. A particle's position is its centred coordinate minus its origin shift
//! (`_rlnOrigin{X,Y,Z}Angst`, written by refinement), as RELION extracts it.

use std::path::Path;

use super::{MicrographPicks, Pick};
use crate::io::IoError;
use crate::io::star::{self, Block, StarFile, Table, WriteOptions};

/// One tomogram of a RELION 5 tomograms STAR.
#[derive(Clone, Debug, PartialEq)]
pub struct TomogramGeometry {
    /// `_rlnTomoName`.
    pub name: String,
    /// `_rlnTomoSizeX/Y/Z`: the tomogram's size in unbinned tilt-series pixels (x, y, z).
    pub size_px: [f64; 3],
    /// `_rlnTomoTiltSeriesPixelSize`, Å.
    pub pixel_size_angstrom: f64,
    /// `_rlnTomoTomogramBinning`: reconstructed voxels per tilt-series pixel (1 when absent).
    pub binning: f64,
}

impl TomogramGeometry {
    /// Reconstructed-tomogram voxel (x, y, z) of a centred position in Å.
    pub fn voxel_of(&self, centred_angstrom: [f64; 3]) -> [f64; 3] {
        std::array::from_fn(|k| {
            (centred_angstrom[k] / self.pixel_size_angstrom + self.size_px[k] / 2.0) / self.binning
        })
    }

    /// Centred position in Å of a reconstructed-tomogram voxel (x, y, z).
    pub fn centred_of(&self, voxel: [f64; 3]) -> [f64; 3] {
        std::array::from_fn(|k| {
            (voxel[k] * self.binning - self.size_px[k] / 2.0) * self.pixel_size_angstrom
        })
    }
}

/// Reads the tomograms of a RELION 5 tomograms STAR (`data_global`).
///
/// # Errors
/// An unreadable STAR; no block with `_rlnTomoName` and the size and pixel-size columns (the
/// missing column named); a size, pixel size or binning that is not a positive number.
pub fn read_tomograms_star(path: &Path) -> Result<Vec<TomogramGeometry>, IoError> {
    let file = star::read(path)?;
    let needed = [
        "rlnTomoName",
        "rlnTomoSizeX",
        "rlnTomoSizeY",
        "rlnTomoSizeZ",
        "rlnTomoTiltSeriesPixelSize",
    ];
    let block = file
        .blocks
        .iter()
        .find(|b| b.has_column("rlnTomoName"))
        .ok_or_else(|| {
            IoError::invalid(
                path,
                "no block with `_rlnTomoName`: not a RELION 5 tomograms STAR (give the tomograms.star of the reconstruction job)",
            )
        })?;
    if let Some(missing) = needed.iter().find(|c| !block.has_column(c)) {
        return Err(IoError::invalid(
            path,
            format!("the tomograms table has no `_{missing}` column"),
        ));
    }
    let bad = |e: star::StarError| IoError::invalid(path, e.to_string());
    (0..block.len())
        .map(|r| {
            let t = TomogramGeometry {
                name: block.get("rlnTomoName", r).map_err(bad)?.to_string(),
                size_px: [
                    block.f64("rlnTomoSizeX", r).map_err(bad)?,
                    block.f64("rlnTomoSizeY", r).map_err(bad)?,
                    block.f64("rlnTomoSizeZ", r).map_err(bad)?,
                ],
                pixel_size_angstrom: block.f64("rlnTomoTiltSeriesPixelSize", r).map_err(bad)?,
                binning: if block.has_column("rlnTomoTomogramBinning") {
                    block
                        .f64_opt_finite("rlnTomoTomogramBinning", r)
                        .map_err(bad)?
                        .unwrap_or(1.0)
                } else {
                    1.0
                },
            };
            let positive = |v: f64| v.is_finite() && v > 0.0;
            if !(positive(t.pixel_size_angstrom)
                && positive(t.binning)
                && t.size_px.iter().all(|&v| positive(v)))
            {
                return Err(IoError::invalid(
                    path,
                    format!(
                        "tomogram `{}`: pixel size, binning and sizes must be positive numbers (row {})",
                        t.name,
                        r + 1
                    ),
                ));
            }
            Ok(t)
        })
        .collect()
}

/// The particles block of a RELION 5 tomography particles STAR, if `file` is one.
fn particles_block(file: &StarFile) -> Option<&Block> {
    file.blocks
        .iter()
        .find(|b| b.has_column("rlnTomoName") && b.has_column("rlnCenteredCoordinateXAngst"))
}

/// Whether the STAR at `path` holds RELION 5 tomography particles (centred coordinates).
pub fn is_relion5_tomo_particles(path: &Path) -> bool {
    star::read(path).is_ok_and(|f| particles_block(&f).is_some())
}

/// Reads RELION 5 tomography particles into picks in reconstructed-tomogram voxels, one group
/// per tomogram (named `_rlnTomoName`), origins applied, the figure of merit as score.
///
/// # Errors
/// An unreadable STAR; no particles table; a particle whose tomogram `tomograms` lacks (named,
/// with what to do); a value that is not a number.
pub fn read_relion5_particles(
    path: &Path,
    tomograms: &[TomogramGeometry],
) -> Result<Vec<MicrographPicks>, IoError> {
    let file = star::read(path)?;
    let block = particles_block(&file).ok_or_else(|| {
        IoError::invalid(
            path,
            "no table with `_rlnTomoName` and `_rlnCenteredCoordinateXAngst`: not RELION 5 tomography particles",
        )
    })?;
    let bad = |e: star::StarError| IoError::invalid(path, e.to_string());
    let mut groups: Vec<MicrographPicks> = Vec::new();
    for r in 0..block.len() {
        let name = block.get("rlnTomoName", r).map_err(bad)?;
        let tomo = tomograms.iter().find(|t| t.name == name).ok_or_else(|| {
            IoError::invalid(
                path,
                format!(
                    "particle {}: tomogram `{name}` is not in the tomograms STAR (give the tomograms.star these particles were picked on)",
                    r + 1
                ),
            )
        })?;
        let mut centred = [0.0; 3];
        for (k, axis) in ["X", "Y", "Z"].iter().enumerate() {
            let c = block
                .f64(&format!("rlnCenteredCoordinate{axis}Angst"), r)
                .map_err(bad)?;
            let origin_column = format!("rlnOrigin{axis}Angst");
            let origin = if block.has_column(&origin_column) {
                block
                    .f64_opt_finite(&origin_column, r)
                    .map_err(bad)?
                    .unwrap_or(0.0)
            } else {
                0.0
            };
            centred[k] = c - origin;
        }
        let [x, y, z] = tomo.voxel_of(centred);
        let mut pick = Pick::new(x, y);
        pick.z = Some(z);
        if block.has_column("rlnAutopickFigureOfMerit") {
            pick.score = block
                .f64_opt_finite("rlnAutopickFigureOfMerit", r)
                .map_err(bad)?;
        }
        match groups.iter_mut().find(|g| g.micrograph == name) {
            Some(g) => g.picks.push(pick),
            None => groups.push(MicrographPicks {
                micrograph: name.to_string(),
                picks: vec![pick],
            }),
        }
    }
    Ok(groups)
}

/// Writes picks on tomograms (voxels of the reconstructed tomograms; each group named by its
/// tomogram's `_rlnTomoName`) as a RELION 5 particles STAR, atomically.
///
/// # Errors
/// A group whose tomogram `tomograms` lacks, a pick without z, an unwritable file.
pub fn write_relion5_particles(
    path: &Path,
    groups: &[MicrographPicks],
    tomograms: &[TomogramGeometry],
) -> Result<(), IoError> {
    let mut table = Table::new(&[
        "rlnTomoName",
        "rlnCenteredCoordinateXAngst",
        "rlnCenteredCoordinateYAngst",
        "rlnCenteredCoordinateZAngst",
    ]);
    for g in groups {
        let tomo = tomograms
            .iter()
            .find(|t| t.name == g.micrograph)
            .ok_or_else(|| {
                IoError::invalid(
                    path,
                    format!("tomogram `{}` is not in the tomograms STAR", g.micrograph),
                )
            })?;
        for (i, p) in g.picks.iter().enumerate() {
            let z = p.z.ok_or_else(|| {
                IoError::invalid(
                    path,
                    format!(
                        "{}: pick {} has no z (not a tomogram pick)",
                        g.micrograph,
                        i + 1
                    ),
                )
            })?;
            let c = tomo.centred_of([p.x, p.y, z]);
            let mut row = vec![g.micrograph.clone()];
            row.extend(c.iter().map(|v| format!("{v:.6}")));
            table
                .push_row(row)
                .map_err(|e| IoError::invalid(path, e.to_string()))?;
        }
    }
    let file = StarFile {
        blocks: vec![Block::with_table("particles", table)],
    };
    star::write(path, &file, &WriteOptions::relion())
}

/// Writes `tomograms` as a RELION 5 tomograms STAR (`data_global`: name, size in unbinned
/// pixels, tilt-series pixel size, binning), atomically: what [`read_tomograms_star`] reads.
///
/// # Errors
/// A failed write.
pub fn write_tomograms_star(path: &Path, tomograms: &[TomogramGeometry]) -> Result<(), IoError> {
    let mut table = Table::new(&[
        "rlnTomoName",
        "rlnTomoSizeX",
        "rlnTomoSizeY",
        "rlnTomoSizeZ",
        "rlnTomoTiltSeriesPixelSize",
        "rlnTomoTomogramBinning",
    ]);
    for t in tomograms {
        let mut row = vec![t.name.clone()];
        row.extend(t.size_px.iter().map(|v| format!("{v}")));
        row.push(format!("{:.6}", t.pixel_size_angstrom));
        row.push(format!("{}", t.binning));
        table
            .push_row(row)
            .map_err(|e| IoError::invalid(path, e.to_string()))?;
    }
    let file = StarFile {
        blocks: vec![Block::with_table("global", table)],
    };
    star::write(path, &file, &WriteOptions::relion())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tomograms STAR of a RELION 5 reconstruction job (columns as RELION 5.0 writes them).
    const TOMOGRAMS: &str = "# version 50001

data_global

loop_
_rlnTomoName #1
_rlnTomoTiltSeriesStarFile #2
_rlnVoltage #3
_rlnSphericalAberration #4
_rlnAmplitudeContrast #5
_rlnMicrographOriginalPixelSize #6
_rlnTomoHand #7
_rlnOpticsGroupName #8
_rlnTomoTiltSeriesPixelSize #9
_rlnTomoTomogramBinning #10
_rlnTomoSizeX #11
_rlnTomoSizeY #12
_rlnTomoSizeZ #13
_rlnTomoReconstructedTomogram #14
TS_01 AlignTiltSeries/job053/tilt_series/TS_01.star 300.0 2.7 0.1 2.39 -1.0 opticsGroup1 2.39 6.0 4092 4092 1392 Tomograms/job006/tomograms/rec_TS_01.mrc
TS_02 AlignTiltSeries/job053/tilt_series/TS_02.star 300.0 2.7 0.1 2.39 -1.0 opticsGroup1 2.39 6.0 4092 5760 1392 Tomograms/job006/tomograms/rec_TS_02.mrc
";

    fn tomograms(dir: &Path) -> Vec<TomogramGeometry> {
        let path = dir.join("tomograms.star");
        std::fs::write(&path, TOMOGRAMS).unwrap();
        read_tomograms_star(&path).unwrap()
    }

    #[test]
    fn centred_angstroms_follow_relion5s_definition() {
        let dir = tempfile::tempdir().unwrap();
        let t = tomograms(dir.path());
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].size_px, [4092.0, 5760.0, 1392.0]);
        // Voxel 100 of a 6× binned reconstruction is tilt-series pixel 600, 1446 pixels left of
        // the centre (2046): −1446 · 2.39 Å.
        let c = t[0].centred_of([100.0, 341.0, 116.0]);
        assert!((c[0] - (-1446.0 * 2.39)).abs() < 1e-9);
        assert!(
            c[1].abs() < 1e-9 && c[2].abs() < 1e-9,
            "the centre is at 0 Å: {c:?}"
        );
        let v = t[0].voxel_of(c);
        assert!((v[0] - 100.0).abs() < 1e-9 && (v[1] - 341.0).abs() < 1e-9);
    }

    #[test]
    fn particles_round_trip_with_origins_applied_and_missing_tomograms_named() {
        let dir = tempfile::tempdir().unwrap();
        let t = tomograms(dir.path());
        let mut a = Pick::new(100.0, 200.0);
        a.z = Some(50.0);
        let mut b = Pick::new(10.5, 900.25);
        b.z = Some(200.0);
        let groups = vec![
            MicrographPicks {
                micrograph: "TS_01".into(),
                picks: vec![a],
            },
            MicrographPicks {
                micrograph: "TS_02".into(),
                picks: vec![b],
            },
        ];
        let path = dir.path().join("particles.star");
        write_relion5_particles(&path, &groups, &t).unwrap();
        assert!(is_relion5_tomo_particles(&path));
        let back = read_relion5_particles(&path, &t).unwrap();
        for (g, h) in back.iter().zip(&groups) {
            assert_eq!(g.micrograph, h.micrograph);
            let (p, q) = (g.picks[0], h.picks[0]);
            assert!((p.x - q.x).abs() < 1e-5 && (p.y - q.y).abs() < 1e-5);
            assert!((p.z.unwrap() - q.z.unwrap()).abs() < 1e-5);
        }
        // A refined particle: its origin (Å) is subtracted from the centred coordinate.
        let refined = dir.path().join("refined.star");
        std::fs::write(
            &refined,
            "data_particles\nloop_\n_rlnTomoName\n_rlnCenteredCoordinateXAngst\n\
             _rlnCenteredCoordinateYAngst\n_rlnCenteredCoordinateZAngst\n_rlnOriginXAngst\n\
             _rlnOriginYAngst\n_rlnOriginZAngst\n\
             TS_01 0.0 0.0 0.0 -14.34 0.0 0.0\nTS_03 0.0 0.0 0.0 0.0 0.0 0.0\n",
        )
        .unwrap();
        let e = read_relion5_particles(&refined, &t)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tomogram `TS_03`") && e.contains("particle 2"),
            "{e}"
        );
        std::fs::write(
            &refined,
            std::fs::read_to_string(&refined)
                .unwrap()
                .replace("TS_03 0.0 0.0 0.0 0.0 0.0 0.0\n", ""),
        )
        .unwrap();
        let p = read_relion5_particles(&refined, &t).unwrap()[0].picks[0];
        // +14.34 Å = 6 tilt-series pixels = 1 voxel right of the centre voxel 341.
        assert!((p.x - 342.0).abs() < 1e-9, "{p:?}");
        // A zero pixel size is refused, not divided by.
        let zero = dir.path().join("zero.star");
        std::fs::write(
            &zero,
            TOMOGRAMS.replace("opticsGroup1 2.39 6.0", "opticsGroup1 0 6.0"),
        )
        .unwrap();
        let e = read_tomograms_star(&zero).unwrap_err().to_string();
        assert!(e.contains("must be positive"), "{e}");
        // A picks file is refused as a tomograms STAR, naming what is missing.
        let e = read_tomograms_star(&path).unwrap_err().to_string();
        assert!(e.contains("_rlnTomoSizeX"), "{e}");
    }
}
