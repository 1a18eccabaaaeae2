//! The `multiscales` metadata of an OME-Zarr store (OME-NGFF 0.4 in Zarr v2's `.zattrs`,
//! 0.5 under `ome` in Zarr v3's `zarr.json`): levels, their shapes and voxel sizes in Å.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

use crate::io::IoError;

/// One resolution level of a multiscale image.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// The level's array, relative to the store's root (`"0"`, `"1"`…).
    pub path: String,
    /// (width, height, depth) in voxels: the x, y, z axes (depth 1 for a 2D image).
    pub shape: (usize, usize, usize),
    /// Voxel size along x in Å, when the axes have a length unit.
    pub pixel_size_angstrom: Option<f32>,
}

/// The `multiscales` metadata of an OME-Zarr store: its levels, finest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Multiscales {
    /// The store's root folder.
    pub root: PathBuf,
    /// OME-NGFF version as written (`"0.4"`, `"0.5"`), empty when not stated.
    pub version: String,
    /// The levels, in the order the metadata lists them (finest first by the specification).
    pub levels: Vec<Level>,
    /// 3 when the axes end in z, y, x; 2 when in y, x.
    pub spatial_axes: usize,
}

/// Whether `path` is a folder holding OME-Zarr `multiscales` metadata, or one level array of
/// such a folder.
pub fn is_ome_zarr(path: &Path) -> bool {
    path.is_dir() && (multiscales_json(path).is_some() || level_of(path).is_some())
}

/// Reads the `multiscales` metadata at `root` (`.zattrs` of Zarr v2, or `zarr.json`'s
/// attributes, under `ome` for OME-NGFF 0.5), and each level's shape from its array metadata.
///
/// # Errors
/// [`IoError::Invalid`] naming what is missing: no multiscales, no datasets, axes that do not
/// end in y, x, a non-spatial axis longer than one, a level's array unreadable.
pub fn read_multiscales(root: &Path) -> Result<Multiscales, IoError> {
    let meta = multiscales_json(root).ok_or_else(|| {
        IoError::invalid(
            root,
            "no OME-Zarr multiscales metadata (.zattrs or zarr.json with \"multiscales\"): open the store's root folder",
        )
    })?;
    let ms = meta
        .get(0)
        .ok_or_else(|| IoError::invalid(root, "empty \"multiscales\" list"))?;
    // 0.4 states the version in each multiscale, 0.5 once in the `ome` attributes.
    let version = ms
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            ome_attributes(root)?
                .get("version")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let axes = axes_of(root, ms)?;
    let global = scale_of(ms.get("coordinateTransformations"));
    let datasets = ms
        .get("datasets")
        .and_then(Value::as_array)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| IoError::invalid(root, "\"multiscales\" lists no datasets"))?;
    let store = open_store(root)?;
    let mut levels = Vec::with_capacity(datasets.len());
    for d in datasets {
        let path = d
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| IoError::invalid(root, "a dataset without \"path\""))?;
        let array = open_array(root, &store, path)?;
        let shape = spatial_shape(root, path, &axes, array.shape())?;
        let scale = scale_of(d.get("coordinateTransformations"));
        let x = axes.len() - 1;
        let pixel = match (
            &axes[x].unit_angstrom,
            scale.as_ref().and_then(|s| s.get(x)),
        ) {
            (Some(unit), Some(&s)) => {
                let g = global
                    .as_ref()
                    .and_then(|g| g.get(x))
                    .copied()
                    .unwrap_or(1.0);
                Some((s * g * unit) as f32).filter(|p| p.is_finite() && *p > 0.0)
            }
            _ => None,
        };
        levels.push(Level {
            path: path.to_string(),
            shape,
            pixel_size_angstrom: pixel,
        });
    }
    Ok(Multiscales {
        root: root.to_path_buf(),
        version,
        levels,
        spatial_axes: axes.iter().rev().take_while(|a| a.spatial).count().min(3),
    })
}

/// One axis of the multiscale: its unit in Å (`None` without a length unit).
struct AxisInfo {
    unit_angstrom: Option<f64>,
    spatial: bool,
}

