//! Adapter choice, device creation and the capabilities (`Caps`) the kernels may rely on.
//!
//! Order of preference: discrete GPU, integrated GPU, virtual GPU, then software (lavapipe, llvmpipe, WARP).
//! `WGRAD_BACKEND=vulkan|metal|dx12|gl` restricts the backends and `WGRAD_ADAPTER=<substring>` picks an
//! adapter by name (case-insensitive). The device is created with the adapter's real limits, not wgpu's
//! defaults, plus whichever optional features from [`OPTIONAL_FEATURES`] the adapter has.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use wgrad_graph::{Error, Result};

use crate::kernels::conv2d::Path as Conv2dPath;
use crate::kernels::matmul::Variant as MatmulVariant;
use crate::kernels::reduce::Path as ReducePath;

/// Optional features the kernels can use when present; absent ones are simply not requested.
pub const OPTIONAL_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY)
    .union(wgpu::Features::SHADER_F64)
    .union(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);

/// What the adapter can do, decided once at device creation.
#[derive(Clone, Debug)]
pub struct Caps {
    /// lavapipe/llvmpipe/WARP (`wgpu::DeviceType::Cpu`).
    pub is_software: bool,
    pub shader_f16: bool,
    pub shader_f64: bool,
    pub subgroups: bool,
    /// The subgroup width when the adapter has one fixed width (min = max), e.g. 8 on lavapipe with AVX2.
    pub subgroup_size: Option<u32>,
    pub timestamp_query: bool,
    /// Cooperative matrices granted with a 16x16x16 configuration of f16 operands and an f32 accumulator
    /// (tensor cores; `kernels::matmul_coop`).
    pub coop_f16: bool,
    /// The limits actually granted.
    pub limits: wgpu::Limits,
    pub adapter_name: String,
    /// Name, driver and backend in one string: the adapter's key in the autotune cache.
    pub adapter_key: String,
    /// Whether kernel choices are timed ([`crate::autotune`]; [`Options::autotune`]).
    pub autotune: bool,
    /// Where the autotuner keeps its decisions (`None`: in memory only).
    pub autotune_cache: Option<std::path::PathBuf>,
    /// The matmul kernel forced by [`Options::matmul`] (`None`: [`crate::kernels::matmul::pick`] chooses).
    pub matmul: Option<MatmulVariant>,
    /// The convolution path forced by [`Options::conv2d`] (`None`: [`crate::kernels::conv2d::pick`] chooses).
    pub conv2d: Option<Conv2dPath>,
    /// The reduction path forced by [`Options::reduce`] (`None`: chosen per reduction, see
    /// [`crate::kernels::reduce`]).
    pub reduce: Option<ReducePath>,
}

/// One adapter as listed by [`list_adapters`].
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: wgpu::Backend,
    pub device_type: wgpu::DeviceType,
    pub driver: String,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
}

/// How to pick the adapter; `Default` reads `WGRAD_BACKEND` and `WGRAD_ADAPTER`.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Restrict to these backends (default: all, or `WGRAD_BACKEND`).
    pub backends: Option<wgpu::Backends>,
    /// Case-insensitive substring of the adapter name (default: `WGRAD_ADAPTER`).
    pub adapter: Option<String>,
    /// Do not request these optional features even when available (to test fallbacks).
    pub disable_features: wgpu::Features,
    /// Run every matmul with this kernel instead of the automatic pick (tests and benchmarks compare them);
    /// device creation fails when the adapter cannot run it (see [`crate::kernels::matmul::available`]).
    pub matmul: Option<MatmulVariant>,
    /// Run every convolution that can take this path on it (the texture paths need `groups = 1`; other
    /// convolutions stay direct); device creation fails when the adapter cannot run `matmul_tex`.
    pub conv2d: Option<Conv2dPath>,
    /// Run every reduction that can take this path on it (argmax/argmin over more than 1,024 elements stay
    /// on the workgroup path); every adapter runs both.
    pub reduce: Option<ReducePath>,
    /// Most bytes of free buffers kept for reuse (default: `WGRAD_POOL_MAX`, bytes with an optional K, M or
    /// G suffix; unset: no cap, cached buffers unused for a while are freed anyway, see
    /// [`crate::free_list`]).
    pub pool_max: Option<u64>,
    /// Time the kernels that can compute a matmul or convolution once per shape class and keep the
    /// fastest, cached on disk ([`crate::autotune`]; default: `WGRAD_AUTOTUNE`, else off). A forced
    /// [`Options::matmul`] or [`Options::conv2d`] wins over it.
    pub autotune: Option<bool>,
    /// The autotune cache file (default: [`crate::autotune::default_file`]).
    pub autotune_cache: Option<std::path::PathBuf>,
}

