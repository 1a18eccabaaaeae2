//! A small restore (WDSR U-net) model saved in Cryolens' format for the tests that run
//! restore models by name (`tests/restore_ctf.rs`, the GUI tests): seeded, untrained weights
//! (the properties tested hold for any weights), optionally recorded as trained on
//! phase-flipped micrographs, and a comparison helper. Self-contained so that `tests/gui` can
//! include it by path.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cryolens::device::ComputeDevice;
use cryolens::image::Image;
use cryolens::models::format::{self, ArchJson, Provenance, RestorePreprocessing};
use cryolens::models::wdsr::WdsrConfig;
use cryolens::train::{TrainConfig, TrainableModel};

/// The name the tests give it: `cryolens-restore-small`.
pub const RESTORE_SMALL: &str = "cryolens-restore-small";

/// A WDSR U-net small enough to run in a blink (receptive radius 34 px).
pub fn tiny_wdsr() -> WdsrConfig {
    WdsrConfig {
        filters: 8,
        expansion: 2,
        reduction: 0.8,
        levels: 2,
        blocks_per_level: 2,
        kernel_size: 3,
        decoder_kernel_size: 4,
    }
}

/// Saves the tiny WDSR U-net (weights seeded with 11) as `NAME.safetensors` + `NAME.json`
/// in `dir/trained` (the trained-models folder when `CRYOLENS_MODELS_DIR` is `dir`), with
/// restore's preprocessing at `max_resolution` Å and, when `ctf_star` is given, recorded as
/// trained on micrographs phase flipped with that file's CTFs. Returns the weights' path.
pub fn save_restore_model(
    dir: &Path,
    name: &str,
    max_resolution: f64,
    ctf_star: Option<PathBuf>,
) -> PathBuf {
    let device = ComputeDevice::flex("test");
    let arch = ArchJson::Wdsr(tiny_wdsr());
    let TrainableModel::Wdsr(model) = TrainableModel::init_seeded(arch, 11, &device.burn) else {
        unreachable!()
    };
    let mut training = TrainConfig::restore();
    training.wdsr = Some(tiny_wdsr());
    training.data.restore = Some(RestorePreprocessing {
        max_resolution_angstrom: max_resolution,
        ctf_star,
        ..RestorePreprocessing::default()
    });
    let meta = format::ModelMeta {
        format: format::MODEL_FORMAT.into(),
        version: format::MODEL_FORMAT_VERSION,
        architecture: arch,
        architecture_name: tiny_wdsr().describe(),
        training,
        data: Default::default(),
        pixel_size_angstrom: None,
        provenance: Provenance {
            steps: 0,
            final_validation_loss: None,
            final_train_loss: None,
            created_utc: format::utc_now_iso8601(),
            command_line: "test".into(),
            device: "test".into(),
            cryolens_version: "test".into(),
            notes: String::new(),
        },
    };
    let trained = dir.join("trained");
    std::fs::create_dir_all(&trained).unwrap();
    let path = trained.join(format!("{name}.safetensors"));
    format::save_model(&model, &meta, &path).unwrap();
    path
}

/// A RELION 3.1 `micrographs_ctf.star` giving `micrograph` (a project-relative name, as
/// RELION writes it) defocus U/V/angle `defocus` (Å, Å, °) at 300 kV, Cs 2.7 mm, amplitude
/// contrast 0.1, pixel size `pixel` Å.
pub fn ctf_star_text(micrograph: &str, defocus: (f64, f64, f64), pixel: f64) -> String {
    format!(
        "# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n\
         _rlnMicrographPixelSize #3\n_rlnVoltage #4\n_rlnSphericalAberration #5\n\
         _rlnAmplitudeContrast #6\nopticsGroup1 1 {pixel} 300.0 2.7 0.1\n\n\
         # version 30001\n\ndata_micrographs\n\nloop_\n_rlnMicrographName #1\n\
         _rlnOpticsGroup #2\n_rlnDefocusU #3\n_rlnDefocusV #4\n_rlnDefocusAngle #5\n\
         {micrograph} 1 {} {} {}\n",
        defocus.0, defocus.1, defocus.2
    )
}

/// Largest absolute difference between two images of the same shape.
pub fn max_abs_diff(a: &Image, b: &Image) -> f32 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
