//! wgrad: a training-capable tensor library whose GPU backend runs WGSL compute shaders through wgpu.
//!
//! This crate re-exports the parts: [`graph`] (tensors, lazy graph, autodiff), [`cpu`] (the reference
//! backend), [`wgpu`] (the GPU backend), [`nn`] (layers, losses, optimizers) and [`data`] (datasets).

pub mod models;

pub use wgrad_cpu as cpu;
pub use wgrad_data as data;
pub use wgrad_graph as graph;
pub use wgrad_nn as nn;
pub use wgrad_wgpu as wgpu;

pub use wgrad_graph::{
    grad, no_grad, realize, Conv2dParams, DType, Device, Element, Error, Result, Shape, Tensor,
};

/// The CPU reference backend: slow, exact, always available.
pub fn cpu_device() -> Device {
    Device::new(wgrad_cpu::CpuBackend)
}

/// The best GPU adapter wgpu finds (hardware first, then software adapters such as lavapipe); see
/// `wgrad_wgpu` for `WGRAD_BACKEND` and `WGRAD_ADAPTER`.
pub fn gpu_device() -> Result<Device> {
    Ok(Device::new(wgrad_wgpu::WgpuBackend::new()?))
}

/// A GPU if there is one, else the CPU backend (with a message on stderr saying so).
pub fn best_device() -> Device {
    match gpu_device() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("wgrad: no GPU adapter ({e}); using the CPU backend");
            cpu_device()
        }
    }
}
