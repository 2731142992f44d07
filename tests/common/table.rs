//! The op table: one row per primitive (and per backward primitive, through `grad`), with its input domains,
//! shape variants and builder. The harnesses walk it: f64 finite differences on the CPU (`gradcheck.rs`),
//! CPU vs wgpu forward and gradients (`gpu_matches_cpu.rs`), and a coverage check that fails when a
//! primitive has no row.
//!
//! Shapes include sizes 1, 3, 17, 257 and [45, 65], none a multiple of a workgroup or tile size.

use wgrad::graph::{Conv2dParams, Infer};
use wgrad::{grad, DType, Result, Tensor};

/// How to draw an input.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// Uniform in [-2, 2).
    Any,
    /// Uniform in [0.5, 2): for log, sqrt, pow bases.
    Positive,
    /// |x| in [0.3, 2) with a random sign: keeps inputs off kinks at 0 (relu, abs, recip).
    AwayFromZero,
    /// Uniform in [-0.9, 0.9).
    Unit,
    /// i32 in [0, n).
    Index(usize),
}

pub type Build = fn(&[Tensor]) -> Result<Tensor>;

pub struct Row {
    pub name: &'static str,
    pub domains: Vec<Domain>,
    /// Shape variants: one shape per input.
    pub shapes: Vec<Vec<Vec<usize>>>,
    pub build: Build,
    /// False for ops with no gradient (comparisons, argmax, max_pool2d_backward).
    pub differentiable: bool,
    /// Finite-difference step (larger where the row rounds through f32 on purpose).
    pub eps: f64,
}

fn row(name: &'static str, domains: &[Domain], shapes: &[&[&[usize]]], build: Build) -> Row {
    Row {
        name,
        domains: domains.to_vec(),
        shapes: shapes
            .iter()
            .map(|v| v.iter().map(|s| s.to_vec()).collect())
            .collect(),
        build,
        differentiable: true,
        eps: super::tolerance::GRADCHECK_EPS,
    }
}

fn forward_only(mut r: Row) -> Row {
    r.differentiable = false;
    r
}

use Domain::*;

const UNARY: &[&[&[usize]]] = &[
    &[&[]],
    &[&[1]],
    &[&[3, 5]],
    &[&[17, 3]],
    &[&[257]],
    &[&[45, 65]],
];
const BINARY: &[&[&[usize]]] = &[
    &[&[3, 5], &[3, 5]],
    &[&[17, 3], &[3]],
    &[&[1], &[257]],
    &[&[45, 65], &[45, 1]],
    &[&[], &[3, 5]],
];

/// `d/dx Σ f(x)·v` as a graph: rows built on it differentiate a gradient (double backward) and cover the
/// backward primitives.
fn grad_of(y: &Tensor, v: &Tensor, wrt: &Tensor) -> Result<Tensor> {
    let loss = y.mul(v)?.sum_all()?;
    let g = grad(&loss, &[wrt], None)?.remove(0);
    Ok(g.unwrap_or_else(|| wrt.zeros_like()))
}

fn conv_p(stride: usize, padding: usize, dilation: usize, groups: usize) -> Conv2dParams {
    Conv2dParams {
        stride: [stride; 2],
        padding: [padding; 2],
        dilation: [dilation; 2],
        groups,
    }
}

