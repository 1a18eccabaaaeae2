//! cryoSPARC `.cs` files: NumPy structured arrays (one record per exposure or particle, named
//! fields such as `ctf/df1_A` or `location/center_x_frac`), read and written through `npyz`
//! (the `.npy` header and dtype are its business; the records, the rest of a one-dimensional
//! array's file, are taken as raw bytes and their fields sliced by the offsets of the dtype).
//!
//! Fields are little- or big-endian numbers (`f4`, `f8`, `i1`–`i8`, `u1`–`u8`), fixed-length
//! byte strings (`|S<n>`, cryoSPARC's paths) and fixed-size arrays of numbers (e.g.
//! `location/micrograph_shape`, `<u4` × 2 as (ny, nx)). Other field types are kept as bytes and
//! can be written back, but not read as values.

use std::io::{Read, Write};
use std::path::Path;

use npyz::{DType, Field, TypeChar, TypeStr, WriterBuilder};

use super::IoError;

/// A `.cs` table: the record type and the records' bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct CsFile {
    fields: Vec<CsField>,
    record_size: usize,
    records: Vec<u8>,
}

/// One field of the record type.
#[derive(Clone, Debug, PartialEq)]
pub struct CsField {
    /// Its name (`ctf/df1_A`).
    pub name: String,
    /// Its NumPy type of one element (`<f4`, `|S64`).
    pub type_str: String,
    /// Elements per record (1, or the length of a fixed-size array field).
    pub count: usize,
    offset: usize,
    element_size: usize,
    /// `type_str` parsed once (values are decoded per record).
    parsed: TypeStr,
}

/// A column to write: its name and values, one per record.
#[derive(Clone, Debug, PartialEq)]
pub enum CsColumn {
    /// `<f4` values.
    F32(String, Vec<f32>),
    /// `<f8` values.
    F64(String, Vec<f64>),
    /// `<u4` values.
    U32(String, Vec<u32>),
    /// `<u8` values (cryoSPARC's `uid`).
    U64(String, Vec<u64>),
    /// `<u4` pairs (`location/micrograph_shape`: ny, nx).
    U32Pair(String, Vec<[u32; 2]>),
    /// `|S<n>` byte strings, `n` the longest value (at least 1).
    Text(String, Vec<String>),
}

impl CsFile {
    /// Reads a `.cs` file.
    ///
    /// # Errors
    /// [`IoError`] naming the file: not a NumPy file, not a one-dimensional structured array,
    /// a field type of unknown size, truncated data.
    pub fn read(path: &Path) -> Result<Self, IoError> {
        let bad = |reason: String| IoError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
        let mut reader = std::io::BufReader::new(file);
        let header = npyz::NpyHeader::from_reader(&mut reader).map_err(|e| {
            bad(format!(
                "not a cryoSPARC .cs file ({e}; expected a NumPy structured array)"
            ))
        })?;
        let DType::Record(record) = header.dtype() else {
            return Err(bad(format!(
                "not a cryoSPARC .cs file (a NumPy array of {}, not of records)",
                header.dtype().descr()
            )));
        };
        if header.shape().len() != 1 {
            return Err(bad(format!(
                "a .cs table is one-dimensional, this array has shape {:?}",
                header.shape()
            )));
        }
        let (fields, record_size) = layout(&record).map_err(bad)?;
        // The records are the rest of the file, one after the other (a 1-D array has one
        // order): check their size against the header before taking them.
        let n = header.shape()[0];
        let expected = n.checked_mul(record_size as u64);
        let mut records = Vec::new();
        reader
            .read_to_end(&mut records)
            .map_err(|e| IoError::os(path, e))?;
        if expected != Some(records.len() as u64) {
            return Err(bad(format!(
                "the header declares {n} records of {record_size} bytes but {} bytes of records follow (a truncated or damaged file: copy it again)",
                records.len()
            )));
        }
        Ok(Self {
            fields,
            record_size,
            records,
        })
    }

    /// A table of `columns` (all the same length).
    ///
    /// # Panics
    /// Never: columns of other lengths are cut to the shortest.
    pub fn from_columns(columns: &[CsColumn]) -> Self {
        let n = columns.iter().map(CsColumn::len).min().unwrap_or(0);
        let record: Vec<Field> = columns
            .iter()
            .map(|c| Field {
                name: c.name().to_string(),
                dtype: c.dtype(),
            })
            .collect();
        let (fields, record_size) = layout(&record).unwrap_or_default();
        let mut records = Vec::with_capacity(n * record_size);
        for i in 0..n {
            for c in columns {
                c.push_bytes(i, &mut records);
            }
        }
        Self {
            fields,
            record_size,
            records,
        }
    }

