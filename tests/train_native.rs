//! The native training step (`cryolens::train::native`) against burn's autodiff: same loss, same
//! gradient for every parameter of every Topaz 2D architecture, for L2, L1 and L0, on seeded
//! random batches and on real crops of `fei-extended.mrc`; and the same parameters after one
//! Adam step.

mod common;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use cryolens::models::{TopazArch, TopazModel};
use cryolens::rng::Rng;
use cryolens::train::native::{NativeTrainNet, native_step};
use cryolens::train::{Batch, LossKind, TrainableModel, loss};

/// `n` crop pairs of `size`² with independent N(0, 1) values.
fn random_batch(n: usize, size: usize, seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let mut draw = || {
        (0..n * size * size)
            .map(|_| rng.normal() as f32)
            .collect::<Vec<_>>()
    };
    let a = draw();
    let b = draw();
    Batch {
        a,
        b,
        n,
        crop_px: size,
    }
}

/// Two crops of the real micrograph (normalised: mean 0, σ 1 over the crops), B shifted one
/// pixel right of A, as a noise2noise pair with shared signal.
fn real_batch(size: usize) -> Batch {
    let path = common::data("micrographs/fei-extended/fei-extended.mrc");
    let m = cryolens::io::read_micrograph(&path).expect("reading fei-extended.mrc");
    let (x0, y0) = (m.width / 2, m.height / 2);
    let mut a = Vec::new();
    let mut b = Vec::new();
    for k in 0..2 {
        let ca = m.crop(x0 + k * size, y0, size, size);
        let cb = m.crop(x0 + k * size + 1, y0, size, size);
        a.extend_from_slice(&ca.data);
        b.extend_from_slice(&cb.data);
    }
    let all: Vec<f64> = a.iter().chain(&b).map(|&v| v as f64).collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let sd = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
    let norm = |v: &mut Vec<f32>| {
        v.iter_mut()
            .for_each(|x| *x = ((*x as f64 - mean) / sd) as f32)
    };
    norm(&mut a);
    norm(&mut b);
    Batch {
        a,
        b,
        n: 2,
        crop_px: size,
    }
}

/// Loss and gradients from burn autodiff (the reference).
fn autodiff_step(
    model: &TopazModel,
    batch: &Batch,
    both: bool,
    kind: LossKind,
    gamma: f64,
) -> (f64, GradientsParams) {
    let device = Device::flex().autodiff();
    let (n, c) = (batch.n, batch.crop_px);
    let (x, y, items) = if both {
        let mut x = batch.a.clone();
        x.extend_from_slice(&batch.b);
        let mut y = batch.b.clone();
        y.extend_from_slice(&batch.a);
        (x, y, 2 * n)
    } else {
        (batch.a.clone(), batch.b.clone(), n)
    };
    let x = Tensor::<4>::from_data(TensorData::new(x, [items, 1, c, c]), &device);
    let y = Tensor::<4>::from_data(TensorData::new(y, [items, 1, c, c]), &device);
    let l = loss::loss(kind, model.forward(x), y, gamma);
    let value = l.clone().into_data().iter::<f32>().next().unwrap() as f64;
    (value, GradientsParams::from_grads(l.backward(), model))
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Compares the gradient of every parameter; records the worst ratio
/// max|native − burn| / max|burn| and how many parameters were compared.
struct CompareGrads<'a> {
    native: &'a GradientsParams,
    reference: &'a GradientsParams,
    worst: f64,
    compared: usize,
    missing: Vec<ParamId>,
}

impl ModuleVisitor for CompareGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let (Some(a), Some(b)) = (
            self.native.get::<D>(param.id),
            self.reference.get::<D>(param.id),
        ) else {
            self.missing.push(param.id);
            return;
        };
        assert_eq!(a.dims(), b.dims(), "gradient shape of {:?}", param.id);
        let (a, b) = (values(a), values(b));
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs() as f64));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0.0f64, |m, (x, y)| m.max((x - y).abs() as f64));
        assert!(
            scale > 0.0,
            "a parameter with zero gradient: {:?}",
            param.id
        );
        self.worst = self.worst.max(diff / scale);
        self.compared += 1;
    }
}

