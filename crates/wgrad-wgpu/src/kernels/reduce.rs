//! Reductions over any set of axes of a strided input (`shaders/reduce.wgsl`).

use wgrad_graph::{Buffer, DType, Error, Input, Meta, ReduceOp, Result, Shape};

use super::word;
use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, ALL_TYPED, WG256};
use crate::kernels::strided::coalesce;

/// One workgroup per output (or per output chunk), a tree reduction in workgroup memory; or one invocation
/// per output (or output chunk), the `_thread` entries.
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "reduce",
        source: include_str!("../../shaders/reduce.wgsl"),
    },
    entries: entries!(ALL_TYPED, WG256;"sum" "max_" "min_" "argmax" "argmin"
        "sum_thread" "max_thread" "min_thread" "argmax_thread" "argmin_thread"),
    features: wgpu::Features::empty(),
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
/// Workgroup size of the reduce entries (the `WG` override's default).
const WG: usize = 256;

/// How a pass maps work to invocations ([`crate::Options::reduce`] forces one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// A workgroup per (output, chunk) and a tree in workgroup memory: long rows on GPUs.
    Group,
    /// An invocation per (output, chunk), a plain loop: outputs adjacent in memory (sums over the batch
    /// axis), short reductions, and software adapters (where barriers are coroutine switches).
    Thread,
}

/// Reduced range at most this short takes the thread path anywhere: a 256-invocation workgroup per output
/// would mostly idle.
const THREAD_SHORT: usize = 64;
/// Elements one invocation of the thread path folds at most (sums pairwise, see `sum_pairwise` in
/// `reduce.wgsl`; longer ranges are split into passes).
const THREAD_MAX_CHUNK: usize = 1024;
/// Shortest chunk the thread path splits into (shorter would spend more on the extra pass than it saves).
const THREAD_MIN_CHUNK: usize = 32;
/// Invocations the thread path aims for: enough to fill a GPU / the cores of a software adapter.
const THREAD_TARGET_GPU: usize = 32768;
const THREAD_TARGET_SOFTWARE: usize = 1024;

fn entry(op: ReduceOp, mode: Path) -> &'static str {
    let thread = mode == Path::Thread;
    match (op, thread) {
        (ReduceOp::Sum, false) => "sum",
        (ReduceOp::Max, false) => "max_",
        (ReduceOp::Min, false) => "min_",
        (ReduceOp::ArgMax, false) => "argmax",
        (ReduceOp::ArgMin, false) => "argmin",
        (ReduceOp::Sum, true) => "sum_thread",
        (ReduceOp::Max, true) => "max_thread",
        (ReduceOp::Min, true) => "min_thread",
        (ReduceOp::ArgMax, true) => "argmax_thread",
        (ReduceOp::ArgMin, true) => "argmin_thread",
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

/// One dispatch of the reduce kernel: workgroup (`Path::Group`) or invocation (`Path::Thread`) w reduces a
/// chunk (of `chunk` elements) of one output into out[output, chunk] (`out` is [nout, nchunk]).
#[allow(clippy::too_many_arguments)]
fn dispatch(
    rec: &mut Recorder,
    (op, mode): (ReduceOp, Path),
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
    let workgroups = match mode {
        Path::Group => groups,
        Path::Thread => groups.div_ceil(WG),
    };
    FAMILY.launch(
        rec,
        Launch {
            op: name,
            entry: entry(op, mode),
            dtype,
            bindings: &Bind::io(&[x], out),
            params: &p,
            grid: Grid::Linear(word(name, "size", workgroups)?),
        },
    )
}

/// Reduces `x` over `axes` into a fresh output for `out`.
///
/// One workgroup per output is fine for many outputs, but a reduction to few outputs over a long reduced
/// range (`nout < SPLIT_MAX_OUT`, `nred > SPLIT_MIN_RED`; e.g. the sum of all elements) would run on a
/// handful of workgroups, and a reduced range longer than [`MAX_GROUP_RED`] would exceed the loop budget of
/// an invocation ([`super::LOOP_BUDGET`]). Those are split: pass 1 reduces chunks of [`CHUNK`] elements into
/// partials [nout, nchunk] (one workgroup per (output, chunk)), the next pass reduces the partials, split
/// again while still long. argmax/argmin over a long range take the chunks' extremes and their (absolute)
/// indices, pick the first extreme chunk and gather its index (`long_arg`). All passes are dispatches in
/// the same [`Recorder`] (one submit).
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
    let kept = group(name, "kept", &ks, &kst)?;
    let reduced = group(name, "reduced", &rs, &rst)?;
    let pass = Pass {
        input: x.buffer.clone(),
        dtype: x.dtype,
        offset: x.layout.offset,
        kept,
        reduced,
    };
    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) && pass.reduced.0 > MAX_GROUP_RED {
        return long_arg(rec, op, pass, out);
    }
    let buffer = rec.output(out)?;
    passes(rec, op, pass, &buffer)?;
    Ok(buffer)
}

