//! crefDenoiser's training data: half-maps masked and standardised independently (mean 0,
//! σ 1), cubic patches cut at random positions (rejecting positions wholly outside the mask)
//! and seen through one of the cube's 48 symmetries, each with C_ref per shell of its
//! half-map pair (Agarwal et al. 2024, sections 2.1, 2.4).

use anyhow::{Result, bail};
use burn::prelude::*;

use crate::image::Volume;
use crate::metrics::fsc::fsc;
use crate::rng::Rng;
use crate::train::data3d::CubeSymmetry;

pub(super) fn standardise(v: &Volume, mask: Option<&Volume>) -> Result<Volume> {
    let data: Vec<f32> = match mask {
        Some(m) => v.data.iter().zip(&m.data).map(|(a, b)| a * b).collect(),
        None => v.data.clone(),
    };
    let (mean, sd) = mean_sd(&data);
    if sd.is_nan() || sd <= 0.0 {
        bail!("a half-map is constant (after masking): nothing to denoise");
    }
    Ok(Volume {
        data: data
            .iter()
            .map(|x| ((*x as f64 - mean) / sd) as f32)
            .collect(),
        ..v.clone()
    })
}

pub(super) fn mean_sd(data: &[f32]) -> (f64, f64) {
    let n = data.len().max(1) as f64;
    let mean = data.iter().map(|x| *x as f64).sum::<f64>() / n;
    let var = data.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Patch starts along an axis of length `n`: 0, patch, …, with the last ending at `n`.
pub(super) fn grid_starts(n: usize, patch: usize) -> Vec<usize> {
    let mut s: Vec<usize> = (0..=(n - patch)).step_by(patch).collect();
    if *s.last().unwrap_or(&0) != n - patch {
        s.push(n - patch);
    }
    s
}

/// The `p`³ patch of `v` starting at `[z0, y0, x0]`, seen through cube symmetry `sym`
/// (0…47, [`CubeSymmetry`]; 0 is the identity).
pub(super) fn cut(v: &Volume, [z0, y0, x0]: [usize; 3], p: usize, sym: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(p * p * p);
    for z in z0..z0 + p {
        for y in y0..y0 + p {
            let row = (z * v.height + y) * v.width;
            out.extend_from_slice(&v.data[row + x0..row + x0 + p]);
        }
    }
    if sym.is_multiple_of(48) {
        out
    } else {
        CubeSymmetry((sym % 48) as u8).apply(&out, p)
    }
}

pub(super) fn cube(data: Vec<f32>, p: usize, like: &Volume) -> Volume {
    Volume {
        width: p,
        height: p,
        depth: p,
        data,
        pixel_size_angstrom: like.pixel_size_angstrom,
    }
}

/// One training patch: the average's voxels and C_ref per shell of its half-map pair.
pub(super) struct Patch {
    pub(super) input: Vec<f32>,
    pub(super) c_ref: Vec<f32>,
}

/// The standardised maps and what cutting patches from them needs.
pub(super) struct Prepared {
    pub(super) m1: Volume,
    pub(super) m2: Volume,
    pub(super) avg: Volume,
    pub(super) mask: Option<Volume>,
    pub(super) p: usize,
    pub(super) shell_width: f32,
    pub(super) num_shells: usize,
}

impl Prepared {
    pub(super) fn patch(&self, at: [usize; 3], sym: usize) -> Result<Patch> {
        let p = self.p;
        let curve = fsc(
            &cube(cut(&self.m1, at, p, 0), p, &self.m1),
            &cube(cut(&self.m2, at, p, 0), p, &self.m1),
            self.shell_width,
            None,
        )?;
        let mut c_ref = vec![0.0f32; self.num_shells];
        for r in &curve.rings {
            if r.index < self.num_shells {
                c_ref[r.index] = r.value.c_ref as f32;
            }
        }
        Ok(Patch {
            input: cut(&self.avg, at, p, sym),
            c_ref,
        })
    }

    pub(super) fn inside_mask(&self, at: [usize; 3]) -> bool {
        match &self.mask {
            Some(m) => cut(m, at, self.p, 0).iter().any(|v| *v != 0.0),
            None => true,
        }
    }

    /// A random position with some mask inside, or `None` after many tries.
    pub(super) fn random_position(&self, rng: &mut Rng) -> Option<[usize; 3]> {
        let v = &self.avg;
        let p = self.p;
        let mut pick = |n: usize| (rng.next_u64() % (n - p + 1) as u64) as usize;
        (0..200)
            .map(|_| [pick(v.depth), pick(v.height), pick(v.width)])
            .find(|at| self.inside_mask(*at))
    }
}

pub(super) fn tensor5(data: Vec<f32>, [b, p]: [usize; 2], device: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(data, [b, 1, p, p, p]), device)
}
