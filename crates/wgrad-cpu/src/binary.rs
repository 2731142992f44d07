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
    let bool_ok = matches!(op, BinaryOp::Eq | BinaryOp::Max | BinaryOp::Min);
    if (op == BinaryOp::Pow && !d.is_float()) || (d == DType::Bool && !bool_ok) {
        return Err(Error::dtype(name, format!("dtype {d} not supported")));
    }
    expect_shape(name, "rhs", rhs.shape(), lhs.shape())?;
    expect_shape(name, "output", &out.shape, lhs.shape())?;
    let (ls, rs) = (values(name, lhs)?, values(name, rhs)?);
    let data = ls.iter().zip(&rs).map(|(&a, &b)| apply(op, d, a, b));
    Ok(output(out, data.collect()))
}

/// The exact value of `a op b` for inputs of dtype `d` (before rounding to the output dtype).
///
/// `maximum`/`minimum` propagate NaN (PyTorch), unlike `f64::max`, which drops it.
pub fn apply(op: BinaryOp, d: DType, a: f64, b: f64) -> f64 {
    if d.is_int() && !op.is_comparison() && !matches!(op, BinaryOp::Max | BinaryOp::Min) {
        return int_apply(op, d, a as i64, b as i64);
    }
    let bool01 = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Max | BinaryOp::Min if a.is_nan() || b.is_nan() => f64::NAN,
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
        BinaryOp::Lt => bool01(a < b),
        BinaryOp::Le => bool01(a <= b),
        BinaryOp::Eq => bool01(a == b),
    }
}

/// Integer arithmetic in i64 (exact for 32-bit operands, or correct in the low 32 bits for `wrapping_mul`),
/// then wrapped to `d`. `i32::MIN / -1` wraps to `i32::MIN`, as in WGSL.
fn int_apply(op: BinaryOp, d: DType, a: i64, b: i64) -> f64 {
    let v = match op {
        BinaryOp::Add => a.wrapping_add(b),
        BinaryOp::Sub => a.wrapping_sub(b),
        BinaryOp::Mul => a.wrapping_mul(b),
        BinaryOp::Div if b == 0 => a,
        BinaryOp::Div => a / b,
        // Not reached (pow is float only, comparisons and max/min are exact in f64); kept total.
        _ => return apply(op, DType::F64, a as f64, b as f64),
    };
    wrap_int(d, v)
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
