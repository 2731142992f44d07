//! Elementwise functions of two equal-shaped arguments, and `where`.
//!
//! Broadcasting is not done here: the graph inserts `expand`, which reaches a kernel as an input layout with
//! stride 0, and [`values`] reads it like any other strided view.

use wgrad_graph::{BinaryOp, Buffer, DType, Error, Input, Meta, Result};

use crate::buffer::{expect_shape, output, values, wrap_int};

/// `out[k] = lhs[k] op rhs[k]`; comparisons produce bool (0/1).
///
/// Floats follow IEEE f64, rounded once to the dtype. Integers (i32, u32) compute exactly and wrap like two's
/// complement; division truncates toward zero and `x / 0 = x` (WGSL's rule, so no backend traps). `pow` is
/// float only; bool takes only `eq`, `maximum` and `minimum`.
pub(crate) fn binary(op: BinaryOp, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
    let (name, d) = (op.name(), lhs.dtype);
    if d != rhs.dtype {
        return Err(Error::dtype(
            name,
            format!("dtypes differ: lhs {d}, rhs {}", rhs.dtype),
        ));
    }
    if (d.is_int() && !op.allows_int()) || (d == DType::Bool && !op.allows_bool()) {
        return Err(Error::dtype(name, format!("dtype {d} not supported")));
    }
    expect_shape(name, "rhs", rhs.shape(), lhs.shape())?;
    expect_shape(name, "output", &out.shape, lhs.shape())?;
    let (ls, rs) = (values(name, lhs)?, values(name, rhs)?);
    let data = ls.iter().zip(&rs).map(|(&a, &b)| apply(op, d, a, b));
    Ok(output(out, data.collect()))
}

/// The exact value of `a op b` for inputs of dtype `d` (before rounding to the output dtype): the registry's
/// [`BinaryOp::apply`], or for integers [`BinaryOp::apply_int`] on i64 operands (exact for 32-bit operands)
/// wrapped to `d`, where integer semantics differ from the rounded float result.
pub fn apply(op: BinaryOp, d: DType, a: f64, b: f64) -> f64 {
    if d.is_int() {
        if let Some(v) = op.apply_int(a as i64, b as i64) {
            return wrap_int(d, v);
        }
    }
    op.apply(a, b)
}

/// `out[k] = if cond[k] != 0 { a[k] } else { b[k] }`; all three may be strided.
pub(crate) fn where_(cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer> {
    if a.dtype != b.dtype {
        return Err(Error::dtype(
            "where",
            format!("dtypes differ: lhs {}, rhs {}", a.dtype, b.dtype),
        ));
    }
    expect_shape("where", "b", b.shape(), a.shape())?;
    expect_shape("where", "cond", cond.shape(), a.shape())?;
    expect_shape("where", "output", &out.shape, a.shape())?;
    let (cs, as_, bs) = (
        values("where", cond)?,
        values("where", a)?,
        values("where", b)?,
    );
    let data = (0..cs.len()).map(|k| if cs[k] != 0.0 { as_[k] } else { bs[k] });
    Ok(output(out, data.collect()))
}
