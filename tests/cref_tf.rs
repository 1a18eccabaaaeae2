//! The crefDenoiser general-model import (`cryolens models import cref`) against TensorFlow.
//!
//! `tests/data/cref_tf/` holds a TensorFlow checkpoint of the published crefDenoiser network
//! (322,881 parameters) with seeded random weights, made by `make_checkpoint.py` there with
//! TensorFlow/Keras, its step (a) output `arrays.safetensors` (the checkpoint's variables under
//! their TensorFlow names, written by the embedded `cref_tf_export.py`), and TensorFlow's
//! output on a fixed 32³ input. Asserted: step (b) (TensorFlow names → Cryolens' layers) plus
//! Cryolens' forward pass give TensorFlow's output to 10⁻⁴ relative; and, where Python has
//! TensorFlow (else the test says why it skips), step (a) on the checkpoint gives exactly the
//! committed arrays and the whole import saves a model that loads.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use cryolens::models::cref::{CrefArch, CrefUNet};
use cryolens::models::format::cref_tf::{
    cref_from_tf_arrays, export_tf_checkpoint, import_cref_checkpoint,
};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cref_tf")
        .join(rel)
}

/// A little-endian float32 C-order `.npy` (as numpy writes it) → (shape, values).
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let (len, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&b[start..start + len]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("'fortran_order': False"));
    let dims = header.split("'shape': (").nth(1).unwrap();
    let dims = dims.split(')').next().unwrap();
    let shape: Vec<usize> = dims
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let v = b[start + len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, v)
}

/// Max |ours − TensorFlow's| relative to max |TensorFlow's|.
fn forward_error(model: &CrefUNet) -> f64 {
    let (shape, x) = read_npy(&data("input.npy"));
    let (_, want) = read_npy(&data("output.npy"));
    assert_eq!(shape, [32, 32, 32]);
    let device = Device::flex();
    let t = Tensor::<5>::from_data(TensorData::new(x, [1, 1, 32, 32, 32]), &device);
    let got = model.forward(t).into_data().try_to_vec::<f32>().unwrap();
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
    let err = got
        .iter()
        .zip(&want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs() as f64));
    err / scale
}

#[test]
fn tensorflow_arrays_give_tensorflows_output() {
    let model = cref_from_tf_arrays(&data("arrays.safetensors"), &Device::flex()).unwrap();
    assert!(matches!(model, CrefUNet::Published(_)));
    assert_eq!(model.num_parameters(), 322_881);
    let rel = forward_error(&model);
    println!("max |ours − TensorFlow| / max |TensorFlow| = {rel:.2e}");
    assert!(rel < 1e-4, "{rel}");
}

#[test]
fn arrays_of_another_network_are_refused() {
    // A checkpoint with one kernel too few: the error says what it expected.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(data("arrays.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("layer_with_weights-17/"))
        .collect();
    let path = dir.path().join("short.safetensors");
    safetensors::serialize_to_file(kept, None, &path).unwrap();
    let e = cref_from_tf_arrays(&path, &Device::flex()).unwrap_err();
    assert!(format!("{e:#}").contains("17 Conv3D kernels"), "{e:#}");
}

#[test]
fn tensorflow_checkpoint_import_when_tensorflow_is_installed() {
    let python = std::env::var("CRYOLENS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_tf = std::process::Command::new(&python)
        .args(["-c", "import tensorflow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tf {
        println!(
            "skipped: `{python} -c \"import tensorflow\"` fails (pip install tensorflow-cpu, or set CRYOLENS_TEST_PYTHON)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("arrays.safetensors");
    export_tf_checkpoint(&python, &data("checkpoint"), &out).unwrap();
    let (a, b) = (
        std::fs::read(&out).unwrap(),
        std::fs::read(data("arrays.safetensors")).unwrap(),
    );
    let (a, b) = (
        safetensors::SafeTensors::deserialize(&a).unwrap(),
        safetensors::SafeTensors::deserialize(&b).unwrap(),
    );
    let mut names = a.names();
    names.sort();
    let mut want = b.names();
    want.sort();
    assert_eq!(names, want);
    for n in names {
        assert_eq!(
            a.tensor(n).unwrap().data(),
            b.tensor(n).unwrap().data(),
            "{n}"
        );
    }
    let weights = dir.path().join("general.safetensors");
    let saved =
        import_cref_checkpoint(&python, &data("checkpoint"), weights.to_str().unwrap()).unwrap();
    let (model, meta) =
        cryolens::models::format::load_cref_model(saved.to_str().unwrap(), &Device::flex())
            .unwrap();
    assert_eq!(meta.net.arch, CrefArch::Published);
    assert_eq!(meta.parameters, 322_881);
    assert!(forward_error(&model) < 1e-4);
}
