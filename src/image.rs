//! The image types every module shares.
//!
//! Axis order is stated once here and holds everywhere: a 2D image is stored row-major with
//! rows = y (slow axis, `height` rows) and columns = x (fast axis, `width` columns), so the
//! value at column `x`, row `y` is `data[y * width + x]`. This is the order of MRC sections
//! (NX fastest) and of numpy arrays read by `mrcfile` (`array[y, x]`).

use thiserror::Error;

/// Errors about image shapes and contents.
#[derive(Debug, Error)]
pub enum ImageError {
    /// The buffer length does not match `width × height`.
    #[error("image buffer has {len} values but {width}×{height} needs {expected}")]
    ShapeMismatch {
        /// Columns (x).
        width: usize,
        /// Rows (y).
        height: usize,
        /// Values given.
        len: usize,
        /// Values needed.
        expected: usize,
    },
    /// Width or height is zero.
    #[error("image has an empty dimension ({width}×{height})")]
    Empty {
        /// Columns (x).
        width: usize,
        /// Rows (y).
        height: usize,
    },
    /// The image holds NaN or infinite values where finite ones are needed.
    #[error("image holds {count} non-finite values (NaN or ±inf); the first is at x={x}, y={y}")]
    NonFinite {
        /// How many values are not finite.
        count: usize,
        /// Column of the first one.
        x: usize,
        /// Row of the first one.
        y: usize,
    },
}

/// A 2D single-channel image (micrograph, tomogram slice, or derived image), `f32` values.
///
/// Shape: `height` rows (y) × `width` columns (x), row-major (`data[y * width + x]`).
/// `pixel_size_angstrom` is the sampling in Å/pixel when known (MRC header or user), `None`
/// when the file does not say (an MRC header cell of 0 or equal to the pixel count).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Columns (x, fast axis).
    pub width: usize,
    /// Rows (y, slow axis).
    pub height: usize,
    /// Row-major values, `width * height` of them.
    pub data: Vec<f32>,
    /// Pixel size in Å/pixel, if known.
    pub pixel_size_angstrom: Option<f32>,
}

/// Mean and standard deviation of an image (population σ, divisor n, as numpy's `std()`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation (divisor n).
    pub std: f64,
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
}

impl Image {
    /// Wraps a row-major buffer of `height` rows × `width` columns.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] if `data.len() != width * height`, [`ImageError::Empty`]
    /// if either dimension is zero.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Result<Self, ImageError> {
        if width == 0 || height == 0 {
            return Err(ImageError::Empty { width, height });
        }
        let expected = width.saturating_mul(height);
        if data.len() != expected {
            return Err(ImageError::ShapeMismatch {
                width,
                height,
                len: data.len(),
                expected,
            });
        }
        Ok(Self {
            width,
            height,
            data,
            pixel_size_angstrom: None,
        })
    }

    /// A zero-filled image of `height` rows × `width` columns.
    pub fn zeros(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
            pixel_size_angstrom: None,
        }
    }

    /// Sets the pixel size in Å/pixel (builder style).
    pub fn with_pixel_size(mut self, pixel_size_angstrom: Option<f32>) -> Self {
        self.pixel_size_angstrom = pixel_size_angstrom;
        self
    }

    /// Value at column `x`, row `y`. Panics if out of bounds (callers index within shape).
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// Copies the rectangle of rows `y0..y0+h` and columns `x0..x0+w` (must lie inside).
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Image {
        assert!(
            x0 + w <= self.width && y0 + h <= self.height,
            "crop outside image"
        );
        let mut data = Vec::with_capacity(w * h);
        for y in y0..y0 + h {
            let row = y * self.width;
            data.extend_from_slice(&self.data[row + x0..row + x0 + w]);
        }
        Image {
            width: w,
            height: h,
            data,
            pixel_size_angstrom: self.pixel_size_angstrom,
        }
    }

    /// Mean, population standard deviation, min and max, accumulated in f64.
    pub fn stats(&self) -> Stats {
        stats_of(&self.data)
    }

    /// Checks that every value is finite.
    ///
    /// # Errors
    /// [`ImageError::NonFinite`] with the count and the position of the first offender.
    pub fn check_finite(&self) -> Result<(), ImageError> {
        let mut count = 0usize;
        let mut first = None;
        for (i, v) in self.data.iter().enumerate() {
            if !v.is_finite() {
                count += 1;
                first.get_or_insert(i);
            }
        }
        match first {
            None => Ok(()),
            Some(i) => Err(ImageError::NonFinite {
                count,
                x: i % self.width,
                y: i / self.width,
            }),
        }
    }
}

