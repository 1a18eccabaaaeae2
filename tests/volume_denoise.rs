//! Topaz's 3D U-net (`unet-3d-10a`) against the published Topaz-Denoise on a real tomogram
//! crop (`../shared/golden/particleannotation_3d*.mrc`, made by `topaz-em` 0.3.20's
//! `Denoise3D(...).denoise(vol, patch_size=96, padding=48)`; see the golden README).
//!
//! Criterion (issue 7, item 2): max |ours − Topaz| ≤ 1e-3 × σ(Topaz output) in the
//! Topaz-compatible mode. Topaz needed 14 min for the whole 202×115×112 volume on 2 cores, so
//! the CI test reproduces the output in one block only, computing exactly the padded 192³
//! windows Topaz used for the two patches involved: the block straddles the border between
//! the first two patches along z, where Topaz's per-patch normalisation makes values jump. The whole volume is the `#[ignore]`d
//! test (`cargo test --release --test volume_denoise -- --ignored`).

mod common;

use std::time::Instant;

use cryolens::denoise::volume::{Topaz3dDenoiser, VolumeTileConfig};
use cryolens::device::ComputeDevice;
use cryolens::image::Volume;
use cryolens::jobs::Progress;
use cryolens::models::topaz3d::VoxelBox;
use cryolens::models::{ModelSpec, Topaz3dArch};

fn load() -> Topaz3dDenoiser {
    common::ensure_topaz_weights();
    let device = ComputeDevice::cpu("test");
    Topaz3dDenoiser::load(&ModelSpec::Topaz3d(Topaz3dArch::UNet3d10A), &device)
        .expect("load unet-3d-10a")
}

fn read(name: &str) -> Volume {
    let (_, v) = cryolens::io::read(&common::golden(name)).expect("read golden volume");
    assert_eq!((v.depth, v.height, v.width), (202, 115, 112));
    v
}

fn max_diff_sigma(ours: &[f32], topaz: &[f32], sigma: f64) -> f64 {
    assert_eq!(ours.len(), topaz.len());
    ours.iter()
        .zip(topaz)
        .map(|(a, b)| (a - b).abs() as f64)
        .fold(0.0, f64::max)
        / sigma
}

#[test]
fn topaz_mode_matches_topaz_across_a_patch_border() {
    let input = read("particleannotation_3d.mrc");
    let golden = read("particleannotation_3d.unet-3d-10a.mrc");
    let sigma = cryolens::image::stats_of(&golden.data).std;
    let denoiser = load();
    let cfg = VolumeTileConfig::topaz();
    // Straddles the z = 96 border between patches (0,0,0) and (1,0,0): two 192³ windows,
    // one reaching past the near faces of the volume (z, y, x < 0), one past the far face in
    // z (≥ 202) and near faces in y and x, both zero-filled as Topaz does.
    let regions: [VoxelBox; 1] = [[88..104, 40..56, 40..56]];
    for region in &regions {
        let started = Instant::now();
        let ours = denoiser
            .denoise_region(&input, &cfg, region, &Progress::new())
            .expect("denoise region");
        let topaz = common::voxels_in(&golden, region);
        let rel = max_diff_sigma(&ours, &topaz, sigma);
        println!(
            "PARITY unet-3d-10a region {region:?}: max|diff| = {rel:.3e} σ ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        assert!(
            rel <= 1e-3,
            "region {region:?}: max diff {rel:.3e} σ exceeds 1e-3 σ"
        );
    }
}

/// The whole volume in Topaz's mode, against Topaz's whole output, timed (Topaz: 14 min 15 s on
/// 2 cores). Several minutes: run with `--ignored`.
#[test]
#[ignore]
fn topaz_mode_matches_topaz_on_the_whole_volume() {
    let input = read("particleannotation_3d.mrc");
    let golden = read("particleannotation_3d.unet-3d-10a.mrc");
    let sigma = cryolens::image::stats_of(&golden.data).std;
    let denoiser = load();
    let started = Instant::now();
    let ours = denoiser
        .denoise(&input, &VolumeTileConfig::topaz(), &Progress::new())
        .expect("denoise");
    let secs = started.elapsed().as_secs_f64();
    let rel = max_diff_sigma(&ours.data, &golden.data, sigma);
    println!("PARITY unet-3d-10a whole volume: max|diff| = {rel:.3e} σ, {secs:.1} s");
    assert!(rel <= 1e-3, "max diff {rel:.3e} σ exceeds 1e-3 σ");
}

