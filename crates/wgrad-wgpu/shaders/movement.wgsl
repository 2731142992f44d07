// movement.wgsl: data movement into fresh contiguous outputs.
//
// Entry points: copy (strided view -> contiguous), pad / pad_int, cat (one dispatch per input), full / full_int / full_f64.
//   `_int` variants take their value as a 32-bit integer word (i32 or u32 bits, bool 0/1) instead of f32 bits.
// Bindings (group 0):
//   copy:        0 read x: array<T> (strided) | 1 read_write out: array<T> | 2 uniform params: Params
//   pad, pad_int: 0 read x: array<T> (contiguous from pparams.offset) | 1 read_write out | 2 uniform pparams: PadParams
//   cat:         0 read x: array<T> (contiguous from cparams.offset) | 1 read_write out | 2 uniform cparams: CatParams
//   full, full_int, full_f64: 0 read_write fout: array<T> | 1 uniform params: Params (numel, s0 = value; full_f64: s0, s1, shape[0].x)
// Overrides: WG (workgroup size, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`), i32, u32 (bool) or f64 (copy, pad with a
// value exact in f32, cat, full_f64: the fill value as the exact sum of three f32 words).
// Grid: Grid::Linear(ceil(numel / WG)) over output elements (cat: over the input's elements).

alias T = f32;

override WG: u32 = 256u;

struct Params {
    numel: u32,
    rank: u32,
    s0: u32,
    s1: u32,
    shape: array<vec4<u32>, 2>,
    offsets: vec4<u32>,
    strides: array<vec4<u32>, 6>,
}

// Output shape, input shape, elements added before each dim; dims left-aligned, `rank` of them.
struct PadParams {
    numel: u32,
    rank: u32,
    value: u32,
    offset: u32,
    out_shape: array<vec4<u32>, 2>,
    in_shape: array<vec4<u32>, 2>,
    before: array<vec4<u32>, 2>,
}

// The input viewed as [outer, axis_in, inner] lands at [outer, start .. start + axis_in, inner] of an output
// [outer, axis_out, inner].
struct CatParams {
    numel: u32,
    inner: u32,
    axis_in: u32,
    axis_out: u32,
    start: u32,
    offset: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> out: array<T>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(2) var<uniform> pparams: PadParams;
@group(0) @binding(2) var<uniform> cparams: CatParams;

@group(0) @binding(0) var<storage, read_write> fout: array<T>;
@group(0) @binding(1) var<uniform> fparams: Params;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn pos(i: u32) -> u32 {
    var rem = i;
    var q = params.offsets[0];
    // Inner dims peel off with % and /; the outermost takes what is left (i < numel), so an input that
    // coalesced to rank 1 costs no integer division (llvmpipe splits a vector division into 8 scalar ones).
    for (var d = i32(params.rank) - 1; d >= 1; d--) {
        let n = params.shape[u32(d) / 4u][u32(d) % 4u];
        q += (rem % n) * params.strides[u32(d) / 4u][u32(d) % 4u];
        rem /= n;
    }
    if params.rank > 0u {
        q += rem * params.strides[0][0];
    }
    return q;
}

// Position in x of output element i, or -1 when i falls in the padding.
fn pad_source(i: u32) -> i32 {
    var rem = i;
    var q = 0u;
    var scale = 1u;
    for (var d = i32(pparams.rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let n = pparams.out_shape[k / 4u][k % 4u];
        let c = rem % n;
        rem /= n;
        let lo = pparams.before[k / 4u][k % 4u];
        let m = pparams.in_shape[k / 4u][k % 4u];
        if c < lo || c >= lo + m { return -1; }
        q += (c - lo) * scale;
        scale *= m;
    }
    return i32(q + pparams.offset);
}

@compute @workgroup_size(WG)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = x[pos(i)];
}

@compute @workgroup_size(WG)
fn pad(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= pparams.numel { return; }
    let q = pad_source(i);
    out[i] = select(x[max(q, 0)], T(bitcast<f32>(pparams.value)), q < 0);
}

@compute @workgroup_size(WG)
fn pad_int(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= pparams.numel { return; }
    let q = pad_source(i);
    out[i] = select(x[max(q, 0)], T(bitcast<i32>(pparams.value)), q < 0);
}

@compute @workgroup_size(WG)
fn cat(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= cparams.numel { return; }
    let r = i % cparams.inner;
    let a = (i / cparams.inner) % cparams.axis_in;
    let o = i / (cparams.inner * cparams.axis_in);
    out[(o * cparams.axis_out + cparams.start + a) * cparams.inner + r] = x[cparams.offset + i];
}

@compute @workgroup_size(WG)
fn full(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= fparams.numel { return; }
    fout[i] = T(bitcast<f32>(fparams.s0));
}

// f64 only: the value is the sum of the three f32 in s0, s1 and shape[0].x (exact; see movement.rs).
@compute @workgroup_size(WG)
fn full_f64(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= fparams.numel { return; }
    let parts = vec3<f32>(bitcast<f32>(fparams.s0), bitcast<f32>(fparams.s1), bitcast<f32>(fparams.shape[0].x));
    fout[i] = T(parts.x) + T(parts.y) + T(parts.z);
}

@compute @workgroup_size(WG)
fn full_int(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= fparams.numel { return; }
    fout[i] = T(bitcast<i32>(fparams.s0));
}
