// matmul_tex.wgsl: batched matrix product out[b, m, n] = Σ_k lhs[b, m, k] · rhs[b, k, n] with both operands
// read from rgba32float 2-D array textures, for software adapters (lavapipe/llvmpipe) with 8-lane subgroups.
//
// Why textures: Mesa's llvmpipe executes every storage-buffer and workgroup-memory load lane by lane, but
// gathers texels with SIMD, four floats at a time; the same 32x32 subgroup tile as matmul_sg runs about 4x
// faster reading textures (BENCHMARKS.md). Pack kernels (texture_pack.wgsl, conv2d_pack.wgsl) stage the
// operands first; for batch b:
//   lhs texel (k4, i) of layer b · lhs_bstep = lhs[b, i, 4·k4 .. 4·k4 + 3]   (width ≥ k4s, height ≥ m_pad)
//   rhs texel (j4, kk) of layer b · rhs_bstep = rhs[b, kk, 4·j4 .. 4·j4 + 3] (width ≥ tiles_n · 8,
//                                                                            height ≥ 4 · k4s)
// with m_pad = tiles_m · 32, zero-padded, so every load below is in range and padded entries contribute
// exact zeros. A bstep of 0 broadcasts one operand over the batch.
//
// Entry point: matmul_tex. One workgroup is one 8-lane subgroup computing a 32x32 block: lane l keeps rows
// 0..31 x columns 4l..4l+3 in 32 vec4 accumulators. Per texel of k the lane loads lhs rows l, l+8, l+16,
// l+24 (four texels = 16 values) and four rhs texels (its 4 columns at 4 consecutive k), and the lanes swap
// lhs values with subgroupBroadcast. No barriers, no workgroup memory. The host picks this kernel only when
// the adapter's subgroups are exactly 8 lanes wide.
//
// Grid: Linear(batch · tiles_m · tiles_n); workgroup id = wid.x + wid.y · nwg.x. Block: 32 x 32.
//
// Bindings (group 0):
//   0 texture    lhs    texture_2d_array<f32>  packed as above
//   1 texture    rhs    texture_2d_array<f32>  packed as above
//   2 read_write out    array<T>  contiguous [batch, m, n] from element out_offset
//   3 uniform    params Params
// Needs wgpu::Features::SUBGROUP (naga Capabilities::SUBGROUP). Accumulation in f32 whatever T is.

alias T = f32;

