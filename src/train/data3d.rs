//! Training data for 3D noise2noise: a pair of even/odd tomograms (Bepler et al. 2020,
//! Topaz-Denoise, Methods "3D denoising").
//!
//! Both halves are normalised once over the whole volume (`(v − mean)/σ`, each half by its
//! own statistics, as Topaz). A slab at the far end of the longest axis (`holdout_fraction`
//! of it, at least one crop thick) is held out: training crops lie wholly in the rest,
//! validation crops are a fixed grid inside the slab. Each training crop pair gets one of the
//! 48 symmetries of the cube ([`CubeSymmetry`]: axis permutations × mirrors), the same for
//! both halves. Batches are a function of (seed, step) only.

use anyhow::{Result, bail};

use super::config::{MIN_CROP_VOXELS, Train3dConfig};
use crate::image::{Volume, stats_of};
use crate::models::topaz3d::VoxelBox;
use crate::rng::Rng;

/// Checks that two halves can be trained on together: same shape (z, y, x), same voxel size
/// when both are known (within 1 %, [`crate::sampling::check_same_pixel_size`]), finite
/// values, not constant.
///
/// # Errors
/// A mismatch, naming both halves (`names`) and their shapes or voxel sizes.
pub fn check_pair(even: &Volume, odd: &Volume, names: &[String; 2]) -> Result<()> {
    let shape = |v: &Volume| [v.depth, v.height, v.width];
    for (v, n) in [(even, &names[0]), (odd, &names[1])] {
        if v.data.len() != shape(v).iter().product::<usize>() {
            bail!(
                "{n}: {} values for a {:?} (z, y, x) volume",
                v.data.len(),
                shape(v)
            );
        }
        if let Some(i) = v.data.iter().position(|x| !x.is_finite()) {
            bail!("{n}: non-finite value at index {i}");
        }
    }
    if shape(even) != shape(odd) {
        bail!(
            "the halves differ in shape: {} is {:?} and {} is {:?} voxels (z, y, x)",
            names[0],
            shape(even),
            names[1],
            shape(odd)
        );
    }
    crate::sampling::check_same_pixel_size(
        &names[0],
        even.pixel_size_angstrom,
        &names[1],
        odd.pixel_size_angstrom,
    )?;
    Ok(())
}

/// The 48 symmetries of a cube: `index / 8` picks an axis permutation, bits of `index % 8`
/// mirror output axes z, y, x. Index 0 is the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CubeSymmetry(pub u8);

const PERMUTATIONS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

impl CubeSymmetry {
    /// All 48.
    pub fn all() -> impl Iterator<Item = CubeSymmetry> {
        (0..48).map(CubeSymmetry)
    }

    /// Applies the symmetry to a cube of edge `c` (`[z][y][x]`, `c³` values): output axis a
    /// reads input axis `perm[a]`, reversed when mirrored.
    pub fn apply(self, cube: &[f32], c: usize) -> Vec<f32> {
        let perm = PERMUTATIONS[(self.0 as usize / 8) % 6];
        let flip = [self.0 & 1 != 0, self.0 & 2 != 0, self.0 & 4 != 0];
        let stride = [c * c, c, 1];
        // Input offset of output coordinate o along output axis a.
        let offsets: [Vec<usize>; 3] = std::array::from_fn(|a| {
            (0..c)
                .map(|o| {
                    let i = if flip[a] { c - 1 - o } else { o };
                    i * stride[perm[a]]
                })
                .collect()
        });
        let mut out = Vec::with_capacity(c * c * c);
        for &o0 in &offsets[0] {
            for &o1 in &offsets[1] {
                out.extend(offsets[2].iter().map(|&o2| cube[o0 + o1 + o2]));
            }
        }
        out
    }
}

/// One batch of crop pairs: `n` cubes of edge `crop` from each half, `[n][z][y][x]`.
#[derive(Clone, Debug)]
pub struct Batch3d {
    /// Crop pairs.
    pub n: usize,
    /// Crop edge in voxels.
    pub crop: usize,
    /// Crops of the even half (normalised).
    pub a: Vec<f32>,
    /// The same crops of the odd half.
    pub b: Vec<f32>,
}

