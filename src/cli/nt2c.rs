//! `cryolens nt2c MIC.mrc… --atoms FILE --name NAME`: Noise-Transfer2Clean end to end
//! ([`crate::train::nt2c::pipeline`]), with the real data's experimental parameters: pixel size
//! from the header (or `--pixel-size-angstrom`), dose estimated from the counts (or `--dose`),
//! defocus from a CTF file (or `--defocus-um`). The fine denoiser is registered as NAME.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::run_with_progress_bar;
use crate::ctf::{find_micrograph_ctf, read_ctf_file};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Progress;
use crate::models::format;
use crate::simulate::{SimulationConfig, Specimen};
use crate::train::nt2c::{Nt2cRun, Nt2cSettings, PatchSettings, run_nt2c};

/// `cryolens nt2c` options (defaults: [`Nt2cSettings::cpu`]).
#[derive(clap::Args, Debug)]
pub struct Nt2cArgs {
    /// Real micrographs (MRC or TIFF) of one dataset: their background noise is learnt.
    #[arg(required = true)]
    pub micrographs: Vec<PathBuf>,
    /// Atomic model of the particle (PDB or mmCIF, gzipped or not) for the simulated pairs.
    #[arg(long)]
    pub atoms: PathBuf,
    /// Name of the fine denoiser: `cryolens denoise --model NAME` and the GUI then use it.
    #[arg(long)]
    pub name: String,
    /// Work folder for every stage's artefacts (default `nt2c-NAME/`).
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Pixel size, Å/px, when the header has none.
    #[arg(long, value_parser = crate::sampling::parse_pixel_size)]
    pub pixel_size_angstrom: Option<f32>,
    /// Dose, e⁻/Å² (default: estimated from the first micrograph's counts).
    #[arg(long)]
    pub dose: Option<f64>,
    /// CTF results (RELION STAR, CTFFIND, cryoSPARC `.cs`): the simulation takes the mean
    /// defocus of the micrographs found there.
    #[arg(long, value_name = "FILE", conflicts_with = "defocus_um")]
    pub ctf: Option<PathBuf>,
    /// Defocus of the simulation, µm, without a CTF file (default 1.5).
    #[arg(long)]
    pub defocus_um: Option<f64>,
    /// Acceleration voltage, kV.
    #[arg(long, default_value_t = 300.0)]
    pub voltage_kv: f64,
    /// Spherical aberration, mm.
    #[arg(long, default_value_t = 2.7)]
    pub cs_mm: f64,
    /// Amplitude contrast fraction.
    #[arg(long, default_value_t = 0.1)]
    pub amplitude_contrast: f64,
    /// B-factor of the simulation's CTF envelope exp(−B s²/4), Å²: the real data's
    /// high-frequency fall-off (without one the truth keeps every CTF fringe up to Nyquist,
    /// and the denoisers learn to keep that texture).
    #[arg(long, default_value_t = 80.0)]
    pub b_factor: f64,
    /// Detector of the simulation: ideal (pure Poisson), k3 or falcon.
    #[arg(long, default_value = "ideal", value_parser = crate::simulate::Detector::parse)]
    pub detector: crate::simulate::Detector,
    /// Ice thickness of the simulation, nm.
    #[arg(long, default_value_t = 30.0)]
    pub ice_thickness_nm: f64,
    /// Side of the simulated micrographs, px.
    #[arg(long, default_value_t = 768)]
    pub sim_size: usize,
    /// Simulated micrographs.
    #[arg(long, default_value_t = 8)]
    pub simulated: usize,
    /// Particles per simulated micrograph.
    #[arg(long, default_value_t = 4)]
    pub particles: usize,
    /// Coarse denoiser's starting model (`--coarse-from none`: random weights, as the paper).
    #[arg(long, default_value = "cryolens-unet-small")]
    pub coarse_from: String,
    /// Coarse denoiser's training steps.
    #[arg(long, default_value_t = 160)]
    pub coarse_steps: u64,
    /// Fine denoiser's training steps.
    #[arg(long, default_value_t = 160)]
    pub fine_steps: u64,
    /// Noise synthesiser's (WGAN-GP) generator steps.
    #[arg(long, default_value_t = 200)]
    pub gan_steps: usize,
    /// Background patch side d, px (§2.2.2).
    #[arg(long, default_value_t = 320)]
    pub patch_size: usize,
    /// Step between background patches, px (default d / 2).
    #[arg(long)]
    pub patch_step: Option<usize>,
    /// SSIM every pair of a patch's four local patches must exceed to call it background.
    #[arg(long, default_value_t = 0.7)]
    pub ssim_threshold: f64,
    /// Seed of the simulations, crops and the synthesiser.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

/// Runs `cryolens nt2c`.
///
/// # Errors
/// Bad options or inputs; any stage's failure ([`run_nt2c`]).
pub fn run(args: &Nt2cArgs) -> Result<()> {
    let name = args.name.trim();
    if name.is_empty() || name.contains(['/', '\\']) {
        bail!(
            "--name `{}` must be a plain model name (it is registered for --model NAME)",
            args.name
        );
    }
    let first = &args.micrographs[0];
    let image = crate::io::read_micrograph(first)?;
    let pixel = match (args.pixel_size_angstrom, image.pixel_size_angstrom) {
        (Some(p), _) | (None, Some(p)) => f64::from(p),
        (None, None) => bail!(
            "{}: the header has no pixel size (give --pixel-size-angstrom)",
            first.display()
        ),
    };
    let dose = match args.dose {
        Some(d) if d.is_finite() && d > 0.0 => d,
        Some(d) => bail!("--dose must be a positive number of e⁻/Å² (got {d})"),
        None => {
            let d =
                crate::train::nt2c::pipeline::estimate_dose(&image, pixel).with_context(|| {
                    format!(
                        "{}: cannot estimate the dose from the counts (give --dose)",
                        first.display()
                    )
                })?;
            println!(
                "dose: {d:.1} e⁻/Å² estimated from the counts of {} (--dose to set it)",
                first.display()
            );
            d
        }
    };
    let defocus_um = match (&args.ctf, args.defocus_um) {
        (Some(path), _) => mean_defocus_um(path, &args.micrographs)?,
        (None, Some(d)) => d,
        (None, None) => {
            println!("defocus: 1.5 µm (no --ctf or --defocus-um given)");
            1.5
        }
    };
    let simulation = SimulationConfig {
        size: args.sim_size,
        pixel_size_angstrom: pixel,
        voltage_kv: args.voltage_kv,
        cs_mm: args.cs_mm,
        amplitude_contrast: args.amplitude_contrast,
        defocus_um,
        dose_e_per_angstrom2: dose,
        particles: args.particles,
        ice_thickness_nm: args.ice_thickness_nm,
        b_factor: args.b_factor,
        detector: args.detector,
        seed: args.seed,
        ..SimulationConfig::new(Specimen::Atoms(args.atoms.clone()))
    };
    simulation.validate()?;
    let mut settings = Nt2cSettings::cpu(simulation);
    settings.simulated_micrographs = args.simulated;
    settings.coarse_from = (args.coarse_from != "none").then(|| args.coarse_from.clone());
    settings.coarse_steps = args.coarse_steps;
    settings.fine_steps = args.fine_steps;
    settings.gan.steps = args.gan_steps;
    settings.gan.seed = args.seed;
    settings.patches = PatchSettings {
        patch_px: args.patch_size,
        step_px: args.patch_step.unwrap_or(args.patch_size / 2),
        threshold: args.ssim_threshold,
        ..PatchSettings::default()
    };
    if settings.simulated_micrographs < 2 {
        bail!("--simulated must be at least 2 (one is held out to validate)");
    }
    if args.sim_size < settings.crop_px {
        bail!(
            "--sim-size {} is smaller than the {} px training crops",
            args.sim_size,
            settings.crop_px
        );
    }
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("nt2c-{name}")));
    let run = Nt2cRun {
        settings,
        micrographs: args.micrographs.clone(),
        work_dir: work.clone(),
        model_output: format::resolve_output(name),
        command_line: std::iter::once("cryolens".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    println!(
        "NT2C: {} micrograph(s) at {pixel:.4} Å/px, {dose:.1} e⁻/Å², defocus {defocus_um:.2} µm; artefacts in {}",
        args.micrographs.len(),
        work.display()
    );
    let progress = Progress::new();
    let report = run_with_progress_bar(&progress, |bar| {
        run_nt2c(&run, &device, &progress, &mut |line| {
            bar.suspend(|| println!("{line}"));
        })
    })?;
    println!(
        "model {name}: {} (use `cryolens denoise --model {name}`); denoised: {}; report: {}",
        report.model.display(),
        work.join("denoised").display(),
        work.join("report.json").display()
    );
    Ok(())
}

/// The mean defocus ((U + V) / 2) in µm of `micrographs` in the CTF file at `path`.
fn mean_defocus_um(path: &std::path::Path, micrographs: &[PathBuf]) -> Result<f64> {
    let table = read_ctf_file(path).with_context(|| {
        format!(
            "{}: cannot read CTF results (give a RELION STAR, CTFFIND output or a cryoSPARC .cs)",
            path.display()
        )
    })?;
    let found: Vec<f64> = micrographs
        .iter()
        .filter_map(|m| find_micrograph_ctf(&table, m))
        .map(|c| (c.ctf.defocus_u_angstrom + c.ctf.defocus_v_angstrom) / 2e4)
        .collect();
    if found.is_empty() {
        bail!(
            "{}: none of the micrographs is in it (matched by file name)",
            path.display()
        );
    }
    let mean = found.iter().sum::<f64>() / found.len() as f64;
    println!(
        "defocus: {mean:.2} µm, the mean of {} micrograph(s) in {}",
        found.len(),
        path.display()
    );
    Ok(mean)
}