struct Params {
    batch: u32,
    m: u32,
    n: u32,
    // Texels along k per layer (ceil(k / 4)).
    k4s: u32,
    lhs_bstep: u32,
    rhs_bstep: u32,
    tiles_m: u32,
    tiles_n: u32,
    // Element of `out` where batch 0 starts (a chunk of a larger batch writes into its slice).
    out_offset: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var lhs: texture_2d_array<f32>;
@group(0) @binding(1) var rhs: texture_2d_array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

// Stores one accumulator row at (row, col0..col0+3) of batch b, skipping rows past m and columns past n.
fn store_row(b: u32, row: u32, col0: u32, v: vec4<f32>) {
    if row >= params.m {
        return;
    }
    let base = params.out_offset + (b * params.m + row) * params.n;
    for (var c = 0u; c < 4u; c++) {
        if col0 + c < params.n {
            out[base + col0 + c] = T(v[c]);
        }
    }
}

@compute @workgroup_size(8)
fn matmul_tex(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let id = wid.x + wid.y * nwg.x;
    let per_batch = params.tiles_m * params.tiles_n;
    let b = id / per_batch;
    if b >= params.batch {
        return;
    }
    let tile = id - b * per_batch;
    let row0 = (tile / params.tiles_n) * 32u;
    let c4 = (tile % params.tiles_n) * 8u + lane;
    let arow = row0 + lane;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    var acc8 = vec4<f32>(0.0);
    var acc9 = vec4<f32>(0.0);
    var acc10 = vec4<f32>(0.0);
    var acc11 = vec4<f32>(0.0);
    var acc12 = vec4<f32>(0.0);
    var acc13 = vec4<f32>(0.0);
    var acc14 = vec4<f32>(0.0);
    var acc15 = vec4<f32>(0.0);
    var acc16 = vec4<f32>(0.0);
    var acc17 = vec4<f32>(0.0);
    var acc18 = vec4<f32>(0.0);
    var acc19 = vec4<f32>(0.0);
    var acc20 = vec4<f32>(0.0);
    var acc21 = vec4<f32>(0.0);
    var acc22 = vec4<f32>(0.0);
    var acc23 = vec4<f32>(0.0);
    var acc24 = vec4<f32>(0.0);
    var acc25 = vec4<f32>(0.0);
    var acc26 = vec4<f32>(0.0);
    var acc27 = vec4<f32>(0.0);
    var acc28 = vec4<f32>(0.0);
    var acc29 = vec4<f32>(0.0);
    var acc30 = vec4<f32>(0.0);
    var acc31 = vec4<f32>(0.0);
    let la = b * params.lhs_bstep;
    let lb = b * params.rhs_bstep;
    for (var k4 = 0u; k4 < params.k4s; k4++) {
        let a0 = textureLoad(lhs, vec2<u32>(k4, arow + 0u), la, 0);
        let a1 = textureLoad(lhs, vec2<u32>(k4, arow + 8u), la, 0);
        let a2 = textureLoad(lhs, vec2<u32>(k4, arow + 16u), la, 0);
        let a3 = textureLoad(lhs, vec2<u32>(k4, arow + 24u), la, 0);
        for (var j = 0u; j < 4u; j++) {
            let bv = textureLoad(rhs, vec2<u32>(c4, 4u * k4 + j), lb, 0);
            let s0 = a0[j];
            let s1 = a1[j];
            let s2 = a2[j];
            let s3 = a3[j];
            acc0 = fma(vec4<f32>(subgroupBroadcast(s0, 0u)), bv, acc0);
            acc1 = fma(vec4<f32>(subgroupBroadcast(s0, 1u)), bv, acc1);
            acc2 = fma(vec4<f32>(subgroupBroadcast(s0, 2u)), bv, acc2);
            acc3 = fma(vec4<f32>(subgroupBroadcast(s0, 3u)), bv, acc3);
            acc4 = fma(vec4<f32>(subgroupBroadcast(s0, 4u)), bv, acc4);
            acc5 = fma(vec4<f32>(subgroupBroadcast(s0, 5u)), bv, acc5);
            acc6 = fma(vec4<f32>(subgroupBroadcast(s0, 6u)), bv, acc6);
            acc7 = fma(vec4<f32>(subgroupBroadcast(s0, 7u)), bv, acc7);
            acc8 = fma(vec4<f32>(subgroupBroadcast(s1, 0u)), bv, acc8);
            acc9 = fma(vec4<f32>(subgroupBroadcast(s1, 1u)), bv, acc9);
            acc10 = fma(vec4<f32>(subgroupBroadcast(s1, 2u)), bv, acc10);
            acc11 = fma(vec4<f32>(subgroupBroadcast(s1, 3u)), bv, acc11);
            acc12 = fma(vec4<f32>(subgroupBroadcast(s1, 4u)), bv, acc12);
            acc13 = fma(vec4<f32>(subgroupBroadcast(s1, 5u)), bv, acc13);
            acc14 = fma(vec4<f32>(subgroupBroadcast(s1, 6u)), bv, acc14);
            acc15 = fma(vec4<f32>(subgroupBroadcast(s1, 7u)), bv, acc15);
            acc16 = fma(vec4<f32>(subgroupBroadcast(s2, 0u)), bv, acc16);
            acc17 = fma(vec4<f32>(subgroupBroadcast(s2, 1u)), bv, acc17);
            acc18 = fma(vec4<f32>(subgroupBroadcast(s2, 2u)), bv, acc18);
            acc19 = fma(vec4<f32>(subgroupBroadcast(s2, 3u)), bv, acc19);
            acc20 = fma(vec4<f32>(subgroupBroadcast(s2, 4u)), bv, acc20);
            acc21 = fma(vec4<f32>(subgroupBroadcast(s2, 5u)), bv, acc21);
            acc22 = fma(vec4<f32>(subgroupBroadcast(s2, 6u)), bv, acc22);
            acc23 = fma(vec4<f32>(subgroupBroadcast(s2, 7u)), bv, acc23);
            acc24 = fma(vec4<f32>(subgroupBroadcast(s3, 0u)), bv, acc24);
            acc25 = fma(vec4<f32>(subgroupBroadcast(s3, 1u)), bv, acc25);
            acc26 = fma(vec4<f32>(subgroupBroadcast(s3, 2u)), bv, acc26);
            acc27 = fma(vec4<f32>(subgroupBroadcast(s3, 3u)), bv, acc27);
            acc28 = fma(vec4<f32>(subgroupBroadcast(s3, 4u)), bv, acc28);
            acc29 = fma(vec4<f32>(subgroupBroadcast(s3, 5u)), bv, acc29);
            acc30 = fma(vec4<f32>(subgroupBroadcast(s3, 6u)), bv, acc30);
            acc31 = fma(vec4<f32>(subgroupBroadcast(s3, 7u)), bv, acc31);
        }
    }
    store_row(b, row0 + 0u, c4 * 4u, acc0);
    store_row(b, row0 + 1u, c4 * 4u, acc1);
    store_row(b, row0 + 2u, c4 * 4u, acc2);
    store_row(b, row0 + 3u, c4 * 4u, acc3);
    store_row(b, row0 + 4u, c4 * 4u, acc4);
    store_row(b, row0 + 5u, c4 * 4u, acc5);
    store_row(b, row0 + 6u, c4 * 4u, acc6);
    store_row(b, row0 + 7u, c4 * 4u, acc7);
    store_row(b, row0 + 8u, c4 * 4u, acc8);
    store_row(b, row0 + 9u, c4 * 4u, acc9);
    store_row(b, row0 + 10u, c4 * 4u, acc10);
    store_row(b, row0 + 11u, c4 * 4u, acc11);
    store_row(b, row0 + 12u, c4 * 4u, acc12);
    store_row(b, row0 + 13u, c4 * 4u, acc13);
    store_row(b, row0 + 14u, c4 * 4u, acc14);
    store_row(b, row0 + 15u, c4 * 4u, acc15);
    store_row(b, row0 + 16u, c4 * 4u, acc16);
    store_row(b, row0 + 17u, c4 * 4u, acc17);
    store_row(b, row0 + 18u, c4 * 4u, acc18);
    store_row(b, row0 + 19u, c4 * 4u, acc19);
    store_row(b, row0 + 20u, c4 * 4u, acc20);
    store_row(b, row0 + 21u, c4 * 4u, acc21);
    store_row(b, row0 + 22u, c4 * 4u, acc22);
    store_row(b, row0 + 23u, c4 * 4u, acc23);
    store_row(b, row0 + 24u, c4 * 4u, acc24);
    store_row(b, row0 + 25u, c4 * 4u, acc25);
    store_row(b, row0 + 26u, c4 * 4u, acc26);
    store_row(b, row0 + 27u, c4 * 4u, acc27);
    store_row(b, row0 + 28u, c4 * 4u, acc28);
    store_row(b, row0 + 29u, c4 * 4u, acc29);
    store_row(b, row0 + 30u, c4 * 4u, acc30);
    store_row(b, row0 + 31u, c4 * 4u, acc31);
}