/// A normalised even/odd pair with its training region, held-out slab and validation crops.
#[derive(Clone, Debug)]
pub struct VolumePairData {
    shape: [usize; 3],
    even: Vec<f32>,
    odd: Vec<f32>,
    pub(super) voxel_size_angstrom: Option<f32>,
    train_box: VoxelBox,
    holdout_box: Option<VoxelBox>,
    holdout_axis: usize,
    val_origins: Vec<[usize; 3]>,
    pub(super) crop: usize,
    batch: usize,
    augment: bool,
    seed: u64,
}

fn normalised(v: &Volume, name: &str) -> Result<Vec<f32>> {
    let s = stats_of(&v.data);
    if !(s.std > 0.0 && s.std.is_finite()) {
        bail!("{name} is constant (σ = 0): nothing to train on");
    }
    Ok(v.data
        .iter()
        .map(|&x| ((x as f64 - s.mean) / s.std) as f32)
        .collect())
}

/// `count` origins spread evenly over `0..=len − crop` (non-overlapping when they fit).
fn grid_starts(range: &std::ops::Range<usize>, crop: usize) -> Vec<usize> {
    let len = range.len();
    let n = (len / crop).max(1);
    let spare = len - crop;
    (0..n)
        .map(|i| {
            range.start
                + if n > 1 {
                    i * spare / (n - 1)
                } else {
                    spare / 2
                }
        })
        .collect()
}

impl VolumePairData {
    /// Normalises both halves and lays out the training region and held-out slab.
    ///
    /// # Errors
    /// See [`check_pair`]; a crop below 32 voxels or a batch of 0; a volume too small for a
    /// crop (per axis), or for a crop in both the training region and the held-out slab along
    /// the longest axis.
    pub fn new(
        even: &Volume,
        odd: &Volume,
        names: &[String; 2],
        cfg: &Train3dConfig,
    ) -> Result<Self> {
        check_pair(even, odd, names)?;
        let c = cfg.crop_voxels;
        if c < MIN_CROP_VOXELS {
            bail!("the crop must be at least {MIN_CROP_VOXELS} voxels (five 2× poolings), got {c}");
        }
        if cfg.batch == 0 {
            bail!("the batch must hold at least one crop pair");
        }
        if !(0.0..1.0).contains(&cfg.holdout_fraction) {
            bail!(
                "the holdout fraction must be in [0, 1), got {}",
                cfg.holdout_fraction
            );
        }
        let shape = [even.depth, even.height, even.width];
        if shape.iter().any(|&n| n < c) {
            bail!(
                "{} is {shape:?} voxels (z, y, x): every axis must hold a {c}-voxel crop",
                names[0]
            );
        }
        // Longest axis (ties: the later one, x before y before z).
        let axis = (0..3).rev().max_by_key(|&a| shape[a]).unwrap_or(2);
        let full: VoxelBox = [0..shape[0], 0..shape[1], 0..shape[2]];
        let (train_box, holdout_box) = if cfg.holdout_fraction > 0.0 {
            let len = shape[axis];
            let slab = ((cfg.holdout_fraction * len as f64).ceil() as usize).max(c);
            if len < slab + c {
                bail!(
                    "{} has {len} voxels along its longest axis: too few for a {c}-voxel crop in \
                     both the training part and a {slab}-voxel held-out slab (use a smaller \
                     --crop or --holdout 0)",
                    names[0]
                );
            }
            let mut t = full.clone();
            let mut h = full.clone();
            t[axis] = 0..len - slab;
            h[axis] = len - slab..len;
            (t, Some(h))
        } else {
            (full.clone(), None)
        };
        let val_box = holdout_box.clone().unwrap_or_else(|| full.clone());
        let starts: [Vec<usize>; 3] = std::array::from_fn(|a| grid_starts(&val_box[a], c));
        let mut all = Vec::new();
        for &z in &starts[0] {
            for &y in &starts[1] {
                for &x in &starts[2] {
                    all.push([z, y, x]);
                }
            }
        }
        let want = cfg.validation_crops.max(1).min(all.len());
        let val_origins = (0..want).map(|i| all[i * all.len() / want]).collect();
        Ok(Self {
            shape,
            even: normalised(even, &names[0])?,
            odd: normalised(odd, &names[1])?,
            voxel_size_angstrom: even.pixel_size_angstrom.or(odd.pixel_size_angstrom),
            train_box,
            holdout_box,
            holdout_axis: axis,
            val_origins,
            crop: c,
            batch: cfg.batch,
            augment: cfg.augment,
            seed: cfg.seed,
        })
    }