    /// Writes the table as a `.npy` structured array, atomically.
    ///
    /// # Errors
    /// An unwritable folder.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let dtype = DType::Record(
            self.fields
                .iter()
                .map(|f| {
                    let plain = DType::Plain(f.parsed.clone());
                    Field {
                        name: f.name.clone(),
                        dtype: if f.count == 1 {
                            plain
                        } else {
                            DType::Array(f.count as u64, Box::new(plain))
                        },
                    }
                })
                .collect(),
        );
        super::atomic::write_atomically_with(path, |tmp| {
            let file = std::fs::File::create(tmp)?;
            let mut writer = npyz::WriteOptions::<RawRecord>::new()
                .dtype(dtype)
                .shape(&[self.len() as u64])
                .writer(std::io::BufWriter::new(file))
                .begin_nd()?;
            for record in self.records.chunks_exact(self.record_size.max(1)) {
                writer.push(&RawRecord(record.to_vec()))?;
            }
            writer.finish()?;
            Ok(())
        })
    }

    /// Records in the table.
    pub fn len(&self) -> usize {
        self.records
            .len()
            .checked_div(self.record_size)
            .unwrap_or(0)
    }

    /// Whether the table has no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The fields of the record type.
    pub fn fields(&self) -> &[CsField] {
        &self.fields
    }

    /// Whether the table has a field `name`.
    pub fn has(&self, name: &str) -> bool {
        self.field(name).is_some()
    }

    fn field(&self, name: &str) -> Option<&CsField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Element `k` of numeric field `name` in record `i`, as `f64`; `None` when the field is
    /// missing, not numeric, or `i`, `k` are out of range.
    pub fn number_at(&self, name: &str, i: usize, k: usize) -> Option<f64> {
        let f = self.field(name)?;
        if i >= self.len() || k >= f.count {
            return None;
        }
        let start = i * self.record_size + f.offset + k * f.element_size;
        let bytes = &self.records[start..start + f.element_size];
        number(&f.parsed, bytes)
    }

    /// Numeric field `name` of record `i` (its first element).
    pub fn number(&self, name: &str, i: usize) -> Option<f64> {
        self.number_at(name, i, 0)
    }

    /// Byte-string field `name` of record `i` as text (trailing NULs removed, invalid UTF-8
    /// replaced); `None` when the field is missing or not a byte string.
    pub fn text(&self, name: &str, i: usize) -> Option<String> {
        let f = self.field(name)?;
        if i >= self.len() || !f.type_str.contains('S') {
            return None;
        }
        let start = i * self.record_size + f.offset;
        let bytes = &self.records[start..start + f.element_size];
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }
}

/// Offsets of the fields of `record` (packed, as NumPy packs a dtype given as a list), and the
/// record size.
fn layout(record: &[Field]) -> Result<(Vec<CsField>, usize), String> {
    let mut fields = Vec::new();
    let mut offset = 0;
    for f in record {
        let (plain, count) = match &f.dtype {
            DType::Plain(t) => (t.clone(), 1usize),
            DType::Array(n, inner) => match inner.as_ref() {
                DType::Plain(t) => (t.clone(), *n as usize),
                other => {
                    return Err(format!(
                        "field `{}` has a nested type {} this reader does not take",
                        f.name,
                        other.descr()
                    ));
                }
            },
            DType::Record(_) => {
                return Err(format!("field `{}` is itself a record", f.name));
            }
        };
        let element_size = plain
            .num_bytes()
            .ok_or_else(|| format!("field `{}` has a type of unknown size ({plain})", f.name))?;
        fields.push(CsField {
            name: f.name.clone(),
            type_str: plain.to_string(),
            parsed: plain.clone(),
            count,
            offset,
            element_size,
        });
        offset += element_size * count;
    }
    Ok((fields, offset))
}

/// `path` with cryoSPARC's numeric UID prefix (at least 6 digits and `_`) removed from its
/// file name; other paths unchanged.
pub fn without_uid(path: &str) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(k) => path.split_at(k + 1),
        None => ("", path),
    };
    let digits = name.bytes().take_while(u8::is_ascii_digit).count();
    match name.as_bytes().get(digits) {
        Some(b'_') if digits >= 6 => format!("{dir}{}", &name[digits + 1..]),
        _ => path.to_string(),
    }
}

