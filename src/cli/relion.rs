//! `cryolens relion denoise` and `cryolens relion screen`: Cryolens as a RELION 4/5 External
//! job. RELION runs the program
//! from the project folder with `--o JOBDIR --in_mics STAR` and the job's own options; the job
//! writes its outputs under JOBDIR, declares them in `RELION_OUTPUT_NODES.star`, and ends with
//! `RELION_JOB_EXIT_SUCCESS` or `RELION_JOB_EXIT_FAILURE` (RELION itself sends stdout and
//! stderr to `run.out` and `run.err`). Rerunning the job continues: the batch manifest
//! ([`super::batch`]) skips the micrographs already denoised with the same model and options.
//!
//! Outputs: `JOBDIR/Micrographs/<folders>/<stem>.mrc` (the input's folders below the folder all
//! inputs share) and `JOBDIR/micrographs_denoised.star`, the input STAR with every block kept
//! (optics groups, CTF columns) and `_rlnMicrographName` pointing at the denoised micrographs,
//! paths relative to the project folder as RELION writes them.
//!
//! `relion screen` screens the input STAR's micrographs into the job folder as `cryolens
//! screen` does (`screening.csv`, thumbnails, spectra) and declares
//! `accepted_micrographs.star` (the input with every block kept and only the accepted rows;
//! `--reject_if` rules as `--reject-if`); rerunning it continues (micrographs already in the
//! table at the same size and time are not screened again).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::batch::{BatchRun, output_paths, run_batch, sha256_file};
use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::io::star::{self, Block, StarFile, Table, WriteOptions};
use crate::jobs::Progress;
use crate::models::ModelSpec;

/// The STAR file of the denoised micrographs, in the job folder.
pub const OUTPUT_STAR: &str = "micrographs_denoised.star";

