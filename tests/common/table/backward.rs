//! Rows whose output is a gradient: checking *their* gradient checks double backward and the backward
//! primitives (conv2d_backward_*, avg_pool2d_backward, softmax_backward, …).

use super::matmul_conv::conv_p;
use super::Domain::*;
use super::{row, Family, Row};
use wgrad::{grad, Result, Tensor};

/// `d/dx Σ f(x)·v` as a graph: rows built on it differentiate a gradient (double backward) and cover the
/// backward primitives.
pub(super) fn grad_of(y: &Tensor, v: &Tensor, wrt: &Tensor) -> Result<Tensor> {
    let loss = y.mul(v)?.sum_all()?;
    let g = grad(&loss, &[wrt], None)?.remove(0);
    Ok(g.unwrap_or_else(|| wrt.zeros_like()))
}

const CONV: &[&[&[usize]]] = &[&[&[1, 2, 5, 4], &[3, 2, 3, 2], &[1, 3, 5, 5]]];

pub(super) fn rows() -> Vec<Row> {
    let mut rows = double_backward();
    rows.extend(backward_primitives());
    rows.extend(pool_backward());
    rows
}

/// Gradients of elementwise chains and matmul, differentiated again.
fn double_backward() -> Vec<Row> {
    vec![
        row(
            "double_backward_mul",
            Family::Composite,
            &[Any, Any, Any],
            &[&[&[3, 5], &[3, 5], &[3, 5]]],
            |x| {
                let y = x[0].mul(&x[1])?.mul(&x[0])?;
                grad_of(&y, &x[2], &x[0])
            },
        ),
        row(
            "double_backward_tanh",
            Family::Composite,
            &[Any, Any],
            &[&[&[17, 3], &[17, 3]]],
            |x| grad_of(&x[0].tanh()?, &x[1], &x[0]),
        ),
        row(
            "double_backward_matmul",
            Family::Matmul,
            &[Any, Any, Any],
            &[&[&[3, 5], &[5, 4], &[3, 4]]],
            |x| {
                let y = x[0].matmul(&x[1])?.tanh()?;
                grad_of(&y, &x[2], &x[0])
            },
        ),
    ]
}

/// Gradients through softmax and convolution: their backward primitives as forward ops.
fn backward_primitives() -> Vec<Row> {
    let p = conv_p([1, 1], [1, 1], [1, 1], 1);
    let conv = Family::Conv2d(p);
    vec![
        row(
            "softmax_backward",
            Family::Softmax,
            &[Any, Any],
            &[&[&[3, 5], &[3, 5]], &[&[2, 17], &[2, 17]]],
            |x| grad_of(&x[0].softmax(-1)?, &x[1], &x[0]),
        ),
        row(
            "log_softmax_backward",
            Family::Softmax,
            &[Any, Any],
            &[&[&[3, 5], &[3, 5]]],
            |x| grad_of(&x[0].log_softmax(-1)?, &x[1], &x[0]),
        ),
        row(
            "conv2d_backward_input",
            conv,
            &[Any, Any, Any],
            CONV,
            move |x| grad_of(&x[0].conv2d(&x[1], None, p)?, &x[2], &x[0]),
        ),
        row(
            "conv2d_backward_weight",
            conv,
            &[Any, Any, Any],
            CONV,
            move |x| grad_of(&x[0].conv2d(&x[1], None, p)?, &x[2], &x[1]),
        ),
        row(
            "double_backward_conv2d",
            conv,
            &[Any, Any, Any],
            CONV,
            move |x| {
                let y = x[0].conv2d(&x[1], None, p)?.tanh()?;
                grad_of(&y, &x[2], &x[0])
            },
        ),
    ]
}

/// Gradients through pooling: the backward primitives as forward ops.
fn pool_backward() -> Vec<Row> {
    vec![
        row(
            "avg_pool2d_backward",
            Family::Pool,
            &[Any, Any],
            &[&[&[2, 3, 7, 6], &[2, 3, 3, 3]]],
            |x| grad_of(&x[0].avg_pool2d([2, 2], [2, 2], [0, 0])?, &x[1], &x[0]),
        ),
        row(
            "max_pool2d_backward",
            Family::Pool,
            &[Any, Any],
            &[&[&[2, 3, 7, 6], &[2, 3, 3, 3]]],
            |x| grad_of(&x[0].max_pool2d([2, 2], [2, 2], [0, 0])?, &x[1], &x[0]),
        )
        .forward_only(),
        // ties: each window's gradient goes to its first maximum on every backend
        row(
            "max_pool2d_backward",
            Family::Pool,
            &[Ties, Any],
            &[&[&[2, 3, 17, 15], &[2, 3, 9, 8]]],
            |x| grad_of(&x[0].max_pool2d([3, 3], [2, 2], [1, 1])?, &x[1], &x[0]),
        )
        .note("ties")
        .forward_only(),
        // windows that tile the input exactly take the one-invocation-per-window kernel on the GPU
        row(
            "max_pool2d_backward",
            Family::Pool,
            &[Any, Any],
            &[&[&[2, 3, 8, 6], &[2, 3, 4, 3]]],
            |x| grad_of(&x[0].max_pool2d([2, 2], [2, 2], [0, 0])?, &x[1], &x[0]),
        )
        .note("windows tile the input")
        .forward_only(),
        row(
            "max_pool2d_backward",
            Family::Pool,
            &[Ties, Any],
            &[&[&[1, 2, 9, 6], &[1, 2, 3, 2]]],
            |x| grad_of(&x[0].max_pool2d([3, 3], [3, 3], [0, 0])?, &x[1], &x[0]),
        )
        .note("windows tile the input, ties")
        .forward_only(),
    ]
}
