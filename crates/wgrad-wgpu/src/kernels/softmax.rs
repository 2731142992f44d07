//! Fused softmax / log_softmax along one axis and their backward (`shaders/softmax.wgsl`).
//!
//! The tensor is viewed as `[outer, axis, inner]`; each of the `outer·inner` rows is reduced either by one
//! workgroup (tree reduction in workgroup memory, for long rows) or by one invocation (`*_small`, for short
//! rows and for software adapters, where barriers are coroutine switches).

use wgrad_graph::{Buffer, Error, Input, Meta, Result};

use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG64};
use crate::kernels::{word, words};

mod long_rows;

/// Rows reduced by one workgroup (tree reduction in workgroup memory) or, `*_small`, by one invocation.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "softmax",
        source: include_str!("../../shaders/softmax.wgsl"),
    },
    entries: entries!(FLOATS, WG64;
        "softmax" "log_softmax" "softmax_backward" "log_softmax_backward"
        "softmax_small" "log_softmax_small" "softmax_backward_small" "log_softmax_backward_small"
    ),
    features: wgpu::Features::empty(),
    checked: false,
};

/// Invocations per workgroup (a power of two: the tree reduction halves it); `WG64`.
pub const WG: u32 = 64;
/// Rows up to this long take the one-invocation-per-row kernels.
pub const SMALL_AXIS: usize = 64;
/// Longest row the one-invocation-per-row kernels take on a software adapter (where they are preferred for
/// many rows): three passes over the row within the loop budget ([`super::LOOP_BUDGET`]).
pub const SMALL_AXIS_MAX: usize = super::LOOP_BUDGET / 4;
/// Longest row one workgroup takes: three passes of `axis / WG` iterations per invocation within the loop
/// budget. Longer rows run as separate reductions and elementwise passes (`long_rows`).
pub const WORKGROUP_AXIS_MAX: usize = WG as usize * super::LOOP_BUDGET / 4;

/// `[outer, axis, inner]` of `x` split at `axis`, checked contiguous.
fn geometry(op: &'static str, axis: usize, x: &Input, out: &Meta) -> Result<[usize; 3]> {
    let dims = &x.shape().0;
    if axis >= dims.len() {
        return Err(Error::Axis {
            op,
            msg: format!("dim {axis} out of range for shape {}", x.shape()),
        });
    }
    if !x.layout.is_contiguous() || out.shape != *x.shape() {
        return Err(Error::shape(
            op,
            format!(
                "needs a contiguous input and an output of its shape, got {:?} strides {:?} and {}",
                dims, x.layout.strides, out.shape
            ),
        ));
    }
    let outer = dims[..axis].iter().product();
    let inner = dims[axis + 1..].iter().product();
    Ok([outer, dims[axis], inner])
}

/// The entry for (forward/backward, log, small).
fn entry(backward: bool, log: bool, small: bool) -> &'static str {
    FAMILY.entries[usize::from(log) + 2 * usize::from(backward) + 4 * usize::from(small)].name
}

fn launch(
    rec: &mut Recorder,
    op: &'static str,
    [backward, log]: [bool; 2],
    g: [usize; 3],
    inputs: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let output = rec.output(out)?;
    let rows = g[0] * g[2];
    if out.numel() == 0 {
        return Ok(output);
    }
    let small =
        g[1] <= SMALL_AXIS || (rec.caps().is_software && rows >= 64 && g[1] <= SMALL_AXIS_MAX);
    let groups = if small {
        rows.div_ceil(WG as usize)
    } else {
        rows
    };
    let dy_off = inputs.get(1).map_or(0, |i| i.layout.offset);
    let params = words(op, &[rows, g[1], g[2], inputs[0].layout.offset, dy_off])?;
    let buffers: Vec<&Buffer> = inputs.iter().map(|i| i.buffer).collect();
    FAMILY.launch(
        rec,
        Launch {
            op,
            entry: entry(backward, log, small),
            dtype: out.dtype,
            bindings: &Bind::io(&buffers, &output),
            params: &params,
            grid: Grid::Linear(word(op, "workgroups", groups)?),
        },
    )?;
    Ok(output)
}

/// `log = false`: softmax; `log = true`: log_softmax, along `axis`.
///
/// # Shapes
/// `x` (any shape, contiguous) → `out` of the same shape.
pub fn softmax(rec: &mut Recorder, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer> {
    let op = if log { "log_softmax" } else { "softmax" };
    let g = geometry(op, axis, &x, out)?;
    if g[1] > WORKGROUP_AXIS_MAX {
        return long_rows::forward(rec, axis, log, x, out);
    }
    launch(rec, op, [false, log], g, &[x], out)
}

/// `y` is the forward output (softmax or log_softmax per `log`): `dx = y·(dy − Σ dy·y)` or
/// `dx = dy − e^y·Σ dy`.
///
/// # Shapes
/// `y`, `dy` (same shape, contiguous) → `out` of that shape.
pub fn softmax_backward(
    rec: &mut Recorder,
    axis: usize,
    log: bool,
    y: Input,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    let op = if log {
        "log_softmax_backward"
    } else {
        "softmax_backward"
    };
    let g = geometry(op, axis, &y, out)?;
    geometry(op, axis, &dy, out)?;
    if g[1] > WORKGROUP_AXIS_MAX {
        return long_rows::backward(rec, axis, log, [y, dy], out);
    }
    launch(rec, op, [true, log], g, &[y, dy], out)
}