/// Longest reduced range one workgroup reduces in one pass: [`super::LOOP_BUDGET`] loop iterations per
/// invocation, an element costing up to [`MAX_GROUP_RANK`] of them (its index math).
pub const MAX_GROUP_RED: usize = 256 * super::LOOP_BUDGET / MAX_GROUP_RANK;

/// One pass's input: its buffer and dtype, offset, and the (count, shape, strides) of the kept and reduced
/// groups it reads.
struct Pass {
    input: Buffer,
    dtype: DType,
    offset: usize,
    kept: (usize, Vec<usize>, Vec<usize>),
    reduced: (usize, Vec<usize>, Vec<usize>),
}

impl Pass {
    /// The pass over contiguous partials `[nout, nchunk]` (their last axis).
    fn over_partials(input: Buffer, dtype: DType, nout: usize, nchunk: usize) -> Pass {
        Pass {
            input,
            dtype,
            offset: 0,
            kept: (nout, vec![nout], vec![nchunk]),
            reduced: (nchunk, vec![nchunk], vec![1]),
        }
    }

    /// The thread path where it does better (see [`Path`]); argmax/argmin take it only for a range one
    /// invocation folds alone, as their passes cannot be chained.
    fn mode(&self, op: ReduceOp, forced: Option<Path>, software: bool) -> Path {
        let nred = self.reduced.0;
        let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
        match forced {
            Some(Path::Thread) if !(arg && nred > THREAD_MAX_CHUNK) => return Path::Thread,
            Some(_) => return Path::Group,
            None => {}
        }
        let inner = |g: &(usize, Vec<usize>, Vec<usize>)| g.2.last().copied().unwrap_or(0);
        let kept_inner = self.kept.0 > 1 && inner(&self.kept) < inner(&self.reduced);
        if (arg && nred > THREAD_MAX_CHUNK) || !(software || kept_inner || nred <= THREAD_SHORT) {
            Path::Group
        } else {
            Path::Thread
        }
    }

    /// The chunk length of this pass in `mode`: `nred` for a single pass, less to split into passes.
    fn chunk(&self, op: ReduceOp, mode: Path, software: bool) -> usize {
        let (nout, nred) = (self.kept.0, self.reduced.0);
        let chainable = matches!(op, ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min);
        if !chainable || nout == 0 {
            return nred;
        }
        match mode {
            Path::Group => {
                let few_outputs = nout < SPLIT_MAX_OUT && nred > SPLIT_MIN_RED;
                if few_outputs || nred > MAX_GROUP_RED {
                    CHUNK
                } else {
                    nred
                }
            }
            Path::Thread => {
                let target = if software {
                    THREAD_TARGET_SOFTWARE
                } else {
                    THREAD_TARGET_GPU
                };
                let per_output = target.div_ceil(nout);
                let chunk = nred
                    .div_ceil(per_output)
                    .clamp(THREAD_MIN_CHUNK, THREAD_MAX_CHUNK);
                if chunk >= nred {
                    nred
                } else {
                    chunk
                }
            }
        }
    }

