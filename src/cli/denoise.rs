//! `cryolens denoise`: micrographs with a 2D model, or tomograms with a 3D model, one at a
//! time, sharded and resumable ([`super::batch`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::batch::{BatchRun, Shard, output_paths, run_batch, sha256_file};
use super::{ctf_table, models_list, progress_bar};
use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::{ComputeDevice, DeviceChoice};
use crate::jobs::Progress;
use crate::models::ModelSpec;

/// `cryolens denoise` options.
#[derive(clap::Args, Debug)]
pub struct DenoiseArgs {
    /// Input micrographs (MRC or TIFF).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// unet | unet-small | fcnn | affine | unet-v0.2.1 | a trained model's NAME | PATH to a
    /// Topaz state dict or Cryolens model. Default: what the GUI takes first, Topaz's unet
    /// when installed, else the bundled cryolens-unet-small (printed; `models list` shows all).
    #[arg(short, long)]
    pub model: Option<String>,
    /// Output folder; each output is `<folders>/<input stem>.mrc` there, `<folders>` being the
    /// input's folders below the folder all inputs share (flat for inputs of one folder).
    /// Inputs that would land on one file, or an output that would overwrite its input, are
    /// refused before anything is written.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// Tile core size in pixels (0: no tiling).
    #[arg(long, default_value_t = 1024)]
    pub patch_size: usize,
    /// Context pixels around each tile. Default: the model's receptive field (exact, cheaper
    /// than Topaz's 500; any value at least that large gives the same result).
    #[arg(long)]
    pub padding: Option<usize>,
    /// Volumes with a 3D model (unet-3d-10a, unet-3d-20a): re-normalise each padded 96³ patch
    /// by its own mean and σ exactly as Topaz does (seams included), instead of once globally.
    #[arg(long)]
    pub topaz_normalisation: bool,
    /// Micrographs: also write `<stem>.png` beside each output, 8-bit in Topaz-Denoise's
    /// display normalisation (the 16× low-pass copy's mean ± 4σ shown black to white), for
    /// figures made the way the paper made them.
    #[arg(long)]
    pub png: bool,
    /// Each micrograph's CTF, for restore models trained on phase-flipped micrographs.
    #[command(flatten)]
    pub ctf: ctf_table::CtfArgs,
    /// With --ctf: keep the denoised micrographs phase flipped (restore's
    /// `--dont_flip_phases_back`); by default they are flipped back.
    #[arg(long, requires = "ctf")]
    pub no_flip_back: bool,
    /// Take only share K of N of the sorted inputs (`--shard 2/8`; a SLURM array task runs
    /// `--shard $SLURM_ARRAY_TASK_ID/N`). Shards write exactly the files an unsharded run
    /// writes.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// Redo every input, even those the output folder's `cryolens_manifest.jsonl` records as
    /// done with the same model and options (by default they are skipped).
    #[arg(long)]
    pub redo: bool,
}
/// The weights file of a model (for its checksum in the manifest).
pub(super) fn weights_path(spec: &ModelSpec) -> PathBuf {
    match spec {
        ModelSpec::Topaz(a) => crate::paths::topaz_dir().join(a.weights_file()),
        ModelSpec::Topaz3d(a) => crate::paths::topaz_dir().join(a.weights_file()),
        ModelSpec::File(p) => p.clone(),
    }
}

/// Creates the folder of `out` (below the batch's output folder) before writing it.
fn create_parent(out: &Path) -> Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

/// Runs `cryolens denoise`.
///
/// # Errors
/// An unknown model, no device, colliding outputs, an unreadable manifest; items that fail
/// are reported one per line and counted in the final error.
pub fn run(args: &DenoiseArgs) -> Result<()> {
    let name = match &args.model {
        Some(m) => m.clone(),
        None => {
            let d = models_list::default_model_name();
            println!("no --model given: using {d} (the GUI's default; `cryolens models list`)");
            d
        }
    };
    let spec = ModelSpec::parse(&name)?;
    let device = ComputeDevice::select(args.device)?;
    println!("device: {}", device.describe());
    let model_sha = sha256_file(&weights_path(&spec))?;
    crate::io::provenance::set_model(&name, &model_sha);
    let outputs = output_paths(&args.output, &args.files, ".mrc")?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let options = format!(
        "patch_size={} padding={:?} topaz_normalisation={} png={} ctf={:?} flip_back={}",
        args.patch_size,
        args.padding,
        args.topaz_normalisation,
        args.png,
        args.ctf.ctf,
        !args.no_flip_back
    );
    let batch = BatchRun {
        inputs: &args.files,
        outputs: &outputs,
        shard: args.shard,
        redo: args.redo,
        model: (name, model_sha),
        options,
        device: device.describe(),
        noun: if spec.is_volume_model() {
            "volumes"
        } else {
            "micrographs"
        },
    };
    if spec.is_volume_model() {
        volumes(args, &spec, &device, &batch)
    } else {
        micrographs(args, &spec, &device, &batch)
    }
}

