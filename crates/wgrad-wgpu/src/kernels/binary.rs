//! Elementwise functions of two strided inputs, and `where` (`shaders/binary.wgsl`).

use wgrad_graph::{BinaryOp, Buffer, DType, Input, Meta, Result};

use crate::engine::{Bind, Dispatch, Grid, Recorder, Shader};
use crate::kernels::strided;

pub static SHADER: Shader = Shader {
    name: "binary",
    source: include_str!("../../../../shaders/binary.wgsl"),
};

pub const WG: u32 = 256;

/// The entry point of a binary op: its name, `pow_` because `pow` is a WGSL builtin.
pub fn entry(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Pow => "pow_",
        other => other.name(),
    }
}

pub fn variants() -> Vec<(&'static str, DType, Vec<(&'static str, f64)>)> {
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::I32, DType::U32] {
        for op in BinaryOp::ALL {
            v.push((entry(op), dtype, vec![("WG", WG as f64)]));
        }
        v.push(("where_", dtype, vec![("WG", WG as f64)]));
    }
    // f64: everything but pow (see `kernels::refuse_f64`)
    for op in BinaryOp::ALL.into_iter().filter(|&op| op != BinaryOp::Pow) {
        v.push((entry(op), DType::F64, vec![("WG", WG as f64)]));
    }
    v.push(("where_", DType::F64, vec![("WG", WG as f64)]));
    v
}

fn launch(
    rec: &mut Recorder,
    entry: &'static str,
    dtype: DType,
    xs: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let buffer = rec.output(out)?;
    let layouts: Vec<_> = xs.iter().map(|x| x.layout).collect();
    let params = strided::params(entry, &layouts, [0, 0])?;
    let inputs: Vec<&Buffer> = xs.iter().map(|x| x.buffer).collect();
    rec.dispatch(Dispatch {
        shader: &SHADER,
        entry,
        dtype,
        overrides: &[("WG", WG as f64)],
        bindings: &Bind::io(&inputs, &buffer),
        params: &params,
        grid: Grid::Linear(strided::groups(entry, out.numel(), WG)?),
    })?;
    Ok(buffer)
}

pub fn binary(
    rec: &mut Recorder,
    op: BinaryOp,
    lhs: Input,
    rhs: Input,
    out: &Meta,
) -> Result<Buffer> {
    launch(rec, entry(op), lhs.dtype, &[lhs, rhs], out)
}

pub fn where_(rec: &mut Recorder, cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer> {
    launch(rec, "where_", a.dtype, &[cond, a, b], out)
}
