//! `WgpuBackend`: wgrad's `Backend` on wgpu. Uploads through `queue.write_buffer`, downloads through a
//! pooled staging buffer, executes a schedule as one command encoder and one submit.
//!
//! A download also reads back (and clears) the engine's device error flag in the same submit and the same
//! staging buffer: an out-of-range index a kernel met since the last download is reported there, as an
//! `Error::Index`, instead of the bytes (delayed report, no extra sync; see [`crate::engine`]).

use std::sync::{Arc, Mutex};

use wgrad_graph::run_schedule;
use wgrad_graph::{Backend, BoxFuture, Buffer, DType, Error, Meta, Result, Schedule, View};

use crate::device::{Gpu, Options};
use crate::engine::{
    decode_device_error, gpu_buffer, storage_bytes, Engine, Recorder, ERROR_FLAG_WORDS,
};
use crate::kernels::router::GpuKernels;
use crate::pool::{PoolStats, Pooled, STAGING};

/// The wgpu backend. Cheap to clone (shares the device and caches).
#[derive(Clone, Debug)]
pub struct WgpuBackend {
    engine: Arc<Engine>,
}

/// Host bytes → GPU storage bytes: bool bytes widen to u32, everything padded to 4 bytes.
pub fn to_storage(bytes: &[u8], dtype: DType) -> Vec<u8> {
    let mut out: Vec<u8> = if dtype == DType::Bool {
        bytes
            .iter()
            .flat_map(|&b| u32::from(b != 0).to_le_bytes())
            .collect()
    } else {
        bytes.to_vec()
    };
    out.resize(out.len().div_ceil(4) * 4, 0);
    out
}

/// GPU storage bytes (starting at the view's first element) → host bytes of `numel` elements.
pub fn from_storage(bytes: &[u8], dtype: DType, numel: usize) -> Vec<u8> {
    if dtype == DType::Bool {
        bytes
            .chunks_exact(4)
            .take(numel)
            .map(|w| u8::from(w != [0, 0, 0, 0]))
            .collect()
    } else {
        bytes[..numel * dtype.host_size()].to_vec()
    }
}

fn storage_elem(dtype: DType) -> u64 {
    match dtype {
        DType::Bool => 4,
        d => d.host_size() as u64,
    }
}

impl WgpuBackend {
    /// The best adapter: discrete, integrated, then software; see [`crate::device`] for the env overrides.
    pub fn new() -> Result<WgpuBackend> {
        Self::with_options(&Options::default())
    }

    pub fn with_options(opts: &Options) -> Result<WgpuBackend> {
        let cap = crate::device::pool_cap(opts)?;
        Ok(WgpuBackend {
            engine: Engine::new(Gpu::new(opts)?, cap),
        })
    }