/// The pool cap: `opts.pool_max`, else `WGRAD_POOL_MAX`.
///
/// # Errors
/// `Error::Argument` when `WGRAD_POOL_MAX` is not a byte count (`512M`, `2G`, `1000000`).
pub fn pool_cap(opts: &Options) -> Result<Option<u64>> {
    if opts.pool_max.is_some() {
        return Ok(opts.pool_max);
    }
    let Ok(text) = std::env::var("WGRAD_POOL_MAX") else {
        return Ok(None);
    };
    parse_bytes(&text).map(Some).ok_or_else(|| {
        Error::argument(
            "WGRAD_POOL_MAX",
            format!("{text:?} is not a byte count (e.g. 1000000, 512M, 2G)"),
        )
    })
}

/// `1000`, `64K`, `512M`, `2G` (powers of 1024) as bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return None,
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The device, its queue and the flag the device-lost callback sets.
#[derive(Debug)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub caps: Caps,
    pub backend: wgpu::Backend,
    pub device_type: wgpu::DeviceType,
    lost: Arc<AtomicBool>,
    lost_reason: Arc<Mutex<String>>,
}

fn backends_from_env(opts: &Options) -> Result<wgpu::Backends> {
    if let Some(b) = opts.backends {
        return Ok(b);
    }
    match std::env::var("WGRAD_BACKEND") {
        Ok(s) => match s.to_ascii_lowercase().as_str() {
            "vulkan" => Ok(wgpu::Backends::VULKAN),
            "metal" => Ok(wgpu::Backends::METAL),
            "dx12" => Ok(wgpu::Backends::DX12),
            "gl" => Ok(wgpu::Backends::GL),
            other => Err(Error::Backend {
                backend: "wgpu",
                msg: format!("WGRAD_BACKEND={other}: expected vulkan, metal, dx12 or gl"),
            }),
        },
        Err(_) => Ok(wgpu::Backends::all()),
    }
}

fn type_rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds (honouring `WGRAD_BACKEND`), with backend, type and limits.
pub fn list_adapters() -> Result<Vec<AdapterSummary>> {
    let backends = backends_from_env(&Options::default())?;
    let adapters = pollster::block_on(instance(backends).enumerate_adapters(backends));
    Ok(adapters.iter().map(summary).collect())
}

fn summary(a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    AdapterSummary {
        name: info.name,
        backend: info.backend,
        device_type: info.device_type,
        driver: info.driver_info,
        limits: a.limits(),
        features: a.features(),
    }
}

/// Sorts adapters best first: hardware before software, Vulkan/Metal/DX12 before GL.
fn choose(adapters: Vec<wgpu::Adapter>, name: Option<&str>) -> Result<wgpu::Adapter> {
    let mut found: Vec<wgpu::Adapter> = adapters
        .into_iter()
        .filter(|a| {
            name.is_none_or(|n| a.get_info().name.to_lowercase().contains(&n.to_lowercase()))
        })
        .collect();
    found.sort_by_key(|a| {
        let info = a.get_info();
        (
            type_rank(info.device_type),
            u32::from(info.backend == wgpu::Backend::Gl),
        )
    });
    found.into_iter().next().ok_or_else(|| Error::Backend {
        backend: "wgpu",
        msg: match name {
            Some(n) => format!("no adapter whose name contains {n:?} (WGRAD_ADAPTER)"),
            None => "no adapter found".to_string(),
        },
    })
}

/// What the device can do and what `opts` force, decided once at device creation.
fn caps_of(
    info: &wgpu::AdapterInfo,
    granted: wgpu::Features,
    coop_f16: bool,
    limits: wgpu::Limits,
    opts: &Options,
) -> Caps {
    Caps {
        is_software: info.device_type == wgpu::DeviceType::Cpu,
        shader_f16: granted.contains(wgpu::Features::SHADER_F16),
        shader_f64: granted.contains(wgpu::Features::SHADER_F64),
        subgroups: granted.contains(wgpu::Features::SUBGROUP),
        subgroup_size: (info.subgroup_min_size == info.subgroup_max_size)
            .then_some(info.subgroup_min_size),
        timestamp_query: granted.contains(wgpu::Features::TIMESTAMP_QUERY),
        coop_f16: coop_f16 && granted.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
        limits,
        adapter_name: info.name.clone(),
        adapter_key: format!(
            "{} | {} {} | {:?}",
            info.name, info.driver, info.driver_info, info.backend
        ),
        autotune: opts
            .autotune
            .or_else(crate::autotune::from_env)
            .unwrap_or(false),
        autotune_cache: opts
            .autotune_cache
            .clone()
            .or_else(crate::autotune::default_file),
        matmul: opts.matmul,
        conv2d: opts.conv2d,
        reduce: opts.reduce,
    }
}

