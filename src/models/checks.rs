//! Checks on model files before a network runs: every architecture read from a file is
//! bounded, every tensor loaded from one is checked against the architecture (present, of the
//! right rank and sizes, nothing left over) and for finite values, and each failure is one line
//! naming the tensor. Every loader of weights (Topaz's `.sav` pickles, Cryolens' safetensors
//! with their JSON sidecars, restore's WDSR U-net, crefDenoiser, Topaz 3D) goes through
//! [`load_checked`], so a damaged or hostile file is refused at load instead of panicking
//! while indexing shapes or denoising to an all-NaN image.

use std::collections::HashMap;
use std::fmt::Display;

use burn::store::{ApplyError, ApplyResult, ModuleSnapshot, ModuleStore};
use burn::tensor::DType;

use super::TopazConfig;
use super::cref::CrefConfig;
use super::topaz3d::UNet3dConfig;
use super::wdsr::WdsrConfig;

/// Widest convolution kernel accepted from a file (Topaz's widest is the affine model's 31).
pub const MAX_KERNEL: usize = 63;

/// Most filters per layer accepted from a file (Topaz's models have 48 or 64): bounds the
/// memory a crafted shape can make us allocate.
pub const MAX_FILTERS: usize = 1024;

/// Checks one kernel width read from a file: odd (the convolutions pad by half of it, so the
/// output keeps the input's size) and between 1 and [`MAX_KERNEL`].
///
/// # Errors
/// A message naming `what` and the width.
pub fn check_kernel(what: &str, k: usize) -> Result<(), String> {
    if k % 2 == 1 && k <= MAX_KERNEL {
        Ok(())
    } else {
        Err(format!(
            "{what} is {k} wide (kernels must be odd and at most {MAX_KERNEL})"
        ))
    }
}

/// Checks a filter count read from a file: between 1 and [`MAX_FILTERS`].
///
/// # Errors
/// A message naming `what` and the count.
pub fn check_filters(what: &str, n: usize) -> Result<(), String> {
    if (1..=MAX_FILTERS).contains(&n) {
        Ok(())
    } else {
        Err(format!("{what} is {n} (expected 1 to {MAX_FILTERS})"))
    }
}

impl TopazConfig {
    /// Checks dimensions read from a file (a state dict's shapes or a JSON sidecar) before
    /// the network is built: odd kernel widths up to [`MAX_KERNEL`], 1 to [`MAX_FILTERS`]
    /// filters.
    ///
    /// # Errors
    /// A one-line message naming the offending dimension.
    pub fn check(self) -> Result<(), String> {
        match self {
            TopazConfig::Affine { size } => check_kernel("the affine filter", size),
            TopazConfig::Fcnn { nf, width } => {
                check_filters("the number of filters", nf)?;
                check_kernel("the kernel", width)
            }
            TopazConfig::UNetSmall {
                nf,
                width: base_width,
                top_width,
            }
            | TopazConfig::UNet {
                nf,
                base_width,
                top_width,
            } => {
                check_filters("the number of filters", nf)?;
                check_kernel("the first kernel", base_width)?;
                check_kernel("the output kernel", top_width)
            }
        }
    }

    /// Recognises the architecture from a PyTorch state dict's keys and weight shapes
    /// (`name → shape`, PyTorch names such as `enc1.0.weight`; convolution weights are
    /// `[out, in, height, width]`), and checks the dimensions ([`TopazConfig::check`]).
    ///
    /// # Errors
    /// A message naming what was expected when the keys match none of the four families, or
    /// naming the weight whose rank or kernel is wrong.
    pub fn infer(shapes: &HashMap<String, Vec<usize>>) -> Result<Self, String> {
        let conv = |k: &str| conv_shape(shapes, k);
        let config = if let Some([_, _, size, _]) = conv("filter.weight")? {
            TopazConfig::Affine { size }
        } else if let Some([nf, _, width, _]) = conv("net.0.weight")? {
            TopazConfig::Fcnn { nf, width }
        } else if let (Some([nf, _, first, _]), Some([_, _, top, _])) =
            (conv("enc1.0.weight")?, conv("dec1.0.weight")?)
        {
            if shapes.contains_key("enc6.0.weight") {
                TopazConfig::UNet {
                    nf,
                    base_width: first,
                    top_width: top,
                }
            } else if shapes.contains_key("enc4.0.weight") {
                TopazConfig::UNetSmall {
                    nf,
                    width: first,
                    top_width: top,
                }
            } else {
                return Err(not_topaz(shapes));
            }
        } else {
            return Err(not_topaz(shapes));
        };
        config.check()?;
        Ok(config)
    }
}

