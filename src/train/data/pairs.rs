//! Training pairs: where they come from ([`PairSource`]: an even/odd pair of files, or one
//! exposure split by binomial count splitting), how a pair is read, optionally preprocessed
//! as restore does ([`Preprocessor`]) and normalised ([`LoadedPair`]), and the small LRU cache
//! that streams pairs from disk ([`PairStore`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};

use crate::ctf::{Ctf, MicrographCtf};
use crate::image::Image;
use crate::io::EVEN_ODD_SUFFIXES;
use crate::metrics::{CountSplitOptions, GainSource, split_counts};
use crate::models::format::RestorePreprocessing;
use crate::restore::PreprocessConfig;
use crate::rng::Rng;

/// Where one training pair comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum PairSource {
    /// Two files holding independent halves of one exposure (even/odd frame sums).
    Files {
        /// Half A (e.g. even frames).
        even: PathBuf,
        /// Half B (odd frames).
        odd: PathBuf,
    },
    /// One counting-mode exposure, split into two halves by binomial count splitting.
    CountSplit {
        /// The exposure.
        path: PathBuf,
        /// Split even when the values are not integer counts × gain (values rounded).
        force: bool,
    },
    /// Two halves already in memory (tests, GUI-generated data).
    InMemory {
        /// A short name for reports.
        name: String,
        /// Half A.
        even: Arc<Image>,
        /// Half B, same shape.
        odd: Arc<Image>,
    },
    /// A noisy image and its clean target (supervised training: a simulation's noisy
    /// micrograph and its truth, NT2C's coarse and fine denoisers). Half A is the noisy
    /// image; half B, the target, is normalised with the noisy image's mean and σ, so the
    /// model learns the clean image in the units of the normalised input, which is how a
    /// denoiser's output is put back ([`crate::denoise`]). Train it in one direction only.
    Supervised {
        /// A short name for reports.
        name: String,
        /// The input.
        noisy: Arc<Image>,
        /// The target, same shape.
        clean: Arc<Image>,
    },
}

impl PairSource {
    /// A short name for reports and errors.
    pub fn name(&self) -> String {
        match self {
            PairSource::Files { even, .. } => even.display().to_string(),
            PairSource::CountSplit { path, .. } => format!("{} (count split)", path.display()),
            PairSource::InMemory { name, .. } | PairSource::Supervised { name, .. } => name.clone(),
        }
    }
}

/// Pairs `even[i]` with `odd[i]`.
///
/// # Errors
/// Lists of different lengths, or an empty list.
pub fn pairs_from_lists(even: &[PathBuf], odd: &[PathBuf]) -> Result<Vec<PairSource>> {
    if even.len() != odd.len() {
        bail!(
            "{} even files but {} odd files: the lists must pair one to one",
            even.len(),
            odd.len()
        );
    }
    if even.is_empty() {
        bail!("no training pairs given");
    }
    Ok(even
        .iter()
        .zip(odd)
        .map(|(e, o)| PairSource::Files {
            even: e.clone(),
            odd: o.clone(),
        })
        .collect())
}

