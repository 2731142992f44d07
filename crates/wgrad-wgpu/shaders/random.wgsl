// random.wgsl: counter-based random numbers, Philox 4x32-10 exactly as crates/wgrad-graph/src/philox.rs
// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//
// Element i uses counter n = offset + i (64-bit add with carry) as [n_lo, n_hi, 0, 0] and key [seed_lo, seed_hi].
// WGSL has no 64-bit integers, so mulhilo splits its 32x32 -> 64 product into 16-bit halves.
//   uniform:   (x0 >> 8) * 2^-24, in [0, 1): bit-identical to the CPU
//   normal:    Box-Muller in f32, u1 = ((x0 >> 8) + 1) * 2^-24, u2 = (x1 >> 8) * 2^-24, sqrt(-2 ln u1) cos(2 pi u2)
//   bernoulli: (x0 >> 8) < threshold, where the host sets threshold = ceil(p * 2^24) (so it equals uniform < p)
//
// Entry points: uniform_ (`uniform` is a WGSL address space), normal, bernoulli.
// Bindings (group 0):
//   0  read_write  out: array<T>     contiguous output, numel elements
//   1  uniform     params: Params    numel, seed (lo, hi), offset (lo, hi), bernoulli threshold
// Overrides: WG (workgroup size, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`), i32 or u32 (bool); values computed in f32.
// Grid: Grid::Linear(ceil(numel / WG)), folded to 2-D by the engine.

alias T = f32;

override WG: u32 = 256u;

struct Params {
    numel: u32,
    seed_lo: u32,
    seed_hi: u32,
    offset_lo: u32,
    offset_hi: u32,
    threshold: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<T>;
@group(0) @binding(1) var<uniform> params: Params;

const M0: u32 = 0xD2511F53u;
const M1: u32 = 0xCD9E8D57u;
const W0: u32 = 0x9E3779B9u;
const W1: u32 = 0xBB67AE85u;
const INV_2_24: f32 = 5.9604644775390625e-8;
const TAU: f32 = 6.283185307179586;

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// (hi, lo) of the 64-bit product a * b.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        if round > 0u {
            k = k + vec2<u32>(W0, W1);
        }
        let r0 = mulhilo(M0, c.x);
        let r1 = mulhilo(M1, c.z);
        c = vec4<u32>(r1.x ^ c.y ^ k.x, r1.y, r0.x ^ c.w ^ k.y, r0.y);
    }
    return c;
}

fn words(i: u32) -> vec4<u32> {
    let lo = params.offset_lo + i;
    let hi = params.offset_hi + select(0u, 1u, lo < i);
    return philox(vec4<u32>(lo, hi, 0u, 0u), vec2<u32>(params.seed_lo, params.seed_hi));
}

@compute @workgroup_size(WG)
fn uniform_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = T(f32(words(i).x >> 8u) * INV_2_24);
}

@compute @workgroup_size(WG)
fn normal(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let w = words(i);
    let u1 = f32((w.x >> 8u) + 1u) * INV_2_24;
    let u2 = f32(w.y >> 8u) * INV_2_24;
    out[i] = T(sqrt(-2.0 * log(u1)) * cos(TAU * u2));
}

@compute @workgroup_size(WG)
fn bernoulli(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    out[i] = select(T(0), T(1), (words(i).x >> 8u) < params.threshold);
}
