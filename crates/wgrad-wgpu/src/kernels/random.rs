//! Philox 4x32-10 random numbers (`shaders/random.wgsl`), bit-identical to `wgrad_graph::philox` for uniform.

use wgrad_graph::{Buffer, DType, Meta, RandomDist, Result};

use crate::engine::{Bind, Dispatch, Grid, Recorder, Shader};
use crate::kernels::strided;

pub static SHADER: Shader = Shader {
    name: "random",
    source: include_str!("../../../../shaders/random.wgsl"),
};

pub const WG: u32 = 256;

pub fn variants() -> Vec<(&'static str, DType, Vec<(&'static str, f64)>)> {
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::I32, DType::U32] {
        for e in ["uniform_", "normal", "bernoulli"] {
            v.push((e, dtype, vec![("WG", WG as f64)]));
        }
    }
    v
}

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
    rec.dispatch(Dispatch {
        shader: &SHADER,
        entry,
        dtype: out.dtype,
        overrides: &[("WG", WG as f64)],
        bindings: &Bind::io(&[], &buffer),
        params: &params,
        grid: Grid::Linear(strided::groups(entry, numel, WG)?),
    })?;
    Ok(buffer)
}
