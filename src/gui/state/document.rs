//! The open micrograph and every view computed from it, cached by key.

use std::collections::HashMap;
use std::sync::Arc;

use crate::fourier::merge::Merger;
use crate::image::Volume;
use crate::io::mapped::VolumeSource;

use super::derived::{MergeKey, ViewSettings};
use super::view::View;
use super::view_image::ViewImage;

/// How many micrographs besides the open one keep their views in memory (the previous and
/// the prefetched next one, plus one).
pub const CACHE_DOCS: usize = 3;

/// The open micrograph and every view computed from it.
pub struct Document {
    /// Its index in the picking session.
    pub index: usize,
    /// Its name for display.
    pub name: String,
    /// A note for the status bar (e.g. "volume of 40 sections").
    pub note: Option<String>,
    /// The micrograph (or the volume's section shown).
    pub raw: Arc<ViewImage>,
    /// Denoised images by model name.
    pub denoised: HashMap<&'static str, Arc<ViewImage>>,
    /// Binned denoised previews by model name ([`ViewImage::preview`]), shown in the single
    /// view until the full-resolution one is ready.
    pub denoised_preview: HashMap<&'static str, Arc<ViewImage>>,
    /// Models whose preview was made or found unneeded (not asked for again).
    pub previewed: std::collections::HashSet<&'static str>,
    /// Low-passed images by bin factor (in hundredths).
    pub lowpass: HashMap<u32, Arc<ViewImage>>,
    /// Models whose denoising failed on this document (not retried automatically).
    pub denoise_failed: HashMap<&'static str, String>,
    /// The raw and denoised spectra of the merge, by model (transformed once per model).
    pub merger: HashMap<&'static str, Arc<Merger>>,
    /// The merged view and the (model, cutoff, width) it was made with.
    pub merged: Option<(MergeKey, Arc<ViewImage>)>,
    /// Why merging failed (e.g. no pixel size), by key.
    pub merge_failed: Option<(MergeKey, String)>,
    /// The volume of a tomogram/map/stack, and the XY section shown (z).
    pub volume: Option<(Arc<dyn VolumeSource>, usize)>,
    /// The volume denoised by a 3D model (its name), once computed.
    pub denoised_volume: Option<(&'static str, Arc<Volume>)>,
    /// The section of the denoised volume matching the raw section shown.
    pub denoised_section: Option<Arc<ViewImage>>,
    /// The noise-free truth of a simulated micrograph, in its units, when there is one
    /// ([`crate::simulate::outputs::truth_beside`]).
    pub truth: Option<Arc<ViewImage>>,
}

impl Document {
    /// A document of micrograph `index` showing `raw` (the middle section of `volume`, if
    /// any), with no derived views yet.
    pub fn new(
        index: usize,
        name: String,
        note: Option<String>,
        raw: ViewImage,
        volume: Option<Arc<dyn VolumeSource>>,
    ) -> Self {
        Self {
            index,
            name,
            note,
            raw: Arc::new(raw),
            denoised: HashMap::new(),
            denoised_preview: HashMap::new(),
            previewed: Default::default(),
            lowpass: HashMap::new(),
            denoise_failed: HashMap::new(),
            merger: HashMap::new(),
            merged: None,
            merge_failed: None,
            volume: volume.map(|v| {
                let z = v.shape().2 / 2;
                (v, z)
            }),
            denoised_volume: None,
            denoised_section: None,
            truth: None,
        }
    }

    /// The ids of every image of this document (their GPU textures are kept).
    pub fn keep_ids(&self) -> Vec<u64> {
        std::iter::once(self.raw.id)
            .chain(self.denoised.values().map(|v| v.id))
            .chain(self.denoised_preview.values().map(|v| v.id))
            .chain(self.lowpass.values().map(|v| v.id))
            .chain(self.merged.iter().map(|(_, v)| v.id))
            .chain(self.truth.iter().map(|v| v.id))
            .collect()
    }

    /// The image of `view`, once computed: the denoised view of model `selected` (or the
    /// denoised volume's section), the low-pass at the current factor, the merge of the same
    /// model (while sliders move, the last merge stays on screen).
    pub fn view(
        &self,
        view: View,
        selected: Option<&'static str>,
        settings: &ViewSettings,
    ) -> Option<&Arc<ViewImage>> {
        match view {
            View::Raw => Some(&self.raw),
            View::Denoised => self
                .denoised_section
                .as_ref()
                .or_else(|| self.denoised.get(selected?)),
            View::Lowpass => self.lowpass.get(&settings.lowpass_key()),
            View::Merged => self
                .merged
                .as_ref()
                .filter(|(k, _)| Some(k.model) == selected)
                .map(|(_, v)| v),
        }
    }

    /// Drops every view derived from the raw image (after the section changed) and shows
    /// `raw` at section `z`, with the denoised volume's matching section.
    pub fn replace_section(&mut self, raw: ViewImage, z: usize, denoised: Option<ViewImage>) {
        self.raw = Arc::new(raw);
        self.denoised.clear();
        self.denoised_preview.clear();
        self.previewed.clear();
        self.lowpass.clear();
        self.merger.clear();
        self.merged = None;
        self.merge_failed = None;
        self.denoise_failed.clear();
        self.denoised_section = denoised.map(Arc::new);
        if let Some((_, dz)) = &mut self.volume {
            *dz = z;
        }
    }
}