    /// Records this pass reducing chunks of `chunk` elements into `out` ([nout, nchunk]).
    fn record(
        &self,
        rec: &mut Recorder,
        op: (ReduceOp, Path),
        chunk: usize,
        out: &Buffer,
    ) -> Result<()> {
        let (nout, ks, kst) = &self.kept;
        let (nred, rs, rst) = &self.reduced;
        let nchunk = nred.div_ceil(chunk.max(1)).max(1);
        dispatch(
            rec,
            op,
            &self.input,
            self.dtype,
            self.offset,
            (*nout, ks, kst),
            (*nred, rs, rst),
            (nchunk, chunk),
            out,
        )
    }
}

/// The passes of a sum/max/min (or a short argmax/argmin): split while long, the last into `buffer`.
fn passes(rec: &mut Recorder, op: ReduceOp, mut pass: Pass, buffer: &Buffer) -> Result<()> {
    let (forced, software) = (rec.caps().reduce, rec.caps().is_software);
    loop {
        let mode = pass.mode(op, forced, software);
        let (nout, nred) = (pass.kept.0, pass.reduced.0);
        let chunk = pass.chunk(op, mode, software);
        if chunk >= nred {
            return pass.record(rec, (op, mode), nred, buffer);
        }
        let nchunk = nred.div_ceil(chunk);
        let next = rec.output(&Meta::new(Shape::new(vec![nout, nchunk]), pass.dtype))?;
        pass.record(rec, (op, mode), chunk, &next)?;
        pass = Pass::over_partials(next, pass.dtype, nout, nchunk);
    }
}

/// argmax/argmin over a reduced range longer than one workgroup may loop over: the extreme of every chunk
/// of [`CHUNK`] elements and its index in the whole range ([nout, nchunk] each), then the first extreme
/// chunk (itself an argmax, split again if long), then that chunk's index, gathered. NaN and ties resolve
/// as in one pass: the first NaN, else the first extreme.
fn long_arg(rec: &mut Recorder, op: ReduceOp, pass: Pass, out: &Meta) -> Result<Buffer> {
    let nout = pass.kept.0;
    let nchunk = pass.reduced.0.div_ceil(CHUNK);
    let extreme = if op == ReduceOp::ArgMax {
        ReduceOp::Max
    } else {
        ReduceOp::Min
    };
    let partial = Meta::new(Shape::new(vec![nout, nchunk]), pass.dtype);
    let values = rec.output(&partial)?;
    pass.record(rec, (extreme, Path::Group), CHUNK, &values)?;
    let indices = rec.output(&Meta::new(partial.shape.clone(), DType::I32))?;
    pass.record(rec, (op, Path::Group), CHUNK, &indices)?;
    // which chunk holds the first extreme: an argmax over [nout, nchunk]
    let layout = wgrad_graph::Layout::contiguous(partial.shape.clone());
    let chunk_values = Input {
        buffer: &values,
        layout: &layout,
        dtype: pass.dtype,
    };
    let which = Meta::new(Shape::new(vec![nout, 1]), DType::I32);
    let chunk = reduce(rec, op, &[1], chunk_values, &which)?;
    let index_layout = wgrad_graph::Layout::contiguous(which.shape.clone());
    let gathered = super::index::gather(
        rec,
        1,
        Input {
            buffer: &indices,
            layout: &layout,
            dtype: DType::I32,
        },
        Input {
            buffer: &chunk,
            layout: &index_layout,
            dtype: DType::I32,
        },
        &which,
    )?;
    // [nout, 1] is the bytes of `out` (its kept dims, reduced ones of size 1)
    debug_assert_eq!(out.numel(), nout);
    Ok(gathered)
}
