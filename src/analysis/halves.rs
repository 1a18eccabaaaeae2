//! Where the two independent halves of a micrograph's analysis come from: an even/odd pair of
//! frame sums found beside it, or binomial count splitting of the micrograph itself.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::image::Image;
use crate::io::{EVEN_ODD_SUFFIXES, micrograph_base};
use crate::metrics::{self, CountSplitOptions};
use crate::sampling::SamplingOverride;

/// The sub-folders Warp and WarpTools write the even and odd half averages into, beside the
/// full averages (`average/even/`, `average/odd/`), the file names unchanged.
pub const WARP_HALF_FOLDERS: (&str, &str) = ("even", "odd");

/// The even and odd frame sums of micrograph `path`, when both exist beside it with the same
/// extension: `mic.mrc` → `mic_EVN.mrc` + `mic_ODD.mrc` (or `_even`/`_odd`); MotionCor2's
/// dose-weighted sum pairs the same way (`mic_DW.mrc` → `mic_EVN.mrc` + `mic_ODD.mrc`, see
/// [`crate::io::micrograph_base`]); `path` may also be one of the halves itself
/// (`mic_EVN.mrc` → itself + `mic_ODD.mrc`). cryoSPARC's halves carry the full name
/// (`UID_mic_patch_aligned_doseweighted.mrc` → `…_doseweighted_even.mrc` +
/// `…_doseweighted_odd.mrc`): the name's own halves are tried before its base name's. Warp and WarpTools keep the halves in
/// sub-folders of the averages' folder under the same name ([`WARP_HALF_FOLDERS`]:
/// `average/mic.mrc` → `average/even/mic.mrc` + `average/odd/mic.mrc`; a half given itself
/// pairs with its sibling). `None` when no complete pair exists.
pub fn find_half_pair(path: &Path) -> Option<(PathBuf, PathBuf)> {
    let dir = path.parent().unwrap_or(Path::new(""));
    let name = path.file_name()?;
    let (even_dir, odd_dir) = WARP_HALF_FOLDERS;
    let average = match dir.file_name().and_then(|d| d.to_str()) {
        Some(d) if d == even_dir || d == odd_dir => dir.parent().unwrap_or(Path::new("")),
        _ => dir,
    };
    let (a, b) = (
        average.join(even_dir).join(name),
        average.join(odd_dir).join(name),
    );
    if a.is_file() && b.is_file() {
        return Some((a, b));
    }
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    // The halves of the name itself first (cryoSPARC:
    // `mic_patch_aligned_doseweighted.mrc` → `mic_patch_aligned_doseweighted_even.mrc`), then
    // of its base name (MotionCor2: `mic_DW.mrc` → `mic_EVN.mrc`).
    let base = micrograph_base(&stem);
    let prefixes = if base == stem {
        vec![base]
    } else {
        vec![stem.as_str(), base]
    };
    for prefix in prefixes {
        for (even, odd) in EVEN_ODD_SUFFIXES {
            let a = dir.join(format!("{prefix}{even}{ext}"));
            let b = dir.join(format!("{prefix}{odd}{ext}"));
            if a.is_file() && b.is_file() {
                return Some((a, b));
            }
        }
    }
    None
}

/// Reads an even/odd pair, checking that the halves match: same shape, pixel sizes plausible
/// and within 1 % ([`crate::sampling`]; skipped with `force`, half A's size then used for
/// both).
///
/// # Errors
/// Unreadable files; halves that differ in shape or pixel size (the message names both);
/// an implausible pixel size.
pub fn read_half_pair(even: &Path, odd: &Path, force: bool) -> Result<(Image, Image)> {
    let a = crate::io::read_micrograph(even)?;
    let b = crate::io::read_micrograph(odd)?;
    if (a.width, a.height) != (b.width, b.height) {
        bail!(
            "even and odd halves differ in shape: {} is {}×{}, {} is {}×{}",
            even.display(),
            a.width,
            a.height,
            odd.display(),
            b.width,
            b.height
        );
    }
    let sampling = SamplingOverride {
        pixel_size: None,
        force,
    };
    let (ea, eb) = (even.display().to_string(), odd.display().to_string());
    let stated = |p: &Path| crate::io::stated_pixel_size(p).ok().flatten();
    let size = sampling.reconcile(&[
        (&ea, a.pixel_size_angstrom, stated(even)),
        (&eb, b.pixel_size_angstrom, stated(odd)),
    ])?;
    Ok((a.with_pixel_size(size), b.with_pixel_size(size)))
}

/// Where the two halves of an analysis came from.
#[derive(Clone, Debug, PartialEq)]
pub enum HalvesSource {
    /// Even/odd frame sums read from these files.
    Pair(PathBuf, PathBuf),
    /// Binomial count splitting of the micrograph with this gain (image units per electron).
    CountSplit {
        /// Gain used.
        gain: f64,
        /// Whether non-count data were split anyway (rounded).
        forced: bool,
        /// Pixels that were not integer counts × gain.
        non_integer_pixels: usize,
    },
}

