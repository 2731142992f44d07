// attention.wgsl: fused scaled dot-product attention and its backward, without storing the [tq, tk] scores.
//
// FlashAttention (Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention with
// IO-Awareness"; Dao 2023, "FlashAttention-2"): the forward keeps a running max m, sum l and output
// accumulator per query row (online softmax) and writes each row's logsumexp; the backward recomputes the
// probabilities from it. One invocation owns one row and keeps its vectors in private arrays: no workgroup
// memory, no barriers (coroutine switches on software adapters), no atomics (dq comes from a per-query
// kernel, dk and dv from a per-key kernel).
//
// With s_ij = scale·q_i·k_j + mask_ij (-∞ for j > i when causal), lse_i = log Σ_j e^(s_ij),
// p_ij = e^(s_ij - lse_i), ds_ij = p_ij (dout_i·v_j - Δ_i):
//   attention              per query row: out_i = Σ_j p_ij v_j, then lse_i; a row without any finite score
//                          gets 0 and lse = +∞ (so that every p_ij of it is 0)
//   attention_backward_q   per query row: dq_i = scale·Σ_j ds_ij k_j
//   attention_backward_kv  per key row:   dk_j = scale·Σ_i ds_ij q_i, dv_j = Σ_i p_ij dout_i
// Rows are (n, h, t) of [n, h, t, ·] in row-major order: `rows` = n·h·tq (forward, dq) or n·h·tk (dk/dv).
//
// Chunks: one dispatch covers the keys (forward, dq) or queries (dk/dv) [start, end). llvmpipe ends an
// invocation's loops after 65,535 iterations in total, so the host splits the range (kernels::LOOP_BUDGET).
// Between dispatches a row's state lives in `state` (f32, whatever T is): forward (m, l, acc[dv]) at
// row·(dv + 2), dq acc[d] at row·d, dk/dv acc[d + dv] at row·(d + dv). Flags: FIRST (start from zero, else
// read the state), LAST (write `out`, else write the state), CAUSAL, MASKED (bias from `mask`).
//
// Layouts: q, k, v, mask and dout are read strided: element (n, h, t, c) of view X sits at
// X_off + n·X_st.x + h·X_st.y + t·X_st.z + c·X_st.w (mask: c is the key index). stats and out are
// contiguous: stats [n·h·tq, 2] (lse, Δ) from s_off; out [rows, dv + 1] (forward), [rows, d] (dq),
// [rows, d + dv] (dk, dv).
// Head dims d, dv ≤ MAX_D. Products and sums in f32 whatever T is.
//
// Grid: Linear(ceil(rows / WG)); invocation row = (wid.x + wid.y·nwg.x)·WG + local index.
//
// Bindings (group 0), forward (attention):
//   0 read q   1 read k   2 read v   3 read mask (q when unmasked)   4 read_write state (f32)
//   5 read_write out   6 uniform params
// backward (attention_backward_q, attention_backward_kv):
//   0 read q   1 read k   2 read v   3 read mask (q when unmasked)   4 read stats   5 read dout
//   6 read_write state (f32)   7 read_write out   8 uniform params
// Overrides: WG = 64 (invocations per workgroup).

alias T = f32;

const MAX_D: u32 = 128u;
const FIRST: u32 = 1u;
const LAST: u32 = 2u;
const CAUSAL: u32 = 4u;
const MASKED: u32 = 8u;

