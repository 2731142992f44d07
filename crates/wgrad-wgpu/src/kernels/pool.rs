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
        "max_pool2d" "max_pool2d_backward" "max_pool2d_backward_tiled" "avg_pool2d"
        "avg_pool2d_backward"
    ),
    features: wgpu::Features::empty(),
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

/// One launch of entry `op`, one invocation per output element, params in the header's order.
fn launch(
    rec: &mut Recorder,
    op: &'static str,
    p: &Pool2dParams,
    g: [usize; 4],
    inputs: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    launch_entry(rec, (op, op), p, g, inputs, (out, out.numel()))
}

/// One launch of `entry` for `op` with `numel` invocations.
fn launch_entry(
    rec: &mut Recorder,
    (op, entry): (&'static str, &'static str),
    p: &Pool2dParams,
    [h, w, oh, ow]: [usize; 4],
    inputs: &[Input],
    (out, numel): (&Meta, usize),
) -> Result<Buffer> {
    let output = rec.output(out)?;
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
            entry,
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
    let [h, w, oh, ow] = g;
    let tiles = p.stride == p.kernel
        && p.padding == [0, 0]
        && h == oh * p.kernel[0]
        && w == ow * p.kernel[1];
    if tiles {
        let windows = dy.shape().numel();
        let entry = "max_pool2d_backward_tiled";
        return launch_entry(rec, (OP, entry), p, g, &[x, dy], (out, windows));
    }
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
