//! Bytes in use: buffers holding values and textures holding staged operands, together, and the most
//! at once since the last reset (PyTorch's `memory_allocated` / `max_memory_allocated`).
//!
//! The buffer pool and the texture pool each add what they hand out and subtract what comes back; the
//! peak is over their sum, so a convolution's staged texture counts alongside the activations it reads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared by the pools of one backend.
#[derive(Debug, Default)]
pub struct Usage {
    live: AtomicU64,
    peak: AtomicU64,
}

impl Usage {
    /// `bytes` handed out.
    pub fn add(&self, bytes: u64) {
        let live = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(live, Ordering::Relaxed);
    }

    /// `bytes` given back.
    pub fn sub(&self, bytes: u64) {
        // saturating: never below zero whatever the interleaving of threads
        let _ = self
            .live
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(bytes))
            });
    }

    /// Bytes in use now.
    pub fn live(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// The most bytes in use at once since the last [`Usage::reset_peak`].
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed).max(self.live())
    }

    /// Starts the peak over from what is in use now.
    pub fn reset_peak(&self) {
        self.peak.store(self.live(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_the_most_in_use_at_once_since_the_reset() {
        let u = Usage::default();
        u.add(100);
        u.add(50);
        u.sub(100);
        assert_eq!((u.live(), u.peak()), (50, 150));
        u.reset_peak();
        u.add(20);
        assert_eq!((u.live(), u.peak()), (70, 70));
        u.sub(1000);
        assert_eq!(u.live(), 0);
    }
}
