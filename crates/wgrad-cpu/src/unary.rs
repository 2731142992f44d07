//! Elementwise functions of one argument.

use wgrad_graph::{Buffer, Error, Input, Meta, Result, UnaryOp};

use crate::buffer::{expect_shape, output, values};

/// `out[k] = f(x[k])` over a possibly strided `x`, computed in f64 and rounded once to `out.dtype`.
///
/// Floats take every op. Integers take only `neg`, `abs`, `sign` and `relu`, which wrap like two's complement
/// (`neg(i32::MIN) = i32::MIN`, `neg` of a u32 is `wrapping_neg`) because [`wgrad_graph::DType::round`] wraps.
pub(crate) fn unary(op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer> {
    let d = x.dtype;
    if !(d.is_float() || (op.allows_int() && d.is_int())) {
        return Err(Error::dtype(
            op.name(),
            format!("dtype {d} not supported (float only)"),
        ));
    }
    expect_shape(op.name(), "output", &out.shape, x.shape())?;
    let xs = values(op.name(), x)?;
    Ok(output(out, xs.into_iter().map(|v| apply(op, v)).collect()))
}

/// The exact (f64) value of one unary op.
///
/// - `rsqrt(x) = 1/sqrt(x)`, `recip(x) = 1/x` (so `recip(0) = inf`)
/// - `sign(x)` is -1, 0 or 1; `sign(±0) = ±0` and `sign(NaN) = NaN` (Rust's `signum` would give `sign(0) = 1`)
/// - `sigmoid(x) = 1/(1 + e^-x)`, which saturates cleanly to 0 and 1 (e^1000 = inf, 1/inf = 0)
/// - `relu(x) = max(x, 0)`, NaN propagates (PyTorch)
pub fn apply(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Rsqrt => 1.0 / x.sqrt(),
        UnaryOp::Recip => 1.0 / x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::Relu => {
            if x > 0.0 || x.is_nan() {
                x
            } else {
                0.0
            }
        }
    }
}
