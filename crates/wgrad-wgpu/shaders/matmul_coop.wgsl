// matmul_coop.wgsl: f16 batched matrix product out[b, m, n] = Σ_k lhs[b, m, k] · rhs[b, k, n] on the GPU's
// matrix units (tensor cores on NVIDIA, through Vulkan's VK_KHR_cooperative_matrix; simdgroup matrices on
// Metal), with f16 operands and an f32 accumulator, as PyTorch's f16 matmul accumulates.
//
// Entry point: matmul_coop. One workgroup is one subgroup (WG = the adapter's subgroup size) computing a
// 32x32 block of `out` as 2x2 cooperative 16x16 tiles: per 16-wide step of k it loads two 16x16 tiles of
// lhs and two of rhs straight from storage (coopLoadT for a row-major operand, coopLoad for a transposed,
// column-major one) and does four multiply-adds. At the end each f32 tile goes through workgroup memory,
// where every lane converts its share to f16 and stores it (a cooperative store would need an f32 output).
//
// The host takes this kernel only where it needs no edge handling: m and n multiples of 32, k of 16, each
// operand row- or column-major with its offset, batch stride and leading stride multiples of 8 elements
// (16 bytes); everything else stays on the other kernels.
//
// Grid: Linear(batch · tiles_m · tiles_n); workgroup id = wid.x + wid.y · nwg.x.
// Bindings (group 0):
//   0 read        lhs    array<f16>  [batch, m, k]: element (b, i, j) at lhs_off + b·lhs_sb + i·lhs_si + j·lhs_sj
//   1 read        rhs    array<f16>  [batch, k, n]: likewise with rhs_*
//   2 read_write  out    array<f16>  contiguous [batch, m, n]
//   3 uniform     params Params
// Needs wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX (16x16x16, f16 A and B, f32 C) and SHADER_F16.

enable f16;
enable wgpu_cooperative_matrix;

struct Params {
    batch: u32,
    m: u32,
    n: u32,
    k: u32,
    lhs_off: u32,
    lhs_sb: u32,
    // The stride between rows (row-major, lhs_row_major = 1) or between columns (column-major).
    lhs_lead: u32,
    lhs_row_major: u32,
    rhs_off: u32,
    rhs_sb: u32,
    rhs_lead: u32,
    rhs_row_major: u32,
    tiles_m: u32,
    tiles_n: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> lhs: array<f16>;
@group(0) @binding(1) var<storage, read> rhs: array<f16>;
@group(0) @binding(2) var<storage, read_write> out: array<f16>;
@group(0) @binding(3) var<uniform> params: Params;

override WG: u32 = 32u;

// One f32 16x16 tile on its way to f16.
var<workgroup> stage: array<f32, 256>;

// The 16x16 tile of lhs at rows i.., columns j.. of batch b.
fn lhs_tile(b: u32, i: u32, j: u32) -> coop_mat16x16<f16, A> {
    let base = params.lhs_off + b * params.lhs_sb;
    if params.lhs_row_major != 0u {
        return coopLoadT<coop_mat16x16<f16, A>>(&lhs[base + i * params.lhs_lead + j], params.lhs_lead);
    }
    return coopLoad<coop_mat16x16<f16, A>>(&lhs[base + j * params.lhs_lead + i], params.lhs_lead);
}

// The 16x16 tile of rhs at rows i.., columns j.. of batch b.
fn rhs_tile(b: u32, i: u32, j: u32) -> coop_mat16x16<f16, B> {
    let base = params.rhs_off + b * params.rhs_sb;
    if params.rhs_row_major != 0u {
        return coopLoadT<coop_mat16x16<f16, B>>(&rhs[base + i * params.rhs_lead + j], params.rhs_lead);
    }
    return coopLoad<coop_mat16x16<f16, B>>(&rhs[base + j * params.rhs_lead + i], params.rhs_lead);
}

// Stores tile `c` at rows i.., columns j.. of batch b of `out`, converted to f16 by the lanes.
fn store_tile(c: coop_mat16x16<f32, C>, b: u32, i: u32, j: u32, lane: u32) {
    coopStoreT(c, &stage[0], 16u);
    workgroupBarrier();
    for (var e = lane; e < 256u; e += WG) {
        let row = i + e / 16u;
        out[(b * params.m + row) * params.n + j + e % 16u] = f16(stage[e]);
    }
    workgroupBarrier();
}

@compute @workgroup_size(WG)
fn matmul_coop(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    // Uniform per workgroup, so the early return keeps the cooperative operations in uniform control flow.
    let id = wid.x + wid.y * nwg.x;
    let per_batch = params.tiles_m * params.tiles_n;
    let b = id / per_batch;
    if b >= params.batch {
        return;
    }
    let t = id - b * per_batch;
    let i0 = (t / params.tiles_n) * 32u;
    let j0 = (t % params.tiles_n) * 32u;
    var c00 = coop_mat16x16<f32, C>();
    var c01 = coop_mat16x16<f32, C>();
    var c10 = coop_mat16x16<f32, C>();
    var c11 = coop_mat16x16<f32, C>();
    for (var k0 = 0u; k0 < params.k; k0 += 16u) {
        let a0 = lhs_tile(b, i0, k0);
        let a1 = lhs_tile(b, i0 + 16u, k0);
        let b0 = rhs_tile(b, k0, j0);
        let b1 = rhs_tile(b, k0, j0 + 16u);
        c00 = coopMultiplyAdd(a0, b0, c00);
        c01 = coopMultiplyAdd(a0, b1, c01);
        c10 = coopMultiplyAdd(a1, b0, c10);
        c11 = coopMultiplyAdd(a1, b1, c11);
    }
    store_tile(c00, b, i0, j0, lane);
    store_tile(c01, b, i0, j0 + 16u, lane);
    store_tile(c10, b, i0 + 16u, j0, lane);
    store_tile(c11, b, i0 + 16u, j0 + 16u, lane);
}
