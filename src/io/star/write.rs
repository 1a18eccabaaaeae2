//! Writing STAR text the way RELION does: [`WriteOptions`] (the `# version` line), quoting of
//! values that need it, aligned pairs and loop columns ([`to_string`]), and atomic file
//! writes ([`write()`]).

use std::fmt::Write as _;
use std::path::Path;

use super::{StarError, StarFile};
use crate::io::IoError;

/// How [`to_string`] writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Write `# version N` before every block as RELION does (30001 for RELION 3.1–5).
    pub version: Option<u32>,
}

impl WriteOptions {
    /// RELION 3.1+ style: `# version 30001` before each block.
    pub fn relion() -> Self {
        WriteOptions {
            version: Some(30001),
        }
    }
}

/// Whether a value must be quoted to be read back as itself.
fn needs_quotes(v: &str) -> bool {
    if v.is_empty() || v.chars().any(char::is_whitespace) {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    v.starts_with(['_', '#', '\'', '"', ';'])
        || lower.starts_with("data_")
        || lower.starts_with("save_")
        || lower.starts_with("global_")
        || lower == "loop_"
        || lower == "stop_"
}

/// Quotes a value when needed.
fn quote(block: &str, column: &str, v: &str) -> Result<String, StarError> {
    let unwritable = |reason| StarError::Unwritable {
        block: block.to_string(),
        column: column.to_string(),
        value: v.to_string(),
        reason,
    };
    if v.contains(['\n', '\r']) {
        return Err(unwritable("it holds a line break"));
    }
    if !needs_quotes(v) {
        return Ok(v.to_string());
    }
    // A quote character inside the value is harmless unless white space follows it.
    let closes = |q: char| {
        let mut it = v.chars().peekable();
        while let Some(c) = it.next() {
            if c == q && it.peek().is_none_or(|n| n.is_whitespace()) {
                return true;
            }
        }
        false
    };
    if !closes('"') {
        Ok(format!("\"{v}\""))
    } else if !closes('\'') {
        Ok(format!("'{v}'"))
    } else {
        Err(unwritable(
            "it holds both a `\"` and a `'` followed by white space or at its end",
        ))
    }
}

/// Writes STAR text in RELION's layout: a blank line, `data_NAME`, a blank line, pairs as
/// `_key` padded to a common width and the value, or `loop_`, labels numbered `_label #1`…,
/// and rows with every column right-aligned to its widest value, columns separated by two
/// spaces, then a blank line. Values that need it are quoted (empty, white space, leading
/// `_ # ' " ;` or a reserved word).
///
/// # Errors
/// [`StarError::Unwritable`] for a value STAR cannot hold (a line break, or both a `"` and a
/// `'` followed by white space).
pub fn to_string(file: &StarFile, options: &WriteOptions) -> Result<String, StarError> {
    let mut out = String::new();
    for block in &file.blocks {
        if let Some(v) = options.version {
            let _ = writeln!(out, "\n# version {v}");
        }
        let _ = writeln!(out, "\ndata_{}\n", block.name);
        if !block.pairs.is_empty() {
            let width = block
                .pairs
                .iter()
                .map(|(k, _)| k.len() + 1)
                .max()
                .unwrap_or(0);
            for (k, v) in &block.pairs {
                let v = quote(&block.name, k, v)?;
                let _ = writeln!(out, "{:<width$}  {v}", format!("_{k}"));
            }
            out.push('\n');
        }
        if let Some(table) = &block.table {
            out.push_str("loop_\n");
            for (i, c) in table.columns.iter().enumerate() {
                let _ = writeln!(out, "_{c} #{}", i + 1);
            }
            let mut cells: Vec<Vec<String>> = Vec::with_capacity(table.rows.len());
            let mut widths = vec![0usize; table.columns.len()];
            for row in &table.rows {
                let mut quoted = Vec::with_capacity(row.len());
                for (c, v) in row.iter().enumerate() {
                    let q = quote(&block.name, &table.columns[c], v)?;
                    widths[c] = widths[c].max(q.chars().count());
                    quoted.push(q);
                }
                cells.push(quoted);
            }
            for row in &cells {
                let mut line = String::new();
                for (c, v) in row.iter().enumerate() {
                    if c > 0 {
                        line.push_str("  ");
                    }
                    let pad = widths[c] - v.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(v);
                }
                out.push_str(&line);
                out.push('\n');
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// Writes a STAR file atomically (temporary file, fsync, rename) in the layout of
/// [`to_string`].
///
/// # Errors
/// [`IoError::Invalid`] for a value STAR cannot hold or a failed write.
pub fn write(path: &Path, file: &StarFile, options: &WriteOptions) -> Result<(), IoError> {
    let text = to_string(file, options).map_err(|e| IoError::invalid(path, e.to_string()))?;
    write_star_text(path, &text)
}

/// Writes STAR `text` atomically, after the provenance comment lines
/// ([`crate::io::provenance::Provenance::star_comment`]: program, model, command).
pub(crate) fn write_star_text(path: &Path, text: &str) -> Result<(), IoError> {
    let comment = crate::io::provenance::current().star_comment();
    write_text(path, &format!("{comment}{text}"))
}

/// Writes text atomically with [`crate::io::atomic::write_atomically`].
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), IoError> {
    crate::io::atomic::write_atomically(path, text.as_bytes())
        .map_err(|e| IoError::invalid(path, format!("writing failed: {e:#}")))
}
