//! cryoSPARC particle `.cs` files (picks, extracted or refined particles): the location fields
//! as [`MicrographPicks`], and back.
//!
//! cryoSPARC stores a particle's centre as fractions of its micrograph:
//! `location/center_x_frac`, `location/center_y_frac` in [0, 1), with the micrograph's shape
//! `location/micrograph_shape` = (ny, nx) and its path `location/micrograph_path`. In pixels,
//! following pyem's `csparc2star`: x = frac_x · nx, y = frac_y · ny, in the micrograph's
//! storage order (MRC rows, as RELION counts them: no flip between the two for the same MRC
//! file). The picker's score is `pick_stats/ncc_score` when present. The micrograph name drops
//! cryoSPARC's UID prefix ([`crate::io::cryosparc::without_uid`]).

use std::path::Path;

use super::{MicrographPicks, Pick};
use crate::io::IoError;
use crate::io::cryosparc::{CsColumn, CsFile, without_uid};

/// The fields a particle location needs.
const LOCATION: [&str; 4] = [
    "location/micrograph_path",
    "location/micrograph_shape",
    "location/center_x_frac",
    "location/center_y_frac",
];

/// Reads the picks of a cryoSPARC particles `.cs`, grouped by micrograph in order of first
/// appearance.
///
/// # Errors
/// An unreadable or non-`.cs` file; a table without the location fields (named: an exposures
/// `.cs` has none); a shape or fraction that is not a finite number.
pub fn read_cryosparc_particles(path: &Path) -> Result<Vec<MicrographPicks>, IoError> {
    let cs = CsFile::read(path)?;
    if let Some(field) = LOCATION.iter().find(|f| !cs.has(f)) {
        return Err(IoError::invalid(
            path,
            format!(
                "no `{field}` field: not a cryoSPARC particles table (give the particles .cs of \
                 a picking, extraction or refinement job)"
            ),
        ));
    }
    let mut groups: Vec<MicrographPicks> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for i in 0..cs.len() {
        let value = |field: &str, k: usize| cs.number_at(field, i, k).filter(|v| v.is_finite());
        let (Some(ny), Some(nx), Some(fx), Some(fy)) = (
            value("location/micrograph_shape", 0),
            value("location/micrograph_shape", 1),
            value("location/center_x_frac", 0),
            value("location/center_y_frac", 0),
        ) else {
            return Err(IoError::invalid(
                path,
                format!("particle {}: its location is not a finite number", i + 1),
            ));
        };
        let mut pick = Pick::new(fx * nx, fy * ny);
        pick.score = cs.number("pick_stats/ncc_score", i);
        let name = without_uid(&cs.text("location/micrograph_path", i).unwrap_or_default());
        let g = *index.entry(name.clone()).or_insert_with(|| {
            groups.push(MicrographPicks {
                micrograph: name,
                picks: Vec::new(),
            });
            groups.len() - 1
        });
        groups[g].picks.push(pick);
    }
    Ok(groups)
}

