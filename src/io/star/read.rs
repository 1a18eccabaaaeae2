//! Reading STAR text: the tokenizer (quotes, `#` comments), the block/loop state machine
//! behind [`parse`] and [`parse_lenient`], and [`read`] for files. What is and is not
//! supported is listed in [`super`].

use std::collections::HashSet;
use std::path::Path;

use super::{Block, StarError, StarFile, Table};
use crate::io::IoError;

/// Splits one line into tokens, honouring quotes and `#` comments. Quoted tokens come back
/// without their quotes, with `quoted = true`.
pub(super) fn tokenize(line: &str, lineno: usize) -> Result<Vec<(String, bool)>, StarError> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b'#' {
            break;
        }
        if b == b'\'' || b == b'"' {
            // A closing quote is the same character followed by white space or end of line.
            let start = i + 1;
            let mut j = start;
            let end = loop {
                if j >= bytes.len() {
                    return Err(StarError::Syntax {
                        line: lineno,
                        message: format!(
                            "unterminated {} quote starting at column {}",
                            if b == b'"' { "double" } else { "single" },
                            i + 1
                        ),
                    });
                }
                if bytes[j] == b && (j + 1 == bytes.len() || bytes[j + 1].is_ascii_whitespace()) {
                    break j;
                }
                j += 1;
            };
            // Quotes are ASCII, so these are char boundaries.
            out.push((line[start..end].to_string(), true));
            i = end + 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push((line[start..i].to_string(), false));
    }
    Ok(out)
}

/// Where the parser is inside the current block.
#[derive(PartialEq)]
enum State {
    /// In a block, reading pairs.
    Pairs,
    /// After `loop_`, reading labels.
    Labels,
    /// Reading rows of the loop.
    Rows,
}

/// Parses STAR text.
///
/// # Errors
/// [`StarError::Syntax`] with the line number for anything we do not read (see the module
/// documentation).
pub fn parse(text: &str) -> Result<StarFile, StarError> {
    parse_impl(text, None)
}

/// Like [`parse`], but a loop row with *fewer* values than labels is accepted: the missing
/// trailing values are filled with `<NA>` and a warning naming the line is returned. Real
/// files written by some tools have such rows (crYOLO's `star_example.star`); which column
/// is really missing cannot be known, so only use this when the caller checks the values it
/// needs. Rows with too many values are still errors.
///
/// # Errors
/// As [`parse`], except for short rows.
pub fn parse_lenient(text: &str) -> Result<(StarFile, Vec<String>), StarError> {
    let mut warnings = Vec::new();
    let file = parse_impl(text, Some(&mut warnings))?;
    Ok((file, warnings))
}

