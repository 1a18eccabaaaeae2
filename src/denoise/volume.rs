//! Tiled 3D denoising of tomograms with Topaz's 3D U-nets, a patch at a time.
//!
//! Topaz (`Denoise3D.denoise`, `topaz denoise3d`; Bepler et al. 2020, Methods "3D denoising")
//! normalises the tomogram by its global mean and σ, cuts it into cubic patches (96³ cores)
//! and reads each core with 48 voxels of padding per side: the padded window is always
//! (96 + 2·48)³ = 192³, filled with raw zeros where it leaves the tomogram (zero *before*
//! normalisation, i.e. −mean/σ after). Each padded window is normalised again by its own mean
//! and (unbiased) σ, denoised, mapped back with the window's statistics and then the global
//! ones, and its core is written out. That per-patch re-normalisation makes neighbouring
//! patches disagree at their borders (seams).
//!
//! Two modes ([`VolumeNormalisation`]):
//! - [`VolumeNormalisation::Global`] (default): normalise once by the tomogram's mean and σ;
//!   windows are the core ± padding clipped to the tomogram (not zero-filled: at the
//!   tomogram's faces the network sees its own zero padding, as in an untiled run). No
//!   normalisation seams; the only difference from an untiled run is context beyond the
//!   padding (the receptive radius is 190 voxels, [`RECEPTIVE_RADIUS`]): with 48 voxels it is
//!   0.06 σ RMS, 0.84 σ at most, against one untiled pass (`patch_size` 0) on the
//!   particleannotation tomogram, which is also faster there (92 s against 212 s, 2 busy cores).
//! - [`VolumeNormalisation::TopazPatch`]: Topaz's exact semantics, for parity with Topaz's
//!   output (tested within 1e-3 σ against `topaz-em` 0.3.20). Beware: on a volume whose mean
//!   is far from 0 the raw-zero fill sits many σ away from the data (−4.6 σ for the
//!   particleannotation tomogram, whose 192³ windows are mostly fill along y and x), and the
//!   per-window re-normalisation then compresses the data the network sees; there the two
//!   modes differ by 0.79 σ RMS (correlation 0.68, measured on that tomogram).
//!
//! Each window's encoder runs once on the whole window, but the decoder runs only on the core
//! ([`UNet3d::forward_regions`]), which gives the same values as the full forward pass with
//! far less work. Memory is bounded by one window: the input and output volumes, plus the
//! network's activations for one window (the decoder in blocks of at most [`DECODER_BLOCK`]³).

use std::ops::Range;

use anyhow::{Context, Result, bail};
use burn::prelude::*;

use crate::device::ComputeDevice;
use crate::image::{Volume, stats_of};
use crate::jobs::Progress;
use crate::kernels::Cdhw;
use crate::models::ModelSpec;
use crate::models::native3d::Native3d;
use crate::models::topaz3d::{Kernels3d, POOLS, RECEPTIVE_RADIUS, UNet3d, UNet3dConfig, VoxelBox};

/// Largest decoder block (voxels per axis) computed at once inside a window's core.
pub const DECODER_BLOCK: usize = 64;

/// Smallest window per axis the 3D U-net accepts (2^5, five poolings).
pub const MIN_WINDOW: usize = 1 << POOLS;

/// How a volume is normalised before the network (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum VolumeNormalisation {
    /// Once, by the whole volume's mean and σ (no seams). The default.
    #[default]
    Global,
    /// As Topaz's `Denoise3D`: globally, then each zero-filled padded window again by its own
    /// mean and unbiased σ.
    TopazPatch,
}

/// Tiling of a volume (`--patch-size`, `--padding`, `--topaz-normalisation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeTileConfig {
    /// Core edge in voxels (Topaz: 96). 0: one window holding the whole volume (no tiling;
    /// memory grows with the volume).
    pub patch_size: usize,
    /// Context voxels read around each core, per side (Topaz: 48).
    pub padding: usize,
    /// Normalisation mode.
    pub normalisation: VolumeNormalisation,
}

impl Default for VolumeTileConfig {
    fn default() -> Self {
        Self {
            patch_size: 96,
            padding: 48,
            normalisation: VolumeNormalisation::Global,
        }
    }
}

impl VolumeTileConfig {
    /// Topaz's `denoise3d` defaults: 96³ cores, 48 voxels of padding, per-patch normalisation.
    pub fn topaz() -> Self {
        Self {
            normalisation: VolumeNormalisation::TopazPatch,
            ..Self::default()
        }
    }
}

