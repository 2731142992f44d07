//! The recording engine: what kernel-family modules use to launch WGSL kernels.
//!
//! A [`Recorder`] lives for one `Backend::execute`. Each [`Dispatch`] only appends its uniform words to one
//! host-side block (at offsets aligned to `min_uniform_buffer_offset_alignment`) and remembers the pipeline,
//! buffers and grid. [`Recorder::finish`] writes the block into one pooled uniform buffer, records every
//! dispatch into one compute pass of one command encoder and submits once. Bind groups bind the uniform
//! buffer with a dynamic offset, so they are reused across dispatches and steps whenever the buffers are the
//! same (the pool hands out the same buffers in a steady-state loop).
//!
//! # Device-side errors (delayed report)
//!
//! Some kernels can meet bad data only the GPU sees (an out-of-range gather/scatter_add index). Checking it on
//! the host would need the data there, i.e. a GPU→CPU sync on every execute. Instead the engine owns one small
//! storage buffer, the device error flag ([`ERROR_FLAG_WORDS`] u32: op code, value, axis, axis length; all zero
//! when no error), which kernels launched with [`Recorder::dispatch_checked`] get as an extra read-write binding
//! and set first-writer-wins. `WgpuBackend::download`, which waits for the GPU anyway, copies the flag into the
//! same staging buffer as the data (same submit, no extra sync) and clears it in that submit; when it was set,
//! that download returns the error ([`decode_device_error`]: `Error::Index { op: "gather", msg: "index 7 out of
//! range for dim 1 of size 5 (detected on the GPU)" }`) instead of the bytes. So, like CUDA's device-side
//! asserts, the error surfaces at the next read after the faulty execute, possibly a read of another tensor,
//! and is reported once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wgrad_graph::{Buffer, DType, Error, Meta, Result};

pub use crate::device::Caps;
use crate::device::{from_wgpu, Gpu};
use crate::dispatch::{fold_grid, Bind, BindKind, Dispatch};
use crate::pipeline::Pipelines;
use crate::pool::{GpuBuffer, Pool, UNIFORM};
use crate::texture::{Size as TextureSize, Texture, TexturePool};
use crate::usage::Usage;

/// Bytes a value of `numel` elements of `dtype` occupies on the GPU: bool/i32/u32/f32 4 bytes per element,
/// f16/bf16 2 bytes, f64 8, rounded up to 4 bytes (at least 4).
pub fn storage_bytes(dtype: DType, numel: usize) -> u64 {
    let per = match dtype {
        DType::F16 | DType::BF16 => 2,
        DType::F64 => 8,
        _ => 4,
    };
    ((numel as u64) * per).div_ceil(4).max(1) * 4
}

/// `Err(LimitExceeded)` when a binding of `bytes` is above `max_storage_buffer_binding_size` (or
/// `max_buffer_size`). Pure, so the rule is testable without allocating.
pub fn check_binding_size(op: &'static str, bytes: u64, limits: &wgpu::Limits) -> Result<()> {
    let binding = limits.max_storage_buffer_binding_size;
    if bytes > binding {
        return Err(Error::LimitExceeded {
            op,
            what: "storage buffer binding size in bytes".to_string(),
            value: bytes,
            limit_name: "max_storage_buffer_binding_size",
            limit: binding,
        });
    }
    if bytes > limits.max_buffer_size {
        return Err(Error::LimitExceeded {
            op,
            what: "buffer size in bytes".to_string(),
            value: bytes,
            limit_name: "max_buffer_size",
            limit: limits.max_buffer_size,
        });
    }
    Ok(())
}

/// Number of u32 words of the device error flag: op code (0 none, see [`DEVICE_ERROR_OPS`]), value (i32
/// bits), axis, axis length.
pub const ERROR_FLAG_WORDS: usize = 4;
/// Op codes a kernel writes into word 0 of the device error flag (code `k` is `DEVICE_ERROR_OPS[k - 1]`):
/// the `ERR_*` constants of `shaders/index.wgsl`.
pub const DEVICE_ERROR_OPS: [&str; 2] = ["gather", "scatter_add"];

