//! Orientations and positions of the particles: uniform random rotations (uniform on SO(3))
//! written as RELION's Euler angles, and non-overlapping placement in the ice slab.
//!
//! # Conventions (RELION's, `euler.cpp`)
//! Angles rot (φ), tilt (θ), psi (ψ) in degrees, ZYZ. [`relion_matrix`] is RELION's
//! `Euler_angles2matrix`: a point r of the specimen (map or atomic model, centred) is seen at
//! A·r, its x and y being the image column and row offsets from the particle centre and z
//! along the beam; the projection is p(x, y) = ∫ V(Aᵀ (x, y, z)) dz.
//!
//! Uniform on SO(3): the Haar measure in ZYZ angles is sin θ dφ dθ dψ, so φ and ψ uniform on
//! [−180°, 180°) with cos θ uniform on [−1, 1] give uniformly distributed rotations.

use crate::rng::Rng;

/// RELION's Euler angles of one particle, degrees.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct EulerAngles {
    /// First rotation about z, `_rlnAngleRot`.
    pub rot: f64,
    /// Rotation about the new y, `_rlnAngleTilt`, in [0, 180].
    pub tilt: f64,
    /// Last rotation about z, `_rlnAnglePsi`.
    pub psi: f64,
}

/// A uniformly distributed random orientation (uniform on SO(3), see the module docs).
pub fn random_orientation(rng: &mut Rng) -> EulerAngles {
    let rot = 360.0 * rng.uniform() - 180.0;
    let tilt = (2.0 * rng.uniform() - 1.0)
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees();
    let psi = 360.0 * rng.uniform() - 180.0;
    EulerAngles { rot, tilt, psi }
}

/// RELION's rotation matrix A (row-major, `A[row][col]`) of Euler angles in degrees
/// (`Euler_angles2matrix`); a specimen point r appears at A·r (see the module docs).
pub fn relion_matrix(angles: &EulerAngles) -> [[f64; 3]; 3] {
    let (sa, ca) = angles.rot.to_radians().sin_cos();
    let (sb, cb) = angles.tilt.to_radians().sin_cos();
    let (sg, cg) = angles.psi.to_radians().sin_cos();
    let cc = cb * ca;
    let cs = cb * sa;
    let sc = sb * ca;
    let ss = sb * sa;
    [
        [cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
        [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
        [sc, ss, cb],
    ]
}

/// A·r for a row-major 3×3 matrix.
pub fn apply(a: &[[f64; 3]; 3], r: [f64; 3]) -> [f64; 3] {
    [
        a[0][0] * r[0] + a[0][1] * r[1] + a[0][2] * r[2],
        a[1][0] * r[0] + a[1][1] * r[1] + a[1][2] * r[2],
        a[2][0] * r[0] + a[2][1] * r[1] + a[2][2] * r[2],
    ]
}

/// Aᵀ·r (the inverse rotation) for a row-major 3×3 matrix.
pub fn apply_transpose(a: &[[f64; 3]; 3], r: [f64; 3]) -> [f64; 3] {
    [
        a[0][0] * r[0] + a[1][0] * r[1] + a[2][0] * r[2],
        a[0][1] * r[0] + a[1][1] * r[1] + a[2][1] * r[2],
        a[0][2] * r[0] + a[1][2] * r[1] + a[2][2] * r[2],
    ]
}

/// One placed particle: centre in pixels of the micrograph (x = column, y = row, as RELION's
/// `_rlnCoordinateX/Y`), height in the ice in Å (0 = slab mid-plane, + towards the source),
/// and orientation.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Placement {
    /// Centre column, pixels.
    pub x_px: f64,
    /// Centre row, pixels.
    pub y_px: f64,
    /// Height above the slab's mid-plane, Å.
    pub z_angstrom: f64,
    /// Orientation.
    pub angles: EulerAngles,
}

/// Why particles could not be placed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlacementError {
    /// The particle does not fit in the field at all.
    #[error(
        "a particle of radius {radius_px:.1} px does not fit in a {size} px micrograph (give a larger --size or a coarser --pixel-size-angstrom)"
    )]
    TooLarge {
        /// Particle radius, pixels.
        radius_px: f64,
        /// Micrograph side, pixels.
        size: usize,
    },
    /// Random placement did not find room for all particles.
    #[error(
        "could place only {placed} of {wanted} particles of radius {radius_px:.1} px without overlap in a {size} px micrograph (ask for fewer --particles or a larger --size)"
    )]
    Crowded {
        /// Particles placed.
        placed: usize,
        /// Particles asked for.
        wanted: usize,
        /// Particle radius, pixels.
        radius_px: f64,
        /// Micrograph side, pixels.
        size: usize,
    },
}

