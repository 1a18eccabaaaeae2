//! Tests of the FSC, its crossings and the shell variances.

use super::*;
use crate::rng::Rng;

fn noise(shape: [usize; 3], seed: u64) -> Volume {
    let mut r = Rng::new(seed);
    let [d, h, w] = shape;
    Volume {
        width: w,
        height: h,
        depth: d,
        data: (0..d * h * w).map(|_| r.normal() as f32).collect(),
        pixel_size_angstrom: None,
    }
}

#[test]
fn fft3_round_trip_and_parseval() {
    let v = noise([6, 5, 8], 1);
    let shape = [6, 5, 8];
    let s = fft3(&v.data, shape);
    let energy: f64 = v.data.iter().map(|x| (*x as f64).powi(2)).sum();
    let spec: f64 = s.iter().map(|c| c.norm_sqr() as f64).sum::<f64>() / 240.0;
    assert!((energy - spec).abs() < 1e-3 * energy);
    let back = ifft3_real(s, shape);
    let err = back
        .iter()
        .zip(&v.data)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-4, "{err}");
}

#[test]
fn white_noise_gives_its_variance_per_shell_and_fsc_of_self_is_one() {
    let a = noise([32, 32, 32], 2);
    let c = shell_covariance(&a, &a, 2.0, None).unwrap();
    // Relative sd of a shell's power is √(1/components) (two real d.o.f. per conjugate
    // pair): 0.1 at 100 components, so shells of ≥ 400 components are within 0.25 (5 sd).
    for r in c.rings.iter().filter(|r| r.components >= 400) {
        assert!((r.value - 1.0).abs() < 0.25, "{r:?}");
    }
    let k: f64 = c.rings.iter().map(|r| r.components as f64).sum();
    let mean = c
        .rings
        .iter()
        .map(|r| r.value * r.components as f64)
        .sum::<f64>()
        / k;
    assert!((mean - 1.0).abs() < 0.02, "{mean}");
    assert!((c.rings.last().unwrap().frequency - 0.5).abs() < 1e-9);
    let f = fsc(&a, &a, 1.0, None).unwrap();
    assert!(f.rings.iter().all(|r| (r.value.fsc - 1.0).abs() < 1e-9));
    assert_eq!(fsc_crossing(&f, 0.143), FscThreshold::NotReached);
}

#[test]
fn crossing_is_interpolated() {
    let curve = build_curve(&[0.0, 1.0, 1.0, 1.0], 6, 1.0, Some(2.0), |r| FscShell {
        fsc: [1.0, 0.9, 0.3, 0.1][r],
        c_ref: 0.0,
        signal: true,
    });
    // Shells at 1/12, 2/12, 3/12 Å⁻¹; 0.5 is crossed 2/3 of the way from shell 1 to 2.
    let c = *fsc_crossing(&curve, 0.5).crossing().unwrap();
    let f = 1.0 / 12.0 + (0.4 / 0.6) / 12.0;
    assert!((c.frequency - f).abs() < 1e-12);
    assert!((c.resolution - 1.0 / f).abs() < 1e-9);
    assert_eq!(c.unit, FrequencyUnit::PerAngstrom);
}

#[test]
fn constant_or_masked_maps_have_no_crossing() {
    let n = 24;
    let constant = Volume {
        width: n,
        height: n,
        depth: n,
        data: vec![3.5; n * n * n],
        pixel_size_angstrom: Some(2.0),
    };
    let a = noise([n, n, n], 7);
    let zero_mask = Volume {
        data: vec![0.0; n * n * n],
        ..constant.clone()
    };
    for (x, y, mask) in [
        (&constant, &constant, None),
        (&constant, &a, None),
        (&a, &a, Some(&zero_mask)),
    ] {
        let curve = fsc(x, y, 1.0, mask).unwrap();
        assert!(
            curve
                .rings
                .iter()
                .all(|r| !r.value.signal && r.value.fsc == 0.0)
        );
        for t in [0.143, 0.5] {
            assert_eq!(fsc_crossing(&curve, t), FscThreshold::NoSignal);
        }
    }
    // A map with power: every shell has signal.
    let curve = fsc(&a, &a, 1.0, None).unwrap();
    assert!(curve.rings.iter().all(|r| r.value.signal));
}

#[test]
fn c_ref_limits() {
    assert_eq!(c_ref(0.0), 0.0);
    assert!((c_ref(1.0) - 1.0).abs() < 1e-12);
    // FSC 0.143 ↔ C_ref 0.5 (the 0.143 criterion).
    assert!((c_ref(0.143) - 0.5).abs() < 1e-3);
}

#[test]
fn mismatches_are_errors() {
    let a = noise([4, 4, 4], 3);
    let b = noise([4, 4, 5], 4);
    assert!(matches!(
        fsc(&a, &b, 1.0, None),
        Err(FscError::ShapeMismatch { .. })
    ));
    assert!(matches!(
        fsc(&a, &a, 0.0, None),
        Err(FscError::InvalidParameter { .. })
    ));
    let mut c = a.clone();
    c.data[5] = f32::NAN;
    assert!(matches!(
        fsc(&a, &c, 1.0, None),
        Err(FscError::NonFinite { index: 5, .. })
    ));
}
