//! [`DistributedSampler`]: each rank's disjoint shard of every epoch (PyTorch's `DistributedSampler`).
//!
//! Every rank computes the same permutation of the data set for `(seed, epoch)`, the one a single-process
//! [`Loader`](wgrad_data::Loader) with that seed would serve ([`wgrad_data::permutation`]), and takes every
//! `size`-th position starting at its rank. Hence:
//! - shards are disjoint and together cover the epoch (padded or cut to a multiple of `size`, below);
//! - the same seed gives the same shards, on any host, with no communication;
//! - batch `k` of every rank's shard together are exactly batch `k` of a single process that trains with
//!   batch size `size · b` on the same seed (positions `k·size·b .. (k+1)·size·b` of the permutation), so a
//!   job of `p` ranks with batch `b` follows the single-process run with batch `p·b`, up to rounding.
//!
//! Every rank must take the same number of steps (a rank with one batch more would wait forever in its
//! extra all-reduce), so shards have equal length: without `drop_last` the permutation is padded by
//! repeating its first samples (as PyTorch does), with `drop_last` its tail is cut.

use wgrad_graph::{Error, Result};

/// Which samples each rank serves in each epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedSampler {
    len: usize,
    size: usize,
    rank: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
}

impl DistributedSampler {
    /// Shards of a data set of `len` samples for rank `rank` of `size`, shuffled with `seed`, padded.
    ///
    /// # Errors
    /// `Error::Argument` when `size` is 0 or `rank >= size`.
    pub fn new(len: usize, size: usize, rank: usize, seed: u64) -> Result<Self> {
        if size == 0 || rank >= size {
            return Err(Error::argument(
                "distributed_sampler",
                format!("rank {rank} out of range for {size} ranks"),
            ));
        }
        Ok(DistributedSampler {
            len,
            size,
            rank,
            seed,
            shuffle: true,
            drop_last: false,
        })
    }

    /// Serve the data set in order (evaluation) instead of shuffling.
    pub fn with_shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Cut the permutation to a multiple of `size` instead of padding it.
    pub fn with_drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }

    /// Samples in each rank's shard.
    pub fn shard_len(&self) -> usize {
        if self.drop_last {
            self.len / self.size
        } else {
            self.len.div_ceil(self.size)
        }
    }

    /// Batches of `batch_size` in each rank's shard (the same on every rank).
    pub fn batches(&self, batch_size: usize, drop_last: bool) -> usize {
        let n = self.shard_len();
        match batch_size {
            0 => 0,
            b if drop_last => n / b,
            b => n.div_ceil(b),
        }
    }

    /// This rank's samples for `epoch`, in the order to serve them: hand them to
    /// [`Loader::epoch_from`](wgrad_data::Loader::epoch_from), or to [`wgrad_data::Subset`].
    pub fn indices(&self, epoch: usize) -> Vec<usize> {
        let mut order = if self.shuffle {
            wgrad_data::permutation(self.len, self.seed, epoch)
        } else {
            (0..self.len).collect()
        };
        let total = self.shard_len() * self.size;
        if total <= order.len() {
            order.truncate(total);
        } else if !order.is_empty() {
            // pad by repeating from the start (more than once when len < size)
            let mut k = 0;
            while order.len() < total {
                order.push(order[k]);
                k += 1;
            }
        }
        order
            .into_iter()
            .skip(self.rank)
            .step_by(self.size)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(len: usize, size: usize, epoch: usize, drop_last: bool) -> Vec<Vec<usize>> {
        (0..size)
            .map(|r| {
                DistributedSampler::new(len, size, r, 3)
                    .expect("valid")
                    .with_drop_last(drop_last)
                    .indices(epoch)
            })
            .collect()
    }

    #[test]
    fn sampler_shards_are_disjoint_and_cover_the_epoch() {
        for size in [1, 2, 3, 4, 7] {
            let s = shards(1_000, size, 2, true);
            let mut all: Vec<usize> = s.iter().flatten().copied().collect();
            assert!(s.iter().all(|x| x.len() == 1_000 / size), "equal shards");
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 1_000 / size * size, "disjoint, {size} ranks");
        }
    }

    #[test]
    fn sampler_pads_to_equal_shards() {
        let s = shards(10, 4, 0, false);
        assert!(s.iter().all(|x| x.len() == 3));
        let mut all: Vec<usize> = s.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 10, "every sample is served");
        // Fewer samples than ranks: still one each.
        let s = shards(2, 3, 0, false);
        assert!(s.iter().all(|x| x.len() == 1), "{s:?}");
        assert!(shards(0, 2, 0, false).iter().all(Vec::is_empty));
    }

    #[test]
    fn sampler_same_seed_same_shards_epochs_differ() {
        assert_eq!(shards(500, 2, 1, false), shards(500, 2, 1, false));
        assert_ne!(shards(500, 2, 1, false), shards(500, 2, 2, false));
        let other = DistributedSampler::new(500, 2, 0, 4).expect("valid");
        assert_ne!(other.indices(1), shards(500, 2, 1, false)[0]);
    }

    #[test]
    fn sampler_batches_match_the_combined_batch() {
        // Batch k of every rank's shard together is batch k of one process with batch size · b.
        let (len, size, b) = (300, 3, 8);
        let s = shards(len, size, 5, true);
        let perm = wgrad_data::permutation(len, 3, 5);
        for k in 0..len / (size * b) {
            let mut ranks: Vec<usize> = s
                .iter()
                .flat_map(|x| x[k * b..(k + 1) * b].to_vec())
                .collect();
            let mut single = perm[k * size * b..(k + 1) * size * b].to_vec();
            ranks.sort_unstable();
            single.sort_unstable();
            assert_eq!(ranks, single, "batch {k}");
        }
    }

    #[test]
    fn sampler_in_order_and_counts() {
        let s = DistributedSampler::new(7, 2, 1, 0)
            .expect("valid")
            .with_shuffle(false);
        assert_eq!(s.indices(9), vec![1, 3, 5, 0]);
        assert_eq!(s.shard_len(), 4);
        assert_eq!((s.batches(3, false), s.batches(3, true)), (2, 1));
        assert!(DistributedSampler::new(7, 2, 2, 0).is_err());
        assert!(DistributedSampler::new(7, 0, 0, 0).is_err());
    }
}
