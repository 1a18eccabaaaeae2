//! `cryolens models import cref CHECKPOINT`: the crefDenoiser general model (Agarwal et al.
//! 2024, trained on 3,710 EMDB maps) from the authors' TensorFlow checkpoint, which carries no
//! licence and so is not shipped, into Cryolens' model format.
//!
//! Two steps, so that the second is testable without TensorFlow:
//! (a) [`export_tf_checkpoint`]: Python's TensorFlow (`pip install tensorflow-cpu`) reads the
//!     checkpoint with `tf.train.load_checkpoint` and writes its float variables, TensorFlow
//!     names and layout kept, to a safetensors file (the embedded `cref_tf_export.py`);
//! (b) [`cref_from_tf_arrays`]: those arrays become a [`CrefPublishedUNet`]: the 18 Conv3D
//!     kernels and biases are taken in Keras' layer order (the number in
//!     `layer_with_weights-N`, or in `conv3d_N`), shape-checked against the network's layers
//!     and transposed from TensorFlow's `[kd, kh, kw, c_in, c_out]` to burn's
//!     `[c_out, c_in, kd, kh, kw]`. TensorFlow's channel-last volumes `[z, y, x, c]` are our
//!     `[c, z, y, x]`; its 'same' padding for 3³ kernels is one voxel per side, as ours.
//!
//! [`import_cref_checkpoint`] runs both and saves the model atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use burn::module::Param;
use burn::nn::conv::Conv3d;
use burn::prelude::*;

use super::cref::save_cref_model;
use crate::models::cref::{CrefConfig, CrefPublishedUNet, CrefUNet};

/// The name `cryolens models import cref` gives the imported model unless told otherwise, and
/// the model `cryolens cref apply` uses by default.
pub const CREF_GENERAL_MODEL: &str = "cref-general";

/// The step (a) script, run by [`export_tf_checkpoint`].
pub const CREF_TF_EXPORT_SCRIPT: &str = include_str!("cref_tf_export.py");

/// Step (a): runs `python` (e.g. `python3`) with TensorFlow on the checkpoint `checkpoint` (a
/// folder holding a `checkpoint` file, or a checkpoint prefix) and writes its float variables
/// under their TensorFlow names to `out` (safetensors).
///
/// # Errors
/// No such checkpoint, no Python, no TensorFlow in that Python (the message says how to
/// install it), a checkpoint TensorFlow cannot read.
pub fn export_tf_checkpoint(python: &str, checkpoint: &Path, out: &Path) -> Result<()> {
    if !checkpoint.exists() && !checkpoint.with_extension("index").exists() {
        bail!(
            "{}: no such TensorFlow checkpoint (give the folder with its `checkpoint` file)",
            checkpoint.display()
        );
    }
    let scratch = tempfile::tempdir().context("creating a temporary folder")?;
    let script = scratch.path().join("cref_tf_export.py");
    std::fs::write(&script, CREF_TF_EXPORT_SCRIPT)
        .with_context(|| format!("writing {}", script.display()))?;
    let probe = Command::new(python)
        .args(["-c", "import tensorflow"])
        .output()
        .map_err(|e| {
            anyhow!("{python}: cannot run Python ({e}); install Python 3 or pass --python")
        })?;
    if !probe.status.success() {
        bail!(
            "{python}: TensorFlow is not installed in this Python (run `{python} -m pip install tensorflow-cpu`, or pass --python of an environment that has it)"
        );
    }
    let run = Command::new(python)
        .arg(&script)
        .arg(checkpoint)
        .arg(out)
        .output()
        .map_err(|e| anyhow!("{python}: cannot run Python ({e})"))?;
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!(
            "{}: TensorFlow could not read this checkpoint: {last}",
            checkpoint.display()
        );
    }
    Ok(())
}

/// Keras' layer number of a variable path's layer segment: `layer_with_weights-12` → 12,
/// `conv3d_5` → 5, `conv3d` → 0.
fn layer_number(segment: &str) -> Option<usize> {
    let digits: String = segment
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if digits.is_empty() {
        segment
            .chars()
            .any(|c| c.is_ascii_alphabetic())
            .then_some(0)
    } else {
        digits.parse().ok()
    }
}

