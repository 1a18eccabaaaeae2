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

use std::f64::consts::PI;
use std::path::Path;

use crate::io::star::{self, Block, StarError, StarFile};

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

/// CTF parameters of one micrograph read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct MicrographCtf {
    /// `_rlnMicrographName` (STAR), or the input file named in a CTFFIND header, with
    /// `#index` appended for the rows of a multi-micrograph CTFFIND file.
    pub micrograph_name: String,
    /// The parameters.
    pub ctf: Ctf,
    /// Pixel size of the micrograph in Å/px when the file gives it (`_rlnMicrographPixelSize`
    /// of the optics group; RELION 3.0: `_rlnDetectorPixelSize` (µm) · 10⁴ /
    /// `_rlnMagnification`; CTFFIND: the header's pixel size).
    pub pixel_size_angstrom: Option<f64>,
}

const HINT_OPTICS: &str =
    "RELION 3.1+ keeps it in `data_optics` (joined by `_rlnOpticsGroup`), RELION 3.0 in every row";

/// Reads per-micrograph CTF parameters from a RELION STAR file (see [`parse_ctf_star`]).
///
/// # Errors
/// [`CtfError::Io`] when the file cannot be read or is not STAR; otherwise as
/// [`parse_ctf_star`].
pub fn read_ctf_star(path: &Path) -> Result<Vec<MicrographCtf>, CtfError> {
    let file = star::read(path)?;
    ctf_from_star(&file)
}

/// Parses per-micrograph CTF parameters from RELION STAR text.
///
/// Accepted layouts:
/// - RELION 3.1+ `micrographs_ctf.star`: `data_optics` with `_rlnOpticsGroup`, `_rlnVoltage`,
///   `_rlnSphericalAberration`, `_rlnAmplitudeContrast` and optionally
///   `_rlnMicrographPixelSize`; `data_micrographs` with `_rlnMicrographName`,
///   `_rlnDefocusU`, `_rlnDefocusV`, `_rlnDefocusAngle`, optionally `_rlnPhaseShift`
///   (degrees, 0 when absent) and `_rlnOpticsGroup` (1 when absent).
/// - RELION 3.0 (no optics block): one table (`data_`, `data_images`, …) whose rows carry
///   voltage, Cs and amplitude contrast themselves, and the pixel size as
///   `_rlnDetectorPixelSize` (µm) and `_rlnMagnification`, or `_rlnMicrographPixelSize`.
/// - A particles table (`data_particles`) works too: one entry per distinct micrograph name
///   (its first row).
///
/// Per-row columns override optics-group values when both exist.
///
/// # Errors
/// [`CtfError::Star`] for malformed STAR or non-numeric values (with block, column, row and
/// line), [`CtfError::NoCtfTable`] when no block has `_rlnDefocusU` and `_rlnMicrographName`,
/// [`CtfError::MissingColumn`] naming a needed column that is absent,
/// [`CtfError::UnknownOpticsGroup`], [`CtfError::InvalidParameter`] for values out of range.
pub fn parse_ctf_star(text: &str) -> Result<Vec<MicrographCtf>, CtfError> {
    ctf_from_star(&star::parse(text)?)
}

/// Optics-group values: voltage, Cs, amplitude contrast, pixel size.
#[derive(Clone, Copy, Default)]
struct Optics {
    voltage: Option<f64>,
    cs: Option<f64>,
    ac: Option<f64>,
    pixel: Option<f64>,
}

fn opt_col(block: &Block, label: &str, row: usize) -> Result<Option<f64>, CtfError> {
    if block.has_column(label) {
        Ok(block.f64_opt(label, row)?)
    } else {
        Ok(None)
    }
}

