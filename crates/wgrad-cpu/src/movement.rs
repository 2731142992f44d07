//! Ops that move or convert elements without arithmetic: copy (also reshape of a strided view), pad, cat,
//! cast, and full.

use wgrad_graph::{Buffer, DType, Error, Input, Meta, Result, Shape};

use crate::buffer::{expect_shape, output, values};

/// Every element equal to `value`, rounded to `out.dtype` ([`DType::round`]: integers truncate and wrap).
pub(crate) fn full(value: f64, out: &Meta) -> Buffer {
    output(out, vec![value; out.numel()])
}

/// The elements of a (possibly strided) `x` in row-major order, in a fresh contiguous buffer of `out`'s
/// shape. `out` may have a different shape with the same element count: that is a reshape of a strided view.
pub(crate) fn copy(x: Input, out: &Meta) -> Result<Buffer> {
    if out.numel() != x.layout.numel() {
        return Err(Error::shape(
            "copy",
            format!(
                "{} has {} elements, {} has {}",
                x.shape(),
                x.layout.numel(),
                out.shape,
                out.numel()
            ),
        ));
    }
    Ok(output(out, values("copy", x)?))
}

/// Converts to `out.dtype`:
/// - float → int truncates toward zero and saturates, NaN → 0 (Rust's `as`: `300.7 → 300`, `-1.5 → 0u32`)
/// - int → int wraps (`-1i32 → u32::MAX`, Rust's `as` again)
/// - anything → bool is `x != 0` (NaN → true); bool → number is 0/1
/// - → float rounds to nearest even
pub(crate) fn cast(x: Input, out: &Meta) -> Result<Buffer> {
    expect_shape("cast", "output", &out.shape, x.shape())?;
    let from = x.dtype;
    let xs = values("cast", x)?;
    let data = xs.into_iter().map(|v| cast_value(from, out.dtype, v));
    Ok(output(out, data.collect()))
}

/// One element of [`cast`].
pub fn cast_value(from: DType, to: DType, v: f64) -> f64 {
    match to {
        DType::I32 if from.is_float() => v as i32 as f64,
        DType::U32 if from.is_float() => v as u32 as f64,
        _ => to.round(v),
    }
}

/// `before[i]` elements of `value` before axis `i`, and as many after as `out`'s shape leaves:
/// `out[p] = x[p - before]` where that is inside `x`, else `value`.
pub(crate) fn pad(before: &[usize], value: f64, x: Input, out: &Meta) -> Result<Buffer> {
    let shape = x.shape().clone();
    let fits = before.len() == shape.rank()
        && out.shape.rank() == shape.rank()
        && (0..shape.rank()).all(|i| out.shape.0[i] >= shape.0[i] + before[i]);
    if !fits {
        return Err(Error::shape(
            "pad",
            format!(
                "{shape} padded by {before:?} before does not fit {}",
                out.shape
            ),
        ));
    }
    let xs = values("pad", x)?;
    let strides = shape.contiguous_strides();
    let mut index = vec![0; shape.rank()];
    let data = (0..out.numel()).map(|k| {
        out.shape.unravel(k, &mut index);
        let mut pos = 0;
        for (i, &p) in index.iter().enumerate() {
            match p.checked_sub(before[i]) {
                Some(q) if q < shape.0[i] => pos += q * strides[i],
                _ => return value,
            }
        }
        xs[pos]
    });
    Ok(output(out, data.collect()))
}

/// The inputs joined along `axis`: `out[.., j, ..]` comes from the input whose range along `axis` holds `j`.
pub(crate) fn cat(axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer> {
    let mut want = out.shape.0.clone();
    if axis >= want.len() {
        return Err(Error::Axis {
            op: "cat",
            msg: format!("dim {axis} out of range for shape {}", out.shape),
        });
    }
    let mut parts = Vec::with_capacity(xs.len());
    let mut start = 0;
    for x in xs {
        want[axis] = x.shape().0.get(axis).copied().unwrap_or(0);
        expect_shape("cat", "input", x.shape(), &Shape(want.clone()))?;
        parts.push((start, x.shape().clone(), values("cat", *x)?));
        start += want[axis];
    }
    if start != out.shape.0[axis] {
        let msg = format!(
            "inputs add up to {start} along dim {axis}, output is {}",
            out.shape
        );
        return Err(Error::shape("cat", msg));
    }
    let mut index = vec![0; want.len()];
    let data = (0..out.numel()).map(|k| {
        out.shape.unravel(k, &mut index);
        // The part whose range along `axis` holds index[axis] (empty parts hold nothing).
        let (s, shape, vals) = parts
            .iter()
            .find(|(s, shape, _)| index[axis] >= *s && index[axis] < s + shape.0[axis])
            .expect("the parts tile the output axis");
        let mut local = index.clone();
        local[axis] -= s;
        let strides = shape.contiguous_strides();
        vals[local
            .iter()
            .zip(&strides)
            .map(|(i, s)| i * s)
            .sum::<usize>()]
    });
    Ok(output(out, data.collect()))
}
