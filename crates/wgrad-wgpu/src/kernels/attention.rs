//! Fused attention and its backward (`shaders/attention.wgsl`): FlashAttention's online softmax with one
//! invocation per row, the `[tq, tk]` scores never stored.
//!
//! Memory is linear in the sequence length: besides inputs and output, a launch holds one f32 state row per
//! query (forward: running max, sum and output; dq) or key (dk, dv). The key (or query) range is split
//! into chunks of at most [`super::LOOP_BUDGET`] loop iterations per invocation, one dispatch each, the
//! state carried between them in that buffer (llvmpipe ends longer loops silently).

use wgrad_graph::{AttentionParams, Buffer, DType, Error, Input, Layout, Meta, Result};

use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG64};
use crate::kernels::{movement, word, words, LOOP_BUDGET};

/// One invocation per query row (`attention`, `attention_backward_q`) or key row (`attention_backward_kv`).
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "attention",
        source: include_str!("../../shaders/attention.wgsl"),
    },
    entries: entries!(FLOATS, WG64; "attention" "attention_backward_q" "attention_backward_kv"),
    features: wgpu::Features::empty(),
    checked: false,
};

/// Invocations per workgroup; `WG64`.
pub const WG: u32 = 64;
/// The shader's `MAX_D`: longest head dim (the graph's `MAX_FUSED_HEAD_DIM`).
pub const MAX_D: usize = 128;

/// Loop iterations per head-dim element outside the range loop, at most: loading the row's vectors,
/// reading and writing the state, storing the output.
const SETUP: usize = 4;

const FIRST: usize = 1;
const LAST: usize = 2;
const CAUSAL: usize = 4;
const MASKED: usize = 8;

/// `[n, h, tq, tk, d, dv]` of `(q, k, v, …)`, checked.
fn geometry(op: &'static str, args: &[Input]) -> Result<[usize; 6]> {
    let dims = |i: usize| &args[i].shape().0;
    if args.len() < 3 || (0..3).any(|i| dims(i).len() != 4) {
        return Err(Error::shape(op, "needs 4-D q, k, v".to_string()));
    }
    let (q, k, v) = (dims(0), dims(1), dims(2));
    let g = [q[0], q[1], q[2], k[2], q[3], v[3]];
    if g[4] > MAX_D || g[5] > MAX_D {
        let msg = format!("head dims {} and {} above {MAX_D}", g[4], g[5]);
        return Err(Error::shape(op, msg));
    }
    Ok(g)
}

/// The offset and (n, h, t, c) strides of a 4-D view.
fn view_words(x: Option<&Input>) -> [usize; 5] {
    match x {
        Some(x) => {
            let s = &x.layout.strides;
            [x.layout.offset, s[0], s[1], s[2], s[3]]
        }
        None => [0; 5],
    }
}

/// The launch: entry, rows, chunked range and its per-item and setup loop iterations.
struct Plan {
    op: &'static str,
    entry: &'static str,
    /// Query (forward, dq) or key (dk, dv) rows of all heads: one invocation each.
    rows: usize,
    /// Keys (forward, dq) or queries (dk/dv) the row loops over.
    range: usize,
    per_item: usize,
    setup: usize,
    /// f32 words of state per row.
    state_width: usize,
}

/// The uniform words (see the shader's `Params`) for the chunk `[start, end)` with `flags`.
fn params(
    plan: &Plan,
    p: &AttentionParams,
    g: [usize; 6],
    views: [[usize; 5]; 5],
    [start, end, flags, s_off]: [usize; 4],
) -> Result<Vec<u32>> {
    let [n, h, tq, tk, d, dv] = g;
    let mut w = vec![n, h, tq, tk, d, dv, start, end, flags, plan.rows];
    w.push((p.scale as f32).to_bits() as usize);
    w.push(f32::INFINITY.to_bits() as usize);
    w.extend(views.iter().map(|v| v[0]));
    w.extend([s_off, 0, 0]);
    for v in views {
        w.extend(&v[1..]);
    }
    words(plan.op, &w)
}