fn ctf_from_star(file: &StarFile) -> Result<Vec<MicrographCtf>, CtfError> {
    let table = file
        .blocks
        .iter()
        .filter(|b| b.name != "optics")
        .find(|b| b.has_column("rlnDefocusU") && b.has_column("rlnMicrographName"))
        .ok_or_else(|| {
            CtfError::NoCtfTable(
                file.blocks
                    .iter()
                    .map(|b| format!("data_{}", b.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    let missing = |column: &str, hint: &'static str| CtfError::MissingColumn {
        block: table.name.clone(),
        column: column.to_string(),
        hint,
    };
    for col in ["rlnDefocusV", "rlnDefocusAngle"] {
        if !table.has_column(col) {
            return Err(missing(col, "every CTF table has defocus U, V and angle"));
        }
    }
    // Optics groups (RELION 3.1+).
    let mut groups: Vec<(i64, Optics)> = Vec::new();
    if let Some(optics) = file.block("optics") {
        for r in 0..optics.len() {
            let id = if optics.has_column("rlnOpticsGroup") {
                optics.i64("rlnOpticsGroup", r)?
            } else {
                r as i64 + 1
            };
            groups.push((
                id,
                Optics {
                    voltage: opt_col(optics, "rlnVoltage", r)?,
                    cs: opt_col(optics, "rlnSphericalAberration", r)?,
                    ac: opt_col(optics, "rlnAmplitudeContrast", r)?,
                    pixel: opt_col(optics, "rlnMicrographPixelSize", r)?,
                },
            ));
        }
    }
    let mut out: Vec<MicrographCtf> = Vec::new();
    for r in 0..table.len() {
        let name = table.get("rlnMicrographName", r)?.to_string();
        if out.iter().any(|m| m.micrograph_name == name) {
            continue;
        }
        let optics = if groups.is_empty() {
            Optics::default()
        } else {
            let g = if table.has_column("rlnOpticsGroup") {
                table.i64("rlnOpticsGroup", r)?
            } else {
                1
            };
            groups
                .iter()
                .find(|(id, _)| *id == g)
                .map(|(_, o)| *o)
                .ok_or(CtfError::UnknownOpticsGroup {
                    row: r + 1,
                    group: g,
                })?
        };
        let pick = |label: &'static str, group_value: Option<f64>| -> Result<f64, CtfError> {
            opt_col(table, label, r)?
                .or(group_value)
                .ok_or_else(|| missing(label, HINT_OPTICS))
        };
        let voltage = pick("rlnVoltage", optics.voltage)?;
        let cs = pick("rlnSphericalAberration", optics.cs)?;
        let ac = pick("rlnAmplitudeContrast", optics.ac)?;
        let pixel = match opt_col(table, "rlnMicrographPixelSize", r)?.or(optics.pixel) {
            Some(p) => Some(p),
            None => match (
                opt_col(table, "rlnDetectorPixelSize", r)?,
                opt_col(table, "rlnMagnification", r)?,
            ) {
                (Some(det_um), Some(mag)) if mag > 0.0 => Some(det_um * 1e4 / mag),
                _ => None,
            },
        };
        let ctf = Ctf {
            defocus_u_angstrom: table.f64("rlnDefocusU", r)?,
            defocus_v_angstrom: table.f64("rlnDefocusV", r)?,
            defocus_angle_degrees: table.f64("rlnDefocusAngle", r)?,
            voltage_kv: voltage,
            spherical_aberration_mm: cs,
            amplitude_contrast: ac,
            phase_shift_degrees: opt_col(table, "rlnPhaseShift", r)?.unwrap_or(0.0),
        };
        ctf.validate()?;
        out.push(MicrographCtf {
            micrograph_name: name,
            ctf,
            pixel_size_angstrom: pixel.filter(|p| p.is_finite() && *p > 0.0),
        });
    }
    Ok(out)
}

/// Reads a CTFFIND4 output text file (see [`parse_ctffind`]).
///
/// # Errors
/// [`CtfError::Io`] when it cannot be read, otherwise as [`parse_ctffind`].
pub fn read_ctffind(path: &Path) -> Result<Vec<MicrographCtf>, CtfError> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::io::IoError::Os {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse_ctffind(&text)
}

/// Finds the number after `key` (case-insensitive) in a header line, e.g. `Pixel size:` in
/// `# Pixel size: 1.000 Angstroms ; acceleration voltage: 300.0 keV`.
fn header_number(header: &str, key: &str) -> Option<f64> {
    let lower = header.to_ascii_lowercase();
    let at = lower.find(&key.to_ascii_lowercase())? + key.len();
    header[at..]
        .split(|c: char| c.is_whitespace() || c == ';')
        .find(|t| !t.is_empty())
        .and_then(|t| t.parse::<f64>().ok())
}

/// Parses CTFFIND4's output text (`diagnostic_output.txt`).
///
/// Header comment lines (`#`) must give `Pixel size:` (Å), `acceleration voltage:` (keV),
/// `spherical aberration:` (mm) and `amplitude contrast:`; `Input file:` names the
/// micrograph when present. Each data line has at least 7 numbers: micrograph number,
/// defocus 1 (Å), defocus 2 (Å), azimuth of astigmatism (degrees), additional phase shift
/// (radians), cross-correlation, spacing up to which rings were fit (Å); extra columns
/// (CTFFIND 4.1/5) are ignored. Defocus 1/2 and the azimuth map to RELION's U/V/angle
/// unchanged (RELION imports CTFFIND this way); the phase shift is converted to degrees.
///
/// # Errors
/// [`CtfError::Ctffind`] naming the missing header field or the bad line,
/// [`CtfError::InvalidParameter`] for out-of-range values.
pub fn parse_ctffind(text: &str) -> Result<Vec<MicrographCtf>, CtfError> {
    let header: String = text
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let need = |key: &str| {
        header_number(&header, key).ok_or_else(|| CtfError::Ctffind {
            line: 0,
            message: format!(
                "the header has no `{key}` value (expected CTFFIND4's `# Pixel size: … ; acceleration voltage: … keV ; spherical aberration: … mm ; amplitude contrast: …` line)"
            ),
        })
    };
    let pixel = need("pixel size:")?;
    let voltage = need("acceleration voltage:")?;
    let cs = need("spherical aberration:")?;
    let ac = need("amplitude contrast:")?;
    let input = header
        .lines()
        .find_map(|l| {
            let lower = l.to_ascii_lowercase();
            let at = lower.find("input file:")? + "input file:".len();
            l[at..].split(';').next().map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let values: Result<Vec<f64>, _> = t.split_whitespace().map(str::parse::<f64>).collect();
        let values = values.map_err(|e| CtfError::Ctffind {
            line: i + 1,
            message: format!("`{t}` is not a row of numbers ({e})"),
        })?;
        if values.len() < 7 {
            return Err(CtfError::Ctffind {
                line: i + 1,
                message: format!(
                    "{} columns, expected at least 7 (number, defocus 1, defocus 2, azimuth, phase shift, cross-correlation, spacing)",
                    values.len()
                ),
            });
        }
        rows.push(values);
    }
    if rows.is_empty() {
        return Err(CtfError::Ctffind {
            line: 0,
            message: "no data lines after the header".into(),
        });
    }
    let multi = rows.len() > 1;
    rows.into_iter()
        .map(|v| {
            let ctf = Ctf {
                defocus_u_angstrom: v[1],
                defocus_v_angstrom: v[2],
                defocus_angle_degrees: v[3],
                voltage_kv: voltage,
                spherical_aberration_mm: cs,
                amplitude_contrast: ac,
                phase_shift_degrees: v[4].to_degrees(),
            };
            ctf.validate()?;
            let micrograph_name = if multi {
                format!("{input}#{}", v[0])
            } else {
                input.clone()
            };
            Ok(MicrographCtf {
                micrograph_name,
                ctf,
                pixel_size_angstrom: (pixel.is_finite() && pixel > 0.0).then_some(pixel),
            })
        })
        .collect()
}
