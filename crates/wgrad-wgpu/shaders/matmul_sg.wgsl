// matmul_sg.wgsl: batched matrix product out[b, m, n] = Σ_k lhs[b, m, k] · rhs[b, k, n].
//
// This file is not a module on its own: matmul.rs appends it to matmul.wgsl (`concat!`), whose Params,
// bindings, tile_of, store_row and rb_tile it uses. It stays a separate file because a module that
// mentions subgroup builtins fails on devices without SUBGROUP, and the portable entries must not.
//
// Entry point (same contract as matmul.wgsl, whose matmul.rs picks it for software adapters with subgroups):
// - matmul_sg: register blocking shared across a subgroup, for software adapters (lavapipe). One workgroup is
//   one 8-lane subgroup computing a 32x32 block; lane l keeps rows 0..31 x columns 4l..4l+3 in 32 vec4
//   registers. Per step of k, lane l loads lhs rows l, l+8, l+16, l+24 and its 4 rhs columns (8 loads), and
//   the lanes swap lhs values with subgroupBroadcast (a register shuffle on llvmpipe) instead of each lane
//   loading all 32: llvmpipe executes every storage-buffer load lane by lane, so loads, not FMAs, bound
//   the speed, and this tile does 16 FMAs per loaded element against 2 for matmul_rb. No barriers and no
//   workgroup memory (llvmpipe runs barriers as coroutine switches). If the subgroup is not 8 lanes wide
//   (e.g. llvmpipe on 128-bit SSE hosts) the lanes fall back to matmul_rb's arithmetic.
//
// Operands are arbitrary strided views: element (b, i, j) of lhs sits at lhs_off + b·lhs_sb + i·lhs_sm +
// j·lhs_sk (a batch stride of 0 broadcasts, a transposed operand is just swapped strides), same for rhs.
// `out` is contiguous [batch, m, n]. Edges: out-of-range rows and columns are clamped on load and never
// stored, so any m, n, k ≥ 1 works (k = 0 writes zeros).
//
// Grid: Linear(batch · tiles_m · tiles_n); workgroup id = wid.x + wid.y · nwg.x. Block: 32 x 32.
//
// Bindings (group 0):
//   0 read        lhs    array<T>  strided [batch, m, k]
//   1 read        rhs    array<T>  strided [batch, k, n]
//   2 read_write  out    array<T>  contiguous [batch, m, n]
//   3 uniform     params Params (matmul.wgsl)
// Overrides: none; the workgroup is one subgroup of 8 lanes (the tile depends on it).
// Needs wgpu::Features::SUBGROUP (naga Capabilities::SUBGROUP).
// Accumulation is in f32 whatever T is (T = f16 with `enable f16;`).