impl UNet3dConfig {
    /// Checks dimensions read from a JSON sidecar before the network is built (as
    /// [`TopazConfig::check`]).
    ///
    /// # Errors
    /// A one-line message naming the offending dimension.
    pub fn check(&self) -> Result<(), String> {
        check_filters("the number of filters", self.nf)?;
        for c in self.top_channels {
            check_filters("an output block's channels", c)?;
        }
        check_kernel("the first kernel", self.base_width)?;
        check_kernel("the output kernel", self.top_width)
    }
}

impl CrefConfig {
    /// Checks dimensions read from a JSON sidecar before the network is built.
    ///
    /// # Errors
    /// A one-line message naming the offending dimension.
    pub fn check(&self) -> Result<(), String> {
        check_filters("the number of filters", self.filters)?;
        check_kernel("the kernel", self.kernel)?;
        if !self.leak.is_finite() {
            return Err(format!("the leaky ReLU slope is {}", self.leak));
        }
        Ok(())
    }
}

impl WdsrConfig {
    /// Checks dimensions read from a JSON sidecar before the network is built: bounded
    /// filters, expansion, levels and blocks, a reduction in (0, 1], kernels of 1 to
    /// [`MAX_KERNEL`].
    ///
    /// # Errors
    /// A one-line message naming the offending dimension.
    pub fn check(&self) -> Result<(), String> {
        check_filters("the number of filters", self.filters)?;
        check_filters(
            "the widened filters (filters × expansion)",
            self.filters.saturating_mul(self.expansion),
        )?;
        let bounded = |what: &str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(format!("{what} is {v} (expected 1 to {max})"))
            }
        };
        bounded("levels", self.levels, 8)?;
        bounded("blocks per level", self.blocks_per_level, 64)?;
        bounded("the kernel", self.kernel_size, MAX_KERNEL)?;
        bounded("the decoder kernel", self.decoder_kernel_size, MAX_KERNEL)?;
        if !(self.reduction > 0.0 && self.reduction <= 1.0) {
            return Err(format!(
                "the reduction is {} (expected in (0, 1])",
                self.reduction
            ));
        }
        Ok(())
    }
}

fn not_topaz(shapes: &HashMap<String, Vec<usize>>) -> String {
    let mut keys: Vec<_> = shapes.keys().cloned().collect();
    keys.sort();
    keys.truncate(6);
    format!(
        "not a Topaz 2D denoiser state dict (expected keys filter.* for affine, net.* for fcnn, \
         enc1..enc4/enc6 + dec1 for unet-small/unet); found {keys:?}"
    )
}

/// The shape of 2D convolution weight `key` when present: `[out, in, k, k]`.
///
/// # Errors
/// A rank other than 4, or a non-square kernel.
fn conv_shape(
    shapes: &HashMap<String, Vec<usize>>,
    key: &str,
) -> Result<Option<[usize; 4]>, String> {
    let Some(s) = shapes.get(key) else {
        return Ok(None);
    };
    match *s.as_slice() {
        [o, i, kh, kw] if kh == kw => Ok(Some([o, i, kh, kw])),
        [_, _, kh, kw] => Err(format!(
            "weight {key} has a {kh}×{kw} kernel (Topaz's kernels are square)"
        )),
        _ => Err(format!(
            "weight {key} has shape {s:?}, {} dimensions where a 2D convolution has 4 \
             [out, in, height, width] (the file is damaged or not a Topaz 2D model)",
            s.len()
        )),
    }
}

