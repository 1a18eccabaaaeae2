//! CTF parameters of micrographs from a cryoSPARC exposures `.cs` file (Patch CTF Estimation,
//! CTFFIND in cryoSPARC, or an exported exposures table), into [`MicrographCtf`]s.
//!
//! cryoSPARC's fields and their RELION equivalents: `ctf/df1_A` → `_rlnDefocusU` (Å),
//! `ctf/df2_A` → `_rlnDefocusV`, `ctf/df_angle_rad` → `_rlnDefocusAngle` (radians → degrees),
//! `ctf/accel_kv` → `_rlnVoltage`, `ctf/cs_mm` → `_rlnSphericalAberration`,
//! `ctf/amp_contrast` → `_rlnAmplitudeContrast`, `ctf/phase_shift_rad` → `_rlnPhaseShift`
//! (radians → degrees), `ctf/ctf_fit_to_A` → `_rlnCtfMaxResolution`; the micrograph is
//! `micrograph_blob/path` and its pixel size `micrograph_blob/psize_A`. cryoSPARC stores
//! imported and motion-corrected files under a numeric UID prefix (`J3/motioncorrected/
//! 14589772112353001_mic_0001_patch_aligned_doseweighted.mrc`): the prefix is dropped from the
//! name so that the entry matches the user's own file (`mic_0001.mrc`, see
//! [`crate::io::micrograph_base`]).

use std::path::Path;

use super::{Ctf, CtfError, MicrographCtf};
use crate::io::cryosparc::{CsFile, without_uid};

/// The fields a CTF needs, and what each is.
const REQUIRED: [(&str, &str); 7] = [
    ("micrograph_blob/path", "the micrograph"),
    ("ctf/df1_A", "defocus U"),
    ("ctf/df2_A", "defocus V"),
    ("ctf/df_angle_rad", "the astigmatism angle"),
    ("ctf/accel_kv", "the voltage"),
    ("ctf/cs_mm", "the spherical aberration"),
    ("ctf/amp_contrast", "the amplitude contrast"),
];

