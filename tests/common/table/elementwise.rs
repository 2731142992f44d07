//! Unary, binary, `where` and cast rows.

use super::Domain::*;
use super::{row, Domain, Family, Row};
use wgrad::{DType, Result, Tensor};

pub const UNARY: &[&[&[usize]]] = &[
    &[&[]],
    &[&[1]],
    &[&[3, 5]],
    &[&[17, 3]],
    &[&[257]],
    &[&[45, 65]],
    // inner dim a multiple of 4: the vector kernels (four elements per invocation)
    &[&[4, 12]],
];
pub const BINARY: &[&[&[usize]]] = &[
    &[&[3, 5], &[3, 5]],
    &[&[17, 3], &[3]],
    &[&[1], &[257]],
    &[&[45, 65], &[45, 1]],
    &[&[], &[3, 5]],
    // vector kernels: a broadcast operand read as vec4, and one splatted along the inner dim
    &[&[8, 4, 12], &[4, 12]],
    &[&[6, 8], &[6, 1]],
];

fn unary(
    name: &'static str,
    domain: Domain,
    f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
) -> Row {
    row(name, Family::Unary, &[domain], UNARY, move |x| f(&x[0]))
}

fn binary(
    name: &'static str,
    domains: [Domain; 2],
    f: impl Fn(&Tensor, &Tensor) -> Result<Tensor> + Send + Sync + 'static,
) -> Row {
    row(name, Family::Binary, &domains, BINARY, move |x| {
        f(&x[0], &x[1])
    })
}

pub(super) fn rows() -> Vec<Row> {
    let mut rows = vec![
        unary("neg", Any, Tensor::neg),
        unary("exp", Any, Tensor::exp),
        unary("log", Positive, Tensor::log),
        unary("sqrt", Positive, Tensor::sqrt),
        unary("rsqrt", Positive, Tensor::rsqrt),
        unary("recip", AwayFromZero, Tensor::recip),
        unary("abs", AwayFromZero, Tensor::abs),
        unary("sign", AwayFromZero, Tensor::sign),
        unary("sin", Any, Tensor::sin),
        unary("cos", Any, Tensor::cos),
        unary("tanh", Any, Tensor::tanh),
        unary("sigmoid", Any, Tensor::sigmoid),
        unary("relu", AwayFromZero, Tensor::relu),
        unary("erf", Any, Tensor::erf),
        binary("add", [Any, Any], |a, b| a + b),
        binary("sub", [Any, Any], |a, b| a - b),
        binary("mul", [Any, Any], |a, b| a * b),
        binary("div", [Any, AwayFromZero], |a, b| a / b),
        binary("pow", [Positive, Unit], |a, b| a.pow(b)),
        binary("maximum", [Any, Any], |a, b| a.maximum(b)),
        binary("minimum", [Any, Any], |a, b| a.minimum(b)),
        binary("lt", [Any, Any], |a, b| a.lt(b)).forward_only(),
        binary("le", [Any, Any], |a, b| a.le(b)).forward_only(),
        // maximum(a, b) equals a where a >= b: true at about half the elements
        binary("eq", [Any, Any], |a, b| a.eq(&a.maximum(b)?)).forward_only(),
        // both bounds, one each, and min > max (every element becomes max)
        row("clamp", Family::Where, &[Any], UNARY, |x| {
            x[0].clamp(Some(-0.3), Some(0.4))
        }),
        row("clamp", Family::Where, &[Any], UNARY, |x| {
            x[0].clamp(Some(0.1), None)
        })
        .note("min only"),
        row("clamp", Family::Where, &[Any], UNARY, |x| {
            x[0].clamp(None, Some(-0.2))
        })
        .note("max only"),
        row("clamp", Family::Where, &[Any], UNARY, |x| {
            x[0].clamp(Some(0.5), Some(-0.5))
        })
        .note("min > max"),
        row("where", Family::Where, &[Any, Any], BINARY, |x| {
            x[0].gt(0.0)?.where_(&x[0], &x[1])
        }),
    ];
    rows.extend(cast_rows());
    rows
}

/// Casts between every pair of dtypes a kernel converts (float → int truncates, → bool is `x != 0`).
fn cast_rows() -> Vec<Row> {
    use DType::*;
    let cast = |note: &str, domain: Domain, f: fn(&Tensor) -> Result<Tensor>| {
        row("cast", Family::Cast, &[domain], UNARY, move |x| f(&x[0]))
            .note(note)
            .forward_only()
    };
    vec![
        cast("via i32", Any, |x| x.mul(3.0)?.cast(I32)?.cast(x.dtype())),
        // relu makes exact zeros (false); i32 → bool of |3x| < 1 too
        cast("via bool", Any, |x| {
            let from_float = x.relu()?.cast(Bool)?.cast(I32)?;
            let from_int = x.mul(3.0)?.cast(I32)?.cast(Bool)?.cast(I32)?;
            (from_float + from_int)?.cast(x.dtype())
        }),
        cast("via u32", Any, |x| {
            let direct = x.abs()?.mul(10.0)?.cast(U32)?;
            let from_i32 = x.abs()?.mul(7.0)?.cast(I32)?.cast(U32)?;
            (direct + from_i32)?.cast(x.dtype())
        }),
        cast("via f16", Any, |x| x.mul(3.0)?.cast(F16)?.cast(x.dtype())),
        cast("from bf16", Stored(BF16), |x| x.cast(F32)),
        // Differentiable cast: f64 → f32 → f64 in the gradcheck (eps large enough for f32 rounding); on f32
        // inputs it is a plain scale, so GPU rows stay in f32.
        row("cast_float", Family::Cast, &[Any], &[&[&[3, 5]]], |x| {
            let other = if x[0].dtype() == F64 {
                F32
            } else {
                x[0].dtype()
            };
            x[0].cast(other)?.mul(2.0)?.cast(x[0].dtype())
        })
        .eps(1e-2),
    ]
}