/// Step (b): the arrays of step (a) at `arrays` (safetensors, TensorFlow names and layout) as
/// the published crefDenoiser network on `device` (leaky ReLU slope 0.1).
///
/// # Errors
/// An unreadable file, not exactly 18 Conv3D kernels with biases, a kernel or bias whose shape
/// is not the network's layer's (the message names the variable and both shapes).
pub fn cref_from_tf_arrays(arrays: &Path, device: &Device) -> Result<CrefUNet> {
    let bytes = std::fs::read(arrays).with_context(|| format!("reading {}", arrays.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow!("{}: not a safetensors file ({e})", arrays.display()))?;
    // Layer number → (kernel name, bias name).
    let mut layers: BTreeMap<usize, (String, Option<String>)> = BTreeMap::new();
    let names: Vec<String> = st.names().into_iter().map(str::to_owned).collect();
    for name in &names {
        let clean = name.trim_end_matches(":0");
        let Some(prefix) = clean.strip_suffix("/kernel") else {
            continue;
        };
        if st.tensor(name).map(|t| t.shape().len()).unwrap_or(0) != 5 {
            continue;
        }
        let segment = prefix.rsplit('/').next().unwrap_or(prefix);
        let n = layer_number(segment)
            .ok_or_else(|| anyhow!("{}: cannot order the layer {name:?}", arrays.display()))?;
        let bias = names
            .iter()
            .find(|b| b.trim_end_matches(":0") == format!("{prefix}/bias"))
            .cloned();
        if layers.insert(n, (name.clone(), bias)).is_some() {
            bail!(
                "{}: two Conv3D layers numbered {n} (one checkpoint of one model is expected)",
                arrays.display()
            );
        }
    }
    let config = CrefConfig::default();
    let mut net = CrefPublishedUNet::new(config.filters, config.kernel, config.leak, device);
    let want = net.convs().count();
    if layers.len() != want {
        bail!(
            "{}: {} Conv3D kernels, the published crefDenoiser has {want} (is this a crefDenoiser checkpoint?)",
            arrays.display(),
            layers.len()
        );
    }
    let read = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
        let t = st
            .tensor(name)
            .map_err(|e| anyhow!("{}: {name}: {e}", arrays.display()))?;
        if t.dtype() != safetensors::Dtype::F32 {
            bail!(
                "{}: {name} is {:?}, not float32",
                arrays.display(),
                t.dtype()
            );
        }
        let v = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Ok((t.shape().to_vec(), v))
    };
    for (conv, (kname, bname)) in net.convs_mut().zip(layers.values()) {
        set_conv(conv, &read(kname)?, kname, device)
            .with_context(|| format!("{}: {kname}", arrays.display()))?;
        let bname = bname
            .as_deref()
            .ok_or_else(|| anyhow!("{}: {kname} has no bias", arrays.display()))?;
        let (shape, b) = read(bname)?;
        let cout = conv.weight.dims()[0];
        if shape != [cout] {
            bail!(
                "{}: {bname} has shape {shape:?}, the layer needs [{cout}]",
                arrays.display()
            );
        }
        conv.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b, [cout]),
            device,
        )));
    }
    Ok(CrefUNet::Published(net))
}

/// Sets `conv`'s weight from a TensorFlow kernel `[kd, kh, kw, c_in, c_out]`.
fn set_conv(
    conv: &mut Conv3d,
    (shape, v): &(Vec<usize>, Vec<f32>),
    name: &str,
    device: &Device,
) -> Result<()> {
    let [cout, cin, kd, kh, kw] = conv.weight.dims();
    if shape.as_slice() != [kd, kh, kw, cin, cout] {
        bail!(
            "{name} has shape {shape:?}, the layer needs {:?} (TensorFlow's [kd, kh, kw, c_in, c_out])",
            [kd, kh, kw, cin, cout]
        );
    }
    let t = Tensor::<5>::from_data(TensorData::new(v.clone(), [kd, kh, kw, cin, cout]), device)
        .permute([4, 3, 0, 1, 2]);
    conv.weight = Param::from_tensor(t);
    Ok(())
}

/// Imports the TensorFlow checkpoint `checkpoint` (both steps, Python `python`) and saves it as
/// the crefDenoiser model `name` ([`super::cref_model_path`]); returns the weights' path.
/// Training fields of the sidecar are zero: the model was not trained here.
///
/// # Errors
/// As [`export_tf_checkpoint`] and [`cref_from_tf_arrays`]; an unwritable model folder.
pub fn import_cref_checkpoint(python: &str, checkpoint: &Path, name: &str) -> Result<PathBuf> {
    if name.trim().is_empty() {
        bail!("the model needs a name");
    }
    let scratch = tempfile::tempdir().context("creating a temporary folder")?;
    let arrays = scratch.path().join("arrays.safetensors");
    export_tf_checkpoint(python, checkpoint, &arrays)?;
    let device = Device::flex();
    let model = cref_from_tf_arrays(&arrays, &device)?;
    let meta = super::cref::imported_cref_meta(&model, checkpoint);
    let path = super::cref_model_path(name);
    save_cref_model(&model, &meta, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::layer_number;

    #[test]
    fn keras_layer_numbers() {
        assert_eq!(layer_number("layer_with_weights-12"), Some(12));
        assert_eq!(layer_number("conv3d_5"), Some(5));
        assert_eq!(layer_number("conv3d"), Some(0));
        assert_eq!(layer_number(""), None);
    }
}
