//! Seeded initialisation of the networks under training, 2D and 3D alike, so a run is
//! reproducible from its seed alone: PyTorch's default for convolutions (weights and biases
//! uniform in ±1/√fan_in, [`SeededInit`]) and, for restore's weight-normalised convolutions,
//! directions drawn the same way with gains g = ‖v‖ ([`SeededWeightNormInit`], Salimans &
//! Kingma 2016). Each trainer draws from its own [`Rng::stream`] of the run's seed.

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;

use crate::rng::Rng;

/// `n` values uniform in ±1/√fan_in (fan_in at least 1), drawn in order from `rng`.
fn uniform_fan_in(rng: &mut Rng, n: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    (0..n)
        .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
        .collect()
}

/// Re-draws every parameter from our seeded generator with PyTorch's default convolution
/// initialisation: uniform in ±1/√fan_in, fan_in = input channels × kernel area (2D) or
/// volume (3D), i.e. the product of a weight's dimensions after the first; a bias uses the
/// fan_in of the weight before it.
pub(super) struct SeededInit<'a> {
    rng: &'a mut Rng,
    fan_in: usize,
}

impl<'a> SeededInit<'a> {
    /// An initialiser drawing from `rng`.
    pub(super) fn new(rng: &'a mut Rng) -> Self {
        Self { rng, fan_in: 1 }
    }
}

impl ModuleMapper for SeededInit<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let dims = t.dims();
            if D >= 3 {
                self.fan_in = dims[1..].iter().product();
            }
            let n: usize = dims.iter().product();
            let values = uniform_fan_in(self.rng, n, self.fan_in);
            Tensor::from_data(TensorData::new(values, dims), &t.device())
        })
    }
}

/// Seeded initialisation of weight-normalised 2D convolutions (parameters visited as v, g,
/// bias): v Kaiming-uniform in ±1/√fan_in (burn's and PyTorch's default), g = ‖v‖ per output
/// channel (so w = v at the start, Salimans & Kingma 2016), bias 0.
pub(super) struct SeededWeightNormInit<'a> {
    rng: &'a mut Rng,
    /// ‖v‖ per output channel of the last direction drawn, consumed by the next 1-D
    /// parameter (its gain); the 1-D parameter after that is the bias.
    norms: Option<Vec<f32>>,
}

impl<'a> SeededWeightNormInit<'a> {
    /// An initialiser drawing from `rng`.
    pub(super) fn new(rng: &'a mut Rng) -> Self {
        Self { rng, norms: None }
    }
}

impl ModuleMapper for SeededWeightNormInit<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        param.map(|t| {
            let dims = t.dims();
            let n: usize = dims.iter().product();
            let values: Vec<f32> = if D == 4 {
                let v = uniform_fan_in(self.rng, n, dims[1] * dims[2] * dims[3]);
                let per = n / dims[0].max(1);
                self.norms = Some(
                    v.chunks(per.max(1))
                        .map(|c| c.iter().map(|x| x * x).sum::<f32>().sqrt())
                        .collect(),
                );
                v
            } else {
                match self.norms.take() {
                    Some(g) if g.len() == n => g,
                    _ => vec![0.0; n],
                }
            };
            Tensor::from_data(TensorData::new(values, dims), &t.device())
        })
    }
}
