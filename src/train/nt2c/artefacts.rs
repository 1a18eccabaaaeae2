//! An NT2C work folder read back ([`super::pipeline`] writes it): what each stage did, for the
//! GUI's stage views and for checks. Every part is optional: a folder of a run that stopped
//! part-way holds the stages it finished.
//!
//! - Background patches: the first micrograph's coarse-denoised image and its patches
//!   (`coarse_denoised/`, `background_patches.csv`).
//! - Noise: 64² crops of the real noise patches (`noise_patches.mrcs`, the centre of each) and
//!   the synthesiser's samples (`gan_samples.mrcs`), their mean radial power spectra and their
//!   histograms (in the real patches' units).
//! - Losses: the critic's loss per generator step (`gan_critic_loss.csv`) and the coarse and
//!   fine denoisers' validation losses (their checkpoints' histories).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::patches::BackgroundPatch;
use super::pipeline::Nt2cReport;
use crate::image::Image;
use crate::models::nt2c::GAN_PATCH_PX;

/// What a work folder holds (see the module docs).
#[derive(Debug, Default)]
pub struct Nt2cArtefacts {
    /// The folder.
    pub work_dir: PathBuf,
    /// `report.json`, once the run finished.
    pub report: Option<Nt2cReport>,
    /// The first micrograph's name and its coarse-denoised image.
    pub enhanced: Option<(String, Image)>,
    /// That micrograph's background patches and their side, px.
    pub patches: Vec<BackgroundPatch>,
    /// The patches' side, px.
    pub patch_px: usize,
    /// 64² crops of the real noise patches (centres).
    pub real_noise: Vec<Image>,
    /// The synthesiser's 64² samples.
    pub synthetic_noise: Vec<Image>,
    /// The critic's loss after each generator step.
    pub critic_loss: Vec<f64>,
    /// (step, validation loss) of the coarse and the fine denoiser.
    pub validation: [Vec<(u64, f64)>; 2],
}

impl Nt2cArtefacts {
    /// Reads what `dir` holds.
    ///
    /// # Errors
    /// A file that exists but cannot be read or parsed (named).
    pub fn read(dir: &Path) -> Result<Self> {
        let mut a = Self {
            work_dir: dir.to_path_buf(),
            ..Self::default()
        };
        let report = dir.join("report.json");
        if report.is_file() {
            let text = std::fs::read_to_string(&report)?;
            a.report = Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not an NT2C report", report.display()))?,
            );
        }
        let table = dir.join("background_patches.csv");
        let mut first: Option<String> = None;
        if table.is_file() {
            let text = std::fs::read_to_string(&table)?;
            for (i, line) in text.lines().enumerate().skip(1) {
                let f: Vec<&str> = line.split(',').collect();
                let bad = || format!("{}: row {} is not a patch", table.display(), i + 1);
                let (name, rest) = match f.len() {
                    n if n >= 5 => (f[..n - 4].join(","), &f[n - 4..]),
                    _ => anyhow::bail!(bad()),
                };
                let num = |s: &str| s.trim().parse::<f64>().with_context(bad);
                if first.get_or_insert_with(|| name.clone()) != &name {
                    continue;
                }
                a.patches.push(BackgroundPatch {
                    x: num(rest[0])? as usize,
                    y: num(rest[1])? as usize,
                    min_ssim: num(rest[3])?,
                });
                a.patch_px = num(rest[2])? as usize;
            }
        }
        if let Some(name) = first {
            let stem = Path::new(&name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let path = dir.join("coarse_denoised").join(format!("{stem}.mrc"));
            if path.is_file() {
                a.enhanced = Some((name, crate::io::read_micrograph(&path)?));
            }
        }
        a.real_noise = read_stack(&dir.join("noise_patches.mrcs"))?
            .iter()
            .map(centre_crop)
            .collect();
        a.synthetic_noise = read_stack(&dir.join("gan_samples.mrcs"))?;
        let losses = dir.join("gan_critic_loss.csv");
        if losses.is_file() {
            a.critic_loss = std::fs::read_to_string(&losses)?
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(1)?.trim().parse().ok())
                .collect();
        }
        let fine = a
            .report
            .as_ref()
            .map(|r| crate::train::checkpoint::checkpoint_dir(&r.model));
        for (k, ck) in [
            Some(crate::train::checkpoint::checkpoint_dir(
                &dir.join("coarse.safetensors"),
            )),
            fine,
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(state) = ck
                .as_deref()
                .map(crate::train::checkpoint::read_checkpoint)
                .transpose()?
                .flatten()
            {
                a.validation[k] = state
                    .history
                    .iter()
                    .filter_map(|m| Some((m.step, m.validation_loss?)))
                    .collect();
            }
        }
        Ok(a)
    }
}

/// The images of an MRC stack (none when the file does not exist).
fn read_stack(path: &Path) -> Result<Vec<Image>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let (_, v) = crate::io::mrc::read(path)?;
    let n = v.width * v.height;
    v.data
        .chunks(n.max(1))
        .map(|c| Ok(Image::new(v.width, v.height, c.to_vec())?))
        .collect()
}

/// The central 64² of a patch (the patch itself when smaller).
fn centre_crop(im: &Image) -> Image {
    let p = GAN_PATCH_PX;
    if im.width < p || im.height < p {
        return im.clone();
    }
    im.crop((im.width - p) / 2, (im.height - p) / 2, p, p)
}

/// The mean radial power spectrum of same-sized patches: (frequency in cycles/px, power) per
/// ring, each patch mean-subtracted and Hann-windowed as one tile.
pub fn mean_radial_power(patches: &[Image]) -> Vec<(f32, f32)> {
    let Some(first) = patches.first() else {
        return Vec::new();
    };
    let tile = first.width.min(first.height);
    let mut sum: Vec<(f32, f32)> = Vec::new();
    for im in patches {
        let ps = crate::fourier::power_spectrum_linear(im, tile, crate::fourier::Window::Hann);
        let rings = crate::fourier::rotational_average(&ps, None);
        if sum.is_empty() {
            sum = rings;
        } else {
            for (s, r) in sum.iter_mut().zip(rings) {
                s.1 += r.1;
            }
        }
    }
    let n = patches.len() as f32;
    sum.into_iter().map(|(f, p)| (f, p / n)).collect()
}

/// A histogram of every value of `patches` in `bins` equal bins over `[lo, hi)`: the bin
/// centres and the fraction of values in each (values outside are left out).
pub fn histogram(patches: &[Image], lo: f32, hi: f32, bins: usize) -> Vec<(f32, f32)> {
    let bins = bins.max(1);
    let width = (hi - lo) / bins as f32;
    let mut counts = vec![0usize; bins];
    let mut total = 0usize;
    for v in patches.iter().flat_map(|im| im.data.iter()) {
        total += 1;
        let b = ((v - lo) / width).floor();
        if b >= 0.0 && (b as usize) < bins {
            counts[b as usize] += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            (
                lo + (i as f32 + 0.5) * width,
                c as f32 / total.max(1) as f32,
            )
        })
        .collect()
}
