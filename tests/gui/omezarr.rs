//! A real tomogram stored as OME-Zarr (two levels, as the cryoET Data Portal serves them)
//! opened in the GUI: sections read chunk by chunk equal the TIFF's, the orthoviews follow,
//! and a level folder opens that level.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cryolens::gui::{Source, View};
use cryolens::image::Volume;
use egui::{Key, Vec2};
use zarrs::array::{ArrayBuilder, data_type};
use zarrs::filesystem::FilesystemStore;

use crate::harness::{harness_with_session, save_screenshot, setup, wait_for};

/// Writes `v` as an OME-NGFF 0.5 store at `root`: level 0 as is, level 1 binned 2× by block
/// means, chunks of 32³, voxel size `px` Å.
fn write_store(root: &Path, v: &Volume, px: f64) {
    std::fs::create_dir_all(root).unwrap();
    let store = Arc::new(FilesystemStore::new(root).unwrap());
    let (w, h, d) = (v.width, v.height, v.depth);
    let (bw, bh, bd) = (w / 2, h / 2, d / 2);
    let mut binned = vec![0.0f32; bw * bh * bd];
    for (i, b) in binned.iter_mut().enumerate() {
        let (x, y, z) = (2 * (i % bw), 2 * ((i / bw) % bh), 2 * (i / (bw * bh)));
        for (dx, dy, dz) in (0..8).map(|k| (k & 1, (k >> 1) & 1, k >> 2)) {
            *b += v.data[((z + dz) * h + y + dy) * w + x + dx] / 8.0;
        }
    }
    for (level, (data, (lw, lh, ld))) in [(&v.data, (w, h, d)), (&binned, (bw, bh, bd))]
        .into_iter()
        .enumerate()
    {
        let array = ArrayBuilder::new(
            vec![ld as u64, lh as u64, lw as u64],
            vec![32u64; 3],
            data_type::float32(),
            0.0f32,
        )
        .build(store.clone(), &format!("/{level}"))
        .unwrap();
        array.store_metadata().unwrap();
        array
            .store_array_subset(&[0..ld as u64, 0..lh as u64, 0..lw as u64], data.as_slice())
            .unwrap();
    }
    let scale = |s: f64| serde_json::json!([{"type": "scale", "scale": [s, s, s]}]);
    let axis = |n: &str| serde_json::json!({"name": n, "type": "space", "unit": "angstrom"});
    let meta = serde_json::json!({
        "zarr_format": 3, "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "multiscales": [{
            "axes": [axis("z"), axis("y"), axis("x")],
            "datasets": [
                {"path": "0", "coordinateTransformations": scale(px)},
                {"path": "1", "coordinateTransformations": scale(2.0 * px)}]}]}}
    });
    std::fs::write(root.join("zarr.json"), meta.to_string()).unwrap();
}

#[test]
fn a_real_tomogram_as_ome_zarr_opens_lazily_with_orthoviews() {
    let _guard = setup();
    let dir = tempfile::tempdir().unwrap();
    let tif = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/tomograms/particleannotation/3d_test_data.tif");
    let (_, tomo) = cryolens::io::read(&tif).unwrap();
    let root = dir.path().join("3d_test_data.zarr");
    write_store(&root, &tomo, 10.0);

    let mut h = harness_with_session(
        Source::File(root.clone()),
        &dir.path().join("session.json"),
        Vec2::new(1100.0, 800.0),
    );
    wait_for(
        &mut h,
        "the OME-Zarr tomogram",
        Duration::from_secs(60),
        |a| a.has_view(View::Raw) && a.viewer_rect().is_some() && a.has_orthoviews(),
    );
    assert_eq!(h.state().section(), Some((202, 101)));
    assert_eq!(h.state().image_size(), Some((112, 115)));
    assert_eq!(h.state().volume_is_mapped(), Some(true));
    let want = |x: usize, y: usize, z: usize| tomo.data[(z * 115 + y) * 112 + x];
    assert_eq!(h.state().raw_value(40, 70), Some(want(40, 70, 101)));
    h.key_press(Key::ArrowUp);
    wait_for(&mut h, "section 102", Duration::from_secs(30), |a| {
        a.section() == Some((202, 102)) && !a.is_busy()
    });
    assert_eq!(h.state().raw_value(90, 3), Some(want(90, 3, 102)));
    save_screenshot(&mut h, "omezarr-tomogram.png");
    drop(h);

    // The level folder opens that level: 2× binned.
    let mut h = harness_with_session(
        Source::File(root.join("1")),
        &dir.path().join("session1.json"),
        Vec2::new(900.0, 700.0),
    );
    wait_for(&mut h, "level 1", Duration::from_secs(60), |a| {
        a.has_view(View::Raw) && a.viewer_rect().is_some()
    });
    assert_eq!(h.state().section(), Some((101, 50)));
    assert_eq!(h.state().image_size(), Some((56, 57)));
}
