// cast.wgsl: dtype conversions of one strided input into a contiguous output of type T.
//
// Entry points: cast_from_f32 cast_from_f16 cast_from_bf16 cast_from_i32 cast_from_u32 (to T),
//   cast_from_f32_to_bool cast_from_f16_to_bool cast_from_bf16_to_bool cast_from_i32_to_bool cast_from_u32_to_bool.
//   Float → int truncates toward zero (WGSL's conversion); → bool is `x != 0`.
// Bindings (group 0):
//   0  read        xw: array<u32>  the input as raw 32-bit words (f16/bf16 are two per word)
//   1  read_write  out: array<T>   contiguous output, params.numel elements
//   2  uniform     params: Params  numel, rank, coalesced shape and the input's offset/strides
// Overrides: WG (workgroup size, default 256, at most max_compute_invocations_per_workgroup).
// Element type: the line `alias T = f32;` becomes f16 (with `enable f16;`), i32 or u32 (u32 also stores bool).
// Grid: Grid::Linear(ceil(numel / WG)), folded to 2-D by the engine: index = (wid.x + wid.y * nwg.x) * WG + lid.

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

@group(0) @binding(0) var<storage, read> xw: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<T>;
@group(0) @binding(2) var<uniform> params: Params;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Buffer position of element i of input k: offset + sum over dims of index * stride (stride 0 = broadcast).
fn pos(k: u32, i: u32) -> u32 {
    var rem = i;
    var p = params.offsets[k];
    // Inner dims peel off with % and /; the outermost takes what is left (i < numel), so an input that
    // coalesced to rank 1 costs no integer division (llvmpipe splits a vector division into 8 scalar ones).
    for (var d = i32(params.rank) - 1; d >= 1; d--) {
        let n = params.shape[u32(d) / 4u][u32(d) % 4u];
        p += (rem % n) * params.strides[2u * k + u32(d) / 4u][u32(d) % 4u];
        rem /= n;
    }
    if params.rank > 0u {
        p += rem * params.strides[2u * k][0];
    }
    return p;
}

// Half p % 2 of a word holding two f16 values.
fn half_of(v: u32, p: u32) -> f32 {
    let h = unpack2x16float(v);
    return select(h.x, h.y, p % 2u == 1u);
}

// ---- casts: the input is read as raw words, so one module per output type serves every input type ----

fn word_f32(i: u32) -> f32 {
    return bitcast<f32>(xw[pos(0u, i)]);
}

fn word_f16(i: u32) -> f32 {
    let p = pos(0u, i);
    return half_of(xw[p / 2u], p);
}

fn word_bf16(i: u32) -> f32 {
    let p = pos(0u, i);
    return bitcast<f32>(((xw[p / 2u] >> (16u * (p % 2u))) & 0xffffu) << 16u);
}

fn word_i32(i: u32) -> i32 {
    return bitcast<i32>(xw[pos(0u, i)]);
}

fn word_u32(i: u32) -> u32 {
    return xw[pos(0u, i)];
}

fn to_bool(nonzero: bool) -> T {
    return select(T(0), T(1), nonzero);
}

@compute @workgroup_size(WG)
fn cast_from_f32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = T(word_f32(i));
}

@compute @workgroup_size(WG)
fn cast_from_f16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = T(word_f16(i));
}

@compute @workgroup_size(WG)
fn cast_from_bf16(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = T(word_bf16(i));
}

@compute @workgroup_size(WG)
fn cast_from_i32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = T(word_i32(i));
}

@compute @workgroup_size(WG)
fn cast_from_u32(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = T(word_u32(i));
}

@compute @workgroup_size(WG)
fn cast_from_f32_to_bool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = to_bool(word_f32(i) != 0.0);
}

@compute @workgroup_size(WG)
fn cast_from_f16_to_bool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = to_bool(word_f16(i) != 0.0);
}

@compute @workgroup_size(WG)
fn cast_from_bf16_to_bool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = to_bool(word_bf16(i) != 0.0);
}

@compute @workgroup_size(WG)
fn cast_from_i32_to_bool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = to_bool(word_i32(i) != 0);
}

@compute @workgroup_size(WG)
fn cast_from_u32_to_bool(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = to_bool(word_u32(i) != 0u);
}
