//! The GPU devices the trials run on: the default one, created once, and one per forced kernel (a matmul
//! `Variant`, a conv2d or reduce `Path`), created on first use and cached.

use std::sync::{Mutex, OnceLock};

use wgrad::wgpu::kernels::{conv2d, conv2d_tex, matmul, reduce};
use wgrad::wgpu::{Caps, Options, WgpuBackend};
use wgrad::Device;

/// Which kernels a device runs: the adapter's automatic pick, or one forced through `wgrad_wgpu::Options`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Default,
    Matmul(matmul::Variant),
    Conv2d(conv2d::Path),
    Reduce(reduce::Path),
}

impl Kernel {
    /// The label in trial names: the kernel's entry point.
    pub fn label(self) -> String {
        match self {
            Kernel::Default => String::new(),
            Kernel::Matmul(v) => format!("[{}]", v.entry()),
            Kernel::Conv2d(conv2d::Path::Direct) => "[conv2d_direct]".to_string(),
            Kernel::Conv2d(conv2d::Path::Unfolded) => "[conv2d_unfolded]".to_string(),
            Kernel::Conv2d(conv2d::Path::Taps) => "[conv2d_taps]".to_string(),
            Kernel::Reduce(reduce::Path::Group) => "[reduce_group]".to_string(),
            Kernel::Reduce(reduce::Path::Thread) => "[reduce_thread]".to_string(),
        }
    }

    fn options(self) -> Options {
        match self {
            Kernel::Default => Options::default(),
            Kernel::Matmul(v) => Options {
                matmul: Some(v),
                ..Default::default()
            },
            Kernel::Conv2d(p) => Options {
                conv2d: Some(p),
                ..Default::default()
            },
            Kernel::Reduce(p) => Options {
                reduce: Some(p),
                ..Default::default()
            },
        }
    }
}

/// The default adapter.
pub struct Gpu {
    pub backend: WgpuBackend,
    pub device: Device,
}

static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
static FORCED: Mutex<Vec<(Kernel, Device)>> = Mutex::new(Vec::new());

/// The default GPU, created on the first call; `None` (with a loud `skipped: no adapter`) when there is
/// no adapter, and a panic instead under `CI=true` (`wgrad_wgpu::testing::backend_or_skip`).
pub fn init() -> Option<&'static Gpu> {
    GPU.get_or_init(|| {
        let backend = wgrad::wgpu::testing::backend_or_skip()?;
        let device = Device::new(backend.clone());
        Some(Gpu { backend, device })
    })
    .as_ref()
}

pub fn caps() -> Option<&'static Caps> {
    init().map(|g| g.backend.caps())
}

/// The device running `kernel`; the default one for [`Kernel::Default`].
pub fn device(kernel: Kernel) -> Result<Device, String> {
    let gpu = init().ok_or("no adapter")?;
    if kernel == Kernel::Default {
        return Ok(gpu.device.clone());
    }
    let mut forced = FORCED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, d)) = forced.iter().find(|(k, _)| *k == kernel) {
        return Ok(d.clone());
    }
    let backend = WgpuBackend::with_options(&kernel.options())
        .map_err(|e| format!("a device forcing {kernel:?}: {e}"))?;
    let device = Device::new(backend);
    forced.push((kernel, device.clone()));
    Ok(device)
}

/// The forced kernels a row of this family also runs on, on this adapter.
pub fn kernels(family: crate::common::table::Family) -> Vec<Kernel> {
    use crate::common::table::Family;
    let Some(caps) = caps() else {
        return Vec::new();
    };
    match family {
        Family::Matmul => matmul::Variant::ALL
            .into_iter()
            .filter(|&v| matmul::available(caps, v))
            .map(Kernel::Matmul)
            .collect(),
        Family::Conv2d(p) => {
            let mut paths = vec![Kernel::Conv2d(conv2d::Path::Direct)];
            if conv2d_tex::applies(caps, &p) {
                paths.push(Kernel::Conv2d(conv2d::Path::Unfolded));
                paths.push(Kernel::Conv2d(conv2d::Path::Taps));
            }
            paths
        }
        // Every adapter runs both reduction paths; the automatic choice depends on the layout and adapter.
        Family::Reduce => vec![
            Kernel::Reduce(reduce::Path::Group),
            Kernel::Reduce(reduce::Path::Thread),
        ],
        _ => Vec::new(),
    }
}
