//! Topaz particle lists (`particles.txt`): a header naming `image_name`, `x_coord`, `y_coord`
//! and optionally `score`, then one centre per line, grouped by `image_name`.

use std::path::Path;

use super::{
    CoordsError, MicrographPicks, Pick, check_finite, fmt_short, group, parse_num, read_parsed,
    write_formatted,
};
use crate::io::IoError;

/// Picks from a Topaz particle list: a header line naming `image_name`, `x_coord`, `y_coord`
/// and optionally `score` (any order), then one pick per line, tab-separated (white space when
/// the header has no tab). Grouped by `image_name` in order of first appearance. Empty text
/// gives no picks; a score of `nan` is none.
///
/// # Errors
/// A missing header column, a row with the wrong number of fields or a bad number (with the
/// line).
pub fn parse_topaz(text: &str) -> Result<Vec<MicrographPicks>, CoordsError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Ok(Vec::new());
    };
    let tabbed = header.contains('\t');
    let split = |l: &str| -> Vec<String> {
        if tabbed {
            l.trim_end_matches(['\r', '\n'])
                .split('\t')
                .map(|s| s.trim().to_string())
                .collect()
        } else {
            l.split_whitespace().map(str::to_string).collect()
        }
    };
    let names = split(header);
    let col = |n: &str| names.iter().position(|h| h == n);
    let (Some(ci), Some(cx), Some(cy)) = (col("image_name"), col("x_coord"), col("y_coord")) else {
        return Err(CoordsError::at(
            hline,
            format!(
                "Topaz header must name image_name, x_coord and y_coord; found `{}`",
                crate::errors::quote(header.trim())
            ),
        ));
    };
    let cs = col("score");
    let mut items = Vec::new();
    for (n, line) in lines {
        let f = split(line);
        if f.len() != names.len() {
            return Err(CoordsError::at(
                n,
                format!("{} fields where the header has {}", f.len(), names.len()),
            ));
        }
        let mut p = Pick::new(
            parse_num(&f[cx], n, "x_coord")?,
            parse_num(&f[cy], n, "y_coord")?,
        );
        if let Some(cs) = cs
            && !f[cs].eq_ignore_ascii_case("nan")
        {
            p.score = Some(parse_num(&f[cs], n, "score")?);
        }
        items.push((f[ci].clone(), p));
    }
    Ok(group(items))
}

/// Reads a Topaz particle list (see [`parse_topaz`]).
///
/// # Errors
/// As [`parse_topaz`], with the file named.
pub fn read_topaz(path: &Path) -> Result<Vec<MicrographPicks>, IoError> {
    read_parsed(path, parse_topaz)
}

/// Topaz particle list text: `image_name\tx_coord\ty_coord` plus `\tscore` when any pick has a
/// score (`nan` for those without), then one line per pick, numbers in their shortest exact
/// form (`6924`, `12.5`).
///
/// # Errors
/// A non-finite value, or a micrograph name with a tab or line break.
pub fn format_topaz(groups: &[MicrographPicks]) -> Result<String, CoordsError> {
    let has_score = groups
        .iter()
        .flat_map(|g| &g.picks)
        .any(|p| p.score.is_some());
    let mut out = String::from("image_name\tx_coord\ty_coord");
    if has_score {
        out.push_str("\tscore");
    }
    out.push('\n');
    for g in groups {
        check_finite(&g.picks)?;
        if g.micrograph.contains(['\t', '\n', '\r']) {
            return Err(CoordsError::msg(format!(
                "micrograph name `{}` holds a tab or line break",
                crate::errors::quote(&g.micrograph)
            )));
        }
        for p in &g.picks {
            out.push_str(&g.micrograph);
            out.push('\t');
            out.push_str(&fmt_short(p.x));
            out.push('\t');
            out.push_str(&fmt_short(p.y));
            if has_score {
                out.push('\t');
                out.push_str(&p.score.map_or_else(|| "nan".to_string(), fmt_short));
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// Writes [`format_topaz`] atomically to `path`.
///
/// # Errors
/// As [`format_topaz`], or a failed write.
pub fn write_topaz(path: &Path, groups: &[MicrographPicks]) -> Result<(), IoError> {
    write_formatted(path, format_topaz(groups))
}
