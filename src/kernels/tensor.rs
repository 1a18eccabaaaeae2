//! The arrays the native kernels work on: channels-last 2D activations ([`Hwc`]) and
//! channels-first 3D volumes ([`Cdhw`]), both f32 and owning their values.

/// A channels-last 2D activation: `data[(y * width + x) * channels + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Hwc {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels.
    pub channels: usize,
    /// Values, `height * width * channels`.
    pub data: Vec<f32>,
}

impl Hwc {
    /// A one-channel image from row-major values (`height × width`).
    pub fn image(data: Vec<f32>, height: usize, width: usize) -> Self {
        Hwc {
            height,
            width,
            channels: 1,
            data,
        }
    }

    /// Rows `[y0, y1)` as a new activation.
    ///
    /// # Panics
    /// When `y1` is beyond the height or before `y0`.
    pub fn rows(&self, y0: usize, y1: usize) -> Hwc {
        let row = self.width * self.channels;
        Hwc {
            height: y1 - y0,
            width: self.width,
            channels: self.channels,
            data: self.data[y0 * row..y1 * row].to_vec(),
        }
    }

    /// Adds `other` (same shape) element-wise.
    pub fn add_assign(&mut self, other: &Hwc) {
        for (x, y) in self.data.iter_mut().zip(&other.data) {
            *x += y;
        }
    }
}

/// A channels-first 3D volume: `data[((c * depth + z) * height + y) * width + x]`, i.e.
/// `[c][z][y][x]` (burn's `[1, c, z, y, x]` without the batch axis).
#[derive(Clone, Debug, PartialEq)]
pub struct Cdhw {
    /// Channels.
    pub channels: usize,
    /// `[depth (z), height (y), width (x)]` in voxels.
    pub shape: [usize; 3],
    /// Values, `channels · depth · height · width`.
    pub data: Vec<f32>,
}
