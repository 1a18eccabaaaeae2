//! What every batch command shares: output names that keep the inputs' folders, a
//! deterministic share of the inputs per shard (`--shard K/N`, for SLURM arrays), and a
//! manifest (`OUT/cryolens_manifest.jsonl`) that records each finished item so that a rerun
//! skips what is complete and redoes the rest.
//!
//! Sharding: the inputs are sorted by path; the i-th (from 0) belongs to shard `i mod N + 1`.
//! Output names are made from all inputs, not the shard's, so a shard writes exactly the
//! files an unsharded run writes.
//!
//! Manifest: one JSON object per line ([`ManifestRecord`]), appended with a single `write` on
//! a file opened for appending and synced, so that shards running at once on one file system
//! interleave whole lines; a line cut by a kill is ignored when read. Failed items are recorded
//! too, with their error. An item is done when its latest record names its input and output
//! with the same model checksum and options, no error, and the output file still has the
//! recorded size; a rerun retries everything else.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

pub use crate::jobs::{Shard, shard_items};
use serde::{Deserialize, Serialize};

/// The file name of the manifest in the output folder.
pub const MANIFEST_NAME: &str = "cryolens_manifest.jsonl";

/// The output file of every input of a batch, in order: `<dir>/<folders>/<stem><suffix>`,
/// where `<folders>` are the input's folders below the folder all inputs share (inputs of one
/// folder are written flat), so that `GridSquare_1/mic_001.mrc` and `GridSquare_2/mic_001.mrc`
/// do not overwrite each other (the rule of `coords convert`,
/// [`crate::io::coords::output_names`]).
///
/// # Errors
/// Two inputs that would land on the same file (the same stem in one folder, or one file
/// given twice), or an output that would overwrite its own input.
pub fn output_paths(dir: &Path, inputs: &[PathBuf], suffix: &str) -> Result<Vec<PathBuf>> {
    let requests: Vec<crate::io::coords::NameRequest> = inputs
        .iter()
        .map(|input| crate::io::coords::NameRequest {
            micrograph: std::path::absolute(input)
                .unwrap_or_else(|_| input.clone())
                .to_string_lossy()
                .into_owned(),
            source: "the command line".into(),
        })
        .collect();
    let names = crate::io::coords::output_names(&requests).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut outputs = Vec::with_capacity(inputs.len());
    for (input, name) in inputs.iter().zip(&names) {
        let out = dir.join(name.file(suffix));
        if let (Ok(a), Ok(b)) = (std::fs::canonicalize(input), std::fs::canonicalize(&out))
            && a == b
        {
            bail!(
                "{}: the output {} would overwrite this input (choose another --output folder)",
                input.display(),
                out.display()
            );
        }
        outputs.push(out);
    }
    Ok(outputs)
}

/// What the manifest records of one finished item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestRecord {
    /// The input as given on the command line.
    pub input: String,
    /// The output file.
    pub output: String,
    /// The output's size in bytes.
    pub size: u64,
    /// SHA-256 of the output, hex.
    pub sha256: String,
    /// The model as named (`unet`, a trained model's name, a path).
    pub model: String,
    /// SHA-256 of the model's weights file, hex.
    pub model_sha256: String,
    /// The options that change the output, as one string.
    pub options: String,
    /// The compute device.
    pub device: String,
    /// Seconds the item took.
    pub seconds: f64,
    /// The Cryolens version that wrote it.
    pub cryolens_version: String,
    /// Why the item failed (then there is no output: size 0, no checksum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The manifest of an output folder: the records read at start, and appends.
#[derive(Debug)]
pub struct Manifest {
    path: PathBuf,
    /// Latest record per output path.
    done: HashMap<String, ManifestRecord>,
    /// The file ends in a line cut by a kill: the next append starts a new line first.
    torn: bool,
}

impl Manifest {
    /// Reads `<dir>/cryolens_manifest.jsonl` (none yet: empty). Lines that do not parse (cut
    /// by a kill) are skipped.
    ///
    /// # Errors
    /// An unreadable manifest file.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_NAME);
        let mut done = HashMap::new();
        let mut torn = false;
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                torn = !text.is_empty() && !text.ends_with('\n');
                for line in text.lines() {
                    if let Ok(r) = serde_json::from_str::<ManifestRecord>(line) {
                        done.insert(r.output.clone(), r);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("{}: cannot read", path.display()));
            }
        }
        Ok(Self { path, done, torn })
    }

    /// How many records were read.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no records were read.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Whether `output` was made from `input` with this model checksum and these options, and
    /// still has its recorded size.
    pub fn is_done(&self, input: &Path, output: &Path, model_sha256: &str, options: &str) -> bool {
        self.done
            .get(&output.to_string_lossy().into_owned())
            .is_some_and(|r| {
                r.error.is_none()
                    && r.input == input.to_string_lossy()
                    && r.model_sha256 == model_sha256
                    && r.options == options
                    && std::fs::metadata(output).is_ok_and(|m| m.len() == r.size)
            })
    }

    /// Appends `record` as one line (one `write` on a file opened for appending, then
    /// fsync).
    ///
    /// # Errors
    /// Any I/O failure.
    pub fn append(&mut self, record: ManifestRecord) -> Result<()> {
        let mut line = if self.torn {
            String::from("\n")
        } else {
            String::new()
        };
        line += &serde_json::to_string(&record)?;
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("{}: cannot open for appending", self.path.display()))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("{}: cannot append", self.path.display()))?;
        self.torn = false;
        self.done.insert(record.output.clone(), record);
        Ok(())
    }
}