/// Mean, population standard deviation (divisor n), min and max of a slice, in f64 sums.
/// An empty slice gives zeros.
pub fn stats_of(values: &[f32]) -> Stats {
    if values.is_empty() {
        return Stats {
            mean: 0.0,
            std: 0.0,
            min: 0.0,
            max: 0.0,
        };
    }
    let n = values.len() as f64;
    let (mut sum, mut min, mut max) = (0.0f64, f32::INFINITY, f32::NEG_INFINITY);
    for &v in values {
        sum += v as f64;
        min = min.min(v);
        max = max.max(v);
    }
    let mean = sum / n;
    let mut ss = 0.0f64;
    for &v in values {
        let d = v as f64 - mean;
        ss += d * d;
    }
    Stats {
        mean,
        std: (ss / n).sqrt(),
        min,
        max,
    }
}

/// A 3D volume (tomogram, map) or an image stack, `f32` values.
///
/// Shape: `depth` sections (z) × `height` rows (y) × `width` columns (x), stored z-major then
/// row-major: the value at (x, y, z) is `data[(z * height + y) * width + x]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    /// Columns (x).
    pub width: usize,
    /// Rows (y).
    pub height: usize,
    /// Sections (z).
    pub depth: usize,
    /// Values, `width * height * depth` of them.
    pub data: Vec<f32>,
    /// Voxel size in Å, if known.
    pub pixel_size_angstrom: Option<f32>,
}

impl Volume {
    /// Section `z` as a 2D image (copied). Panics if `z >= depth`.
    pub fn section(&self, z: usize) -> Image {
        let n = self.width * self.height;
        Image {
            width: self.width,
            height: self.height,
            data: self.data[z * n..(z + 1) * n].to_vec(),
            pixel_size_angstrom: self.pixel_size_angstrom,
        }
    }

    /// A section perpendicular to `axis` at `index`, averaged over a slab of `thickness`
    /// sections centred on it (clipped at the volume's faces; thickness 0 is taken as 1):
    /// `Axis::Z` gives an XY image (width × height), `Axis::Y` an XZ image (width × depth, rows
    /// = z), `Axis::X` a YZ image (depth × height: columns = z, rows = y, so that it sits beside
    /// the XY view with rows aligned). `index` is clamped into the volume.
    pub fn slab(&self, axis: Axis, index: usize, thickness: usize) -> Image {
        let (w, h, d) = (self.width, self.height, self.depth);
        if w * h * d != self.data.len() {
            return Image::zeros(0, 0);
        }
        slab_from_rows(
            (w, h, d),
            self.pixel_size_angstrom,
            axis,
            index,
            thickness,
            |z, y, x0, out| {
                let row = (z * h + y) * w + x0;
                out.copy_from_slice(&self.data[row..row + out.len()]);
            },
        )
    }
}

