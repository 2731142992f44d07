//! Reductions over any set of axes of a strided input (`shaders/reduce.wgsl`).

use wgrad_graph::{Buffer, DType, Error, Input, Meta, ReduceOp, Result};

use crate::engine::{Dispatch, Grid, Recorder, Shader};
use crate::kernels::strided::coalesce;

pub static SHADER: Shader = Shader {
    name: "reduce",
    source: include_str!("../../../../shaders/reduce.wgsl"),
};

pub const WG: u32 = 256;
/// Most kept (and, separately, reduced) dims after coalescing.
pub const MAX_GROUP_RANK: usize = 4;

pub fn entry(op: ReduceOp) -> &'static str {
    match op {
        ReduceOp::Sum => "sum",
        ReduceOp::Max => "max_",
        ReduceOp::Min => "min_",
        ReduceOp::ArgMax => "argmax",
        ReduceOp::ArgMin => "argmin",
    }
}

pub fn variants() -> Vec<(&'static str, DType, Vec<(&'static str, f64)>)> {
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::F16, DType::I32, DType::U32] {
        for op in ReduceOp::ALL {
            v.push((entry(op), dtype, vec![("WG", WG as f64)]));
            v.push((entry(op), dtype, vec![("WG", 64.0)]));
        }
    }
    v
}

fn group(
    op: &'static str,
    what: &str,
    shape: &[usize],
    strides: &[usize],
) -> Result<(usize, Vec<usize>, Vec<usize>)> {
    let (s, st) = coalesce(shape, &[strides]);
    if s.len() > MAX_GROUP_RANK {
        return Err(Error::LimitExceeded {
            op,
            what: format!("{what} dims after coalescing ({s:?})"),
            value: s.len() as u64,
            limit_name: "wgrad reduce MAX_GROUP_RANK",
            limit: MAX_GROUP_RANK as u64,
        });
    }
    Ok((
        s.iter().product(),
        s,
        st.into_iter().next().expect("one input"),
    ))
}

fn u32_of(op: &'static str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::LimitExceeded {
        op,
        what: "size".to_string(),
        value: v as u64,
        limit_name: "u32 index range",
        limit: u32::MAX as u64,
    })
}

pub fn reduce(
    rec: &mut Recorder,
    op: ReduceOp,
    axes: &[usize],
    x: Input,
    out: &Meta,
) -> Result<Buffer> {
    let name = op.name();
    let (dims, strides) = (&x.layout.shape.0, &x.layout.strides);
    let split = |keep: bool| -> (Vec<usize>, Vec<usize>) {
        (0..dims.len())
            .filter(|d| axes.contains(d) != keep)
            .map(|d| (dims[d], strides[d]))
            .unzip()
    };
    let (ks, kst) = split(true);
    let (rs, rst) = split(false);
    let (nout, ks, kst) = group(name, "kept", &ks, &kst)?;
    let (nred, rs, rst) = group(name, "reduced", &rs, &rst)?;
    let mut p = vec![0u32; 24];
    p[0] = u32_of(name, nout)?;
    p[1] = u32_of(name, nred)?;
    p[2] = ks.len() as u32;
    p[3] = rs.len() as u32;
    p[4] = u32_of(name, x.layout.offset)?;
    for d in 0..ks.len() {
        p[8 + d] = u32_of(name, ks[d])?;
        p[12 + d] = u32_of(name, kst[d])?;
    }
    for d in 0..rs.len() {
        p[16 + d] = u32_of(name, rs[d])?;
        p[20 + d] = u32_of(name, rst[d])?;
    }
    let buffer = rec.output(out)?;
    rec.dispatch(Dispatch {
        shader: &SHADER,
        entry: entry(op),
        dtype: x.dtype,
        overrides: &[("WG", WG as f64)],
        inputs: &[x.buffer],
        output: &buffer,
        params: &p,
        grid: Grid::Linear(u32_of(name, nout)?),
    })?;
    Ok(buffer)
}
