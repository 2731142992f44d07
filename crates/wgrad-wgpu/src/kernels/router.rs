//! [`GpuKernels`]: wgrad's [`Kernels`] trait on the wgpu kernel modules. Each family method records into the
//! one [`Recorder`] of the execute; dtype refusals happen where the kernels are launched
//! ([`crate::family::Family::launch`], [`super::elementwise`]).

use wgrad_graph::{
    AttentionParams, BinaryOp, Buffer, Conv2dParams, FusedExpr, Input, Kernels, Meta, Pool2dParams,
    RandomDist, ReduceOp, Result, UnaryOp,
};

use super::conv_geometry::Pass;
use super::{attention, cast, elementwise, index, movement, pool, random, reduce, softmax, tuned};
use crate::engine::Recorder;

/// The `Kernels` impl `run_schedule` drives.
#[derive(Debug)]
pub struct GpuKernels {
    pub rec: Recorder,
}

impl Kernels for GpuKernels {
    fn fused(&mut self, expr: &FusedExpr, args: &[Input], out: &Meta) -> Result<Buffer> {
        elementwise::expression(&mut self.rec, expr, args, out)
    }
    fn full(&mut self, value: f64, out: &Meta) -> Result<Buffer> {
        movement::full(&mut self.rec, value, out)
    }
    fn random(&mut self, dist: RandomDist, seed: u64, offset: u64, out: &Meta) -> Result<Buffer> {
        random::random(&mut self.rec, dist, seed, offset, out)
    }
    fn unary(&mut self, op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer> {
        let expr = elementwise::unary_expr(op, x.dtype, out.dtype);
        elementwise::expression(&mut self.rec, &expr, &[x], out)
    }
    fn cast(&mut self, x: Input, out: &Meta) -> Result<Buffer> {
        cast::cast(&mut self.rec, x, out)
    }
    fn binary(&mut self, op: BinaryOp, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
        let expr = elementwise::binary_expr(op, lhs.dtype, out.dtype);
        elementwise::expression(&mut self.rec, &expr, &[lhs, rhs], out)
    }
    fn where_(&mut self, cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer> {
        let expr = elementwise::where_expr(a.dtype);
        elementwise::expression(&mut self.rec, &expr, &[cond, a, b], out)
    }
    fn reduce(&mut self, op: ReduceOp, axes: &[usize], x: Input, out: &Meta) -> Result<Buffer> {
        reduce::reduce(&mut self.rec, op, axes, x, out)
    }
    fn copy(&mut self, x: Input, out: &Meta) -> Result<Buffer> {
        movement::copy(&mut self.rec, x, out)
    }
    fn pad(&mut self, before: &[usize], value: f64, x: Input, out: &Meta) -> Result<Buffer> {
        movement::pad(&mut self.rec, before, value, x, out)
    }
    fn cat(&mut self, axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer> {
        movement::cat(&mut self.rec, axis, xs, out)
    }
    fn gather(&mut self, axis: usize, x: Input, index: Input, out: &Meta) -> Result<Buffer> {
        index::gather(&mut self.rec, axis, x, index, out)
    }
    fn scatter_add(&mut self, axis: usize, index: Input, src: Input, out: &Meta) -> Result<Buffer> {
        index::scatter_add(&mut self.rec, axis, index, src, out)
    }
    fn matmul(&mut self, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
        tuned::matmul(&mut self.rec, lhs, rhs, out)
    }
    fn conv2d(&mut self, p: &Conv2dParams, x: Input, w: Input, out: &Meta) -> Result<Buffer> {
        tuned::conv2d(&mut self.rec, Pass::Forward, p, [x, w], out)
    }
    fn conv2d_backward_input(
        &mut self,
        p: &Conv2dParams,
        dy: Input,
        w: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        tuned::conv2d(&mut self.rec, Pass::BackwardInput, p, [dy, w], out)
    }
    fn conv2d_backward_weight(
        &mut self,
        p: &Conv2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        tuned::conv2d(&mut self.rec, Pass::BackwardWeight, p, [x, dy], out)
    }
    fn max_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
        pool::max_pool2d(&mut self.rec, p, x, out)
    }
    fn max_pool2d_backward(
        &mut self,
        p: &Pool2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        pool::max_pool2d_backward(&mut self.rec, p, x, dy, out)
    }
    fn avg_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
        pool::avg_pool2d(&mut self.rec, p, x, out)
    }
    fn avg_pool2d_backward(&mut self, p: &Pool2dParams, dy: Input, out: &Meta) -> Result<Buffer> {
        pool::avg_pool2d_backward(&mut self.rec, p, dy, out)
    }
    fn softmax(&mut self, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer> {
        softmax::softmax(&mut self.rec, axis, log, x, out)
    }
    fn softmax_backward(
        &mut self,
        axis: usize,
        log: bool,
        y: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        softmax::softmax_backward(&mut self.rec, axis, log, y, dy, out)
    }
    fn attention(&mut self, p: &AttentionParams, args: &[Input], out: &Meta) -> Result<Buffer> {
        attention::attention(&mut self.rec, p, args, out)
    }
    fn attention_backward_q(
        &mut self,
        p: &AttentionParams,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer> {
        attention::attention_backward_q(&mut self.rec, p, args, out)
    }
    fn attention_backward_kv(
        &mut self,
        p: &AttentionParams,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer> {
        attention::attention_backward_kv(&mut self.rec, p, args, out)
    }
}
