//! The bodies of the app's jobs that make what the GUI shows (they run on workers): reading
//! a micrograph into a [`ViewImage`] with its thumbnail, denoising it, reading half-maps and
//! a true map. The science they call lives in the library.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eframe::egui;

use crate::analysis::section::{Micrograph, micrograph_from, read_micrograph, section_contrast};
use crate::denoise::{Denoiser2d, TileConfig};
use crate::device::ComputeDevice;
use crate::image::Volume;
use crate::io;
use crate::io::mapped::VolumeSource;
use crate::jobs::Progress;

use super::panels::micrograph_list;
use super::panels::models::DenoiserChoice;
use super::state::{Document, Histogram, SAMPLE_NAME, ViewImage};

/// The real micrograph bundled with Cryolens (1024×1024 crop, 0.8538 Å/px).
pub static SAMPLE_MRC: &[u8] = include_bytes!("../../assets/sample.mrc");

/// A micrograph that was read, before it becomes the open document.
pub struct Loaded {
    /// Its index in the picking session.
    pub index: usize,
    /// Its name for display.
    pub name: String,
    /// A note for the status bar.
    pub note: Option<String>,
    /// The image (a volume's middle section).
    pub raw: ViewImage,
    /// The whole volume when the file is a tomogram, map or stack (memory-mapped when large).
    pub volume: Option<Arc<dyn VolumeSource>>,
    /// The micrograph list's thumbnail, made on the worker.
    pub thumbnail: egui::ColorImage,
    /// The noise-free truth of a simulated micrograph (`cryolens simulate`'s `truth.mrc`
    /// beside `noisy.mrc`, in the micrograph's units: halved for `even.mrc`/`odd.mrc`).
    pub truth: Option<ViewImage>,
}

