//! `cryolens coords convert`: coordinate files between RELION, Topaz, EMAN and crYOLO.
//!
//! Reads any of the formats of [`crate::io::coords`] (by extension), groups picks by
//! micrograph, applies an explicit scale (binned ↔ full-size pixels) and an optional y flip
//! (TIFF ↔ MRC conventions), and writes the requested format into a folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::io::coords::{self, CoordinateFileEntry, MicrographPicks};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CoordTarget {
    /// `<micrograph>_manualpick.star` per micrograph plus the `manualpick.star` index
    /// (`data_coordinate_files`) that RELION ≥ 3.2 reads.
    Relion,
    /// One Topaz `particles.txt` (tab-separated, header line) for all micrographs.
    Topaz,
    /// `<micrograph>.box` per micrograph (EMAN: lower-left corner, width, height).
    Eman,
    /// `<micrograph>.cbox` per micrograph (crYOLO).
    Cryolo,
}

/// `cryolens coords convert` options.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Coordinate files (.star, .txt, .box, .cbox, .coords), any mix.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum)]
    pub to: CoordTarget,
    /// Output folder.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Multiply every coordinate (and box size) by this factor, e.g. 4 to go from 4×-binned
    /// to full-size pixels, 0.25 for the reverse.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Box size in pixels for EMAN/crYOLO output when the input gives none.
    #[arg(long)]
    pub box_size: Option<f64>,
    /// Mirror y in a micrograph of this many rows (y → rows − 1 − y), for coordinates made on
    /// TIFF/PNG images used with MRC files or back. Applied after scaling.
    #[arg(long, value_name = "ROWS")]
    pub flip_y: Option<usize>,
}

/// Runs the conversion and prints what was written.
///
/// # Errors
/// Unreadable or malformed input (with file and line), a non-positive scale, write failures.
pub fn convert(args: &ConvertArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be a positive number, got {}", args.scale);
    }
    let mut by_micrograph: BTreeMap<String, MicrographPicks> = BTreeMap::new();
    for input in &args.inputs {
        let groups = coords::read(input).with_context(|| format!("reading {}", input.display()))?;
        for g in groups {
            by_micrograph
                .entry(g.micrograph.clone())
                .or_insert_with(|| MicrographPicks {
                    micrograph: g.micrograph.clone(),
                    picks: Vec::new(),
                })
                .picks
                .extend(g.picks);
        }
    }
    let mut groups: Vec<MicrographPicks> = by_micrograph.into_values().collect();
    for g in &mut groups {
        g.scale(args.scale);
        if let Some(rows) = args.flip_y {
            g.flip_y(rows);
        }
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let total: usize = groups.iter().map(|g| g.picks.len()).sum();
    let stem = |m: &str| {
        std::path::Path::new(m)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| m.to_string())
    };
    match args.to {
        CoordTarget::Relion => {
            let mut index = Vec::new();
            for g in &groups {
                let name = coords::relion_coordinate_file_name(&stem(&g.micrograph), "manualpick");
                coords::write_relion(&args.output.join(&name), &g.picks)?;
                let micrograph = if g.micrograph.contains('.') {
                    g.micrograph.clone()
                } else {
                    format!("{}.mrc", g.micrograph)
                };
                index.push(CoordinateFileEntry {
                    micrograph,
                    coordinates: name,
                });
            }
            coords::write_relion_index(&args.output.join("manualpick.star"), &index)?;
        }
        CoordTarget::Topaz => coords::write_topaz(&args.output.join("particles.txt"), &groups)?,
        CoordTarget::Eman => {
            for g in &groups {
                coords::write_eman_box(
                    &args.output.join(format!("{}.box", stem(&g.micrograph))),
                    &g.picks,
                    args.box_size,
                )?;
            }
        }
        CoordTarget::Cryolo => {
            for g in &groups {
                coords::write_cbox(
                    &args.output.join(format!("{}.cbox", stem(&g.micrograph))),
                    &g.picks,
                    args.box_size,
                )?;
            }
        }
    }
    println!(
        "wrote {total} picks on {} micrographs to {} ({:?})",
        groups.len(),
        args.output.display(),
        args.to
    );
    Ok(())
}
