//! The files of a simulation, each written atomically into the output folder:
//!
//! | file | contents |
//! |---|---|
//! | `truth.mrc` | expected counts per pixel (e⁻/px, float32): everything but the noise |
//! | `noisy.mrc` | counts per pixel (whole numbers as float32), `even + odd` exactly |
//! | `even.mrc`, `odd.mrc` | counts of the even and the odd frames |
//! | `particles.star` | RELION 3.1+ STAR: `data_optics` and `data_particles` with the true centres (`_rlnCoordinateX/Y`, pixels), angles (`_rlnAngleRot/Tilt/Psi`) and CTF of every particle, micrograph `noisy.mrc` |
//! | `simulation.json` | every parameter, the seed, derived quantities and the particles |

use std::path::{Path, PathBuf};

use super::{SimulateError, Simulation, SimulationConfig};
use crate::io::star::{self, Block, StarFile, Table, WriteOptions};

/// Names of the files [`write_outputs`] writes, in order.
pub const OUTPUT_FILES: [&str; 6] = [
    "truth.mrc",
    "noisy.mrc",
    "even.mrc",
    "odd.mrc",
    "particles.star",
    "simulation.json",
];

/// The STAR file of the particles (see the module documentation).
pub fn particles_star(config: &SimulationConfig, simulation: &Simulation) -> StarFile {
    let ctf = config.ctf();
    let mut optics = Table::new(&[
        "rlnOpticsGroup",
        "rlnOpticsGroupName",
        "rlnVoltage",
        "rlnSphericalAberration",
        "rlnAmplitudeContrast",
        "rlnMicrographPixelSize",
    ]);
    // Rows built from constants have the table's width, so pushing cannot fail.
    let _ = optics.push_row(vec![
        "1".into(),
        "opticsGroup1".into(),
        format!("{}", config.voltage_kv),
        format!("{}", config.cs_mm),
        format!("{}", config.amplitude_contrast),
        format!("{}", config.pixel_size_angstrom),
    ]);
    let mut particles = Table::new(&[
        "rlnMicrographName",
        "rlnCoordinateX",
        "rlnCoordinateY",
        "rlnAngleRot",
        "rlnAngleTilt",
        "rlnAnglePsi",
        "rlnDefocusU",
        "rlnDefocusV",
        "rlnDefocusAngle",
        "rlnPhaseShift",
        "rlnCtfBfactor",
        "rlnOpticsGroup",
    ]);
    for p in &simulation.particles {
        let _ = particles.push_row(vec![
            "noisy.mrc".into(),
            format!("{:.6}", p.x_px),
            format!("{:.6}", p.y_px),
            format!("{:.6}", p.angles.rot),
            format!("{:.6}", p.angles.tilt),
            format!("{:.6}", p.angles.psi),
            format!("{:.6}", ctf.defocus_u_angstrom),
            format!("{:.6}", ctf.defocus_v_angstrom),
            format!("{:.6}", ctf.defocus_angle_degrees),
            format!("{:.6}", ctf.phase_shift_degrees),
            format!("{:.6}", config.b_factor),
            "1".into(),
        ]);
    }
    StarFile {
        blocks: vec![
            Block::with_table("optics", optics),
            Block::with_table("particles", particles),
        ],
    }
}

/// The contents of `simulation.json`: the parameters, the derived quantities and the particles.
pub fn simulation_json(config: &SimulationConfig, simulation: &Simulation) -> String {
    let value = serde_json::json!({
        "program": format!("cryolens {}", env!("CARGO_PKG_VERSION")),
        "parameters": config,
        "derived": simulation.derived,
        "particles": simulation.particles,
        "outputs": OUTPUT_FILES,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// The noise-free truth of a simulated micrograph at `path`, when `path` is one of a
/// simulation's outputs (its folder holds `simulation.json` and `truth.mrc`): the truth's
/// path and the factor that puts it in `path`'s units (1 for `noisy.mrc`; ½ for `even.mrc`
/// and `odd.mrc`, which hold half the dose each). `None` for `truth.mrc` itself and for
/// anything else.
pub fn truth_beside(path: &Path) -> Option<(PathBuf, f32)> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    let scale = match name {
        "noisy.mrc" => 1.0,
        "even.mrc" | "odd.mrc" => 0.5,
        _ => return None,
    };
    let truth = dir.join(OUTPUT_FILES[0]);
    (dir.join(OUTPUT_FILES[5]).is_file() && truth.is_file()).then_some((truth, scale))
}

/// Writes every output into `dir` (created if needed), atomically file by file; returns their
/// paths in [`OUTPUT_FILES`] order.
///
/// # Errors
/// The folder cannot be created or a file cannot be written.
pub fn write_outputs(
    dir: &Path,
    config: &SimulationConfig,
    simulation: &Simulation,
) -> Result<Vec<PathBuf>, SimulateError> {
    std::fs::create_dir_all(dir).map_err(|e| SimulateError::Write {
        path: dir.to_path_buf(),
        reason: format!("cannot create the output folder: {e} (choose another --output)"),
    })?;
    let paths: Vec<PathBuf> = OUTPUT_FILES.iter().map(|f| dir.join(f)).collect();
    let images = [
        &simulation.truth,
        &simulation.noisy,
        &simulation.even,
        &simulation.odd,
    ];
    for (path, image) in paths.iter().zip(images) {
        crate::io::mrc::write_image(path, image)?;
    }
    star::write(
        &paths[4],
        &particles_star(config, simulation),
        &WriteOptions::relion(),
    )?;
    crate::io::atomic::write_atomically(&paths[5], simulation_json(config, simulation).as_bytes())
        .map_err(|e| SimulateError::Write {
            path: paths[5].clone(),
            reason: e.to_string(),
        })?;
    Ok(paths)
}
