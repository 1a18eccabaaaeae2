//! crefDenoiser (Agarwal et al. 2024, `shared/seeds/003_*`): its 3D U-net (section 2.3) and
//! the C_ref loss L_C (section 2.1) as a differentiable burn function.
//!
//! Two networks ([`CrefArch`], recorded in every saved model's sidecar):
//! - [`published`] (default): the network the authors released, 322,881 parameters as the
//!   paper states; pooled skips plus the raw input, 32-filter expanding blocks.
//! - [`literal`]: section 2.3 read literally, 139,361 parameters; Cryolens' earlier default,
//!   kept so that models saved with it still load (a sidecar without `arch` is this one).
//!
//! [`CrefUNet::forward`] takes `[batch, 1, z, y, x]` of any size: it zero-pads each axis to a
//! multiple of 32 (five 2× poolings) and crops the output back.

pub mod literal;
pub mod published;

use burn::prelude::*;

pub use literal::CrefLiteralUNet;
pub use published::CrefPublishedUNet;

use crate::metrics::fsc::{FscError, ShellGrid};

/// Which crefDenoiser network (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrefArch {
    /// The authors' released network, 322,881 parameters ([`published`]).
    #[default]
    Published,
    /// Section 2.3 read literally, 139,361 parameters ([`literal`]).
    Literal,
}

impl CrefArch {
    /// Sidecars written before `arch` existed hold the literal network.
    fn legacy() -> Self {
        Self::Literal
    }
}

/// Dimensions of the crefDenoiser U-net.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrefConfig {
    /// The network (absent in sidecars written before it existed: [`CrefArch::Literal`]).
    #[serde(default = "CrefArch::legacy")]
    pub arch: CrefArch,
    /// Filters of the contracting convolutions (16 in the paper; the published network's
    /// expanding blocks have 2× as many).
    pub filters: usize,
    /// Kernel width of every convolution (3).
    pub kernel: usize,
    /// Leaky ReLU negative slope (0.1 in the released network).
    pub leak: f64,
}

impl Default for CrefConfig {
    fn default() -> Self {
        Self {
            arch: CrefArch::Published,
            filters: 16,
            kernel: 3,
            leak: 0.1,
        }
    }
}

/// A crefDenoiser U-net of either architecture (see the module docs).
// One network per model: the literal variant's inline size costs nothing, and burn's Module
// derive takes the variants as they are.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum CrefUNet {
    /// [`CrefPublishedUNet`].
    Published(CrefPublishedUNet),
    /// [`CrefLiteralUNet`].
    Literal(CrefLiteralUNet),
}

impl CrefUNet {
    /// Randomly initialised network of `config`.
    pub fn new(config: CrefConfig, device: &Device) -> Self {
        let (f, k, l) = (config.filters, config.kernel, config.leak);
        match config.arch {
            CrefArch::Published => Self::Published(CrefPublishedUNet::new(f, k, l, device)),
            CrefArch::Literal => Self::Literal(CrefLiteralUNet::new(f, k, l, device)),
        }
    }

    /// Number of trainable scalars (322,881 published, 139,361 literal, with 16 filters).
    pub fn num_parameters(&self) -> usize {
        self.num_params()
    }

    /// `[batch, 1, z, y, x]` → same shape, any size: each axis is zero-padded at its end to a
    /// multiple of 32 and the output cropped back.
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [b, c, d, h, w] = x.dims();
        let up = |n: usize| n.div_ceil(32).max(1) * 32;
        let (pd, ph, pw) = (up(d), up(h), up(w));
        let padded = (pd, ph, pw) != (d, h, w);
        let x = if padded {
            Tensor::zeros([b, c, pd, ph, pw], &x.device())
                .slice_assign([0..b, 0..c, 0..d, 0..h, 0..w], x)
        } else {
            x
        };
        let y = match self {
            Self::Published(n) => n.forward(x),
            Self::Literal(n) => n.forward(x),
        };
        if padded {
            y.slice([0..b, 0..1, 0..d, 0..h, 0..w])
        } else {
            y
        }
    }
}

/// ×2 nearest up-sampling along z, y and x (each voxel repeated 2×2×2).
pub(crate) fn up2(x: Tensor<5>) -> Tensor<5> {
    let [b, c, d, h, w] = x.dims();
    x.reshape([b, c, d, 1, h, 1, w, 1])
        .repeat_dim(3, 2)
        .repeat_dim(5, 2)
        .repeat_dim(7, 2)
        .reshape([b, c, 2 * d, 2 * h, 2 * w])
}

