//! wgrad-wgpu: the GPU backend of wgrad. Runs WGSL compute shaders through wgpu.
//!
//! - [`device`]: adapter choice (`WGRAD_BACKEND`, `WGRAD_ADAPTER`), limits, optional features, device loss;
//! - [`pool`]: size-class buffer pool; [`texture`]: pooled scratch textures; [`usage`]: bytes in use and
//!   their peak; [`pipeline`]: shader module, layout and pipeline caches;
//! - [`engine`]: the [`engine::Recorder`] kernels record dispatches into (one encoder, one submit per execute);
//! - [`kernels`]: one module per kernel family (`shaders/<family>.wgsl`);
//! - [`backend`]: [`WgpuBackend`], wgrad's `Backend` on all of the above;
//! - [`profile`]: opt-in wall time per kernel (`WGRAD_PROFILE=1`).

// `variants()` returns the tuple type agreed in ENGINE_API.md; a named alias would not change the contract.
#![allow(clippy::type_complexity)]

pub mod autotune;
pub mod backend;
pub mod device;
pub mod dispatch;
pub mod engine;
pub mod family;
pub mod free_list;
pub mod kernels;
pub mod pipeline;
pub mod pool;
pub mod profile;
pub mod testing;
pub mod texture;
pub mod usage;

#[cfg(test)]
mod kernel_check;

pub use backend::WgpuBackend;
pub use device::{list_adapters, AdapterSummary, Caps, Options};
