//! Projected electrostatic potential of one particle, in V·Å, on the micrograph's pixel grid:
//! from atoms (Peng et al. 1996 scattering factors, see [`super::scattering`]) or from a 3D map.
//!
//! Every value is a pixel average: the projected potential integrated over the pixel's area
//! and divided by it (exact for the Gaussians of the atoms, through the error function; by
//! sub-sampling for maps), so that the potential is band-limited the way a pixel integrates it
//! and the total ∫ V_z d²ρ is kept.

use std::path::Path;

use super::SimulateError;
use super::atoms::AtomicModel;
use super::orient::{apply, apply_transpose};
use super::scattering::{POTENTIAL_PER_SCATTERING_FACTOR, ScatteringFactor};
use crate::image::Volume;

/// A rectangle of the micrograph holding one particle's projected potential (V·Å), row-major,
/// its top-left pixel at (`x0`, `y0`) (may lie outside the micrograph: [`Patch::add_to`]
/// clips).
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// Column of the first pixel.
    pub x0: isize,
    /// Row of the first pixel.
    pub y0: isize,
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Values, `width * height`, V·Å.
    pub data: Vec<f64>,
}

impl Patch {
    /// A zero patch of `(2·half + 1)²` pixels centred on the pixel nearest (`cx`, `cy`).
    fn around(cx: f64, cy: f64, half: usize) -> Self {
        let side = 2 * half + 1;
        Self {
            x0: cx.round() as isize - half as isize,
            y0: cy.round() as isize - half as isize,
            width: side,
            height: side,
            data: vec![0.0; side * side],
        }
    }

    /// Adds the patch into a row-major `width × height` field, clipping what lies outside.
    pub fn add_to(&self, field: &mut [f64], width: usize, height: usize) {
        for r in 0..self.height {
            let y = self.y0 + r as isize;
            if y < 0 || y >= height as isize {
                continue;
            }
            for c in 0..self.width {
                let x = self.x0 + c as isize;
                if x < 0 || x >= width as isize {
                    continue;
                }
                field[y as usize * width + x as usize] += self.data[r * self.width + c];
            }
        }
    }
}

/// The error function (Numerical Recipes' Chebyshev fit of erfc, fractional error < 1.2·10⁻⁷).
pub fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}

/// Fractions of a unit 1D Gaussian (mean `centre`, σ `sigma`, both in pixels) falling in
/// pixels `lo..=hi` (pixel j spans [j − ½, j + ½]), into `out`.
fn pixel_fractions(centre: f64, sigma: f64, lo: isize, hi: isize, out: &mut Vec<f64>) {
    out.clear();
    let k = 1.0 / (std::f64::consts::SQRT_2 * sigma);
    let mut prev = erf((lo as f64 - 0.5 - centre) * k);
    for j in lo..=hi {
        let next = erf((j as f64 + 0.5 - centre) * k);
        out.push(0.5 * (next - prev));
        prev = next;
    }
}

/// Adds a 2D Gaussian of integral `weight` (V·Å³) and per-axis σ `sigma_px` (pixels), centred
/// at (`cx`, `cy`) pixels, as pixel averages (V·Å, dividing by the pixel area `area`, Å²).
#[allow(clippy::too_many_arguments)]
fn add_gaussian(
    patch: &mut Patch,
    cx: f64,
    cy: f64,
    sigma_px: f64,
    weight: f64,
    area: f64,
    fx: &mut Vec<f64>,
    fy: &mut Vec<f64>,
) {
    let reach = 4.0 * sigma_px + 1.0;
    let lo_x = ((cx - reach).floor() as isize).max(patch.x0);
    let hi_x = ((cx + reach).ceil() as isize).min(patch.x0 + patch.width as isize - 1);
    let lo_y = ((cy - reach).floor() as isize).max(patch.y0);
    let hi_y = ((cy + reach).ceil() as isize).min(patch.y0 + patch.height as isize - 1);
    if lo_x > hi_x || lo_y > hi_y {
        return;
    }
    pixel_fractions(cx, sigma_px, lo_x, hi_x, fx);
    pixel_fractions(cy, sigma_px, lo_y, hi_y, fy);
    let scale = weight / area;
    for (r, wy) in (lo_y..=hi_y).zip(fy.iter()) {
        let row = (r - patch.y0) as usize * patch.width;
        let wy = wy * scale;
        for (c, wx) in (lo_x..=hi_x).zip(fx.iter()) {
            patch.data[row + (c - patch.x0) as usize] += wy * wx;
        }
    }
}

