//! FSC_scalar, crefDenoiser eq. 2 (Agarwal et al. 2024): the FSC curve integrated over
//! frequency up to Nyquist, one number for a pair of maps.

use super::RingCurve;
use super::fsc::FscShell;

/// The integral of an FSC curve ([`fsc_scalar`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FscScalar {
    /// ∫₀^f_max FSC(s) ds in the curve's frequency unit (Å⁻¹, or cycles/voxel), by the
    /// trapezoid rule through (0, 1) and every shell's (frequency, FSC) (crefDenoiser eq. 2).
    pub integral: f64,
    /// The highest shell's frequency f_max (Nyquist), same unit.
    pub max_frequency: f64,
    /// `integral` / `max_frequency`: the mean FSC over frequency, in [−1, 1] whatever the
    /// unit, comparable between maps of different voxel sizes.
    pub mean: f64,
}

/// FSC_scalar = ∫₀^f FSC(s) ds up to the last shell (Nyquist), crefDenoiser eq. 2, by the
/// trapezoid rule starting from FSC = 1 at frequency 0 (the convention of
/// [`super::fsc::fsc_crossing`]). An empty curve gives zeros.
pub fn fsc_scalar(curve: &RingCurve<FscShell>) -> FscScalar {
    let mut prev = (0.0f64, 1.0f64);
    let mut integral = 0.0;
    for r in &curve.rings {
        let (f, v) = (r.frequency, r.value.fsc);
        integral += 0.5 * (v + prev.1) * (f - prev.0);
        prev = (f, v);
    }
    let max_frequency = prev.0;
    FscScalar {
        integral,
        max_frequency,
        mean: if max_frequency > 0.0 {
            integral / max_frequency
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{FrequencyUnit, Ring};

    #[test]
    fn constant_fsc_integrates_to_its_value_times_nyquist() {
        let rings = (1..=50)
            .map(|i| Ring {
                index: i,
                frequency: i as f64 / 100.0,
                components: 10,
                value: FscShell {
                    fsc: 0.25,
                    c_ref: 0.0,
                    signal: true,
                },
            })
            .collect();
        let c = RingCurve {
            unit: FrequencyUnit::PerPixel,
            pixel_size_angstrom: None,
            ring_width: 1.0,
            rings,
        };
        let s = fsc_scalar(&c);
        // 0.25 · 0.5 plus the first interval's trapezoid from 1 to 0.25: 0.01 · 0.75 / 2.
        assert!((s.integral - (0.125 + 0.00375)).abs() < 1e-12, "{s:?}");
        assert!((s.max_frequency - 0.5).abs() < 1e-12);
        assert!((s.mean - s.integral / 0.5).abs() < 1e-12);
    }
}
