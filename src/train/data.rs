//! Training data for noise2noise: pairs of independent halves of the same exposure, random
//! crops with the same rotation/mirror on both halves, a held-out part for validation, and
//! micrographs streamed from disk through a small LRU cache.
//!
//! Source: Bepler et al. 2020 (Topaz-Denoise), Methods "Training": pairs of even/odd frame
//! sums, each micrograph normalised by its own mean and standard deviation, random 800 px
//! crops in batches of 4, random 90° rotations and mirrors; a fraction of the micrograph pairs
//! held out for validation. Single exposures are split into two halves by binomial count
//! splitting ([`crate::metrics::split_counts`], Poisson thinning).
//!
//! For restore's WDSR U-net (Palovcak et al. 2020, supplement S2.1) both halves of every pair
//! are first Fourier cropped to a pixel size of max_resolution/2, band-passed and optionally
//! phase flipped ([`RestorePreprocessing`], [`crate::restore::preprocess`]), then normalised
//! and cropped like any pair.
//!
//! Everything random is a function of `(seed, step)` only (one [`Rng::stream`] per crop), so
//! a run resumed from a checkpoint sees exactly the batches an uninterrupted run would.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::ctf::{Ctf, MicrographCtf};
use crate::image::Image;
use crate::metrics::{CountSplitOptions, GainSource, split_counts};
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
}

