//! STAR files (the text format of RELION, crYOLO `.cbox` and many cryo-EM tools): a reader and
//! a RELION-style writer of our own.
//!
//! No maintained Rust crate fitted: `starfile` does not exist on crates.io, and `emstar` (0.1,
//! one release) pulls in Polars, far too heavy for reading coordinate lists.
//!
//! # What is read
//! - data blocks `data_NAME` (`data_` alone gives the empty name); several per file;
//! - simple blocks of `_key value` pairs, one pair per line;
//! - `loop_` blocks: `_label` lines (an optional `#n` after a label is a comment), then one row
//!   per line; a loop ends at the next `data_` or `loop_` or at the end of the file, blank
//!   lines and comments inside it are skipped; a loop without rows is an empty table;
//! - values: unquoted tokens, or `'single'` / `"double"` quoted ones that may hold spaces or be
//!   empty (a quote closes only when followed by white space or the end of the line, as in the
//!   STAR grammar, so `'it's'` is the value `it's`);
//! - comments from a `#` that starts a token to the end of the line (`# version 30001` too);
//! - `<NA>` (crYOLO's missing value) is kept as the string `<NA>`; [`Block::f64_opt`] reads it
//!   as `None`.
//!
//! Every value is kept as the exact string that was in the file (without its quotes), so
//! reading, writing and reading again gives identical blocks; the typed accessors
//! ([`Block::f64`], [`Block::i64`], …) parse on demand and name the block, column, row and
//! line when a value is not a number.
//!
//! Not supported (clear errors, never a panic): `;` multi-line text fields, `global_` and
//! `save_` frames, more than one loop in a block, a label after the rows of a loop, a row
//! whose number of values differs from the number of labels, an unterminated quote.
//!
//! # Files
//! This module holds the data model ([`StarFile`], [`Block`], [`Table`]) and its typed
//! accessors; `read` parses text ([`parse`], [`parse_lenient`], [`read()`]) and `write` writes it
//! ([`to_string`], [`write()`]). Both are re-exported here: everything is `crate::io::star::…`.

mod read;
mod write;

pub use read::{parse, parse_lenient, read};
pub use write::{WriteOptions, to_string, write};
pub(crate) use write::{write_star_text, write_text};

/// Errors parsing a STAR text or reading typed values from it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StarError {
    /// The text is not valid STAR (for what we read); `line` counts from 1.
    #[error(
        "line {line}: {message} (fix the file at that line: Cryolens reads STAR as RELION writes it)"
    )]
    Syntax {
        /// The line, counted from 1.
        line: usize,
        /// What is wrong, in words.
        message: String,
    },
    /// No data block of that name.
    #[error("no block `data_{}` (give the STAR file that has this block)", q(.0))]
    NoBlock(String),
    /// The block has no loop, or its loop or its key-value pairs lack the label.
    #[error("block `data_{}` has no `_{}` (give a STAR file with this column)", q(.block), q(.column))]
    NoColumn {
        /// The block name (without `data_`).
        block: String,
        /// The label (without the leading `_`).
        column: String,
    },
    /// A row index beyond the end of the loop.
    #[error("block `data_{}` has {rows} rows, no row {row} (the file is shorter than its other tables say)", q(.block))]
    NoRow {
        /// The block name.
        block: String,
        /// Rows in the loop.
        rows: usize,
        /// The row asked for, counted from 1.
        row: usize,
    },
    /// A value is not of the type asked for.
    #[error(
        "block `data_{}`, column `_{}`, row {row}{}: `{}` is not {expected} (fix or remove that row)",
        q(.block),
        q(.column),
        fmt_line(*.line),
        q(.value)
    )]
    BadValue {
        /// The block name.
        block: String,
        /// The label.
        column: String,
        /// The row, counted from 1 (0 for a key-value pair).
        row: usize,
        /// The line in the file, when the value was read from one.
        line: Option<usize>,
        /// The value as written.
        value: String,
        /// What was expected ("a number", "an integer").
        expected: &'static str,
    },
    /// A value that STAR cannot hold (a line break, or both kinds of closing quote).
    #[error(
        "block `data_{}`, `_{}`: value {:?} cannot be written in STAR ({reason})",
        q(.block),
        q(.column),
        q(.value)
    )]
    Unwritable {
        /// The block name.
        block: String,
        /// The label.
        column: String,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
    /// A table row whose length differs from the number of columns.
    #[error("block `data_{}`: row has {got} values for {expected} columns", q(.block))]
    RowLength {
        /// The block name (may be empty for a table not yet in a block).
        block: String,
        /// Values given.
        got: usize,
        /// Columns.
        expected: usize,
    },
}

