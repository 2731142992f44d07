// tex_tile.wgsl: the register tile shared by the texture products (matmul_tex.wgsl, conv2d_taps.wgsl).
//
// Not a module on its own: the Rust side prepends it to those files (`concat!`). One 8-lane subgroup
// computes a 32x32 block of the output: lane l keeps rows 0..31 x columns 4l..4l+3 in four arrays of eight
// vec4 accumulators (acc_q[r] is row 8q + r), and lane r holds lhs row r (+ 8q) of the current k, which the
// other lanes read with subgroupBroadcast (a register shuffle on llvmpipe) instead of loading it.
// Needs wgpu::Features::SUBGROUP.

// The block workgroup `wid` computes in a grid of `batch` images of tiles_m x tiles_n blocks (Grid::Linear,
// workgroup id = wid.x + wid.y · nwg.x): (image, first row, this lane's column texel); image = batch when
// the workgroup is past the end (the caller returns).
fn block_of(wid: vec3<u32>, nwg: vec3<u32>, lane: u32, batch: u32, tiles_m: u32, tiles_n: u32) -> vec3<u32> {
    let id = wid.x + wid.y * nwg.x;
    let per_batch = tiles_m * tiles_n;
    let b = min(id / per_batch, batch);
    let tile = id - b * per_batch;
    return vec3<u32>(b, (tile / tiles_n) * 32u, (tile % tiles_n) * 8u + lane);
}

// One k step of eight accumulator rows: row r of `acc` gains lane r's value of `s` times `bv` (the lane that
// loaded lhs row r holds it; subgroupBroadcast needs a constant lane, hence the unrolled body).
fn fma8(s: f32, bv: vec4<f32>, acc: ptr<function, array<vec4<f32>, 8>>) {
    (*acc)[0] = fma(vec4<f32>(subgroupBroadcast(s, 0u)), bv, (*acc)[0]);
    (*acc)[1] = fma(vec4<f32>(subgroupBroadcast(s, 1u)), bv, (*acc)[1]);
    (*acc)[2] = fma(vec4<f32>(subgroupBroadcast(s, 2u)), bv, (*acc)[2]);
    (*acc)[3] = fma(vec4<f32>(subgroupBroadcast(s, 3u)), bv, (*acc)[3]);
    (*acc)[4] = fma(vec4<f32>(subgroupBroadcast(s, 4u)), bv, (*acc)[4]);
    (*acc)[5] = fma(vec4<f32>(subgroupBroadcast(s, 5u)), bv, (*acc)[5]);
    (*acc)[6] = fma(vec4<f32>(subgroupBroadcast(s, 6u)), bv, (*acc)[6]);
    (*acc)[7] = fma(vec4<f32>(subgroupBroadcast(s, 7u)), bv, (*acc)[7]);
}

// One k step of all 32 rows: a0..a3 hold lhs rows lane, lane + 8, lane + 16, lane + 24 at this k.
fn fma32(a: vec4<f32>, bv: vec4<f32>, acc0: ptr<function, array<vec4<f32>, 8>>,
         acc1: ptr<function, array<vec4<f32>, 8>>, acc2: ptr<function, array<vec4<f32>, 8>>,
         acc3: ptr<function, array<vec4<f32>, 8>>) {
    fma8(a.x, bv, acc0);
    fma8(a.y, bv, acc1);
    fma8(a.z, bv, acc2);
    fma8(a.w, bv, acc3);
}

// Four k steps k .. k + 3: a_q is lhs row lane + 8q at those k (one texel), b_j is this lane's rhs columns
// at k + j.
fn fma_k4(a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>,
          b2: vec4<f32>, b3: vec4<f32>, acc0: ptr<function, array<vec4<f32>, 8>>,
          acc1: ptr<function, array<vec4<f32>, 8>>, acc2: ptr<function, array<vec4<f32>, 8>>,
          acc3: ptr<function, array<vec4<f32>, 8>>) {
    fma32(vec4<f32>(a0.x, a1.x, a2.x, a3.x), b0, acc0, acc1, acc2, acc3);
    fma32(vec4<f32>(a0.y, a1.y, a2.y, a3.y), b1, acc0, acc1, acc2, acc3);
    fma32(vec4<f32>(a0.z, a1.z, a2.z, a3.z), b2, acc0, acc1, acc2, acc3);
    fma32(vec4<f32>(a0.w, a1.w, a2.w, a3.w), b3, acc0, acc1, acc2, acc3);
}