/// Finds even/odd pairs in a folder by file-name suffix: `X_EVN.mrc` with `X_ODD.mrc`, or
/// `X_even.mrc` with `X_odd.mrc` (any extension; `.mrc`, `.tif`, `.tiff` files only), sorted
/// by name.
///
/// # Errors
/// Unreadable folder; no pairs found; a half without its partner.
pub fn pairs_from_dir(dir: &Path) -> Result<Vec<PairSource>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .map(|e| {
                        let e = e.to_string_lossy().to_ascii_lowercase();
                        e == "mrc" || e == "tif" || e == "tiff" || e == "mrcs"
                    })
                    .unwrap_or(false)
        })
        .collect();
    files.sort();
    let mut pairs = Vec::new();
    let mut orphans = Vec::new();
    for f in &files {
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = f
            .extension()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (a, b) in EVEN_ODD_SUFFIXES {
            if let Some(base) = stem.strip_suffix(a) {
                let partner = f.with_file_name(format!("{base}{b}.{ext}"));
                if partner.is_file() {
                    pairs.push(PairSource::Files {
                        even: f.clone(),
                        odd: partner,
                    });
                } else {
                    orphans.push(f.display().to_string());
                }
            } else if let Some(base) = stem.strip_suffix(b) {
                let partner = f.with_file_name(format!("{base}{a}.{ext}"));
                if !partner.is_file() {
                    orphans.push(f.display().to_string());
                }
            }
        }
    }
    if !orphans.is_empty() {
        bail!(
            "{} half(s) in {} without a partner (expected suffix pairs {:?}): {}",
            orphans.len(),
            dir.display(),
            EVEN_ODD_SUFFIXES,
            orphans.join(", ")
        );
    }
    if pairs.is_empty() {
        bail!(
            "no even/odd pairs in {} (expected files named X{}.mrc + X{}.mrc or X{}.mrc + X{}.mrc)",
            dir.display(),
            EVEN_ODD_SUFFIXES[0].0,
            EVEN_ODD_SUFFIXES[0].1,
            EVEN_ODD_SUFFIXES[1].0,
            EVEN_ODD_SUFFIXES[1].1
        );
    }
    Ok(pairs)
}

/// One source per exposure, each to be split into halves by count splitting.
pub fn count_split_sources(files: &[PathBuf], force: bool) -> Vec<PairSource> {
    files
        .iter()
        .map(|p| PairSource::CountSplit {
            path: p.clone(),
            force,
        })
        .collect()
}

