//! The contrast transfer function (CTF) of a micrograph: one type, [`Ctf`], used by the
//! power-spectrum ring overlay and by CTF phase flipping (Palovcak et al. 2020, supplement
//! S2.1), with readers for RELION STAR files and CTFFIND4 output.
//!
//! # Conventions (RELION's, `ctf.h`)
//! - Defocus U and V are in Å, positive for underfocus; `defocus_angle_degrees` is the angle of
//!   the U axis from the x axis of the Fourier plane (counter-clockwise towards +y). Along a
//!   direction at angle θ (radians, `atan2(sy, sx)`), the defocus is
//!   Δz(θ) = (U + V)/2 + (U − V)/2 · cos(2(θ − angle)), so Δz = U along `angle` and V at 90°.
//! - Relativistic electron wavelength, V the acceleration voltage in volts:
//!   λ = 12.2643247 / √(V · (1 + 0.978466·10⁻⁶ · V)) Å (0.019687 Å at 300 kV).
//! - Phase aberration, s the spatial frequency in Å⁻¹, Cs in Å (mm × 10⁷), φ the additional
//!   phase shift (phase plate) and Q the amplitude contrast fraction:
//!   χ(s, θ) = −π λ Δz(θ) s² + (π/2) Cs λ³ s⁴ − φ − arctan(Q / √(1 − Q²)).
//! - CTF(s, θ) = −sin χ(s, θ). At s = 0 it equals sin(φ + arcsin Q) (= Q without phase shift),
//!   and for underfocus it is positive at low frequencies (RELION's sign; no envelope, no
//!   B-factor).
//!
//! Frequencies in the image plane: column x and row y of an image map to (sx, sy) in Å⁻¹ as
//! described at [`Ctf::fill_half_plane`] and [`Ctf::fill_2d`]; the angle θ is measured from the
//! +x (column) axis towards +y (increasing row index).
//!
//! # Files
//! This file holds the [`Ctf`] type, its formulas and phase flipping; `readers` reads the
//! parameters of micrographs from RELION STAR files, CTFFIND4 output and cryoSPARC exposures
//! `.cs` files ([`MicrographCtf`], re-exported here with its readers).

mod cryosparc;
mod readers;

pub use cryosparc::read_ctf_cs;
pub use readers::{
    MicrographCtf, find_micrograph_ctf, parse_ctf_star, parse_ctffind, read_ctf_file,
    read_ctf_star, read_ctffind,
};

use std::f64::consts::PI;

use crate::io::star::StarError;

/// Errors validating CTF parameters or reading them from files.
#[derive(Debug, thiserror::Error)]
pub enum CtfError {
    /// A parameter is out of its physical range (non-finite, voltage ≤ 0, amplitude contrast
    /// outside [0, 1)).
    #[error("invalid CTF parameter {what} = {value} ({why})")]
    InvalidParameter {
        /// The parameter.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, in words.
        why: &'static str,
    },
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] crate::io::IoError),
    /// The STAR text is malformed, or a value is not a number.
    #[error("{source}")]
    Star {
        /// The STAR reader's error.
        #[from]
        source: StarError,
    },
    /// A column the CTF needs is absent.
    #[error("STAR block `data_{block}` has no `_{column}` column: {hint}")]
    MissingColumn {
        /// The block.
        block: String,
        /// The label.
        column: String,
        /// Where the value is usually found.
        hint: &'static str,
    },
    /// No block of the STAR file holds per-micrograph CTF parameters.
    #[error(
        "no block with `_rlnDefocusU` and `_rlnMicrographName` (expected `data_micrographs` as in RELION's micrographs_ctf.star, or a RELION 3.0 table); blocks found: {0}"
    )]
    NoCtfTable(String),
    /// A row names an optics group that `data_optics` does not define.
    #[error("micrograph row {row}: optics group {group} is not in `data_optics`")]
    UnknownOpticsGroup {
        /// Row of the micrograph table, from 1.
        row: usize,
        /// The group number.
        group: i64,
    },
    /// A cryoSPARC `.cs` file without the fields of an exposure CTF (the message names the
    /// file and the field).
    #[error("{0}")]
    Cryosparc(String),
    /// A CTFFIND4 output file that cannot be read.
    #[error("CTFFIND output, line {line}: {message}")]
    Ctffind {
        /// Line, from 1 (0 for the header as a whole).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// CTF parameters of one micrograph (RELION conventions; see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ctf {
    /// Defocus along the U axis, Å (positive = underfocus), `_rlnDefocusU`.
    pub defocus_u_angstrom: f64,
    /// Defocus along the V axis (perpendicular to U), Å, `_rlnDefocusV`.
    pub defocus_v_angstrom: f64,
    /// Angle of the U axis from the x axis, degrees, `_rlnDefocusAngle`.
    pub defocus_angle_degrees: f64,
    /// Acceleration voltage, kV, `_rlnVoltage`.
    pub voltage_kv: f64,
    /// Spherical aberration, mm, `_rlnSphericalAberration`.
    pub spherical_aberration_mm: f64,
    /// Amplitude contrast, fraction in [0, 1), `_rlnAmplitudeContrast`.
    pub amplitude_contrast: f64,
    /// Additional phase shift (phase plate), degrees, `_rlnPhaseShift`.
    pub phase_shift_degrees: f64,
}