pub fn rows() -> Vec<Row> {
    let mut rows = vec![
        row("neg", &[Any], UNARY, |x| x[0].neg()),
        row("exp", &[Any], UNARY, |x| x[0].exp()),
        row("log", &[Positive], UNARY, |x| x[0].log()),
        row("sqrt", &[Positive], UNARY, |x| x[0].sqrt()),
        row("rsqrt", &[Positive], UNARY, |x| x[0].rsqrt()),
        row("recip", &[AwayFromZero], UNARY, |x| x[0].recip()),
        row("abs", &[AwayFromZero], UNARY, |x| x[0].abs()),
        row("sign", &[AwayFromZero], UNARY, |x| x[0].sign()),
        row("sin", &[Any], UNARY, |x| x[0].sin()),
        row("cos", &[Any], UNARY, |x| x[0].cos()),
        row("tanh", &[Any], UNARY, |x| x[0].tanh()),
        row("sigmoid", &[Any], UNARY, |x| x[0].sigmoid()),
        row("relu", &[AwayFromZero], UNARY, |x| x[0].relu()),
        row("erf", &[Any], UNARY, |x| x[0].erf()),
        forward_only(row("cast", &[Any], UNARY, |x| {
            x[0].mul(3.0)?.cast(DType::I32)?.cast(x[0].dtype())
        })),
        row("add", &[Any, Any], BINARY, |x| &x[0] + &x[1]),
        row("sub", &[Any, Any], BINARY, |x| &x[0] - &x[1]),
        row("mul", &[Any, Any], BINARY, |x| &x[0] * &x[1]),
        row("div", &[Any, AwayFromZero], BINARY, |x| &x[0] / &x[1]),
        row("pow", &[Positive, Unit], BINARY, |x| x[0].pow(&x[1])),
        row("maximum", &[Any, Any], BINARY, |x| x[0].maximum(&x[1])),
        row("minimum", &[Any, Any], BINARY, |x| x[0].minimum(&x[1])),
        forward_only(row("lt", &[Any, Any], BINARY, |x| {
            x[0].lt(&x[1])?.cast(x[0].dtype())
        })),
        forward_only(row("le", &[Any, Any], BINARY, |x| {
            x[0].le(&x[1])?.cast(x[0].dtype())
        })),
        forward_only(row("eq", &[Any, Any], BINARY, |x| {
            x[0].eq(&x[0].maximum(&x[1])?)?.cast(x[0].dtype())
        })),
        row("where", &[Any, Any], BINARY, |x| {
            x[0].gt(0.0)?.where_(&x[0], &x[1])
        }),
        row("sum", &[Any], &[&[&[3, 5]], &[&[257]], &[&[17, 3]]], |x| {
            x[0].sum(&[-1], false)
        }),
        row("sum", &[Any], &[&[&[3, 4, 5]], &[&[1, 17, 3]]], |x| {
            x[0].sum(&[0, 2], true)
        }),
        row("sum", &[Any], &[&[&[45, 65]], &[&[]]], |x| x[0].sum_all()),
        row("max", &[Any], &[&[&[3, 5]], &[&[257]], &[&[45, 65]]], |x| {
            x[0].max(&[-1], false)
        }),
        row("max", &[Any], &[&[&[3, 4, 5]], &[&[17, 1, 3]]], |x| {
            x[0].max(&[0, 2], true)
        }),
        row("min", &[Any], &[&[&[3, 5]], &[&[17, 3]]], |x| {
            x[0].min(&[0], false)
        }),
        forward_only(row(
            "argmax",
            &[Any],
            &[&[&[3, 5]], &[&[257]], &[&[45, 65]]],
            |x| x[0].argmax(-1, false)?.cast(x[0].dtype()),
        )),
        forward_only(row("argmin", &[Any], &[&[&[3, 5]], &[&[17, 3]]], |x| {
            x[0].argmin(0, true)?.cast(x[0].dtype())
        })),
        row(
            "reshape",
            &[Any],
            &[&[&[3, 5]], &[&[17, 3]], &[&[45, 65]]],
            |x| x[0].t()?.reshape(Infer(&[-1]))?.mul(1.5),
        ),
        row("permute", &[Any], &[&[&[3, 4, 5]], &[&[1, 17, 3]]], |x| {
            x[0].permute(&[2, 0, 1])?.exp()
        }),
        row("expand", &[Any], &[&[&[3, 1]], &[&[1]], &[&[17, 1]]], |x| {
            x[0].expand([x[0].dims()[0], 5])?.mul(2.0)
        }),
        row("slice", &[Any], &[&[&[17, 3]], &[&[257, 1]]], |x| {
            x[0].slice(0, 1, 16, 3)?.exp()
        }),
        row("slice", &[Any], &[&[&[3, 5, 7]]], |x| {
            x[0].slice_all(vec![1, 0, 2], vec![3, 5, 7], vec![1, 2, 3])?
                .mul(2.0)
        }),
        row("pad", &[Any], &[&[&[3, 5]], &[&[17, 3]], &[&[1, 1]]], |x| {
            x[0].pad(&[(1, 2), (0, 3)], 0.5)
        }),
        row(
            "cat",
            &[Any, Any],
            &[&[&[3, 5], &[2, 5]], &[&[1, 17], &[4, 17]]],
            |x| Tensor::cat(&[&x[0], &x[1]], 0),
        ),
        row(
            "cat",
            &[Any, Any, Any],
            &[&[&[3, 2], &[3, 7], &[3, 1]]],
            |x| Tensor::cat(&[&x[0], &x[1], &x[2]], 1),
        ),
        row(
            "gather",
            &[Any, Index(5)],
            &[&[&[5, 4], &[3, 4]], &[&[5, 17], &[7, 17]]],
            |x| x[0].gather(0, &x[1]),
        ),
        row(
            "gather",
            &[Any, Index(3)],
            &[&[&[17, 3], &[17, 2]], &[&[4, 3], &[1, 1]]],
            |x| x[0].gather(1, &x[1]),
        ),
        row(
            "index_select",
            &[Any, Index(10)],
            &[&[&[10, 4], &[7]], &[&[10, 1], &[17]]],
            |x| x[0].index_select(0, &x[1]),
        ),
        row(
            "scatter_add",
            &[Index(5), Any],
            &[&[&[3, 4], &[3, 4]], &[&[17, 2], &[17, 2]]],
            |x| Tensor::scatter_add(&x[0], &x[1], 0, [5, x[1].dims()[1] + 1]),
        ),
        row(
            "matmul",
            &[Any, Any],
            &[
                &[&[3, 5], &[5, 4]],
                &[&[1, 17], &[17, 3]],
                &[&[17], &[17, 3]],
                &[&[3, 17], &[17]],
            ],
            |x| x[0].matmul(&x[1]),
        ),
        row(
            "matmul",
            &[Any, Any],
            &[
                &[&[2, 3, 5], &[5, 4]],
                &[&[2, 3, 5], &[2, 5, 4]],
                &[&[2, 1, 3, 5], &[3, 5, 4]],
            ],
            |x| x[0].matmul(&x[1]),
        ),
        row(
            "matmul",
            &[Any, Any],
            &[&[&[3, 5], &[4, 5]], &[&[17, 3], &[1, 3]]],
            |x| x[0].matmul(&x[1].t()?),
        ),
        row(
            "matmul",
            &[Any, Any],
            &[&[&[5, 3], &[5, 4]], &[&[3, 17], &[3, 2]]],
            |x| x[0].t()?.matmul(&x[1]),
        ),
        row(
            "conv2d",
            &[Any, Any],
            &[
                &[&[2, 3, 7, 6], &[4, 3, 3, 3]],
                &[&[1, 1, 17, 3], &[2, 1, 1, 2]],
            ],
            |x| x[0].conv2d(&x[1], None, Conv2dParams::default()),
        ),
        row(
            "conv2d",
            &[Any, Any, Any],
            &[&[&[2, 3, 7, 6], &[4, 3, 3, 3], &[4]]],
            |x| x[0].conv2d(&x[1], Some(&x[2]), conv_p(2, 1, 1, 1)),
        ),
        row(
            "conv2d",
            &[Any, Any],
            &[&[&[1, 2, 9, 8], &[3, 2, 3, 2]]],
            |x| x[0].conv2d(&x[1], None, conv_p(1, 2, 2, 1)),
        ),
        row(
            "conv2d",
            &[Any, Any],
            &[&[&[1, 4, 5, 5], &[6, 2, 3, 3]]],
            |x| x[0].conv2d(&x[1], None, conv_p(2, 1, 1, 2)),
        ),
        row(
            "max_pool2d",
            &[Any],
            &[&[&[2, 3, 7, 6]], &[&[1, 1, 17, 3]]],
            |x| x[0].max_pool2d([2, 2], [2, 2], [0, 0]),
        ),
        row("max_pool2d", &[Any], &[&[&[2, 3, 7, 6]]], |x| {
            x[0].max_pool2d([3, 3], [2, 2], [1, 1])
        }),
        row(
            "avg_pool2d",
            &[Any],
            &[&[&[2, 3, 7, 6]], &[&[1, 1, 17, 3]]],
            |x| x[0].avg_pool2d([2, 2], [2, 2], [0, 0]),
        ),
        row("avg_pool2d", &[Any], &[&[&[2, 3, 7, 6]]], |x| {
            x[0].avg_pool2d([3, 3], [2, 1], [1, 1])
        }),
        row(
            "softmax",
            &[Any],
            &[&[&[3, 5]], &[&[1, 257]], &[&[45, 65]]],
            |x| x[0].softmax(-1),
        ),
        row("softmax", &[Any], &[&[&[4, 3, 5]], &[&[2, 17, 3]]], |x| {
            x[0].softmax(1)
        }),
        row(
            "log_softmax",
            &[Any],
            &[&[&[3, 5]], &[&[1, 257]], &[&[45, 65]]],
            |x| x[0].log_softmax(-1),
        ),
        row("log_softmax", &[Any], &[&[&[4, 3, 5]]], |x| {
            x[0].log_softmax(0)
        }),
        row("copy", &[Any], &[&[&[3, 5]], &[&[17, 3]]], |x| {
            x[0].t()?.contiguous()
        }),
    ];
    rows.extend(double_backward_rows());
    rows
}

