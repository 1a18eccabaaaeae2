//! Plausibility of pixel sizes, box sizes and particle diameters, and the one check that two
//! images or maps are sampled alike.
//!
//! Every command that compares two images or maps (FSC of half-maps, crefDenoiser, even/odd
//! training pairs, even/odd analysis) calls [`check_same_pixel_size`]: pixel sizes more than
//! [`PIXEL_SIZE_TOLERANCE`] (relative) apart are different samplings, and comparing them
//! frequency by frequency would be wrong. A header that says 1e-30 or 1e30 Å/px is a broken
//! header, not a measurement: [`check_plausible_pixel_size`] refuses values outside
//! [`PLAUSIBLE_PIXEL_SIZE`]. Lengths a user types (box size, particle diameter) must be
//! positive, finite and below [`MAX_LENGTH_PX`] ([`check_length_px`]).
//!
//! Units: pixel sizes in Å per pixel (voxel), lengths in pixels.

use std::ops::RangeInclusive;

use thiserror::Error;

/// Two pixel sizes are the same sampling when they differ by at most this fraction of the
/// larger (1 %: header rounding, but not a binning or a different magnification).
pub const PIXEL_SIZE_TOLERANCE: f64 = 0.01;

/// Pixel sizes (Å/px) a micrograph, tomogram or map can plausibly have: from super-resolution
/// micrographs (≈ 0.3 Å/px) with margin down to 0.05, up to heavily binned tomograms with
/// margin at 100.
pub const PLAUSIBLE_PIXEL_SIZE: RangeInclusive<f64> = 0.05..=100.0;

/// The largest box size or particle diameter accepted, in pixels (larger than any detector).
pub const MAX_LENGTH_PX: f64 = 16384.0;

/// A sampling that cannot be used as it is.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SamplingError {
    /// Two inputs differ in pixel size by more than [`PIXEL_SIZE_TOLERANCE`].
    #[error(
        "pixel size (voxel size) differs: {first} has {a} Å/px but {second} has {b} Å/px \
         ({percent:.1} % apart, more than 1 %): they are sampled differently (resample one to \
         the other's pixel size, or pass --force if you know the headers are wrong)"
    )]
    Mismatch {
        /// The first input.
        first: String,
        /// Its pixel size (Å/px).
        a: f64,
        /// The second input.
        second: String,
        /// Its pixel size (Å/px).
        b: f64,
        /// How far apart, in % of the larger.
        percent: f64,
    },
    /// A pixel size outside [`PLAUSIBLE_PIXEL_SIZE`] (or not finite).
    #[error(
        "{what}: pixel size {value:e} Å/px is not plausible (expected 0.05–100 Å/px): the header \
         is probably wrong (give the real one with --pixel-size, or pass --force to use it)"
    )]
    Implausible {
        /// The input.
        what: String,
        /// The value read (Å/px).
        value: f32,
    },
    /// A box size or diameter that is not a positive number up to [`MAX_LENGTH_PX`].
    #[error("{what} must be a number of pixels in (0, 16384], got {value} (give a positive size)")]
    BadLength {
        /// What the length is ("--box-size", "particle diameter").
        what: String,
        /// The value given.
        value: f64,
    },
}

/// What a user asserts about the sampling of several inputs on the command line
/// (`--pixel-size`, `--force`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SamplingOverride {
    /// The pixel size (Å/px) to use for every input, whatever the headers say.
    pub pixel_size: Option<f32>,
    /// Use the headers even where they disagree or are implausible (the first known size
    /// wins).
    pub force: bool,
}

impl SamplingOverride {
    /// The one pixel size (Å/px) to use for all `inputs`, each (name, size as read, size its
    /// header states; `None` unknown): the size given; else the first size as read, after
    /// checking that every stated size is plausible and agrees with the first stated one
    /// (both skipped with `force`). The stated size counts where a reader takes a header's
    /// value as unset (an MRC cell of 1 Å/px), so 1 Å against 2 Å is still a mismatch.
    ///
    /// # Errors
    /// The first implausible size or disagreement ([`SamplingError`]).
    pub fn reconcile(
        &self,
        inputs: &[(&str, Option<f32>, Option<f32>)],
    ) -> Result<Option<f32>, SamplingError> {
        if let Some(p) = self.pixel_size {
            return Ok(Some(p));
        }
        if !self.force {
            let stated: Vec<(&str, Option<f32>)> =
                inputs.iter().map(|&(n, read, s)| (n, read.or(s))).collect();
            for &(name, p) in &stated {
                check_plausible_pixel_size(name, p)?;
            }
            if let Some(&(name0, p0)) = stated.iter().find(|(_, p)| p.is_some()) {
                for &(name, p) in &stated {
                    check_same_pixel_size(name0, p0, name, p)?;
                }
            }
        }
        Ok(inputs.iter().find_map(|&(_, read, _)| read))
    }
}

/// Checks that `a` and `b` (pixel sizes in Å/px, `None` when unknown) agree within
/// [`PIXEL_SIZE_TOLERANCE`]; an unknown size agrees with anything. `first` and `second` name
/// the inputs in the error.
///
/// # Errors
/// [`SamplingError::Mismatch`], naming both inputs and both sizes.
pub fn check_same_pixel_size(
    first: &str,
    a: Option<f32>,
    second: &str,
    b: Option<f32>,
) -> Result<(), SamplingError> {
    let (Some(a), Some(b)) = (a, b) else {
        return Ok(());
    };
    let (a, b) = (a as f64, b as f64);
    let larger = a.abs().max(b.abs());
    let apart = if larger > 0.0 {
        (a - b).abs() / larger
    } else {
        0.0
    };
    if apart.is_nan() || apart > PIXEL_SIZE_TOLERANCE {
        return Err(SamplingError::Mismatch {
            first: first.to_string(),
            a,
            second: second.to_string(),
            b,
            percent: 100.0 * apart,
        });
    }
    Ok(())
}