/// How atoms displace the ice: each non-hydrogen atom removes a Gaussian of ice of volume
/// `volume_angstrom3` at the ice's mean potential `ice_potential_volts` (a 3D Gaussian of
/// peak 1 and that volume has σ = v^{1/3}/√(2π)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolventExclusion {
    /// Mean inner potential of the ice, V.
    pub ice_potential_volts: f64,
    /// Volume of ice one non-hydrogen atom displaces, Å³.
    pub volume_angstrom3: f64,
}

/// The projected potential (V·Å, pixel averages) of an atomic model rotated by the RELION
/// matrix `a` ([`super::orient::relion_matrix`]) with its centre at (`cx`, `cy`) pixels, pixel
/// size `pixel_size_angstrom`. Each atom adds Σᵢ occupancy · (h²/2πm₀e) aᵢ ·
/// G(σ² = (bᵢ + B)/(8π²)) (see [`super::scattering`]), B its B-factor (or `b_override`), minus
/// the displaced ice when `solvent` is given.
pub fn project_atoms(
    model: &AtomicModel,
    a: &[[f64; 3]; 3],
    cx: f64,
    cy: f64,
    pixel_size_angstrom: f64,
    b_override: Option<f64>,
    solvent: Option<SolventExclusion>,
) -> Patch {
    let p = pixel_size_angstrom;
    let eight_pi2 = 8.0 * std::f64::consts::PI * std::f64::consts::PI;
    let max_b = model
        .atoms
        .iter()
        .map(|at| b_override.unwrap_or(at.b_factor))
        .fold(0.0f64, f64::max);
    // The widest Gaussian: b₅ ≤ 200 Å² in the table, plus the B-factor.
    let widest = ((200.0 + max_b) / eight_pi2).sqrt() / p;
    let half = (model.radius_angstrom / p + 4.0 * widest + 3.0).ceil() as usize;
    let mut patch = Patch::around(cx, cy, half);
    let factors: Vec<Option<ScatteringFactor>> = (0..=54u8).map(ScatteringFactor::of).collect();
    let area = p * p;
    let (mut fx, mut fy) = (Vec::new(), Vec::new());
    let solvent_sigma2 = solvent.map(|s| {
        let sigma = s.volume_angstrom3.cbrt() / (2.0 * std::f64::consts::PI).sqrt();
        sigma * sigma
    });
    for atom in &model.atoms {
        let Some(Some(f)) = factors.get(usize::from(atom.z)) else {
            continue;
        };
        let r = apply(a, atom.position);
        let (x, y) = (cx + r[0] / p, cy + r[1] / p);
        let b = b_override.unwrap_or(atom.b_factor);
        for (ai, bi) in f.a.iter().zip(&f.b) {
            let sigma = ((bi + b) / eight_pi2).sqrt() / p;
            let weight = atom.occupancy * POTENTIAL_PER_SCATTERING_FACTOR * ai;
            add_gaussian(&mut patch, x, y, sigma, weight, area, &mut fx, &mut fy);
        }
        if let (Some(s), Some(s2)) = (solvent, solvent_sigma2)
            && atom.z > 1
        {
            let sigma = (s2 + b / eight_pi2).sqrt() / p;
            let weight = -atom.occupancy * s.ice_potential_volts * s.volume_angstrom3;
            add_gaussian(&mut patch, x, y, sigma, weight, area, &mut fx, &mut fy);
        }
    }
    patch
}

/// A 3D map as a specimen: values are the particle's potential above the ice's, in V, on a
/// cubic grid of `voxel_size_angstrom`; the map's centre is voxel (nx/2, ny/2, nz/2) (RELION's),
/// and only its inscribed sphere is used.
#[derive(Clone, Debug, PartialEq)]
pub struct MapSpecimen {
    /// The map (z, y, x), V.
    pub volume: Volume,
    /// Voxel size, Å.
    pub voxel_size_angstrom: f64,
}