impl Gpu {
    /// Picks the adapter per [`Options`] and creates the device with its real limits.
    pub fn new(opts: &Options) -> Result<Gpu> {
        let backends = backends_from_env(opts)?;
        let name = opts
            .adapter
            .clone()
            .or_else(|| std::env::var("WGRAD_ADAPTER").ok());
        let inst = instance(backends);
        let adapter = choose(
            pollster::block_on(inst.enumerate_adapters(backends)),
            name.as_deref(),
        )?;
        let info = adapter.get_info();
        let features = adapter.features() & OPTIONAL_FEATURES & !opts.disable_features;
        let limits = adapter.limits();
        let coop_f16 = features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX)
            && features.contains(wgpu::Features::SHADER_F16)
            && adapter.cooperative_matrix_properties().iter().any(|p| {
                use wgpu::CooperativeScalarType as S;
                [p.m_size, p.n_size, p.k_size] == [16, 16, 16]
                    && p.ab_type == S::F16
                    && p.cr_type == S::F32
            });
        let features = if coop_f16 {
            features
        } else {
            features - wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
        };
        let desc = wgpu::DeviceDescriptor {
            label: Some("wgrad"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: if coop_f16 {
                experimental()
            } else {
                wgpu::ExperimentalFeatures::disabled()
            },
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&desc)).map_err(|e| Error::Backend {
                backend: "wgpu",
                msg: format!("request_device on {}: {e}", info.name),
            })?;
        let lost = Arc::new(AtomicBool::new(false));
        let lost_reason = Arc::new(Mutex::new(String::new()));
        {
            let (lost, reason) = (lost.clone(), lost_reason.clone());
            // Never panic inside a wgpu callback: only record what happened.
            device.set_device_lost_callback(move |why, msg| {
                if let Ok(mut r) = reason.lock() {
                    *r = format!("{why:?}: {msg}");
                }
                lost.store(true, Ordering::SeqCst);
            });
        }
        // Errors outside our error scopes are logged, never panicked on.
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            eprintln!("wgrad-wgpu: uncaptured wgpu error: {e}");
        }));
        let caps = caps_of(&info, device.features(), coop_f16, device.limits(), opts);
        check_forced(&caps)?;
        Ok(Gpu {
            device,
            queue,
            caps,
            backend: info.backend,
            device_type: info.device_type,
            lost,
            lost_reason,
        })
    }

    /// `Err(DeviceLost)` once the device-lost callback has fired.
    pub fn check_lost(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            let why = self
                .lost_reason
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default();
            return Err(Error::DeviceLost(format!(
                "{}: {why}",
                self.caps.adapter_name
            )));
        }
        Ok(())
    }

    /// Backend name as the user sees it, e.g. `vulkan`.
    pub fn backend_name(&self) -> String {
        format!("{:?}", self.backend).to_lowercase()
    }
}

/// wgpu's token for its `EXPERIMENTAL_*` features: the one `unsafe` of the workspace (its lint denies
/// `unsafe_code` everywhere else).
#[allow(unsafe_code)]
fn experimental() -> wgpu::ExperimentalFeatures {
    // SAFETY: `ExperimentalFeatures::enabled` is unsafe only as an acknowledgement that experimental
    // features may still have bugs; the one requested is cooperative matrices, used by one kernel
    // (shaders/matmul_coop.wgsl), validated by naga with that capability, on the configuration the adapter
    // reported (16x16x16, f16 x f16 -> f32).
    unsafe { wgpu::ExperimentalFeatures::enabled() }
}

/// `Unsupported` when [`Options`] forces a kernel this adapter cannot run.
fn check_forced(caps: &Caps) -> Result<()> {
    let refuse = |op: &'static str, what: &str| Error::Unsupported {
        backend: "wgpu",
        op,
        msg: format!(
            "{what} was forced, but adapter {} cannot run it",
            caps.adapter_name
        ),
    };
    if let Some(v) = caps.matmul {
        if !crate::kernels::matmul::available(caps, v) {
            return Err(refuse("matmul", v.entry()));
        }
    }
    let textures = matches!(caps.conv2d, Some(Conv2dPath::Unfolded | Conv2dPath::Taps));
    if textures && !crate::kernels::matmul_tex::supported(caps) {
        return Err(refuse("conv2d", "the texture paths"));
    }
    Ok(())
}

/// Maps a wgpu error caught by an error scope to wgrad's error.
pub fn from_wgpu(what: &str, e: wgpu::Error) -> Error {
    match e {
        wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory(format!("{what}: {e}")),
        other => Error::Backend {
            backend: "wgpu",
            msg: format!("{what}: {other}"),
        },
    }
}
