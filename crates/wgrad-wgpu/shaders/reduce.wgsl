// reduce.wgsl: sum / max / min / argmax / argmin over any set of axes of a strided input.
//
// One workgroup per (output element, chunk of the reduced range) (Grid::Linear(nout * nchunk), folded to 2-D by
// the engine); workgroup w reduces chunk w % nchunk of output w / nchunk and writes out[w]. Each invocation folds
// a strided run of the chunk's elements, then the workgroup combines its WG partial results with a shared-memory
// tree reduction (log2(WG) steps, a barrier each; Harris, "Optimizing parallel reduction in CUDA", 2007).
// Why chunks: with one workgroup per output, a reduction to one (or a few) outputs over millions of elements
// runs on one workgroup, i.e. on one GPU core (measured on an H100: 1.9 GB/s for the sum of a [4096, 4096] f32,
// against 453 GB/s for the sum along its last axis). So for few outputs over a long reduced range the host
// splits sum/max/min into passes in one Recorder: pass 1 (nchunk > 1) writes partials [nout, nchunk], the next
// pass reduces those (nchunk = 1, chunk = nred: the plain one-workgroup-per-output kernel), again split if
// still long. argmax/argmin stay single-pass (nchunk = 1): a second pass would need the (value, index) pairs of
// pass 1, and a dispatch has one output buffer.
// The input is viewed as [kept dims..., reduced dims...]: both groups coalesced on the host, each at most rank 4.
// Ties in argmax/argmin go to the smaller index (the first extremum, like the CPU reference).
//
// Entry points: sum max_ min_ argmax argmin (`max`/`min` are WGSL builtins, hence the `_`), and the same
// with `_thread` (sum_thread, ...): one invocation per (output, chunk) instead of a workgroup (below).
// Bindings (group 0):
//   0  read        x: array<T>        input, strided
//   1  read_write  out: array<T>      sum, max_, min_: one element per output
//   1  read_write  iout: array<i32>   argmax, argmin: index along the (single) reduced axis
//   2  uniform     params: Params     counts, kept/reduced shapes and strides, offset, chunking
//                                     (nout counts workgroups: outputs times nchunk; chunk: reduced elements each)
// Overrides: WG (workgroup size and shared array length; a power of two, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`), i32, u32 (bool) or f64. Values accumulate
// in A (`alias A = f32;`): T, except f32 for f16, as PyTorch sums half precision.

alias T = f32;
alias A = f32;

override WG: u32 = 256u;

struct Params {
    nout: u32,
    nred: u32,
    krank: u32,
    rrank: u32,
    offset: u32,
    nchunk: u32,
    chunk: u32,
    pad2: u32,
    kshape: vec4<u32>,
    kstrides: vec4<u32>,
    rshape: vec4<u32>,
    rstrides: vec4<u32>,
}

const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> out: array<T>;
@group(0) @binding(1) var<storage, read_write> iout: array<i32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> sv: array<A, WG>;
var<workgroup> si: array<u32, WG>;

fn unravel(i: u32, rank: u32, shape: vec4<u32>, strides: vec4<u32>) -> u32 {
    var rem = i;
    var q = 0u;
    // Inner dims peel off with % and /; the outermost takes what is left (i < the product of `shape`), so a
    // contiguous range costs no integer division (llvmpipe splits a vector division into 8 scalar ones).
    for (var d = i32(rank) - 1; d >= 1; d--) {
        let n = shape[d];
        q += (rem % n) * strides[d];
        rem /= n;
    }
    if rank > 0u {
        q += rem * strides[0];
    }
    return q;
}

// NaN on the bits (T converts to f32 exactly enough: NaN stays NaN, integers never are): llvmpipe compiles
// float comparisons as ordered, so `x != x` is false for NaN there.
fn is_nan(v: A) -> bool {
    return (bitcast<u32>(f32(v)) & 0x7fffffffu) > 0x7f800000u;
}

// Whether (b, bi) replaces (a, ai): op 1 keeps the maximum, op 2 the minimum; ties keep the smaller index.
// NaN is the extreme both ways (PyTorch): it beats every number, and the first NaN stays.
fn better(op: u32, a: A, ai: u32, b: A, bi: u32) -> bool {
    if bi == NONE { return false; }
    if ai == NONE { return true; }
    let a_nan = is_nan(a);
    let b_nan = is_nan(b);
    if a_nan || b_nan { return b_nan && (!a_nan || bi < ai); }
    if op == 1u { return b > a || (b == a && bi < ai); }
    return b < a || (b == a && bi < ai);
}

// An accumulator and the index of its extreme (NONE before the first element; 0 once a sum has begun).
struct Folded {
    acc: A,
    idx: u32,
}

// Folds elements r0, r0 + step, ... (< r1) of the reduced range at `base` into `f`.
fn fold(op: u32, f: Folded, base: u32, r0: u32, r1: u32, step: u32) -> Folded {
    var acc = f.acc;
    var idx = f.idx;
    for (var r = r0; r < r1; r += step) {
        let v = x[base + unravel(r, params.rrank, params.rshape, params.rstrides)];
        if op == 0u {
            acc += A(v);
            idx = 0u;
        } else if better(op, acc, idx, A(v), r) {
            acc = A(v);
            idx = r;
        }
    }
    return Folded(acc, idx);
}

// The first element of output o's reduced range.
fn base_of(o: u32) -> u32 {
    return params.offset + unravel(o, params.krank, params.kshape, params.kstrides);
}