/// User text (a block name, a label, a value) cut and escaped for a message.
fn q(s: &str) -> String {
    crate::errors::quote(s)
}

fn fmt_line(line: Option<usize>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// A whole STAR file: its data blocks in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StarFile {
    /// The blocks, in the order of the file. Names may repeat; lookups take the first.
    pub blocks: Vec<Block>,
}

/// One `data_NAME` block: key-value pairs, and at most one `loop_` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    /// The name after `data_` (empty for `data_`).
    pub name: String,
    /// `_key value` pairs in file order; keys without the leading `_`.
    pub pairs: Vec<(String, String)>,
    /// The `loop_` table, if the block has one (possibly with no rows).
    pub table: Option<Table>,
}

/// A `loop_` table: labels (columns) and rows of string values.
#[derive(Debug, Clone, Default)]
pub struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    /// The file line of each row (empty for tables built in memory).
    lines: Vec<usize>,
}

impl PartialEq for Table {
    /// Tables are equal when their labels and values are; the lines they came from are not
    /// compared.
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns && self.rows == other.rows
    }
}

/// Strips one leading `_` from a label, so that lookups accept `_rlnCoordinateX` and
/// `rlnCoordinateX` alike.
fn bare(label: &str) -> &str {
    label.strip_prefix('_').unwrap_or(label)
}

