//! How much memory a read may take: decoding limits that follow the machine and the file.
//!
//! Before a reader allocates the pixels a header declares, it asks [`check_fits`]: the bytes
//! must fit in a fraction ([`MEMORY_FRACTION`]) of the memory the system says is available
//! (`MemAvailable` in `/proc/meminfo`; no check where that is unknown), so that a file that
//! cannot be held is refused with a clear error instead of driving the machine into swap or
//! the out-of-memory killer. Compressed files are also checked for plausibility by
//! [`check_expansion`]: real micrographs do not shrink hundreds of times under deflate or LZW,
//! a crafted "bomb" of zeros does.

use std::path::Path;

use super::IoError;

/// Fraction of the available memory one read may use.
pub const MEMORY_FRACTION: f64 = 0.5;

/// Largest plausible ratio of decoded to stored bytes for a compressed image larger than
/// [`EXPANSION_CHECK_BYTES`] (noisy micrographs compress about 1-10×; sparse counting frames
/// some tens).
pub const MAX_PLAUSIBLE_EXPANSION: u64 = 256;

/// Decoded sizes up to this many bytes are never refused as implausible (16 MiB).
pub const EXPANSION_CHECK_BYTES: u64 = 16 << 20;

/// The memory the system says is available to new allocations, in bytes (`MemAvailable` in
/// `/proc/meminfo`); `None` where that is not known (not Linux, or an old kernel).
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// `MemAvailable: N kB` of a `/proc/meminfo` text, in bytes.
fn parse_mem_available(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Checks that a read needing `bytes` of memory for `what` fits in [`MEMORY_FRACTION`] of the
/// available memory.
///
/// # Errors
/// [`IoError::Invalid`] naming the sizes in GB when it does not.
pub fn check_fits(path: &Path, what: &str, bytes: u64) -> Result<(), IoError> {
    check_fits_in(path, what, bytes, available_memory_bytes())
}

fn check_fits_in(
    path: &Path,
    what: &str,
    bytes: u64,
    available: Option<u64>,
) -> Result<(), IoError> {
    let Some(available) = available else {
        return Ok(());
    };
    let allowed = (available as f64 * MEMORY_FRACTION) as u64;
    if bytes <= allowed {
        return Ok(());
    }
    Err(IoError::invalid(
        path,
        format!(
            "{what} needs {:.2} GB of memory but only {:.2} GB is available (free memory or use a machine with more)",
            bytes as f64 / 1e9,
            available as f64 / 1e9
        ),
    ))
}

/// Checks that `decoded` bytes are a plausible expansion of `stored` compressed bytes.
///
/// # Errors
/// [`IoError::Invalid`] when the data would grow more than [`MAX_PLAUSIBLE_EXPANSION`] times
/// to more than [`EXPANSION_CHECK_BYTES`].
pub fn check_expansion(path: &Path, what: &str, decoded: u64, stored: u64) -> Result<(), IoError> {
    if decoded <= EXPANSION_CHECK_BYTES || decoded <= stored.saturating_mul(MAX_PLAUSIBLE_EXPANSION)
    {
        return Ok(());
    }
    Err(IoError::invalid(
        path,
        format!(
            "{what} would expand {stored} bytes of file to {:.1} MB of pixels, more than {MAX_PLAUSIBLE_EXPANSION}×: not a plausible image (if it is real, save it uncompressed or as MRC)",
            decoded as f64 / 1e6
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_parsed() {
        let t = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   2000000 kB\n";
        assert_eq!(parse_mem_available(t), Some(2_048_000_000));
        assert_eq!(parse_mem_available("MemTotal: 5 kB\n"), None);
    }

    #[test]
    fn limits_follow_the_machine_and_the_file() {
        let p = Path::new("x.tif");
        assert!(check_fits_in(p, "x", 900, Some(2000)).is_ok());
        let e = check_fits_in(p, "x", 1_100_000_000, Some(2_000_000_000)).unwrap_err();
        assert!(e.to_string().contains("1.10 GB"), "{e}");
        assert!(check_fits_in(p, "x", u64::MAX, None).is_ok());
        assert!(check_expansion(p, "x", 1 << 20, 10).is_ok());
        assert!(check_expansion(p, "x", 100 << 20, 1 << 20).is_ok());
        assert!(check_expansion(p, "x", 268_435_456, 260_000).is_err());
    }
}