/// Rows whose output is a gradient: checking *their* gradient checks double backward and the backward
/// primitives (conv2d_backward_*, avg_pool2d_backward, softmax_backward, …).
const CONV: &[&[&[usize]]] = &[&[&[1, 2, 5, 4], &[3, 2, 3, 2], &[1, 3, 5, 5]]];

fn double_backward_rows() -> Vec<Row> {
    let conv = CONV;
    let mut rows = vec![
        row(
            "double_backward_mul",
            &[Any, Any, Any],
            &[&[&[3, 5], &[3, 5], &[3, 5]]],
            |x| {
                let y = x[0].mul(&x[1])?.mul(&x[0])?;
                grad_of(&y, &x[2], &x[0])
            },
        ),
        row(
            "double_backward_tanh",
            &[Any, Any],
            &[&[&[17, 3], &[17, 3]]],
            |x| grad_of(&x[0].tanh()?, &x[1], &x[0]),
        ),
        row(
            "double_backward_matmul",
            &[Any, Any, Any],
            &[&[&[3, 5], &[5, 4], &[3, 4]]],
            |x| {
                let y = x[0].matmul(&x[1])?.tanh()?;
                grad_of(&y, &x[2], &x[0])
            },
        ),
        row(
            "softmax_backward",
            &[Any, Any],
            &[&[&[3, 5], &[3, 5]], &[&[2, 17], &[2, 17]]],
            |x| grad_of(&x[0].softmax(-1)?, &x[1], &x[0]),
        ),
        row(
            "log_softmax_backward",
            &[Any, Any],
            &[&[&[3, 5], &[3, 5]]],
            |x| grad_of(&x[0].log_softmax(-1)?, &x[1], &x[0]),
        ),
        row("conv2d_backward_input", &[Any, Any, Any], conv, |x| {
            grad_of(&x[0].conv2d(&x[1], None, conv_p(1, 1, 1, 1))?, &x[2], &x[0])
        }),
        row("conv2d_backward_weight", &[Any, Any, Any], conv, |x| {
            grad_of(&x[0].conv2d(&x[1], None, conv_p(1, 1, 1, 1))?, &x[2], &x[1])
        }),
        row("double_backward_conv2d", &[Any, Any, Any], conv, |x| {
            let y = x[0].conv2d(&x[1], None, conv_p(1, 1, 1, 1))?.tanh()?;
            grad_of(&y, &x[2], &x[0])
        }),
        row(
            "avg_pool2d_backward",
            &[Any, Any],
            &[&[&[2, 3, 7, 6], &[2, 3, 3, 3]]],
            |x| grad_of(&x[0].avg_pool2d([2, 2], [2, 2], [0, 0])?, &x[1], &x[0]),
        ),
        forward_only(row(
            "max_pool2d_backward",
            &[Any, Any],
            &[&[&[2, 3, 7, 6], &[2, 3, 3, 3]]],
            |x| grad_of(&x[0].max_pool2d([2, 2], [2, 2], [0, 0])?, &x[1], &x[0]),
        )),
    ];
    // Differentiable cast: f64 → f32 → f64 in the gradcheck (eps large enough for f32 rounding); on f32
    // inputs it is a plain scale, so GPU rows stay in f32.
    let mut cast = row("cast_float", &[Any], &[&[&[3, 5]]], |x| {
        let other = if x[0].dtype() == DType::F64 {
            DType::F32
        } else {
            x[0].dtype()
        };
        x[0].cast(other)?.mul(2.0)?.cast(x[0].dtype())
    });
    cast.eps = 1e-2;
    rows.push(cast);
    rows
}

/// Primitive op names that need no row: sources and aliases.
pub const NO_ROW_NEEDED: &[&str] = &["leaf", "full", "random", "detach"];