impl Table {
    /// An empty table with these labels (given with or without the leading `_`).
    pub fn new<S: AsRef<str>>(columns: &[S]) -> Self {
        Table {
            columns: columns
                .iter()
                .map(|c| bare(c.as_ref()).to_string())
                .collect(),
            rows: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// Appends a row. A table read from a file forgets its row lines
    /// ([`Table::line_of_row`]) once a row is appended.
    ///
    /// # Errors
    /// [`StarError::RowLength`] when `row` does not have one value per column.
    pub fn push_row(&mut self, row: Vec<String>) -> Result<(), StarError> {
        if row.len() != self.columns.len() {
            return Err(StarError::RowLength {
                block: String::new(),
                got: row.len(),
                expected: self.columns.len(),
            });
        }
        self.rows.push(row);
        self.lines.clear();
        Ok(())
    }

    /// The labels, without the leading `_`.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows, each with one value per column.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The index of a column (label with or without `_`).
    pub fn column_index(&self, label: &str) -> Option<usize> {
        let label = bare(label);
        self.columns.iter().position(|c| c == label)
    }

    /// The file line (from 1) of row `row` (from 0), when the table was read from a file.
    pub fn line_of_row(&self, row: usize) -> Option<usize> {
        self.lines.get(row).copied()
    }
}

/// Parses a number the way the typed accessors do: decimal or scientific notation, `nan`,
/// `inf`; surrounding white space is not allowed.
fn parse_f64(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// Parses an integer; `12.0` (an integral float, as crYOLO and Python writers produce) is
/// accepted too.
fn parse_i64(s: &str) -> Option<i64> {
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let f = s.parse::<f64>().ok()?;
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(f as i64)
    } else {
        None
    }
}

/// Whether a value is one of the markers for "no value": `<NA>` (crYOLO), empty, `nan`.
pub fn is_missing(value: &str) -> bool {
    value.is_empty() || value == "<NA>" || value.eq_ignore_ascii_case("nan")
}

impl Block {
    /// A block with a table and no pairs.
    pub fn with_table(name: impl Into<String>, table: Table) -> Self {
        Block {
            name: name.into(),
            pairs: Vec::new(),
            table: Some(table),
        }
    }

    /// The value of a `_key value` pair (key with or without `_`).
    pub fn value(&self, key: &str) -> Option<&str> {
        let key = bare(key);
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the block's table has this column.
    pub fn has_column(&self, label: &str) -> bool {
        self.table
            .as_ref()
            .is_some_and(|t| t.column_index(label).is_some())
    }

    /// Number of rows of the table (0 without one).
    pub fn len(&self) -> usize {
        self.table.as_ref().map_or(0, Table::len)
    }

    /// Whether the block has no table rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn no_column(&self, label: &str) -> StarError {
        StarError::NoColumn {
            block: self.name.clone(),
            column: bare(label).to_string(),
        }
    }

    /// The string at `row` (from 0) of a column.
    ///
    /// # Errors
    /// [`StarError::NoColumn`] or [`StarError::NoRow`].
    pub fn get(&self, label: &str, row: usize) -> Result<&str, StarError> {
        let t = self.table.as_ref().ok_or_else(|| self.no_column(label))?;
        let c = t.column_index(label).ok_or_else(|| self.no_column(label))?;
        t.rows
            .get(row)
            .map(|r| r[c].as_str())
            .ok_or(StarError::NoRow {
                block: self.name.clone(),
                rows: t.len(),
                row: row + 1,
            })
    }

    fn bad(&self, label: &str, row: usize, value: &str, expected: &'static str) -> StarError {
        StarError::BadValue {
            block: self.name.clone(),
            column: bare(label).to_string(),
            row: row + 1,
            line: self.table.as_ref().and_then(|t| t.line_of_row(row)),
            value: value.to_string(),
            expected,
        }
    }

    /// The number at `row` (from 0) of a column.
    ///
    /// # Errors
    /// No such column or row, or a value that is not a number ([`StarError::BadValue`] names
    /// block, column, row and line).
    pub fn f64(&self, label: &str, row: usize) -> Result<f64, StarError> {
        let v = self.get(label, row)?;
        parse_f64(v).ok_or_else(|| self.bad(label, row, v, "a number"))
    }

    /// Like [`Block::f64`], but a missing value (`<NA>`, empty, `nan`) gives `None`.
    ///
    /// # Errors
    /// As [`Block::f64`].
    pub fn f64_opt(&self, label: &str, row: usize) -> Result<Option<f64>, StarError> {
        let v = self.get(label, row)?;
        if is_missing(v) {
            return Ok(None);
        }
        parse_f64(v)
            .map(Some)
            .ok_or_else(|| self.bad(label, row, v, "a number or <NA>"))
    }

    /// Like [`Block::f64_opt`], but an infinite value is an error too (`nan` still reads as
    /// missing).
    ///
    /// # Errors
    /// As [`Block::f64`], and [`StarError::BadValue`] for `inf`.
    pub fn f64_opt_finite(&self, label: &str, row: usize) -> Result<Option<f64>, StarError> {
        match self.f64_opt(label, row)? {
            Some(v) if !v.is_finite() => {
                let text = self.get(label, row)?;
                Err(self.bad(label, row, text, "a finite number or <NA>"))
            }
            v => Ok(v),
        }
    }

    /// The integer at `row` (from 0) of a column (`3` or `3.0`).
    ///
    /// # Errors
    /// No such column or row, or a value that is not an integer.
    pub fn i64(&self, label: &str, row: usize) -> Result<i64, StarError> {
        let v = self.get(label, row)?;
        parse_i64(v).ok_or_else(|| self.bad(label, row, v, "an integer"))
    }

    /// A whole column as numbers.
    ///
    /// # Errors
    /// As [`Block::f64`], for the first bad value.
    pub fn f64_column(&self, label: &str) -> Result<Vec<f64>, StarError> {
        (0..self.len()).map(|r| self.f64(label, r)).collect()
    }

    /// The number of a `_key value` pair.
    ///
    /// # Errors
    /// [`StarError::NoColumn`] when the key is absent, [`StarError::BadValue`] (row 0) when
    /// the value is not a number.
    pub fn pair_f64(&self, key: &str) -> Result<f64, StarError> {
        let v = self.value(key).ok_or_else(|| self.no_column(key))?;
        parse_f64(v).ok_or_else(|| StarError::BadValue {
            block: self.name.clone(),
            column: bare(key).to_string(),
            row: 0,
            line: None,
            value: v.to_string(),
            expected: "a number",
        })
    }
}

impl StarFile {
    /// The first block with this name (without `data_`).
    pub fn block(&self, name: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// The first block with this name, or [`StarError::NoBlock`].
    ///
    /// # Errors
    /// No block of that name.
    pub fn require(&self, name: &str) -> Result<&Block, StarError> {
        self.block(name)
            .ok_or_else(|| StarError::NoBlock(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::read::tokenize;
    use super::*;

    #[test]
    fn tokenizes_quotes_and_comments() {
        let t = tokenize(r#"a 'b c' "" 'it's' x#y # comment"#, 1).unwrap();
        let v: Vec<&str> = t.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(v, ["a", "b c", "", "it's", "x#y"]);
    }

    #[test]
    fn parses_pairs_and_loops() {
        let text =
            "# c\ndata_a\n_k 1\n_s 'x y'\n\ndata_\nloop_\n_rlnX #1\n_rlnY #2\n1 2\n\n 3 4 # c\n";
        let f = parse(text).unwrap();
        assert_eq!(f.blocks.len(), 2);
        assert_eq!(f.blocks[0].value("_k"), Some("1"));
        assert_eq!(f.blocks[0].value("s"), Some("x y"));
        let b = &f.blocks[1];
        assert_eq!(b.name, "");
        assert_eq!(b.f64_column("rlnY").unwrap(), [2.0, 4.0]);
        assert_eq!(b.table.as_ref().unwrap().line_of_row(1), Some(12));
    }

    #[test]
    fn errors_name_lines() {
        let e = parse("data_\nloop_\n_a\n_b\n1 2\n_c\n").unwrap_err();
        assert!(e.to_string().starts_with("line 6:"), "{e}");
        let e = parse("data_\nloop_\n_a\n_b\n1 2\n1 2 3\n").unwrap_err();
        assert!(e.to_string().starts_with("line 6:"), "{e}");
        let e = parse("data_\n_a 'open\n").unwrap_err();
        assert!(
            e.to_string().contains("line 2: unterminated single quote"),
            "{e}"
        );
        let e = parse("_a 1\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1:"), "{e}");
    }

    #[test]
    fn typed_accessors_name_block_column_row_line() {
        let f = parse("data_p\nloop_\n_x\n_y\n1 2\n3 oops\n4 <NA>\n").unwrap();
        let b = &f.blocks[0];
        let e = b.f64("y", 1).unwrap_err().to_string();
        assert_eq!(
            e,
            "block `data_p`, column `_y`, row 2 (line 6): `oops` is not a number \
             (fix or remove that row)"
        );
        assert_eq!(b.f64_opt("y", 2).unwrap(), None);
        assert_eq!(b.i64("x", 2).unwrap(), 4);
        assert!(matches!(b.f64("z", 0), Err(StarError::NoColumn { .. })));
        assert!(matches!(b.f64("x", 9), Err(StarError::NoRow { .. })));
    }

    #[test]
    fn writes_and_reads_back() {
        let text = "data_g\n_a ''\n_b 'x y'\n_c \"it' s\"\n\ndata_t\nloop_\n_u\n_v\n_w\nx 'a b' _q\n1 2 3\n";
        let f = parse(text).unwrap();
        let out = to_string(&f, &WriteOptions::relion()).unwrap();
        assert_eq!(parse(&out).unwrap(), f, "{out}");
        assert!(out.contains("# version 30001\n\ndata_g\n"));
        assert!(out.contains("_u #1\n_v #2\n_w #3\n"));
    }
}