/// A number of NumPy type `t` from its bytes.
fn number(t: &TypeStr, bytes: &[u8]) -> Option<f64> {
    let big = matches!(t.endianness(), npyz::Endianness::Big);
    let mut b = bytes.to_vec();
    if big {
        b.reverse();
    }
    let array = |n: usize| -> Option<[u8; 8]> {
        let mut a = [0u8; 8];
        a.get_mut(..n)?.copy_from_slice(b.get(..n)?);
        Some(a)
    };
    Some(match (t.type_char(), b.len()) {
        (TypeChar::Float, 4) => f64::from(f32::from_le_bytes(b[..4].try_into().ok()?)),
        (TypeChar::Float, 8) => f64::from_le_bytes(b[..8].try_into().ok()?),
        (TypeChar::Int, n @ (1 | 2 | 4 | 8)) => {
            let raw = i64::from_le_bytes(array(n)?);
            let shift = 64 - 8 * n as u32;
            ((raw << shift) >> shift) as f64
        }
        (TypeChar::Uint, n @ (1 | 2 | 4 | 8)) => u64::from_le_bytes(array(n)?) as f64,
        (TypeChar::Bool, 1) => f64::from(b[0]),
        _ => return None,
    })
}

impl CsColumn {
    fn name(&self) -> &str {
        match self {
            CsColumn::F32(n, _)
            | CsColumn::F64(n, _)
            | CsColumn::U32(n, _)
            | CsColumn::U64(n, _)
            | CsColumn::U32Pair(n, _)
            | CsColumn::Text(n, _) => n,
        }
    }

    fn len(&self) -> usize {
        match self {
            CsColumn::F32(_, v) => v.len(),
            CsColumn::F64(_, v) => v.len(),
            CsColumn::U32(_, v) => v.len(),
            CsColumn::U64(_, v) => v.len(),
            CsColumn::U32Pair(_, v) => v.len(),
            CsColumn::Text(_, v) => v.len(),
        }
    }

    fn text_width(values: &[String]) -> usize {
        values.iter().map(String::len).max().unwrap_or(0).max(1)
    }

    fn dtype(&self) -> DType {
        let plain = |s: &str| DType::Plain(s.parse().expect("valid type string"));
        match self {
            CsColumn::F32(..) => plain("<f4"),
            CsColumn::F64(..) => plain("<f8"),
            CsColumn::U32(..) => plain("<u4"),
            CsColumn::U64(..) => plain("<u8"),
            CsColumn::U32Pair(..) => DType::Array(2, Box::new(plain("<u4"))),
            CsColumn::Text(_, v) => plain(&format!("|S{}", Self::text_width(v))),
        }
    }

    fn push_bytes(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            CsColumn::F32(_, v) => out.extend(v[i].to_le_bytes()),
            CsColumn::F64(_, v) => out.extend(v[i].to_le_bytes()),
            CsColumn::U32(_, v) => out.extend(v[i].to_le_bytes()),
            CsColumn::U64(_, v) => out.extend(v[i].to_le_bytes()),
            CsColumn::U32Pair(_, v) => {
                out.extend(v[i][0].to_le_bytes());
                out.extend(v[i][1].to_le_bytes());
            }
            CsColumn::Text(_, v) => {
                let width = Self::text_width(v);
                let bytes = v[i].as_bytes();
                out.extend(&bytes[..bytes.len().min(width)]);
                out.extend(std::iter::repeat_n(0u8, width - bytes.len().min(width)));
            }
        }
    }
}

/// One record as its raw bytes (the dtype's item size), for `npyz`'s writer.
struct RawRecord(Vec<u8>);

/// Writes records of a fixed size.
struct RawWriter(usize);

impl npyz::TypeWrite for RawWriter {
    type Value = RawRecord;

    fn write_one<W: Write>(&self, mut writer: W, value: &RawRecord) -> std::io::Result<()> {
        if value.0.len() != self.0 {
            return Err(std::io::Error::other("record of the wrong size"));
        }
        writer.write_all(&value.0)
    }
}

impl npyz::Serialize for RawRecord {
    type TypeWriter = RawWriter;

