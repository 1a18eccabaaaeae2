//! The wgpu path (burn's wgpu backend) gives the CPU's answer. In CI wgpu runs on lavapipe
//! (software Vulkan, `WGPU_BACKEND=vulkan`): correct but slow, so the inputs are small.

mod common;

use cryolens::denoise::{TileConfig, TopazDenoiser};
use cryolens::device::{ComputeDevice, DeviceChoice};
use cryolens::jobs::Progress;
use cryolens::models::{ModelSpec, TopazArch};

#[test]
fn wgpu_matches_cpu_on_a_real_crop() {
    common::ensure_topaz_weights();
    let gpu = match ComputeDevice::select(DeviceChoice::Gpu) {
        Ok(d) => d,
        Err(e) => panic!("no wgpu adapter (install mesa-vulkan-drivers for lavapipe): {e}"),
    };
    println!("wgpu device: {}", gpu.describe());
    assert!(gpu.describe().starts_with("GPU: "));
    let cpu = ComputeDevice::cpu("test");
    let image = cryolens::io::read_micrograph(&common::golden("fei-extended_crop1024.mrc"))
        .unwrap()
        .crop(256, 256, 96, 80);
    for arch in [TopazArch::Affine, TopazArch::UNetSmall] {
        let spec = ModelSpec::Topaz(arch);
        let tiles = TileConfig {
            patch_size: 0,
            padding: None,
        };
        let a = TopazDenoiser::load(&spec, &gpu)
            .unwrap()
            .denoise(&image, &tiles, &Progress::new())
            .unwrap();
        let b = TopazDenoiser::load(&spec, &cpu)
            .unwrap()
            .denoise(&image, &tiles, &Progress::new())
            .unwrap();
        let rel = common::max_rel_diff(&a, &b);
        println!("WGPU {} max|gpu − cpu| = {:.2e} σ", arch.name(), rel);
        assert!(
            rel <= 1e-4,
            "{}: wgpu differs from CPU by {:.2e} σ",
            arch.name(),
            rel
        );
    }
}

#[test]
fn auto_never_picks_a_software_adapter_silently() {
    let d = ComputeDevice::select(DeviceChoice::Auto).unwrap();
    let software = cryolens::device::wgpu_adapters()
        .iter()
        .all(|a| a.is_software);
    if software {
        assert!(!d.is_gpu());
        assert!(d.describe().starts_with("CPU: "), "{}", d.describe());
        assert!(d.describe().contains("no GPU found"), "{}", d.describe());
    } else {
        assert!(
            d.is_gpu(),
            "a hardware GPU exists but auto chose {}",
            d.describe()
        );
    }
}