    pub fn caps(&self) -> &crate::Caps {
        &self.engine.gpu.caps
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn pool_stats(&self) -> PoolStats {
        self.engine.pool.stats()
    }

    /// Caps the bytes of free buffers kept for reuse (`None`: aging only), freeing the oldest now if over.
    pub fn set_pool_max(&self, bytes: Option<u64>) {
        self.engine.pool.set_cap(bytes);
    }

    /// Starts reading a contiguous view back: copies it and the device error flag into one pooled staging
    /// buffer (clearing the flag in the same submit) and requests the mapping. `None` for an empty view.
    fn begin_readback(&self, view: &View) -> Result<Option<Readback>> {
        let e = &self.engine;
        e.gpu.check_lost()?;
        let g = gpu_buffer("download", &view.buffer)?;
        let numel = view.layout.numel();
        let elem = storage_elem(view.dtype);
        let start = view.layout.offset as u64 * elem;
        let aligned = start / 4 * 4;
        let end = (start + numel as u64 * elem).div_ceil(4) * 4;
        if numel == 0 {
            return Ok(None);
        }
        if end > g.bytes() {
            return Err(Error::Backend {
                backend: "wgpu",
                msg: format!(
                    "download: view ends at byte {end}, buffer holds {}",
                    g.bytes()
                ),
            });
        }
        let data = end - aligned;
        let flag_bytes = (ERROR_FLAG_WORDS * 4) as u64;
        let total = data + flag_bytes;
        let staging = e.pool.take(total, STAGING);
        {
            let _guard = e.queue_lock.lock().expect("queue lock is never poisoned");
            let mut encoder =
                e.gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("wgrad download"),
                    });
            encoder.copy_buffer_to_buffer(g.raw(), aligned, &staging.buffer, 0, data);
            encoder.copy_buffer_to_buffer(&e.error_flag, 0, &staging.buffer, data, flag_bytes);
            encoder.clear_buffer(&e.error_flag, 0, None);
            e.gpu.queue.submit([encoder.finish()]);
        }
        let state = Arc::new(Mutex::new(MapState::default()));
        let slot = state.clone();
        staging
            .buffer
            .map_async(wgpu::MapMode::Read, 0..total, move |r| {
                // never panic in a wgpu callback: a poisoned lock just drops the result
                if let Ok(mut s) = slot.lock() {
                    s.result = Some(r);
                    if let Some(w) = s.waker.take() {
                        w.wake();
                    }
                }
            });
        Ok(Some(Readback {
            staging,
            state,
            data,
            skip: (start - aligned) as usize,
            numel,
            dtype: view.dtype,
        }))
    }

    /// Finishes a readback whose mapping completed: the bytes, or the error a kernel recorded.
    fn end_readback(&self, rb: Readback) -> Result<Vec<u8>> {
        let e = &self.engine;
        e.gpu.check_lost()?;
        let state = rb.state.lock().map(|mut s| s.result.take()).ok().flatten();
        if !matches!(state, Some(Ok(()))) {
            return Err(Error::Backend {
                backend: "wgpu",
                msg: format!("download: mapping the staging buffer failed: {state:?}"),
            });
        }
        let total = rb.data + (ERROR_FLAG_WORDS * 4) as u64;
        let read = rb
            .staging
            .buffer
            .get_mapped_range(0..total)
            .map_err(|err| Error::Backend {
                backend: "wgpu",
                msg: format!("download: {err}"),
            })
            .map(|mapped| {
                let (bytes, flag) = mapped.split_at(rb.data as usize);
                let mut words = [0u32; ERROR_FLAG_WORDS];
                for (w, b) in words.iter_mut().zip(flag.chunks_exact(4)) {
                    *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
                (from_storage(&bytes[rb.skip..], rb.dtype, rb.numel), words)
            });
        rb.staging.buffer.unmap();
        e.pool.give(rb.staging, e.epoch());
        let (bytes, words) = read?;
        match decode_device_error(words) {
            Some(err) => Err(err),
            None => Ok(bytes),
        }
    }

    /// `download` as a future that does not block the polling thread: a helper thread waits on the device
    /// (native wgpu fires map callbacks only from `Device::poll`) and the map callback wakes the task.
    pub async fn download_async(&self, view: &View) -> Result<Vec<u8>> {
        let Some(rb) = self.begin_readback(view)? else {
            return Ok(Vec::new());
        };
        MapWait {
            state: rb.state.clone(),
            device: Some(self.engine.gpu.device.clone()),
        }
        .await;
        self.end_readback(rb)
    }
}

/// The result of `map_async` and the task to wake when it arrives.
#[derive(Default)]
struct MapState {
    result: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<std::task::Waker>,
}

/// A staging copy in flight (see [`WgpuBackend::download_async`]).
struct Readback {
    staging: Pooled,
    state: Arc<Mutex<MapState>>,
    /// Bytes of data in the staging buffer (the error flag follows).
    data: u64,
    /// Bytes before the view's first element (copies start 4-byte aligned).
    skip: usize,
    numel: usize,
    dtype: DType,
}

/// Resolves once the map callback has run.
struct MapWait {
    state: Arc<Mutex<MapState>>,
    /// Taken by the first poll, which starts the thread that drives the device.
    device: Option<wgpu::Device>,
}

impl std::future::Future for MapWait {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        {
            let Ok(mut s) = self.state.lock() else {
                return std::task::Poll::Ready(()); // end_readback reports the missing result
            };
            if s.result.is_some() {
                return std::task::Poll::Ready(());
            }
            s.waker = Some(cx.waker().clone());
        }
        if let Some(device) = self.device.take() {
            std::thread::spawn(move || {
                // the callback records any failure; a poll error means the device is lost, which
                // end_readback's check_lost reports
                let _ = device.poll(wgpu::PollType::wait_indefinitely());
            });
        }
        std::task::Poll::Pending
    }
}