/// A prefetched micrograph and, when a model was selected, its denoised view.
pub type Prefetched = (Loaded, Option<(&'static str, ViewImage)>);

/// A section of a volume and, when it was denoised by a 3D model, the same section of that.
pub type Sections = (ViewImage, Option<ViewImage>);

/// `path` made absolute (relative to the working folder), so that sessions match micrographs
/// however they were named on the command line.
pub fn absolute(path: &Path) -> PathBuf {
    if path == Path::new(SAMPLE_NAME) {
        return path.to_path_buf();
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reads micrograph `index` of the session (the bundled sample for [`SAMPLE_NAME`]) and
/// computes its statistics.
pub fn load_micrograph(index: usize, path: &Path, p: &Progress) -> anyhow::Result<Loaded> {
    p.set_message("reading");
    let micrograph = if path == Path::new(SAMPLE_NAME) {
        let (kind, volume) = io::mrc::read_bytes(SAMPLE_MRC)?;
        micrograph_from(SAMPLE_NAME.to_string(), kind, Arc::new(volume))?
    } else {
        read_micrograph(path)?
    };
    let Micrograph {
        name,
        note,
        image,
        volume,
    } = micrograph;
    p.set_message("computing statistics");
    let thumbnail = micrograph_list::thumbnail(&image, micrograph_list::THUMBNAIL_SIDE);
    let truth = match crate::simulate::outputs::truth_beside(path) {
        Some((truth_path, scale)) => {
            p.set_message("reading the simulation's truth");
            let mut truth = io::read_micrograph(&truth_path)?;
            truth.data.iter_mut().for_each(|v| *v *= scale);
            if (truth.width, truth.height) != (image.width, image.height) {
                anyhow::bail!(
                    "{}: {}×{} pixels, not the micrograph's {}×{} (simulate again)",
                    truth_path.display(),
                    truth.width,
                    truth.height,
                    image.width,
                    image.height
                );
            }
            Some(ViewImage::new(truth))
        }
        None => None,
    };
    Ok(Loaded {
        index,
        name,
        note,
        raw: match &volume {
            Some(v) => section_view(&**v, image),
            None => ViewImage::new(image),
        },
        volume,
        thumbnail,
        truth,
    })
}

/// Names for display, FSC and the maps of a pair of half-maps.
pub type HalfMapFsc = (
    String,
    crate::analysis::halfmap::FscReport,
    crate::analysis::halfmap::HalfMaps,
);

/// Epochs a running crefDenoiser training has finished (shared with its job).
pub type CrefEpochs = Arc<std::sync::Mutex<Vec<crate::train::cref::CrefEpoch>>>;

pub fn file_name(p: &Path) -> String {
    p.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

/// Reads two half-maps and computes their FSC (one-voxel shells); the names for display.
pub fn half_map_fsc(a: &Path, b: &Path, p: &Progress) -> anyhow::Result<HalfMapFsc> {
    p.set_message("reading half-maps");
    let maps = crate::analysis::halfmap::HalfMaps::read(a, b, None, &Default::default())?;
    p.set_message("FSC");
    let report = maps.fsc(1.0)?;
    Ok((
        format!("{} vs {}", file_name(a), file_name(b)),
        report,
        maps,
    ))
}

/// Reads a true map for the crefDenoiser evaluation (its file name for display).
pub fn read_truth_map(path: &Path) -> anyhow::Result<(String, Volume)> {
    let (_, v) = crate::io::read(path)?;
    Ok((file_name(path), v))
}

/// A document from a read micrograph and, when prefetched, its denoised view.
pub fn document(loaded: Loaded, denoised: Option<(&'static str, ViewImage)>) -> Document {
    let mut doc = Document::new(
        loaded.index,
        loaded.name,
        loaded.note,
        loaded.raw,
        loaded.volume,
    );
    if let Some((model, img)) = denoised {
        doc.denoised.insert(model, Arc::new(img));
    }
    doc.truth = loaded.truth.map(Arc::new);
    doc
}

/// A section of `volume` ready to show, with the volume's shared display statistics when it
/// has them (see [`section_contrast`]), else the section's own.
pub fn section_view(volume: &dyn VolumeSource, image: crate::image::Image) -> ViewImage {
    let mut view = ViewImage::new(image);
    if let Some((median, sigma)) = section_contrast(volume) {
        view.stats.mean = f64::from(median);
        view.stats.std = f64::from(sigma);
        view.histogram = Histogram::of(&view.image.data, &view.stats);
    }
    view
}

/// A number per crefDenoiser run in this process, so each run's denoised map has its own file.
pub fn cref_run_number() -> usize {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Longest side of the denoised preview, pixels: a little under the height a 4k micrograph
/// is shown at when fitted to a laptop's window, and small enough that the unet denoises it
/// in under a second on two cores (`cryolens bench --what first-view`: 1.05 s for 512 px,
/// which with opening and loading the model took the first view past 2 s).
pub const PREVIEW_SIDE_PX: usize = 448;

/// The binned denoised preview of `raw` with `arch` ([`crate::denoise::Denoiser2d::preview`]),
/// `None` when the model or the image size has none.
///
/// # Errors
/// The model cannot be loaded; the denoiser's errors.
pub fn preview_job(
    arch: DenoiserChoice,
    device: &ComputeDevice,
    raw: &ViewImage,
    p: &Progress,
) -> anyhow::Result<Option<ViewImage>> {
    p.set_message(format!("loading {}", arch.name()));
    let denoiser = Denoiser2d::load(&arch.spec()?, device)?;
    p.set_message(format!("{}: preview", arch.name()));
    let (w, h) = (raw.image.width, raw.image.height);
    Ok(denoiser
        .preview(&raw.image, PREVIEW_SIDE_PX, p)?
        .map(|small| ViewImage::preview(small, w, h)))
}

/// Denoises `raw` with `arch`. A restore model trained on phase-flipped micrographs is given
/// the micrograph's `ctf` (phase flipped in, flipped back out, as `cryolens denoise --ctf`);
/// without one it fails with a message saying where the GUI takes CTFs from.
///
/// # Errors
/// The model cannot be loaded; it needs a CTF and `ctf` is `None`; the denoiser's errors.
pub fn denoise_job(
    arch: DenoiserChoice,
    device: &ComputeDevice,
    raw: &ViewImage,
    ctf: Option<&crate::ctf::Ctf>,
    p: &Progress,
) -> anyhow::Result<ViewImage> {
    p.set_message(format!("loading {}", arch.name()));
    let denoiser = Denoiser2d::load(&arch.spec()?, device)?;
    if denoiser.needs_ctf() && ctf.is_none() {
        anyhow::bail!(
            "{} was trained on phase-flipped micrographs and needs this micrograph's CTF: open \
             the micrographs from a RELION STAR with CTF columns (micrographs_ctf.star), or read \
             their CTF with the analysis panel's \"CTF…\" button",
            arch.name()
        );
    }
    let out = denoiser.denoise_with_ctf(&raw.image, ctf, true, &TileConfig::default(), p)?;
    p.set_message("computing statistics");
    Ok(ViewImage::new(out))
}
