// matmul.wgsl: batched matrix product out[b, m, n] = Σ_k lhs[b, m, k] · rhs[b, k, n].
//
// Entry points (all compute the same thing; matmul.rs picks one per adapter):
// - matmul_rb: register blocking, no workgroup memory and no barriers. Each invocation keeps a 4x4 tile of
//   `out` in registers and streams its 4 rows of lhs and 4 columns of rhs from memory, so every loaded value
//   feeds 4 FMAs (Volkov & Demmel, "Benchmarking GPUs to tune dense linear algebra", SC 2008, register
//   blocking; the same shape as wgpu-mm's gemm without shared memory). Portable fallback.
// - matmul_sg lives in matmul_sg.wgsl: it needs the SUBGROUP feature, and a module using subgroup builtins
//   would fail to compile on devices without it, taking these entries down with it.
// - matmul_tiled: workgroup-memory tiling with a 2-D register tile per thread ("kernel 5: 2D blocktiling" of
//   S. Boehm, "How to optimize a CUDA matmul kernel for cuBLAS-like performance", 2022). A 16x16 workgroup
//   computes a 64x64 block of `out`; per 16-wide step of k it stages a 64x16 lhs tile and a 16x64 rhs tile in
//   workgroup memory (converted to f32), then each thread multiplies 4 rows by 4 columns from there.
//
// Operands are arbitrary strided views: element (b, i, j) of lhs sits at lhs_off + b·lhs_sb + i·lhs_sm +
// j·lhs_sk (a batch stride of 0 broadcasts, a transposed operand is just swapped strides), same for rhs.
// `out` is contiguous [batch, m, n]; with `accumulate` the product is added to it (the host splits a long k
// range into dispatches, since llvmpipe ends an invocation's loops after 65,535 iterations). Edges: out-of-range rows and columns are clamped on load (matmul_rb) or
// zero-filled (matmul_tiled) and never stored, so any m, n, k ≥ 1 works (k = 0 writes zeros).
//
// Grid: Linear(batch · tiles_m · tiles_n); workgroup id = wid.x + wid.y · nwg.x. Blocks: matmul_rb
// (4·WG_Y) x (4·WG_X), matmul_tiled 64 x 64.
//
// Bindings (group 0):
//   0 read        lhs    array<T>  strided [batch, m, k]
//   1 read        rhs    array<T>  strided [batch, k, n]
//   2 read_write  out    array<T>  contiguous [batch, m, n]
//   3 uniform     params Params (u32 words, below)
// Overrides:
//   WG_X = 8, WG_Y = 8   matmul_rb workgroup size; a workgroup covers (4·WG_Y) x (4·WG_X) outputs.
//                        matmul_tiled has a fixed 16x16 workgroup: its 64x64 tile depends on it.
// Accumulation is in f32 whatever T is (T = f16 with `enable f16;`).

alias T = f32;

struct Params {
    batch: u32,
    m: u32,
    n: u32,
    k: u32,
    lhs_sb: u32,
    lhs_sm: u32,
    lhs_sk: u32,
    lhs_off: u32,
    rhs_sb: u32,
    rhs_sk: u32,
    rhs_sn: u32,
    rhs_off: u32,
    // Tiles along m and n of the variant's block size (the host computes them).
    tiles_m: u32,
    tiles_n: u32,
    // 1: add to `out` instead of storing (the later chunks of a long k range; see matmul.rs).
    accumulate: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> lhs: array<T>;
@group(0) @binding(1) var<storage, read> rhs: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

override WG_X: u32 = 8u;
override WG_Y: u32 = 8u;

// Which (batch, tile row, tile column) a workgroup computes; batch >= params.batch means none.
fn tile_of(wid: vec3<u32>, nwg: vec3<u32>) -> vec3<u32> {
    let id = wid.x + wid.y * nwg.x;
    let per_batch = params.tiles_m * params.tiles_n;
    let b = id / per_batch;
    let r = id - b * per_batch;
    return vec3<u32>(b, r / params.tiles_n, r % params.tiles_n);
}

// Stores row `i` of a 4x4 register tile at (row, col0..col0+3), skipping columns past n.
fn store_row(b: u32, row: u32, col0: u32, v: vec4<f32>) {
    if row >= params.m {
        return;
    }
    let base = (b * params.m + row) * params.n;
    for (var c = 0u; c < 4u; c++) {
        if col0 + c < params.n {
            let i = base + col0 + c;
            out[i] = T(select(v[c], f32(out[i]) + v[c], params.accumulate != 0u));
        }
    }
}

// Computes the 4x4 block of `out` at (row0, col0) of batch b from global memory and stores its in-range part.
fn rb_tile(b: u32, row0: u32, col0: u32) {
    // Clamp rows and columns into range so the k loop needs no branches; clamped results are never stored.
    let m1 = params.m - 1u;
    let n1 = params.n - 1u;
    let a_base = params.lhs_off + b * params.lhs_sb;
    let a0 = a_base + min(row0, m1) * params.lhs_sm;
    let a1 = a_base + min(row0 + 1u, m1) * params.lhs_sm;
    let a2 = a_base + min(row0 + 2u, m1) * params.lhs_sm;
    let a3 = a_base + min(row0 + 3u, m1) * params.lhs_sm;
    let b_base = params.rhs_off + b * params.rhs_sb;
    let b0 = b_base + min(col0, n1) * params.rhs_sn;
    let b1 = b_base + min(col0 + 1u, n1) * params.rhs_sn;
    let b2 = b_base + min(col0 + 2u, n1) * params.rhs_sn;
    let b3 = b_base + min(col0 + 3u, n1) * params.rhs_sn;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var kk = 0u; kk < params.k; kk++) {
        let ka = kk * params.lhs_sk;
        let kb = kk * params.rhs_sk;
        let bv = vec4<f32>(f32(rhs[b0 + kb]), f32(rhs[b1 + kb]), f32(rhs[b2 + kb]), f32(rhs[b3 + kb]));
        acc0 = fma(vec4<f32>(f32(lhs[a0 + ka])), bv, acc0);
        acc1 = fma(vec4<f32>(f32(lhs[a1 + ka])), bv, acc1);
        acc2 = fma(vec4<f32>(f32(lhs[a2 + ka])), bv, acc2);
        acc3 = fma(vec4<f32>(f32(lhs[a3 + ka])), bv, acc3);
    }
    store_row(b, row0, col0, acc0);
    store_row(b, row0 + 1u, col0, acc1);
    store_row(b, row0 + 2u, col0, acc2);
    store_row(b, row0 + 3u, col0, acc3);
}