/// Reads the CTF of every exposure of a cryoSPARC exposures `.cs` file.
///
/// # Errors
/// An unreadable or non-`.cs` file; a table without the fields of [`REQUIRED`] (named, e.g. a
/// particles `.cs`, which has `location/*` but no `micrograph_blob/path`); invalid values.
pub fn read_ctf_cs(path: &Path) -> Result<Vec<MicrographCtf>, CtfError> {
    let cs = CsFile::read(path)?;
    if let Some((field, what)) = REQUIRED.iter().find(|(f, _)| !cs.has(f)) {
        return Err(CtfError::Cryosparc(format!(
            "{}: no `{field}` field ({what}): give the exposures .cs of a CTF estimation job \
             (e.g. J4/J4_passthrough_exposures.cs or the Patch CTF job's exposures_ctf_estimated.cs)",
            path.display()
        )));
    }
    let mut out = Vec::with_capacity(cs.len());
    for i in 0..cs.len() {
        let num = |field: &str| cs.number(field, i).unwrap_or(f64::NAN);
        let ctf = Ctf {
            defocus_u_angstrom: num("ctf/df1_A"),
            defocus_v_angstrom: num("ctf/df2_A"),
            defocus_angle_degrees: num("ctf/df_angle_rad").to_degrees(),
            voltage_kv: num("ctf/accel_kv"),
            spherical_aberration_mm: num("ctf/cs_mm"),
            amplitude_contrast: num("ctf/amp_contrast"),
            phase_shift_degrees: cs
                .number("ctf/phase_shift_rad", i)
                .unwrap_or(0.0)
                .to_degrees(),
        };
        ctf.validate()?;
        let path_text = cs.text("micrograph_blob/path", i).unwrap_or_default();
        out.push(MicrographCtf {
            micrograph_name: without_uid(&path_text),
            ctf,
            pixel_size_angstrom: cs.number("micrograph_blob/psize_A", i),
            fit_resolution_angstrom: cs
                .number("ctf/ctf_fit_to_A", i)
                .filter(|r| r.is_finite() && *r > 0.0),
            tilt_degrees: None,
            // Patch CTF estimates the ice thickness (`ctf_stats/ice_thickness_rel`) only
            // relatively; no absolute thickness.
            sample_thickness_angstrom: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::cryosparc::CsColumn;

    #[test]
    fn exposures_give_relion_ctfs_and_particles_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let exposures = dir.path().join("exposures.cs");
        let names = [
            "J3/motioncorrected/14589772112353001_FoilHole_1_Data_2_patch_aligned_doseweighted.mrc",
            "J3/motioncorrected/14589772112353002_FoilHole_3_Data_4_patch_aligned_doseweighted.mrc",
        ];
        CsFile::from_columns(&[
            CsColumn::U64("uid".into(), vec![1, 2]),
            CsColumn::Text(
                "micrograph_blob/path".into(),
                names.iter().map(|s| s.to_string()).collect(),
            ),
            CsColumn::F32("micrograph_blob/psize_A".into(), vec![0.83, 0.83]),
            CsColumn::F32("ctf/accel_kv".into(), vec![300.0, 300.0]),
            CsColumn::F32("ctf/cs_mm".into(), vec![2.7, 2.7]),
            CsColumn::F32("ctf/amp_contrast".into(), vec![0.1, 0.1]),
            CsColumn::F32("ctf/df1_A".into(), vec![15000.0, 21000.0]),
            CsColumn::F32("ctf/df2_A".into(), vec![14000.0, 20500.0]),
            CsColumn::F32(
                "ctf/df_angle_rad".into(),
                vec![std::f32::consts::FRAC_PI_4, -0.5],
            ),
            CsColumn::F32(
                "ctf/phase_shift_rad".into(),
                vec![0.0, std::f32::consts::FRAC_PI_2],
            ),
            CsColumn::F32("ctf/ctf_fit_to_A".into(), vec![3.4, 5.1]),
        ])
        .write(&exposures)
        .unwrap();
        let ctfs = read_ctf_cs(&exposures).unwrap();
        assert_eq!(ctfs.len(), 2);
        let a = &ctfs[0];
        assert_eq!(
            a.micrograph_name,
            "J3/motioncorrected/FoilHole_1_Data_2_patch_aligned_doseweighted.mrc"
        );
        assert_eq!(a.ctf.defocus_u_angstrom, 15000.0);
        assert!((a.ctf.defocus_angle_degrees - 45.0).abs() < 1e-4);
        assert!((ctfs[1].ctf.phase_shift_degrees - 90.0).abs() < 1e-4);
        assert!((a.pixel_size_angstrom.unwrap() - 0.83).abs() < 1e-6);
        assert!((ctfs[1].fit_resolution_angstrom.unwrap() - 5.1).abs() < 1e-6);
        // The user's own file (no UID) finds its entry, through the dose-weighting suffix.
        let found =
            crate::ctf::find_micrograph_ctf(&ctfs, Path::new("/data/FoilHole_3_Data_4.mrc"))
                .unwrap();
        assert_eq!(found.ctf.defocus_u_angstrom, 21000.0);
        // A particles table has no exposure CTF: the missing field is named.
        let particles = dir.path().join("particles.cs");
        CsFile::from_columns(&[
            CsColumn::U64("uid".into(), vec![7]),
            CsColumn::Text("location/micrograph_path".into(), vec![names[0].into()]),
            CsColumn::F32("location/center_x_frac".into(), vec![0.5]),
        ])
        .write(&particles)
        .unwrap();
        let e = read_ctf_cs(&particles).unwrap_err().to_string();
        assert!(
            e.contains("particles.cs") && e.contains("micrograph_blob/path"),
            "{e}"
        );
    }
}
