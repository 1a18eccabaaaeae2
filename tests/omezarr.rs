//! OME-Zarr volumes (`cryolens::io::omezarr`): a store written by ome-zarr-py (OME-NGFF 0.4,
//! Zarr v2, Blosc/zstd, as the CZ cryoET Data Portal serves tomograms) read level by level
//! with its known values; a sparse multi-GB Zarr v3 store (OME-NGFF 0.5) opened and viewed
//! without reading it whole; bad stores refused with one clear line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cryolens::analysis::section::read_micrograph;
use cryolens::image::Axis;
use cryolens::io::mapped::{VolumeSource, open_volume};
use cryolens::io::omezarr::{open_for_view, open_level, read_multiscales};
use cryolens::io::{ContentKind, read};
use zarrs::array::{ArrayBuilder, data_type};
use zarrs::filesystem::FilesystemStore;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/omezarr/tomo.zarr")
}

/// The fixture's level-0 value at (x, y, z) (see `tests/data/omezarr/make_store.py`).
fn value(x: usize, y: usize, z: usize) -> f32 {
    0.5 * (((z * 40 + y) * 36 + x) as f32) - 100.0
}

#[test]
fn ome_zarr_py_store_reads_every_level_with_its_voxel_size() {
    let ms = read_multiscales(&fixture()).unwrap();
    assert_eq!(ms.version, "0.4");
    assert_eq!(ms.spatial_axes, 3);
    let shapes: Vec<_> = ms.levels.iter().map(|l| l.shape).collect();
    assert_eq!(shapes, [(36, 40, 12), (18, 20, 6)]);
    let px: Vec<_> = ms.levels.iter().map(|l| l.pixel_size_angstrom).collect();
    assert_eq!(px, [Some(13.48), Some(26.96)]);

    // Level 0, chunk by chunk: sections, orthosections, a block across chunk borders.
    let v = open_level(&fixture(), 0).unwrap();
    assert_eq!(v.kind(), ContentKind::Volume);
    let s = v.section(9);
    assert_eq!((s.width, s.height), (36, 40));
    for (i, got) in s.data.iter().enumerate() {
        assert_eq!(*got, value(i % 36, i / 36, 9), "section 9, voxel {i}");
    }
    let xz = v.slab(Axis::Y, 17, 1);
    assert_eq!((xz.width, xz.height), (36, 12));
    assert_eq!(xz.data[5 * 36 + 33], value(33, 17, 5));
    let b = v.block((14, 13, 6), (5, 7, 4)).unwrap();
    assert_eq!(b.data[((3 * 7) + 6) * 5 + 4], value(18, 19, 9));
    assert!(v.take_read_error().is_none());

    // Level 1 is level 0 at every second voxel; `io::read` of the level folder reads it.
    let (kind, l1) = read(&fixture().join("1")).unwrap();
    assert_eq!(kind, ContentKind::Volume);
    assert_eq!((l1.width, l1.height, l1.depth), (18, 20, 6));
    assert_eq!(l1.pixel_size_angstrom, Some(26.96));
    assert_eq!(l1.data[(2 * 20 + 7) * 18 + 11], value(22, 14, 4));
    // The root reads as its finest level.
    let (_, l0) = read(&fixture()).unwrap();
    assert_eq!(l0.data.len(), 36 * 40 * 12);
    assert_eq!(l0.data[l0.data.len() - 1], value(35, 39, 11));
}

#[test]
fn the_view_opens_the_finest_level_that_fits_lazily() {
    assert_eq!(open_for_view(&fixture(), 4096).unwrap().level(), 0);
    assert_eq!(open_for_view(&fixture(), 40).unwrap().level(), 0);
    assert_eq!(open_for_view(&fixture(), 39).unwrap().level(), 1);
    // Nothing fits: the coarsest.
    assert_eq!(open_for_view(&fixture(), 4).unwrap().level(), 1);
    // A level folder is that level whatever the view.
    assert_eq!(open_for_view(&fixture().join("0"), 4).unwrap().level(), 0);

    let (kind, v) = open_volume(&fixture()).unwrap();
    assert_eq!(kind, ContentKind::Volume);
    assert!(v.is_mapped());
    let m = read_micrograph(&fixture()).unwrap();
    assert_eq!(
        m.image.data[0],
        value(0, 0, 6),
        "the middle section is shown"
    );
    let note = m.note.unwrap();
    assert!(note.contains("OME-Zarr level 0 of 2"), "{note}");
    assert!(note.contains("13.48 Å/px"), "{note}");
}