/// Checks that a pixel size read from `what` (Å/px; `None` when unknown) lies in
/// [`PLAUSIBLE_PIXEL_SIZE`].
///
/// # Errors
/// [`SamplingError::Implausible`], naming the input and the value.
pub fn check_plausible_pixel_size(
    what: &str,
    pixel_size: Option<f32>,
) -> Result<(), SamplingError> {
    match pixel_size {
        Some(p) if !PLAUSIBLE_PIXEL_SIZE.contains(&(p as f64)) => Err(SamplingError::Implausible {
            what: what.to_string(),
            value: p,
        }),
        _ => Ok(()),
    }
}

/// Checks a box size or particle diameter `value` in pixels: finite, > 0 and at most
/// [`MAX_LENGTH_PX`]. Returns it.
///
/// # Errors
/// [`SamplingError::BadLength`], naming `what` and the value.
pub fn check_length_px(what: &str, value: f64) -> Result<f64, SamplingError> {
    if value.is_finite() && value > 0.0 && value <= MAX_LENGTH_PX {
        Ok(value)
    } else {
        Err(SamplingError::BadLength {
            what: what.to_string(),
            value,
        })
    }
}

/// Parses a box size or particle diameter in pixels as a command-line value parser
/// (`#[arg(value_parser = sampling::parse_length_px)]`): a number accepted by
/// [`check_length_px`].
///
/// # Errors
/// Text that is not a number, or a number [`check_length_px`] refuses.
pub fn parse_length_px(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of pixels"))?;
    check_length_px("the size", v).map_err(|e| e.to_string())
}

/// Parses a pixel size in Å/px given on the command line: a number in
/// [`PLAUSIBLE_PIXEL_SIZE`].
///
/// # Errors
/// Text that is not a number, or an implausible value.
pub fn parse_pixel_size(text: &str) -> Result<f32, String> {
    let v: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a pixel size in Å/px"))?;
    check_plausible_pixel_size("--pixel-size", Some(v)).map_err(|e| e.to_string())?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_sampling_within_one_percent() {
        assert!(check_same_pixel_size("a", Some(1.0), "b", Some(1.005)).is_ok());
        assert!(check_same_pixel_size("a", Some(1.0), "b", None).is_ok());
        let e = check_same_pixel_size("half1.mrc", Some(1.0), "half2.mrc", Some(2.0)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("half1.mrc") && text.contains("half2.mrc") && text.contains("--force"),
            "{text}"
        );
        assert!(check_same_pixel_size("a", Some(1.5), "b", Some(3.0)).is_err());
        assert!(check_same_pixel_size("a", Some(f32::NAN), "b", Some(1.0)).is_err());
    }

    #[test]
    fn override_gives_one_size_or_refuses() {
        let strict = SamplingOverride::default();
        let inputs = [
            ("h1", Some(1.0), None),
            ("h2", None, None),
            ("h3", Some(2.0), None),
        ];
        assert!(strict.reconcile(&inputs).is_err());
        let forced = SamplingOverride {
            force: true,
            ..strict
        };
        assert_eq!(forced.reconcile(&inputs).unwrap(), Some(1.0));
        let given = SamplingOverride {
            pixel_size: Some(1.5),
            force: false,
        };
        assert_eq!(given.reconcile(&inputs).unwrap(), Some(1.5));
        assert!(strict.reconcile(&[("h1", Some(1e-30), None)]).is_err());
        assert_eq!(strict.reconcile(&[("h1", None, None)]).unwrap(), None);
        // A header cell of 1 Å/px reads as unknown but still disagrees with 2 Å/px; the size
        // used stays the one read.
        let unset = [("h1", None, Some(1.0)), ("h2", Some(2.0), Some(2.0))];
        assert!(strict.reconcile(&unset).is_err());
        assert_eq!(forced.reconcile(&unset).unwrap(), Some(2.0));
        let same = [("h1", None, Some(1.0)), ("h2", None, Some(1.0))];
        assert_eq!(strict.reconcile(&same).unwrap(), None);
    }

    #[test]
    fn implausible_pixel_sizes_and_lengths_are_refused() {
        for p in [1e-30, 1e30, 0.0, -1.0, f32::NAN, f32::INFINITY] {
            assert!(check_plausible_pixel_size("m.mrc", Some(p)).is_err(), "{p}");
        }
        for p in [0.05, 0.5, 1.06, 20.0, 100.0] {
            assert!(check_plausible_pixel_size("m.mrc", Some(p)).is_ok(), "{p}");
        }
        assert!(check_plausible_pixel_size("m.mrc", None).is_ok());
        let e = check_plausible_pixel_size("m.mrc", Some(1e-30)).unwrap_err();
        assert!(e.to_string().contains("1e-30"), "{e}");
        for v in [-64.0, 0.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(check_length_px("--box-size", v).is_err(), "{v}");
        }
        assert_eq!(check_length_px("--box-size", 64.0).unwrap(), 64.0);
        assert!(parse_length_px("-64").is_err());
        assert!(parse_length_px("abc").is_err());
        assert_eq!(parse_length_px("128").unwrap(), 128.0);
        assert!(parse_pixel_size("1e30").is_err());
        assert_eq!(parse_pixel_size("1.06").unwrap(), 1.06);
    }
}
