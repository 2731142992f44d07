//! Softmax over rows longer than one workgroup may loop over ([`super::WORKGROUP_AXIS_MAX`]): the row
//! statistics come from the (split) reduction kernels and the rest from generated elementwise kernels, all
//! recorded into the same execute.
//!
//! Forward: `m = max(x)`, `e = exp(x − m)`, `s = Σ e`, then `e / s` (softmax) or `x − m − log s`
//! (log_softmax). Backward: `y·(dy − Σ dy·y)` (softmax) and `dy − exp(y)·Σ dy` (log_softmax). The reduced
//! statistics are read through stride-0 views along the axis.

use wgrad_graph::{
    BinaryOp, Buffer, DType, FusedExpr, Input, Layout, Meta, Node, ReduceOp, Result, UnaryOp,
};

use crate::engine::Recorder;
use crate::kernels::{elementwise, reduce};

/// The statistic of `x` over `axis` as a fresh `[..., 1, ...]` buffer, and its layout broadcast back to
/// `x`'s shape.
fn statistic(rec: &mut Recorder, op: ReduceOp, axis: usize, x: Input) -> Result<(Buffer, Layout)> {
    let mut kept = x.shape().clone();
    kept.0[axis] = 1;
    let meta = Meta::new(kept.clone(), x.dtype);
    let buffer = reduce::reduce(rec, op, &[axis], x, &meta)?;
    let view = Layout::contiguous(kept).expand(x.shape());
    Ok((buffer, view))
}

/// Runs `nodes` (over leaves of dtype `d`) into a fresh output for `out`.
fn eval(
    rec: &mut Recorder,
    nodes: Vec<(Node, DType)>,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    elementwise::expression(rec, &FusedExpr { nodes }, args, out)
}

pub fn forward(rec: &mut Recorder, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer> {
    use BinaryOp::{Div, Sub};
    let d = x.dtype;
    let (m, m_view) = statistic(rec, ReduceOp::Max, axis, x)?;
    let m_in = broadcast(&m, &m_view, d);
    // e = exp(x - m)
    let shifted = vec![
        (Node::Leaf(0), d),
        (Node::Leaf(1), d),
        (Node::Binary(Sub, 0, 1), d),
        (Node::Unary(UnaryOp::Exp, 2), d),
    ];
    let e = eval(rec, shifted, &[x, m_in], out)?;
    let contiguous = Layout::contiguous(out.shape.clone());
    let e_in = broadcast(&e, &contiguous, d);
    let (s, s_view) = statistic(rec, ReduceOp::Sum, axis, e_in)?;
    let s_in = broadcast(&s, &s_view, d);
    if !log {
        let nodes = vec![
            (Node::Leaf(0), d),
            (Node::Leaf(1), d),
            (Node::Binary(Div, 0, 1), d),
        ];
        return eval(rec, nodes, &[e_in, s_in], out);
    }
    // x - m - log(s)
    let nodes = vec![
        (Node::Leaf(0), d),
        (Node::Leaf(1), d),
        (Node::Leaf(2), d),
        (Node::Binary(Sub, 0, 1), d),
        (Node::Unary(UnaryOp::Log, 2), d),
        (Node::Binary(Sub, 3, 4), d),
    ];
    eval(rec, nodes, &[x, m_in, s_in], out)
}

pub fn backward(
    rec: &mut Recorder,
    axis: usize,
    log: bool,
    [y, dy]: [Input; 2],
    out: &Meta,
) -> Result<Buffer> {
    use BinaryOp::{Mul, Sub};
    let d = y.dtype;
    let leaves = [(Node::Leaf(0), d), (Node::Leaf(1), d), (Node::Leaf(2), d)];
    if log {
        // dy - exp(y)·Σ dy
        let (s, s_view) = statistic(rec, ReduceOp::Sum, axis, dy)?;
        let s_in = broadcast(&s, &s_view, d);
        let mut nodes = leaves.to_vec();
        nodes.extend([
            (Node::Unary(UnaryOp::Exp, 0), d),
            (Node::Binary(Mul, 3, 2), d),
            (Node::Binary(Sub, 1, 4), d),
        ]);
        return eval(rec, nodes, &[y, dy, s_in], out);
    }
    // y·(dy - Σ dy·y)
    let product = vec![
        leaves[0].clone(),
        leaves[1].clone(),
        (Node::Binary(Mul, 0, 1), d),
    ];
    let p = eval(rec, product, &[dy, y], out)?;
    let contiguous = Layout::contiguous(out.shape.clone());
    let (s, s_view) = statistic(rec, ReduceOp::Sum, axis, broadcast(&p, &contiguous, d))?;
    let mut nodes = leaves.to_vec();
    nodes.extend([(Node::Binary(Sub, 1, 2), d), (Node::Binary(Mul, 0, 3), d)]);
    eval(rec, nodes, &[y, dy, broadcast(&s, &s_view, d)], out)
}

/// `buffer` read through `layout`.
fn broadcast<'a>(buffer: &'a Buffer, layout: &'a Layout, dtype: DType) -> Input<'a> {
    Input {
        buffer,
        layout,
        dtype,
    }
}