/// Records the chunked dispatches of `plan` over `bindings` (whose state slot is filled in here).
fn run(
    rec: &mut Recorder,
    plan: &Plan,
    p: &AttentionParams,
    args: &[Input],
    mask: Option<&Input>,
    extra: &[&Buffer],
    out: &Meta,
) -> Result<Buffer> {
    let output = rec.output(out)?;
    if plan.rows == 0 {
        return Ok(output);
    }
    let g = geometry(plan.op, args)?;
    let chunk = (LOOP_BUDGET.saturating_sub(plan.setup) / plan.per_item).max(1);
    let chunks = plan.range.div_ceil(chunk).max(1);
    // state only carries between chunks
    let state_len = if chunks > 1 {
        plan.rows * plan.state_width
    } else {
        1
    };
    let state = rec.output(&Meta::new([state_len], DType::F32))?;
    let dout = args.get(4).filter(|_| !extra.is_empty());
    let views = [
        view_words(Some(&args[0])),
        view_words(Some(&args[1])),
        view_words(Some(&args[2])),
        view_words(mask),
        view_words(dout),
    ];
    let mask_buffer = mask.map_or(args[0].buffer, |m| m.buffer);
    let mut bindings = vec![
        Bind::Read(args[0].buffer),
        Bind::Read(args[1].buffer),
        Bind::Read(args[2].buffer),
        Bind::Read(mask_buffer),
    ];
    bindings.extend(extra.iter().map(|&b| Bind::Read(b)));
    bindings.extend([Bind::ReadWrite(&state), Bind::ReadWrite(&output)]);
    let groups = word(plan.op, "workgroups", plan.rows.div_ceil(WG as usize))?;
    let mode = usize::from(mask.is_some()) * MASKED + usize::from(p.causal) * CAUSAL;
    let s_off = args
        .get(3)
        .filter(|_| !extra.is_empty())
        .map_or(0, |s| s.layout.offset);
    for c in 0..chunks {
        let (start, end) = (c * chunk, ((c + 1) * chunk).min(plan.range));
        let flags = mode + usize::from(c == 0) * FIRST + usize::from(c + 1 == chunks) * LAST;
        let params = params(plan, p, g, views, [start, end, flags, s_off])?;
        FAMILY.launch(
            rec,
            Launch {
                op: plan.op,
                entry: plan.entry,
                dtype: out.dtype,
                bindings: &bindings,
                params: &params,
                grid: Grid::Linear(groups),
            },
        )?;
    }
    Ok(output)
}

/// `softmax(q·kᵀ·scale + mask)·v` and each row's logsumexp.
///
/// # Shapes
/// `q [n, h, tq, d]`, `k [n, h, tk, d]`, `v [n, h, tk, dv]`, optional `mask [n, h, tq, tk]` (all strided)
/// → `out [n, h, tq, dv + 1]`.
///
/// # Errors
/// `Error::Shape` for head dims above [`MAX_D`]; `Error::Unsupported` for f64.
pub fn attention(
    rec: &mut Recorder,
    p: &AttentionParams,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let [n, h, tq, tk, d, dv] = geometry("attention", args)?;
    let plan = Plan {
        op: "attention",
        entry: "attention",
        rows: n * h * tq,
        range: tk,
        per_item: d + dv + 1,
        setup: SETUP * (d + dv) + 16,
        state_width: dv + 2,
    };
    run(rec, &plan, p, args, args.get(3), &[], out)
}

/// `stats` must be contiguous (an offset is fine): a strided one is copied first.
fn backward(
    rec: &mut Recorder,
    plan: &Plan,
    p: &AttentionParams,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let stats = args[3];
    let (copied, layout);
    let mut args = args.to_vec();
    if !stats.layout.is_contiguous() {
        layout = Layout::contiguous(stats.shape().clone());
        copied = movement::copy(rec, stats, &Meta::new(stats.shape().clone(), stats.dtype))?;
        args[3] = Input {
            buffer: &copied,
            layout: &layout,
            dtype: stats.dtype,
        };
    }
    let extra = [args[3].buffer, args[4].buffer];
    run(rec, plan, p, &args, args.get(5), &extra, out)
}

/// `dq = scale·Σ_j ds_ij k_j`.
///
/// # Shapes
/// `(q, k, v, stats [n, h, tq, 2], dout [n, h, tq, dv][, mask])` → `dq [n, h, tq, d]`.
///
/// # Errors
/// As [`attention`].
pub fn attention_backward_q(
    rec: &mut Recorder,
    p: &AttentionParams,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let [n, h, tq, tk, d, dv] = geometry("attention_backward_q", args)?;
    let plan = Plan {
        op: "attention_backward_q",
        entry: "attention_backward_q",
        rows: n * h * tq,
        range: tk,
        per_item: 2 * d + dv + 1,
        setup: SETUP * (d + dv) + 16,
        state_width: d,
    };
    backward(rec, &plan, p, args, out)
}

/// `dk = scale·Σ_i ds_ij q_i`, `dv = Σ_i p_ij dout_i`.
///
/// # Shapes
/// `(q, k, v, stats [n, h, tq, 2], dout [n, h, tq, dv][, mask])` → `[n, h, tk, d + dv]`.
///
/// # Errors
/// As [`attention`].
pub fn attention_backward_kv(
    rec: &mut Recorder,
    p: &AttentionParams,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let [n, h, tq, tk, d, dv] = geometry("attention_backward_kv", args)?;
    let plan = Plan {
        op: "attention_backward_kv",
        entry: "attention_backward_kv",
        rows: n * h * tk,
        range: tq,
        per_item: 2 * d + dv + 1,
        setup: SETUP * (d + dv) + 16,
        state_width: d + dv,
    };
    backward(rec, &plan, p, args, out)
}