/// Loads `store` into `model`, requiring an exact fit to `what` (the architecture, for
/// errors) and finite values. `rename` maps the module's tensor paths to the file's names
/// (Topaz's `nn.Sequential` indices), so errors name tensors as the file does.
///
/// # Errors
/// One line: the store's own failure (unreadable file), the first missing, mis-shaped or
/// unexpected tensor (with how many more), or the first weight holding NaN or infinite
/// values.
pub(crate) fn load_checked<M: ModuleSnapshot, S: ModuleStore>(
    model: &mut M,
    store: &mut S,
    what: &str,
    rename: fn(&str) -> String,
) -> Result<(), String> {
    let result = model
        .load_from(store)
        .map_err(|e| first_line(&e, "cannot read the weights"))?;
    check_fit(&result, what, rename)?;
    check_finite(model, rename)
}

/// The first line of an error (burn's store errors are multi-line reports).
fn first_line(e: &impl Display, what: &str) -> String {
    let text = e.to_string();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    format!("{what}: {}", line.trim_end_matches(':'))
}

/// " (and N more)" when `n > 1`.
fn more(n: usize) -> String {
    if n > 1 {
        format!(" (and {} more)", n - 1)
    } else {
        String::new()
    }
}

/// One line for the first problem of a load, if any (missing and unexpected tensors: the
/// first by name).
fn check_fit(result: &ApplyResult, what: &str, rename: fn(&str) -> String) -> Result<(), String> {
    if let Some(path) = result.missing.iter().map(|(p, _)| p).min() {
        return Err(format!(
            "tensor {} is missing{} (the file does not hold {what})",
            rename(path),
            more(result.missing.len())
        ));
    }
    if let Some(e) = result.errors.first() {
        let n = more(result.errors.len());
        return Err(match e {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => format!(
                "tensor {} has shape {:?} where {what} needs {:?}{n}",
                rename(path),
                found.as_slice(),
                expected.as_slice()
            ),
            other => format!("{other}{n}"),
        });
    }
    if let Some(path) = result.unused.iter().min() {
        return Err(format!(
            "unexpected tensor {path}{} (not part of {what})",
            more(result.unused.len())
        ));
    }
    Ok(())
}

/// Counts the non-finite values of every floating-point parameter of `model`.
///
/// # Errors
/// `weight TENSOR has N non-finite values (…)` for the first such tensor.
pub(crate) fn check_finite<M: ModuleSnapshot>(
    model: &M,
    rename: fn(&str) -> String,
) -> Result<(), String> {
    for t in model.collect(None, None, true) {
        let Ok(bytes) = t.to_bytes() else {
            continue;
        };
        let bad = match t.dtype {
            DType::F32 => bytes
                .chunks_exact(4)
                .filter(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
                .count(),
            DType::F64 => bytes
                .chunks_exact(8)
                .filter(|b| !f64::from_le_bytes(std::array::from_fn(|i| b[i])).is_finite())
                .count(),
            _ => 0,
        };
        if bad > 0 {
            return Err(format!(
                "weight {} has {bad} non-finite values (the model file is damaged; retrain or \
                 reinstall it)",
                rename(&t.name)
            ));
        }
    }
    Ok(())
}

/// The identity renaming (the file's names are the module's).
pub(crate) fn same_name(path: &str) -> String {
    path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes(list: &[(&str, &[usize])]) -> HashMap<String, Vec<usize>> {
        list.iter()
            .map(|(k, s)| (k.to_string(), s.to_vec()))
            .collect()
    }

    #[test]
    fn infer_refuses_wrong_ranks_and_absurd_sizes() {
        let e = TopazConfig::infer(&shapes(&[("filter.weight", &[961])])).unwrap_err();
        assert!(
            e.contains("weight filter.weight") && e.contains("1 dimensions"),
            "{e}"
        );
        let e = TopazConfig::infer(&shapes(&[
            ("enc1.0.weight", &[48, 1, 11, 11]),
            ("dec1.0.weight", &[64, 97]),
        ]))
        .unwrap_err();
        assert!(e.contains("dec1.0.weight"), "{e}");
        let e =
            TopazConfig::infer(&shapes(&[("net.0.weight", &[1 << 20, 1, 11, 11])])).unwrap_err();
        assert!(e.contains("filters"), "{e}");
        let e = TopazConfig::infer(&shapes(&[("filter.weight", &[1, 1, 30, 30])])).unwrap_err();
        assert!(e.contains("odd"), "{e}");
        assert_eq!(
            TopazConfig::infer(&shapes(&[("filter.weight", &[1, 1, 31, 31])])),
            Ok(TopazConfig::Affine { size: 31 })
        );
    }
}
