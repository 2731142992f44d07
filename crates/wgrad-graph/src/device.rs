//! A `Device` is a backend plus the state of its random generator.

use std::sync::{Arc, Mutex};

use crate::backend::{Backend, MemoryStats};

/// Where tensors live and run: a shared handle to a [`Backend`]. Cheap to clone; two handles are the same
/// device when they share the backend.
#[derive(Clone, Debug)]
pub struct Device {
    backend: Arc<dyn Backend>,
    rng: Arc<Mutex<RngState>>,
}

/// Philox seed and the next unused counter: each random tensor takes `numel` counters, so consecutive draws
/// never overlap and a run is reproducible from its seed, on every backend (PyTorch's Philox offset).
#[derive(Clone, Copy, Debug)]
struct RngState {
    seed: u64,
    offset: u64,
}

impl Device {
    pub fn new(backend: impl Backend + 'static) -> Self {
        Device::from_arc(Arc::new(backend))
    }

    pub fn from_arc(backend: Arc<dyn Backend>) -> Self {
        Device {
            backend,
            rng: Arc::new(Mutex::new(RngState { seed: 0, offset: 0 })),
        }
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn name(&self) -> String {
        self.backend.name()
    }

    /// Device memory held now and at most (see [`MemoryStats`]).
    pub fn memory(&self) -> MemoryStats {
        self.backend.memory()
    }

    /// Frees memory the backend caches for reuse (PyTorch's `torch.cuda.empty_cache()`).
    pub fn empty_cache(&self) {
        self.backend.empty_cache();
    }

    /// Starts the peak of [`MemoryStats::peak_allocated`] over from what is allocated now (PyTorch's
    /// `torch.cuda.reset_peak_memory_stats()`).
    pub fn reset_peak_memory_stats(&self) {
        self.backend.reset_peak_memory_stats();
    }

    pub fn same(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.rng, &other.rng)
    }

    /// Restarts the device's random stream at `seed`.
    pub fn manual_seed(&self, seed: u64) {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *rng = RngState { seed, offset: 0 };
    }

    /// Reserves `count` counters of the random stream: returns `(seed, offset)` for a new random tensor.
    pub(crate) fn next_random(&self, count: u64) -> (u64, u64) {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let out = (rng.seed, rng.offset);
        rng.offset = rng.offset.wrapping_add(count);
        out
    }
}
