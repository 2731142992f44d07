//! Buffer pool with size classes, reused across steps and executes.
//!
//! Sizes are rounded up to a class (`2^k`, `1.25·2^k`, `1.5·2^k`, `1.75·2^k`, at least 256 bytes), so at most
//! 25% is wasted and a training loop that allocates the same shapes every step reaches a steady state with no
//! `create_buffer` at all. A [`GpuBuffer`] hands its `wgpu::Buffer` back to the pool when the last clone of the
//! wgrad `Buffer` drops. Buffers get a stable id, used as the key of the bind group cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use wgrad_graph::BufferImpl;

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

#[derive(Debug, Default)]
struct Free {
    by_key: HashMap<(u64, u32), Vec<Pooled>>,
    created: u64,
    reused: u64,
}

/// The pool. Shared by every buffer of one backend.
#[derive(Debug)]
pub struct Pool {
    device: wgpu::Device,
    free: Mutex<Free>,
    next_id: AtomicU64,
    /// Largest buffer the device accepts (`max_buffer_size`).
    max_size: u64,
}

/// Counters for tests and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub created: u64,
    pub reused: u64,
}

impl Pool {
    pub fn new(device: wgpu::Device, max_size: u64) -> Arc<Pool> {
        Arc::new(Pool {
            device,
            free: Mutex::new(Free::default()),
            next_id: AtomicU64::new(1),
            max_size,
        })
    }

    /// A buffer of at least `bytes` with `usage`, reused when one of the class is free.
    pub fn take(&self, bytes: u64, usage: wgpu::BufferUsages) -> Pooled {
        let class = size_class(bytes).min(self.max_size.max(bytes)).max(4);
        let key = (class, usage.bits());
        let mut free = self.free.lock().expect("pool mutex is never poisoned");
        if let Some(p) = free.by_key.get_mut(&key).and_then(|v| v.pop()) {
            free.reused += 1;
            return p;
        }
        free.created += 1;
        drop(free);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("wgrad pool {class}B #{id}")),
            size: class,
            usage,
            mapped_at_creation: false,
        });
        Pooled { id, buffer }
    }

    /// Returns a buffer for reuse.
    pub fn give(&self, p: Pooled) {
        let key = (p.buffer.size(), p.buffer.usage().bits());
        if let Ok(mut free) = self.free.lock() {
            free.by_key.entry(key).or_default().push(p);
        }
    }

    pub fn stats(&self) -> PoolStats {
        let free = self.free.lock().expect("pool mutex is never poisoned");
        PoolStats {
            created: free.created,
            reused: free.reused,
        }
    }
}

/// The wgpu backend's buffer: a pooled storage buffer holding `bytes` meaningful bytes.
#[derive(Debug)]
pub struct GpuBuffer {
    pooled: Option<Pooled>,
    bytes: u64,
    pool: Arc<Pool>,
}

impl GpuBuffer {
    pub fn new(pool: Arc<Pool>, bytes: u64) -> GpuBuffer {
        let pooled = pool.take(bytes, STORAGE);
        GpuBuffer {
            pooled: Some(pooled),
            bytes,
            pool,
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
            self.pool.give(p);
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
