//! The volume's navigation: slab thickness, the orthoviews' shared cursor, and the keys of
//! section and orthoview jobs.

use super::view::View;

/// How a volume is looked through (the section z lives with the document).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeState {
    /// Slab thickness (sections averaged) of volume views.
    pub slab_thickness: usize,
    /// The shared cursor of the orthoviews (x, y), set by hovering the XY view.
    pub ortho_cursor: Option<(usize, usize)>,
}

impl Default for VolumeState {
    fn default() -> Self {
        Self {
            slab_thickness: 1,
            ortho_cursor: None,
        }
    }
}

/// A section job: section `z` of micrograph `index`'s volume, averaged over `thickness`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionKey {
    /// The micrograph's index in the session.
    pub index: usize,
    /// The section.
    pub z: usize,
    /// Sections averaged.
    pub thickness: usize,
}

/// What an orthoview pair shows: the XZ and YZ slabs through `(x, y, z)` of micrograph
/// `index`'s volume, as `shows` (raw, denoised when a denoised volume exists, or low-pass at
/// `lowpass` hundredths).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrthoKey {
    /// The micrograph's index in the session.
    pub index: usize,
    /// Cursor x (the YZ view's position).
    pub x: usize,
    /// Cursor y (the XZ view's position).
    pub y: usize,
    /// The XY section shown.
    pub z: usize,
    /// Sections averaged.
    pub thickness: usize,
    /// The view shown.
    pub shows: View,
    /// Low-pass factor in hundredths (0 unless low-pass).
    pub lowpass: u32,
}
