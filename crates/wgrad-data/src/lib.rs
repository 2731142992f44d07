//! wgrad-data: data sets and mini-batches for wgrad, with no knowledge of tensors.
//!
//! - [`idx`] reads the IDX files MNIST and Fashion-MNIST ship in, raw or gzip, and checks them strictly: a
//!   truncated download or a file with trailing bytes is an [`Error`](wgrad_graph::Error) naming the file, not a
//!   model that silently trains on garbage.
//! - [`mnist`] holds a data set as bytes ([`Mnist`]), loads the 10,000 real digits compiled into this crate
//!   (so examples and tests run offline, from any directory) and any standard MNIST-format directory.
//! - [`loader`] serves shuffled, normalized mini-batches as plain `Vec<f32>` / `Vec<i32>`; turning them into
//!   tensors on a device is the caller's job, which keeps this crate free of graph and backend internals.
//!   [`Loader::epoch_from`] serves an order a sampler chose (a data-parallel process's shard).
//! - [`subset`] views some samples of a data set as a data set ([`Subset`]).
//! - [`text`] holds a small public-domain text (Shakespeare's Sonnets, compiled in), a character
//!   vocabulary and batches of windows for next-character prediction.
//!
//! ```no_run
//! use wgrad_data::{Loader, LoaderConfig, Mnist};
//! # fn main() -> wgrad_graph::Result<()> {
//! let (train, _test) = Mnist::bundled_split()?;
//! let loader = Loader::new(train, LoaderConfig { batch_size: 64, ..Default::default() })?;
//! for batch in loader.epoch(0) {
//!     assert_eq!(batch.images.len(), batch.batch_size * 28 * 28);
//! }
//! # Ok(())
//! # }
//! ```

pub mod idx;
pub mod loader;
pub mod mnist;
pub mod subset;
pub mod text;

pub use idx::Idx;
pub use loader::{permutation, Batch, Dataset, Epoch, Loader, LoaderConfig, MNIST_MEAN_STD};
pub use mnist::Mnist;
pub use subset::Subset;

#[cfg(test)]
pub(crate) mod test_util;