struct Params {
    n: u32,
    h: u32,
    tq: u32,
    tk: u32,
    d: u32,
    dv: u32,
    // the chunk: keys (forward, dq) or queries (dk/dv) [start, end)
    start: u32,
    end: u32,
    flags: u32,
    rows: u32,
    scale: f32,
    // +∞ (WGSL has no infinity literal)
    inf: f32,
    q_off: u32,
    k_off: u32,
    v_off: u32,
    m_off: u32,
    o_off: u32,
    // element offset of stats (contiguous)
    s_off: u32,
    pad1: u32,
    pad2: u32,
    // strides (n, h, t, c) of q, k, v, mask, dout
    q_st: vec4<u32>,
    k_st: vec4<u32>,
    v_st: vec4<u32>,
    m_st: vec4<u32>,
    o_st: vec4<u32>,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> k: array<T>;
@group(0) @binding(2) var<storage, read> v: array<T>;
@group(0) @binding(3) var<storage, read> mask: array<T>;

@group(0) @binding(4) var<storage, read_write> state_f: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_f: array<T>;
@group(0) @binding(6) var<uniform> params_f: Params;

@group(0) @binding(4) var<storage, read> stats: array<T>;
@group(0) @binding(5) var<storage, read> dout: array<T>;
@group(0) @binding(6) var<storage, read_write> state_b: array<f32>;
@group(0) @binding(7) var<storage, read_write> out_b: array<T>;
@group(0) @binding(8) var<uniform> params_b: Params;

fn row_id(wid: vec3<u32>, nwg: vec3<u32>, li: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + li;
}

// Element (n, h) = nh, t, c of a strided view.
fn at(off: u32, st: vec4<u32>, nh: vec2<u32>, t: u32, c: u32) -> u32 {
    return off + nh.x * st.x + nh.y * st.y + t * st.z + c * st.w;
}

// The (n, h) of a row of `len` rows per head.
fn head(p: Params, row: u32, len: u32) -> vec2<u32> {
    let b = row / len;
    return vec2<u32>(b / p.h, b % p.h);
}

// scale·q_i·k_j + mask_ij, -∞ when masked; `qs` holds scale·q_i.
fn score(p: Params, qs: ptr<function, array<f32, MAX_D>>, nh: vec2<u32>, i: u32, j: u32) -> f32 {
    if (p.flags & CAUSAL) != 0u && j > i {
        return -p.inf;
    }
    var s = 0.0;
    for (var c = 0u; c < p.d; c++) {
        s += (*qs)[c] * f32(k[at(p.k_off, p.k_st, nh, j, c)]);
    }
    if (p.flags & MASKED) != 0u {
        s += f32(mask[at(p.m_off, p.m_st, nh, i, j)]);
    }
    return s;
}

@compute @workgroup_size(WG)
fn attention(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let p = params_f;
    let row = row_id(wid, nwg, li);
    if row >= p.rows {
        return;
    }
    let i = row % p.tq;
    let nh = head(p, row, p.tq);
    var qs: array<f32, MAX_D>;
    for (var c = 0u; c < p.d; c++) {
        qs[c] = p.scale * f32(q[at(p.q_off, p.q_st, nh, i, c)]);
    }
    var acc: array<f32, MAX_D>;
    var m = -p.inf;
    var l = 0.0;
    let sb = row * (p.dv + 2u);
    if (p.flags & FIRST) == 0u {
        m = state_f[sb];
        l = state_f[sb + 1u];
        for (var c = 0u; c < p.dv; c++) {
            acc[c] = state_f[sb + 2u + c];
        }
    }
    for (var j = p.start; j < p.end; j++) {
        let s = score(p, &qs, nh, i, j);
        if s == -p.inf {
            continue;
        }
        // online softmax: rescale what was summed under the old max
        let m_new = max(m, s);
        let r = exp(m - m_new);
        let e = exp(s - m_new);
        l = l * r + e;
        for (var c = 0u; c < p.dv; c++) {
            acc[c] = acc[c] * r + e * f32(v[at(p.v_off, p.v_st, nh, j, c)]);
        }
        m = m_new;
    }
    if (p.flags & LAST) == 0u {
        state_f[sb] = m;
        state_f[sb + 1u] = l;
        for (var c = 0u; c < p.dv; c++) {
            state_f[sb + 2u + c] = acc[c];
        }
        return;
    }
    let o = row * (p.dv + 1u);
    let live = l > 0.0;
    let inv = select(0.0, 1.0 / l, live);
    for (var c = 0u; c < p.dv; c++) {
        out_f[o + c] = T(acc[c] * inv);
    }
    out_f[o + p.dv] = T(select(p.inf, m + log(l), live));
}

@compute @workgroup_size(WG)
fn attention_backward_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let p = params_b;
    let row = row_id(wid, nwg, li);
    if row >= p.rows {
        return;
    }
    let i = row % p.tq;
    let nh = head(p, row, p.tq);
    let lse = f32(stats[p.s_off + row * 2u]);
    let delta = f32(stats[p.s_off + row * 2u + 1u]);
    var qs: array<f32, MAX_D>;
    var acc: array<f32, MAX_D>;
    var g: array<f32, MAX_D>;
    for (var c = 0u; c < p.d; c++) {
        qs[c] = p.scale * f32(q[at(p.q_off, p.q_st, nh, i, c)]);
    }
    for (var c = 0u; c < p.dv; c++) {
        g[c] = f32(dout[at(p.o_off, p.o_st, nh, i, c)]);
    }
    let sb = row * p.d;
    if (p.flags & FIRST) == 0u {
        for (var c = 0u; c < p.d; c++) {
            acc[c] = state_b[sb + c];
        }
    }
    // a fully masked row (lse = +∞) passes no gradient
    let end = select(p.start, p.end, lse != p.inf);
    for (var j = p.start; j < end; j++) {
        let s = score(p, &qs, nh, i, j);
        if s == -p.inf {
            continue;
        }
        let pr = exp(s - lse);
        var dp = 0.0;
        for (var c = 0u; c < p.dv; c++) {
            dp += g[c] * f32(v[at(p.v_off, p.v_st, nh, j, c)]);
        }
        let ds = pr * (dp - delta);
        for (var c = 0u; c < p.d; c++) {
            acc[c] += ds * f32(k[at(p.k_off, p.k_st, nh, j, c)]);
        }
    }
    for (var c = 0u; c < p.d; c++) {
        if (p.flags & LAST) == 0u {
            state_b[sb + c] = acc[c];
        } else {
            out_b[sb + c] = T(p.scale * acc[c]);
        }
    }
}