fn axes_of(root: &Path, ms: &Value) -> Result<Vec<AxisInfo>, IoError> {
    let axes = ms
        .get("axes")
        .and_then(Value::as_array)
        .ok_or_else(|| IoError::invalid(root, "\"multiscales\" has no \"axes\""))?;
    let info: Vec<(String, AxisInfo)> = axes
        .iter()
        .map(|a| {
            // OME-NGFF 0.3 lists names; 0.4 and later objects with name, type, unit.
            let name = a
                .as_str()
                .or_else(|| a.get("name").and_then(Value::as_str))
                .unwrap_or_default()
                .to_ascii_lowercase();
            let unit = a
                .get("unit")
                .and_then(Value::as_str)
                .and_then(unit_angstrom);
            let spatial = matches!(name.as_str(), "x" | "y" | "z");
            (
                name,
                AxisInfo {
                    unit_angstrom: unit,
                    spatial,
                },
            )
        })
        .collect();
    let names: Vec<&str> = info.iter().map(|(n, _)| n.as_str()).collect();
    if !(names.ends_with(&["z", "y", "x"]) || names.ends_with(&["y", "x"])) {
        return Err(IoError::invalid(
            root,
            format!("axes {names:?} do not end in z, y, x (or y, x): not an image we can show"),
        ));
    }
    Ok(info.into_iter().map(|(_, a)| a).collect())
}

/// (width, height, depth) of a level whose array has `shape` along `axes`.
fn spatial_shape(
    root: &Path,
    path: &str,
    axes: &[AxisInfo],
    shape: &[u64],
) -> Result<(usize, usize, usize), IoError> {
    if shape.len() != axes.len() {
        return Err(IoError::invalid(
            root,
            format!(
                "level {path} has {} axes, the metadata {}",
                shape.len(),
                axes.len()
            ),
        ));
    }
    let spatial = axes.iter().rev().take_while(|a| a.spatial).count();
    if let Some(n) = shape[..shape.len() - spatial].iter().find(|&&n| n != 1) {
        return Err(IoError::invalid(
            root,
            format!(
                "level {path}: a time or channel axis of {n} elements (only single-channel images are read)"
            ),
        ));
    }
    let at = |k: usize| shape[shape.len() - k] as usize;
    let depth = if spatial >= 3 { at(3) } else { 1 };
    Ok((at(1), at(2), depth))
}

/// Å per unit of an OME-NGFF space unit (UDUNITS-2 names).
fn unit_angstrom(unit: &str) -> Option<f64> {
    Some(match unit {
        "angstrom" => 1.0,
        "picometer" => 0.01,
        "nanometer" => 10.0,
        "micrometer" => 1e4,
        "millimeter" => 1e7,
        "meter" => 1e10,
        _ => return None,
    })
}

/// The `scale` of a `coordinateTransformations` list.
fn scale_of(transforms: Option<&Value>) -> Option<Vec<f64>> {
    transforms?
        .as_array()?
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("scale"))?
        .get("scale")?
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect()
}

/// The `multiscales` list at `root`, from Zarr v2's `.zattrs` or v3's `zarr.json`.
fn multiscales_json(root: &Path) -> Option<Value> {
    if let Some(attrs) = read_json(&root.join(".zattrs"))
        && let Some(ms) = attrs.get("multiscales")
    {
        return Some(ms.clone());
    }
    let attrs = read_json(&root.join("zarr.json"))?
        .get("attributes")?
        .clone();
    attrs
        .get("ome")
        .and_then(|o| o.get("multiscales"))
        .or_else(|| attrs.get("multiscales"))
        .cloned()
}

/// The `ome` attributes of a Zarr v3 group (OME-NGFF 0.5), when present.
fn ome_attributes(root: &Path) -> Option<Value> {
    read_json(&root.join("zarr.json"))?
        .get("attributes")?
        .get("ome")
        .cloned()
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The store root and level index when `path` is one level's folder of an OME-Zarr store.
pub(super) fn level_of(path: &Path) -> Option<(PathBuf, usize)> {
    let name = path.file_name()?.to_str()?;
    let root = path.parent()?;
    let ms = multiscales_json(root)?;
    ms.get(0)?
        .get("datasets")?
        .as_array()?
        .iter()
        .position(|d| d.get("path").and_then(Value::as_str) == Some(name))
        .map(|i| (root.to_path_buf(), i))
}

pub(super) fn open_store(root: &Path) -> Result<Arc<FilesystemStore>, IoError> {
    FilesystemStore::new(root)
        .map(Arc::new)
        .map_err(|e| IoError::invalid(root, format!("cannot open as a Zarr store: {e}")))
}

pub(super) fn open_array(
    root: &Path,
    store: &Arc<FilesystemStore>,
    path: &str,
) -> Result<Array<FilesystemStore>, IoError> {
    Array::open(store.clone(), &format!("/{}", path.trim_start_matches('/')))
        .map_err(|e| IoError::invalid(root, format!("level {path}: cannot open its array ({e})")))
}
