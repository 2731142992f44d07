//! Fused, numerically stable softmax and log_softmax along one axis, with their backward kernels.

use wgrad_graph::{Buffer, Error, Input, Meta, Result, Shape};

use crate::buffer::{expect_shape, output, values};

/// `softmax(x)_j = e^(x_j - m) / Σ_i e^(x_i - m)` and `log_softmax(x)_j = x_j - m - ln Σ_i e^(x_i - m)`, with
/// `m = max_i x_i` along `axis`. Subtracting the max keeps every exponent ≤ 0, so `log_softmax([1000, 0,
/// -1000])` is `[0, -1000, -2000]` instead of NaN.
pub(crate) fn softmax(axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer> {
    let name = if log { "log_softmax" } else { "softmax" };
    let lanes = Lanes::new(name, axis, x.shape(), x.dtype.is_float())?;
    expect_shape(name, "output", &out.shape, x.shape())?;
    let xs = values(name, x)?;
    let mut y = vec![0.0; xs.len()];
    for lane in lanes.iter() {
        let m = lane
            .clone()
            .map(|i| xs[i])
            .fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = lane.clone().map(|i| (xs[i] - m).exp()).sum();
        for i in lane {
            y[i] = if log {
                xs[i] - m - sum.ln()
            } else {
                (xs[i] - m).exp() / sum
            };
        }
    }
    Ok(output(out, y))
}

/// Vector-Jacobian products along `axis`, from the forward output `y` and the incoming gradient `dy`:
/// - softmax: `dx = y · (dy - Σ dy·y)`
/// - log_softmax (`y = z = log_softmax(x)`): `dx = dy - e^z · Σ dy`
pub(crate) fn softmax_backward(
    axis: usize,
    log: bool,
    y: Input,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    let name = if log {
        "log_softmax_backward"
    } else {
        "softmax_backward"
    };
    let lanes = Lanes::new(name, axis, y.shape(), y.dtype.is_float())?;
    expect_shape(name, "dy", dy.shape(), y.shape())?;
    expect_shape(name, "output", &out.shape, y.shape())?;
    let (ys, dys) = (values(name, y)?, values(name, dy)?);
    let mut dx = vec![0.0; ys.len()];
    for lane in lanes.iter() {
        if log {
            let s: f64 = lane.clone().map(|i| dys[i]).sum();
            for i in lane {
                dx[i] = dys[i] - ys[i].exp() * s;
            }
        } else {
            let s: f64 = lane.clone().map(|i| dys[i] * ys[i]).sum();
            for i in lane {
                dx[i] = ys[i] * (dys[i] - s);
            }
        }
    }
    Ok(output(out, dx))
}

/// The 1-D lanes along `axis` of a row-major tensor: `outer · inner` lanes of `len` elements, `inner` apart.
struct Lanes {
    outer: usize,
    len: usize,
    inner: usize,
}

impl Lanes {
    fn new(op: &'static str, axis: usize, shape: &Shape, float: bool) -> Result<Lanes> {
        if !float {
            return Err(Error::dtype(
                op,
                "dtype not supported (float only)".to_string(),
            ));
        }
        if axis >= shape.rank() {
            return Err(Error::Axis {
                op,
                msg: format!("dim {axis} out of range for shape {shape}"),
            });
        }
        Ok(Lanes {
            outer: shape.0[..axis].iter().product(),
            len: shape.0[axis],
            inner: shape.0[axis + 1..].iter().product(),
        })
    }

    /// Each lane as an iterator over its flat indices.
    fn iter(&self) -> impl Iterator<Item = std::iter::StepBy<std::ops::Range<usize>>> + '_ {
        (0..self.outer * self.inner).map(move |l| {
            let start = (l / self.inner) * self.len * self.inner + l % self.inner;
            (start..start + self.len * self.inner).step_by(self.inner)
        })
    }
}
