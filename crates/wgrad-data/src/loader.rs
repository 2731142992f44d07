//! Shuffled, normalized mini-batches.
//!
//! A [`Loader`] turns a [`Dataset`] of byte images into [`Batch`]es of `f32` pixels, shape
//! `[batch, channels, rows, cols]`, and `i32` labels: the layout conv layers and `cross_entropy` take.
//! It stops at plain vectors so this crate needs nothing from the graph or the backends.
//!
//! Why the order is a pure function of `(seed, epoch)`: a run can be resumed at any epoch, or replayed to chase
//! a bug, and get the same batches, without saving generator state. The permutation is a Fisher–Yates shuffle
//! whose random numbers come from the same counter-based Philox 4x32-10 that `wgrad_graph` uses for random
//! tensors ([`wgrad_graph::philox::words`]), keyed by `seed`, with counter `epoch · 2³² + i`, so epochs use
//! disjoint streams and differ from each other.

use std::iter::FusedIterator;

use wgrad_graph::{philox, Error, Result};

use crate::mnist::Mnist;

/// Mean and standard deviation of the MNIST training pixels (after `/255`), as torchvision uses them.
pub const MNIST_MEAN_STD: (f32, f32) = (0.1307, 0.3081);

/// A set of byte images with integer labels, indexed `0..len()`.
///
/// Implement it to feed another data set (CIFAR, a synthetic set) through [`Loader`].
pub trait Dataset {
    /// Number of samples.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Shape of one image, `[channels, rows, cols]`.
    fn image_shape(&self) -> [usize; 3];
    /// The bytes of sample `i`, `channels * rows * cols` of them in row-major order.
    fn image(&self, i: usize) -> &[u8];
    /// The class of sample `i`.
    fn label(&self, i: usize) -> i32;
}

impl Dataset for Mnist {
    fn len(&self) -> usize {
        Mnist::len(self)
    }
    fn image_shape(&self) -> [usize; 3] {
        [1, self.rows, self.cols]
    }
    fn image(&self, i: usize) -> &[u8] {
        Mnist::image(self, i)
    }
    fn label(&self, i: usize) -> i32 {
        i32::from(Mnist::label(self, i))
    }
}

/// A loader can borrow its data set: `Loader::new(&train, config)`.
impl<D: Dataset + ?Sized> Dataset for &D {
    fn len(&self) -> usize {
        (**self).len()
    }
    fn image_shape(&self) -> [usize; 3] {
        (**self).image_shape()
    }
    fn image(&self, i: usize) -> &[u8] {
        (**self).image(i)
    }
    fn label(&self, i: usize) -> i32 {
        (**self).label(i)
    }
}

/// How a [`Loader`] batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch (the last batch may be smaller unless `drop_last`).
    pub batch_size: usize,
    /// Permute the samples each epoch; `false` serves them in order.
    pub shuffle: bool,
    /// Seed of the permutations.
    pub seed: u64,
    /// Drop a last batch smaller than `batch_size` (keeps every batch the same shape).
    pub drop_last: bool,
    /// `Some((mean, std))`: pixels become `(byte/255 - mean) / std`; `None`: `byte/255`.
    pub normalize: Option<(f32, f32)>,
}

impl Default for LoaderConfig {
    /// Batches of 64, shuffled with seed 0, last batch kept, MNIST normalization.
    fn default() -> Self {
        LoaderConfig {
            batch_size: 64,
            shuffle: true,
            seed: 0,
            drop_last: false,
            normalize: Some(MNIST_MEAN_STD),
        }
    }
}

/// One mini-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Pixels, shape `[batch_size, channels, rows, cols]`, row-major.
    pub images: Vec<f32>,
    /// One class per sample.
    pub labels: Vec<i32>,
    /// Samples in this batch (`labels.len()`).
    pub batch_size: usize,
    /// `[batch_size, channels, rows, cols]`.
    pub shape: [usize; 4],
}

/// Serves a [`Dataset`] as mini-batches, a fresh permutation each epoch.
#[derive(Debug)]
pub struct Loader<D> {
    data: D,
    config: LoaderConfig,
    /// Byte → normalized pixel; 256 entries, so normalization is one lookup per pixel.
    table: [f32; 256],
}