/// Precomputed DFT matrices and shell masks for [`FscLoss::loss`] on volumes of one shape.
/// burn has no FFT: the 3D DFT is three matrix products with cos/sin matrices (one per axis),
/// which autodiff differentiates like any other product.
#[derive(Clone, Debug)]
pub struct FscLoss {
    shape: [usize; 3],
    /// Per axis z, y, x: cos and sin matrices `[n, n]`, entry (j, k) = cos/sin(2π·j·k/n).
    cos: [Tensor<2>; 3],
    sin: [Tensor<2>; 3],
    /// `[voxels, shells]` one-hot shell membership, rows in the order of the transformed
    /// layout `[ky][kx][kz]`.
    shells: Tensor<2>,
    /// Number of shells (columns of `shells`).
    num_shells: usize,
}

impl FscLoss {
    /// Plans the loss for volumes of `shape` `[z, y, x]` with shells of `shell_width` Fourier
    /// voxels (shells as [`crate::metrics::fsc::fsc`]: DC and corners beyond Nyquist out).
    ///
    /// # Errors
    /// A shell width that is not > 0.
    pub fn new(shape: [usize; 3], shell_width: f32, device: &Device) -> Result<Self, FscError> {
        let grid = ShellGrid::new(shape, shell_width, None)?;
        let num_shells = grid.max_shell() + 1;
        let [d, h, w] = shape;
        let mut onehot = vec![0.0f32; d * h * w * num_shells];
        for kz in 0..d {
            for ky in 0..h {
                for kx in 0..w {
                    let s = grid.shell_of()[(kz * h + ky) * w + kx];
                    if s != u32::MAX {
                        let row = (ky * w + kx) * d + kz;
                        onehot[row * num_shells + s as usize] = 1.0;
                    }
                }
            }
        }
        let mat = |n: usize, f: fn(f64) -> f64| -> Tensor<2> {
            let v: Vec<f32> = (0..n * n)
                .map(|i| {
                    let (j, k) = (i / n, i % n);
                    f(2.0 * std::f64::consts::PI * ((j * k) % n) as f64 / n as f64) as f32
                })
                .collect();
            Tensor::from_data(TensorData::new(v, [n, n]), device)
        };
        Ok(Self {
            shape,
            cos: [mat(d, f64::cos), mat(h, f64::cos), mat(w, f64::cos)],
            sin: [mat(d, f64::sin), mat(h, f64::sin), mat(w, f64::sin)],
            shells: Tensor::from_data(TensorData::new(onehot, [d * h * w, num_shells]), device),
            num_shells,
        })
    }

    /// The 3D DFT of `x` `[b, 1, z, y, x]`: real and imaginary parts `[b, y·x·z]` in the
    /// layout `[ky][kx][kz]`.
    fn dft(&self, x: Tensor<5>) -> (Tensor<2>, Tensor<2>) {
        let [d, h, w] = self.shape;
        let b = x.dims()[0];
        // x axis (real input): X = x·C − i x·S.
        let x2 = x.reshape([b * d * h, w]);
        let re = x2.clone().matmul(self.cos[2].clone());
        let im = x2.matmul(self.sin[2].clone()).neg();
        // One complex DFT along the last axis after moving `axis` there.
        let step = |re: Tensor<2>, im: Tensor<2>, c: &Tensor<2>, s: &Tensor<2>| {
            // (a + ib)(C − iS) = (aC + bS) + i(bC − aS).
            let r = re.clone().matmul(c.clone()) + im.clone().matmul(s.clone());
            let i = im.matmul(c.clone()) - re.matmul(s.clone());
            (r, i)
        };
        // y axis: [b, z, y, kx] → [b, z, kx, y].
        let swap_y = |t: Tensor<2>| {
            t.reshape([b, d, h, w])
                .swap_dims(2, 3)
                .reshape([b * d * w, h])
        };
        let (re, im) = step(swap_y(re), swap_y(im), &self.cos[1], &self.sin[1]);
        // z axis: [b, z, kx, ky] → [b, ky, kx, z].
        let swap_z = |t: Tensor<2>| {
            t.reshape([b, d, w, h])
                .swap_dims(1, 3)
                .reshape([b * h * w, d])
        };
        let (re, im) = step(swap_z(re), swap_z(im), &self.cos[0], &self.sin[0]);
        (re.reshape([b, h * w * d]), im.reshape([b, h * w * d]))
    }

    /// FSC per shell between `a` and `b` (`[batch, 1, z, y, x]`): `[batch, shells]` (shell 0,
    /// the DC-only shell, is 0).
    pub fn fsc(&self, a: Tensor<5>, b: Tensor<5>) -> Tensor<2> {
        let (ar, ai) = self.dft(a);
        let (br, bi) = self.dft(b);
        let num = (ar.clone() * br.clone() + ai.clone() * bi.clone()).matmul(self.shells.clone());
        let pa = (ar.powi_scalar(2) + ai.powi_scalar(2)).matmul(self.shells.clone());
        let pb = (br.powi_scalar(2) + bi.powi_scalar(2)).matmul(self.shells.clone());
        num / (pa * pb + 1e-12).sqrt()
    }

