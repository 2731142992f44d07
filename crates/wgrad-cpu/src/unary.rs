//! Elementwise functions of one argument.

use wgrad_graph::{Buffer, Error, Input, Meta, Result, UnaryOp};

use crate::buffer::{expect_shape, output, values};

/// `out[k] = f(x[k])` over a possibly strided `x`, computed in f64 ([`UnaryOp::apply`], the registry's
/// definition) and rounded once to `out.dtype`.
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
    Ok(output(out, xs.into_iter().map(|v| op.apply(v)).collect()))
}