/// One patch: the core it writes (`[z, y, x]` voxel ranges of the volume) and the window it
/// reads, starting at `window_start` (may be negative or reach past the volume: those voxels
/// are filled) with `window_size` voxels per axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumePatch {
    /// Voxels written, `[z, y, x]`.
    pub core: VoxelBox,
    /// First window voxel per axis `[z, y, x]`, in volume coordinates.
    pub window_start: [isize; 3],
    /// Window edge per axis `[z, y, x]`.
    pub window_size: [usize; 3],
}

/// Plans the patches of a volume of shape `[depth, height, width]` (z, y, x), cores in Topaz's
/// order (z slowest). Cores partition the volume.
///
/// In [`VolumeNormalisation::TopazPatch`] mode every window is `(patch + 2·padding)³` from
/// `core start − padding`, as Topaz's `PatchDataset`; in `Global` mode the window is the core ±
/// padding clipped to the volume, extended past the far face to [`MIN_WINDOW`] if shorter.
///
/// # Errors
/// An empty volume.
pub fn plan_volume_patches(shape: [usize; 3], cfg: &VolumeTileConfig) -> Result<Vec<VolumePatch>> {
    if shape.contains(&0) {
        bail!("cannot denoise an empty volume ({shape:?} voxels, z, y, x)");
    }
    let axis_cores = |n: usize| -> Vec<Range<usize>> {
        // Patch size 0: one core spanning the axis.
        let step = if cfg.patch_size == 0 {
            n
        } else {
            cfg.patch_size
        };
        (0..n).step_by(step).map(|s| s..(s + step).min(n)).collect()
    };
    let cores: [Vec<Range<usize>>; 3] = std::array::from_fn(|a| axis_cores(shape[a]));
    let pad = if cfg.patch_size == 0 { 0 } else { cfg.padding };
    let window = |a: usize, core: &Range<usize>| -> (isize, usize) {
        match cfg.normalisation {
            VolumeNormalisation::TopazPatch if cfg.patch_size > 0 => (
                core.start as isize - pad as isize,
                (cfg.patch_size + 2 * pad).max(MIN_WINDOW),
            ),
            _ => {
                let lo = core.start.saturating_sub(pad);
                let hi = (core.end + pad).min(shape[a]);
                (lo as isize, (hi - lo).max(MIN_WINDOW))
            }
        }
    };
    let mut out = Vec::new();
    for cz in &cores[0] {
        for cy in &cores[1] {
            for cx in &cores[2] {
                let core = [cz.clone(), cy.clone(), cx.clone()];
                let w: [(isize, usize); 3] = std::array::from_fn(|a| window(a, &core[a]));
                out.push(VolumePatch {
                    core,
                    window_start: w.map(|v| v.0),
                    window_size: w.map(|v| v.1),
                });
            }
        }
    }
    Ok(out)
}

/// Splits `b` into blocks of at most `edge` voxels per axis.
fn split_box(b: &VoxelBox, edge: usize) -> Vec<VoxelBox> {
    let axis = |r: &Range<usize>| -> Vec<Range<usize>> {
        (r.start..r.end)
            .step_by(edge)
            .map(|s| s..(s + edge).min(r.end))
            .collect()
    };
    let [zs, ys, xs] = [axis(&b[0]), axis(&b[1]), axis(&b[2])];
    let mut out = Vec::new();
    for z in &zs {
        for y in &ys {
            for x in &xs {
                out.push([z.clone(), y.clone(), x.clone()]);
            }
        }
    }
    out
}

fn intersect(a: &VoxelBox, b: &VoxelBox) -> Option<VoxelBox> {
    let r: VoxelBox = std::array::from_fn(|i| a[i].start.max(b[i].start)..a[i].end.min(b[i].end));
    r.iter().all(|x| x.start < x.end).then_some(r)
}

fn box_len(b: &VoxelBox) -> usize {
    b.iter().map(|r| r.len()).product()
}

/// A loaded 3D denoiser (`unet-3d-10a`, `unet-3d-20a`, a 3D state dict, or a model trained
/// with `cryolens train-3d`) on a device.
pub struct Topaz3dDenoiser {
    model: UNet3d,
    config: UNet3dConfig,
    kernels: Kernels3d,
    /// The weights prepared for the native path (with [`Kernels3d::NativeCpu`]).
    native: Option<Native3d>,
    device: ComputeDevice,
    label: String,
}