impl PairSource {
    /// A short name for reports and errors.
    pub fn name(&self) -> String {
        match self {
            PairSource::Files { even, .. } => even.display().to_string(),
            PairSource::CountSplit { path, .. } => format!("{} (count split)", path.display()),
            PairSource::InMemory { name, .. } => name.clone(),
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

/// Suffix conventions recognised by [`pairs_from_dir`]: (half A, half B), matched at the end
/// of the file stem (MotionCor2 `_EVN`/`_ODD`, and `_even`/`_odd`).
pub const PAIR_SUFFIXES: [(&str, &str); 2] = [("_EVN", "_ODD"), ("_even", "_odd")];

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
        for (a, b) in PAIR_SUFFIXES {
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
            PAIR_SUFFIXES,
            orphans.join(", ")
        );
    }
    if pairs.is_empty() {
        bail!(
            "no even/odd pairs in {} (expected files named X{}.mrc + X{}.mrc or X{}.mrc + X{}.mrc)",
            dir.display(),
            PAIR_SUFFIXES[0].0,
            PAIR_SUFFIXES[0].1,
            PAIR_SUFFIXES[1].0,
            PAIR_SUFFIXES[1].1
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

/// restore's preprocessing of training data (Palovcak et al. 2020, supplement S2.1), recorded
/// in checkpoints and in the model's JSON so inference repeats it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RestorePreprocessing {
    /// Highest resolution kept, Å: micrographs are Fourier cropped to a pixel size of half of
    /// it (restore's `--max_resolution`, 4.5 Å).
    pub max_resolution_angstrom: f64,
    /// Frequencies below 1/this (Å⁻¹) are removed (200 Å).
    pub highpass_angstrom: f64,
    /// A RELION STAR file with each micrograph's CTF: when given, the halves are phase
    /// flipped (their spectra multiplied by the sign of the CTF).
    pub ctf_star: Option<PathBuf>,
}

impl Default for RestorePreprocessing {
    /// Max resolution 4.5 Å, band-pass from 200 Å, no phase flip.
    fn default() -> Self {
        let c = PreprocessConfig::default();
        Self {
            max_resolution_angstrom: c.max_resolution_angstrom,
            highpass_angstrom: c.highpass_angstrom,
            ctf_star: None,
        }
    }
}

impl RestorePreprocessing {
    /// The preprocessing parameters.
    pub fn config(&self) -> PreprocessConfig {
        PreprocessConfig {
            max_resolution_angstrom: self.max_resolution_angstrom,
            highpass_angstrom: self.highpass_angstrom,
        }
    }

    /// Whether the training data are phase flipped.
    pub fn phase_flip(&self) -> bool {
        self.ctf_star.is_some()
    }
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
    let mut key = stem.as_str();
    for suffix in ["_EVN", "_ODD", "_even", "_odd", "_DW"] {
        if let Some(k) = key.strip_suffix(suffix) {
            key = k;
            break;
        }
    }
    key.to_string()
}

impl Preprocessor {
    /// Reads the CTF table, if any.
    ///
    /// # Errors
    /// An unreadable or malformed CTF STAR file; parameters out of range.
    pub fn new(options: &RestorePreprocessing) -> Result<Self> {
        let c = options.config();
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
            PairSource::InMemory { name, .. } => vec![micrograph_key(name)],
        };
        table
            .iter()
            .find(|m| names.contains(&micrograph_key(&m.micrograph_name)))
            .map(|m| Some(m.ctf))
            .ok_or_else(|| {
                anyhow!(
                    "no CTF for {} in the CTF STAR file (micrographs are matched by file name                      without _EVN/_ODD/_DW)",
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
    let (nb, sb) = normalise(&b, &format!("{} half B", source.name()))?;
    Ok(LoadedPair {
        a: na,
        b: nb,
        width: a.width,
        height: a.height,
        pixel_size_angstrom: a.pixel_size_angstrom,
        stats: [sa, sb],
    })
}

/// Pairs streamed from disk through a least-recently-used cache of `capacity` loaded pairs.
pub struct PairStore {
    sources: Vec<PairSource>,
    seed: u64,
    preprocess: Option<Preprocessor>,
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
            capacity: capacity.max(1),
            cache: Mutex::new(VecDeque::new()),
        }
    }

    /// Preprocesses every pair for restore when loading it ([`load_pair_with`]).
    pub fn with_preprocessing(mut self, preprocess: Option<Preprocessor>) -> Self {
        self.preprocess = preprocess;
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

/// How the data are cut into crops and batches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataOptions {
    /// Square crop side in px (Topaz: 800).
    pub crop_px: usize,
    /// Crop pairs per step (Topaz: 4).
    pub batch: usize,
    /// Fraction held out for validation, in [0, 1): whole pairs when there are enough of them
    /// (at least one held out and one left), else the bottom rows of every micrograph.
    pub holdout_fraction: f64,
    /// Random rotations by multiples of 90° and mirroring (same on both halves).
    pub augment: bool,
    /// Seed of every random choice (crops, transforms, order, count splits).
    pub seed: u64,
    /// Loaded pairs kept in memory.
    pub cache_pairs: usize,
    /// Fixed validation crops (from the held-out data, no augmentation).
    pub validation_crops: usize,
    /// restore's preprocessing of both halves before cropping (`None`: the halves as read).
    #[serde(default)]
    pub restore: Option<RestorePreprocessing>,
}

impl Default for DataOptions {
    /// Crop 800, batch 4, holdout 0.1, augmentation on, seed 0, 4 cached pairs, 8 validation
    /// crops.
    fn default() -> Self {
        Self {
            crop_px: 800,
            batch: 4,
            holdout_fraction: 0.1,
            augment: true,
            seed: 0,
            cache_pairs: 4,
            validation_crops: 8,
            restore: None,
        }
    }
}

/// Which part of the data is held out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Holdout {
    /// These pair indices are validation pairs; the others train.
    Pairs(Vec<usize>),
    /// Rows `[first_row, height)` of every micrograph are held out; training crops lie in rows
    /// above. `fraction` is the held-out fraction of rows.
    BottomRows {
        /// Fraction of each micrograph's rows held out.
        fraction: f64,
    },
    /// Nothing held out (holdout fraction 0): validation uses training pairs.
    None,
}

/// A batch of crops: `inputs` and `targets` are `[n, 1, crop, crop]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Half-A crops.
    pub a: Vec<f32>,
    /// Half-B crops, same positions and transforms.
    pub b: Vec<f32>,
    /// Crops in the batch.
    pub n: usize,
    /// Crop side in px.
    pub crop_px: usize,
}

/// One crop position (top-left corner) and transform in a pair.
#[derive(Clone, Copy, Debug, PartialEq)]
struct CropSpec {
    pair: usize,
    x0: usize,
    y0: usize,
    size: usize,
    rot90: u8,
    mirror: bool,
}

/// The data of one training run: sources, the holdout split and the sampling rules.
pub struct TrainingData {
    store: PairStore,
    options: DataOptions,
    holdout: Holdout,
    train_pairs: Vec<usize>,
    val_pairs: Vec<usize>,
    /// (width, height) of every pair, checked at construction.
    shapes: Vec<(usize, usize)>,
    pixel_size_angstrom: Option<f32>,
}

impl TrainingData {
    /// Opens the pairs (each is read once to check its shape), decides the holdout and checks
    /// that crops fit.
    ///
    /// # Errors
    /// No sources; a bad pair (see [`load_pair`]); a crop larger than the training or
    /// held-out area; batch 0; holdout outside [0, 1).
    pub fn new(sources: Vec<PairSource>, options: DataOptions) -> Result<Self> {
        if sources.is_empty() {
            bail!("no training pairs");
        }
        if options.batch == 0 {
            bail!("batch size must be at least 1");
        }
        if options.crop_px < 8 {
            bail!("crop must be at least 8 px (got {})", options.crop_px);
        }
        if !(0.0..1.0).contains(&options.holdout_fraction) {
            bail!(
                "holdout fraction must be in [0, 1), got {}",
                options.holdout_fraction
            );
        }
        let preprocess = options
            .restore
            .as_ref()
            .map(Preprocessor::new)
            .transpose()?;
        let store = PairStore::new(sources, options.seed, options.cache_pairs)
            .with_preprocessing(preprocess);
        let n = store.sources().len();
        let mut shapes = Vec::with_capacity(n);
        let mut pixel_size = None;
        for i in 0..n {
            let p = store.get(i)?;
            shapes.push((p.width, p.height));
            if i == 0 {
                pixel_size = p.pixel_size_angstrom;
            }
        }
        let n_val = (n as f64 * options.holdout_fraction).round() as usize;
        let holdout = if options.holdout_fraction == 0.0 {
            Holdout::None
        } else if n >= 2 && n_val >= 1 && n_val < n {
            let mut order: Vec<usize> = (0..n).collect();
            shuffle(&mut order, &mut Rng::stream(options.seed, 0x4841_4C44));
            let mut val: Vec<usize> = order[..n_val].to_vec();
            val.sort_unstable();
            Holdout::Pairs(val)
        } else {
            Holdout::BottomRows {
                fraction: options.holdout_fraction,
            }
        };
        let (train_pairs, val_pairs) = match &holdout {
            Holdout::Pairs(v) => ((0..n).filter(|i| !v.contains(i)).collect(), v.clone()),
            _ => ((0..n).collect(), (0..n).collect()),
        };
        let data = Self {
            store,
            options,
            holdout,
            train_pairs,
            val_pairs,
            shapes,
            pixel_size_angstrom: pixel_size,
        };
        for &i in &data.train_pairs {
            let (w, h) = data.train_area(i);
            if data.options.crop_px > w || data.options.crop_px > h {
                bail!(
                    "crop {} px does not fit the training area of {} ({}×{} px after the holdout); \
                     use a smaller --crop",
                    data.options.crop_px,
                    data.store.sources()[i].name(),
                    w,
                    h
                );
            }
        }
        for &i in &data.val_pairs {
            let (_, _, w, h) = data.val_area(i);
            if w < 8 || h < 8 {
                bail!(
                    "held-out area of {} is only {}×{} px; use a larger --holdout",
                    data.store.sources()[i].name(),
                    w,
                    h
                );
            }
        }
        Ok(data)
    }

    /// The options.
    pub fn options(&self) -> &DataOptions {
        &self.options
    }

    /// The holdout decision.
    pub fn holdout(&self) -> &Holdout {
        &self.holdout
    }

    /// Pair indices used for training.
    pub fn train_pairs(&self) -> &[usize] {
        &self.train_pairs
    }

    /// Pair indices used for validation.
    pub fn val_pairs(&self) -> &[usize] {
        &self.val_pairs
    }

    /// The sources.
    pub fn sources(&self) -> &[PairSource] {
        self.store.sources()
    }

    /// Pixel size of the first pair (Å/px, after restore's binning when preprocessing), if
    /// its header has one.
    pub fn pixel_size_angstrom(&self) -> Option<f32> {
        self.pixel_size_angstrom
    }

    /// Pair `index`, normalised (through the cache).
    ///
    /// # Errors
    /// As [`load_pair`].
    pub fn pair(&self, index: usize) -> Result<Arc<LoadedPair>> {
        self.store.get(index)
    }

    /// Rows held out at the bottom of pair `i` (0 unless [`Holdout::BottomRows`]).
    fn held_rows(&self, i: usize) -> usize {
        match self.holdout {
            Holdout::BottomRows { fraction } => {
                ((self.shapes[i].1 as f64) * fraction).round() as usize
            }
            _ => 0,
        }
    }

    /// (width, height) of the area training crops come from (top rows).
    fn train_area(&self, i: usize) -> (usize, usize) {
        let (w, h) = self.shapes[i];
        (w, h - self.held_rows(i))
    }

    /// (x0, y0, width, height) of the held-out area of pair `i`.
    pub fn val_area(&self, i: usize) -> (usize, usize, usize, usize) {
        let (w, h) = self.shapes[i];
        match self.holdout {
            Holdout::BottomRows { .. } => {
                let r = self.held_rows(i);
                (0, h - r, w, r)
            }
            _ => (0, 0, w, h),
        }
    }

    /// The crop `c` (global crop counter: step · batch + j) of the training stream. Pairs are
    /// visited in a fresh random order each pass over the training set (one crop per pair per
    /// pass, as Topaz's epochs); position and transform come from the crop's own random
    /// stream.
    fn train_crop(&self, c: u64) -> CropSpec {
        let n = self.train_pairs.len() as u64;
        let cycle = c / n;
        let pos = (c % n) as usize;
        let mut order: Vec<usize> = self.train_pairs.clone();
        shuffle(
            &mut order,
            &mut Rng::stream(self.options.seed, 0x0BDE_0000 + cycle),
        );
        let pair = order[pos];
        let (w, h) = self.train_area(pair);
        let size = self.options.crop_px;
        let mut rng = Rng::stream(self.options.seed, 0x1000_0000_0000 + c);
        let x0 = (rng.uniform() * (w - size + 1) as f64) as usize;
        let y0 = (rng.uniform() * (h - size + 1) as f64) as usize;
        let (rot90, mirror) = if self.options.augment {
            ((rng.next_u64() % 4) as u8, rng.next_u64() & 1 == 1)
        } else {
            (0, false)
        };
        CropSpec {
            pair,
            x0: x0.min(w - size),
            y0: y0.min(h - size),
            size,
            rot90,
            mirror,
        }
    }

    fn cut(&self, specs: &[CropSpec]) -> Result<Batch> {
        let size = specs.first().map(|s| s.size).unwrap_or(0);
        let mut a = Vec::with_capacity(specs.len() * size * size);
        let mut b = Vec::with_capacity(specs.len() * size * size);
        for s in specs {
            let p = self.store.get(s.pair)?;
            a.extend(crop_transformed(
                &p.a, p.width, s.x0, s.y0, s.size, s.rot90, s.mirror,
            ));
            b.extend(crop_transformed(
                &p.b, p.width, s.x0, s.y0, s.size, s.rot90, s.mirror,
            ));
        }
        Ok(Batch {
            a,
            b,
            n: specs.len(),
            crop_px: size,
        })
    }

    /// The training batch of `step` (deterministic in `(seed, step)`).
    ///
    /// # Errors
    /// A pair that fails to load.
    pub fn train_batch(&self, step: u64) -> Result<Batch> {
        let bsz = self.options.batch as u64;
        let specs: Vec<CropSpec> = (0..bsz).map(|j| self.train_crop(step * bsz + j)).collect();
        self.cut(&specs)
    }

    /// The fixed validation crops, in batches of at most `batch`: `validation_crops` crops
    /// spread over the held-out pairs (round robin), side min(crop, held-out area), at
    /// positions drawn once from the seed, without augmentation.
    ///
    /// # Errors
    /// A pair that fails to load.
    pub fn validation_batches(&self) -> Result<Vec<Batch>> {
        let count = self.options.validation_crops.max(1);
        let size = self
            .val_pairs
            .iter()
            .map(|&i| {
                let (_, _, w, h) = self.val_area(i);
                w.min(h)
            })
            .min()
            .unwrap_or(0)
            .min(self.options.crop_px);
        let mut specs = Vec::with_capacity(count);
        for k in 0..count {
            let pair = self.val_pairs[k % self.val_pairs.len()];
            let (x, y, w, h) = self.val_area(pair);
            let mut rng = Rng::stream(self.options.seed, 0x7A11_0000 + k as u64);
            let dx = ((rng.uniform() * (w - size + 1) as f64) as usize).min(w - size);
            let dy = ((rng.uniform() * (h - size + 1) as f64) as usize).min(h - size);
            specs.push(CropSpec {
                pair,
                x0: x + dx,
                y0: y + dy,
                size,
                rot90: 0,
                mirror: false,
            });
        }
        specs
            .chunks(self.options.batch)
            .map(|c| self.cut(c))
            .collect()
    }

    /// A held-out region for previews: the centre `size`×`size` (or smaller) square of the
    /// first validation pair's held-out area, both halves normalised, with the pair's (mean, σ)
    /// of half A. Returns (half A, half B) as images with the pair's pixel size.
    ///
    /// # Errors
    /// A pair that fails to load.
    pub fn preview_region(&self, size: usize) -> Result<(Image, Image)> {
        let pair = self.val_pairs[0];
        let (x, y, w, h) = self.val_area(pair);
        let s = size.min(w).min(h);
        let (x0, y0) = (x + (w - s) / 2, y + (h - s) / 2);
        let p = self.store.get(pair)?;
        let make = |v: &[f32]| {
            Image::new(s, s, crop_transformed(v, p.width, x0, y0, s, 0, false))
                .map(|im| im.with_pixel_size(p.pixel_size_angstrom))
                .map_err(|e| anyhow!("{e}"))
        };
        Ok((make(&p.a)?, make(&p.b)?))
    }
}

/// Fisher–Yates shuffle with `rng`.
fn shuffle<T>(v: &mut [T], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// Cuts the `size`×`size` square at (`x0`, `y0`) out of a row-major image of `width` columns,
/// mirrors it left-right if `mirror`, then rotates it by `rot90` × 90° counter-clockwise.
/// Output row-major `[y * size + x]`. The 8 combinations are the symmetries of the square.
pub fn crop_transformed(
    data: &[f32],
    width: usize,
    x0: usize,
    y0: usize,
    size: usize,
    rot90: u8,
    mirror: bool,
) -> Vec<f32> {
    let n = size;
    let mut out = vec![0.0f32; n * n];
    for y in 0..n {
        for x in 0..n {
            // Undo the rotation: output (y, x) of a CCW rotation by k reads input (sy, sx).
            let (mut sy, mut sx) = (y, x);
            for _ in 0..(rot90 % 4) {
                // One CCW rotation: out[y][x] = in[x][n-1-y].
                let t = sy;
                sy = sx;
                sx = n - 1 - t;
            }
            if mirror {
                sx = n - 1 - sx;
            }
            out[y * n + x] = data[(y0 + sy) * width + x0 + sx];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_are_the_eight_symmetries() {
        let n = 3;
        let data: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let mut seen = Vec::new();
        for r in 0..4 {
            for m in [false, true] {
                let t = crop_transformed(&data, n, 0, 0, n, r, m);
                let mut sorted = t.clone();
                sorted.sort_by(f32::total_cmp);
                assert_eq!(sorted, data, "a permutation");
                assert_eq!(t[4], 4.0, "centre fixed");
                seen.push(t);
            }
        }
        seen.sort_by(|a, b| a.partial_cmp(b).unwrap());
        seen.dedup();
        assert_eq!(seen.len(), 8);
        // One CCW rotation moves the top-right corner (value 2) to the top-left.
        assert_eq!(crop_transformed(&data, n, 0, 0, n, 1, false)[0], 2.0);
    }

    #[test]
    fn list_pairing_checks_lengths() {
        let e = vec![PathBuf::from("a"), PathBuf::from("b")];
        let o = vec![PathBuf::from("c")];
        assert!(pairs_from_lists(&e, &o).is_err());
        assert_eq!(pairs_from_lists(&e, &e).unwrap().len(), 2);
    }
}