    /// L_C = mean over shells (1…Nyquist) and the batch of |C_ref(s) − FSC_FD(s)|, FSC_FD
    /// between `input` (the half-map average) and `output` (the network's output), crefDenoiser
    /// section 2.1. `c_ref`: `[shells]` target per shell (index 0 ignored), from the half-maps'
    /// FSC through [`crate::metrics::fsc::c_ref`]. Differentiable in `output`.
    pub fn loss(&self, input: Tensor<5>, output: Tensor<5>, c_ref: Tensor<1>) -> Tensor<1> {
        let s = self.num_shells;
        let b = input.dims()[0];
        self.loss_each(input, output, c_ref.reshape([1, s]).expand([b, s]))
    }

    /// [`Self::loss`] with one C_ref target per batch item: `c_ref` `[batch, shells]` (each
    /// patch's own half-map FSC gives its own target).
    pub fn loss_each(&self, input: Tensor<5>, output: Tensor<5>, c_ref: Tensor<2>) -> Tensor<1> {
        let f = self.fsc(input, output);
        let [b, s] = f.dims();
        (c_ref - f).slice([0..b, 1..s]).abs().mean()
    }

    /// Number of shells including the DC shell 0 (length of the `c_ref` target).
    pub fn num_shells(&self) -> usize {
        self.num_shells
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Volume;
    use crate::metrics::fsc::fsc;
    use crate::rng::Rng;

    #[test]
    fn parameter_count_of_the_literal_reading() {
        let cfg = CrefConfig {
            arch: CrefArch::Literal,
            ..CrefConfig::default()
        };
        let m = CrefUNet::new(cfg, &Device::flex());
        // 448 + 4·6,928 (contracting) + 6,928 (bottleneck) + 5·(13,840 + 6,928) + 433.
        assert_eq!(m.num_parameters(), 139_361);
        let y = m.forward(Tensor::zeros([1, 1, 32, 32, 64], &Device::flex()));
        assert_eq!(y.dims(), [1, 1, 32, 32, 64]);
    }

    #[test]
    fn parameter_count_of_the_published_network_and_odd_sizes() {
        let device = Device::flex();
        let m = CrefUNet::new(CrefConfig::default(), &device);
        // 42,016 (contracting) + 262,912 (expanding) + 17,736 (full scale) + 217 (output).
        assert_eq!(m.num_parameters(), 322_881);
        let x = Tensor::<5>::random(
            [1, 1, 33, 20, 9],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let y = m.forward(x.clone());
        assert_eq!(y.dims(), [1, 1, 33, 20, 9]);
        // Odd sizes are the zero-padded 64 × 32 × 32 forward, cropped.
        let padded = Tensor::zeros([1, 1, 64, 32, 32], &device)
            .slice_assign([0..1, 0..1, 0..33, 0..20, 0..9], x);
        let full = m.forward(padded).slice([0..1, 0..1, 0..33, 0..20, 0..9]);
        let diff: f32 = (y - full).abs().max().into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn dft_fsc_matches_the_fft_fsc_and_the_loss_has_gradients() {
        let shape = [8, 10, 12];
        let n = 8 * 10 * 12;
        let mut rng = Rng::new(9);
        let a: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        let b: Vec<f32> = a.iter().map(|v| v + 0.8 * rng.normal() as f32).collect();
        let vol = |d: &Vec<f32>| Volume {
            width: 12,
            height: 10,
            depth: 8,
            data: d.clone(),
            pixel_size_angstrom: None,
        };
        let expected = fsc(&vol(&a), &vol(&b), 1.0, None).unwrap();
        let device = Device::flex().autodiff();
        let plan = FscLoss::new(shape, 1.0, &device).unwrap();
        let t = |d: &Vec<f32>| {
            Tensor::<5>::from_data(TensorData::new(d.clone(), [1, 1, 8, 10, 12]), &device)
        };
        let out = t(&b).require_grad();
        let got = plan
            .fsc(t(&a), out.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for r in &expected.rings {
            assert!(
                (got[r.index] as f64 - r.value.fsc).abs() < 1e-4,
                "shell {}: {} vs {}",
                r.index,
                got[r.index],
                r.value.fsc
            );
        }
        let target = Tensor::<1>::from_data(
            TensorData::new(vec![1.0f32; plan.num_shells()], [plan.num_shells()]),
            &device,
        );
        let loss = plan.loss(t(&a), out.clone(), target);
        let grads = loss.backward();
        let g = out.grad(&grads).expect("gradient of L_C wrt the output");
        let norm: f32 = g
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|v| v * v)
            .sum();
        assert!(norm > 0.0 && norm.is_finite());
    }
}
