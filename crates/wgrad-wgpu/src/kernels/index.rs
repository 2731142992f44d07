//! gather and scatter_add along one axis (`shaders/index.wgsl`); see the shader header for why scatter_add
//! is a deterministic per-output loop rather than a CAS-loop on atomics.
//!
//! Both kernels are launched with [`Recorder::dispatch_checked`]: an out-of-range index is recorded in the
//! engine's device error flag and reported as an `Error::Index` by the next download (delayed report, no
//! sync per execute; see the shader header and `crate::engine`).

use wgrad_graph::{Buffer, Error, Input, Meta, Result};

use super::word;
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, ALL_TYPED, WG256};
use crate::kernels::strided::{self, MAX_RANK};

/// One invocation per output element; bad indices set the device error flag.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "index",
        source: include_str!("../../shaders/index.wgsl"),
    },
    entries: entries!(ALL_TYPED, WG256; "gather" "scatter_add"),
    features: wgpu::Features::empty(),
    checked: true,
};

#[allow(clippy::too_many_arguments)]
fn launch(
    rec: &mut Recorder,
    entry: &'static str,
    axis: usize,
    first: Input,
    second: Input,
    ashape: &[usize],
    out: &Meta,
) -> Result<Buffer> {
    let rank = out.shape.rank();
    if rank > MAX_RANK {
        return Err(Error::LimitExceeded {
            op: entry,
            what: "rank".to_string(),
            value: rank as u64,
            limit_name: "wgrad MAX_RANK",
            limit: MAX_RANK as u64,
        });
    }
    let mut p = vec![0u32; 24];
    p[0] = word(entry, "size", out.numel())?;
    p[1] = rank as u32;
    p[2] = axis as u32;
    p[3] = word(entry, "size", ashape[axis])?;
    p[4] = word(entry, "size", first.layout.offset)?;
    p[5] = word(entry, "size", second.layout.offset)?;
    for d in 0..rank {
        p[8 + d] = word(entry, "size", out.shape.0[d])?;
        p[16 + d] = word(entry, "size", ashape[d])?;
    }
    let buffer = rec.output(out)?;
    let wg = FAMILY.workgroup_size(entry)?;
    // scatter_add loops over the src axis in each invocation: in parts within the loop budget, the later
    // ones adding (see shaders/index.wgsl); gather reads one element
    let len = if entry == "scatter_add" {
        ashape[axis]
    } else {
        0
    };
    let step = super::LOOP_BUDGET;
    for part in 0..len.div_ceil(step).max(1) {
        p[6] = word(entry, "size", part * step)?;
        p[7] = word(entry, "size", ((part + 1) * step).min(len))?;
        FAMILY.launch(
            rec,
            Launch {
                op: entry,
                entry,
                dtype: out.dtype,
                bindings: &Bind::io(&[first.buffer, second.buffer], &buffer),
                params: &p,
                grid: Grid::Linear(strided::groups(entry, out.numel(), wg)?),
            },
        )?;
    }
    Ok(buffer)
}

pub fn gather(
    rec: &mut Recorder,
    axis: usize,
    x: Input,
    index: Input,
    out: &Meta,
) -> Result<Buffer> {
    launch(rec, "gather", axis, x, index, &x.shape().0, out)
}

pub fn scatter_add(
    rec: &mut Recorder,
    axis: usize,
    index: Input,
    src: Input,
    out: &Meta,
) -> Result<Buffer> {
    // With an empty output axis the kernel has no thread to check the indices, but then every index is out
    // of range: an error right away (the CPU reference names the first one; here no value is on the host).
    if out.shape.0.get(axis) == Some(&0) && index.shape().numel() > 0 {
        return Err(Error::index(
            "scatter_add",
            format!(
                "every index is out of range for dim {axis} of size 0 (output shape {})",
                out.shape
            ),
        ));
    }
    launch(rec, "scatter_add", axis, index, src, &src.shape().0, out)
}
