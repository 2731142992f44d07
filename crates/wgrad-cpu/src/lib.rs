//! wgrad-cpu: the reference backend, the oracle every other backend and every gradient is checked against.
//!
//! Every value is stored as `f64` ([`CpuBuffer`]); every op computes in f64 and rounds its result once to the
//! output dtype with [`wgrad_graph::DType::round`]. So f32 results are correctly rounded, and matmul, conv and
//! reductions accumulate in f64. Kernels are plain loops over row-major indices, one module per op family;
//! clarity beats speed here.
//!
//! Inputs are always read through their [`wgrad_graph::Layout`] (`data[layout.position(k)]`), so strided,
//! broadcast (stride 0) and offset views all work, for every op.

mod attention;
mod binary;
mod buffer;
mod conv;
mod index;
mod matmul;
mod movement;
mod pool;
mod random;
mod reduce;
mod softmax;
mod unary;

#[cfg(test)]
mod tests;

pub use buffer::CpuBuffer;

use wgrad_graph::dtype::{decode_f64, encode_f64};
use wgrad_graph::run_schedule;
use wgrad_graph::{
    AttentionParams, Backend, BinaryOp, Buffer, Conv2dParams, DType, Error, Input, Kernels, Meta,
    Pool2dParams, RandomDist, ReduceOp, Result, Schedule, UnaryOp, View,
};

/// The CPU reference backend. Stateless: every buffer is a [`CpuBuffer`].
#[derive(Debug, Default, Clone)]
pub struct CpuBackend;

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> String {
        "cpu".to_string()
    }

    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer> {
        let want = meta.numel() * meta.dtype.host_size();
        if bytes.len() != want {
            return Err(Error::Backend {
                backend: "cpu",
                msg: format!(
                    "upload: {} bytes for {} {} (needs {want})",
                    bytes.len(),
                    meta.shape,
                    meta.dtype
                ),
            });
        }
        Ok(Buffer::new(CpuBuffer {
            dtype: meta.dtype,
            data: decode_f64(bytes, meta.dtype),
        }))
    }

    /// Reads the view element by element through its layout, so a strided view downloads correctly too.
    fn download(&self, view: &View) -> Result<Vec<u8>> {
        let input = Input {
            buffer: &view.buffer,
            layout: &view.layout,
            dtype: view.dtype,
        };
        Ok(encode_f64(&buffer::values("download", input)?, view.dtype))
    }

    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>> {
        run_schedule(&mut CpuKernels, schedule)
    }

    fn supports(&self, _dtype: DType) -> bool {
        true
    }
}

/// The kernels of one `execute`. Holds nothing: every kernel allocates its own output.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuKernels;

impl Kernels for CpuKernels {
    fn full(&mut self, value: f64, out: &Meta) -> Result<Buffer> {
        Ok(movement::full(value, out))
    }
    fn random(&mut self, dist: RandomDist, seed: u64, offset: u64, out: &Meta) -> Result<Buffer> {
        Ok(random::random(dist, seed, offset, out))
    }
    fn unary(&mut self, op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer> {
        unary::unary(op, x, out)
    }
    fn cast(&mut self, x: Input, out: &Meta) -> Result<Buffer> {
        movement::cast(x, out)
    }
    fn binary(&mut self, op: BinaryOp, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
        binary::binary(op, lhs, rhs, out)
    }
    fn where_(&mut self, cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer> {
        binary::where_(cond, a, b, out)
    }
    fn reduce(&mut self, op: ReduceOp, axes: &[usize], x: Input, out: &Meta) -> Result<Buffer> {
        reduce::reduce(op, axes, x, out)
    }
    fn copy(&mut self, x: Input, out: &Meta) -> Result<Buffer> {
        movement::copy(x, out)
    }
    fn pad(&mut self, before: &[usize], value: f64, x: Input, out: &Meta) -> Result<Buffer> {
        movement::pad(before, value, x, out)
    }
    fn cat(&mut self, axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer> {
        movement::cat(axis, xs, out)
    }
    fn gather(&mut self, axis: usize, x: Input, index: Input, out: &Meta) -> Result<Buffer> {
        index::gather(axis, x, index, out)
    }
    fn scatter_add(&mut self, axis: usize, index: Input, src: Input, out: &Meta) -> Result<Buffer> {
        index::scatter_add(axis, index, src, out)
    }
    fn matmul(&mut self, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
        matmul::matmul(lhs, rhs, out)
    }
    fn conv2d(&mut self, p: &Conv2dParams, x: Input, w: Input, out: &Meta) -> Result<Buffer> {
        conv::conv2d(p, x, w, out)
    }
    fn conv2d_backward_input(
        &mut self,
        p: &Conv2dParams,
        dy: Input,
        w: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        conv::conv2d_backward_input(p, dy, w, out)
    }
    fn conv2d_backward_weight(
        &mut self,
        p: &Conv2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        conv::conv2d_backward_weight(p, x, dy, out)
    }
    fn max_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
        pool::max_pool2d(p, x, out)
    }
    fn max_pool2d_backward(
        &mut self,
        p: &Pool2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        pool::max_pool2d_backward(p, x, dy, out)
    }
    fn avg_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
        pool::avg_pool2d(p, x, out)
    }
    fn avg_pool2d_backward(&mut self, p: &Pool2dParams, dy: Input, out: &Meta) -> Result<Buffer> {
        pool::avg_pool2d_backward(p, dy, out)
    }
    fn softmax(&mut self, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer> {
        softmax::softmax(axis, log, x, out)
    }
    fn softmax_backward(
        &mut self,
        axis: usize,
        log: bool,
        y: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        softmax::softmax_backward(axis, log, y, dy, out)
    }
    fn attention(&mut self, p: &AttentionParams, args: &[Input], out: &Meta) -> Result<Buffer> {
        attention::attention(p, args, out)
    }
    fn attention_backward_q(
        &mut self,
        p: &AttentionParams,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer> {
        attention::attention_backward_q(p, args, out)
    }
    fn attention_backward_kv(
        &mut self,
        p: &AttentionParams,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer> {
        attention::attention_backward_kv(p, args, out)
    }
}