@compute @workgroup_size(8)
fn matmul_sg(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    let t = tile_of(wid, nwg);
    if t.x >= params.batch {
        return;
    }
    let row0 = t.y * 32u;
    if sg_size != 8u {
        for (var r = 0u; r < 32u; r += 4u) {
            rb_tile(t.x, row0 + r, t.z * 32u + li * 4u);
        }
        return;
    }
    // The workgroup is exactly one subgroup: the lane that loads lhs row r is the lane broadcast from.
    let lane = sg_lane;
    let col0 = t.z * 32u + lane * 4u;
    let m1 = params.m - 1u;
    let n1 = params.n - 1u;
    let a_base = params.lhs_off + t.x * params.lhs_sb;
    let ar0 = a_base + min(row0 + lane, m1) * params.lhs_sm;
    let ar1 = a_base + min(row0 + 8u + lane, m1) * params.lhs_sm;
    let ar2 = a_base + min(row0 + 16u + lane, m1) * params.lhs_sm;
    let ar3 = a_base + min(row0 + 24u + lane, m1) * params.lhs_sm;
    let b_base = params.rhs_off + t.x * params.rhs_sb;
    let b0 = b_base + min(col0, n1) * params.rhs_sn;
    let b1 = b_base + min(col0 + 1u, n1) * params.rhs_sn;
    let b2 = b_base + min(col0 + 2u, n1) * params.rhs_sn;
    let b3 = b_base + min(col0 + 3u, n1) * params.rhs_sn;
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
    for (var kk = 0u; kk < params.k; kk++) {
        let ka = kk * params.lhs_sk;
        let kb = kk * params.rhs_sk;
        let bv = vec4<f32>(f32(rhs[b0 + kb]), f32(rhs[b1 + kb]), f32(rhs[b2 + kb]), f32(rhs[b3 + kb]));
        let a0 = f32(lhs[ar0 + ka]);
        let a1 = f32(lhs[ar1 + ka]);
        let a2 = f32(lhs[ar2 + ka]);
        let a3 = f32(lhs[ar3 + ka]);
        acc0 = fma(vec4<f32>(subgroupBroadcast(a0, 0u)), bv, acc0);
        acc1 = fma(vec4<f32>(subgroupBroadcast(a0, 1u)), bv, acc1);
        acc2 = fma(vec4<f32>(subgroupBroadcast(a0, 2u)), bv, acc2);
        acc3 = fma(vec4<f32>(subgroupBroadcast(a0, 3u)), bv, acc3);
        acc4 = fma(vec4<f32>(subgroupBroadcast(a0, 4u)), bv, acc4);
        acc5 = fma(vec4<f32>(subgroupBroadcast(a0, 5u)), bv, acc5);
        acc6 = fma(vec4<f32>(subgroupBroadcast(a0, 6u)), bv, acc6);
        acc7 = fma(vec4<f32>(subgroupBroadcast(a0, 7u)), bv, acc7);
        acc8 = fma(vec4<f32>(subgroupBroadcast(a1, 0u)), bv, acc8);
        acc9 = fma(vec4<f32>(subgroupBroadcast(a1, 1u)), bv, acc9);
        acc10 = fma(vec4<f32>(subgroupBroadcast(a1, 2u)), bv, acc10);
        acc11 = fma(vec4<f32>(subgroupBroadcast(a1, 3u)), bv, acc11);
        acc12 = fma(vec4<f32>(subgroupBroadcast(a1, 4u)), bv, acc12);
        acc13 = fma(vec4<f32>(subgroupBroadcast(a1, 5u)), bv, acc13);
        acc14 = fma(vec4<f32>(subgroupBroadcast(a1, 6u)), bv, acc14);
        acc15 = fma(vec4<f32>(subgroupBroadcast(a1, 7u)), bv, acc15);
        acc16 = fma(vec4<f32>(subgroupBroadcast(a2, 0u)), bv, acc16);
        acc17 = fma(vec4<f32>(subgroupBroadcast(a2, 1u)), bv, acc17);
        acc18 = fma(vec4<f32>(subgroupBroadcast(a2, 2u)), bv, acc18);
        acc19 = fma(vec4<f32>(subgroupBroadcast(a2, 3u)), bv, acc19);
        acc20 = fma(vec4<f32>(subgroupBroadcast(a2, 4u)), bv, acc20);
        acc21 = fma(vec4<f32>(subgroupBroadcast(a2, 5u)), bv, acc21);
        acc22 = fma(vec4<f32>(subgroupBroadcast(a2, 6u)), bv, acc22);
        acc23 = fma(vec4<f32>(subgroupBroadcast(a2, 7u)), bv, acc23);
        acc24 = fma(vec4<f32>(subgroupBroadcast(a3, 0u)), bv, acc24);
        acc25 = fma(vec4<f32>(subgroupBroadcast(a3, 1u)), bv, acc25);
        acc26 = fma(vec4<f32>(subgroupBroadcast(a3, 2u)), bv, acc26);
        acc27 = fma(vec4<f32>(subgroupBroadcast(a3, 3u)), bv, acc27);
        acc28 = fma(vec4<f32>(subgroupBroadcast(a3, 4u)), bv, acc28);
        acc29 = fma(vec4<f32>(subgroupBroadcast(a3, 5u)), bv, acc29);
        acc30 = fma(vec4<f32>(subgroupBroadcast(a3, 6u)), bv, acc30);
        acc31 = fma(vec4<f32>(subgroupBroadcast(a3, 7u)), bv, acc31);
    }
    store_row(t.x, row0, col0, acc0);
    store_row(t.x, row0 + 1u, col0, acc1);
    store_row(t.x, row0 + 2u, col0, acc2);
    store_row(t.x, row0 + 3u, col0, acc3);
    store_row(t.x, row0 + 4u, col0, acc4);
    store_row(t.x, row0 + 5u, col0, acc5);
    store_row(t.x, row0 + 6u, col0, acc6);
    store_row(t.x, row0 + 7u, col0, acc7);
    store_row(t.x, row0 + 8u, col0, acc8);
    store_row(t.x, row0 + 9u, col0, acc9);
    store_row(t.x, row0 + 10u, col0, acc10);
    store_row(t.x, row0 + 11u, col0, acc11);
    store_row(t.x, row0 + 12u, col0, acc12);
    store_row(t.x, row0 + 13u, col0, acc13);
    store_row(t.x, row0 + 14u, col0, acc14);
    store_row(t.x, row0 + 15u, col0, acc15);
    store_row(t.x, row0 + 16u, col0, acc16);
    store_row(t.x, row0 + 17u, col0, acc17);
    store_row(t.x, row0 + 18u, col0, acc18);
    store_row(t.x, row0 + 19u, col0, acc19);
    store_row(t.x, row0 + 20u, col0, acc20);
    store_row(t.x, row0 + 21u, col0, acc21);
    store_row(t.x, row0 + 22u, col0, acc22);
    store_row(t.x, row0 + 23u, col0, acc23);
    store_row(t.x, row0 + 24u, col0, acc24);
    store_row(t.x, row0 + 25u, col0, acc25);
    store_row(t.x, row0 + 26u, col0, acc26);
    store_row(t.x, row0 + 27u, col0, acc27);
    store_row(t.x, row0 + 28u, col0, acc28);
    store_row(t.x, row0 + 29u, col0, acc29);
    store_row(t.x, row0 + 30u, col0, acc30);
    store_row(t.x, row0 + 31u, col0, acc31);
}
