//! Philox 4x32-10 random numbers (`shaders/random.wgsl`), bit-identical to `wgrad_graph::philox` for uniform.

use wgrad_graph::{Buffer, Meta, RandomDist, Result};

use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS_INTS, WG256};
use crate::kernels::strided;

/// One invocation per element; uniform is bit-equal to the CPU's Philox stream.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "random",
        source: include_str!("../../shaders/random.wgsl"),
    },
    entries: entries!(FLOATS_INTS, WG256; "uniform_" "normal" "bernoulli"),
    features: wgpu::Features::empty(),
    checked: false,
};

/// `uniform < p` ⇔ `(x0 >> 8) < ceil(p · 2²⁴)`, since uniform = (x0 >> 8) · 2⁻²⁴ exactly.
pub fn bernoulli_threshold(p: f64) -> u32 {
    (p * 16_777_216.0).ceil().clamp(0.0, 16_777_216.0) as u32
}

pub fn random(
    rec: &mut Recorder,
    dist: RandomDist,
    seed: u64,
    offset: u64,
    out: &Meta,
) -> Result<Buffer> {
    let (entry, threshold) = match dist {
        RandomDist::Uniform => ("uniform_", 0),
        RandomDist::Normal => ("normal", 0),
        RandomDist::Bernoulli { p } => ("bernoulli", bernoulli_threshold(p)),
    };
    let numel = out.numel();
    let params = [
        super::word(entry, "element count", numel)?,
        seed as u32,
        (seed >> 32) as u32,
        offset as u32,
        (offset >> 32) as u32,
        threshold,
        0,
        0,
    ];
    let buffer = rec.output(out)?;
    let wg = FAMILY.workgroup_size(entry)?;
    FAMILY.launch(
        rec,
        Launch {
            op: "random",
            entry,
            dtype: out.dtype,
            bindings: &Bind::io(&[], &buffer),
            params: &params,
            grid: Grid::Linear(strided::groups(entry, numel, wg)?),
        },
    )?;
    Ok(buffer)
}
