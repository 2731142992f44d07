//! Buffer pool with size classes, reused across steps and executes.
//!
//! Sizes are rounded up to a class (`2^k`, `1.25·2^k`, `1.5·2^k`, `1.75·2^k`, at least 256 bytes), so at most
//! 25% is wasted and a training loop that allocates the same shapes every step reaches a steady state with no
//! `create_buffer` at all. A [`GpuBuffer`] hands its `wgpu::Buffer` back to the pool when the last clone of the
//! wgrad `Buffer` drops. Buffers get a stable id, used as the key of the bind group cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wgrad_graph::BufferImpl;

use crate::free_list::FreeList;
use crate::usage::Usage;

/// Storage buffers: bound read-only or read-write, copied to staging, written by `queue.write_buffer`.
pub const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);
/// Staging buffers for readback.
pub const STAGING: wgpu::BufferUsages =
    wgpu::BufferUsages::MAP_READ.union(wgpu::BufferUsages::COPY_DST);
/// Per-execute uniform blocks.
pub const UNIFORM: wgpu::BufferUsages =
    wgpu::BufferUsages::UNIFORM.union(wgpu::BufferUsages::COPY_DST);

/// The size class a request of `bytes` is served from.
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    let p = 1u64 << (63 - b.leading_zeros()); // largest power of two <= b
    if p == b {
        return b;
    }
    let quarter = (p / 4).max(1);
    b.div_ceil(quarter) * quarter
}

/// A pooled buffer with its id.
#[derive(Clone, Debug)]
pub struct Pooled {
    pub id: u64,
    pub buffer: wgpu::Buffer,
}

#[derive(Debug)]
struct State {
    free: FreeList<(u64, u32), Pooled>,
    /// Bytes handed out and not given back.
    live: u64,
    /// Most bytes held (live + cached) so far.
    peak: u64,
    created: u64,
    reused: u64,
}

/// The pool. Shared by every buffer of one backend.
#[derive(Debug)]
pub struct Pool {
    device: wgpu::Device,
    /// Bytes in use, shared with the texture pool.
    usage: Arc<Usage>,
    state: Mutex<State>,
    next_id: AtomicU64,
    /// Largest buffer the device accepts (`max_buffer_size`).
    max_size: u64,
}

/// Counters for tests, benchmarks and users (`Device::memory`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Buffers created and requests served from the cache.
    pub created: u64,
    pub reused: u64,
    /// Cached buffers destroyed (unused for `free_list::MAX_AGE` executes, over the cap, or released).
    pub evicted: u64,
    /// Bytes in buffers holding values now, cached for reuse, and the most held at once.
    pub live_bytes: u64,
    pub cached_bytes: u64,
    pub peak_bytes: u64,
}

impl Pool {
    /// A pool on `device` whose cache holds at most `cap` bytes (`None`: bounded by aging only).
    pub fn new(
        device: wgpu::Device,
        usage: Arc<Usage>,
        max_size: u64,
        cap: Option<u64>,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            device,
            usage,
            state: Mutex::new(State {
                free: FreeList::new(cap),
                live: 0,
                peak: 0,
                created: 0,
                reused: 0,
            }),
            next_id: AtomicU64::new(1),
            max_size,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A buffer of at least `bytes` with `usage`, reused when one of the class is free.
    pub fn take(&self, bytes: u64, usage: wgpu::BufferUsages) -> Pooled {
        let class = size_class(bytes).min(self.max_size.max(bytes)).max(4);
        self.usage.add(class);
        let mut state = self.lock();
        state.live += class;
        if let Some(p) = state.free.pop(&(class, usage.bits())) {
            state.reused += 1;
            return p;
        }
        state.created += 1;
        state.peak = state.peak.max(state.live + state.free.bytes());
        drop(state);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("wgrad pool {class}B #{id}")),
            size: class,
            usage,
            mapped_at_creation: false,
        });
        Pooled { id, buffer }
    }

    /// Returns a buffer for reuse at execute `stamp` (see [`FreeList`]).
    pub fn give(&self, p: Pooled, stamp: u64) {
        let (size, usage) = (p.buffer.size(), p.buffer.usage().bits());
        self.usage.sub(size);
        let mut state = self.lock();
        state.live = state.live.saturating_sub(size);
        let evicted = state.free.push((size, usage), p, size, stamp);
        drop(state);
        destroy(evicted);
    }

    /// Destroys cached buffers unused since before execute `stamp - MAX_AGE`.
    pub fn expire(&self, stamp: u64) {
        let evicted = self.lock().free.expire(stamp);
        destroy(evicted);
    }

    /// Destroys every cached buffer (PyTorch's `empty_cache`).
    pub fn release(&self) {
        let evicted = self.lock().free.clear();
        destroy(evicted);
    }

    /// Caps the cached bytes (`None`: aging only), evicting the oldest now if over.
    pub fn set_cap(&self, cap: Option<u64>) {
        let evicted = self.lock().free.set_cap(cap);
        destroy(evicted);
    }

    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            created: state.created,
            reused: state.reused,
            evicted: state.free.evicted(),
            live_bytes: state.live,
            cached_bytes: state.free.bytes(),
            peak_bytes: state.peak,
        }
    }
}

/// Frees evicted buffers' memory now (bind groups that still name them are never used again: ids are
/// unique).
fn destroy(evicted: Vec<Pooled>) {
    for p in evicted {
        p.buffer.destroy();
    }
}

/// The wgpu backend's buffer: a pooled storage buffer holding `bytes` meaningful bytes.
#[derive(Debug)]
pub struct GpuBuffer {
    pooled: Option<Pooled>,
    bytes: u64,
    pool: Arc<Pool>,
    /// The engine's execute counter: a dropped buffer is stamped with the execute it was released in.
    epoch: Arc<AtomicU64>,
}

impl GpuBuffer {
    pub fn new(pool: Arc<Pool>, bytes: u64, epoch: Arc<AtomicU64>) -> GpuBuffer {
        let pooled = pool.take(bytes, STORAGE);
        GpuBuffer {
            pooled: Some(pooled),
            bytes,
            pool,
            epoch,
        }
    }
    fn pooled(&self) -> &Pooled {
        self.pooled.as_ref().expect("only taken in drop")
    }
    pub fn raw(&self) -> &wgpu::Buffer {
        &self.pooled().buffer
    }
    pub fn id(&self) -> u64 {
        self.pooled().id
    }
    /// Meaningful bytes (the buffer itself may be larger: its size class).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(p) = self.pooled.take() {
            self.pool.give(p, self.epoch.load(Ordering::Relaxed));
        }
    }
}

impl BufferImpl for GpuBuffer {
    fn byte_size(&self) -> usize {
        self.bytes as usize
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_class_wastes_at_most_a_quarter() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(256), 256);
        assert_eq!(size_class(257), 320);
        assert_eq!(size_class(1000), 1024);
        for b in [300u64, 4097, 1_000_000, 123_456_789] {
            let c = size_class(b);
            assert!(c >= b && (c as f64) <= b as f64 * 1.25 + 1.0, "{b} -> {c}");
        }
    }
}