/// Micrographs with a 2D model, one in memory at a time, with a progress bar.
fn micrographs(
    args: &DenoiseArgs,
    spec: &ModelSpec,
    device: &ComputeDevice,
    batch: &BatchRun<'_>,
) -> Result<()> {
    let denoiser = Denoiser2d::load(spec, device)?;
    println!("model: {}", denoiser.describe());
    let ctfs = args.ctf.table_for(&denoiser)?;
    let tiles = TileConfig {
        patch_size: args.patch_size,
        padding: args.padding,
    };
    let bar = progress_bar(args.files.len() as u64, "micrographs");
    let process = |input: &Path, out: &Path| -> Result<()> {
        bar.set_message(
            input
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let ctf = ctf_table::ctf_for(&denoiser, ctfs.as_ref(), input)?;
        let image = crate::io::read_micrograph(input)?;
        let progress = Progress::new();
        let denoised = denoiser.denoise_with_ctf(
            &image,
            ctf.as_ref(),
            !args.no_flip_back,
            &tiles,
            &progress,
        )?;
        create_parent(out)?;
        crate::io::mrc::write_image(out, &denoised)?;
        if args.png {
            let (black, white) = crate::analysis::section::topaz_display_window(&denoised);
            crate::io::png::write_grey_png(&out.with_extension("png"), &denoised, black, white)?;
        }
        Ok(())
    };
    // `suspend` prints even when the bar is hidden (output not a terminal).
    let result = run_batch(batch, &args.output, process, |line| {
        bar.suspend(line);
        bar.inc(1);
    });
    bar.finish_and_clear();
    result
}

/// Volumes with a 3D model: each input must be a volume (MRC volume or TIFF stack), denoised
/// in Topaz's 96³ patches with 48 voxels of padding (`crate::denoise::volume`), with a
/// progress bar of patches.
fn volumes(
    args: &DenoiseArgs,
    spec: &ModelSpec,
    device: &ComputeDevice,
    batch: &BatchRun<'_>,
) -> Result<()> {
    use crate::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
    let denoiser = Topaz3dDenoiser::load(spec, device)?;
    println!("model: {}", denoiser.describe());
    // Topaz's 96³ cores and 48 voxels of padding; `--patch-size 0` runs the whole volume at
    // once (no tiling), `--padding` overrides the 48.
    let mut cfg = if args.topaz_normalisation {
        VolumeTileConfig::topaz()
    } else {
        VolumeTileConfig::default()
    };
    if args.patch_size == 0 {
        cfg.patch_size = 0;
    }
    if let Some(p) = args.padding {
        cfg.padding = p;
    }
    let process = |input: &Path, out: &Path| -> Result<()> {
        let (kind, volume) = crate::io::read(input)?;
        if kind == crate::io::ContentKind::Image || volume.depth < 2 {
            anyhow::bail!(
                "a 2D image ({}×{}): 3D models denoise volumes; use a 2D model (unet, …)",
                volume.width,
                volume.height
            );
        }
        let progress = Progress::new();
        let finished = std::sync::atomic::AtomicBool::new(false);
        // The bar polls the job's progress from a second thread while this one computes.
        let denoised = std::thread::scope(|scope| {
            scope.spawn(|| {
                let bar = progress_bar(0, "patches");
                while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                    let (done, total) = progress.counts();
                    bar.set_length(total);
                    bar.set_position(done);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                bar.finish_and_clear();
            });
            let result = denoiser.denoise(&volume, &cfg, &progress);
            finished.store(true, std::sync::atomic::Ordering::Relaxed);
            result
        })?;
        create_parent(out)?;
        crate::io::mrc::write_volume(out, &denoised)?;
        Ok(())
    };
    run_batch(batch, &args.output, process, |line| line())
}