/// Writes `micrographs` as a cryoSPARC particles `.cs` (uid, location fields and, when every
/// pick has one, `pick_stats/ncc_score`), atomically; `shape_of` gives each micrograph's
/// (ny, nx) in pixels, the denominators of the fractions.
///
/// # Errors
/// A micrograph without a known shape (named); an unwritable folder.
pub fn write_cryosparc_particles(
    path: &Path,
    micrographs: &[MicrographPicks],
    shape_of: impl Fn(&str) -> Option<(u32, u32)>,
) -> Result<(), IoError> {
    let (mut uid, mut mic, mut shape, mut fx, mut fy, mut score) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for m in micrographs {
        let (ny, nx) = shape_of(&m.micrograph).ok_or_else(|| {
            IoError::invalid(
                path,
                format!(
                    "{}: its shape is unknown (cryoSPARC stores picks as fractions of it)",
                    m.micrograph
                ),
            )
        })?;
        for p in &m.picks {
            uid.push(uid.len() as u64 + 1);
            mic.push(m.micrograph.clone());
            shape.push([ny, nx]);
            fx.push((p.x / f64::from(nx)) as f32);
            fy.push((p.y / f64::from(ny)) as f32);
            score.push(p.score);
        }
    }
    let mut columns = vec![
        CsColumn::U64("uid".into(), uid),
        CsColumn::Text("location/micrograph_path".into(), mic),
        CsColumn::U32Pair("location/micrograph_shape".into(), shape),
        CsColumn::F32("location/center_x_frac".into(), fx),
        CsColumn::F32("location/center_y_frac".into(), fy),
    ];
    if !score.is_empty() && score.iter().all(Option::is_some) {
        columns.push(CsColumn::F32(
            "pick_stats/ncc_score".into(),
            score.into_iter().map(|s| s.unwrap_or(0.0) as f32).collect(),
        ));
    }
    CsFile::from_columns(&columns)
        .write(path)
        .map_err(|e| IoError::invalid(path, format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn particles_round_trip_as_fractions_of_the_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("picked_particles.cs");
        let mut a = Pick::new(1000.0, 250.5);
        a.score = Some(0.75);
        let mut b = Pick::new(5759.0, 0.0);
        b.score = Some(0.5);
        let mics = vec![
            MicrographPicks {
                micrograph: "J3/motioncorrected/mic_0001.mrc".into(),
                picks: vec![a, b],
            },
            MicrographPicks {
                micrograph: "J3/motioncorrected/mic_0002.mrc".into(),
                picks: vec![Pick {
                    score: Some(0.25),
                    ..Pick::new(2880.0, 2046.0)
                }],
            },
        ];
        // K3 micrographs: 5760 × 4092 (nx × ny).
        write_cryosparc_particles(&path, &mics, |_| Some((4092, 5760))).unwrap();
        let cs = CsFile::read(&path).unwrap();
        assert_eq!(
            cs.number_at("location/micrograph_shape", 0, 0),
            Some(4092.0)
        );
        assert!((cs.number("location/center_x_frac", 2).unwrap() - 0.5).abs() < 1e-7);
        let back = read_cryosparc_particles(&path).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].micrograph, mics[0].micrograph);
        for (m, n) in back.iter().zip(&mics) {
            for (p, q) in m.picks.iter().zip(&n.picks) {
                // f32 fractions: well under a hundredth of a pixel on a 5760-pixel side.
                assert!(
                    (p.x - q.x).abs() < 1e-2 && (p.y - q.y).abs() < 1e-2,
                    "{p:?} {q:?}"
                );
                assert_eq!(p.score, q.score);
            }
        }
        let e = write_cryosparc_particles(&path, &mics, |_| None).unwrap_err();
        assert!(e.to_string().contains("shape is unknown"), "{e}");
    }

    #[test]
    fn uid_prefixes_go_and_exposure_tables_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("particles.cs");
        CsFile::from_columns(&[
            CsColumn::U64("uid".into(), vec![9]),
            CsColumn::Text(
                "location/micrograph_path".into(),
                vec!["J2/imported/008765432101234567_FoilHole_5_Data_6.tif".into()],
            ),
            CsColumn::U32Pair("location/micrograph_shape".into(), vec![[4000, 4000]]),
            CsColumn::F32("location/center_x_frac".into(), vec![0.25]),
            CsColumn::F32("location/center_y_frac".into(), vec![0.75]),
        ])
        .write(&path)
        .unwrap();
        let back = read_cryosparc_particles(&path).unwrap();
        assert_eq!(back[0].micrograph, "J2/imported/FoilHole_5_Data_6.tif");
        assert_eq!(back[0].picks[0], Pick::new(1000.0, 3000.0));
        let exposures = dir.path().join("exposures.cs");
        CsFile::from_columns(&[CsColumn::F32("ctf/df1_A".into(), vec![1.0])])
            .write(&exposures)
            .unwrap();
        let e = read_cryosparc_particles(&exposures)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("exposures.cs") && e.contains("location/micrograph_path"),
            "{e}"
        );
    }
}
