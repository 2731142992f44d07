//! Test support for kernel unit tests: random inputs uploaded as flat buffers and read through a layout.
//! (Comparisons against the CPU reference live in the op-table harness, `tests/ops`.)

use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::{Backend, Buffer, DType, Layout, Meta, View};

/// Deterministic values in [-1, 1) from Philox, distinct per `seed`.
pub fn random(seed: u64, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| 2.0 * wgrad_graph::philox::uniform(seed, 0, i) as f64 - 1.0)
        .collect()
}

/// One kernel input: buffer data and the view the kernel reads.
pub struct In {
    pub data: Vec<f64>,
    pub layout: Layout,
}

impl In {
    /// A contiguous input of `shape`, random data.
    pub fn new(seed: u64, shape: &[usize]) -> In {
        let layout = Layout::contiguous(shape.to_vec().into());
        In {
            data: random(seed, layout.numel()),
            layout,
        }
    }
}

/// `x`'s data as a flat buffer of `dtype` (its layout indexes into it).
pub fn upload(backend: &dyn Backend, x: &In, dtype: DType) -> Buffer {
    let meta = Meta::new(vec![x.data.len()], dtype);
    backend
        .upload(&encode_f64(&x.data, dtype), &meta)
        .expect("upload")
}

/// `x` read through its layout from `buffer` (uploaded with [`upload`]).
pub fn input<'a>(buffer: &'a Buffer, x: &'a In, dtype: DType) -> wgrad_graph::Input<'a> {
    wgrad_graph::Input {
        buffer,
        layout: &x.layout,
        dtype,
    }
}

/// A contiguous `out` read back from `buffer`, as f64.
pub fn download(backend: &dyn Backend, buffer: &Buffer, out: &Meta) -> Vec<f64> {
    let view = View {
        buffer: buffer.clone(),
        layout: Layout::contiguous(out.shape.clone()),
        dtype: out.dtype,
    };
    decode_f64(&backend.download(&view).expect("download"), out.dtype)
}
