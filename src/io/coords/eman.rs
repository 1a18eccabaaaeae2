//! EMAN `.box` files: `x y w h` lower-left corners per line, and the 2-column segment centres
//! of e2helixboxer's `#helix:` files.

use std::path::Path;

use super::{
    CoordsError, Pick, check_finite, fmt_short, parse_num, read_parsed, size_of, write_formatted,
};
use crate::io::IoError;

/// Picks from an EMAN `.box` file. Lines of 4 or more numbers are `x y w h [flag]` with (x, y)
/// the lower-left corner: the centre is `(x + w/2, y + h/2)` and the size `(w, h)`. Lines of 2
/// numbers are e2helixboxer segment centres: the size is the `#segment width:` header's, the
/// filament the number of `#helix:` lines seen before, minus one. Other `#` lines are comments.
///
/// # Errors
/// A line with 1 or 3 values, or a value that is not a number (with the line).
pub fn parse_eman_box(text: &str) -> Result<Vec<Pick>, CoordsError> {
    let mut picks = Vec::new();
    let mut segment_width: Option<f64> = None;
    let mut helix: Option<i64> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(c) = t.strip_prefix('#') {
            let c = c.trim();
            if let Some(w) = c.strip_prefix("segment width:") {
                segment_width = Some(parse_num(w.trim(), n, "segment width")?);
            } else if c.starts_with("helix:") {
                helix = Some(helix.map_or(0, |h| h + 1));
            }
            continue;
        }
        let f: Vec<&str> = t.split_whitespace().collect();
        match f.len() {
            2 => {
                let mut p = Pick::new(parse_num(f[0], n, "x")?, parse_num(f[1], n, "y")?);
                p.size = segment_width.map(|w| (w, w));
                p.filament = helix;
                picks.push(p);
            }
            k if k >= 4 => {
                let x = parse_num(f[0], n, "x")?;
                let y = parse_num(f[1], n, "y")?;
                let w = parse_num(f[2], n, "width")?;
                let h = parse_num(f[3], n, "height")?;
                let mut p = Pick::new(x + w / 2.0, y + h / 2.0);
                p.size = Some((w, h));
                picks.push(p);
            }
            k => {
                return Err(CoordsError::at(
                    n,
                    format!(
                        "{k} values; an EMAN box line is `x y width height` (or `x y` in e2helixboxer files)"
                    ),
                ));
            }
        }
    }
    Ok(picks)
}

/// Reads an EMAN `.box` file (see [`parse_eman_box`]).
///
/// # Errors
/// As [`parse_eman_box`], with the file named.
pub fn read_eman_box(path: &Path) -> Result<Vec<Pick>, IoError> {
    read_parsed(path, parse_eman_box)
}

/// EMAN `.box` text: one `x\ty\tw\th` line per pick, (x, y) the lower-left corner
/// `(centre − size/2)`, numbers in their shortest exact form. The size is the pick's, else
/// `box_size` (square).
///
/// # Errors
/// A pick without size when `box_size` is `None`, or a non-finite value.
pub fn format_eman_box(picks: &[Pick], box_size: Option<f64>) -> Result<String, CoordsError> {
    check_finite(picks)?;
    let mut out = String::new();
    for (i, p) in picks.iter().enumerate() {
        let (w, h) = size_of(p, i, box_size)?;
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\n",
            fmt_short(p.x - w / 2.0),
            fmt_short(p.y - h / 2.0),
            fmt_short(w),
            fmt_short(h)
        ));
    }
    Ok(out)
}

/// Writes [`format_eman_box`] atomically to `path`.
///
/// # Errors
/// As [`format_eman_box`], or a failed write.
pub fn write_eman_box(path: &Path, picks: &[Pick], box_size: Option<f64>) -> Result<(), IoError> {
    write_formatted(path, format_eman_box(picks, box_size))
}
