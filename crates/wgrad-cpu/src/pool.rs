//! 2-D max and average pooling over NCHW, with their backward kernels.

use wgrad_graph::{Buffer, Error, Input, Meta, Pool2dParams, Result, Shape};

use crate::buffer::{expect_shape, output, values};
use crate::reduce::beats;

/// `y[n, c, oy, ox] = max` of the window `x[n, c, oy·s - p + ky, ox·s - p + kx]`, padding counted as -∞ (so
/// it never wins). NaN propagates, as in `max` reductions.
///
/// # Shapes
/// `x [N, C, H, W]` → `[N, C, OH, OW]`, `OH = ⌊(H + 2p - KH)/s⌋ + 1`.
pub(crate) fn max_pool2d(p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
    let w = Windows::new("max_pool2d", p, x.shape(), &out.shape)?;
    let xs = values("max_pool2d", x)?;
    let y = (0..out.numel())
        .map(|yi| first_max(&w.taps(p, yi), &xs).map_or(f64::NEG_INFINITY, |i| xs[i]));
    Ok(output(out, y.collect()))
}

/// `dx[i] = Σ dy[window]` over the windows whose FIRST maximum (row-major within the window) is `x[i]`; one
/// element gets every window it wins, so overlapping windows accumulate.
///
/// # Shapes
/// `x [N, C, H, W]`, `dy [N, C, OH, OW]` → `dx [N, C, H, W]`.
pub(crate) fn max_pool2d_backward(
    p: &Pool2dParams,
    x: Input,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    let name = "max_pool2d_backward";
    expect_shape(name, "output", &out.shape, x.shape())?;
    let w = Windows::new(name, p, x.shape(), dy.shape())?;
    let (xs, dys) = (values(name, x)?, values(name, dy)?);
    let mut dx = vec![0.0; out.numel()];
    for (yi, &g) in dys.iter().enumerate() {
        if let Some(i) = first_max(&w.taps(p, yi), &xs) {
            dx[i] += g;
        }
    }
    Ok(output(out, dx))
}

/// `y = Σ window / (KH·KW)`: padding counts as zeros and the divisor is always the full kernel size
/// (PyTorch `count_include_pad=True`).
pub(crate) fn avg_pool2d(p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
    let w = Windows::new("avg_pool2d", p, x.shape(), &out.shape)?;
    let xs = values("avg_pool2d", x)?;
    let area = (p.kernel[0] * p.kernel[1]) as f64;
    let y = (0..out.numel()).map(|yi| w.taps(p, yi).iter().map(|&i| xs[i]).sum::<f64>() / area);
    Ok(output(out, y.collect()))
}

/// `dx[i] = Σ dy[window] / (KH·KW)` over the windows containing `x[i]`: the exact adjoint of [`avg_pool2d`].
///
/// # Shapes
/// `dy [N, C, OH, OW]` → `dx [N, C, H, W]` (`out` gives `H, W`).
pub(crate) fn avg_pool2d_backward(p: &Pool2dParams, dy: Input, out: &Meta) -> Result<Buffer> {
    let name = "avg_pool2d_backward";
    let w = Windows::new(name, p, &out.shape, dy.shape())?;
    let dys = values(name, dy)?;
    let area = (p.kernel[0] * p.kernel[1]) as f64;
    let mut dx = vec![0.0; out.numel()];
    for (yi, &g) in dys.iter().enumerate() {
        for i in w.taps(p, yi) {
            dx[i] += g / area;
        }
    }
    Ok(output(out, dx))
}

/// The index (into `xs`) of the first maximum among `taps`, which are in row-major window order; `None` for
/// a window made only of padding (possible only when `H` or `W` is 0).
fn first_max(taps: &[usize], xs: &[f64]) -> Option<usize> {
    let (&first, rest) = taps.split_first()?;
    let mut best = first;
    for &i in rest {
        if beats(true, xs[i], xs[best]) {
            best = i;
        }
    }
    Some(best)
}

/// The geometry of one pooling: input `[N, C, H, W]`, output `[N, C, OH, OW]`.
struct Windows {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

impl Windows {
    fn new(op: &'static str, p: &Pool2dParams, x: &Shape, y: &Shape) -> Result<Windows> {
        let fit = || {
            let (kernel, stride) = (p.kernel, p.stride);
            let msg = format!("kernel {kernel:?} stride {stride:?} does not fit input {x}");
            Error::shape(op, msg)
        };
        if x.rank() != 4 {
            return Err(fit());
        }
        let oh = p.out_size(0, x.0[2]).ok_or_else(fit)?;
        let ow = p.out_size(1, x.0[3]).ok_or_else(fit)?;
        // Padding at most half the kernel keeps at least one real element in every window (when H, W > 0).
        if p.padding[0] * 2 > p.kernel[0] || p.padding[1] * 2 > p.kernel[1] {
            let msg = format!(
                "padding {:?} must be at most half the kernel {:?}",
                p.padding, p.kernel
            );
            return Err(Error::argument(op, msg));
        }
        expect_shape(op, "y", y, &Shape::new([x.0[0], x.0[1], oh, ow]))?;
        Ok(Windows {
            h: x.0[2],
            w: x.0[3],
            oh,
            ow,
        })
    }

    /// Flat input indices of the window of output element `yi`, row-major, padding skipped.
    fn taps(&self, p: &Pool2dParams, yi: usize) -> Vec<usize> {
        let (plane, oy, ox) = (
            yi / (self.oh * self.ow),
            yi / self.ow % self.oh,
            yi % self.ow,
        );
        let mut taps = Vec::with_capacity(p.kernel[0] * p.kernel[1]);
        for ky in 0..p.kernel[0] {
            let Some(iy) = (oy * p.stride[0] + ky)
                .checked_sub(p.padding[0])
                .filter(|&i| i < self.h)
            else {
                continue;
            };
            for kx in 0..p.kernel[1] {
                let Some(ix) = (ox * p.stride[1] + kx)
                    .checked_sub(p.padding[1])
                    .filter(|&i| i < self.w)
                else {
                    continue;
                };
                taps.push((plane * self.h + iy) * self.w + ix);
            }
        }
        taps
    }
}