@compute @workgroup_size(WG)
fn attention_backward_kv(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) li: u32) {
    let p = params_b;
    let row = row_id(wid, nwg, li);
    if row >= p.rows {
        return;
    }
    let j = row % p.tk;
    let nh = head(p, row, p.tk);
    let w = p.d + p.dv;
    var ks: array<f32, MAX_D>;
    var vj: array<f32, MAX_D>;
    var dk: array<f32, MAX_D>;
    var dv: array<f32, MAX_D>;
    for (var c = 0u; c < p.d; c++) {
        ks[c] = p.scale * f32(k[at(p.k_off, p.k_st, nh, j, c)]);
    }
    for (var c = 0u; c < p.dv; c++) {
        vj[c] = f32(v[at(p.v_off, p.v_st, nh, j, c)]);
    }
    let sb = row * w;
    if (p.flags & FIRST) == 0u {
        for (var c = 0u; c < p.d; c++) {
            dk[c] = state_b[sb + c];
        }
        for (var c = 0u; c < p.dv; c++) {
            dv[c] = state_b[sb + p.d + c];
        }
    }
    let head_row = (nh.x * p.h + nh.y) * p.tq;
    // causal: key j is attended by queries i >= j only
    var start = p.start;
    if (p.flags & CAUSAL) != 0u {
        start = max(start, j);
    }
    for (var i = start; i < p.end; i++) {
        let lse = f32(stats[p.s_off + (head_row + i) * 2u]);
        if lse == p.inf {
            continue;
        }
        var s = 0.0;
        for (var c = 0u; c < p.d; c++) {
            s += ks[c] * f32(q[at(p.q_off, p.q_st, nh, i, c)]);
        }
        if (p.flags & MASKED) != 0u {
            s += f32(mask[at(p.m_off, p.m_st, nh, i, j)]);
        }
        if s == -p.inf {
            continue;
        }
        let pr = exp(s - lse);
        var dp = 0.0;
        for (var c = 0u; c < p.dv; c++) {
            let gi = f32(dout[at(p.o_off, p.o_st, nh, i, c)]);
            dv[c] += pr * gi;
            dp += gi * vj[c];
        }
        let ds = pr * (dp - f32(stats[p.s_off + (head_row + i) * 2u + 1u]));
        for (var c = 0u; c < p.d; c++) {
            dk[c] += ds * f32(q[at(p.q_off, p.q_st, nh, i, c)]);
        }
    }
    let last = (p.flags & LAST) != 0u;
    for (var c = 0u; c < p.d; c++) {
        if last {
            out_b[sb + c] = T(p.scale * dk[c]);
        } else {
            state_b[sb + c] = dk[c];
        }
    }
    for (var c = 0u; c < p.dv; c++) {
        if last {
            out_b[sb + p.d + c] = T(dv[c]);
        } else {
            state_b[sb + p.d + c] = dv[c];
        }
    }
}