/// Relativistic electron wavelength in Å for an acceleration voltage in kV:
/// λ = 12.2643247 / √(V (1 + 0.978466·10⁻⁶ V)), V in volts (h/√(2 m₀ e V (1 + eV/(2 m₀ c²)))).
pub fn electron_wavelength_angstrom(voltage_kv: f64) -> f64 {
    let v = voltage_kv * 1e3;
    12.264_324_7 / (v * (1.0 + 0.978_466e-6 * v)).sqrt()
}

/// Precomputed terms of χ for fast evaluation.
#[derive(Clone, Copy)]
struct Terms {
    /// π λ (Å).
    k1: f64,
    /// (π/2) Cs λ³ (Å³).
    k2: f64,
    /// φ + arctan(Q/√(1−Q²)) (radians).
    k3: f64,
    mean_defocus: f64,
    half_difference: f64,
    angle: f64,
}

impl Terms {
    #[inline]
    fn defocus(&self, theta: f64) -> f64 {
        self.mean_defocus + self.half_difference * (2.0 * (theta - self.angle)).cos()
    }

    /// χ for s² (Å⁻²) along θ.
    #[inline]
    fn chi(&self, s2: f64, theta: f64) -> f64 {
        -self.k1 * self.defocus(theta) * s2 + self.k2 * s2 * s2 - self.k3
    }

    #[inline]
    fn value(&self, sx: f64, sy: f64) -> f64 {
        let s2 = sx * sx + sy * sy;
        let theta = if s2 > 0.0 { sy.atan2(sx) } else { 0.0 };
        -self.chi(s2, theta).sin()
    }
}