/// The arguments RELION gives every External job, and the model and device ours take.
#[derive(clap::Args, Debug)]
pub struct RelionJobArgs {
    /// The job folder RELION gives (`External/job012/`).
    #[arg(long = "o")]
    pub job_dir: PathBuf,
    /// The micrographs STAR RELION gives (`CtfFind/job004/micrographs_ctf.star`).
    #[arg(long = "in_mics")]
    pub in_mics: PathBuf,
    /// The model (as `cryolens denoise --model`; default as there).
    #[arg(long)]
    pub model: Option<String>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Threads RELION asks for (the CPU path uses all cores; accepted for RELION's sake).
    #[arg(long = "j")]
    pub threads: Option<usize>,
}

/// `cryolens relion denoise` options.
#[derive(clap::Args, Debug)]
pub struct RelionDenoiseArgs {
    /// RELION's arguments, the model and the device.
    #[command(flatten)]
    pub job: RelionJobArgs,
}

/// `cryolens relion screen` options.
#[derive(clap::Args, Debug)]
pub struct RelionScreenArgs {
    /// RELION's arguments, the model and the device.
    #[command(flatten)]
    pub job: RelionJobArgs,
    /// Rejection rules, as `cryolens screen --reject-if` (`ice_ring_db>3`).
    #[arg(long = "reject_if", value_name = "METRIC<VALUE")]
    pub reject_if: Vec<crate::screen::curate::Threshold>,
}

/// The micrograph names of `file`'s micrographs table (`data_micrographs`, or RELION 3.0's
/// single table), with the index of that block.
///
/// # Errors
/// No table with `_rlnMicrographName`.
fn micrograph_names(file: &StarFile, path: &Path) -> Result<(usize, Vec<String>)> {
    let found = file
        .blocks
        .iter()
        .enumerate()
        .filter(|(_, b)| b.has_column("rlnMicrographName"))
        .max_by_key(|(_, b)| b.name == "micrographs");
    let Some((i, block)) = found else {
        bail!(
            "{}: no table with `_rlnMicrographName` (give the micrographs STAR of a Motion \
             correction or CTF estimation job)",
            path.display()
        );
    };
    let names = (0..block.len())
        .map(|r| block.get("rlnMicrographName", r).map(str::to_string))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((i, names))
}

/// `file` with the micrograph names of block `index` replaced by `names`.
fn with_names(file: &StarFile, index: usize, names: &[String]) -> Result<StarFile> {
    let mut out = file.clone();
    let block = &file.blocks[index];
    let table = block.table.as_ref().context("micrographs table")?;
    let col = table
        .column_index("rlnMicrographName")
        .context("no _rlnMicrographName")?;
    let mut new = Table::new(table.columns());
    for (row, name) in table.rows().iter().zip(names) {
        let mut row = row.clone();
        row[col] = name.clone();
        new.push_row(row)?;
    }
    out.blocks[index] = Block {
        table: Some(new),
        ..block.clone()
    };
    Ok(out)
}

/// Runs the denoising job; see the module docs.
///
/// # Errors
/// An unreadable or unsuitable STAR, an unknown model, colliding outputs; micrographs that
/// fail (each reported on stderr); an unwritable job folder. `RELION_JOB_EXIT_FAILURE` is
/// written in every case.
pub fn denoise(args: &RelionDenoiseArgs) -> Result<()> {
    with_exit_marker(&args.job.job_dir, run_job(args))
}

/// Runs the screening job; see the module docs.
///
/// # Errors
/// As `cryolens screen` (micrographs that fail are rows with their error, and make the job
/// fail after the others are screened); an unwritable job folder.
pub fn screen(args: &RelionScreenArgs) -> Result<()> {
    let screen_args = super::screen::ScreenArgs {
        inputs: vec![args.job.in_mics.to_string_lossy().into_owned()],
        output: args.job.job_dir.clone(),
        watch: false,
        model: args.job.model.clone(),
        device: args.job.device,
        thumbnail_size: super::screen::THUMBNAIL_SIZE,
        no_denoised_snr: false,
        ctf: None,
        poll_seconds: super::screen::POLL_SECONDS,
        settle_seconds: super::screen::SETTLE_SECONDS,
        idle_exit_seconds: None,
        reject_if: args.reject_if.clone(),
        redo: false,
        shard: None,
    };
    let result = super::screen::run(&screen_args);
    let accepted = args.job.job_dir.join("accepted_micrographs.star");
    let declared = if accepted.is_file() {
        write_output_nodes(&args.job.job_dir, &accepted)
    } else {
        Ok(())
    };
    with_exit_marker(&args.job.job_dir, result.and(declared))
}

/// Writes `RELION_JOB_EXIT_SUCCESS` or `RELION_JOB_EXIT_FAILURE` for `result` (removing the
/// other), then returns `result`.
fn with_exit_marker(job_dir: &Path, result: Result<()>) -> Result<()> {
    let (marker, stale) = if result.is_ok() {
        ("RELION_JOB_EXIT_SUCCESS", "RELION_JOB_EXIT_FAILURE")
    } else {
        ("RELION_JOB_EXIT_FAILURE", "RELION_JOB_EXIT_SUCCESS")
    };
    let _ = std::fs::remove_file(job_dir.join(stale));
    std::fs::create_dir_all(job_dir)
        .and_then(|()| std::fs::write(job_dir.join(marker), b""))
        .with_context(|| format!("{}: cannot write {marker}", job_dir.display()))?;
    result
}

/// Declares `star` (a micrographs STAR) as the job's output in `RELION_OUTPUT_NODES.star`.
fn write_output_nodes(job_dir: &Path, star_path: &Path) -> Result<()> {
    let mut nodes = Table::new(&["rlnPipeLineNodeName", "rlnPipeLineNodeTypeLabel"]);
    nodes.push_row(vec![
        star_path.to_string_lossy().into_owned(),
        "MicrographGroupMetadata.star.relion".into(),
    ])?;
    star::write(
        &job_dir.join("RELION_OUTPUT_NODES.star"),
        &StarFile {
            blocks: vec![Block::with_table("output_nodes", nodes)],
        },
        &WriteOptions::relion(),
    )?;
    Ok(())
}

fn run_job(args: &RelionDenoiseArgs) -> Result<()> {
    let file = star::read(&args.job.in_mics)?;
    let (index, names) = micrograph_names(&file, &args.job.in_mics)?;
    let inputs: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
    let out_dir = args.job.job_dir.join("Micrographs");
    let outputs = output_paths(&out_dir, &inputs, ".mrc")?;
    let name = args
        .job
        .model
        .clone()
        .unwrap_or_else(super::models_list::default_model_name);
    let spec = ModelSpec::parse(&name)?;
    if spec.is_volume_model() {
        bail!("{name} is a 3D model: a RELION micrographs job needs a 2D model (unet, …)");
    }
    let device = ComputeDevice::select(args.job.device)?;
    println!("device: {}", device.describe());
    let denoiser = Denoiser2d::load(&spec, &device)?;
    println!("model: {}", denoiser.describe());
    let model_sha = sha256_file(&super::denoise::weights_path(&spec))?;
    crate::io::provenance::set_model(&name, &model_sha);
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let batch = BatchRun {
        inputs: &inputs,
        outputs: &outputs,
        shard: None,
        redo: false,
        model: (name, model_sha),
        options: "relion".into(),
        device: device.describe(),
        noun: "micrographs",
    };
    let tiles = TileConfig::default();
    let process = |input: &Path, out: &Path| -> Result<()> {
        let image = crate::io::read_micrograph(input)?;
        let denoised = denoiser.denoise(&image, &tiles, &Progress::new())?;
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::io::mrc::write_image(out, &denoised)?;
        Ok(())
    };
    run_batch(&batch, &args.job.job_dir, process, |line| line())?;
    let out_names: Vec<String> = outputs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let out_star = args.job.job_dir.join(OUTPUT_STAR);
    star::write(
        &out_star,
        &with_names(&file, index, &out_names)?,
        &WriteOptions::relion(),
    )?;
    write_output_nodes(&args.job.job_dir, &out_star)?;
    println!(
        "wrote {} ({} micrographs)",
        out_star.display(),
        outputs.len()
    );
    Ok(())
}
