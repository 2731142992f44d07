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
//   2 read_write out    array<T>  contiguous [batch, m, n] (or [batch, n, m], out_t) from element out_offset
//   3 uniform    params Params
// Needs wgpu::Features::SUBGROUP (naga Capabilities::SUBGROUP). Accumulation in f32 whatever T is.
// The k step (fma32) is in tex_tile.wgsl, which the host prepends to this file.

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
    // 1: store the product transposed, out[b, col, row] (the host computed outᵀ = rhsᵀ · lhsᵀ).
    out_t: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var lhs: texture_2d_array<f32>;
@group(0) @binding(1) var rhs: texture_2d_array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

// Stores one accumulator row at (row, col0..col0+3) of batch b, skipping rows past m and columns past n;
// at out[b, col, row] when out_t is set.
fn store_row(b: u32, row: u32, col0: u32, v: vec4<f32>) {
    if row >= params.m {
        return;
    }
    var base = params.out_offset + (b * params.m + row) * params.n + col0;
    var step = 1u;
    if params.out_t != 0u {
        base = params.out_offset + (b * params.n + col0) * params.m + row;
        step = params.m;
    }
    for (var c = 0u; c < 4u; c++) {
        if col0 + c < params.n {
            out[base + c * step] = T(v[c]);
        }
    }
}

// Stores eight accumulator rows starting at row0.
fn store8(b: u32, row0: u32, col0: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
    for (var r = 0u; r < 8u; r++) {
        store_row(b, row0 + r, col0, (*acc)[r]);
    }
}

@compute @workgroup_size(8)
fn matmul_tex(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let block = block_of(wid, nwg, lane, params.batch, params.tiles_m, params.tiles_n);
    let b = block.x;
    if b >= params.batch {
        return;
    }
    let row0 = block.y;
    let c4 = block.z;
    let arow = row0 + lane;
    // acc_q[r] is row 8q + r of the block, columns 4·c4 .. 4·c4 + 3.
    var acc0 = array<vec4<f32>, 8>();
    var acc1 = array<vec4<f32>, 8>();
    var acc2 = array<vec4<f32>, 8>();
    var acc3 = array<vec4<f32>, 8>();
    let la = b * params.lhs_bstep;
    let lb = b * params.rhs_bstep;
    for (var k4 = 0u; k4 < params.k4s; k4++) {
        let a0 = textureLoad(lhs, vec2<u32>(k4, arow + 0u), la, 0);
        let a1 = textureLoad(lhs, vec2<u32>(k4, arow + 8u), la, 0);
        let a2 = textureLoad(lhs, vec2<u32>(k4, arow + 16u), la, 0);
        let a3 = textureLoad(lhs, vec2<u32>(k4, arow + 24u), la, 0);
        // k = 4·k4 + j: component j of each lhs texel, rhs texel row 4·k4 + j. Unrolled (fma_k4): a loop
        // over j with a dynamic component index measured 12% slower at n = 1024.
        let k = 4u * k4;
        let b0 = textureLoad(rhs, vec2<u32>(c4, k), lb, 0);
        let b1 = textureLoad(rhs, vec2<u32>(c4, k + 1u), lb, 0);
        let b2 = textureLoad(rhs, vec2<u32>(c4, k + 2u), lb, 0);
        let b3 = textureLoad(rhs, vec2<u32>(c4, k + 3u), lb, 0);
        fma_k4(a0, a1, a2, a3, b0, b1, b2, b3, &acc0, &acc1, &acc2, &acc3);
    }
    store8(b, row0, c4 * 4u, &acc0);
    store8(b, row0 + 8u, c4 * 4u, &acc1);
    store8(b, row0 + 16u, c4 * 4u, &acc2);
    store8(b, row0 + 24u, c4 * 4u, &acc3);
}