/// Places `count` particles of radius `radius_px` (pixels) at random in a `size × size`
/// micrograph: centres uniform over the positions where the whole particle lies inside the
/// image, no two closer than 2·radius in projection (so they do not overlap in 3D either),
/// heights uniform within the ice where the particle fits (`ice_thickness_angstrom`; at the
/// mid-plane when it does not), orientations uniform on SO(3). Rejection sampling, at most
/// 1000 tries per particle.
///
/// # Errors
/// [`PlacementError`] when the particle is larger than the field or the field is too crowded.
pub fn place_particles(
    rng: &mut Rng,
    count: usize,
    radius_px: f64,
    size: usize,
    pixel_size_angstrom: f64,
    ice_thickness_angstrom: f64,
) -> Result<Vec<Placement>, PlacementError> {
    let span = size as f64 - 1.0 - 2.0 * radius_px;
    if count > 0 && span < 0.0 {
        return Err(PlacementError::TooLarge { radius_px, size });
    }
    let radius_angstrom = radius_px * pixel_size_angstrom;
    let free_z = (0.5 * ice_thickness_angstrom - radius_angstrom).max(0.0);
    let mut placed: Vec<Placement> = Vec::with_capacity(count);
    for _ in 0..count {
        let mut found = None;
        for _ in 0..1000 {
            let x = radius_px + span * rng.uniform();
            let y = radius_px + span * rng.uniform();
            let clear = placed.iter().all(|p| {
                let (dx, dy) = (p.x_px - x, p.y_px - y);
                dx * dx + dy * dy >= 4.0 * radius_px * radius_px
            });
            if clear {
                found = Some((x, y));
                break;
            }
        }
        let Some((x_px, y_px)) = found else {
            return Err(PlacementError::Crowded {
                placed: placed.len(),
                wanted: count,
                radius_px,
                size,
            });
        };
        let z_angstrom = free_z * (2.0 * rng.uniform() - 1.0);
        let angles = random_orientation(rng);
        placed.push(Placement {
            x_px,
            y_px,
            z_angstrom,
            angles,
        });
    }
    Ok(placed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relion_matrix_is_a_rotation_and_matches_known_cases() {
        let a = relion_matrix(&EulerAngles {
            rot: 31.0,
            tilt: 67.0,
            psi: -122.0,
        });
        // Orthonormal with determinant +1.
        for (i, row_i) in a.iter().enumerate() {
            for (j, row_j) in a.iter().enumerate() {
                let dot: f64 = row_i.iter().zip(row_j).map(|(x, y)| x * y).sum();
                assert!((dot - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        let det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
        assert!((det - 1.0).abs() < 1e-12);
        // rot = 90° alone maps x to −y in RELION's convention (A = Rz(−90°)).
        let r = relion_matrix(&EulerAngles {
            rot: 90.0,
            tilt: 0.0,
            psi: 0.0,
        });
        let v = apply(&r, [1.0, 0.0, 0.0]);
        assert!((v[0]).abs() < 1e-12 && (v[1] + 1.0).abs() < 1e-12);
        // tilt = 90° sends the specimen's z axis to the image's −x.
        let t = relion_matrix(&EulerAngles {
            rot: 0.0,
            tilt: 90.0,
            psi: 0.0,
        });
        let v = apply(&t, [0.0, 0.0, 1.0]);
        assert!((v[0] + 1.0).abs() < 1e-12 && v[2].abs() < 1e-12);
    }

    #[test]
    fn random_orientations_are_uniform_on_so3() {
        // Haar measure: E[tr A] = 0 and E[(tr A)²] = 1; the beam direction in the specimen
        // frame (Aᵀ z) is uniform on the sphere (mean 0, each squared component 1/3).
        let mut rng = Rng::new(7);
        let n = 40_000;
        let (mut tr, mut tr2) = (0.0, 0.0);
        let mut zz = [0.0; 3];
        let mut z2 = [0.0; 3];
        for _ in 0..n {
            let a = relion_matrix(&random_orientation(&mut rng));
            let t = a[0][0] + a[1][1] + a[2][2];
            tr += t;
            tr2 += t * t;
            let d = apply_transpose(&a, [0.0, 0.0, 1.0]);
            for ((s, s2), v) in zz.iter_mut().zip(z2.iter_mut()).zip(d) {
                *s += v;
                *s2 += v * v;
            }
        }
        let n = n as f64;
        assert!((tr / n).abs() < 0.02, "E[tr] = {}", tr / n);
        assert!((tr2 / n - 1.0).abs() < 0.04, "E[tr²] = {}", tr2 / n);
        for (s, s2) in zz.iter().zip(&z2) {
            assert!((s / n).abs() < 0.015);
            assert!((s2 / n - 1.0 / 3.0).abs() < 0.01);
        }
    }

    #[test]
    fn placements_do_not_overlap_and_stay_inside() {
        let mut rng = Rng::new(3);
        let p = place_particles(&mut rng, 12, 20.0, 256, 1.0, 300.0).unwrap();
        assert_eq!(p.len(), 12);
        for (i, a) in p.iter().enumerate() {
            assert!(a.x_px >= 20.0 && a.x_px <= 235.0 && a.y_px >= 20.0 && a.y_px <= 235.0);
            assert!(a.z_angstrom.abs() <= 130.0);
            for b in &p[i + 1..] {
                assert!(((a.x_px - b.x_px).powi(2) + (a.y_px - b.y_px).powi(2)).sqrt() >= 40.0);
            }
        }
        assert!(matches!(
            place_particles(&mut rng, 100, 40.0, 256, 1.0, 300.0),
            Err(PlacementError::Crowded { .. })
        ));
        assert!(matches!(
            place_particles(&mut rng, 1, 200.0, 256, 1.0, 300.0),
            Err(PlacementError::TooLarge { .. })
        ));
    }
}
