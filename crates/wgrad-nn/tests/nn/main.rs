//! Integration tests of wgrad-nn on the CPU reference backend (and, for the PyTorch comparisons, once on
//! the GPU backend: lavapipe in CI).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use wgrad_cpu::CpuBackend;
use wgrad_graph::{Backend, Buffer, DType, Device, Meta, Result, Schedule, Tensor, View};

mod checkpoint;
mod gradcheck;
mod hostile;
mod layers;
mod losses;
mod metrics;
mod optim;
mod pytorch;
mod seeds;
mod torch_layers;
mod torch_rnn;
mod torch_transformer;
mod training;

pub fn dev() -> Device {
    Device::new(CpuBackend)
}

/// An f32 tensor from host values.
pub fn t32(values: &[f64], shape: &[usize], dev: &Device) -> Tensor {
    Tensor::from_f64(values, shape.to_vec(), DType::F32, dev).expect("shape fits")
}

/// An f64 tensor from host values.
pub fn t64(values: &[f64], shape: &[usize], dev: &Device) -> Tensor {
    Tensor::from_f64(values, shape.to_vec(), DType::F64, dev).expect("shape fits")
}

#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "index {i}: got {g}, want {w} (tol {tol})\n got {got:?}\nwant {want:?}"
        );
    }
}

pub fn vals(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().expect("realizes")
}

/// The CPU backend, counting `execute` calls (one per schedule; one GPU submit on wgpu).
#[derive(Debug, Default)]
pub struct Counting {
    inner: CpuBackend,
    pub executes: Arc<AtomicUsize>,
}

impl Backend for Counting {
    fn name(&self) -> String {
        "counting cpu".into()
    }
    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer> {
        self.inner.upload(bytes, meta)
    }
    fn download(&self, view: &View) -> Result<Vec<u8>> {
        self.inner.download(view)
    }
    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>> {
        self.executes.fetch_add(1, Ordering::SeqCst);
        self.inner.execute(schedule)
    }
    fn supports(&self, dtype: DType) -> bool {
        self.inner.supports(dtype)
    }
}
