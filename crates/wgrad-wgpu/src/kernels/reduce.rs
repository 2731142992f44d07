//! Reductions over any set of axes of a strided input (`shaders/reduce.wgsl`).

use wgrad_graph::{Buffer, DType, Error, Input, Meta, ReduceOp, Result, Shape};

use super::word;
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, ALL_TYPED, WG256};
use crate::kernels::strided::coalesce;

/// One workgroup per output (or per output chunk), a tree reduction in workgroup memory.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "reduce",
        source: include_str!("../../shaders/reduce.wgsl"),
    },
    entries: entries!(ALL_TYPED, WG256;"sum" "max_" "min_" "argmax" "argmin"),
    subgroups: false,
    checked: false,
};
/// Most kept (and, separately, reduced) dims after coalescing.
pub const MAX_GROUP_RANK: usize = 4;
/// A sum/max/min with fewer outputs than this over more than [`SPLIT_MIN_RED`] reduced elements is split into
/// passes (see [`reduce`]): one workgroup per output would leave most of the GPU idle.
pub const SPLIT_MAX_OUT: usize = 512;
/// The reduced length above which a reduction to few outputs is split.
pub const SPLIT_MIN_RED: usize = 8192;
/// Reduced elements per workgroup in a split pass (16 per invocation at WG = 256).
pub const CHUNK: usize = 4096;

pub fn entry(op: ReduceOp) -> &'static str {
    match op {
        ReduceOp::Sum => "sum",
        ReduceOp::Max => "max_",
        ReduceOp::Min => "min_",
        ReduceOp::ArgMax => "argmax",
        ReduceOp::ArgMin => "argmin",
    }
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

/// One dispatch of the reduce kernel: workgroup w reduces chunk w % nchunk (of `chunk` elements) of output
/// w / nchunk and writes out[w].
#[allow(clippy::too_many_arguments)]
fn dispatch(
    rec: &mut Recorder,
    op: ReduceOp,
    x: &Buffer,
    dtype: DType,
    offset: usize,
    (nout, ks, kst): (usize, &[usize], &[usize]),
    (nred, rs, rst): (usize, &[usize], &[usize]),
    (nchunk, chunk): (usize, usize),
    out: &Buffer,
) -> Result<()> {
    let name = op.name();
    let groups = nout
        .checked_mul(nchunk)
        .ok_or_else(|| Error::LimitExceeded {
            op: name,
            what: "workgroups".to_string(),
            value: u64::MAX,
            limit_name: "u32 index range",
            limit: u32::MAX as u64,
        })?;
    let mut p = vec![0u32; 24];
    p[0] = word(name, "size", groups)?;
    p[1] = word(name, "size", nred)?;
    p[2] = ks.len() as u32;
    p[3] = rs.len() as u32;
    p[4] = word(name, "size", offset)?;
    p[5] = word(name, "size", nchunk)?;
    p[6] = word(name, "size", chunk)?;
    for d in 0..ks.len() {
        p[8 + d] = word(name, "size", ks[d])?;
        p[12 + d] = word(name, "size", kst[d])?;
    }
    for d in 0..rs.len() {
        p[16 + d] = word(name, "size", rs[d])?;
        p[20 + d] = word(name, "size", rst[d])?;
    }
    FAMILY.launch(
        rec,
        Launch {
            op: name,
            entry: entry(op),
            dtype,
            bindings: &Bind::io(&[x], out),
            params: &p,
            grid: Grid::Linear(word(name, "size", groups)?),
        },
    )
}

/// Reduces `x` over `axes` into a fresh buffer for `out`.
///
/// One workgroup per output element is fine when there are many outputs, but a sum/max/min to a few outputs
/// over a long reduced range (`nout < SPLIT_MAX_OUT`, `nred > SPLIT_MIN_RED`; e.g. the sum of all elements)
/// would run on a handful of workgroups. Those are split: pass 1 reduces chunks of [`CHUNK`] elements into
/// partials [nout, nchunk] (one workgroup per (output, chunk)), the next pass reduces the partials, split again
/// while still long. All passes are dispatches in the same [`Recorder`] (one submit). argmax/argmin stay
/// single-pass: a second pass would need (value, index) pairs from pass 1.
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
    let splittable = matches!(op, ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min);
    let buffer = rec.output(out)?;
    // the pass being recorded: its input, offset, reduced length and the kept/reduced groups it reads
    let mut partials: Option<Buffer> = None;
    let mut offset = x.layout.offset;
    let (mut nred, mut ks, mut kst, mut rs, mut rst) = (nred, ks, kst, rs, rst);
    loop {
        let input = partials.as_ref().unwrap_or(x.buffer);
        if !(splittable && nout > 0 && nout < SPLIT_MAX_OUT && nred > SPLIT_MIN_RED) {
            dispatch(
                rec,
                op,
                input,
                x.dtype,
                offset,
                (nout, &ks, &kst),
                (nred, &rs, &rst),
                (1, nred),
                &buffer,
            )?;
            return Ok(buffer);
        }
        let nchunk = nred.div_ceil(CHUNK);
        let next = rec.output(&Meta::new(Shape::new(vec![nout, nchunk]), x.dtype))?;
        dispatch(
            rec,
            op,
            input,
            x.dtype,
            offset,
            (nout, &ks, &kst),
            (nred, &rs, &rst),
            (nchunk, CHUNK),
            &next,
        )?;
        // the partials are contiguous [nout, nchunk]: the next pass reduces their last axis
        partials = Some(next);
        offset = 0;
        nred = nchunk;
        (ks, kst) = (vec![nout], vec![nchunk]);
        (rs, rst) = (vec![nchunk], vec![1]);
    }
}