/// The error the device error flag's words describe, or `None` when no error was recorded.
pub fn decode_device_error(words: [u32; ERROR_FLAG_WORDS]) -> Option<Error> {
    let [code, value, axis, len] = words;
    if code == 0 {
        return None;
    }
    let Some(&op) = DEVICE_ERROR_OPS.get(code as usize - 1) else {
        return Some(Error::Backend {
            backend: "wgpu",
            msg: format!("a kernel recorded unknown device error code {code} (value {value})"),
        });
    };
    Some(Error::index(
        op,
        format!(
            "index {} out of range for dim {axis} of size {len} (detected on the GPU)",
            value as i32
        ),
    ))
}

/// Cached bind groups by their resources' ids, each with the execute it was last used in.
type BindGroups = HashMap<Vec<u64>, (wgpu::BindGroup, u64)>;

/// Most cached bind groups; past it the cache starts over (a bind group is cheap to make again).
const MAX_BIND_GROUPS: usize = 4096;

/// Everything one backend shares: device, pool, caches.
#[derive(Debug)]
pub struct Engine {
    pub gpu: Gpu,
    pub pool: Arc<Pool>,
    pub textures: Arc<TexturePool>,
    /// Bytes in use by both pools, and their peak.
    pub usage: Arc<Usage>,
    pub pipelines: Pipelines,
    bind_groups: Mutex<BindGroups>,
    /// Executes finished so far: the clock the caches age their entries by (see [`crate::free_list`]).
    epoch: Arc<AtomicU64>,
    /// Serializes recording+submit against uploads/downloads from other threads.
    pub queue_lock: Mutex<()>,
    /// The device error flag (see the module docs): [`ERROR_FLAG_WORDS`] u32, zero when no error.
    pub error_flag: wgpu::Buffer,
    /// Kernel choices timed and cached, when [`crate::Caps::autotune`] is on.
    pub tuner: Option<crate::autotune::Tuner>,
}

impl Engine {
    /// The engine of `gpu`; its buffer cache holds at most `pool_cap` bytes (`None`: bounded by aging).
    pub fn new(gpu: Gpu, pool_cap: Option<u64>) -> Arc<Engine> {
        // Size classes round up by up to 25%, and kernels bind whole buffers: a class must not pass the
        // binding limit that the requested size was checked against.
        let limits = &gpu.caps.limits;
        let largest = limits
            .max_buffer_size
            .min(limits.max_storage_buffer_binding_size);
        let usage = Arc::new(Usage::default());
        let pool = Pool::new(gpu.device.clone(), usage.clone(), largest, pool_cap);
        let epoch = Arc::new(AtomicU64::new(0));
        // wgpu zero-initializes new buffers: no error recorded
        let error_flag = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgrad device error flag"),
            size: (ERROR_FLAG_WORDS * 4) as u64,
            usage: crate::pool::STORAGE,
            mapped_at_creation: false,
        });
        let textures = TexturePool::new(gpu.device.clone(), usage.clone(), epoch.clone());
        let tuner = gpu.caps.autotune.then(|| {
            crate::autotune::Tuner::open(&gpu.caps.adapter_key, gpu.caps.autotune_cache.clone())
        });
        Arc::new(Engine {
            gpu,
            pool,
            textures,
            usage,
            pipelines: Pipelines::default(),
            bind_groups: Mutex::new(HashMap::new()),
            epoch,
            queue_lock: Mutex::new(()),
            error_flag,
            tuner,
        })
    }

    /// A fresh pooled storage buffer for `meta`.
    pub fn alloc(self: &Arc<Self>, op: &'static str, meta: &Meta) -> Result<Buffer> {
        let bytes = storage_bytes(meta.dtype, meta.numel());
        check_binding_size(op, bytes, &self.gpu.caps.limits)?;
        let buffer = GpuBuffer::new(self.pool.clone(), bytes, self.epoch.clone());
        Ok(Buffer::new(buffer))
    }

    /// The execute counter now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Counts one finished execute; every few, evicts what the caches kept unused for
    /// [`crate::free_list::MAX_AGE`] executes.
    fn tick(&self) {
        let epoch = self.epoch.fetch_add(1, Ordering::Relaxed) + 1;
        if !epoch.is_multiple_of(8) {
            return;
        }
        self.pool.expire(epoch);
        self.textures.expire(epoch);
        let mut groups = self.bind_groups.lock().unwrap_or_else(|e| e.into_inner());
        groups.retain(|_, (_, used)| *used + crate::free_list::MAX_AGE >= epoch);
    }

    /// Destroys every cached buffer and texture and drops the cached bind groups (PyTorch's
    /// `empty_cache`); values still held by tensors stay.
    pub fn release_cached(&self) {
        self.bind_groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.pool.release();
        self.textures.release();
    }

    /// Memory held by this engine: the buffer pool's counters, cached texture bytes, bytes in use by values
    /// and staged textures and their peak, cached bind groups.
    pub fn memory(&self) -> Memory {
        Memory {
            pool: self.pool.stats(),
            texture_bytes: self.textures.cached_bytes(),
            in_use: self.usage.live(),
            peak_in_use: self.usage.peak(),
            bind_groups: self
                .bind_groups
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
        }
    }
}