fn parse_impl(text: &str, mut lenient: Option<&mut Vec<String>>) -> Result<StarFile, StarError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = StarFile::default();
    let mut state = State::Pairs;
    let mut loop_line = 0usize;
    // The labels of the current loop, for a linear duplicate check.
    let mut labels: HashSet<String> = HashSet::new();
    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let err = |message: String| StarError::Syntax {
            line: lineno,
            message,
        };
        if raw.starts_with(';') {
            return Err(err(
                "`;` multi-line text fields are not supported".to_string()
            ));
        }
        let tokens = tokenize(raw, lineno)?;
        let Some((first, first_quoted)) = tokens.first() else {
            continue; // blank or comment
        };
        let first_quoted = *first_quoted;
        let lower = first.to_ascii_lowercase();
        if !first_quoted && lower.starts_with("data_") && tokens.len() == 1 {
            file.blocks.push(Block {
                name: first[5..].to_string(),
                ..Block::default()
            });
            state = State::Pairs;
            continue;
        }
        if !first_quoted && (lower.starts_with("global_") || lower.starts_with("save_")) {
            return Err(err(format!(
                "`{}` frames are not supported",
                shorten(first)
            )));
        }
        if !first_quoted && lower == "stop_" {
            return Err(err("`stop_` is not supported".to_string()));
        }
        let Some(block) = file.blocks.last_mut() else {
            return Err(err(format!(
                "`{}` before the first `data_` block",
                shorten(first)
            )));
        };
        if !first_quoted && lower == "loop_" {
            if tokens.len() > 1 {
                return Err(err("text after `loop_` on the same line".to_string()));
            }
            if block.table.is_some() {
                return Err(err(format!(
                    "a second `loop_` in block `data_{}` (one loop per block is supported)",
                    shorten(&block.name)
                )));
            }
            block.table = Some(Table::default());
            labels.clear();
            state = State::Labels;
            loop_line = lineno;
            continue;
        }
        let is_label = !first_quoted && first.starts_with('_');
        match state {
            State::Pairs => {
                if !is_label {
                    return Err(err(format!(
                        "`{}` is neither `_key value`, `loop_` nor `data_`",
                        shorten(first)
                    )));
                }
                match tokens.len() {
                    1 => return Err(err(format!("`{}` has no value", shorten(first)))),
                    2 => {}
                    n => {
                        return Err(err(format!(
                            "`{}` has {} values; a key takes one (quote values with spaces)",
                            shorten(first),
                            n - 1
                        )));
                    }
                }
                let key = first[1..].to_string();
                if key.is_empty() {
                    return Err(err("a key that is only `_`".to_string()));
                }
                block.pairs.push((key, tokens[1].0.clone()));
            }
            State::Labels | State::Rows => {
                let Some(table) = block.table.as_mut() else {
                    return Err(err("internal error: loop state without a loop".to_string()));
                };
                if is_label {
                    if state == State::Rows {
                        return Err(err(format!(
                            "label `{}` after the data rows of the loop that starts at line {loop_line}; all labels must come before the rows",
                            shorten(first)
                        )));
                    }
                    if tokens.len() > 1 {
                        return Err(err(format!(
                            "label `{}` followed by a value inside a loop header",
                            shorten(first)
                        )));
                    }
                    let label = &first[1..];
                    if label.is_empty() {
                        return Err(err("a label that is only `_`".to_string()));
                    }
                    if !labels.insert(label.to_string()) {
                        return Err(err(format!(
                            "label `{}` appears twice in the loop",
                            shorten(first)
                        )));
                    }
                    table.columns.push(label.to_string());
                } else {
                    if table.columns.is_empty() {
                        return Err(err(format!(
                            "data `{}` in a loop that has no labels",
                            shorten(first)
                        )));
                    }
                    let (got, want) = (tokens.len(), table.columns.len());
                    let mut values: Vec<String> = tokens.into_iter().map(|(v, _)| v).collect();
                    if let Some(w) = lenient.as_deref_mut()
                        && got < want
                    {
                        w.push(format!(
                            "line {lineno}: row has {got} values but the loop of block `data_{}` has {want} labels; the last {} read as <NA>",
                            shorten(&block.name),
                            want - got
                        ));
                        values.resize(want, "<NA>".to_string());
                    } else if got != want {
                        return Err(err(format!(
                            "row has {} values but the loop of block `data_{}` has {} labels",
                            got,
                            shorten(&block.name),
                            want
                        )));
                    }
                    table.rows.push(values);
                    table.lines.push(lineno);
                    state = State::Rows;
                }
            }
        }
    }
    Ok(file)
}

/// A token cut to a readable length, control characters escaped, for error messages.
fn shorten(s: &str) -> String {
    crate::errors::quote(s)
}

/// Reads and parses a STAR file.
///
/// # Errors
/// [`IoError::Os`] when the file cannot be read, [`IoError::Invalid`] (with the line) when it
/// is not valid UTF-8 or not valid STAR.
pub fn read(path: &Path) -> Result<StarFile, IoError> {
    let bytes = std::fs::read(path).map_err(|e| IoError::os(path, e))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| IoError::invalid(path, format!("not UTF-8 text: {e}")))?;
    parse(&text).map_err(|e| IoError::invalid(path, e.to_string()))
}
