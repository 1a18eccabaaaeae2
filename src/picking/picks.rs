//! What a session holds: picks ([`SessionPick`]) per micrograph ([`SessionMicrograph`]) and the
//! settings saved with them ([`PickSettings`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::io::coords::Pick;

/// One picked particle in a session: its centre in full-size micrograph pixels and, for
/// imported autopicks, the picker's figure of merit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionPick {
    /// Centre x (column), full-size pixels.
    pub x: f64,
    /// Centre y (row), full-size pixels.
    pub y: f64,
    /// Figure of merit of an imported autopick (`_rlnAutopickFigureOfMerit`, Topaz's score);
    /// `None` for manual picks, which are always kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Section (z, voxels) for picks in a tomogram; `None` on micrographs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<f64>,
}

impl SessionPick {
    /// A manual pick at `(x, y)` (full-size pixels).
    pub fn manual(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            score: None,
            z: None,
        }
    }

    /// Whether the pick is kept at the autopick threshold `threshold` (manual picks always).
    pub fn passes(&self, threshold: f64) -> bool {
        self.score.is_none_or(|s| s >= threshold)
    }

    /// As a coordinate-file pick.
    pub fn to_pick(self) -> Pick {
        let mut p = Pick::new(self.x, self.y);
        p.score = self.score;
        p.z = self.z;
        p
    }

    /// From a coordinate-file pick (z, size and filament are dropped).
    pub fn from_pick(p: &Pick) -> Self {
        Self {
            x: p.x,
            y: p.y,
            score: p.score,
            z: p.z,
        }
    }
}

/// One micrograph of a session with its picks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionMicrograph {
    /// The micrograph file.
    pub path: PathBuf,
    /// Its picks, in the order they were made.
    pub picks: Vec<SessionPick>,
}

impl SessionMicrograph {
    /// The micrograph's file name without folders.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}

/// Picking settings saved with the session.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PickSettings {
    /// Extraction box size in full-size pixels (exported with EMAN/crYOLO boxes).
    pub box_size_px: f64,
    /// Particle diameter in Å: the circle drawn and the radius within which a click removes
    /// or grabs a pick.
    pub particle_diameter_angstrom: f64,
    /// Draw circles (true) or boxes (false).
    pub circles: bool,
    /// Autopicks with a figure of merit below this are hidden and not exported (−∞, which
    /// JSON writes as `null`, keeps all).
    #[serde(deserialize_with = "threshold_or_none")]
    pub autopick_threshold: f64,
}

/// A threshold read from JSON: `null` (how serde_json writes −∞) is −∞.
fn threshold_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
}

impl Default for PickSettings {
    fn default() -> Self {
        Self {
            box_size_px: 256.0,
            particle_diameter_angstrom: 150.0,
            circles: true,
            autopick_threshold: f64::NEG_INFINITY,
        }
    }
}

impl PickSettings {
    /// Particle radius in pixels for a pixel size in Å (the diameter's half); 20 px when the
    /// pixel size is unknown.
    pub fn radius_px(&self, pixel_size_angstrom: Option<f32>) -> f64 {
        match pixel_size_angstrom {
            Some(p) if p > 0.0 => 0.5 * self.particle_diameter_angstrom / f64::from(p),
            _ => 20.0,
        }
    }
}