    /// Volume shape `[z, y, x]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Voxel size in Å, if either half knows it.
    pub fn voxel_size_angstrom(&self) -> Option<f32> {
        self.voxel_size_angstrom
    }

    /// The voxels training crops come from (`[z, y, x]` ranges).
    pub fn train_box(&self) -> &VoxelBox {
        &self.train_box
    }

    /// The held-out slab (`[z, y, x]` ranges), `None` without holdout.
    pub fn holdout_box(&self) -> Option<&VoxelBox> {
        self.holdout_box.as_ref()
    }

    /// "last 32 of 202 voxels along z" or "none (validation on training crops)".
    pub fn describe_holdout(&self) -> String {
        match &self.holdout_box {
            Some(h) => format!(
                "slab of the last {} of {} voxels along {}",
                h[self.holdout_axis].len(),
                self.shape[self.holdout_axis],
                ["z", "y", "x"][self.holdout_axis]
            ),
            None => "none (validation on crops of the training volume)".into(),
        }
    }

    /// Origins `[z, y, x]` of the fixed validation crops.
    pub fn validation_origins(&self) -> &[[usize; 3]] {
        &self.val_origins
    }

    fn cut(&self, data: &[f32], o: [usize; 3]) -> Vec<f32> {
        let c = self.crop;
        let [_, h, w] = self.shape;
        let mut out = Vec::with_capacity(c * c * c);
        for z in o[0]..o[0] + c {
            for y in o[1]..o[1] + c {
                let row = (z * h + y) * w + o[2];
                out.extend_from_slice(&data[row..row + c]);
            }
        }
        out
    }

    /// The crop pair at origin `o` (`[z, y, x]`), symmetry applied to both.
    pub fn crop_pair(&self, o: [usize; 3], sym: CubeSymmetry) -> (Vec<f32>, Vec<f32>) {
        let (a, b) = (self.cut(&self.even, o), self.cut(&self.odd, o));
        if sym.0 == 0 {
            (a, b)
        } else {
            (sym.apply(&a, self.crop), sym.apply(&b, self.crop))
        }
    }

    /// The training batch of `step`: `batch` crops at uniformly random origins in the training
    /// region, each with a random cube symmetry when augmenting; a function of (seed, step).
    pub fn train_batch(&self, step: u64) -> Batch3d {
        let mut rng = Rng::stream(self.seed, 0x3D_0000_0000 + step);
        let c = self.crop;
        let mut batch = Batch3d {
            n: self.batch,
            crop: c,
            a: Vec::with_capacity(self.batch * c * c * c),
            b: Vec::with_capacity(self.batch * c * c * c),
        };
        for _ in 0..self.batch {
            let o: [usize; 3] = std::array::from_fn(|a| {
                let r = &self.train_box[a];
                r.start + (rng.next_u64() % (r.len() - c + 1) as u64) as usize
            });
            let sym = if self.augment {
                CubeSymmetry((rng.next_u64() % 48) as u8)
            } else {
                CubeSymmetry(0)
            };
            let (a, b) = self.crop_pair(o, sym);
            batch.a.extend(a);
            batch.b.extend(b);
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_48_cube_symmetries_are_distinct_and_invertible_permutations() {
        let c = 3;
        let cube: Vec<f32> = (0..c * c * c).map(|i| i as f32).collect();
        let mut seen = std::collections::HashSet::new();
        for s in CubeSymmetry::all() {
            let out = s.apply(&cube, c);
            let mut sorted = out.clone();
            sorted.sort_by(f32::total_cmp);
            assert_eq!(sorted, cube, "symmetry {} is not a permutation", s.0);
            // The centre stays put, and neighbouring voxels stay neighbours (a rigid motion).
            assert_eq!(out[13], 13.0);
            seen.insert(out.iter().map(|v| *v as u32).collect::<Vec<_>>());
        }
        assert_eq!(seen.len(), 48);
        assert_eq!(CubeSymmetry(0).apply(&cube, c), cube);
    }
}