impl Topaz3dDenoiser {
    /// Loads `spec` (a [`ModelSpec::Topaz3d`] name, a file holding a `UDenoiseNet3D` state
    /// dict, or a Cryolens 3D model `NAME.safetensors` + `NAME.json` from `cryolens train-3d`)
    /// onto `device`. Runs on burn (wgpu on a GPU) or our native CPU kernels.
    ///
    /// # Errors
    /// A 2D model, weights not installed, or a file that is not a 3D U-net.
    pub fn load(spec: &ModelSpec, device: &ComputeDevice) -> Result<Self> {
        let (model, config) = crate::models::load_any_3d(spec, &device.burn)?;
        let kernels = if !device.is_gpu() && device.native_cpu {
            Kernels3d::NativeCpu
        } else {
            Kernels3d::Burn
        };
        let native = (kernels == Kernels3d::NativeCpu).then(|| Native3d::from_burn(&model));
        Ok(Self {
            model,
            config,
            kernels,
            native,
            device: device.clone(),
            label: spec.label(),
        })
    }

    /// Short model label ("unet-3d-10a", or a file stem).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// e.g. "unet-3d-10a: 3D U-net (48 filters, widths 7/3, output 64/32) on CPU …, native
    /// (CPU)"; Topaz's layout adds its receptive radius.
    pub fn describe(&self) -> String {
        let radius = if self.config == UNet3dConfig::PRETRAINED {
            format!(", receptive radius {RECEPTIVE_RADIUS} voxels")
        } else {
            String::new()
        };
        format!(
            "{}: {}{radius} on {}, {}",
            self.label,
            self.config.describe(),
            self.device.describe(),
            self.backend_name()
        )
    }

    /// The network's dimensions.
    pub fn config(&self) -> UNet3dConfig {
        self.config
    }