/// What [`Engine::memory`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub pool: crate::pool::PoolStats,
    /// Bytes in cached (free) textures.
    pub texture_bytes: u64,
    /// Bytes in buffers holding values and in textures in use, and the most at once since the last reset.
    pub in_use: u64,
    pub peak_in_use: u64,
    /// Cached bind groups.
    pub bind_groups: usize,
}

/// The wgpu buffer behind a wgrad buffer, or an error naming the op when it belongs to another backend.
pub fn gpu_buffer<'b>(op: &str, b: &'b Buffer) -> Result<&'b GpuBuffer> {
    b.downcast::<GpuBuffer>().ok_or_else(|| Error::Backend {
        backend: "wgpu",
        msg: format!("{op}: buffer does not belong to the wgpu backend"),
    })
}

/// A bound wgpu resource, kept alive until the submit.
#[derive(Debug)]
enum Resource {
    Buffer(wgpu::Buffer),
    View(wgpu::TextureView),
}

#[derive(Debug)]
struct Cmd {
    label: Arc<str>,
    pipeline: wgpu::ComputePipeline,
    kinds: Vec<BindKind>,
    /// Binds the device error flag after the params.
    error_flag: bool,
    /// (id, resource) per binding; buffer and texture ids are distinct counters, told apart by `kinds`.
    resources: Vec<(u64, Resource)>,
    param_offset: u32,
    param_size: u64,
    grid: [u32; 3],
}

/// Records the dispatches of one `Backend::execute`: one command encoder, one submit.
#[derive(Debug)]
pub struct Recorder {
    engine: Arc<Engine>,
    params: Vec<u8>,
    cmds: Vec<Cmd>,
}

impl Recorder {
    pub fn new(engine: Arc<Engine>) -> Recorder {
        Recorder {
            engine,
            params: Vec::new(),
            cmds: Vec::new(),
        }
    }

    pub fn caps(&self) -> &Caps {
        &self.engine.gpu.caps
    }

