//! Reductions over a set of axes: sum, max, min, and the index reductions argmax/argmin over one axis.

use wgrad_graph::{Buffer, DType, Error, Input, Meta, ReduceOp, Result, Shape};

use crate::buffer::{accumulate, expect_shape, output, values};

/// Reduces `x` (possibly strided) over `axes`; the output keeps the reduced axes as size 1.
///
/// - `sum` of an empty axis is 0; integer sums wrap like two's complement; float sums accumulate in f64
/// - `max`/`min` propagate NaN: NaN counts as the extreme (PyTorch)
/// - `argmax`/`argmin` take exactly one axis and return the i32 index of the FIRST extreme along it
///   (the first NaN, if any)
pub(crate) fn reduce(op: ReduceOp, axes: &[usize], x: Input, out: &Meta) -> Result<Buffer> {
    let name = op.name();
    let shape = x.shape().clone();
    let mut kept = shape.0.clone();
    for &a in axes {
        if a >= shape.rank() {
            return Err(Error::Axis {
                op: name,
                msg: format!("dim {a} out of range for shape {shape}"),
            });
        }
        kept[a] = 1;
    }
    expect_shape(name, "output", &out.shape, &Shape(kept))?;
    let xs = values(name, x)?;
    let targets = targets(&shape, axes);
    let data = match op {
        ReduceOp::Sum => {
            let mut acc = vec![0.0; out.numel()];
            for (&v, &(o, _)) in xs.iter().zip(&targets) {
                acc[o] = accumulate(x.dtype, acc[o], v);
            }
            acc
        }
        ReduceOp::Max | ReduceOp::Min => extremes(op, &xs, &targets, out.numel())
            .into_iter()
            .map(|b| b.map_or(f64::NAN, |(v, _)| v))
            .collect(),
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            if axes.len() != 1 {
                return Err(Error::argument(
                    name,
                    format!("needs exactly one axis, got {axes:?}"),
                ));
            }
            if out.dtype != DType::I32 {
                let msg = format!("output must be i32, got {}", out.dtype);
                return Err(Error::dtype(name, msg));
            }
            extremes(op, &xs, &targets, out.numel())
                .into_iter()
                .map(|b| b.map_or(0.0, |(_, i)| i as f64))
                .collect()
        }
    };
    Ok(output(out, data))
}

/// For each row-major input element: its output position (its multi-index with the reduced axes set to 0)
/// and its index along the first reduced axis.
fn targets(shape: &Shape, axes: &[usize]) -> Vec<(usize, usize)> {
    let mut kept = shape.0.clone();
    for &a in axes {
        kept[a] = 1;
    }
    let out_strides = Shape(kept).contiguous_strides();
    let mut index = vec![0; shape.rank()];
    (0..shape.numel())
        .map(|k| {
            shape.unravel(k, &mut index);
            let pos = (0..index.len())
                .filter(|d| !axes.contains(d))
                .map(|d| index[d] * out_strides[d])
                .sum();
            (pos, axes.first().map_or(0, |&a| index[a]))
        })
        .collect()
}

/// The running extreme `(value, index along the axis)` of each output. Row-major order visits each axis in
/// increasing order, so a strict comparison keeps the FIRST extreme.
fn extremes(
    op: ReduceOp,
    xs: &[f64],
    targets: &[(usize, usize)],
    n_out: usize,
) -> Vec<Option<(f64, usize)>> {
    let mut best: Vec<Option<(f64, usize)>> = vec![None; n_out];
    for (&v, &(o, i)) in xs.iter().zip(targets) {
        if best[o].is_none_or(|(b, _)| beats(op == ReduceOp::Max || op == ReduceOp::ArgMax, v, b)) {
            best[o] = Some((v, i));
        }
    }
    best
}

/// Whether `candidate` replaces `current` as the running maximum (`max = true`) or minimum: strictly larger
/// (smaller), or the first NaN. Shared with max pooling so both pick the same element.
pub(crate) fn beats(max: bool, candidate: f64, current: f64) -> bool {
    if current.is_nan() {
        return false;
    }
    if candidate.is_nan() {
        return true;
    }
    if max {
        candidate > current
    } else {
        candidate < current
    }
}
