//! The contract between the graph and the devices that execute it: the [`Backend`] trait.
//!
//! `realize` builds a [`Schedule`] and hands it to [`Backend::execute`]; a backend executes a whole schedule at
//! once (the wgpu backend records it into one command encoder and one submit). Backends implement
//! [`crate::kernels::Kernels`], one method per op family, and get the walk over the schedule from
//! [`crate::runner::run_schedule`], so that logic exists once.

use std::fmt::Debug;

use crate::buffer::{Buffer, View};
use crate::dtype::DType;
use crate::error::Result;
use crate::op::Meta;
use crate::schedule::Schedule;

/// A boxed, sendable future (what [`Backend::download_async`] returns; trait methods cannot be `async` and
/// stay object-safe).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A device that can hold buffers and execute schedules.
pub trait Backend: Send + Sync + Debug {
    /// Human-readable name: `cpu` or e.g. `wgpu vulkan: NVIDIA H100 (DiscreteGpu)`.
    fn name(&self) -> String;
    /// Copies host bytes (`meta.dtype`'s host layout, row-major) into a new buffer.
    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer>;
    /// Reads a contiguous view back as host bytes (row-major, `dtype`'s host layout).
    fn download(&self, view: &View) -> Result<Vec<u8>>;
    /// [`Backend::download`] as a future that does not block the thread polling it while the device works
    /// (a GPU backend resolves it from its map callback). The default, for backends whose memory is the
    /// host's, is the blocking download.
    fn download_async<'a>(&'a self, view: &'a View) -> BoxFuture<'a, Result<Vec<u8>>> {
        Box::pin(std::future::ready(self.download(view)))
    }
    /// Runs every step and returns the buffers of `schedule.outputs`.
    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>>;
    /// Whether the backend can compute in this dtype (uploads and downloads of every dtype always work).
    fn supports(&self, dtype: DType) -> bool;
    /// Whether `realize` should merge elementwise chains into fused steps ([`crate::fuse`]) for
    /// this backend. Off by default: the CPU reference runs every op on its own.
    fn fuses_elementwise(&self) -> bool {
        false
    }
    /// Whether [`crate::AttentionPath::Auto`] takes the fused attention kernel where the composite would
    /// store `score_bytes` of `[..., tq, tk]` scores. On by default (the fused kernel's memory is linear in
    /// the sequence length); a backend whose fused kernel is slower than its matmuls says no while the
    /// scores fit.
    fn prefers_fused_attention(&self, score_bytes: u64) -> bool {
        let _ = score_bytes;
        true
    }
    /// Device memory the backend holds (zeros for backends whose memory is the host's).
    fn memory(&self) -> MemoryStats {
        MemoryStats::default()
    }
    /// Frees memory cached for reuse; values held by tensors stay.
    fn empty_cache(&self) {}
    /// Starts [`MemoryStats::peak_allocated`] over from what is allocated now.
    fn reset_peak_memory_stats(&self) {}
}

/// Device memory of a backend, in bytes, in PyTorch's terms (`torch.cuda.memory_allocated`,
/// `max_memory_allocated`, `memory_reserved`, `max_memory_reserved`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Held by values that are still alive (tensors, pending results, staging).
    pub allocated: u64,
    /// The most allocated at once since the device was made or the last
    /// [`crate::Device::reset_peak_memory_stats`].
    pub peak_allocated: u64,
    /// Allocated plus what is cached for reuse.
    pub reserved: u64,
    /// The most ever reserved.
    pub peak_reserved: u64,
}