    /// The engine this recorder records for.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Wall seconds of the best of three runs of `record` alone on this engine (the first compiles
    /// pipelines and fills pools): each run records into its own [`Recorder`], submits and waits. The
    /// autotuner's clock.
    pub fn time_alone(&self, record: impl Fn(&mut Recorder) -> Result<()>) -> Result<f64> {
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = std::time::Instant::now();
            let mut rec = Recorder::new(self.engine.clone());
            record(&mut rec)?;
            rec.finish()?;
            let _ = self
                .engine
                .gpu
                .device
                .poll(wgpu::PollType::wait_indefinitely());
            best = best.min(start.elapsed().as_secs_f64());
        }
        Ok(best)
    }

    /// A fresh pooled buffer big enough for `meta`; `LimitExceeded` above max_storage_buffer_binding_size.
    pub fn output(&mut self, meta: &Meta) -> Result<Buffer> {
        self.engine.alloc("output", meta)
    }

    /// A scratch texture of `size` (see [`crate::texture`]), or `LimitExceeded` past
    /// `max_texture_dimension_2d` or `max_texture_array_layers`. Zero sizes are taken as 1.
    pub fn texture(&mut self, op: &'static str, size: TextureSize) -> Result<Texture> {
        let limits = &self.caps().limits;
        let over = |what: &str, value: u32, limit_name, limit: u32| Error::LimitExceeded {
            op,
            what: what.to_string(),
            value: value as u64,
            limit_name,
            limit: limit as u64,
        };
        let dim = limits.max_texture_dimension_2d;
        if let Some(&value) = [size.width, size.height].iter().find(|&&d| d > dim) {
            let what = "texture width or height in texels";
            return Err(over(what, value, "max_texture_dimension_2d", dim));
        }
        if size.layers > limits.max_texture_array_layers {
            let (what, limit) = ("texture array layers", limits.max_texture_array_layers);
            return Err(over(what, size.layers, "max_texture_array_layers", limit));
        }
        Ok(self.engine.textures.take(TextureSize {
            width: size.width.max(1),
            height: size.height.max(1),
            layers: size.layers.max(1),
        }))
    }

    /// Number of dispatches recorded so far.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    pub fn dispatch(&mut self, d: Dispatch<'_>) -> Result<()> {
        self.record(d, false)
    }

    /// [`Recorder::dispatch`] for a kernel that can detect bad data: binding n+1 (after the params at n) is the
    /// engine's device error flag, `array<atomic<u32>, 4>` read-write, which the kernel sets first-writer-wins
    /// (word 0 an op code of [`DEVICE_ERROR_OPS`], then value, axis, axis length). The next download reports
    /// it; see the module docs.
    pub fn dispatch_checked(&mut self, d: Dispatch<'_>) -> Result<()> {
        self.record(d, true)
    }

    fn record(&mut self, d: Dispatch<'_>, error_flag: bool) -> Result<()> {
        let e = &self.engine;
        let caps = &e.gpu.caps;
        let grid = fold_grid(
            d.entry,
            d.grid,
            caps.limits.max_compute_workgroups_per_dimension,
        )?;
        let (pipeline, label) = e.pipelines.pipeline(&e.gpu.device, caps, &d, error_flag)?;
        let mut resources = Vec::with_capacity(d.bindings.len());
        for bind in d.bindings {
            resources.push(match bind {
                Bind::Read(b) | Bind::ReadWrite(b) => {
                    let g = gpu_buffer(d.entry, b)?;
                    check_binding_size(d.entry, g.bytes(), &caps.limits)?;
                    (g.id(), Resource::Buffer(g.raw().clone()))
                }
                Bind::Texture(t) | Bind::StorageTexture(t) => {
                    (t.id(), Resource::View(t.view().clone()))
                }
            });
        }
        let align = caps.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let offset = self.params.len().div_ceil(align) * align;
        self.params.resize(offset, 0);
        self.params
            .extend_from_slice(bytemuck::cast_slice(d.params));
        let size = (d.params.len() * 4).div_ceil(16).max(1) * 16;
        self.params.resize(offset + size, 0);
        if grid.contains(&0) {
            return Ok(());
        }
        self.cmds.push(Cmd {
            label,
            pipeline,
            kinds: d.bindings.iter().map(Bind::kind).collect(),
            error_flag,
            resources,
            param_offset: offset as u32,
            param_size: size as u64,
            grid,
        });
        Ok(())
    }

    fn bind_group(&self, cmd: &Cmd, uniform: &(u64, wgpu::Buffer)) -> wgpu::BindGroup {
        let mut key: Vec<u64> = cmd
            .resources
            .iter()
            .zip(&cmd.kinds)
            .flat_map(|((id, _), &kind)| [*id, kind as u64])
            .collect();
        key.extend([uniform.0, cmd.param_size, u64::from(cmd.error_flag)]);
        let epoch = self.engine.epoch();
        let mut cache = self
            .engine
            .bind_groups
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((bg, used)) = cache.get_mut(&key) {
            *used = epoch;
            return bg.clone();
        }
        if cache.len() > MAX_BIND_GROUPS {
            cache.clear();
        }
        let (layout, _) =
            self.engine
                .pipelines
                .layout(&self.engine.gpu.device, &cmd.kinds, cmd.error_flag);
        let mut entries: Vec<wgpu::BindGroupEntry> = cmd
            .resources
            .iter()
            .enumerate()
            .map(|(i, (_, r))| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: match r {
                    Resource::Buffer(b) => b.as_entire_binding(),
                    Resource::View(v) => wgpu::BindingResource::TextureView(v),
                },
            })
            .collect();
        entries.push(wgpu::BindGroupEntry {
            binding: cmd.resources.len() as u32,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &uniform.1,
                offset: 0,
                size: std::num::NonZeroU64::new(cmd.param_size),
            }),
        });
        if cmd.error_flag {
            entries.push(wgpu::BindGroupEntry {
                binding: cmd.resources.len() as u32 + 1,
                resource: self.engine.error_flag.as_entire_binding(),
            });
        }
        let bg = self
            .engine
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(&cmd.label),
                layout: &layout,
                entries: &entries,
            });
        cache.insert(key, (bg.clone(), epoch));
        bg
    }

    /// Records `cmds` into one compute pass of one encoder and submits it.
    fn submit<'c>(
        &self,
        cmds: impl Iterator<Item = (&'c Cmd, &'c wgpu::BindGroup)>,
    ) -> wgpu::SubmissionIndex {
        let label = Some("wgrad execute");
        let gpu = &self.engine.gpu;
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label,
                timestamp_writes: None,
            });
            for (cmd, bg) in cmds {
                pass.set_pipeline(&cmd.pipeline);
                pass.set_bind_group(0, bg, &[cmd.param_offset]);
                pass.dispatch_workgroups(cmd.grid[0], cmd.grid[1], cmd.grid[2]);
            }
        }
        gpu.queue.submit([encoder.finish()])
    }

    /// [`crate::profile`]: each dispatch submitted and waited for alone, its wall time recorded.
    fn submit_one_by_one(&self, groups: &[wgpu::BindGroup]) -> wgpu::SubmissionIndex {
        let device = &self.engine.gpu.device;
        // start from an idle queue so the first kernel is not charged for earlier work
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
        let mut last = None;
        for (cmd, bg) in self.cmds.iter().zip(groups) {
            let start = std::time::Instant::now();
            last = Some(self.submit(std::iter::once((cmd, bg))));
            let _ = device.poll(wgpu::PollType::wait_indefinitely());
            crate::profile::record(&cmd.label, start.elapsed().as_secs_f64());
        }
        last.expect("finish returns early when there are no commands")
    }

    /// Writes the uniform block, records every dispatch into one encoder and submits once.
    pub fn finish(self) -> Result<Option<wgpu::SubmissionIndex>> {
        let e = self.engine.clone();
        e.gpu.check_lost()?;
        if self.cmds.is_empty() {
            return Ok(None);
        }
        let device = &e.gpu.device;
        let oom = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let uniform = e.pool.take(self.params.len() as u64, UNIFORM);
        e.gpu.queue.write_buffer(&uniform.buffer, 0, &self.params);
        let uniform_key = (uniform.id, uniform.buffer.clone());
        let groups: Vec<wgpu::BindGroup> = self
            .cmds
            .iter()
            .map(|c| self.bind_group(c, &uniform_key))
            .collect();
        let index = if crate::profile::enabled() {
            self.submit_one_by_one(&groups)
        } else {
            self.submit(self.cmds.iter().zip(&groups))
        };
        e.pool.give(uniform, e.epoch());
        e.tick();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(err) = v.or(o) {
            return Err(from_wgpu("wgpu execute", err));
        }
        e.gpu.check_lost()?;
        Ok(Some(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_binding_size_names_the_limit() {
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: 128 << 20,
            ..wgpu::Limits::default()
        };
        // 32M f32 elements fit exactly; one more does not (checked without allocating anything)
        assert!(check_binding_size("add", storage_bytes(DType::F32, 32 << 20), &limits).is_ok());
        let e = check_binding_size("add", storage_bytes(DType::F32, (32 << 20) + 1), &limits)
            .expect_err("over the limit");
        assert!(
            e.to_string()
                .contains("max_storage_buffer_binding_size = 134217728"),
            "{e}"
        );
        assert_eq!(storage_bytes(DType::F16, 3), 8);
        assert_eq!(storage_bytes(DType::Bool, 3), 12);
        assert_eq!(storage_bytes(DType::F32, 0), 4);
    }

    #[test]
    fn device_errors_decode_to_index_errors() {
        assert!(decode_device_error([0, 7, 1, 5]).is_none());
        let e = decode_device_error([1, 7, 1, 5]).expect("set");
        assert!(matches!(e, Error::Index { op: "gather", .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "gather: index 7 out of range for dim 1 of size 5 (detected on the GPU)"
        );
        let e = decode_device_error([2, (-1i32) as u32, 0, 3]).expect("set");
        assert_eq!(
            e.to_string(),
            "scatter_add: index -1 out of range for dim 0 of size 3 (detected on the GPU)"
        );
        assert!(matches!(
            decode_device_error([9, 0, 0, 0]),
            Some(Error::Backend { .. })
        ));
    }
}