/// A pair loaded and normalised: each half minus its mean, divided by its standard deviation
/// (whole micrograph, as Topaz), row-major `[y * width + x]`.
#[derive(Debug)]
pub struct LoadedPair {
    /// Half A, normalised.
    pub a: Vec<f32>,
    /// Half B, normalised.
    pub b: Vec<f32>,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Pixel size in Å/px (from half A's header), if known.
    pub pixel_size_angstrom: Option<f32>,
    /// (mean, σ) of half A and half B before normalisation, in the file's units.
    pub stats: [(f64, f64); 2],
}

fn normalise(image: &Image, what: &str) -> Result<(Vec<f32>, (f64, f64))> {
    image.check_finite().map_err(|e| anyhow!("{what}: {e}"))?;
    let s = image.stats();
    if !(s.std > 0.0 && s.std.is_finite()) {
        bail!("{what}: constant image (standard deviation 0), nothing to learn from");
    }
    let data = image
        .data
        .iter()
        .map(|&v| ((v as f64 - s.mean) / s.std) as f32)
        .collect();
    Ok((data, (s.mean, s.std)))
}

/// [`RestorePreprocessing`] with its CTF table read.
#[derive(Clone, Debug)]
pub struct Preprocessor {
    config: PreprocessConfig,
    ctfs: Option<Vec<MicrographCtf>>,
}

/// A file stem without restore's/MotionCor2's half and dose-weighting suffixes (`_EVN`,
/// `_ODD`, `_even`, `_odd`, `_DW`), for matching a half to its micrograph's CTF.
fn micrograph_key(path_or_name: &str) -> String {
    let stem = Path::new(path_or_name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::io::micrograph_base(&stem).to_string()
}

impl Preprocessor {
    /// Reads the CTF table, if any.
    ///
    /// # Errors
    /// An unreadable or malformed CTF STAR file; parameters out of range.
    pub fn new(options: &RestorePreprocessing) -> Result<Self> {
        let c = preprocess_config(options);
        for (what, v) in [
            ("max resolution (Å)", c.max_resolution_angstrom),
            ("high-pass resolution (Å)", c.highpass_angstrom),
        ] {
            if !(v.is_finite() && v > 0.0) {
                bail!("restore preprocessing: {what} must be a finite number > 0 (got {v})");
            }
        }
        let ctfs = match &options.ctf_star {
            Some(p) => Some(
                crate::ctf::read_ctf_star(p)
                    .with_context(|| format!("reading CTF parameters from {}", p.display()))?,
            ),
            None => None,
        };
        Ok(Self { config: c, ctfs })
    }

    /// The CTF of `source`'s micrograph (matched by file stem without half suffixes), when
    /// phase flipping.
    ///
    /// # Errors
    /// No entry in the CTF table for this micrograph.
    pub fn ctf_for(&self, source: &PairSource) -> Result<Option<Ctf>> {
        let Some(table) = &self.ctfs else {
            return Ok(None);
        };
        let names: Vec<String> = match source {
            PairSource::Files { even, odd } => vec![
                micrograph_key(&even.to_string_lossy()),
                micrograph_key(&odd.to_string_lossy()),
            ],
            PairSource::CountSplit { path, .. } => vec![micrograph_key(&path.to_string_lossy())],
            PairSource::InMemory { name, .. } | PairSource::Supervised { name, .. } => {
                vec![micrograph_key(name)]
            }
        };
        table
            .iter()
            .find(|m| names.contains(&micrograph_key(&m.micrograph_name)))
            .map(|m| Some(m.ctf))
            .ok_or_else(|| {
                anyhow!(
                    "no CTF for {} in the CTF STAR file (micrographs are matched by file name without _EVN/_ODD/_DW)",
                    source.name()
                )
            })
    }

    /// Preprocesses one half (Fourier crop, band-pass, optional phase flip).
    ///
    /// # Errors
    /// No pixel size; non-finite values; an invalid CTF.
    pub fn apply(&self, image: &Image, ctf: Option<&Ctf>, what: &str) -> Result<Image> {
        crate::restore::preprocess(image, &self.config, ctf)
            .map(|p| p.image)
            .map_err(|e| anyhow!("{what}: restore preprocessing: {e}"))
    }
}

/// Loads and normalises one pair. `seed` seeds the count split (pair `index` gets its own
/// stream, so the halves are the same on every load).
///
/// # Errors
/// Unreadable files, halves of different shapes, non-finite or constant images, data refused
/// by count splitting (non-count data without `force`).
pub fn load_pair(source: &PairSource, index: usize, seed: u64) -> Result<LoadedPair> {
    load_pair_with(source, index, seed, None)
}

/// [`load_pair`], with both halves preprocessed for restore (after count splitting, before
/// normalising) when `preprocess` is given; the pair's shape and pixel size are then the
/// binned ones.
///
/// # Errors
/// As [`load_pair`]; a micrograph without pixel size or without a CTF entry when phase
/// flipping.
pub fn load_pair_with(
    source: &PairSource,
    index: usize,
    seed: u64,
    preprocess: Option<&Preprocessor>,
) -> Result<LoadedPair> {
    let (a, b) = match source {
        PairSource::Files { even, odd } => {
            let a = crate::io::read_micrograph(even)
                .with_context(|| format!("reading even half {}", even.display()))?;
            let b = crate::io::read_micrograph(odd)
                .with_context(|| format!("reading odd half {}", odd.display()))?;
            (a, b)
        }
        PairSource::CountSplit { path, force } => {
            let image = crate::io::read_micrograph(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let options = CountSplitOptions {
                gain: GainSource::Estimate,
                seed: Rng::stream(seed, 0xC0DE_0000 + index as u64).next_u64(),
                force: *force,
                ..CountSplitOptions::default()
            };
            let split = split_counts(&image, &options).with_context(|| {
                format!(
                    "count splitting {} (use --force for data that are not integer counts)",
                    path.display()
                )
            })?;
            (split.half1, split.half2)
        }
        PairSource::InMemory { even, odd, .. } => ((**even).clone(), (**odd).clone()),
        PairSource::Supervised { noisy, clean, .. } => ((**noisy).clone(), (**clean).clone()),
    };
    let (a, b) = match preprocess {
        Some(p) => {
            let ctf = p.ctf_for(source)?;
            (
                p.apply(&a, ctf.as_ref(), &format!("{} half A", source.name()))?,
                p.apply(&b, ctf.as_ref(), &format!("{} half B", source.name()))?,
            )
        }
        None => (a, b),
    };
    if (a.width, a.height) != (b.width, b.height) {
        bail!(
            "pair {}: halves have different shapes ({}×{} and {}×{} px)",
            source.name(),
            a.width,
            a.height,
            b.width,
            b.height
        );
    }
    let (na, sa) = normalise(&a, &format!("{} half A", source.name()))?;
    let (nb, sb) = match source {
        PairSource::Supervised { .. } => {
            b.check_finite()
                .map_err(|e| anyhow!("{} target: {e}", source.name()))?;
            let data = b
                .data
                .iter()
                .map(|&v| ((f64::from(v) - sa.0) / sa.1) as f32)
                .collect();
            (data, sa)
        }
        _ => normalise(&b, &format!("{} half B", source.name()))?,
    };
    Ok(LoadedPair {
        a: na,
        b: nb,
        width: a.width,
        height: a.height,
        pixel_size_angstrom: a.pixel_size_angstrom,
        stats: [sa, sb],
    })
}

/// Checks that the two halves of a pair of files are sampled alike and plausibly
/// ([`crate::sampling`]): the same rule `analyze` and `fsc` apply. Count-split and in-memory
/// pairs share one pixel size by construction; their plausibility is checked too.
///
/// # Errors
/// Unreadable headers; pixel sizes more than 1 % apart or outside 0.05–100 Å/px (the message
/// names the files, the values and `--force`).
pub fn check_pair_sampling(source: &PairSource) -> Result<()> {
    use crate::sampling::{check_plausible_pixel_size, check_same_pixel_size};
    match source {
        PairSource::Files { even, odd } => {
            let size = |p: &Path| -> Result<Option<f32>> {
                crate::io::stated_pixel_size(p).with_context(|| format!("reading {}", p.display()))
            };
            let (a, b) = (size(even)?, size(odd)?);
            let (ea, eb) = (even.display().to_string(), odd.display().to_string());
            check_plausible_pixel_size(&ea, a)?;
            check_plausible_pixel_size(&eb, b)?;
            check_same_pixel_size(&ea, a, &eb, b)?;
        }
        PairSource::CountSplit { path, .. } => {
            let p = crate::io::read_header_pixel_size(path)
                .with_context(|| format!("reading {}", path.display()))?;
            check_plausible_pixel_size(&path.display().to_string(), p)?;
        }
        PairSource::InMemory {
            name,
            even: a,
            odd: b,
        }
        | PairSource::Supervised {
            name,
            noisy: a,
            clean: b,
        } => {
            check_same_pixel_size(
                &format!("{name} half A"),
                a.pixel_size_angstrom,
                &format!("{name} half B"),
                b.pixel_size_angstrom,
            )?;
        }
    }
    Ok(())
}

/// Pairs streamed from disk through a least-recently-used cache of `capacity` loaded pairs.
pub struct PairStore {
    sources: Vec<PairSource>,
    seed: u64,
    preprocess: Option<Preprocessor>,
    force_sampling: bool,
    capacity: usize,
    cache: Mutex<VecDeque<(usize, Arc<LoadedPair>)>>,
}

impl PairStore {
    /// A store over `sources`, keeping at most `capacity` (≥ 1) pairs in memory.
    pub fn new(sources: Vec<PairSource>, seed: u64, capacity: usize) -> Self {
        Self {
            sources,
            seed,
            preprocess: None,
            force_sampling: false,
            capacity: capacity.max(1),
            cache: Mutex::new(VecDeque::new()),
        }
    }

    /// Preprocesses every pair for restore when loading it ([`load_pair_with`]).
    pub fn with_preprocessing(mut self, preprocess: Option<Preprocessor>) -> Self {
        self.preprocess = preprocess;
        self
    }

    /// Accepts halves whose pixel sizes disagree or are implausible when `force` (see
    /// [`check_pair_sampling`]).
    pub fn with_force_sampling(mut self, force: bool) -> Self {
        self.force_sampling = force;
        self
    }

    /// The sources, in index order.
    pub fn sources(&self) -> &[PairSource] {
        &self.sources
    }

    /// Pair `index`, from the cache or loaded (and cached, evicting the least recently used).
    ///
    /// # Errors
    /// As [`load_pair`]; an index out of range.
    pub fn get(&self, index: usize) -> Result<Arc<LoadedPair>> {
        let source = self
            .sources
            .get(index)
            .ok_or_else(|| anyhow!("pair index {index} out of range"))?;
        if let Ok(mut cache) = self.cache.lock()
            && let Some(pos) = cache.iter().position(|(i, _)| *i == index)
        {
            let entry = cache.remove(pos).expect("position is valid");
            let pair = Arc::clone(&entry.1);
            cache.push_back(entry);
            return Ok(pair);
        }
        if !self.force_sampling {
            check_pair_sampling(source)?;
        }
        let pair = Arc::new(load_pair_with(
            source,
            index,
            self.seed,
            self.preprocess.as_ref(),
        )?);
        if let Ok(mut cache) = self.cache.lock() {
            while cache.len() >= self.capacity {
                cache.pop_front();
            }
            cache.push_back((index, Arc::clone(&pair)));
        }
        Ok(pair)
    }

    /// How many pairs are in memory now.
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// restore's preprocessing parameters of a recorded [`RestorePreprocessing`].
pub fn preprocess_config(options: &RestorePreprocessing) -> PreprocessConfig {
    PreprocessConfig {
        max_resolution_angstrom: options.max_resolution_angstrom,
        highpass_angstrom: options.highpass_angstrom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pairing_checks_lengths() {
        let e = vec![PathBuf::from("a"), PathBuf::from("b")];
        let o = vec![PathBuf::from("c")];
        assert!(pairs_from_lists(&e, &o).is_err());
        assert_eq!(pairs_from_lists(&e, &e).unwrap().len(), 2);
    }

    #[test]
    fn recorded_restore_defaults_are_restores() {
        assert_eq!(
            preprocess_config(&RestorePreprocessing::default()),
            PreprocessConfig::default()
        );
    }

    /// A supervised pair's target is put in the units of the normalised input: a clean image
    /// equal to the noisy one's expectation lands on the noisy image's normalised mean, and
    /// is not stretched to unit variance as a noise2noise half would be.
    #[test]
    fn supervised_targets_share_the_inputs_normalisation() {
        let mut rng = crate::rng::Rng::new(5);
        let (w, h) = (64usize, 48usize);
        let clean: Vec<f32> = (0..w * h)
            .map(|i| 30.0 + 5.0 * ((i % w) as f32 / 10.0).sin())
            .collect();
        let noisy: Vec<f32> = clean
            .iter()
            .map(|&c| c + 4.0 * rng.normal() as f32)
            .collect();
        let image = |d: Vec<f32>| Arc::new(Image::new(w, h, d).unwrap());
        let source = PairSource::Supervised {
            name: "sim".into(),
            noisy: image(noisy.clone()),
            clean: image(clean.clone()),
        };
        let pair = load_pair(&source, 0, 0).unwrap();
        let (mean, sd) = pair.stats[0];
        assert_eq!(pair.stats[1], pair.stats[0]);
        for (i, &c) in clean.iter().enumerate() {
            let want = ((f64::from(c) - mean) / sd) as f32;
            assert!((pair.b[i] - want).abs() < 1e-5);
        }
        // The target's spread is the signal's share of the input's, well under 1.
        let var_b = pair.b.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / (w * h) as f64;
        assert!(var_b < 0.7, "{var_b}");
        // The same images as a noise2noise pair: each half gets unit variance.
        let n2n = PairSource::InMemory {
            name: "n2n".into(),
            even: image(noisy),
            odd: image(clean),
        };
        let pair = load_pair(&n2n, 0, 0).unwrap();
        let var_b = pair.b.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / (w * h) as f64;
        assert!((var_b - 1.0).abs() < 1e-3, "{var_b}");
    }
}
