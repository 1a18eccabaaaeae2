//! `cryolens coords convert`: coordinate files between RELION, Topaz, EMAN and crYOLO.
//!
//! Reads any of the formats of [`crate::io::coords`] (by extension), groups picks by
//! micrograph, applies an explicit scale (binned ↔ full-size pixels) and an optional y flip
//! (TIFF ↔ MRC conventions), and writes the requested format into a folder: each micrograph
//! under its folder relative to the folder all share ([`coords::output_names`]), so that
//! `GridSquare_1/mic_001` and `GridSquare_2/mic_001` never overwrite each other; names that
//! would still collide are refused before anything is written, naming both inputs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::io::coords::{self, CoordinateFileEntry, MicrographPicks, NameRequest};

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
    /// One RELION 5 tomography `particles.star` (`_rlnTomoName`, centred Å; needs
    /// --tomograms; each micrograph named as its tomogram).
    Relion5,
    /// For cryoSPARC's Import Particles: one `particles.star` (RELION particles table, each
    /// pick naming its micrograph by file name) and, with `--micrograph-shape`, `particles.cs`.
    Cryosparc,
}

/// `cryolens coords convert` options.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Coordinate files (.star, .txt, .box, .cbox, .coords, cryoSPARC particles .cs), any mix.
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
    /// Box size in pixels for EMAN/crYOLO output when the input gives none (> 0, ≤ 16384).
    #[arg(long, allow_negative_numbers = true, value_parser = crate::sampling::parse_length_px)]
    pub box_size: Option<f64>,
    /// Mirror y in a micrograph of this many rows (y → rows − 1 − y), for coordinates made on
    /// TIFF/PNG images used with MRC files or back. Applied after scaling.
    #[arg(long, value_name = "ROWS")]
    pub flip_y: Option<usize>,
    /// With `--to cryosparc`: every micrograph's size as COLUMNSxROWS (e.g. `5760x4092`), to
    /// also write `particles.cs` (cryoSPARC stores picks as fractions of it).
    #[arg(long, value_name = "COLUMNSxROWS", value_parser = parse_shape)]
    pub micrograph_shape: Option<(u32, u32)>,
    /// A RELION 5 tomograms STAR (`_rlnTomoSizeX/Y/Z`, `_rlnTomoTiltSeriesPixelSize`,
    /// `_rlnTomoTomogramBinning`): needed to read RELION 5 tomography particles (centred Å) and
    /// to write `--to relion5`; picks are in voxels of the reconstructed tomograms.
    #[arg(long, value_name = "STAR")]
    pub tomograms: Option<PathBuf>,
}

/// The picks of one micrograph, merged over the inputs, with the input they first came from.
struct Group {
    picks: MicrographPicks,
    /// The micrograph's path-like name for output naming: its name as the file gives it, or,
    /// for a per-micrograph file, the file's folder joined with the micrograph name.
    path_name: String,
    /// True when the micrograph is named after a per-micrograph coordinate file.
    per_file: bool,
    source: PathBuf,
}

/// Reads every input and merges the picks of each micrograph: micrographs named inside a file
/// (RELION particle files, Topaz lists) by name, per-micrograph files by folder and name (so
/// `GridSquare_1/mic_001.box` and `GridSquare_2/mic_001.box` stay apart).
fn read_groups(
    inputs: &[PathBuf],
    tomograms: Option<&[coords::TomogramGeometry]>,
) -> Result<Vec<Group>> {
    let mut seen_inputs: BTreeMap<PathBuf, &PathBuf> = BTreeMap::new();
    let mut by_name: BTreeMap<String, Group> = BTreeMap::new();
    for input in inputs {
        let canonical = std::fs::canonicalize(input).unwrap_or_else(|_| input.clone());
        if let Some(first) = seen_inputs.insert(canonical.clone(), input) {
            bail!(
                "{}: given twice (also as {}); its picks would be counted twice (give each file once)",
                input.display(),
                first.display()
            );
        }
        let groups = if coords::is_relion5_tomo_particles(input) {
            let tomograms = tomograms.with_context(|| {
                format!(
                    "{}: RELION 5 tomography particles (centred Å) need the tomograms STAR: give --tomograms tomograms.star",
                    input.display()
                )
            })?;
            coords::read_relion5_particles(input, tomograms)?
        } else {
            coords::read(input).with_context(|| input.display().to_string())?
        };
        let own_name = coords::micrograph_from_path(input);
        for g in groups {
            let per_file = g.micrograph == own_name && !g.micrograph.contains('/');
            let path_name = if per_file {
                let folder = canonical.parent().unwrap_or(std::path::Path::new(""));
                folder.join(&g.micrograph).to_string_lossy().into_owned()
            } else {
                g.micrograph.clone()
            };
            by_name
                .entry(path_name.clone())
                .or_insert_with(|| Group {
                    picks: MicrographPicks {
                        micrograph: g.micrograph.clone(),
                        picks: Vec::new(),
                    },
                    path_name,
                    per_file,
                    source: input.clone(),
                })
                .picks
                .picks
                .extend(g.picks);
        }
    }
    Ok(by_name.into_values().collect())
}

