//! `cryolens simulate`: micrographs with exact ground truth, simulated from the experimental
//! parameters (InSilicoTEM-like, Vulović et al. 2013, as used by Noise-Transfer2Clean, Li et al.
//! 2022, §2.2.1).
//!
//! The pipeline, each step in its own file:
//! 1. Specimen ([`atoms`], [`potential`]): an atomic model (PDB/mmCIF) turned into projected
//!    potential with Peng et al. (1996) scattering factors ([`scattering`]), or a 3D map in V.
//! 2. Field ([`orient`], [`ice`]): `particles` copies at orientations uniform on SO(3) and
//!    non-overlapping positions in a vitreous ice slab, which adds its mean potential (displaced
//!    by the atoms) and a random-phase background.
//! 3. Imaging ([`imaging`]): phase φ = σ(V) · V_z, weak-phase image through RELION's CTF with
//!    a B-factor envelope, dose in e⁻/Å², an ideal or a parametric counting detector, Poisson
//!    shot noise split into even and odd frame sums.
//! 4. Outputs ([`outputs`]): `truth.mrc`, `noisy.mrc`, `even.mrc`, `odd.mrc`, `particles.star`,
//!    `simulation.json`.
//!
//! Everything random comes from [`crate::rng::Rng`] streams of the one seed, so a seed gives the
//! same files on every machine and thread count.

pub mod atoms;
pub mod fft2;
pub mod ice;
pub mod imaging;
pub mod orient;
pub mod outputs;
pub mod potential;
pub mod scattering;

use std::path::PathBuf;

use rayon::prelude::*;

pub use imaging::Detector;
pub use orient::{EulerAngles, Placement, PlacementError};

use crate::ctf::Ctf;
use crate::image::Image;
use crate::jobs::Progress;
use crate::rng::Rng;
use atoms::AtomicModel;
use potential::{MapSpecimen, Patch, SolventExclusion};

/// Volume of ice displaced by one non-hydrogen atom of a protein, Å³: a partial specific
/// volume of 0.73 cm³/g (1.21 Å³/Da) times about 13.8 Da per heavy atom with its hydrogens.
pub const DISPLACED_VOLUME_PER_ATOM_ANGSTROM3: f64 = 16.7;

/// Errors of the simulator, each one line naming what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// A parameter out of its physical range.
    #[error("{what} = {value}: {why}")]
    Parameter {
        /// The option, as on the command line.
        what: &'static str,
        /// The value given.
        value: String,
        /// The valid range and what to do.
        why: &'static str,
    },
    /// An input file that cannot be used.
    #[error("{}: {reason}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The particles do not fit.
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// Writing a file failed.
    #[error("{}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        reason: String,
    },
    /// The job was cancelled.
    #[error("the simulation was cancelled")]
    Cancelled,
}

/// What the particles are made of.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Specimen {
    /// An atomic model (PDB or mmCIF, gzipped or not).
    Atoms(PathBuf),
    /// A 3D map (MRC) whose values are the potential above the ice's, in V, with its voxel size
    /// in the header.
    Map(PathBuf),
}

/// Every parameter of a simulation (written to `simulation.json`). Lengths in Å unless the
/// name says otherwise; defocus positive for underfocus (RELION).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SimulationConfig {
    /// The specimen.
    pub specimen: Specimen,
    /// Micrograph side, pixels (square).
    pub size: usize,
    /// Pixel size, Å/px.
    pub pixel_size_angstrom: f64,
    /// Acceleration voltage, kV.
    pub voltage_kv: f64,
    /// Spherical aberration, mm.
    pub cs_mm: f64,
    /// Amplitude contrast fraction, [0, 1).
    pub amplitude_contrast: f64,
    /// Mean defocus, µm (positive = underfocus).
    pub defocus_um: f64,
    /// Astigmatism: defocus U − V, µm (U = mean + half, V = mean − half).
    pub astigmatism_um: f64,
    /// Angle of the U axis from the x axis, degrees (`_rlnDefocusAngle`).
    pub astigmatism_angle_degrees: f64,
    /// Phase-plate phase shift, degrees.
    pub phase_shift_degrees: f64,
    /// B-factor of the CTF envelope exp(−B s²/4), Å² (`_rlnCtfBfactor`).
    pub b_factor: f64,
    /// One B-factor for every atom instead of the model's, Å².
    pub atom_b_factor: Option<f64>,
    /// Voxel size of a map specimen instead of its header's, Å.
    pub map_voxel_size_angstrom: Option<f64>,
    /// Total dose, e⁻/Å².
    pub dose_e_per_angstrom2: f64,
    /// Frames of the exposure (split into even and odd sums).
    pub frames: usize,
    /// Number of particles.
    pub particles: usize,
    /// Ice thickness, nm.
    pub ice_thickness_nm: f64,
    /// Detector model.
    pub detector: Detector,
    /// Seed of every random choice.
    pub seed: u64,
}

