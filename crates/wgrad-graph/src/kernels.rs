//! The [`Kernels`] trait: one method per op family, what a backend implements to run schedules.

use crate::buffer::Buffer;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::expr::{FusedExpr, Node};
use crate::op::{
    AttentionParams, BinaryOp, Conv2dParams, Meta, Pool2dParams, RandomDist, ReduceOp, UnaryOp,
};
use crate::shape::{Layout, Shape};

/// A kernel input handed to a [`Kernels`] method.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub buffer: &'a Buffer,
    pub layout: &'a Layout,
    pub dtype: DType,
}

impl Input<'_> {
    pub fn shape(&self) -> &Shape {
        &self.layout.shape
    }
}

/// One method per op family. Inputs of ops that do not read strided views (see [`crate::schedule::Kernel::reads_strided`]) are
/// contiguous; every output is a fresh contiguous buffer of `out`.
#[allow(missing_docs)]
pub trait Kernels {
    /// A fused elementwise chain ([`crate::fuse`]). The default runs its nodes one by one with this
    /// backend's own `unary`/`binary`/`where_`, so results equal the unfused steps'; a backend that reports
    /// [`crate::Backend::fuses_elementwise`] overrides it with one kernel.
    fn fused(&mut self, expr: &FusedExpr, args: &[Input], out: &Meta) -> Result<Buffer> {
        let shape = out.shape.clone();
        let layout = Layout::contiguous(shape.clone());
        let mut values: Vec<Buffer> = Vec::with_capacity(expr.nodes.len());
        for (node, dtype) in &expr.nodes {
            let meta = Meta::new(shape.clone(), *dtype);
            let at = |i: usize| Input {
                buffer: &values[i],
                layout: &layout,
                dtype: expr.nodes[i].1,
            };
            // a leaf is an argument (any layout); other operands are earlier nodes (contiguous)
            let input = |i: usize| match expr.nodes[i].0 {
                Node::Leaf(k) => args[k],
                _ => at(i),
            };
            let value = match node {
                Node::Leaf(k) => {
                    // placeholder so node indices line up; leaves are read through `input`
                    args[*k].buffer.clone()
                }
                Node::Unary(op, a) => self.unary(*op, input(*a), &meta)?,
                Node::Binary(op, a, b) => self.binary(*op, input(*a), input(*b), &meta)?,
                Node::Where(c, a, b) => self.where_(input(*c), input(*a), input(*b), &meta)?,
            };
            values.push(value);
        }
        values
            .pop()
            .ok_or_else(|| Error::argument("fused", "empty expression"))
    }
    fn full(&mut self, value: f64, out: &Meta) -> Result<Buffer>;
    fn random(&mut self, dist: RandomDist, seed: u64, offset: u64, out: &Meta) -> Result<Buffer>;
    fn unary(&mut self, op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer>;
    fn cast(&mut self, x: Input, out: &Meta) -> Result<Buffer>;
    fn binary(&mut self, op: BinaryOp, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer>;
    fn where_(&mut self, cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer>;
    fn reduce(&mut self, op: ReduceOp, axes: &[usize], x: Input, out: &Meta) -> Result<Buffer>;
    fn copy(&mut self, x: Input, out: &Meta) -> Result<Buffer>;
    fn pad(&mut self, before: &[usize], value: f64, x: Input, out: &Meta) -> Result<Buffer>;
    fn cat(&mut self, axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer>;
    fn gather(&mut self, axis: usize, x: Input, index: Input, out: &Meta) -> Result<Buffer>;
    fn scatter_add(&mut self, axis: usize, index: Input, src: Input, out: &Meta) -> Result<Buffer>;
    fn matmul(&mut self, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer>;
    fn conv2d(&mut self, p: &Conv2dParams, x: Input, w: Input, out: &Meta) -> Result<Buffer>;
    fn conv2d_backward_input(
        &mut self,
        p: &Conv2dParams,
        dy: Input,
        w: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    fn conv2d_backward_weight(
        &mut self,
        p: &Conv2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    fn max_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer>;
    fn max_pool2d_backward(
        &mut self,
        p: &Pool2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    fn avg_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer>;
    fn avg_pool2d_backward(&mut self, p: &Pool2dParams, dy: Input, out: &Meta) -> Result<Buffer>;
    /// `log = false`: softmax; `log = true`: log_softmax.
    fn softmax(&mut self, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer>;
    /// `y` is the forward output (softmax or log_softmax, per `log`).
    fn softmax_backward(
        &mut self,
        axis: usize,
        log: bool,
        y: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer>;
    /// `args`: `(q, k, v[, mask])`, strided; see [`crate::Op::Attention`].
    fn attention(&mut self, p: &AttentionParams, args: &[Input], out: &Meta) -> Result<Buffer>;
    /// `args`: `(q, k, v, stats, dout[, mask])`, strided; see [`crate::Op::AttentionBackwardQ`].
    fn attention_backward_q(
        &mut self,
        p: &AttentionParams,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer>;
    /// `args` as for `attention_backward_q`; see [`crate::Op::AttentionBackwardKv`].
    fn attention_backward_kv(
        &mut self,
        p: &AttentionParams,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer>;
}