impl Ctf {
    /// Checks every parameter: all finite, voltage > 0, amplitude contrast in [0, 1).
    ///
    /// # Errors
    /// [`CtfError::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), CtfError> {
        let finite = [
            ("defocus U (Å)", self.defocus_u_angstrom),
            ("defocus V (Å)", self.defocus_v_angstrom),
            ("defocus angle (°)", self.defocus_angle_degrees),
            ("spherical aberration (mm)", self.spherical_aberration_mm),
            ("phase shift (°)", self.phase_shift_degrees),
        ];
        for (what, value) in finite {
            if !value.is_finite() {
                return Err(CtfError::InvalidParameter {
                    what,
                    value,
                    why: "must be a finite number",
                });
            }
        }
        if !(self.voltage_kv.is_finite() && self.voltage_kv > 0.0) {
            return Err(CtfError::InvalidParameter {
                what: "voltage (kV)",
                value: self.voltage_kv,
                why: "must be > 0",
            });
        }
        if !(self.amplitude_contrast.is_finite() && (0.0..1.0).contains(&self.amplitude_contrast)) {
            return Err(CtfError::InvalidParameter {
                what: "amplitude contrast",
                value: self.amplitude_contrast,
                why: "must be a fraction in [0, 1)",
            });
        }
        Ok(())
    }

    /// Electron wavelength in Å for this voltage ([`electron_wavelength_angstrom`]).
    pub fn wavelength_angstrom(&self) -> f64 {
        electron_wavelength_angstrom(self.voltage_kv)
    }

    fn terms(&self) -> Terms {
        let lambda = self.wavelength_angstrom();
        let cs = self.spherical_aberration_mm * 1e7;
        let q = self.amplitude_contrast;
        Terms {
            k1: PI * lambda,
            k2: 0.5 * PI * cs * lambda.powi(3),
            k3: self.phase_shift_degrees.to_radians() + (q / (1.0 - q * q).sqrt()).atan(),
            mean_defocus: 0.5 * (self.defocus_u_angstrom + self.defocus_v_angstrom),
            half_difference: 0.5 * (self.defocus_u_angstrom - self.defocus_v_angstrom),
            angle: self.defocus_angle_degrees.to_radians(),
        }
    }

    /// Defocus (Å, positive = underfocus) along the direction at `angle_rad` from the x axis:
    /// (U + V)/2 + (U − V)/2 · cos(2(θ − angle)).
    pub fn defocus_at(&self, angle_rad: f64) -> f64 {
        self.terms().defocus(angle_rad)
    }

    /// The phase aberration χ (radians) at spatial frequency magnitude `s` (Å⁻¹) along
    /// `angle_rad`, RELION's sign (see the module documentation); CTF = −sin χ.
    pub fn chi(&self, s: f64, angle_rad: f64) -> f64 {
        self.terms().chi(s * s, angle_rad)
    }

    /// The CTF (−sin χ, in [−1, 1]) at spatial frequency (`sx`, `sy`) in Å⁻¹; the angle is
    /// `atan2(sy, sx)`.
    pub fn value(&self, sx: f64, sy: f64) -> f64 {
        self.terms().value(sx, sy)
    }

    /// The CTF on the half-plane layout of the crate's real 2D FFT (`fourier::rfft2`) of a
    /// `width × height` image with pixel size `pixel_size_angstrom` (Å/px).
    ///
    /// Length `(width/2 + 1) · height`, column-major in kx: entry `[kx * height + ky]` is the
    /// CTF at sx = kx / (width · p), sy = k'y / (height · p) Å⁻¹, kx = 0..=width/2, where
    /// k'y = ky for ky ≤ height/2 and ky − height above (negative frequencies). The CTF is
    /// even (CTF(−s) = CTF(s)), so the omitted half is the mirror. Empty when a size is 0 or
    /// the pixel size is not finite and > 0.
    pub fn fill_half_plane(
        &self,
        width: usize,
        height: usize,
        pixel_size_angstrom: f64,
    ) -> Vec<f32> {
        if width == 0
            || height == 0
            || !(pixel_size_angstrom.is_finite() && pixel_size_angstrom > 0.0)
        {
            return Vec::new();
        }
        let t = self.terms();
        let hw = width / 2 + 1;
        let dx = 1.0 / (width as f64 * pixel_size_angstrom);
        let dy = 1.0 / (height as f64 * pixel_size_angstrom);
        let mut out = Vec::with_capacity(hw * height);
        for kx in 0..hw {
            let sx = kx as f64 * dx;
            for ky in 0..height {
                let k = if ky <= height / 2 {
                    ky as f64
                } else {
                    ky as f64 - height as f64
                };
                out.push(t.value(sx, k * dy) as f32);
            }
        }
        out
    }

    /// The CTF as a centred `width × height` image for display over a power spectrum (the
    /// layout of `fourier::power_spectrum_linear`): row-major, DC at (x, y) = (width/2,
    /// height/2), pixel (x, y) at sx = (x − width/2)/(width · p), sy = (y − height/2)/(height · p)
    /// Å⁻¹. Values in [−1, 1]; square them for a power-spectrum model. The image's pixel size is
    /// the real-space `pixel_size_angstrom`, as for the spectra. A zero-filled image when the
    /// pixel size is not finite and > 0.
    pub fn fill_2d(
        &self,
        width: usize,
        height: usize,
        pixel_size_angstrom: f64,
    ) -> crate::image::Image {
        let mut img = crate::image::Image::zeros(width, height);
        img.pixel_size_angstrom = Some(pixel_size_angstrom as f32);
        if !(pixel_size_angstrom.is_finite() && pixel_size_angstrom > 0.0) {
            img.pixel_size_angstrom = None;
            return img;
        }
        let t = self.terms();
        let dx = 1.0 / (width.max(1) as f64 * pixel_size_angstrom);
        let dy = 1.0 / (height.max(1) as f64 * pixel_size_angstrom);
        for y in 0..height {
            let sy = (y as f64 - (height / 2) as f64) * dy;
            for x in 0..width {
                let sx = (x as f64 - (width / 2) as f64) * dx;
                img.data[y * width + x] = t.value(sx, sy) as f32;
            }
        }
        img
    }

    /// The first `n` zeros of the CTF (Thon rings) along the direction `angle_rad` from the x
    /// axis, as spatial frequencies in Å⁻¹, increasing. A zero at s = 0 (no amplitude contrast
    /// and no phase shift) is not counted.
    ///
    /// Analytic: with u = s², χ(u) = a u² + b u + c is a parabola (a = (π/2) Cs λ³,
    /// b = −π λ Δz(θ), c = −φ − arctan(Q/√(1−Q²))); zeros are the u > 0 where χ = mπ, m
    /// integer. χ is monotonic on [0, u*] and on [u*, ∞) (u* = −b/2a when positive), so the
    /// multiples of π are visited in order on each piece. Returns fewer than `n` values only
    /// when χ is bounded (Cs = 0 and Δz = 0).
    pub fn zeros_along(&self, angle_rad: f64, n: usize) -> Vec<f64> {
        let t = self.terms();
        let a = t.k2;
        let b = -t.k1 * t.defocus(angle_rad);
        let c = -t.k3;
        let chi = |u: f64| (a * u + b) * u + c;
        // Pieces of monotonicity in u.
        let vertex = if a != 0.0 { -b / (2.0 * a) } else { f64::NAN };
        let mut pieces: Vec<(f64, f64)> = Vec::new();
        if vertex.is_finite() && vertex > 0.0 {
            pieces.push((0.0, vertex));
            pieces.push((vertex, f64::INFINITY));
        } else {
            pieces.push((0.0, f64::INFINITY));
        }
        let mut out: Vec<f64> = Vec::with_capacity(n);
        for (u0, u1) in pieces {
            if out.len() >= n {
                break;
            }
            let chi0 = chi(u0);
            // Direction of χ on this piece.
            let probe = if u1.is_finite() {
                chi(0.5 * (u0 + u1))
            } else {
                chi(u0 + 1.0)
            };
            let increasing = probe > chi0;
            if probe == chi0 {
                continue; // constant χ: no crossings
            }
            let chi1 = if u1.is_finite() {
                chi(u1)
            } else if increasing {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
            // First multiple of π strictly past chi0 (a zero exactly at u0 is counted only
            // when u0 > 0, i.e. at a vertex that touches a multiple of π).
            let mut m = if increasing {
                (chi0 / PI).floor() + 1.0
            } else {
                (chi0 / PI).ceil() - 1.0
            };
            if u0 > 0.0 && (chi0 / PI).fract() == 0.0 {
                m = chi0 / PI;
            }
            loop {
                if out.len() >= n {
                    break;
                }
                let target = m * PI;
                let past_end = if increasing {
                    target > chi1
                } else {
                    target < chi1
                };
                if past_end {
                    break;
                }
                let u = solve_on_piece(a, b, c - target, u0, u1, vertex);
                if let Some(u) = u.filter(|u| *u > 0.0 && u.is_finite())
                    && out.last().is_none_or(|&last| u.sqrt() > last)
                {
                    out.push(u.sqrt());
                }
                m += if increasing { 1.0 } else { -1.0 };
            }
        }
        out
    }
}

/// The root of a u² + b u + c = 0 inside [u0, u1] on a piece where the parabola is monotonic
/// (left of the vertex, right of it, or the whole half-line).
fn solve_on_piece(a: f64, b: f64, c: f64, u0: f64, u1: f64, vertex: f64) -> Option<f64> {
    if a == 0.0 {
        return (b != 0.0).then(|| -c / b);
    }
    let disc = b * b - 4.0 * a * c;
    if disc < 0.0 {
        return None;
    }
    let r = disc.sqrt() / (2.0 * a.abs());
    let v = -b / (2.0 * a);
    // Left piece of a vertex at v > 0: u = v − r; right piece (or whole line): the root ≥ u0.
    let candidates = [v - r, v + r];
    let lies = |u: f64| u >= u0 - 1e-15 && u <= u1 * (1.0 + 1e-12) + 1e-15;
    if vertex.is_finite() && vertex > 0.0 && u1.is_finite() {
        return Some(v - r).filter(|u| lies(*u));
    }
    candidates
        .into_iter()
        .filter(|u| lies(*u))
        .fold(None, |best: Option<f64>, u| {
            Some(best.map_or(u, |b| b.min(u)))
        })
}