/// Parses `COLUMNSxROWS` (`5760x4092`) into (columns, rows), both ≥ 1.
fn parse_shape(text: &str) -> Result<(u32, u32), String> {
    let (a, b) = text
        .split_once(['x', 'X', '×'])
        .ok_or_else(|| format!("`{text}` is not COLUMNSxROWS (e.g. 5760x4092)"))?;
    let n = |t: &str| t.trim().parse::<u32>().ok().filter(|&v| v >= 1);
    n(a).zip(n(b))
        .ok_or_else(|| format!("`{text}`: columns and rows must be whole numbers ≥ 1"))
}

/// A relative path as RELION's index holds it (`/` separators).
fn slash_path(p: &std::path::Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Runs the conversion and prints what was written.
///
/// Each micrograph is written under its own folder relative to the folder all of them share
/// ([`coords::output_names`]); two micrographs that would land on the same file are refused
/// before anything is written.
///
/// # Errors
/// Unreadable or malformed input (with file and line), an input given twice, a micrograph
/// without a name or two that would share an output file, a non-positive scale, write
/// failures.
pub fn convert(args: &ConvertArgs) -> Result<()> {
    if !(args.scale.is_finite() && args.scale > 0.0) {
        bail!("--scale must be a positive number, got {}", args.scale);
    }
    let tomograms = args
        .tomograms
        .as_deref()
        .map(coords::read_tomograms_star)
        .transpose()?;
    let mut groups = read_groups(&args.inputs, tomograms.as_deref())?;
    for g in &mut groups {
        g.picks.scale(args.scale);
        if let Some(rows) = args.flip_y {
            g.picks.flip_y(rows);
        }
    }
    let requests: Vec<NameRequest> = groups
        .iter()
        .map(|g| NameRequest {
            micrograph: g.path_name.clone(),
            source: g.source.display().to_string(),
        })
        .collect();
    let names = coords::output_names(&requests).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut written = 0usize;
    let mut each = |suffix: &str,
                    write: &dyn Fn(&std::path::Path, &MicrographPicks) -> Result<()>|
     -> Result<Vec<String>> {
        let mut files = Vec::new();
        for (g, name) in groups.iter().zip(&names) {
            let file = name.file(suffix);
            let path = args.output.join(&file);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            write(&path, &g.picks)?;
            written += g.picks.picks.len();
            files.push(slash_path(&file));
        }
        Ok(files)
    };
    match args.to {
        CoordTarget::Relion => {
            let files = each("_manualpick.star", &|p, g| {
                Ok(coords::write_relion(p, &g.picks)?)
            })?;
            let index: Vec<CoordinateFileEntry> = groups
                .iter()
                .zip(&names)
                .zip(files)
                .map(|((g, name), coordinates)| {
                    let micrograph = if !g.per_file {
                        g.picks.micrograph.clone()
                    } else if g.picks.micrograph.contains('.') {
                        slash_path(&name.folder.join(&g.picks.micrograph))
                    } else {
                        format!("{}.mrc", name.key())
                    };
                    CoordinateFileEntry {
                        micrograph,
                        coordinates,
                    }
                })
                .collect();
            coords::write_relion_index(&args.output.join("manualpick.star"), &index)?;
        }
        CoordTarget::Topaz => {
            let named: Vec<MicrographPicks> = groups
                .iter()
                .zip(&names)
                .map(|(g, name)| MicrographPicks {
                    micrograph: name.key(),
                    picks: g.picks.picks.clone(),
                })
                .collect();
            coords::write_topaz(&args.output.join("particles.txt"), &named)?;
            written = named.iter().map(|g| g.picks.len()).sum();
        }
        CoordTarget::Eman => {
            each(".box", &|p, g| {
                Ok(coords::write_eman_box(p, &g.picks, args.box_size)?)
            })?;
        }
        CoordTarget::Cryolo => {
            each(".cbox", &|p, g| {
                Ok(coords::write_cbox(p, &g.picks, args.box_size)?)
            })?;
        }
        CoordTarget::Relion5 => {
            let tomograms = tomograms.as_deref().context(
                "--to relion5 needs --tomograms tomograms.star (the tomograms' sizes and binning)",
            )?;
            let named: Vec<MicrographPicks> = groups.iter().map(|g| g.picks.clone()).collect();
            coords::write_relion5_particles(
                &args.output.join("particles.star"),
                &named,
                tomograms,
            )?;
            written = named.iter().map(|g| g.picks.len()).sum();
        }
        CoordTarget::Cryosparc => {
            // cryoSPARC matches particles to its exposures by micrograph file name.
            let named: Vec<MicrographPicks> = groups
                .iter()
                .map(|g| {
                    let name = crate::io::file_name_in(&g.picks.micrograph).to_string();
                    MicrographPicks {
                        // A per-micrograph file names its micrograph without extension.
                        micrograph: if name.contains('.') {
                            name
                        } else {
                            format!("{name}.mrc")
                        },
                        picks: g.picks.picks.clone(),
                    }
                })
                .collect();
            coords::write_relion_particles(&args.output.join("particles.star"), &named)?;
            if let Some((nx, ny)) = args.micrograph_shape {
                coords::write_cryosparc_particles(
                    &args.output.join("particles.cs"),
                    &named,
                    |_| Some((ny, nx)),
                )?;
            }
            written = named.iter().map(|g| g.picks.len()).sum();
        }
    }
    println!(
        "wrote {written} picks on {} micrographs to {} ({:?})",
        groups.len(),
        args.output.display(),
        args.to
    );
    Ok(())
}
