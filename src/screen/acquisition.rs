//! What the acquisition software wrote beside a micrograph: when it was recorded (EPU's XML,
//! SerialEM's `.mdoc`, else the file's modification time) and a CTFFIND result next to it.

use std::path::{Path, PathBuf};

use crate::ctf::{MicrographCtf, read_ctffind};

/// When `micrograph` was recorded, ISO 8601: EPU's `<acquisitionDateTime>` from the XML of
/// the same stem (kept as written, with its UTC offset); SerialEM's `DateTime` from
/// `<file>.mdoc` or `<stem>.mdoc` (local time of the microscope PC, no offset); else the
/// file's modification time in UTC (`…Z`). `None` when none of these can be read.
pub fn acquisition_time(micrograph: &Path) -> Option<String> {
    epu_time(&micrograph.with_extension("xml"))
        .or_else(|| serialem_time(&append_extension(micrograph, "mdoc")))
        .or_else(|| serialem_time(&micrograph.with_extension("mdoc")))
        .or_else(|| {
            let modified = std::fs::metadata(micrograph).ok()?.modified().ok()?;
            let utc: chrono::DateTime<chrono::Utc> = modified.into();
            Some(utc.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        })
}

/// `a.mrc` + `mdoc` → `a.mrc.mdoc` (SerialEM's naming).
fn append_extension(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

/// EPU's per-exposure XML: the text of `<acquisitionDateTime>` (or any element whose name
/// ends so, with a namespace prefix).
fn epu_time(xml: &Path) -> Option<String> {
    let text = std::fs::read_to_string(xml).ok()?;
    let at = text.find("acquisitionDateTime>")? + "acquisitionDateTime>".len();
    let value = text[at..].split('<').next()?.trim();
    chrono::DateTime::parse_from_rfc3339(value)
        .is_ok()
        .then(|| value.to_string())
}

/// SerialEM's `DateTime = 05-Dec-26  21:30:07` (two-digit year) as `2026-12-05T21:30:07`.
fn serialem_time(mdoc: &Path) -> Option<String> {
    let text = std::fs::read_to_string(mdoc).ok()?;
    let value = text.lines().find_map(|l| {
        let (key, value) = l.split_once('=')?;
        (key.trim() == "DateTime").then(|| value.trim().to_string())
    })?;
    let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
    ["%d-%b-%y %H:%M:%S", "%d-%b-%Y %H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(&collapsed, f).ok())
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// A CTFFIND4/5 result beside `micrograph`: `<stem>.txt`, `<stem>_ctf.txt`,
/// `<stem>_ctffind4.txt` or `<stem>_ctffind.txt` in its folder, the first that parses. The
/// single row of such a file describes this micrograph whatever its header names.
pub fn ctffind_beside(micrograph: &Path) -> Option<MicrographCtf> {
    let stem = micrograph.file_stem()?.to_string_lossy().into_owned();
    let dir = micrograph.parent()?;
    ["", "_ctf", "_ctffind4", "_ctffind"]
        .iter()
        .map(|suffix| dir.join(format!("{stem}{suffix}.txt")))
        .filter(|p| p.is_file())
        .find_map(|p| match read_ctffind(&p).ok()?.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_epu_serialem_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mic = d.join("FoilHole_1_Data_2_3_20261205_213007.mrc");
        std::fs::write(&mic, b"x").unwrap();
        std::fs::write(
            mic.with_extension("xml"),
            "<MicroscopeImage><a:acquisitionDateTime>2026-12-05T21:30:07.1234+01:00\
             </a:acquisitionDateTime></MicroscopeImage>",
        )
        .unwrap();
        assert_eq!(
            acquisition_time(&mic).as_deref(),
            Some("2026-12-05T21:30:07.1234+01:00")
        );
        let tif = d.join("grid1_0042.tif");
        std::fs::write(&tif, b"x").unwrap();
        std::fs::write(
            d.join("grid1_0042.tif.mdoc"),
            "PixelSpacing = 0.83\n[FrameSet = 0]\nDateTime = 05-Dec-26  21:30:07\n",
        )
        .unwrap();
        assert_eq!(
            acquisition_time(&tif).as_deref(),
            Some("2026-12-05T21:30:07")
        );
        let plain = d.join("plain.mrc");
        std::fs::write(&plain, b"x").unwrap();
        let t = acquisition_time(&plain).unwrap();
        assert!(t.ends_with('Z') && t.starts_with("20"), "{t}");
    }

    #[test]
    fn ctffind_result_beside_the_micrograph() {
        let dir = tempfile::tempdir().unwrap();
        let mic = dir.path().join("mic.mrc");
        std::fs::write(&mic, b"x").unwrap();
        assert!(ctffind_beside(&mic).is_none());
        std::fs::write(
            dir.path().join("mic_ctffind4.txt"),
            "# Input file: other.mrc ; Number of micrographs: 1\n\
             # Pixel size: 0.850 Angstroms ; acceleration voltage: 300.0 keV ; spherical aberration: 2.70 mm ; amplitude contrast: 0.07\n\
             1.000000 12000.0 11000.0 45.0 0.0 0.12 3.4\n",
        )
        .unwrap();
        let ctf = ctffind_beside(&mic).unwrap();
        assert_eq!(ctf.ctf.defocus_u_angstrom, 12000.0);
        assert_eq!(ctf.fit_resolution_angstrom, Some(3.4));
    }
}