// Reduces chunk w % nchunk of output element w / nchunk; invocation 0 of the workgroup holds the result in
// sv[0], si[0] afterwards (si: the index in the whole reduced range).
fn reduce_group(op: u32, w: u32, lid: u32) {
    let r0 = (w % params.nchunk) * params.chunk;
    let r1 = r0 + min(params.chunk, params.nred - r0);
    let f = fold(op, Folded(A(0), NONE), base_of(w / params.nchunk), r0 + lid, r1, WG);
    sv[lid] = f.acc;
    si[lid] = f.idx;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if lid < s {
            if op == 0u {
                sv[lid] += sv[lid + s];
            } else if better(op, sv[lid], si[lid], sv[lid + s], si[lid + s]) {
                sv[lid] = sv[lid + s];
                si[lid] = si[lid + s];
            }
        }
        workgroupBarrier();
    }
}

// The thread path (entries `*_thread`): invocation g alone reduces chunk g / nkept of output g % nkept
// (nkept = nout / nchunk) and writes its result at [output, chunk] of the same [nkept, nchunk] layout as
// the workgroup path. Consecutive invocations take consecutive outputs, so where the kept dims are the
// inner ones (a sum over the batch axis of [N, C]) a GPU's neighbouring lanes read neighbouring elements;
// on llvmpipe, where every storage load is executed lane by lane anyway, it saves the shared-memory tree
// and its barriers (coroutine switches there). Returns the result and the slot of `out` it goes to (NONE:
// this invocation has no work).
struct Slot {
    f: Folded,
    at: u32,
}

// The sum of elements r0..r1 of the reduced range at `base`, pairwise (cascade) as NumPy and PyTorch's CPU
// sums are: blocks of 8 in order, block sums merged like the carries of a binary counter (level k holds
// the sum of 2^k blocks while bit k of `blocks` is set). Rounding error grows with log2(n / 8) instead of
// n: a plain loop over 1024 f32 terms that cancel (a batch norm bias gradient) loses digits the CPU keeps.
fn sum_pairwise(base: u32, r0: u32, r1: u32) -> A {
    var level: array<A, 24>;
    var blocks = 0u;
    var r = r0;
    while r < r1 {
        let end = min(r + 8u, r1);
        var s = A(0);
        for (; r < end; r++) {
            s += A(x[base + unravel(r, params.rrank, params.rshape, params.rstrides)]);
        }
        var k = 0u;
        for (var c = blocks; (c & 1u) == 1u; c >>= 1u) {
            s = level[k] + s;
            k++;
        }
        level[k] = s;
        blocks++;
    }
    var total = A(0);
    for (var k = 0u; k < 24u; k++) {
        if ((blocks >> k) & 1u) == 1u {
            total = level[k] + total;
        }
    }
    return total;
}

fn reduce_thread(op: u32, gid: vec3<u32>, nwg: vec3<u32>) -> Slot {
    let g = gid.x + gid.y * nwg.x * WG;
    if g >= params.nout {
        return Slot(Folded(A(0), NONE), NONE);
    }
    let nkept = params.nout / params.nchunk;
    let o = g % nkept;
    let c = g / nkept;
    let r0 = c * params.chunk;
    let r1 = r0 + min(params.chunk, params.nred - r0);
    if op == 0u {
        return Slot(Folded(sum_pairwise(base_of(o), r0, r1), 0u), o * params.nchunk + c);
    }
    let f = fold(op, Folded(A(0), NONE), base_of(o), r0, r1, 1u);
    return Slot(f, o * params.nchunk + c);
}

@compute @workgroup_size(WG)
fn sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = wid.x + wid.y * nwg.x;
    if o >= params.nout { return; }
    reduce_group(0u, o, lid);
    if lid == 0u { out[o] = T(sv[0]); }
}

@compute @workgroup_size(WG)
fn max_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = wid.x + wid.y * nwg.x;
    if o >= params.nout { return; }
    reduce_group(1u, o, lid);
    if lid == 0u { out[o] = T(sv[0]); }
}

@compute @workgroup_size(WG)
fn min_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = wid.x + wid.y * nwg.x;
    if o >= params.nout { return; }
    reduce_group(2u, o, lid);
    if lid == 0u { out[o] = T(sv[0]); }
}

@compute @workgroup_size(WG)
fn argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = wid.x + wid.y * nwg.x;
    if o >= params.nout { return; }
    reduce_group(1u, o, lid);
    if lid == 0u { iout[o] = i32(si[0]); }
}

@compute @workgroup_size(WG)
fn argmin(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let o = wid.x + wid.y * nwg.x;
    if o >= params.nout { return; }
    reduce_group(2u, o, lid);
    if lid == 0u { iout[o] = i32(si[0]); }
}

@compute @workgroup_size(WG)
fn sum_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = reduce_thread(0u, gid, nwg);
    if r.at != NONE { out[r.at] = T(r.f.acc); }
}

@compute @workgroup_size(WG)
fn max_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = reduce_thread(1u, gid, nwg);
    if r.at != NONE { out[r.at] = T(r.f.acc); }
}

@compute @workgroup_size(WG)
fn min_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = reduce_thread(2u, gid, nwg);
    if r.at != NONE { out[r.at] = T(r.f.acc); }
}

@compute @workgroup_size(WG)
fn argmax_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = reduce_thread(1u, gid, nwg);
    if r.at != NONE { iout[r.at] = i32(r.f.idx); }
}

@compute @workgroup_size(WG)
fn argmin_thread(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = reduce_thread(2u, gid, nwg);
    if r.at != NONE { iout[r.at] = i32(r.f.idx); }
}
