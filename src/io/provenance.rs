//! Where a written file came from: the program and version, the command that ran, and the
//! model with the checksum of its weights, written into every MRC header's text labels
//! (MRC2014 has ten labels of 80 characters) and as `#` comment lines at the top of every
//! RELION STAR file we write, so that a denoised micrograph or a pick file says how it was
//! made wherever it goes.
//!
//! The provenance is per process: the command line sets the command at start
//! ([`set_command`]) and a batch command its model once loaded ([`set_model`]); the GUI says
//! it is the GUI. Without either, labels say only the program and version.

use std::path::Path;
use std::sync::RwLock;

/// What the labels of files written by this process say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// The command, e.g. `cryolens denoise --model unet -o out mic.mrc`.
    pub command: Option<String>,
    /// The model's name and the SHA-256 of its weights (hex).
    pub model: Option<(String, String)>,
}

static CURRENT: RwLock<Provenance> = RwLock::new(Provenance {
    command: None,
    model: None,
});

/// Characters per MRC label.
pub const LABEL_CHARS: usize = 80;

/// Labels in an MRC2014 header.
pub const MAX_LABELS: usize = 10;

/// Records the command (program name first) for the files written from now on. Arguments
/// holding white space are quoted.
pub fn set_command<I: IntoIterator<Item = String>>(args: I) {
    let words: Vec<String> = args
        .into_iter()
        .map(|a| {
            if a.is_empty() || a.chars().any(char::is_whitespace) {
                format!("'{a}'")
            } else {
                a
            }
        })
        .collect();
    if let Ok(mut p) = CURRENT.write() {
        p.command = Some(words.join(" "));
    }
}

/// Records the model (name, SHA-256 of its weights) for the files written from now on.
pub fn set_model(name: &str, sha256: &str) {
    if let Ok(mut p) = CURRENT.write() {
        p.model = Some((name.to_string(), sha256.to_string()));
    }
}

/// SHA-256 of a file, hex, read in 1 MiB blocks.
///
/// # Errors
/// [`super::IoError::Os`] naming the file when it cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, super::IoError> {
    sha256_of(path).map_err(|e| super::IoError::os(path, e))
}

fn sha256_of(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The provenance of this process now.
pub fn current() -> Provenance {
    CURRENT.read().map(|p| p.clone()).unwrap_or_default()
}

impl Provenance {
    /// The MRC labels (each ≤ 80 printable ASCII characters, at most 10): `Cryolens VERSION`,
    /// the model and its checksum on two labels, then the command over the labels left (cut
    /// with `…` as `...` when longer).
    pub fn mrc_labels(&self) -> Vec<String> {
        let mut labels = vec![format!("Cryolens {}", env!("CARGO_PKG_VERSION"))];
        if let Some((name, sha)) = &self.model {
            labels.push(ascii_cut(&format!("model: {name}"), LABEL_CHARS));
            labels.push(ascii_cut(&format!("model sha256: {sha}"), LABEL_CHARS));
        }
        if let Some(cmd) = &self.command {
            let room = MAX_LABELS - labels.len();
            let text = format!("command: {cmd}");
            let chars: Vec<char> = ascii_cut(&text, usize::MAX).chars().collect();
            let mut parts: Vec<String> = chars
                .chunks(LABEL_CHARS)
                .map(|c| c.iter().collect())
                .collect();
            if parts.len() > room {
                parts.truncate(room);
                if let Some(last) = parts.last_mut() {
                    let keep: String = last.chars().take(LABEL_CHARS - 3).collect();
                    *last = format!("{keep}...");
                }
            }
            labels.extend(parts);
        }
        labels
    }
}

impl Provenance {
    /// The STAR comment block: `# Written by Cryolens VERSION`, then `# model: NAME sha256:
    /// HEX` and `# command: …` when known, each line printable and one line.
    pub fn star_comment(&self) -> String {
        let mut s = format!("# Written by Cryolens {}\n", env!("CARGO_PKG_VERSION"));
        if let Some((name, sha)) = &self.model {
            s += &format!("# model: {} sha256: {sha}\n", one_line(name));
        }
        if let Some(cmd) = &self.command {
            s += &format!("# command: {}\n", one_line(cmd));
        }
        s
    }
}

/// `s` with control characters (line breaks among them) replaced by spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` with characters outside printable ASCII replaced by `?`, cut to `max` characters.
fn ascii_cut(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_the_header() {
        let p = Provenance {
            command: Some(format!(
                "cryolens denoise {}",
                "x/mic_0001.mrc ".repeat(100)
            )),
            model: Some(("unet".into(), "ab".repeat(32))),
        };
        let labels = p.mrc_labels();
        assert_eq!(labels.len(), MAX_LABELS);
        assert!(
            labels
                .iter()
                .all(|l| l.len() <= LABEL_CHARS && l.is_ascii())
        );
        assert_eq!(labels[0], format!("Cryolens {}", env!("CARGO_PKG_VERSION")));
        assert_eq!(labels[2], format!("model sha256: {}", "ab".repeat(32)));
        assert!(labels[3].starts_with("command: cryolens denoise"));
        assert!(labels[9].ends_with("..."));
        let bare = Provenance::default().mrc_labels();
        assert_eq!(bare.len(), 1);
        assert_eq!(ascii_cut("Å é", 80), "? ?");
        let c = Provenance {
            command: Some("cryolens coords\nconvert".into()),
            model: None,
        }
        .star_comment();
        assert_eq!(c.lines().count(), 2);
        assert!(c.lines().all(|l| l.starts_with("# ")));
    }
}