/// A store of 512 × 2048 × 2048 float32 voxels (8 GiB) at level 0 with two chunks written,
/// plus a 1 GiB level 1: it takes a few kB on disk, and opens, views and reads back what was
/// written, the rest as the fill value, without reading the store whole.
#[test]
fn a_sparse_multi_gigabyte_zarr_v3_store_opens_lazily() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("big.zarr");
    std::fs::create_dir_all(&root).unwrap();
    let store = Arc::new(FilesystemStore::new(&root).unwrap());
    let chunk = 64usize;
    for (level, side, depth) in [(0, 2048u64, 512u64), (1, 1024, 256)] {
        let array = ArrayBuilder::new(
            vec![depth, side, side],
            vec![chunk as u64; 3],
            data_type::float32(),
            -1.0f32,
        )
        .build(store.clone(), &format!("/{level}"))
        .unwrap();
        array.store_metadata().unwrap();
        if level == 0 {
            // Chunk (z 1, y 3, x 5) holds 7 + its offset; chunk (7, 31, 31) the last voxels.
            let filled: Vec<f32> = (0..chunk.pow(3)).map(|i| 7.0 + i as f32).collect();
            array.store_chunk(&[1, 3, 5], &filled).unwrap();
            array
                .store_chunk(&[7, 31, 31], vec![3.5f32; chunk.pow(3)])
                .unwrap();
        }
    }
    let scale = |s: f64| serde_json::json!([{"type": "scale", "scale": [s, s, s]}]);
    let meta = serde_json::json!({
        "zarr_format": 3, "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "multiscales": [{
            "axes": [
                {"name": "z", "type": "space", "unit": "nanometer"},
                {"name": "y", "type": "space", "unit": "nanometer"},
                {"name": "x", "type": "space", "unit": "nanometer"}],
            "datasets": [
                {"path": "0", "coordinateTransformations": scale(0.5)},
                {"path": "1", "coordinateTransformations": scale(1.0)}]}]}}
    });
    std::fs::write(root.join("zarr.json"), meta.to_string()).unwrap();
    let on_disk: u64 = walk(&root)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(on_disk < 4 << 20, "{on_disk} bytes on disk");

    let ms = read_multiscales(&root).unwrap();
    assert_eq!(ms.version, "0.5");
    assert_eq!(ms.levels[0].shape, (2048, 2048, 512));
    assert_eq!(ms.levels[0].pixel_size_angstrom, Some(5.0), "0.5 nm");
    // The view picks the 1024² level; level 0 is opened when asked for.
    let view = open_for_view(&root, 1024).unwrap();
    assert_eq!((view.level(), view.shape()), (1, (1024, 1024, 256)));
    let v = open_level(&root, 0).unwrap();
    let (z, y) = (64 + 6, 3 * 64 + 2);
    let mut row = vec![0.0f32; 2048];
    v.read_row(z, y, 0, &mut row);
    let inside = |x: usize| 7.0 + ((6 * 64 + 2) * 64 + (x - 5 * 64)) as f32;
    assert_eq!(row[5 * 64], inside(5 * 64));
    assert_eq!(row[6 * 64 - 1], inside(6 * 64 - 1));
    assert_eq!(
        row[5 * 64 - 1],
        -1.0,
        "an unwritten chunk reads as the fill value"
    );
    assert_eq!(row[0], -1.0);
    let last = v.block((2047, 2047, 511), (1, 1, 1)).unwrap();
    assert_eq!(last.data, [3.5]);
    // A whole 2048² section is read chunk by chunk (4 MiB of pixels out of 8 GiB).
    let s = v.section(z);
    assert_eq!(s.data[y * 2048 + 5 * 64 + 1], inside(5 * 64 + 1));
    assert!(v.take_read_error().is_none());
}

#[test]
fn bad_stores_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A folder that is no store.
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = read(&plain).unwrap_err().to_string();
    assert!(e.contains("a folder, not an image file"), "{e}");
    assert!(
        read_multiscales(&plain)
            .unwrap_err()
            .to_string()
            .contains("multiscales")
    );

    // Axes that are not an image's.
    let copy = dir.path().join("tomo.zarr");
    copy_dir(&fixture(), &copy);
    let attrs = std::fs::read_to_string(copy.join(".zattrs")).unwrap();
    let swapped = attrs.replacen("\"name\": \"x\"", "\"name\": \"c\"", 1);
    std::fs::write(copy.join(".zattrs"), &swapped).unwrap();
    let e = read(&copy).unwrap_err().to_string();
    assert!(e.contains("do not end in z, y, x"), "{e}");
    std::fs::write(copy.join(".zattrs"), &attrs).unwrap();

    // A level the metadata lists but the store lacks; a level index out of range.
    std::fs::remove_dir_all(copy.join("1")).unwrap();
    let e = read(&copy).unwrap_err().to_string();
    assert!(e.contains("level 1: cannot open its array"), "{e}");
    copy_dir(&fixture().join("1"), &copy.join("1"));
    let e = open_level(&copy, 2).unwrap_err().to_string();
    assert!(e.contains("no level 2: the store has 2"), "{e}");

    // A chunk that is not Blosc: named in the error, never a panic.
    std::fs::write(copy.join("0/0/0/0"), b"not a blosc chunk").unwrap();
    let e = read(&copy).unwrap_err().to_string();
    assert!(e.contains("chunk [0, 0, 0]"), "{e}");
    let e = read_micrograph(&copy.join("0")).err().unwrap().to_string();
    assert!(e.contains("chunk [0, 0, 0]"), "{e}");
    // A view reading the bad chunk gets its error once; a view elsewhere reads cleanly.
    let v = open_level(&copy, 0).unwrap();
    let s = v.section(0);
    assert!(s.data[0].is_nan() && s.data[35].is_finite());
    assert!(v.take_read_error().unwrap().contains("chunk [0, 0, 0]"));
    assert_eq!(v.take_read_error(), None);
    assert!(v.section(11).data.iter().all(|x| x.is_finite()));
    assert_eq!(v.take_read_error(), None);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}
