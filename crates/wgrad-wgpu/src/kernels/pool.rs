//! 2-D max and average pooling over NCHW and their backward (`shaders/pool.wgsl`).
//!
//! Backward kernels gather over the windows containing each input element instead of scattering each
//! window's gradient, so no atomics are needed and results do not depend on execution order.

use wgrad_graph::{Buffer, Error, Input, Meta, Pool2dParams, Result};

use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG64};
use crate::kernels::matmul::expect_rank;
use crate::kernels::{word, words};

/// One invocation per output element.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "pool",
        source: include_str!("../../shaders/pool.wgsl"),
    },
    entries: entries!(FLOATS, WG64;
        "max_pool2d" "max_pool2d_backward" "avg_pool2d" "avg_pool2d_backward"
    ),
    subgroups: false,
    checked: false,
};

/// Invocations per workgroup; `WG64`.
pub const WG: u32 = 64;

/// Checks `x [N, C, H, W]` against `y [N, C, OH, OW]` for `p` and returns `[H, W, OH, OW]`.
fn geometry(op: &'static str, p: &Pool2dParams, x: &[usize], y: &[usize]) -> Result<[usize; 4]> {
    let (oh, ow) = (p.out_size(0, x[2]), p.out_size(1, x[3]));
    match (oh, ow) {
        (Some(oh), Some(ow)) if y == [x[0], x[1], oh, ow] => Ok([x[2], x[3], oh, ow]),
        _ => Err(Error::shape(
            op,
            format!(
                "kernel {:?} stride {:?} padding {:?} do not map {x:?} to {y:?}",
                p.kernel, p.stride, p.padding
            ),
        )),
    }
}

fn contiguous(op: &'static str, x: &Input) -> Result<()> {
    expect_rank(op, "input", x, 4)?;
    if !x.layout.is_contiguous() {
        return Err(Error::shape(
            op,
            format!(
                "input must be contiguous, got strides {:?}",
                x.layout.strides
            ),
        ));
    }
    Ok(())
}

/// One launch: `numel` invocations, params in the header's order.
fn launch(
    rec: &mut Recorder,
    op: &'static str,
    p: &Pool2dParams,
    [h, w, oh, ow]: [usize; 4],
    inputs: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let output = rec.output(out)?;
    let numel = out.numel();
    if numel == 0 {
        return Ok(output);
    }
    let dy_off = inputs.get(1).map_or(0, |i| i.layout.offset);
    let params = words(
        op,
        &[
            numel,
            h,
            w,
            oh,
            ow,
            p.kernel[0],
            p.kernel[1],
            p.stride[0],
            p.stride[1],
            p.padding[0],
            p.padding[1],
            inputs[0].layout.offset,
            dy_off,
        ],
    )?;
    let buffers: Vec<&Buffer> = inputs.iter().map(|i| i.buffer).collect();
    FAMILY.launch(
        rec,
        Launch {
            op,
            entry: op,
            dtype: out.dtype,
            bindings: &Bind::io(&buffers, &output),
            params: &params,
            grid: Grid::Linear(word(op, "workgroups", numel.div_ceil(WG as usize))?),
        },
    )?;
    Ok(output)
}

/// # Shapes
/// `x [N, C, H, W]` → `[N, C, OH, OW]`, padding counted as -∞.
pub fn max_pool2d(rec: &mut Recorder, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
    const OP: &str = "max_pool2d";
    contiguous(OP, &x)?;
    let g = geometry(OP, p, &x.shape().0, &out.shape.0)?;
    launch(rec, OP, p, g, &[x], out)
}

/// Each window's `dy` goes to the window's first maximum.
///
/// # Shapes
/// `x [N, C, H, W]`, `dy [N, C, OH, OW]` → `dx [N, C, H, W]`.
pub fn max_pool2d_backward(
    rec: &mut Recorder,
    p: &Pool2dParams,
    x: Input,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    const OP: &str = "max_pool2d_backward";
    contiguous(OP, &x)?;
    contiguous(OP, &dy)?;
    if out.shape != *x.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "output {} must have the shape of x {}",
                out.shape,
                x.shape()
            ),
        ));
    }
    let g = geometry(OP, p, &x.shape().0, &dy.shape().0)?;
    launch(rec, OP, p, g, &[x, dy], out)
}