/// Collects every parameter's values in visiting order.
struct Collect(Vec<Vec<f32>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(values(param.val()));
    }
}

/// A model of `arch` with PyTorch's default initialisation drawn from a fixed seed (so every
/// run of the tests computes the same numbers).
fn model(arch: TopazArch) -> TopazModel {
    seeded_model(arch, 42)
}

fn seeded_model(arch: TopazArch, seed: u64) -> TopazModel {
    let device = Device::flex().autodiff();
    match TrainableModel::init_seeded(arch.config().into(), seed, &device) {
        TrainableModel::Topaz(m) => m.set_require_grad(true),
        TrainableModel::Wdsr(_) => unreachable!("a Topaz architecture"),
    }
}

/// Asserts native == autodiff for loss and every gradient; returns the worst gradient ratio.
fn check(model: &TopazModel, batch: &Batch, both: bool, kind: LossKind, gamma: f64) -> f64 {
    let (ref_loss, ref_grads) = autodiff_step(model, batch, both, kind, gamma);
    let (loss, grads) = native_step(model, batch, both, kind, gamma).expect("native step");
    let rel = (loss - ref_loss).abs() / ref_loss.abs();
    assert!(
        rel <= 1e-5,
        "{kind:?}: native loss {loss} vs autodiff {ref_loss} (rel {rel:.2e})"
    );
    let mut cmp = CompareGrads {
        native: &grads,
        reference: &ref_grads,
        worst: 0.0,
        compared: 0,
        missing: Vec::new(),
    };
    model.visit(&mut cmp);
    assert!(
        cmp.missing.is_empty(),
        "gradients missing for {:?}",
        cmp.missing
    );
    assert_eq!(
        cmp.compared,
        model.num_params_tensors(),
        "every parameter compared"
    );
    assert_eq!(grads.len(), ref_grads.len());
    // 2·10⁻²: a near-tie (see `unet_agrees_to_rounding_on_most_seeds`) may route a few pixels'
    // gradient differently; everything else agrees to ≈ 10⁻⁵. The cases below are seeded.
    assert!(
        cmp.worst <= 2e-2,
        "{kind:?}: gradient differs by {:.2e} of its largest value",
        cmp.worst
    );
    cmp.worst
}

trait ParamCount {
    fn num_params_tensors(&self) -> usize;
}

impl ParamCount for TopazModel {
    fn num_params_tensors(&self) -> usize {
        let mut c = Collect(Vec::new());
        self.visit(&mut c);
        c.0.len()
    }
}

const LOSSES: [(LossKind, f64); 3] = [
    (LossKind::L2, 2.0),
    (LossKind::L1, 2.0),
    (LossKind::L0, 1.4),
];

fn check_arch(arch: TopazArch, size: usize, seed: u64) {
    let m = model(arch);
    let batch = random_batch(2, size, seed);
    for (kind, gamma) in LOSSES {
        check(&m, &batch, true, kind, gamma);
    }
    check(&m, &batch, false, LossKind::L2, 2.0);
}

#[test]
fn affine_matches_autodiff() {
    check_arch(TopazArch::Affine, 40, 1);
}

#[test]
fn fcnn_matches_autodiff() {
    check_arch(TopazArch::Fcnn, 24, 2);
}

#[test]
fn unet_small_matches_autodiff() {
    check_arch(TopazArch::UNetSmall, 48, 3);
}

#[test]
fn unet_small_matches_autodiff_on_odd_sizes() {
    // 36 → 18 → 9 → 4: floor-mode pooling drops a row and the up-sampling is not 2×.
    let m = model(TopazArch::UNetSmall);
    check(&m, &random_batch(1, 36, 4), true, LossKind::L2, 2.0);
}

#[test]
fn unet_matches_autodiff() {
    check_arch(TopazArch::UNet, 64, 5);
}

#[test]
fn unet_v021_matches_autodiff() {
    let m = model(TopazArch::UNetV021);
    check(&m, &random_batch(1, 64, 6), true, LossKind::L2, 2.0);
}

#[test]
fn unet_small_matches_autodiff_on_real_crops() {
    let m = model(TopazArch::UNetSmall);
    let batch = real_batch(64);
    for (kind, gamma) in LOSSES {
        check(&m, &batch, true, kind, gamma);
    }
}

