//! Indexing along one axis with an i32 index tensor: gather and its adjoint scatter_add (PyTorch semantics).

use wgrad_graph::{Buffer, DType, Error, Input, Meta, Result, Shape};

use crate::buffer::{accumulate, output, values};

/// `out[p] = x[p with p[axis] := index[p]]`; the output has the index's shape (PyTorch `gather`).
///
/// An index outside `0..x.shape[axis]` is an [`Error::Index`] naming the index and x's shape, e.g.
/// `gather: index 7 out of range for dim 1 of shape [2, 5]` (never a panic and never a clamp: a silent clamp
/// would hide a label bug in cross-entropy).
pub(crate) fn gather(axis: usize, x: Input, index: Input, out: &Meta) -> Result<Buffer> {
    let (xshape, ishape) = (x.shape().clone(), index.shape().clone());
    check("gather", axis, &xshape, &ishape, index.dtype)?;
    if out.shape != ishape {
        return Err(Error::shape(
            "gather",
            format!("output {} must have the index's shape {ishape}", out.shape),
        ));
    }
    let (xs, is) = (values("gather", x)?, values("gather", index)?);
    let strides = xshape.contiguous_strides();
    let mut p = vec![0; ishape.rank()];
    let mut data = Vec::with_capacity(is.len());
    for (k, &i) in is.iter().enumerate() {
        ishape.unravel(k, &mut p);
        p[axis] = in_range("gather", i, axis, &xshape)?;
        data.push(xs[ravel(&p, &strides)]);
    }
    Ok(output(out, data))
}

/// Zeros of `out`'s shape, then `out[p with p[axis] := index[p]] += src[p]` for every `p` of the index: the
/// adjoint of [`gather`] (`<gather(x, i), g> = <x, scatter_add(i, g)>`). Repeated indices accumulate (in f64,
/// rounded once; integers wrap). Out-of-range indices are an [`Error::Index`] naming `out`'s shape.
pub(crate) fn scatter_add(axis: usize, index: Input, src: Input, out: &Meta) -> Result<Buffer> {
    let ishape = index.shape().clone();
    check("scatter_add", axis, &out.shape, &ishape, index.dtype)?;
    if src.shape() != &ishape {
        return Err(Error::shape(
            "scatter_add",
            format!("src {} must have the index's shape {ishape}", src.shape()),
        ));
    }
    let (is, ss) = (values("scatter_add", index)?, values("scatter_add", src)?);
    let strides = out.shape.contiguous_strides();
    let mut acc = vec![0.0; out.numel()];
    let mut p = vec![0; ishape.rank()];
    for (k, (&i, &s)) in is.iter().zip(&ss).enumerate() {
        ishape.unravel(k, &mut p);
        p[axis] = in_range("scatter_add", i, axis, &out.shape)?;
        let o = ravel(&p, &strides);
        acc[o] = accumulate(out.dtype, acc[o], s);
    }
    Ok(output(out, acc))
}

/// Shape rules shared by both ops: i32 index of `target`'s rank, no larger than `target` outside `axis`.
fn check(
    op: &'static str,
    axis: usize,
    target: &Shape,
    ishape: &Shape,
    dtype: DType,
) -> Result<()> {
    if dtype != DType::I32 {
        return Err(Error::dtype(
            op,
            format!("index dtype must be i32, got {dtype}"),
        ));
    }
    if axis >= target.rank() {
        return Err(Error::Axis {
            op,
            msg: format!("dim {axis} out of range for shape {target}"),
        });
    }
    let fits = ishape.rank() == target.rank()
        && (0..target.rank()).all(|d| d == axis || ishape.0[d] <= target.0[d]);
    if !fits {
        return Err(Error::shape(
            op,
            format!("index {ishape} does not fit shape {target} outside dim {axis}"),
        ));
    }
    Ok(())
}

/// The index value as a position along `axis`, or the error that names it.
fn in_range(op: &'static str, i: f64, axis: usize, shape: &Shape) -> Result<usize> {
    if i < 0.0 || i >= shape.0[axis] as f64 {
        return Err(Error::index(
            op,
            format!("index {i} out of range for dim {axis} of shape {shape}"),
        ));
    }
    Ok(i as usize)
}

fn ravel(index: &[usize], strides: &[usize]) -> usize {
    index.iter().zip(strides).map(|(i, s)| i * s).sum()
}