/// `Σ window / (KH·KW)` (count_include_pad).
///
/// # Shapes
/// `x [N, C, H, W]` → `[N, C, OH, OW]`.
pub fn avg_pool2d(rec: &mut Recorder, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
    const OP: &str = "avg_pool2d";
    contiguous(OP, &x)?;
    let g = geometry(OP, p, &x.shape().0, &out.shape.0)?;
    launch(rec, OP, p, g, &[x], out)
}

/// The adjoint of [`avg_pool2d`].
///
/// # Shapes
/// `dy [N, C, OH, OW]` → `dx [N, C, H, W]` (`out` gives `H, W`).
pub fn avg_pool2d_backward(
    rec: &mut Recorder,
    p: &Pool2dParams,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    const OP: &str = "avg_pool2d_backward";
    contiguous(OP, &dy)?;
    if out.shape.rank() != 4 {
        return Err(Error::shape(
            OP,
            format!("output {} must be [N, C, H, W]", out.shape),
        ));
    }
    let g = geometry(OP, p, &out.shape.0, &dy.shape().0)?;
    launch(rec, OP, p, g, &[dy], out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_check::{matches_cpu, In};
    use crate::testing::backend_or_skip;
    use wgrad_graph::DType;
    use wgrad_graph::{Layout, Op};

    /// Pooling moves values around; only the avg sums round.
    const TOL: f64 = 1e-5;

    fn cases() -> Vec<([usize; 4], Pool2dParams)> {
        let p = |k: [usize; 2], s: [usize; 2], pad: [usize; 2]| Pool2dParams {
            kernel: k,
            stride: s,
            padding: pad,
        };
        vec![
            ([1, 1, 1, 1], p([1, 1], [1, 1], [0, 0])),
            ([2, 3, 17, 17], p([2, 2], [2, 2], [0, 0])),
            ([2, 3, 17, 15], p([3, 3], [2, 2], [1, 1])),
            ([1, 2, 9, 13], p([3, 2], [1, 1], [1, 1])),
            ([3, 1, 8, 8], p([5, 3], [3, 2], [2, 1])),
            ([1, 3, 33, 31], p([2, 4], [1, 3], [0, 2])),
        ]
    }

    /// Random input with a nonzero offset; `ties` quantizes values so windows hold equal maxima.
    fn input(seed: u64, shape: &[usize], ties: bool) -> In {
        let base = In::new(seed, shape);
        let mut data = vec![9.0; 2];
        data.extend(
            base.data
                .iter()
                .map(|&v| if ties { (v * 2.0).round() } else { v }),
        );
        let mut layout = Layout::contiguous(shape.to_vec().into());
        layout.offset = 2;
        In { data, layout }
    }

    #[test]
    fn pool_forward_matches_cpu() {
        let Some(gpu) = backend_or_skip() else { return };
        for (i, (shape, p)) in cases().into_iter().enumerate() {
            let x = input(i as u64, &shape, i % 2 == 0);
            let oh = p.out_size(0, shape[2]).expect("fits");
            let ow = p.out_size(1, shape[3]).expect("fits");
            let out = Meta::new(vec![shape[0], shape[1], oh, ow], DType::F32);
            for op in [Op::MaxPool2d(p), Op::AvgPool2d(p)] {
                let case = format!("{} {shape:?} {p:?}", op.name());
                matches_cpu(&gpu, &case, &op, &[&x], &out, TOL);
            }
        }
    }

    #[test]
    fn pool_backward_matches_cpu() {
        let Some(gpu) = backend_or_skip() else { return };
        for (i, (shape, p)) in cases().into_iter().enumerate() {
            // ties in every other case: the first maximum must win on both backends
            let x = input(i as u64, &shape, i % 2 == 0);
            let oh = p.out_size(0, shape[2]).expect("fits");
            let ow = p.out_size(1, shape[3]).expect("fits");
            let dy = input(50 + i as u64, &[shape[0], shape[1], oh, ow], false);
            let out = Meta::new(shape.to_vec(), DType::F32);
            let case = format!("max_pool2d_backward {shape:?} {p:?}");
            matches_cpu(
                &gpu,
                &case,
                &Op::MaxPool2dBackward(p),
                &[&x, &dy],
                &out,
                TOL,
            );
            let op = Op::AvgPool2dBackward {
                params: p,
                input_hw: [shape[2], shape[3]],
            };
            let case = format!("avg_pool2d_backward {shape:?} {p:?}");
            matches_cpu(&gpu, &case, &op, &[&dy], &out, TOL);
        }
    }
}