impl Backend for WgpuBackend {
    fn name(&self) -> String {
        let g = &self.engine.gpu;
        format!(
            "wgpu {}: {} ({:?})",
            g.backend_name(),
            g.caps.adapter_name,
            g.device_type
        )
    }

    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer> {
        let expected = meta.numel() * meta.dtype.host_size();
        if bytes.len() != expected {
            return Err(Error::argument(
                "upload",
                format!(
                    "{} {} needs {expected} bytes, got {}",
                    meta.shape,
                    meta.dtype,
                    bytes.len()
                ),
            ));
        }
        self.engine.gpu.check_lost()?;
        let buffer = self.engine.alloc("upload", meta)?;
        let data = to_storage(bytes, meta.dtype);
        debug_assert!(data.len() as u64 <= storage_bytes(meta.dtype, meta.numel()));
        if !data.is_empty() {
            let g = gpu_buffer("upload", &buffer)?;
            let _guard = self
                .engine
                .queue_lock
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            self.engine.gpu.queue.write_buffer(g.raw(), 0, &data);
        }
        Ok(buffer)
    }

    fn download(&self, view: &View) -> Result<Vec<u8>> {
        let Some(rb) = self.begin_readback(view)? else {
            return Ok(Vec::new());
        };
        // Another thread's poll may have collected this mapping's callback and not have run it yet: our
        // poll then returns with the queue idle and the result still missing. Wait until the callback ran.
        loop {
            self.engine
                .gpu
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|err| Error::Backend {
                    backend: "wgpu",
                    msg: format!("download: poll failed: {err}"),
                })?;
            // a poisoned lock: end_readback reports the missing result
            if rb.state.lock().map_or(true, |s| s.result.is_some()) {
                break;
            }
            self.engine.gpu.check_lost()?;
            std::thread::yield_now();
        }
        self.end_readback(rb)
    }

    fn download_async<'a>(&'a self, view: &'a View) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(WgpuBackend::download_async(self, view))
    }

    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>> {
        self.engine.gpu.check_lost()?;
        // Held from recording to submit: buffers released mid-schedule go back to the shared pool before
        // the submit, and another thread must not take one (and write it) until this work is queued.
        let _guard = self
            .engine
            .queue_lock
            .lock()
            .expect("queue lock is never poisoned");
        let mut kernels = GpuKernels {
            rec: Recorder::new(self.engine.clone()),
        };
        let outputs = run_schedule(&mut kernels, schedule)?;
        kernels.rec.finish()?;
        Ok(outputs)
    }

    fn supports(&self, dtype: DType) -> bool {
        crate::pipeline::wgsl_type(dtype, Some(self.caps())).is_ok()
    }

    fn memory(&self) -> wgrad_graph::MemoryStats {
        let m = self.engine.memory();
        let cached = m.pool.cached_bytes + m.texture_bytes;
        wgrad_graph::MemoryStats {
            allocated: m.in_use,
            peak_allocated: m.peak_in_use,
            reserved: m.in_use + cached,
            peak_reserved: m.pool.peak_bytes.max(m.in_use + cached),
        }
    }

    fn reset_peak_memory_stats(&self) {
        self.engine.usage.reset_peak();
    }

    fn empty_cache(&self) {
        self.engine.release_cached();
    }

    /// Not on software adapters while the scores fit one storage binding: there the fused kernel's
    /// per-invocation loops over keys read storage lane by lane and ran 5-11x slower than the composite's
    /// texture matmuls (BENCHMARKS.md, attention); past the binding limit only the fused kernel runs.
    fn prefers_fused_attention(&self, score_bytes: u64) -> bool {
        let caps = self.caps();
        !caps.is_software || score_bytes > caps.limits.max_storage_buffer_binding_size
    }

    /// On unless `WGRAD_FUSION=0` (for comparing against unfused runs), and where a fused kernel's
    /// bindings fit: its leaves and output as storage buffers.
    fn fuses_elementwise(&self) -> bool {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let on = *ON.get_or_init(|| std::env::var("WGRAD_FUSION").map_or(true, |v| v != "0"));
        let buffers = self.caps().limits.max_storage_buffers_per_shader_stage as usize;
        on && buffers > wgrad_graph::fuse::MAX_LEAVES
    }
}