impl SimulationConfig {
    /// The documented defaults for `specimen`: 1024 px at 1 Å/px, 300 kV, Cs 2.7 mm, amplitude
    /// contrast 0.1, defocus 1.5 µm without astigmatism, no phase shift or envelope, dose
    /// 40 e⁻/Å² in 40 frames, 10 particles, 30 nm of ice, ideal detector, seed 0.
    pub fn new(specimen: Specimen) -> Self {
        Self {
            specimen,
            size: 1024,
            pixel_size_angstrom: 1.0,
            voltage_kv: 300.0,
            cs_mm: 2.7,
            amplitude_contrast: 0.1,
            defocus_um: 1.5,
            astigmatism_um: 0.0,
            astigmatism_angle_degrees: 0.0,
            phase_shift_degrees: 0.0,
            b_factor: 0.0,
            atom_b_factor: None,
            map_voxel_size_angstrom: None,
            dose_e_per_angstrom2: 40.0,
            frames: 40,
            particles: 10,
            ice_thickness_nm: 30.0,
            detector: Detector::Ideal,
            seed: 0,
        }
    }

    /// The micrograph's CTF in RELION's terms (defocus in Å).
    pub fn ctf(&self) -> Ctf {
        let mean = self.defocus_um * 1e4;
        let half = 0.5 * self.astigmatism_um * 1e4;
        Ctf {
            defocus_u_angstrom: mean + half,
            defocus_v_angstrom: mean - half,
            defocus_angle_degrees: self.astigmatism_angle_degrees,
            voltage_kv: self.voltage_kv,
            spherical_aberration_mm: self.cs_mm,
            amplitude_contrast: self.amplitude_contrast,
            phase_shift_degrees: self.phase_shift_degrees,
        }
    }

    /// Checks every parameter's physical range.
    ///
    /// # Errors
    /// [`SimulateError::Parameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), SimulateError> {
        let bad = |what: &'static str, value: String, why: &'static str| {
            Err(SimulateError::Parameter { what, value, why })
        };
        if !(8..=8192).contains(&self.size) {
            return bad("--size", self.size.to_string(), "must be 8–8192 pixels");
        }
        let checks: [(&'static str, f64, bool, &'static str); 11] = [
            (
                "--pixel-size-angstrom",
                self.pixel_size_angstrom,
                (0.05..=20.0).contains(&self.pixel_size_angstrom),
                "must be 0.05–20 Å/px",
            ),
            (
                "--voltage-kv",
                self.voltage_kv,
                (10.0..=3000.0).contains(&self.voltage_kv),
                "must be 10–3000 kV (cryo-EM uses 100–300)",
            ),
            (
                "--cs-mm",
                self.cs_mm,
                (0.0..=20.0).contains(&self.cs_mm),
                "must be 0–20 mm",
            ),
            (
                "--amplitude-contrast",
                self.amplitude_contrast,
                (0.0..1.0).contains(&self.amplitude_contrast),
                "must be a fraction in [0, 1) (0.07–0.1 for cryo-EM)",
            ),
            (
                "--defocus-um",
                self.defocus_um,
                (-20.0..=20.0).contains(&self.defocus_um),
                "must be −20 to 20 µm (positive = underfocus)",
            ),
            (
                "--astigmatism-um",
                self.astigmatism_um,
                self.astigmatism_um.abs() <= 10.0,
                "must be −10 to 10 µm",
            ),
            (
                "--astigmatism-angle-degrees",
                self.astigmatism_angle_degrees,
                self.astigmatism_angle_degrees.is_finite(),
                "must be a finite angle",
            ),
            (
                "--phase-shift-degrees",
                self.phase_shift_degrees,
                self.phase_shift_degrees.is_finite(),
                "must be a finite angle",
            ),
            (
                "--b-factor",
                self.b_factor,
                (0.0..=10_000.0).contains(&self.b_factor),
                "must be 0–10000 Å²",
            ),
            (
                "--dose",
                self.dose_e_per_angstrom2,
                self.dose_e_per_angstrom2 > 0.0 && self.dose_e_per_angstrom2 <= 10_000.0,
                "must be > 0 and ≤ 10000 e/Å² (cryo-EM uses 20–80)",
            ),
            (
                "--ice-thickness-nm",
                self.ice_thickness_nm,
                (0.0..=1000.0).contains(&self.ice_thickness_nm),
                "must be 0–1000 nm (0: no ice)",
            ),
        ];
        for (what, value, ok, why) in checks {
            if !(ok && value.is_finite()) {
                return bad(what, value.to_string(), why);
            }
        }
        if let Some(b) = self.atom_b_factor
            && !(b.is_finite() && (0.0..=1000.0).contains(&b))
        {
            return bad("--atom-b-factor", b.to_string(), "must be 0–1000 Å²");
        }
        if let Some(v) = self.map_voxel_size_angstrom
            && !(v.is_finite() && (0.05..=100.0).contains(&v))
        {
            return bad(
                "--map-voxel-size-angstrom",
                v.to_string(),
                "must be 0.05–100 Å",
            );
        }
        if self.frames == 0 || self.frames > 10_000 {
            return bad("--frames", self.frames.to_string(), "must be 1–10000");
        }
        if self.particles > 100_000 {
            return bad(
                "--particles",
                self.particles.to_string(),
                "must be at most 100000",
            );
        }
        Ok(())
    }
}

