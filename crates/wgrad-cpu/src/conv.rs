//! 2-D convolution (cross-correlation, NCHW) and its two backward kernels.
//!
//! All three kernels walk the same list of taps — every product `x[xi] · w[wi]` that contributes to `y[yi]` —
//! and differ only in which of the three they write. So each backward kernel is the exact adjoint of the
//! forward one by construction: `<conv2d(x, w), dy> = <x, backward_input(dy, w)> = <w, backward_weight(x, dy)>`.

use wgrad_graph::{Buffer, Conv2dParams, Error, Input, Meta, Result, Shape};

use crate::buffer::{expect_shape, output, values};

/// `y[n, co, oy, ox] = Σ_{ci, ky, kx} x[n, g·C_in/G + ci, oy·s - p + ky·d, ox·s - p + kx·d] · w[co, ci, ky, kx]`
/// with `g = co / (C_out/G)` the group of `co`, and `x` zero outside its bounds (zero padding).
///
/// # Shapes
/// `x [N, C_in, H, W]`, `w [C_out, C_in/G, KH, KW]` → `y [N, C_out, OH, OW]`,
/// `OH = ⌊(H + 2p - d(KH-1) - 1)/s⌋ + 1`.
pub(crate) fn conv2d(p: &Conv2dParams, x: Input, w: Input, out: &Meta) -> Result<Buffer> {
    let d = Dims::new("conv2d", p, x.shape(), w.shape(), &out.shape)?;
    let (xs, ws) = (values("conv2d", x)?, values("conv2d", w)?);
    let mut y = vec![0.0; out.numel()];
    d.for_each_tap(p, |yi, xi, wi| y[yi] += xs[xi] * ws[wi]);
    Ok(output(out, y))
}

/// `dx = Σ_taps dy[yi] · w[wi]` into `dx[xi]`: the transposed convolution, exact adjoint of [`conv2d`] in `x`.
///
/// # Shapes
/// `dy [N, C_out, OH, OW]`, `w [C_out, C_in/G, KH, KW]` → `dx [N, C_in, H, W]` (`out` gives `H, W`).
pub(crate) fn conv2d_backward_input(
    p: &Conv2dParams,
    dy: Input,
    w: Input,
    out: &Meta,
) -> Result<Buffer> {
    let name = "conv2d_backward_input";
    let d = Dims::new(name, p, &out.shape, w.shape(), dy.shape())?;
    let (dys, ws) = (values(name, dy)?, values(name, w)?);
    let mut dx = vec![0.0; out.numel()];
    d.for_each_tap(p, |yi, xi, wi| dx[xi] += dys[yi] * ws[wi]);
    Ok(output(out, dx))
}

/// `dw = Σ_taps x[xi] · dy[yi]` into `dw[wi]`: exact adjoint of [`conv2d`] in `w`.
///
/// # Shapes
/// `x [N, C_in, H, W]`, `dy [N, C_out, OH, OW]` → `dw [C_out, C_in/G, KH, KW]` (`out` gives `KH, KW`).
pub(crate) fn conv2d_backward_weight(
    p: &Conv2dParams,
    x: Input,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    let name = "conv2d_backward_weight";
    let d = Dims::new(name, p, x.shape(), &out.shape, dy.shape())?;
    let (xs, dys) = (values(name, x)?, values(name, dy)?);
    let mut dw = vec![0.0; out.numel()];
    d.for_each_tap(p, |yi, xi, wi| dw[wi] += xs[xi] * dys[yi]);
    Ok(output(out, dw))
}

/// The sizes of one convolution, checked against each other.
struct Dims {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    groups: usize,
}

impl Dims {
    fn new(op: &'static str, p: &Conv2dParams, x: &Shape, w: &Shape, y: &Shape) -> Result<Dims> {
        let bad = || Error::shape(op, format!("x {x}, weight {w} and y {y} do not fit {p:?}"));
        if x.rank() != 4
            || w.rank() != 4
            || p.groups == 0
            || p.stride.contains(&0)
            || p.dilation.contains(&0)
        {
            return Err(bad());
        }
        let (n, c_in, h, wd) = (x.0[0], x.0[1], x.0[2], x.0[3]);
        let (c_out, kh, kw) = (w.0[0], w.0[2], w.0[3]);
        let channels_ok = c_in % p.groups == 0
            && c_out % p.groups == 0
            && w.0[1] * p.groups == c_in
            && kh > 0
            && kw > 0;
        if !channels_ok {
            return Err(bad());
        }
        let (oh, ow) = match (p.out_size(0, h, kh), p.out_size(1, wd, kw)) {
            (Some(oh), Some(ow)) => (oh, ow),
            _ => return Err(bad()),
        };
        expect_shape(op, "y", y, &Shape::new([n, c_out, oh, ow]))?;
        Ok(Dims {
            n,
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            oh,
            ow,
            groups: p.groups,
        })
    }

    /// Calls `f(yi, xi, wi)` (flat row-major indices) for every product `x[xi] · w[wi]` that adds to `y[yi]`,
    /// skipping taps that fall into the zero padding.
    fn for_each_tap(&self, p: &Conv2dParams, mut f: impl FnMut(usize, usize, usize)) {
        let (cin_g, cout_g) = (self.c_in / self.groups, self.c_out / self.groups);
        for n in 0..self.n {
            for co in 0..self.c_out {
                let g = co / cout_g;
                for oy in 0..self.oh {
                    for ox in 0..self.ow {
                        let yi = ((n * self.c_out + co) * self.oh + oy) * self.ow + ox;
                        for ci in 0..cin_g {
                            let x_plane = (n * self.c_in + g * cin_g + ci) * self.h;
                            let w_plane = (co * cin_g + ci) * self.kh;
                            for ky in 0..self.kh {
                                let Some(iy) = tap(oy, ky, 0, p, self.h) else {
                                    continue;
                                };
                                for kx in 0..self.kw {
                                    let Some(ix) = tap(ox, kx, 1, p, self.w) else {
                                        continue;
                                    };
                                    f(
                                        yi,
                                        (x_plane + iy) * self.w + ix,
                                        (w_plane + ky) * self.kw + kx,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Input coordinate `o·s - p + k·d` along `axis`, or `None` when it lands in the padding.
fn tap(o: usize, k: usize, axis: usize, p: &Conv2dParams, size: usize) -> Option<usize> {
    (o * p.stride[axis] + k * p.dilation[axis])
        .checked_sub(p.padding[axis])
        .filter(|&i| i < size)
}