impl MapSpecimen {
    /// Radius of the inscribed sphere, Å.
    pub fn radius_angstrom(&self) -> f64 {
        let n = self
            .volume
            .width
            .min(self.volume.height)
            .min(self.volume.depth);
        0.5 * (n as f64 - 1.0) * self.voxel_size_angstrom
    }

    /// Trilinear interpolation at voxel coordinates (x, y, z); 0 outside the grid.
    fn sample(&self, x: f64, y: f64, z: f64) -> f64 {
        let v = &self.volume;
        let (x0, y0, z0) = (x.floor(), y.floor(), z.floor());
        if x0 < 0.0 || y0 < 0.0 || z0 < 0.0 {
            return 0.0;
        }
        let (i, j, k) = (x0 as usize, y0 as usize, z0 as usize);
        if i + 1 >= v.width || j + 1 >= v.height || k + 1 >= v.depth {
            return 0.0;
        }
        let (fx, fy, fz) = (x - x0, y - y0, z - z0);
        let at = |i: usize, j: usize, k: usize| f64::from(v.data[(k * v.height + j) * v.width + i]);
        let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
        let c00 = lerp(at(i, j, k), at(i + 1, j, k), fx);
        let c10 = lerp(at(i, j + 1, k), at(i + 1, j + 1, k), fx);
        let c01 = lerp(at(i, j, k + 1), at(i + 1, j, k + 1), fx);
        let c11 = lerp(at(i, j + 1, k + 1), at(i + 1, j + 1, k + 1), fx);
        lerp(lerp(c00, c10, fy), lerp(c01, c11, fy), fz)
    }
}

/// Reads a 3D map specimen (MRC or TIFF stack; values taken as V) and the radius of its content,
/// Å: the farthest voxel of the inscribed sphere from the centre whose magnitude exceeds 2 % of
/// the largest (used to place particles without overlap).
///
/// The voxel size is `voxel_size_angstrom` when given, else the header's (an MRC cell equal to
/// the voxel count reads as unknown, so 1 Å maps need it given).
///
/// # Errors
/// [`SimulateError::Input`] naming the file: unreadable, a 2D image, no voxel size, non-finite
/// values, or zero variance (a constant map has no particle).
pub fn read_map(
    path: &Path,
    voxel_size_angstrom: Option<f64>,
) -> Result<(MapSpecimen, f64), SimulateError> {
    let bad = |reason: String| SimulateError::Input {
        path: path.to_path_buf(),
        reason,
    };
    let volume = crate::io::read_volume(path, "map").map_err(|e| bad(e.to_string()))?;
    let voxel = voxel_size_angstrom
        .or(volume.pixel_size_angstrom.map(f64::from))
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| {
            bad("the header gives no voxel size (give --map-voxel-size-angstrom)".into())
        })?;
    if volume.data.iter().any(|v| !v.is_finite()) {
        return Err(bad(
            "the map holds NaN or infinite values (fix or mask the map)".into(),
        ));
    }
    let stats = crate::image::stats_of(&volume.data);
    if stats.std <= 0.0 {
        return Err(bad(format!(
            "the map has zero variance (every voxel is {}): there is no particle in it (give a map of the particle)",
            stats.min
        )));
    }
    let map = MapSpecimen {
        volume,
        voxel_size_angstrom: voxel,
    };
    let v = &map.volume;
    let peak = v.data.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let sphere = map.radius_angstrom();
    let centre = [v.width / 2, v.height / 2, v.depth / 2];
    let mut content: f64 = 0.0;
    for z in 0..v.depth {
        for y in 0..v.height {
            for x in 0..v.width {
                if v.data[(z * v.height + y) * v.width + x].abs() <= 0.02 * peak {
                    continue;
                }
                let d = [x, y, z]
                    .iter()
                    .zip(centre)
                    .map(|(&i, c)| (i as f64 - c as f64).powi(2))
                    .sum::<f64>()
                    .sqrt()
                    * voxel;
                if d <= sphere {
                    content = content.max(d);
                }
            }
        }
    }
    Ok((map, content + voxel))
}

