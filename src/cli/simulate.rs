//! `cryolens simulate --atoms FILE | --map FILE … --output DIR`: a micrograph with exact ground
//! truth from the experimental parameters ([`crate::simulate`]).

use std::path::PathBuf;

use anyhow::Result;

use crate::jobs::Progress;
use crate::simulate::{self, Detector, SimulationConfig, Specimen};

/// `cryolens simulate` options (defaults as [`SimulationConfig::new`]).
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("specimen").required(true).args(["atoms", "map"])))]
pub struct SimulateArgs {
    /// Atomic model of the particle: PDB or mmCIF, gzipped or not (`.pdb`, `.cif`, `.cif.gz`).
    #[arg(long)]
    pub atoms: Option<PathBuf>,
    /// 3D map of the particle (MRC) in V above the ice's potential, with its voxel size.
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// Voxel size of the --map in Å, when its header does not give it.
    #[arg(long, requires = "map")]
    pub map_voxel_size_angstrom: Option<f64>,
    /// Micrograph side, pixels (square).
    #[arg(long, default_value_t = 1024)]
    pub size: usize,
    /// Pixel size, Å/px.
    #[arg(long, default_value_t = 1.0)]
    pub pixel_size_angstrom: f64,
    /// Mean defocus, µm (positive = underfocus).
    #[arg(long, default_value_t = 1.5, allow_negative_numbers = true)]
    pub defocus_um: f64,
    /// Astigmatism: defocus U − V, µm.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub astigmatism_um: f64,
    /// Angle of the U (larger defocus) axis from the x axis, degrees.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub astigmatism_angle_degrees: f64,
    /// Acceleration voltage, kV.
    #[arg(long, default_value_t = 300.0, allow_negative_numbers = true)]
    pub voltage_kv: f64,
    /// Spherical aberration, mm.
    #[arg(long, default_value_t = 2.7, allow_negative_numbers = true)]
    pub cs_mm: f64,
    /// Amplitude contrast fraction, [0, 1).
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub amplitude_contrast: f64,
    /// Phase-plate phase shift, degrees.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub phase_shift_degrees: f64,
    /// B-factor of the CTF envelope exp(−B s²/4), Å².
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub b_factor: f64,
    /// One B-factor for every atom instead of the model's own, Å².
    #[arg(long, allow_negative_numbers = true)]
    pub atom_b_factor: Option<f64>,
    /// Total dose, e⁻/Å².
    #[arg(long, default_value_t = 40.0, allow_negative_numbers = true)]
    pub dose: f64,
    /// Frames of the exposure, split into even and odd sums.
    #[arg(long, default_value_t = 40)]
    pub frames: usize,
    /// Number of particles.
    #[arg(long, default_value_t = 10)]
    pub particles: usize,
    /// Thickness of the vitreous ice slab, nm (0: no ice).
    #[arg(long, default_value_t = 30.0, allow_negative_numbers = true)]
    pub ice_thickness_nm: f64,
    /// Detector: ideal (pure Poisson), k3 or falcon (parametric counting detectors).
    #[arg(long, default_value = "ideal", value_parser = Detector::parse)]
    pub detector: Detector,
    /// Seed of every random choice (same seed, same files).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: truth.mrc, noisy.mrc, even.mrc, odd.mrc, particles.star, simulation.json.
    #[arg(short, long)]
    pub output: PathBuf,
}

impl SimulateArgs {
    /// The simulation's parameters.
    pub fn config(&self) -> SimulationConfig {
        let specimen = match (&self.atoms, &self.map) {
            (Some(path), _) => Specimen::Atoms(path.clone()),
            (None, Some(path)) => Specimen::Map(path.clone()),
            (None, None) => Specimen::Atoms(PathBuf::new()),
        };
        SimulationConfig {
            size: self.size,
            pixel_size_angstrom: self.pixel_size_angstrom,
            voltage_kv: self.voltage_kv,
            cs_mm: self.cs_mm,
            amplitude_contrast: self.amplitude_contrast,
            defocus_um: self.defocus_um,
            astigmatism_um: self.astigmatism_um,
            astigmatism_angle_degrees: self.astigmatism_angle_degrees,
            phase_shift_degrees: self.phase_shift_degrees,
            b_factor: self.b_factor,
            atom_b_factor: self.atom_b_factor,
            map_voxel_size_angstrom: self.map_voxel_size_angstrom,
            dose_e_per_angstrom2: self.dose,
            frames: self.frames,
            particles: self.particles,
            ice_thickness_nm: self.ice_thickness_nm,
            detector: self.detector,
            seed: self.seed,
            ..SimulationConfig::new(specimen)
        }
    }
}

/// Runs `cryolens simulate`: simulates with a progress bar, writes the outputs and prints what
/// was made.
///
/// # Errors
/// A parameter out of range, an unusable specimen, particles that do not fit, or a failed
/// write.
pub fn run(args: &SimulateArgs) -> Result<()> {
    let config = args.config();
    config.validate()?;
    let progress = Progress::new();
    let result =
        super::run_with_progress_bar(&progress, |_| Ok(simulate::simulate(&config, &progress)?));
    let simulation = result?;
    for w in &simulation.derived.warnings {
        eprintln!("warning: {w}");
    }
    let paths = simulate::outputs::write_outputs(&args.output, &config, &simulation)?;
    let d = &simulation.derived;
    println!(
        "simulated {} particle(s) in a {}×{} micrograph at {} Å/px: {:.2} e⁻/px on average (detector {:?}, DQE(0) {:.2}), λ = {:.5} Å, σ = {:.4e} rad/(V·Å), ice {:.2} V",
        simulation.particles.len(),
        config.size,
        config.size,
        config.pixel_size_angstrom,
        d.mean_counts_per_pixel,
        config.detector,
        d.detector_dqe_zero,
        d.wavelength_angstrom,
        d.interaction_constant_rad_per_volt_angstrom,
        d.ice_potential_volts,
    );
    for path in paths {
        println!("wrote {}", path.display());
    }
    Ok(())
}