    fn writer(dtype: &DType) -> Result<RawWriter, npyz::DTypeError> {
        dtype
            .num_bytes()
            .map(RawWriter)
            .ok_or_else(|| npyz::DTypeError::custom("a record type of unknown size"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_round_trips_with_cryosparcs_field_types() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exposures.cs");
        let table = CsFile::from_columns(&[
            CsColumn::U64("uid".into(), vec![14_589_772_112_353_001, 2]),
            CsColumn::Text(
                "micrograph_blob/path".into(),
                vec![
                    "J3/motioncorrected/14589772112353001_mic_0001_patch_aligned_doseweighted.mrc"
                        .into(),
                    "J3/motioncorrected/2_mic_0002.mrc".into(),
                ],
            ),
            CsColumn::U32Pair(
                "micrograph_blob/shape".into(),
                vec![[4092, 5760], [4092, 5760]],
            ),
            CsColumn::F32("ctf/df1_A".into(), vec![15234.5, 9876.25]),
            CsColumn::F64("ctf/df_angle_rad".into(), vec![0.5, -1.25]),
        ]);
        table.write(&path).unwrap();
        let back = CsFile::read(&path).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.len(), 2);
        assert_eq!(back.number("uid", 0), Some(14_589_772_112_353_001f64));
        assert_eq!(
            back.text("micrograph_blob/path", 1).as_deref(),
            Some("J3/motioncorrected/2_mic_0002.mrc")
        );
        assert_eq!(back.number_at("micrograph_blob/shape", 0, 1), Some(5760.0));
        assert_eq!(back.number("ctf/df1_A", 0), Some(15234.5));
        assert_eq!(back.number("ctf/df_angle_rad", 1), Some(-1.25));
        assert_eq!(back.number("ctf/df1_A", 2), None);
        assert_eq!(back.number("missing", 0), None);
        assert_eq!(back.text("ctf/df1_A", 0), None);
    }

    #[test]
    fn uid_prefixes_are_dropped_from_names_only() {
        assert_eq!(
            without_uid("J3/motioncorrected/14589772112353001_mic_0001.mrc"),
            "J3/motioncorrected/mic_0001.mrc"
        );
        assert_eq!(without_uid("J3/mic_0001.mrc"), "J3/mic_0001.mrc");
        assert_eq!(without_uid("J3/0001_mic.mrc"), "J3/0001_mic.mrc");
        assert_eq!(without_uid("123456789_a.mrc"), "a.mrc");
    }

    #[test]
    fn numbers_of_every_width_and_order() {
        let n = |t: &str, bytes: &[u8]| number(&t.parse().unwrap(), bytes);
        assert_eq!(n("<i2", &(-3i16).to_le_bytes()), Some(-3.0));
        assert_eq!(n(">i4", &(-70_000i32).to_be_bytes()), Some(-70_000.0));
        assert_eq!(n("|u1", &[200]), Some(200.0));
        assert_eq!(n(">f8", &2.5f64.to_be_bytes()), Some(2.5));
        assert_eq!(n("<f2", &[0, 0]), None);
    }

    #[test]
    fn other_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.cs");
        std::fs::write(&text, "not numpy").unwrap();
        let e = CsFile::read(&text).unwrap_err().to_string();
        assert!(
            e.contains("notes.cs") && e.contains("not a cryoSPARC .cs file"),
            "{e}"
        );
        // A plain (not structured) NumPy array.
        let plain = dir.path().join("plain.cs");
        npyz::to_file_1d(&plain, vec![1.0f32, 2.0]).unwrap();
        let e = CsFile::read(&plain).unwrap_err().to_string();
        assert!(e.contains("not of records"), "{e}");
    }

    #[test]
    fn truncated_and_over_declared_tables_are_refused_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.cs");
        CsFile::from_columns(&[CsColumn::F64("ctf/df1_A".into(), vec![1.0, 2.0, 3.0])])
            .write(&good)
            .unwrap();
        let bytes = std::fs::read(&good).unwrap();
        // Cut in the middle of the last record.
        let cut = dir.path().join("cut.cs");
        std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
        let e = CsFile::read(&cut).unwrap_err().to_string();
        assert!(
            e.contains("declares 3 records of 8 bytes but 21 bytes"),
            "{e}"
        );
        // A header claiming 10¹² records over 24 bytes of data.
        let header_len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        let huge = header.replacen("(3, )", "(1000000000000, )", 1);
        assert_ne!(huge, header);
        let lie = dir.path().join("lie.cs");
        let mut out = bytes[..8].to_vec();
        out.extend(u16::try_from(huge.len()).unwrap().to_le_bytes());
        out.extend(huge.as_bytes());
        out.extend(&bytes[10 + header_len..]);
        std::fs::write(&lie, out).unwrap();
        let e = CsFile::read(&lie).unwrap_err().to_string();
        assert!(e.contains("declares 1000000000000 records"), "{e}");
    }
}
