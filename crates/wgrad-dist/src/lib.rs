//! wgrad-dist: data-parallel training across processes and hosts (Horovod's scheme: synchronous
//! gradient averaging with all-reduce over MPI).
//!
//! Each process (rank) owns one device and a shard of every epoch; every step each rank computes the
//! gradients of its local batch, the ranks average them with all-reduce, and every rank applies the same
//! average, so all ranks hold the same parameters at all times. Rank 0 alone prints and writes checkpoints.
//!
//! - [`sampler`]: [`DistributedSampler`], each rank's disjoint shard of every epoch (same seed, same
//!   shards); it drives a [`wgrad_data::Loader`] through `Loader::epoch_from`.
//! - [`bucket`]: [`BucketPlan`], gradients packed into a few large flat buffers (25 MiB by default).
//! - [`comm`]: the [`Communicator`] trait, and [`Solo`] (one process) and [`ThreadGroup`] (ranks as
//!   threads, for tests); with the `mpi` feature, `mpi::Mpi` over Open MPI (rsmpi).
//! - [`ddp`]: [`DataParallel`], the training step: backward, bucketed all-reduce, update; start-up checks
//!   (model signature) and rank 0's state broadcast; metrics and batch-norm buffers across ranks.
//! - [`device`]: which GPU each rank of a host takes.
//!
//! Without the `mpi` feature this crate needs no MPI and offers everything but `mpi::Mpi`, so its
//! single-process parts are tested everywhere.
//!
//! # Design
//!
//! **Through host memory.** wgpu buffers cannot be handed to MPI (no GPU-direct path exists through
//! wgpu), so gradients go GPU → host → MPI → host → GPU. Copies are few and large: the gradients are
//! concatenated into buckets on the device in the step's own schedule, then each bucket is one download,
//! one all-reduce and one upload. For the W2 MLP (669,706 parameters, 2.7 MB) that is one bucket of each
//! kind per step instead of six.
//!
//! **Overlap, and what the lazy graph allows.** PyTorch DDP overlaps the all-reduce of the last layers'
//! buckets with the backward pass of the first layers, from hooks that fire as each gradient is computed.
//! wgrad's graph is lazy: the whole backward pass runs as one schedule (one submit), and no gradient is
//! visible to the host before the schedule ends. Splitting the schedule per bucket would make each later
//! schedule recompute the forward pass, or force every activation to be kept as a realized target, and
//! would add a submit per bucket; so the backward pass is not overlapped. What is overlapped: all bucket
//! copies are queued at once behind the schedule, and each bucket's non-blocking all-reduce
//! (`MPI_Iallreduce`) starts as soon as its copy lands, while later buckets are still being copied; the
//! first bucket is small (1 MiB) so that the pipeline starts early. Buckets are filled in reverse parameter
//! order (the last layers first), which is the order a split schedule would produce them in.
//!
//! **Batch norm.** Local: each rank normalizes with its own batch's statistics (PyTorch DDP's default;
//! synchronized batch norm would need an all-reduce in the middle of the forward pass, i.e. a schedule
//! split per batch-norm layer). The running statistics therefore drift apart between ranks;
//! [`DataParallel::average_buffers`] replaces them by their mean over the ranks before evaluation and
//! checkpoints.
//!
//! **Failure is loud.** Ranks compare a signature of their model and optimizer at start-up (a hash of
//! every tensor's name, shape and dtype, all-gathered); an error or panic on any rank ends the job with
//! `MPI_Abort`; a collective that waits too long for a peer trips a watchdog (see the `mpi` module).

pub mod bucket;
pub mod comm;
pub mod ddp;
pub mod device;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod sampler;
pub mod signature;

pub use bucket::BucketPlan;
pub use comm::{BucketSource, Communicator, Solo, ThreadGroup};
pub use ddp::{DataParallel, DdpConfig, StepStats};
pub use device::{device_for_rank, Backend};
#[cfg(feature = "mpi")]
pub use mpi::Mpi;
pub use sampler::DistributedSampler;
pub use signature::Signature;