/// The projected potential (V·Å, pixel averages) of a map rotated by the RELION matrix `a`,
/// its centre at (`cx`, `cy`) pixels of size `pixel_size_angstrom`: p(x, y) = ∫ V(Aᵀ(x, y, z)) dz
/// by trilinear interpolation along rays stepped by the voxel size, each pixel averaged over
/// s × s rays, s = ⌈pixel / voxel⌉ (resampling the map to the pixel size without aliasing).
pub fn project_map(
    map: &MapSpecimen,
    a: &[[f64; 3]; 3],
    cx: f64,
    cy: f64,
    pixel_size_angstrom: f64,
) -> Patch {
    let p = pixel_size_angstrom;
    let h = map.voxel_size_angstrom;
    let radius = map.radius_angstrom();
    let half = (radius / p).ceil() as usize + 1;
    let mut patch = Patch::around(cx, cy, half);
    let sub = (p / h).ceil().max(1.0) as usize;
    let steps = (radius / h).floor() as isize;
    let centre = [
        (map.volume.width / 2) as f64,
        (map.volume.height / 2) as f64,
        (map.volume.depth / 2) as f64,
    ];
    let r2 = radius * radius;
    let width = patch.width;
    for (idx, value) in patch.data.iter_mut().enumerate() {
        let px = patch.x0 + (idx % width) as isize;
        let py = patch.y0 + (idx / width) as isize;
        let mut total = 0.0;
        for sy in 0..sub {
            for sx in 0..sub {
                let u = (px as f64 + (sx as f64 + 0.5) / sub as f64 - 0.5 - cx) * p;
                let v = (py as f64 + (sy as f64 + 0.5) / sub as f64 - 0.5 - cy) * p;
                if u * u + v * v > r2 {
                    continue;
                }
                for k in -steps..=steps {
                    let t = k as f64 * h;
                    if u * u + v * v + t * t > r2 {
                        continue;
                    }
                    let r = apply_transpose(a, [u, v, t]);
                    total += map.sample(
                        r[0] / h + centre[0],
                        r[1] / h + centre[1],
                        r[2] / h + centre[2],
                    );
                }
            }
        }
        *value = total * h / (sub * sub) as f64;
    }
    patch
}

#[cfg(test)]
mod tests {
    use super::super::atoms::Atom;
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        assert!(erf(0.0).abs() < 1e-7);
        assert!((erf(0.5) - 0.520_499_877_8).abs() < 2e-7);
        assert!((erf(1.0) - 0.842_700_792_9).abs() < 2e-7);
        assert!((erf(-2.0) + 0.995_322_265_0).abs() < 2e-7);
    }

    #[test]
    fn one_atom_integrates_to_its_forward_scattering() {
        // ∫ V_z d²ρ = (h²/2πm₀e) f(0) = 47.877 · 2.5088 V·Å³ for carbon, whatever the B.
        let model = AtomicModel::centred(
            vec![Atom {
                position: [0.0; 3],
                z: 6,
                b_factor: 30.0,
                occupancy: 1.0,
            }],
            Vec::new(),
        )
        .unwrap();
        let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        for p in [0.7, 1.0, 2.0] {
            let patch = project_atoms(&model, &identity, 20.0, 17.5, p, None, None);
            let total: f64 = patch.data.iter().sum::<f64>() * p * p;
            let expected = POTENTIAL_PER_SCATTERING_FACTOR * 2.5088;
            assert!(
                (total - expected).abs() < 1e-3 * expected,
                "{total} vs {expected}"
            );
            // Centred where the atom is
            let (mut mx, mut my) = (0.0, 0.0);
            for (i, v) in patch.data.iter().enumerate() {
                mx += v * (patch.x0 + (i % patch.width) as isize) as f64;
                my += v * (patch.y0 + (i / patch.width) as isize) as f64;
            }
            // (On a pixel centre and on a pixel edge the pixel masses are symmetric about the
            // atom, so their centroid is exact up to erf's 10⁻⁷.)
            let s: f64 = patch.data.iter().sum();
            assert!((mx / s - 20.0).abs() < 1e-6 && (my / s - 17.5).abs() < 1e-6);
        }
    }
}