impl<D: Dataset> Loader<D> {
    /// Errors when `batch_size` is 0 or `normalize` has a non-finite mean or a std that is not positive.
    pub fn new(data: D, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::argument("loader", "batch_size must be at least 1"));
        }
        let (mean, std) = config.normalize.unwrap_or((0.0, 1.0));
        if !mean.is_finite() || !std.is_finite() || std <= 0.0 {
            return Err(Error::argument(
                "loader",
                format!("normalize needs a finite mean and a positive std, got ({mean}, {std})"),
            ));
        }
        let table = std::array::from_fn(|b| (b as f32 / 255.0 - mean) / std);
        Ok(Loader {
            data,
            config,
            table,
        })
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.data.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dataset(&self) -> &D {
        &self.data
    }

    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The order in which epoch `epoch` visits the samples: a permutation of `0..len` that depends only on
    /// `(seed, epoch)` (the identity when `shuffle` is off); see [`permutation`].
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let n = self.data.len();
        if !self.config.shuffle {
            return (0..n).collect();
        }
        permutation(n, self.config.seed, epoch)
    }

    /// The batches of epoch `epoch`, in the order [`order`](Self::order) gives.
    pub fn epoch(&self, epoch: usize) -> Epoch<'_, D> {
        Epoch {
            loader: self,
            order: self.order(epoch),
            batch: 0,
            batches: self.len(),
        }
    }

    /// The batches that visit the samples `order` (indices into the data set), `batch_size` at a time; the
    /// config's `drop_last` applies, its `shuffle` and `seed` do not. This is how a sampler drives the
    /// loader: a distributed sampler (`wgrad-dist`) hands each process its shard of the epoch's permutation.
    ///
    /// # Panics
    /// When serving a batch, if an index is not below the data set's `len()` (as slice indexing does).
    pub fn epoch_from(&self, order: Vec<usize>) -> Epoch<'_, D> {
        let b = self.config.batch_size;
        let batches = if self.config.drop_last {
            order.len() / b
        } else {
            order.len().div_ceil(b)
        };
        Epoch {
            loader: self,
            order,
            batch: 0,
            batches,
        }
    }

    /// The batch holding samples `indices`, in that order.
    pub fn batch(&self, indices: &[usize]) -> Batch {
        let [c, h, w] = self.data.image_shape();
        let mut images = Vec::with_capacity(indices.len() * c * h * w);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            images.extend(
                self.data
                    .image(i)
                    .iter()
                    .map(|&b| self.table[usize::from(b)]),
            );
            labels.push(self.data.label(i));
        }
        Batch {
            images,
            labels,
            batch_size: indices.len(),
            shape: [indices.len(), c, h, w],
        }
    }
}

/// The shuffled order of `0..n` for `(seed, epoch)`: what [`Loader::order`] serves when shuffling, exposed
/// so that samplers (a distributed one cuts it into per-process shards) shuffle exactly as the loader does.
///
/// A Fisher–Yates shuffle: position `i` takes a uniform pick from `0..=i`, drawn from Philox with counter
/// `epoch · 2³² + i`. The 64-bit draw is mapped to the range by a multiply-shift; its bias, below n / 2^64, is
/// far beneath anything a data set can show.
pub fn permutation(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let offset = (epoch as u64) << 32;
    for i in (1..n).rev() {
        let w = philox::words(seed, offset, i as u64);
        let r = (u64::from(w[1]) << 32) | u64::from(w[0]);
        let j = ((u128::from(r) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    order
}

/// The batches of one epoch; see [`Loader::epoch`].
#[derive(Debug)]
pub struct Epoch<'a, D> {
    loader: &'a Loader<D>,
    order: Vec<usize>,
    batch: usize,
    batches: usize,
}

impl<D: Dataset> Iterator for Epoch<'_, D> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.batch >= self.batches {
            return None;
        }
        let b = self.loader.config.batch_size;
        let start = self.batch * b;
        let end = (start + b).min(self.order.len());
        self.batch += 1;
        Some(self.loader.batch(&self.order[start..end]))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches - self.batch;
        (left, Some(left))
    }
}

