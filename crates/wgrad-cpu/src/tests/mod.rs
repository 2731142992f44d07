//! Unit tests of the CPU kernels: hand-worked cases (derivation in a comment) and properties (adjointness,
//! finite differences, agreement with a second, naive formulation) on odd shapes.
//!
//! Tests call the kernel methods directly on [`CpuKernels`]; `backend.rs` goes through `Backend::execute`.

// Tests may unwrap: a panic is a failed test.
#![allow(clippy::unwrap_used)]

mod backend;
mod conv;
mod elementwise;
mod index;
mod matmul;
mod movement;
mod pool;
mod reduce;
mod softmax;

use wgrad_graph::{philox, Buffer, DType, Input, Layout, Meta, Shape};

use crate::{CpuBuffer, CpuKernels};

/// A test tensor: a CPU buffer and the view of it that a kernel reads.
pub(crate) struct T {
    pub buf: Buffer,
    pub layout: Layout,
    pub dtype: DType,
}

impl T {
    /// A contiguous tensor; values are rounded to `dtype`.
    pub fn new(shape: impl Into<Shape>, dtype: DType, data: &[f64]) -> T {
        let shape = shape.into();
        assert_eq!(shape.numel(), data.len(), "test data for {shape}");
        let data = data.iter().map(|&v| dtype.round(v)).collect();
        T {
            buf: Buffer::new(CpuBuffer { dtype, data }),
            layout: Layout::contiguous(shape),
            dtype,
        }
    }

    pub fn f64(shape: impl Into<Shape>, data: &[f64]) -> T {
        T::new(shape, DType::F64, data)
    }

    pub fn i32(shape: impl Into<Shape>, data: &[i64]) -> T {
        let data: Vec<f64> = data.iter().map(|&v| v as f64).collect();
        T::new(shape, DType::I32, &data)
    }

    /// Seeded f64 values uniform in `[-1, 1)`.
    pub fn rand(shape: impl Into<Shape>, seed: u64) -> T {
        let shape = shape.into();
        let data = rand_vec(seed, shape.numel());
        T::f64(shape, &data)
    }

    /// Another view of the same buffer.
    pub fn view(&self, layout: Layout) -> T {
        T {
            buf: self.buf.clone(),
            layout,
            dtype: self.dtype,
        }
    }

    pub fn input(&self) -> Input<'_> {
        Input {
            buffer: &self.buf,
            layout: &self.layout,
            dtype: self.dtype,
        }
    }

    pub fn shape(&self) -> &Shape {
        &self.layout.shape
    }

    /// The elements of the view in row-major order (read independently of the kernels).
    pub fn values(&self) -> Vec<f64> {
        let data = &self.buf.downcast::<CpuBuffer>().unwrap().data;
        (0..self.layout.numel())
            .map(|k| data[self.layout.position(k)])
            .collect()
    }
}

pub(crate) fn k() -> CpuKernels {
    CpuKernels
}

pub(crate) fn meta(shape: impl Into<Shape>, dtype: DType) -> Meta {
    Meta::new(shape, dtype)
}

/// The data of an output buffer.
pub(crate) fn read(b: &Buffer) -> Vec<f64> {
    b.downcast::<CpuBuffer>().unwrap().data.clone()
}

/// Seeded values uniform in `[-1, 1)` from the Philox generator.
pub(crate) fn rand_vec(seed: u64, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| 2.0 * philox::uniform(seed, 0, i) as f64 - 1.0)
        .collect()
}

/// A seeded integer in `0..n`.
pub(crate) fn rand_below(seed: u64, i: u64, n: usize) -> usize {
    (philox::uniform(seed, 1 << 40, i) as f64 * n as f64) as usize
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Equal within `tol` relative to the larger magnitude (or absolutely near 0).
pub(crate) fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let scale = g.abs().max(w.abs()).max(1.0);
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}
