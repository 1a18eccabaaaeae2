//! The one place that decides where neural networks run, and says so.
//!
//! `auto` takes a real GPU (discrete, integrated or virtual wgpu adapter) when one exists and
//! the CPU otherwise, where networks run on Cryolens' native kernels (`models::native`: 2.9×
//! faster than burn's Flex backend on Topaz's unet, measured by `cryolens bench`; Flex stays
//! selectable as `--device flex`); a software adapter such as lavapipe/llvmpipe is never
//! chosen by `auto` (it is ~45× slower than Flex, see `NOTES-measured.md`) but can be forced
//! with `gpu`, which is how CI tests the wgpu path. Nothing falls back silently: the
//! [`ComputeDevice::describe`] string is shown in the status bar and printed by the CLI.

use burn::prelude::Device;

/// What the user asked for (`--device auto|cpu|gpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    /// A hardware GPU if there is one, the CPU otherwise.
    #[default]
    Auto,
    /// The CPU, with Cryolens' native kernels (`models::native`, fastest measured).
    Cpu,
    /// The CPU through burn's Flex backend (slower; for comparison and as a reference).
    Flex,
    /// burn's wgpu backend on the best adapter (software adapters included).
    Gpu,
}

/// What a wgpu adapter is, as far as we need to know.
#[derive(Clone, Debug, PartialEq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API, e.g. "Vulkan".
    pub backend: String,
    /// True for software rasterisers (lavapipe, llvmpipe, WARP).
    pub is_software: bool,
    /// `max_storage_buffer_binding_size` in bytes: bounds the largest tile we may run.
    pub max_storage_buffer_bytes: u64,
}

/// Lists the wgpu adapters of this machine (respects `WGPU_BACKEND`), best first: hardware
/// before software. Never panics; no adapters gives an empty list.
pub fn wgpu_adapters() -> Vec<AdapterSummary> {
    let desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
    let instance = wgpu::Instance::new(desc);
    let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::all());
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let mut out: Vec<AdapterSummary> = adapters
        .iter()
        .map(|a| {
            let info = a.get_info();
            AdapterSummary {
                name: info.name.clone(),
                backend: format!("{:?}", info.backend),
                is_software: info.device_type == wgpu::DeviceType::Cpu,
                max_storage_buffer_bytes: a.limits().max_storage_buffer_binding_size,
            }
        })
        .collect();
    out.sort_by_key(|a| a.is_software);
    out
}

/// The device networks run on, with what was found, for display.
#[derive(Clone)]
pub struct ComputeDevice {
    /// burn's device handle.
    pub burn: Device,
    /// The wgpu adapter when running on wgpu, `None` on the CPU.
    pub adapter: Option<AdapterSummary>,
    /// Why this device was chosen (shown with the device name).
    pub reason: String,
    /// On the CPU: run networks with the native kernels (true) or burn Flex (false).
    pub native_cpu: bool,
}

impl std::fmt::Debug for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// A device request that cannot be met.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `--device gpu` with no wgpu adapter at all.
    #[error(
        "--device gpu was requested but no GPU adapter was found (wgpu saw none; on Linux install a Vulkan driver, e.g. mesa-vulkan-drivers)"
    )]
    NoAdapter,
}

impl ComputeDevice {
    /// The CPU with the native kernels (weights are still loaded through burn's Flex device).
    pub fn cpu(reason: impl Into<String>) -> Self {
        Self {
            burn: Device::flex(),
            adapter: None,
            reason: reason.into(),
            native_cpu: true,
        }
    }

    /// The CPU through burn's Flex backend.
    pub fn flex(reason: impl Into<String>) -> Self {
        Self {
            native_cpu: false,
            ..Self::cpu(reason)
        }
    }

    /// Resolves the user's choice against the adapters present.
    ///
    /// # Errors
    /// [`DeviceError::NoAdapter`] when a GPU is forced and wgpu finds no adapter.
    pub fn select(choice: DeviceChoice) -> Result<Self, DeviceError> {
        match choice {
            DeviceChoice::Cpu => Ok(Self::cpu("CPU requested")),
            DeviceChoice::Flex => Ok(Self::flex("burn Flex requested")),
            DeviceChoice::Gpu => {
                let adapter = wgpu_adapters()
                    .into_iter()
                    .next()
                    .ok_or(DeviceError::NoAdapter)?;
                Ok(Self::wgpu(adapter, "GPU requested"))
            }
            DeviceChoice::Auto => {
                let adapters = wgpu_adapters();
                match adapters.iter().find(|a| !a.is_software) {
                    Some(a) => Ok(Self::wgpu(a.clone(), "GPU found")),
                    None => Ok(match adapters.first() {
                        Some(sw) => Self::cpu(format!(
                            "no GPU found (only the software adapter {}, slower than the CPU backend)",
                            sw.name
                        )),
                        None => Self::cpu("no GPU found"),
                    }),
                }
            }
        }
    }

    fn wgpu(adapter: AdapterSummary, reason: &str) -> Self {
        Self {
            burn: Device::wgpu(burn::prelude::DeviceKind::DefaultDevice),
            adapter: Some(adapter),
            reason: reason.to_string(),
            native_cpu: false,
        }
    }

    /// True when networks run through wgpu.
    pub fn is_gpu(&self) -> bool {
        self.adapter.is_some()
    }

    /// One line for the status bar and the CLI, e.g. "GPU: NVIDIA H100 (Vulkan, burn wgpu)" or
    /// "CPU: native kernels, 2 threads (no GPU found)".
    pub fn describe(&self) -> String {
        match &self.adapter {
            Some(a) => format!(
                "GPU: {} ({}, burn wgpu; {})",
                a.name, a.backend, self.reason
            ),
            None => format!(
                "CPU: {}, {} threads ({})",
                if self.native_cpu {
                    "native kernels"
                } else {
                    "burn Flex"
                },
                rayon::current_num_threads(),
                self.reason
            ),
        }
    }

    /// Largest number of f32 values one tensor may hold on this device (`None`: no limit
    /// beyond memory). On wgpu, a storage buffer binding is capped by the adapter (128 MiB on
    /// lavapipe), so tiles must be sized to fit.
    pub fn max_tensor_values(&self) -> Option<u64> {
        self.adapter
            .as_ref()
            .map(|a| a.max_storage_buffer_bytes / 4)
    }
}
