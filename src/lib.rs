//! This crate re-exports the parts: [`graph`] (tensors, lazy graph, autodiff), [`cpu`] (the reference
//! backend), [`wgpu`] (the GPU backend), [`nn`] (layers, losses, optimizers) and [`data`] (datasets).
//! [`dist`] trains data-parallel across processes and hosts (its MPI communicator needs the `mpi` feature).
//! The README below is compiled as a doctest, so its example stays true.
#![doc = include_str!("../README.md")]

// `#[derive(Module)]` names this crate `::wgrad`, also inside it
extern crate self as wgrad;

pub use wgrad_cpu as cpu;
pub use wgrad_data as data;
pub use wgrad_dist as dist;
pub use wgrad_graph as graph;
pub use wgrad_nn as nn;
pub use wgrad_wgpu as wgpu;

pub use wgrad_graph::{
    grad, no_grad, realize, Conv2dParams, ConvTranspose2dParams, DType, Device, Element, Error,
    Result, Shape, Tensor,
};

/// The CPU reference backend: slow, exact, always available. Every call returns the same device (and so
/// the same random stream), so tensors made by different parts of a program can meet in one op.
pub fn cpu_device() -> Device {
    static CPU: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    CPU.get_or_init(|| Device::new(wgrad_cpu::CpuBackend))
        .clone()
}

/// The best GPU adapter wgpu finds (hardware first, then software adapters such as lavapipe); see
/// `wgrad_wgpu` for `WGRAD_BACKEND` and `WGRAD_ADAPTER`. The device is created once per process; later
/// calls return the same one.
pub fn gpu_device() -> Result<Device> {
    static GPU: std::sync::Mutex<Option<Device>> = std::sync::Mutex::new(None);
    let mut gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = gpu.as_ref() {
        return Ok(d.clone());
    }
    let d = Device::new(wgrad_wgpu::WgpuBackend::new()?);
    *gpu = Some(d.clone());
    Ok(d)
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