#[test]
fn adam_step_from_native_gradients_matches_autodiff() {
    let lr = 1e-3;
    let m = model(TopazArch::UNetSmall);
    let batch = random_batch(2, 32, 7);
    let (_, ref_grads) = autodiff_step(&m, &batch, true, LossKind::L2, 2.0);
    let (_, grads) = native_step(&m, &batch, true, LossKind::L2, 2.0).unwrap();
    let mut o1 = AdamConfig::new().with_epsilon(1e-8).init();
    let mut o2 = AdamConfig::new().with_epsilon(1e-8).init();
    let before = {
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0
    };
    let m_ref = o1.step(lr, m.clone(), ref_grads);
    let m_nat = o2.step(lr, m, grads);
    let (mut a, mut b) = (Collect(Vec::new()), Collect(Vec::new()));
    m_ref.visit(&mut a);
    m_nat.visit(&mut b);
    let (mut worst, mut moved, mut total, mut off) = (0.0f64, 0usize, 0usize, 0usize);
    for ((x, y), p) in a.0.iter().zip(&b.0).zip(&before) {
        for ((u, v), w) in x.iter().zip(y).zip(p) {
            let d = (u - v).abs() as f64;
            worst = worst.max(d);
            off += (d > 1e-6 + 1e-2 * lr) as usize;
            moved += ((u - w).abs() as f64 > 0.5 * lr) as usize;
            total += 1;
        }
    }
    // Adam's first step moves every parameter with a non-negligible gradient by ≈ lr.
    assert!(
        moved * 10 > total * 9,
        "only {moved} of {total} parameters moved"
    );
    // Adam's first step is ≈ lr · g / (|g| + ε): for a gradient within rounding of 0 (a few
    // of them) the two steps may differ by up to 2·lr; all others agree to 1 % of lr.
    assert!(
        off * 1000 <= total && worst <= 2.0 * lr + 1e-6,
        "{off} of {total} parameters differ by more than 1 % of lr after one step (worst {worst:e})"
    );
    // The native model keeps training: a second native step works on the updated model.
    assert!(NativeTrainNet::from_model(&m_nat).is_ok());
}

#[test]
fn bad_batches_are_errors() {
    let m = model(TopazArch::UNet);
    let small = random_batch(1, 16, 8);
    assert!(native_step(&m, &small, true, LossKind::L2, 2.0).is_err());
    let mut broken = random_batch(1, 64, 9);
    broken.b.pop();
    assert!(native_step(&m, &broken, true, LossKind::L2, 2.0).is_err());
}

/// Without a near-tie, native and autodiff gradients agree to f32 rounding (≈ 5·10⁻⁶ of each
/// parameter's largest gradient) on the deep unet; a tie (a pre-activation within rounding of
/// 0, or two near-equal values in a pooling window) sends a few pixels' gradient another way
/// and shows as 10⁻³–10⁻² (seeded models and batches 10–15: 4.9e-6, 2.7e-2, 4.9e-6, 3.9e-6,
/// 4.3e-6, 3.3e-6). A real error (a wrong border, a wrong index) would show on every seed, so
/// most seeds must agree to 10⁻⁴. Everything is seeded: the outcome is the same every run.
#[test]
fn unet_agrees_to_rounding_on_most_seeds() {
    let mut exact = 0;
    let mut report = Vec::new();
    for seed in 10..16 {
        let m = seeded_model(TopazArch::UNet, seed);
        let batch = random_batch(2, 64, seed);
        let (_, reference) = autodiff_step(&m, &batch, true, LossKind::L2, 2.0);
        let (_, grads) = native_step(&m, &batch, true, LossKind::L2, 2.0).unwrap();
        let mut cmp = CompareGrads {
            native: &grads,
            reference: &reference,
            worst: 0.0,
            compared: 0,
            missing: Vec::new(),
        };
        m.visit(&mut cmp);
        exact += (cmp.worst <= 1e-4) as usize;
        report.push(format!("{seed}: {:.1e}", cmp.worst));
    }
    println!("worst gradient ratio per seed: {report:?}");
    assert!(exact >= 4, "worst gradient ratio per seed: {report:?}");
}