pub use crate::io::provenance::sha256_file;

/// What stays the same for every item of one batch run.
pub struct BatchRun<'a> {
    /// Every input, in command-line order.
    pub inputs: &'a [PathBuf],
    /// The output of each input ([`output_paths`]).
    pub outputs: &'a [PathBuf],
    /// `--shard`.
    pub shard: Option<Shard>,
    /// `--redo`: ignore the manifest and redo every item of the shard.
    pub redo: bool,
    /// The model as named, and its weights' checksum.
    pub model: (String, String),
    /// The options that change the output.
    pub options: String,
    /// The device, described.
    pub device: String,
    /// What an item is called in the summary ("micrographs", "volumes").
    pub noun: &'static str,
}

/// Runs `process(input, output)` on this shard's items that are not done yet, recording each
/// success in the manifest of `out_dir`, printing `input -> output (time)` or the error per
/// item (through `print`, which a progress bar may wrap) and going on after failures.
///
/// # Errors
/// An unreadable manifest; any failed item ([`super::Reported`], after all were tried).
pub fn run_batch(
    run: &BatchRun<'_>,
    out_dir: &Path,
    mut process: impl FnMut(&Path, &Path) -> Result<()>,
    mut print: impl FnMut(&dyn Fn()),
) -> Result<()> {
    let mut manifest = Manifest::open(out_dir)?;
    let items = shard_items(run.inputs, run.shard);
    let (mut failures, mut skipped) = (0usize, 0usize);
    for &i in &items {
        let (input, out) = (&run.inputs[i], &run.outputs[i]);
        if !run.redo && manifest.is_done(input, out, &run.model.1, &run.options) {
            skipped += 1;
            continue;
        }
        let started = Instant::now();
        let record = |size: u64, sha256: String, error: Option<String>| ManifestRecord {
            input: input.to_string_lossy().into_owned(),
            output: out.to_string_lossy().into_owned(),
            size,
            sha256,
            model: run.model.0.clone(),
            model_sha256: run.model.1.clone(),
            options: run.options.clone(),
            device: run.device.clone(),
            seconds: started.elapsed().as_secs_f64(),
            cryolens_version: env!("CARGO_PKG_VERSION").into(),
            error,
        };
        let mut result = process(input, out).and_then(|()| {
            let size = std::fs::metadata(out)?.len();
            manifest.append(record(size, sha256_file(out)?, None))
        });
        if let Err(e) = &result {
            // The failure is recorded too; a failure to record it is reported with it.
            let line = crate::errors::error_line_for(input, e);
            if let Err(m) = manifest.append(record(0, String::new(), Some(line))) {
                result = result.context(format!("and it could not be recorded: {m:#}"));
            }
        }
        print(&|| match &result {
            Ok(()) => println!(
                "{} -> {} ({:.1} s)",
                input.display(),
                out.display(),
                started.elapsed().as_secs_f64()
            ),
            Err(e) => eprintln!("{}", crate::errors::error_line_for(input, e)),
        });
        if result.is_err() {
            failures += 1;
        }
    }
    let shard = run
        .shard
        .map(|s| format!(" (shard {}/{})", s.index, s.count))
        .unwrap_or_default();
    if skipped > 0 {
        println!(
            "{skipped} of {} {}{shard} already done with this model and these options (in {}); \
             --redo to redo them",
            items.len(),
            run.noun,
            manifest.path.display()
        );
    }
    if failures > 0 {
        return Err(super::Reported(format!(
            "{failures} of {} {}{shard} failed (errors above)",
            items.len(),
            run.noun
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_skips_torn_lines_and_checks_size() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.mrc");
        std::fs::write(&out, b"12345").unwrap();
        let mut m = Manifest::open(dir.path()).unwrap();
        assert!(m.is_empty());
        let rec = ManifestRecord {
            input: "in.mrc".into(),
            output: out.to_string_lossy().into_owned(),
            size: 5,
            sha256: sha256_file(&out).unwrap(),
            model: "unet".into(),
            model_sha256: "abc".into(),
            options: "o".into(),
            device: "cpu".into(),
            seconds: 1.0,
            cryolens_version: "0".into(),
            error: None,
        };
        m.append(rec).unwrap();
        // A line cut by a kill after it.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(MANIFEST_NAME))
            .unwrap();
        f.write_all(b"{\"input\": \"in2.mrc\", \"outp").unwrap();
        let m = Manifest::open(dir.path()).unwrap();
        assert_eq!(m.len(), 1);
        assert!(m.is_done(Path::new("in.mrc"), &out, "abc", "o"));
        assert!(!m.is_done(Path::new("in.mrc"), &out, "abd", "o"));
        assert!(!m.is_done(Path::new("in.mrc"), &out, "abc", "p"));
        std::fs::write(&out, b"1234").unwrap();
        assert!(!m.is_done(Path::new("in.mrc"), &out, "abc", "o"));
        // A later failure of the same item: not done.
        std::fs::write(&out, b"12345").unwrap();
        let mut m = Manifest::open(dir.path()).unwrap();
        let failed = ManifestRecord {
            error: Some("error: in.mrc: truncated".into()),
            size: 0,
            ..m.done.values().next().unwrap().clone()
        };
        m.append(failed).unwrap();
        let m = Manifest::open(dir.path()).unwrap();
        assert!(!m.is_done(Path::new("in.mrc"), &out, "abc", "o"));
    }
}