impl<D: Dataset> ExactSizeIterator for Epoch<'_, D> {}
impl<D: Dataset> FusedIterator for Epoch<'_, D> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` images of shape [1, 1, 2] that store their own index (big-endian), labels `i % 10`.
    #[derive(Debug)]
    struct Indexed {
        pixels: Vec<u8>,
    }

    impl Indexed {
        fn new(n: usize) -> Self {
            let pixels = (0..n).flat_map(|i| [(i >> 8) as u8, i as u8]).collect();
            Indexed { pixels }
        }
    }

    impl Dataset for Indexed {
        fn len(&self) -> usize {
            self.pixels.len() / 2
        }
        fn image_shape(&self) -> [usize; 3] {
            [1, 1, 2]
        }
        fn image(&self, i: usize) -> &[u8] {
            &self.pixels[2 * i..2 * i + 2]
        }
        fn label(&self, i: usize) -> i32 {
            (i % 10) as i32
        }
    }

    fn config(batch_size: usize, drop_last: bool) -> LoaderConfig {
        LoaderConfig {
            batch_size,
            shuffle: true,
            seed: 7,
            drop_last,
            normalize: None,
        }
    }

    /// The sample indices a batch holds, decoded from its (unnormalized) pixels; checks the labels match.
    fn indices(batch: &Batch) -> Vec<usize> {
        assert_eq!(batch.images.len(), 2 * batch.batch_size);
        assert_eq!(batch.labels.len(), batch.batch_size);
        assert_eq!(batch.shape, [batch.batch_size, 1, 1, 2]);
        let idx: Vec<usize> = batch
            .images
            .chunks(2)
            .map(|p| ((p[0] * 255.0).round() as usize) << 8 | (p[1] * 255.0).round() as usize)
            .collect();
        for (&i, &l) in idx.iter().zip(&batch.labels) {
            assert_eq!(l, (i % 10) as i32, "label of sample {i}");
        }
        idx
    }

    fn epoch_indices<D: Dataset>(loader: &Loader<D>, epoch: usize) -> Vec<usize> {
        loader.epoch(epoch).flat_map(|b| indices(&b)).collect()
    }

    #[test]
    fn loader_covers_every_sample_once() {
        let loader = Loader::new(Indexed::new(1_003), config(10, false)).expect("valid config");
        assert_eq!(loader.len(), 101);
        for epoch in 0..3 {
            let batches: Vec<Batch> = loader.epoch(epoch).collect();
            assert_eq!(batches.len(), 101);
            assert!(batches[..100].iter().all(|b| b.batch_size == 10));
            assert_eq!(batches[100].batch_size, 3);
            let mut seen: Vec<usize> = batches.iter().flat_map(indices).collect();
            assert_eq!(seen, loader.order(epoch), "batches follow order()");
            seen.sort_unstable();
            assert_eq!(seen, (0..1_003).collect::<Vec<_>>(), "epoch {epoch}");
        }
    }

    #[test]
    fn loader_same_seed_same_order() {
        let a = Loader::new(Indexed::new(500), config(32, false)).expect("valid config");
        let b = Loader::new(Indexed::new(500), config(32, false)).expect("valid config");
        assert_eq!(epoch_indices(&a, 3), epoch_indices(&b, 3));
        // Replaying an epoch gives the same batches again.
        assert_eq!(epoch_indices(&a, 3), epoch_indices(&a, 3));
        let c = Loader::new(
            Indexed::new(500),
            LoaderConfig {
                seed: 8,
                ..config(32, false)
            },
        )
        .expect("valid config");
        assert_ne!(epoch_indices(&a, 3), epoch_indices(&c, 3));
    }

    #[test]
    fn loader_epochs_differ() {
        let loader = Loader::new(Indexed::new(500), config(50, false)).expect("valid config");
        let orders: Vec<Vec<usize>> = (0..5).map(|e| epoch_indices(&loader, e)).collect();
        for i in 0..orders.len() {
            assert_ne!(
                orders[i],
                (0..500).collect::<Vec<_>>(),
                "epoch {i} is shuffled"
            );
            for j in i + 1..orders.len() {
                assert_ne!(orders[i], orders[j], "epochs {i} and {j}");
            }
        }
        // Epoch streams must not be shifted copies of each other (counter epoch + i would make them so).
        assert_ne!(orders[0][1..], orders[1][..499]);
    }

    #[test]
    fn loader_no_shuffle_is_in_order() {
        let cfg = LoaderConfig {
            shuffle: false,
            ..config(64, false)
        };
        let loader = Loader::new(Indexed::new(300), cfg).expect("valid config");
        assert_eq!(epoch_indices(&loader, 4), (0..300).collect::<Vec<_>>());
    }

    #[test]
    fn loader_shuffle_is_uniform() {
        // Where sample 0 lands over 5,000 epochs of 5 samples: 1,000 per position expected, sd ≈ 28. A
        // Sattolo-style off-by-one (j < i) would never leave it at position 0; a biased pick skews the counts.
        let loader = Loader::new(Indexed::new(5), config(5, false)).expect("valid config");
        let mut counts = [0usize; 5];
        for epoch in 0..5_000 {
            let pos = loader.order(epoch).iter().position(|&i| i == 0);
            counts[pos.expect("a permutation holds 0")] += 1;
        }
        assert!(
            counts.iter().all(|&c| (880..=1_120).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn loader_drop_last() {
        let loader = Loader::new(Indexed::new(103), config(10, true)).expect("valid config");
        assert_eq!(loader.len(), 10);
        let epoch = loader.epoch(0);
        assert_eq!(epoch.len(), 10);
        let batches: Vec<Batch> = epoch.collect();
        assert_eq!(batches.len(), 10);
        assert!(batches.iter().all(|b| b.batch_size == 10));
        let mut seen: Vec<usize> = batches.iter().flat_map(indices).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 100, "100 distinct samples, 3 dropped");
        // Fewer samples than one batch: nothing with drop_last, one short batch without.
        let few = Loader::new(Indexed::new(7), config(10, true)).expect("valid config");
        assert_eq!((few.len(), few.epoch(0).count()), (0, 0));
        let few = Loader::new(Indexed::new(7), config(10, false)).expect("valid config");
        let batches: Vec<Batch> = few.epoch(0).collect();
        assert_eq!((batches.len(), batches[0].batch_size), (1, 7));
    }

    #[test]
    fn loader_normalizes_pixels() {
        // 2x2 images with pixels 0, 255, 51, 128.
        let data = Mnist::new(vec![0, 255, 51, 128], vec![3], 2, 2).expect("valid");
        let cfg = LoaderConfig {
            batch_size: 1,
            ..LoaderConfig::default()
        };
        let loader = Loader::new(&data, cfg).expect("valid config");
        let batch = loader.epoch(0).next().expect("one batch");
        assert_eq!(batch.shape, [1, 1, 2, 2]);
        assert_eq!(batch.labels, vec![3]);
        // (0/255 - 0.1307) / 0.3081 = -0.424212917…; (1 - 0.1307) / 0.3081 = 2.821486530…;
        // (0.2 - 0.1307) / 0.3081 = 0.224926971…; (128/255 - 0.1307) / 0.3081 = 1.205001…
        let want = [-0.424_212_9, 2.821_486_5, 0.224_927, 1.205_001];
        for (got, want) in batch.images.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        let raw = Loader::new(
            &data,
            LoaderConfig {
                normalize: None,
                ..cfg
            },
        )
        .expect("valid config");
        let batch = raw.epoch(0).next().expect("one batch");
        assert_eq!(batch.images, vec![0.0, 1.0, 0.2, 128.0 / 255.0]);
    }

    #[test]
    fn loader_epoch_from_serves_the_given_order() {
        let loader = Loader::new(Indexed::new(50), config(4, false)).expect("valid config");
        let order = vec![7, 3, 49, 0, 12, 8, 8];
        let epoch = loader.epoch_from(order.clone());
        assert_eq!(epoch.len(), 2);
        let seen: Vec<usize> = epoch.flat_map(|b| indices(&b)).collect();
        assert_eq!(seen, order);
        let dropping = Loader::new(Indexed::new(50), config(4, true)).expect("valid config");
        let batches: Vec<Batch> = dropping.epoch_from(order).collect();
        assert_eq!(batches.len(), 1);
        assert_eq!(indices(&batches[0]), vec![7, 3, 49, 0]);
    }

    #[test]
    fn loader_order_is_the_permutation() {
        let loader = Loader::new(Indexed::new(300), config(8, false)).expect("valid config");
        for epoch in 0..3 {
            assert_eq!(loader.order(epoch), permutation(300, 7, epoch));
        }
    }

    #[test]
    fn loader_rejects_bad_config() {
        let err = Loader::new(Indexed::new(3), config(0, false)).expect_err("batch 0");
        assert!(err.to_string().contains("batch_size"), "{err}");
        let cfg = LoaderConfig {
            normalize: Some((0.5, 0.0)),
            ..config(1, false)
        };
        let err = Loader::new(Indexed::new(3), cfg).expect_err("std 0");
        assert!(err.to_string().contains("positive std"), "{err}");
    }
}
