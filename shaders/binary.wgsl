// binary.wgsl: elementwise functions of two equal-shaped strided inputs, and `where`.
//
// Entry points: add sub mul div pow_ maximum minimum lt le eq (wgrad_graph::BinaryOp names; `pow_` because
//   `pow` is a WGSL builtin), where_ (`where` is a WGSL reserved word).
// Bindings (group 0), arithmetic and comparisons:
//   0  read        a: array<T>       lhs, strided (params input 0)
//   1  read        b: array<T>       rhs, strided (params input 1)
//   2  read_write  out: array<T>     contiguous output (arithmetic)
//   2  read_write  mask: array<u32>  contiguous bool output, 0 or 1 (lt le eq)
//   3  uniform     params: Params
// Bindings for where_:
//   0  read        cond: array<u32>  bool condition, strided (input 0)
//   1  read        wa: array<T>      taken where cond != 0 (input 1)
//   2  read        wb: array<T>      taken elsewhere (input 2)
//   3  read_write  wout: array<T>
//   4  uniform     wparams: Params
// Overrides: WG (workgroup size, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`), i32, u32 (bool) or f64 (every entry but
// pow, which computes in f32; see kernels::refuse_f64).
// Grid: Grid::Linear(ceil(numel / WG)), folded to 2-D by the engine.

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

@group(0) @binding(0) var<storage, read> a: array<T>;
@group(0) @binding(1) var<storage, read> b: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(2) var<storage, read_write> mask: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;

@group(0) @binding(0) var<storage, read> cond: array<u32>;
@group(0) @binding(1) var<storage, read> wa: array<T>;
@group(0) @binding(2) var<storage, read> wb: array<T>;
@group(0) @binding(3) var<storage, read_write> wout: array<T>;
@group(0) @binding(4) var<uniform> wparams: Params;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Buffer positions of element i in inputs 0, 1 and 2 (x, y, z): offset + sum over dims of index · stride
// (stride 0 = broadcast). One pass over the dims serves every input, since the % and / chain is the costly
// part (llvmpipe splits a vector integer division into 8 scalar ones); the outermost dim takes what is
// left (i < numel), so inputs that coalesced to rank 1 cost no division at all.
fn positions(p: Params, i: u32) -> vec3<u32> {
    var rem = i;
    var q = p.offsets.xyz;
    for (var d = i32(p.rank) - 1; d >= 1; d--) {
        let r = u32(d) / 4u;
        let c = u32(d) % 4u;
        let n = p.shape[r][c];
        q += (rem % n) * vec3<u32>(p.strides[r][c], p.strides[2u + r][c], p.strides[4u + r][c]);
        rem /= n;
    }
    if p.rank > 0u {
        q += rem * vec3<u32>(p.strides[0][0], p.strides[2][0], p.strides[4][0]);
    }
    return q;
}

fn lhs(q: vec3<u32>) -> T {
    return a[q.x];
}

fn rhs(q: vec3<u32>) -> T {
    return b[q.y];
}

fn pow_of(x: f32, y: f32) -> f32 {
    if y == 0.0 { return 1.0; }
    if x == 0.0 { return select(bitcast<f32>(0x7f800000u), 0.0, y > 0.0); }
    if x > 0.0 { return pow(x, y); }
    if floor(y) != y { return bitcast<f32>(0x7fc00000u); }
    let m = pow(-x, y);
    return select(m, -m, (abs(y) % 2.0) == 1.0);
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = lhs(q) + rhs(q);
}

@compute @workgroup_size(WG)
fn sub(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = lhs(q) - rhs(q);
}

@compute @workgroup_size(WG)
fn mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = lhs(q) * rhs(q);
}

@compute @workgroup_size(WG)
fn div(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = lhs(q) / rhs(q);
}

@compute @workgroup_size(WG)
fn pow_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = T(pow_of(f32(lhs(q)), f32(rhs(q))));
}

@compute @workgroup_size(WG)
fn maximum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = max(lhs(q), rhs(q));
}

@compute @workgroup_size(WG)
fn minimum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    out[i] = min(lhs(q), rhs(q));
}

@compute @workgroup_size(WG)
fn lt(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    mask[i] = select(0u, 1u, lhs(q) < rhs(q));
}

@compute @workgroup_size(WG)
fn le(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    mask[i] = select(0u, 1u, lhs(q) <= rhs(q));
}

@compute @workgroup_size(WG)
fn eq(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let q = positions(params, i);
    mask[i] = select(0u, 1u, lhs(q) == rhs(q));
}

@compute @workgroup_size(WG)
fn where_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= wparams.numel { return; }
    let q = positions(wparams, i);
    wout[i] = select(wb[q.z], wa[q.y], cond[q.x] != 0u);
}