/// A particle specimen ready to project.
enum Loaded {
    Atoms(AtomicModel),
    Map(MapSpecimen, f64),
}

impl Loaded {
    fn radius_angstrom(&self) -> f64 {
        match self {
            Self::Atoms(m) => m.radius_angstrom + 2.0,
            Self::Map(_, r) => *r,
        }
    }
}

/// Quantities the simulation derived (written to `simulation.json` beside the parameters).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Derived {
    /// Relativistic electron wavelength, Å.
    pub wavelength_angstrom: f64,
    /// Interaction constant σ, rad/(V·Å).
    pub interaction_constant_rad_per_volt_angstrom: f64,
    /// Mean inner potential of the ice, V.
    pub ice_potential_volts: f64,
    /// Particle radius used for placement, Å.
    pub particle_radius_angstrom: f64,
    /// Atoms in the model (0 for a map).
    pub atoms: usize,
    /// Mean expected counts per pixel of the truth.
    pub mean_counts_per_pixel: f64,
    /// DQE at zero frequency of the detector.
    pub detector_dqe_zero: f64,
    /// Frames summed into even and odd.
    pub frames_even_odd: (usize, usize),
    /// Warnings, one line each.
    pub warnings: Vec<String>,
}

/// A simulated micrograph: the noise-free expected counts, the counts and their even/odd halves
/// (all `size × size`, e⁻ counts per pixel, with the pixel size), and the particles.
#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    /// Expected counts per pixel: the mean of `noisy` (everything but the noise).
    pub truth: Image,
    /// Counts, `even + odd`.
    pub noisy: Image,
    /// Counts of the even frames.
    pub even: Image,
    /// Counts of the odd frames.
    pub odd: Image,
    /// The particles, in placement order.
    pub particles: Vec<Placement>,
    /// Derived quantities and warnings.
    pub derived: Derived,
}

/// Reads the specimen.
fn load(config: &SimulationConfig) -> Result<(Loaded, Vec<String>), SimulateError> {
    match &config.specimen {
        Specimen::Atoms(path) => {
            let model = atoms::read_atomic_model(path)?;
            let warnings = model.warnings.clone();
            Ok((Loaded::Atoms(model), warnings))
        }
        Specimen::Map(path) => {
            let (map, radius) = potential::read_map(path, config.map_voxel_size_angstrom)?;
            Ok((Loaded::Map(map, radius), Vec::new()))
        }
    }
}