/// The slab of [`Volume::slab`] for any voxel store that can fill a run of one row:
/// `read_row(z, y, x0, out)` must write the voxels (x0..x0 + out.len(), y, z) into `out`.
///
/// `shape` is (width, height, depth). Every output pixel is the sum of its sections taken in
/// increasing section order, divided by their count, so stores holding the same values give
/// bit-identical images (a memory-mapped file and the loaded [`Volume`] agree exactly). Reads
/// only what the slab needs: `thickness` × height rows for `Axis::Z`, `thickness` × depth rows
/// for `Axis::Y`, and depth × height runs of `thickness` voxels for `Axis::X`. An empty shape
/// gives a 0 × 0 image.
pub fn slab_from_rows(
    shape: (usize, usize, usize),
    pixel_size_angstrom: Option<f32>,
    axis: Axis,
    index: usize,
    thickness: usize,
    mut read_row: impl FnMut(usize, usize, usize, &mut [f32]),
) -> Image {
    let (w, h, d) = shape;
    let len = match axis {
        Axis::Z => d,
        Axis::Y => h,
        Axis::X => w,
    };
    if len == 0 || w == 0 || h == 0 || d == 0 {
        return Image::zeros(0, 0);
    }
    let index = index.min(len - 1);
    let t = thickness.max(1);
    let first = index.saturating_sub((t - 1) / 2);
    let last = (index + t / 2 + 1).min(len);
    let n = (last - first) as f32;
    let (ow, oh) = match axis {
        Axis::Z => (w, h),
        Axis::Y => (w, d),
        Axis::X => (d, h),
    };
    let mut out = vec![0.0f32; ow * oh];
    let mut buf = vec![0.0f32; w];
    match axis {
        Axis::Z => {
            for k in first..last {
                for y in 0..h {
                    read_row(k, y, 0, &mut buf);
                    let o = &mut out[y * w..(y + 1) * w];
                    o.iter_mut().zip(&buf).for_each(|(o, v)| *o += v);
                }
            }
        }
        Axis::Y => {
            for k in first..last {
                for z in 0..d {
                    read_row(z, k, 0, &mut buf);
                    let o = &mut out[z * w..(z + 1) * w];
                    o.iter_mut().zip(&buf).for_each(|(o, v)| *o += v);
                }
            }
        }
        Axis::X => {
            let run = &mut buf[..last - first];
            // Section by section, so that a file is read in storage order.
            for z in 0..d {
                for y in 0..h {
                    read_row(z, y, first, run);
                    // Summed in increasing x, as the other axes sum in increasing section.
                    out[y * d + z] = run.iter().fold(0.0f32, |s, v| s + v);
                }
            }
        }
    }
    out.iter_mut().for_each(|v| *v /= n);
    Image {
        width: ow,
        height: oh,
        data: out,
        pixel_size_angstrom,
    }
}

/// A volume axis (storage order z, y, x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Axis {
    /// Columns.
    X,
    /// Rows.
    Y,
    /// Sections.
    Z,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_match_closed_form() {
        let im = Image::new(2, 2, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let s = im.stats();
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 4.0));
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        assert!(matches!(
            Image::new(3, 2, vec![0.0; 5]),
            Err(ImageError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            Image::new(0, 2, vec![]),
            Err(ImageError::Empty { .. })
        ));
    }

    #[test]
    fn slabs_average_the_right_voxels() {
        // value = 100 z + 10 y + x on a 4 × 3 × 5 volume.
        let (w, h, d) = (4, 3, 5);
        let data = (0..w * h * d)
            .map(|i| {
                let (x, y, z) = (i % w, (i / w) % h, i / (w * h));
                (100 * z + 10 * y + x) as f32
            })
            .collect();
        let v = Volume {
            width: w,
            height: h,
            depth: d,
            data,
            pixel_size_angstrom: None,
        };
        let xy = v.slab(Axis::Z, 2, 3);
        assert_eq!((xy.width, xy.height), (4, 3));
        assert_eq!(xy.get(1, 2), 221.0); // mean over z = 1, 2, 3
        let xz = v.slab(Axis::Y, 1, 1);
        assert_eq!((xz.width, xz.height), (4, 5));
        assert_eq!(xz.get(3, 4), 413.0);
        let yz = v.slab(Axis::X, 0, 2);
        assert_eq!((yz.width, yz.height), (5, 3));
        assert_eq!(yz.get(4, 2), 420.5); // x = 0, 1
        // Clipped at the faces, index clamped.
        assert_eq!(v.slab(Axis::Z, 0, 3).get(0, 0), 50.0);
        assert_eq!(v.slab(Axis::Z, 99, 1).get(0, 0), 400.0);
    }

    #[test]
    fn crop_takes_rows_and_columns() {
        let im = Image::new(3, 3, (0..9).map(|v| v as f32).collect()).unwrap();
        let c = im.crop(1, 1, 2, 2);
        assert_eq!(c.data, vec![4.0, 5.0, 7.0, 8.0]);
    }

    #[test]
    fn non_finite_is_located() {
        let im = Image::new(2, 2, vec![0.0, 1.0, f32::NAN, 2.0]).unwrap();
        match im.check_finite() {
            Err(ImageError::NonFinite { count, x, y }) => assert_eq!((count, x, y), (1, 0, 1)),
            other => panic!("{other:?}"),
        }
    }
}