@compute @workgroup_size(WG_X, WG_Y)
fn matmul_rb(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let t = tile_of(wid, nwg);
    if t.x >= params.batch {
        return;
    }
    rb_tile(t.x, (t.y * WG_Y + lid.y) * 4u, (t.z * WG_X + lid.x) * 4u);
}

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;

// lhs tile stored k-major (a_tile[kk * TILE + i]) so a thread's 4 rows are one vec4 read.
var<workgroup> a_tile: array<vec4<f32>, 256>; // TILE_K * TILE / 4
var<workgroup> b_tile: array<vec4<f32>, 256>; // TILE_K * TILE / 4

fn load_lhs(b: u32, row: u32, kk: u32) -> f32 {
    if row >= params.m || kk >= params.k {
        return 0.0;
    }
    return f32(lhs[params.lhs_off + b * params.lhs_sb + row * params.lhs_sm + kk * params.lhs_sk]);
}

fn load_rhs(b: u32, kk: u32, col: u32) -> f32 {
    if kk >= params.k || col >= params.n {
        return 0.0;
    }
    return f32(rhs[params.rhs_off + b * params.rhs_sb + kk * params.rhs_sk + col * params.rhs_sn]);
}

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    // Uniform per workgroup, so the early return keeps barriers in uniform control flow.
    let t = tile_of(wid, nwg);
    if t.x >= params.batch {
        return;
    }
    let row_tile = t.y * TILE;
    let col_tile = t.z * TILE;
    // Loader roles: thread li stages lhs rows 4·(li % 16)..+3 at k offset li / 16, and rhs row li / 16,
    // columns 4·(li % 16)..+3.
    let lr = (li % 16u) * 4u;
    let lk = li / 16u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        let kk = k0 + lk;
        a_tile[li] = vec4<f32>(
            load_lhs(t.x, row_tile + lr, kk),
            load_lhs(t.x, row_tile + lr + 1u, kk),
            load_lhs(t.x, row_tile + lr + 2u, kk),
            load_lhs(t.x, row_tile + lr + 3u, kk),
        );
        b_tile[li] = vec4<f32>(
            load_rhs(t.x, kk, col_tile + lr),
            load_rhs(t.x, kk, col_tile + lr + 1u),
            load_rhs(t.x, kk, col_tile + lr + 2u),
            load_rhs(t.x, kk, col_tile + lr + 3u),
        );
        workgroupBarrier();
        for (var q = 0u; q < TILE_K; q++) {
            let av = a_tile[q * 16u + lid.y];
            let bv = b_tile[q * 16u + lid.x];
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }
    let row0 = row_tile + lid.y * 4u;
    let col0 = col_tile + lid.x * 4u;
    store_row(t.x, row0, col0, acc0);
    store_row(t.x, row0 + 1u, col0, acc1);
    store_row(t.x, row0 + 2u, col0, acc2);
    store_row(t.x, row0 + 3u, col0, acc3);
}