/// Runs a simulation (see the module documentation); `progress` counts the particles projected
/// plus four steps, and cancels between steps.
///
/// # Errors
/// A bad parameter, an unusable specimen, particles that do not fit, or cancellation.
pub fn simulate(
    config: &SimulationConfig,
    progress: &Progress,
) -> Result<Simulation, SimulateError> {
    config.validate()?;
    progress.start(config.particles as u64 + 4, "reading the specimen");
    let (specimen, mut warnings) = load(config)?;
    progress.step();
    let n = config.size;
    let p = config.pixel_size_angstrom;
    let thickness = config.ice_thickness_nm * 10.0;
    let radius = specimen.radius_angstrom();
    if config.particles > 0 && thickness > 0.0 && 2.0 * radius > thickness {
        warnings.push(format!(
            "the particle ({:.0} Å across) is thicker than the ice ({thickness:.0} Å): particles sit at the slab's mid-plane",
            2.0 * radius
        ));
    }
    let mut rng = Rng::stream(config.seed, 0);
    let particles =
        orient::place_particles(&mut rng, config.particles, radius / p, n, p, thickness)?;
    let ice_volts = ice::mean_potential_volts();
    let solvent = (thickness > 0.0).then_some(SolventExclusion {
        ice_potential_volts: ice_volts,
        volume_angstrom3: DISPLACED_VOLUME_PER_ATOM_ANGSTROM3,
    });
    progress.set_message("projecting particles");
    let patches: Vec<Patch> = particles
        .par_iter()
        .map(|placement| {
            let a = orient::relion_matrix(&placement.angles);
            let patch = match &specimen {
                Loaded::Atoms(model) => potential::project_atoms(
                    model,
                    &a,
                    placement.x_px,
                    placement.y_px,
                    p,
                    config.atom_b_factor,
                    solvent,
                ),
                Loaded::Map(map, _) => {
                    potential::project_map(map, &a, placement.x_px, placement.y_px, p)
                }
            };
            progress.step();
            patch
        })
        .collect();
    if progress.is_cancelled() {
        return Err(SimulateError::Cancelled);
    }
    progress.set_message("ice");
    let mut projected = vec![ice_volts * thickness; n * n];
    if thickness > 0.0 {
        let background = ice::random_phase_background(n, p, thickness, config.seed ^ 0x1CE);
        projected
            .iter_mut()
            .zip(background)
            .for_each(|(v, b)| *v += b);
    }
    for patch in &patches {
        patch.add_to(&mut projected, n, n);
    }
    progress.step();
    progress.set_message("imaging");
    let sigma = scattering::interaction_constant(config.voltage_kv);
    let phase: Vec<f64> = projected.iter().map(|v| sigma * v).collect();
    let intensity = imaging::weak_phase_intensity(&phase, n, p, &config.ctf(), config.b_factor);
    let negative = intensity.iter().filter(|&&i| i < 0.0).count();
    if negative > 0 {
        warnings.push(format!(
            "the weak-phase intensity is negative at {negative} pixel(s), set to 0 there: the phase is not weak (use thinner ice, a --b-factor envelope of 50–100 Å² or a coarser pixel size)"
        ));
    }
    let truth = imaging::expected_counts(
        &intensity,
        n,
        config.dose_e_per_angstrom2 * p * p,
        config.detector,
    );
    progress.step();
    if progress.is_cancelled() {
        return Err(SimulateError::Cancelled);
    }
    progress.set_message("shot noise");
    let frames_even = config.frames.div_ceil(2);
    let frames_odd = config.frames / 2;
    let share_even = frames_even as f64 / config.frames as f64;
    let even = imaging::sample_counts(
        &truth,
        n,
        share_even,
        config.detector,
        Rng::stream(config.seed, 1).next_u64(),
    );
    let odd = imaging::sample_counts(
        &truth,
        n,
        1.0 - share_even,
        config.detector,
        Rng::stream(config.seed, 2).next_u64(),
    );
    let noisy: Vec<f32> = even.iter().zip(&odd).map(|(e, o)| e + o).collect();
    progress.step();
    let mean_counts = truth.iter().sum::<f64>() / truth.len() as f64;
    let image = |data: Vec<f32>| Image {
        width: n,
        height: n,
        data,
        pixel_size_angstrom: Some(p as f32),
    };
    Ok(Simulation {
        truth: image(truth.iter().map(|&v| v as f32).collect()),
        noisy: image(noisy),
        even: image(even),
        odd: image(odd),
        particles,
        derived: Derived {
            wavelength_angstrom: crate::ctf::electron_wavelength_angstrom(config.voltage_kv),
            interaction_constant_rad_per_volt_angstrom: sigma,
            ice_potential_volts: if thickness > 0.0 { ice_volts } else { 0.0 },
            particle_radius_angstrom: radius,
            atoms: match &specimen {
                Loaded::Atoms(m) => m.atoms.len(),
                Loaded::Map(..) => 0,
            },
            mean_counts_per_pixel: mean_counts,
            detector_dqe_zero: config.detector.dqe_zero(),
            frames_even_odd: (frames_even, frames_odd),
            warnings,
        },
    })
}