impl HalvesSource {
    /// One line for the GUI and the CLI.
    pub fn describe(&self) -> String {
        match self {
            HalvesSource::Pair(a, b) => format!(
                "even/odd sums {} + {}",
                a.file_name().unwrap_or_default().to_string_lossy(),
                b.file_name().unwrap_or_default().to_string_lossy()
            ),
            HalvesSource::CountSplit {
                gain,
                forced,
                non_integer_pixels,
            } => format!(
                "count split (gain {gain:.3} per e-{})",
                if *forced {
                    format!(", forced: {non_integer_pixels} non-count pixels rounded")
                } else {
                    String::new()
                }
            ),
        }
    }
}

/// The halves of `micrograph` (read from `path` if it is on disk): an even/odd pair found by
/// [`find_half_pair`], else count splitting with `split` options.
///
/// # Errors
/// A bad pair; data that are not counts (unless `split.force`).
pub fn halves_for(
    micrograph: &Image,
    path: Option<&Path>,
    split: &CountSplitOptions,
) -> Result<(Image, Image, HalvesSource)> {
    if let Some((even, odd)) = path.and_then(find_half_pair) {
        let (a, b) = read_half_pair(&even, &odd, split.force)?;
        return Ok((a, b, HalvesSource::Pair(even, odd)));
    }
    let s = metrics::split_counts(micrograph, split)?;
    Ok((
        s.half1,
        s.half2,
        HalvesSource::CountSplit {
            gain: s.gain,
            forced: split.force,
            non_integer_pixels: s.non_integer_pixels,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_found_by_suffix() {
        let dir = tempfile::tempdir().unwrap();
        let touch = |n: &str| std::fs::write(dir.path().join(n), b"x").unwrap();
        touch("a.mrc");
        touch("a_EVN.mrc");
        touch("a_ODD.mrc");
        touch("b_even.tif");
        touch("b_odd.tif");
        touch("c.mrc");
        touch("c_EVN.mrc");
        touch("m_DW.mrc");
        touch("m_EVN.mrc");
        touch("m_ODD.mrc");
        let d = dir.path();
        // MotionCor2: the dose-weighted sum pairs with the halves of its base name.
        let m = Some((d.join("m_EVN.mrc"), d.join("m_ODD.mrc")));
        assert_eq!(find_half_pair(&d.join("m_DW.mrc")), m);
        assert_eq!(find_half_pair(&d.join("m_ODD.mrc")), m);
        let ab = Some((d.join("a_EVN.mrc"), d.join("a_ODD.mrc")));
        assert_eq!(find_half_pair(&d.join("a.mrc")), ab);
        assert_eq!(find_half_pair(&d.join("a_ODD.mrc")), ab);
        assert_eq!(
            find_half_pair(&d.join("b.tif")),
            Some((d.join("b_even.tif"), d.join("b_odd.tif")))
        );
        // cryoSPARC: the halves of the full name, UID prefix and all.
        let cs = "1458977_mic_patch_aligned_doseweighted";
        touch(&format!("{cs}.mrc"));
        touch(&format!("{cs}_even.mrc"));
        touch(&format!("{cs}_odd.mrc"));
        let csp = Some((
            d.join(format!("{cs}_even.mrc")),
            d.join(format!("{cs}_odd.mrc")),
        ));
        assert_eq!(find_half_pair(&d.join(format!("{cs}.mrc"))), csp);
        assert_eq!(find_half_pair(&d.join(format!("{cs}_odd.mrc"))), csp);
        assert_eq!(find_half_pair(&d.join("c.mrc")), None);
        assert_eq!(find_half_pair(&d.join("b.mrc")), None);
    }

    #[test]
    fn warp_keeps_halves_in_even_and_odd_folders() {
        let dir = tempfile::tempdir().unwrap();
        let average = dir.path().join("average");
        for sub in ["", "even", "odd"] {
            std::fs::create_dir_all(average.join(sub)).unwrap();
            std::fs::write(average.join(sub).join("mic_0001.mrc"), b"x").unwrap();
        }
        std::fs::write(average.join("even/mic_0002.mrc"), b"x").unwrap();
        std::fs::write(average.join("mic_0002.mrc"), b"x").unwrap();
        let pair = Some((
            average.join("even/mic_0001.mrc"),
            average.join("odd/mic_0001.mrc"),
        ));
        assert_eq!(find_half_pair(&average.join("mic_0001.mrc")), pair);
        assert_eq!(find_half_pair(&average.join("odd/mic_0001.mrc")), pair);
        // Only the even half: no pair.
        assert_eq!(find_half_pair(&average.join("mic_0002.mrc")), None);
    }
}