/// Mean squared difference between planes `a` and `b` (indices along `axis`: 0 z, 1 y, 2 x).
fn plane_msd(v: &Volume, axis: usize, a: usize, b: usize) -> f64 {
    let (d, h, w) = (v.depth, v.height, v.width);
    let at = |z: usize, y: usize, x: usize| v.data[(z * h + y) * w + x] as f64;
    let (mut s, mut n) = (0.0, 0.0);
    for z in 0..d {
        for y in 0..h {
            for x in 0..w {
                let i = [z, y, x][axis];
                if i != a {
                    continue;
                }
                let mut q = [z, y, x];
                q[axis] = b;
                s += (at(z, y, x) - at(q[0], q[1], q[2])).powi(2);
                n += 1.0;
            }
        }
    }
    s / n
}

/// Seam strength at the core borders of 96³ patches: the mean squared step across each border
/// plane over the mean of the steps one plane either side (1 without seams), averaged.
fn seam_ratio(v: &Volume) -> f64 {
    let borders: Vec<(usize, usize)> = [(0, v.depth), (1, v.height), (2, v.width)]
        .iter()
        .flat_map(|&(axis, n)| (96..n - 1).step_by(96).map(move |b| (axis, b)))
        .collect();
    borders
        .iter()
        .map(|&(axis, b)| {
            let across = plane_msd(v, axis, b - 1, b);
            let beside = 0.5 * (plane_msd(v, axis, b - 2, b - 1) + plane_msd(v, axis, b, b + 1));
            across / beside
        })
        .sum::<f64>()
        / borders.len() as f64
}

/// Issue 15 item 5: which 3D normalisation is closer to the truth, and which shows seams. The
/// truth is the real particleannotation tomogram low-passed (exp(−(f/0.08)²), f in
/// cycles/voxel), the input that plus white Gaussian noise of σ = σ(truth); both modes
/// denoise it with unet-3d-10a (96³ cores, 48 voxels of padding). Prints correlation with the
/// truth, RMSE in σ(truth) and the seam ratio at the core borders (README "Analyses").
/// Minutes on 2 cores: `cargo test --release --test volume_denoise -- --ignored normalisation`.
#[test]
#[ignore]
fn normalisation_against_known_truth() {
    use cryolens::analysis::halfmap::radial_filter;
    let (_, real) = cryolens::io::read(&common::data(
        "tomograms/particleannotation/3d_test_data.tif",
    ))
    .expect("read the tomogram");
    let truth = radial_filter(&real, |f| (-(f / 0.08).powi(2)).exp());
    let st = cryolens::image::stats_of(&truth.data);
    let mut rng = cryolens::rng::Rng::new(15);
    let noisy = Volume {
        data: truth
            .data
            .iter()
            .map(|&t| t + (st.std * rng.normal()) as f32)
            .collect(),
        ..truth.clone()
    };
    let denoiser = load();
    let corr = |a: &Volume| {
        let (ma, mb) = (
            cryolens::image::stats_of(&a.data),
            cryolens::image::stats_of(&truth.data),
        );
        a.data
            .iter()
            .zip(&truth.data)
            .map(|(&x, &y)| (x as f64 - ma.mean) * (y as f64 - mb.mean))
            .sum::<f64>()
            / a.data.len() as f64
            / (ma.std * mb.std)
    };
    let rmse = |a: &Volume| {
        (a.data
            .iter()
            .zip(&truth.data)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum::<f64>()
            / a.data.len() as f64)
            .sqrt()
            / st.std
    };
    println!(
        "NORMALISATION truth: seams {:.3}; noisy: corr {:.4}, RMSE {:.3} σ, seams {:.3}",
        seam_ratio(&truth),
        corr(&noisy),
        rmse(&noisy),
        seam_ratio(&noisy)
    );
    let mut results = Vec::new();
    for (name, cfg) in [
        ("global", VolumeTileConfig::default()),
        ("topaz-patch", VolumeTileConfig::topaz()),
    ] {
        let started = Instant::now();
        let d = denoiser
            .denoise(&noisy, &cfg, &Progress::new())
            .expect("denoise");
        let (c, r, s) = (corr(&d), rmse(&d), seam_ratio(&d));
        println!(
            "NORMALISATION {name}: corr {c:.4}, RMSE {r:.3} σ, seams {s:.3} ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        results.push((c, r, s));
    }
    // The default must be the better one on this volume (the README states which and by how much).
    assert!(results[0].0 >= results[1].0, "{results:?}");
}