    /// Which kernels run the network: "native (CPU)", "burn flex (CPU)" or "burn wgpu".
    pub fn backend_name(&self) -> &'static str {
        if self.device.is_gpu() {
            "burn wgpu"
        } else if self.kernels == Kernels3d::NativeCpu {
            "native (CPU)"
        } else {
            "burn flex (CPU)"
        }
    }

    /// The network alone on one normalised window (`[z][y][x]`, `shape` = `[d, h, w]`, each
    /// side a multiple of 32), every output voxel computed, as Topaz's `model(x)` does: the
    /// per-FLOP race of `cryolens bench --what denoise3d`. [`Topaz3dDenoiser::denoise`]
    /// does less work (decoders on the patch cores only).
    ///
    /// # Errors
    /// A window whose length is not `d·h·w`, or a backend failure.
    pub fn forward_window(&self, window: Vec<f32>, shape: [usize; 3]) -> Result<Vec<f32>> {
        if window.len() != shape.iter().product::<usize>() {
            bail!("window holds {} values, not {shape:?}", window.len());
        }
        let [d, h, w] = shape;
        self.forward_blocks(window, shape, &[[0..d, 0..h, 0..w]])?
            .pop()
            .context("no output")
    }

    /// The network on one normalised `window` (`[z][y][x]` of `shape`), its output inside
    /// each of `regions` (`[z][y][x]` each): on our CPU kernels end to end when they run the
    /// model ([`Native3d`], weights prepared once at load), else through burn.
    fn forward_blocks(
        &self,
        window: Vec<f32>,
        shape: [usize; 3],
        regions: &[VoxelBox],
    ) -> Result<Vec<Vec<f32>>> {
        if let Some(native) = &self.native {
            let x = Cdhw {
                channels: 1,
                shape,
                data: window,
            };
            return Ok(native
                .forward_regions(x, regions)
                .into_iter()
                .map(|y| y.data)
                .collect());
        }
        let [d, h, w] = shape;
        let x = Tensor::<5>::from_data(TensorData::new(window, [1, 1, d, h, w]), &self.device.burn);
        self.model
            .forward_regions(x, regions, self.kernels)
            .into_iter()
            .map(|t| {
                let data = t.try_into_data().map_err(|e| {
                    anyhow::anyhow!("the {} backend failed: {e:?}", self.device.describe())
                })?;
                data.try_to_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("unexpected output type: {e:?}"))
            })
            .collect()
    }

    /// Denoises a volume (`[z][y][x]`, any units). Returns a volume of the same shape and voxel
    /// size in the input's units. Reports one progress step per patch; stops with an error
    /// when the job is cancelled.
    ///
    /// # Errors
    /// Empty or non-finite input, a constant volume (σ = 0), cancellation, or a backend failure.
    pub fn denoise(
        &self,
        volume: &Volume,
        cfg: &VolumeTileConfig,
        progress: &Progress,
    ) -> Result<Volume> {
        let full = [0..volume.depth, 0..volume.height, 0..volume.width];
        let data = self.denoise_region(volume, cfg, &full, progress)?;
        Ok(Volume {
            width: volume.width,
            height: volume.height,
            depth: volume.depth,
            data,
            pixel_size_angstrom: volume.pixel_size_angstrom,
        })
    }

    /// The denoised values inside `region` (`[z, y, x]` voxel ranges) only, `[z][y][x]`
    /// order, exactly as [`Topaz3dDenoiser::denoise`] computes them there: only the patches
    /// whose cores meet `region` run, and their decoders only on the intersection. Used to
    /// check parity on part of a volume cheaply.
    ///
    /// # Errors
    /// As [`Topaz3dDenoiser::denoise`], and a region empty or outside the volume.
    pub fn denoise_region(
        &self,
        volume: &Volume,
        cfg: &VolumeTileConfig,
        region: &VoxelBox,
        progress: &Progress,
    ) -> Result<Vec<f32>> {
        let shape = [volume.depth, volume.height, volume.width];
        if volume.data.len() != shape.iter().product::<usize>() {
            bail!(
                "volume holds {} values, not {}×{}×{}",
                volume.data.len(),
                shape[0],
                shape[1],
                shape[2]
            );
        }
        if region
            .iter()
            .zip(shape)
            .any(|(r, n)| r.start >= r.end || r.end > n)
        {
            bail!("region {region:?} is empty or outside the volume {shape:?} (z, y, x)");
        }
        if let Some(i) = volume.data.iter().position(|v| !v.is_finite()) {
            bail!("cannot denoise: the volume has a non-finite value at index {i}");
        }
        let stats = stats_of(&volume.data);
        if stats.std <= 0.0 || !stats.std.is_finite() {
            bail!("cannot denoise a constant volume (standard deviation 0)");
        }
        let (mean, std) = (stats.mean, stats.std);
        let patches: Vec<(VolumePatch, VoxelBox)> = plan_volume_patches(shape, cfg)?
            .into_iter()
            .filter_map(|p| intersect(&p.core, region).map(|r| (p, r)))
            .collect();
        progress.start(
            patches.len() as u64,
            format!(
                "denoising with {} on {}",
                self.label,
                self.device.describe()
            ),
        );
        let [rd, rh, rw] = [region[0].len(), region[1].len(), region[2].len()];
        let mut out = vec![0.0f32; box_len(region)];
        for (patch, part) in &patches {
            if progress.is_cancelled() {
                bail!("denoising cancelled");
            }
            let values = self
                .denoise_patch(volume, patch, part, mean, std, cfg.normalisation)
                .with_context(|| format!("patch with core {:?} (z, y, x)", patch.core))?;
            // Scatter the part (its own [z][y][x] order) into the region's buffer.
            let [pd, ph, pw] = [part[0].len(), part[1].len(), part[2].len()];
            for z in 0..pd {
                for y in 0..ph {
                    let src = (z * ph + y) * pw;
                    let dst = ((part[0].start - region[0].start + z) * rh
                        + (part[1].start - region[1].start + y))
                        * rw
                        + (part[2].start - region[2].start);
                    out[dst..dst + pw].copy_from_slice(&values[src..src + pw]);
                }
            }
            progress.step();
        }
        debug_assert_eq!(out.len(), rd * rh * rw);
        Ok(out)
    }

    /// Runs one patch and returns the denoised values of `part` (⊂ core), `[z][y][x]`, in the
    /// input's units.
    fn denoise_patch(
        &self,
        volume: &Volume,
        patch: &VolumePatch,
        part: &VoxelBox,
        mean: f64,
        std: f64,
        mode: VolumeNormalisation,
    ) -> Result<Vec<f32>> {
        let [wd, wh, ww] = patch.window_size;
        let [z0, y0, x0] = patch.window_start;
        // Outside the volume: Topaz fills raw zeros (before normalisation); the global mode
        // fills the mean (0 after normalisation), as a convolution's zero padding would.
        let fill = match mode {
            VolumeNormalisation::TopazPatch => (-mean / std) as f32,
            VolumeNormalisation::Global => 0.0,
        };
        let mut window = vec![fill; wd * wh * ww];
        let (vh, vw) = (volume.height as isize, volume.width as isize);
        for z in 0..wd {
            let vz = z0 + z as isize;
            if vz < 0 || vz >= volume.depth as isize {
                continue;
            }
            for y in 0..wh {
                let vy = y0 + y as isize;
                if vy < 0 || vy >= vh {
                    continue;
                }
                let row = ((vz * vh + vy) * vw) as usize;
                let xs = x0.max(0);
                let xe = (x0 + ww as isize).min(vw);
                if xs >= xe {
                    continue;
                }
                let dst = (z * wh + y) * ww + (xs - x0) as usize;
                for (o, &v) in window[dst..dst + (xe - xs) as usize]
                    .iter_mut()
                    .zip(&volume.data[row + xs as usize..row + xe as usize])
                {
                    *o = ((v as f64 - mean) / std) as f32;
                }
            }
        }
        // Topaz's `Denoise._denoise`: the window again by its own mean and unbiased σ.
        let (pm, ps) = match mode {
            VolumeNormalisation::TopazPatch => {
                let n = window.len() as f64;
                let m = window.iter().map(|&v| v as f64).sum::<f64>() / n;
                let ss = window.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>();
                let s = (ss / (n - 1.0)).sqrt();
                if s <= 0.0 || !s.is_finite() {
                    bail!("a constant patch (σ = 0) cannot be normalised as Topaz does");
                }
                for v in window.iter_mut() {
                    *v = ((*v as f64 - m) / s) as f32;
                }
                (m, s)
            }
            VolumeNormalisation::Global => (0.0, 1.0),
        };
        let local = |b: &VoxelBox| -> VoxelBox {
            std::array::from_fn(|a| {
                let o = patch.window_start[a];
                (b[a].start as isize - o) as usize..(b[a].end as isize - o) as usize
            })
        };
        let blocks = split_box(part, DECODER_BLOCK);
        let local_blocks: Vec<VoxelBox> = blocks.iter().map(local).collect();
        let outputs = self.forward_blocks(window, [wd, wh, ww], &local_blocks)?;
        let [ph, pw] = [part[1].len(), part[2].len()];
        let mut values = vec![0.0f32; box_len(part)];
        for (block, v) in blocks.iter().zip(outputs) {
            let [bd, bh, bw] = [block[0].len(), block[1].len(), block[2].len()];
            for z in 0..bd {
                for y in 0..bh {
                    let src = (z * bh + y) * bw;
                    let dst = ((block[0].start - part[0].start + z) * ph
                        + (block[1].start - part[1].start + y))
                        * pw
                        + (block[2].start - part[2].start);
                    for (o, &r) in values[dst..dst + bw].iter_mut().zip(&v[src..src + bw]) {
                        *o = (((r as f64) * ps + pm) * std + mean) as f32;
                    }
                }
            }
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topaz_plan_matches_patch_dataset() {
        // Topaz's PatchDataset on (202, 115, 112) with 96/48: 3·2·2 patches of 192³ windows.
        let plan = plan_volume_patches([202, 115, 112], &VolumeTileConfig::topaz()).unwrap();
        assert_eq!(plan.len(), 12);
        let last = plan.last().unwrap();
        assert_eq!(last.core, [192..202, 96..115, 96..112]);
        assert_eq!(last.window_start, [144, 48, 48]);
        assert_eq!(last.window_size, [192, 192, 192]);
        assert_eq!(plan[0].window_start, [-48, -48, -48]);
        let voxels: usize = plan.iter().map(|p| box_len(&p.core)).sum();
        assert_eq!(voxels, 202 * 115 * 112);
    }

    #[test]
    fn global_plan_clips_windows_to_the_volume() {
        let plan = plan_volume_patches([202, 20, 112], &VolumeTileConfig::default()).unwrap();
        assert_eq!(plan[0].window_start, [0, 0, 0]);
        assert_eq!(plan[0].window_size, [144, 32, 112]);
        assert!(plan_volume_patches([0, 3, 3], &VolumeTileConfig::default()).is_err());
    }

    #[test]
    fn split_box_partitions() {
        let b: VoxelBox = [3..70, 0..10, 5..133];
        let parts = split_box(&b, 64);
        assert_eq!(parts.len(), 4); // 2 (z) × 1 (y) × 2 (x)
        assert_eq!(parts.iter().map(box_len).sum::<usize>(), box_len(&b));
    }
}
