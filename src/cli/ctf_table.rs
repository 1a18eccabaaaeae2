//! `--ctf FILE` of `cryolens denoise` and `cryolens analyze`: each micrograph's CTF for
//! restore models trained on phase-flipped micrographs (`cryolens train --arch wdsr
//! --ctf-star`), read once and matched to micrographs by file name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};

use crate::ctf::{Ctf, MicrographCtf, find_micrograph_ctf, read_ctf_file};
use crate::denoise::Denoiser2d;

/// The `--ctf` option.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CtfArgs {
    /// Each micrograph's CTF: a RELION STAR with CTF columns (micrographs_ctf.star), CTFFIND4
    /// output or a cryoSPARC exposures `.cs`, matched by file name (`mic_DW`, `mic_EVN`,
    /// `mic_ODD`, `mic_patch_aligned_doseweighted` and `mic` are one micrograph; cryoSPARC's
    /// UID prefix is dropped). Needed by restore models trained on phase-flipped micrographs: their input
    /// is phase flipped before denoising and flipped back after; other models do not use it.
    #[arg(long, value_name = "FILE")]
    pub ctf: Option<PathBuf>,
}

/// A CTF file read for a denoiser that phase flips.
#[derive(Clone, Debug)]
pub struct CtfTable {
    path: PathBuf,
    entries: Vec<MicrographCtf>,
}

impl CtfArgs {
    /// Reads `--ctf` when `denoiser` phase flips ([`Denoiser2d::needs_ctf`]); for another
    /// model prints that the file is not used and returns `None`.
    ///
    /// # Errors
    /// An unreadable or malformed CTF file.
    pub fn table_for(&self, denoiser: &Denoiser2d) -> Result<Option<CtfTable>> {
        let Some(path) = &self.ctf else {
            return Ok(None);
        };
        if !denoiser.needs_ctf() {
            println!(
                "note: model {} was not trained on phase-flipped micrographs: {} is not used",
                denoiser.label(),
                path.display()
            );
            return Ok(None);
        }
        let entries = read_ctf_file(path).with_context(|| {
            format!(
                "{}: cannot read CTF parameters (give a RELION STAR with _rlnDefocusU, CTFFIND4 output or a cryoSPARC exposures .cs)",
                path.display()
            )
        })?;
        println!(
            "CTF: {} micrographs in {} (phase flipped before denoising)",
            entries.len(),
            path.display()
        );
        Ok(Some(CtfTable {
            path: path.clone(),
            entries,
        }))
    }
}

impl CtfTable {
    /// The CTF of micrograph `path` ([`find_micrograph_ctf`]).
    ///
    /// # Errors
    /// No entry matches its name.
    pub fn for_micrograph(&self, path: &Path) -> Result<Ctf> {
        find_micrograph_ctf(&self.entries, path)
            .map(|e| e.ctf)
            .ok_or_else(|| {
                anyhow!(
                    "no CTF for {} in {} (micrographs are matched by file name without folders or _DW/_EVN/_ODD; give the file that lists this micrograph)",
                    path.display(),
                    self.path.display()
                )
            })
    }
}

/// The CTF to denoise micrograph `path` with: `None` for a model that does not phase flip,
/// the table's entry for one that does.
///
/// # Errors
/// The model phase flips and there is no table ([`crate::denoise::NeedsCtf`]) or no entry
/// for this micrograph.
pub fn ctf_for(
    denoiser: &Denoiser2d,
    table: Option<&CtfTable>,
    path: &Path,
) -> Result<Option<Ctf>> {
    if !denoiser.needs_ctf() {
        return Ok(None);
    }
    match table {
        Some(t) => t.for_micrograph(path).map(Some),
        None => Err(crate::denoise::NeedsCtf {
            model: denoiser.label().to_owned(),
        }
        .into()),
    }
}
