//! Test support for kernel unit tests: random inputs, one-step schedules on the CPU reference and on
//! wgpu, element-wise comparison.

use wgrad_cpu::CpuBackend;
use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::{Arg, Backend, DType, Kernel, Layout, Meta, Op, Schedule, Step, View};

use crate::WgpuBackend;

/// Deterministic values in [-1, 1) from Philox, distinct per `seed`.
pub fn random(seed: u64, n: usize) -> Vec<f64> {
    (0..n as u64)
        .map(|i| 2.0 * wgrad_graph::philox::uniform(seed, 0, i) as f64 - 1.0)
        .collect()
}

/// One input of a one-step schedule: buffer data (f32) and the view the op reads.
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
pub fn upload(backend: &dyn Backend, x: &In, dtype: DType) -> wgrad_graph::Buffer {
    let meta = Meta::new(vec![x.data.len()], dtype);
    backend
        .upload(&encode_f64(&x.data, dtype), &meta)
        .expect("upload")
}

/// `x` read through its layout from `buffer` (uploaded with [`upload`]).
pub fn input<'a>(
    buffer: &'a wgrad_graph::Buffer,
    x: &'a In,
    dtype: DType,
) -> wgrad_graph::Input<'a> {
    wgrad_graph::Input {
        buffer,
        layout: &x.layout,
        dtype,
    }
}

/// Runs `op` on `inputs` as a one-step schedule and returns the output as f64.
pub fn run(backend: &dyn Backend, op: &Op, inputs: &[&In], out: &Meta) -> Vec<f64> {
    let buffers = inputs
        .iter()
        .map(|i| upload(backend, i, out.dtype))
        .collect();
    let args = inputs
        .iter()
        .enumerate()
        .map(|(slot, i)| Arg {
            slot,
            layout: i.layout.clone(),
            dtype: out.dtype,
        })
        .collect();
    let schedule = Schedule {
        inputs: buffers,
        steps: vec![Step {
            kernel: Kernel::Op(op.clone()),
            args,
            out: inputs.len(),
            meta: out.clone(),
            release: vec![],
        }],
        slot_count: inputs.len() + 1,
        outputs: vec![inputs.len()],
    };
    let result = backend.execute(&schedule).expect("execute");
    download(backend, &result[0], out)
}

pub fn download(backend: &dyn Backend, buffer: &wgrad_graph::Buffer, out: &Meta) -> Vec<f64> {
    let view = View {
        buffer: buffer.clone(),
        layout: Layout::contiguous(out.shape.clone()),
        dtype: out.dtype,
    };
    decode_f64(&backend.download(&view).expect("download"), out.dtype)
}

/// Asserts `|got - want| <= atol + rtol·|want|` element-wise, naming the case, index and both values.
pub fn assert_close(case: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{case}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= atol + rtol * w.abs() || (g.is_nan() && w.is_nan());
        assert!(ok, "{case}: index {i}: wgpu {g} vs cpu {w}");
    }
}

/// Runs `op` on both backends and compares.
pub fn matches_cpu(gpu: &WgpuBackend, case: &str, op: &Op, inputs: &[&In], out: &Meta, tol: f64) {
    let want = run(&CpuBackend::new(), op, inputs, out);
    let got = run(gpu, op, inputs, out);
    assert_close(case, &got, &want, tol, tol);
}
