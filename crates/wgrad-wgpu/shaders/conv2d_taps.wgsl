// conv2d_taps.wgsl: 2-D convolutions (groups = 1) as texture products whose unfolded operand is never
// stored: the product reads it straight from a channels-last copy of the activation, for software adapters
// (lavapipe/llvmpipe) with 8-lane subgroups. The host prepends tex_tile.wgsl (the 32x32 register tile).
//
// The activation texture (conv2d_taps_pack.wgsl, entry `nhwc`) holds image b in layer b, texel
// (c4, y·wp + x) = a[b, 4·c4 .. 4·c4 + 3, y - pt, x - pl], zero outside the image and past the channels,
// so the taps of every position are in range and padding costs no test. With k ordered as (tap i, tap j,
// channel), four consecutive k of one position are one texel: the unfolded matrix costs one texel load per
// four values, as a packed operand does, without a pack pass over kh·kw times the activation.
//
// Entry points, per image b (one texture layer):
// - conv_taps: out[b] [n = columns, m = positions] = (cols[b] [positions, K] · wt [K, columns])ᵀ, with
//   cols[b] row p = position (p / ow, p % ow) read at texture row origin + (p / ow)·pos_dy +
//   (p % ow)·pos_dx + i·tap_dy + j·tap_dx for tap (i, j) < (kh, kw). The forward pass (activation x,
//   columns c_out) and the input gradient (activation dy padded, taps flipped in wt, columns c_in; at a
//   stride over 1 one dispatch per phase, each a sub-kernel, see kernels/conv2d_taps/walk.rs). The
//   transposed store writes NCHW directly, position (py, px) at pixel (y0 + sy·py, x0 + sx·px).
// - conv_taps_wgrad: out[b] [m = c_out, (channels, taps)] = dy[b] [c_out, positions] · cols[b], the
//   weight gradient of one image: lhs is dy[b] packed as a plain matrix (texture_pack.wgsl), rhs the
//   unfolded x read as above, with this lane's column texel fixing (tap, channel texel). The store puts
//   column (tap, channel) at channel·taps + tap, the [c_out, c_in, kh, kw] order.
//
// Grid: Linear(batch · tiles_m · tiles_n); workgroup id = wid.x + wid.y · nwg.x. Block: 32 x 32.
// Bindings (group 0):
//   0 texture    lhs    texture_2d_array<f32>  conv_taps: the activation; wgrad: dy as [c_out, positions]
//   1 texture    rhs    texture_2d_array<f32>  conv_taps: wt [K, columns] (layer 0); wgrad: the activation
//   2 read_write out    array<T>  from element out_offset
//   3 uniform    params Params
// Needs wgpu::Features::SUBGROUP. Accumulation in f32 whatever T is.

alias T = f32;

struct Params {
    batch: u32,
    // conv_taps: positions (rows) and columns of one image's product; wgrad: c_out and columns.
    m: u32,
    n: u32,
    // Texels along k: kh·kw·c4s (conv_taps) or ceil(positions / 4) (wgrad).
    k4s: u32,
    tiles_m: u32,
    tiles_n: u32,
    out_offset: u32,
    // Channel texels per tap, and the taps.
    c4s: u32,
    kh: u32,
    kw: u32,
    // Texture rows between taps (i, j) and (i + 1, j), and (i, j) and (i, j + 1).
    tap_dy: u32,
    tap_dx: u32,
    // Output width, positions, and texture rows between neighbouring output rows and columns.
    ow: u32,
    positions: u32,
    pos_dy: u32,
    pos_dx: u32,
    // wgrad: the real channels (columns past them are padding).
    channels: u32,
    // 1 when the lhs / rhs textures have one layer per image, 0 when one layer serves all.
    lhs_bstep: u32,
    rhs_bstep: u32,
    // Texture row of tap (0, 0) at position (0, 0).
    origin: u32,
    // conv_taps' store: position (py, px) goes to pixel (y0 + sy·py, x0 + sx·px) of an output plane of
    // `plane` pixels, `out_w` wide (the dense case: y0 = x0 = 0, sy = sx = 1, out_w = ow).
    plane: u32,
    out_w: u32,
    y0: u32,
    x0: u32,
    sy: u32,
    sx: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var lhs: texture_2d_array<f32>;
@group(0) @binding(1) var rhs: texture_2d_array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> params: Params;

// The activation-texture row of tap (0, 0) at position p (the origin past the end: any in-range row will
// do, its products are never stored).
fn position_row(p: u32) -> u32 {
    if p >= params.positions {
        return params.origin;
    }
    return params.origin + (p / params.ow) * params.pos_dy + (p % params.ow) * params.pos_dx;
}

// conv_taps' store: accumulator row `row` (a position) and columns col0..col0+3 to out[b, col, pixel].
fn store_t(b: u32, row: u32, col0: u32, v: vec4<f32>) {
    if row >= params.m {
        return;
    }
    let pixel = (params.y0 + params.sy * (row / params.ow)) * params.out_w + params.x0
        + params.sx * (row % params.ow);
    for (var c = 0u; c < 4u; c++) {
        if col0 + c < params.n {
            out[params.out_offset + (b * params.n + col0 + c) * params.plane + pixel] = T(v[c]);
        }
    }
}

fn store_t8(b: u32, row0: u32, col0: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
    for (var r = 0u; r < 8u; r++) {
        store_t(b, row0 + r, col0, (*acc)[r]);
    }
}

@compute @workgroup_size(8)
fn conv_taps(
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
    let r0 = position_row(row0 + lane);
    let r1 = position_row(row0 + lane + 8u);
    let r2 = position_row(row0 + lane + 16u);
    let r3 = position_row(row0 + lane + 24u);
    var acc0 = array<vec4<f32>, 8>();
    var acc1 = array<vec4<f32>, 8>();
    var acc2 = array<vec4<f32>, 8>();
    var acc3 = array<vec4<f32>, 8>();
    let la = b * params.lhs_bstep;
    let lb = b * params.rhs_bstep;
    // k = 4·kt + component, kt = (i·kw + j)·c4s + ci: the wt row of the texel's first channel.
    var k = 0u;
    for (var i = 0u; i < params.kh; i++) {
        for (var j = 0u; j < params.kw; j++) {
            let off = i * params.tap_dy + j * params.tap_dx;
            for (var ci = 0u; ci < params.c4s; ci++) {
                let a0 = textureLoad(lhs, vec2<u32>(ci, r0 + off), la, 0);
                let a1 = textureLoad(lhs, vec2<u32>(ci, r1 + off), la, 0);
                let a2 = textureLoad(lhs, vec2<u32>(ci, r2 + off), la, 0);
                let a3 = textureLoad(lhs, vec2<u32>(ci, r3 + off), la, 0);
                let b0 = textureLoad(rhs, vec2<u32>(c4, k), lb, 0);
                let b1 = textureLoad(rhs, vec2<u32>(c4, k + 1u), lb, 0);
                let b2 = textureLoad(rhs, vec2<u32>(c4, k + 2u), lb, 0);
                let b3 = textureLoad(rhs, vec2<u32>(c4, k + 3u), lb, 0);
                fma_k4(a0, a1, a2, a3, b0, b1, b2, b3, &acc0, &acc1, &acc2, &acc3);
                k += 4u;
            }
        }
    }
    store_t8(b, row0, c4 * 4u, &acc0);
    store_t8(b, row0 + 8u, c4 * 4u, &acc1);
    store_t8(b, row0 + 16u, c4 * 4u, &acc2);
    store_t8(b, row0 + 24u, c4 * 4u, &acc3);
}

// The wgrad store: row `row` (an output channel), columns col0..col0+3 = (tap, channels ch0..ch0+3).
fn store_w(b: u32, row: u32, tap: u32, ch0: u32, v: vec4<f32>) {
    let taps = params.kh * params.kw;
    if row >= params.m || tap >= taps {
        return;
    }
    let base = params.out_offset + (b * params.m + row) * params.channels * taps + tap;
    for (var c = 0u; c < 4u; c++) {
        if ch0 + c < params.channels {
            out[base + (ch0 + c) * taps] = T(v[c]);
        }
    }
}

fn store_w8(b: u32, row0: u32, tap: u32, ch0: u32, acc: ptr<function, array<vec4<f32>, 8>>) {
    for (var r = 0u; r < 8u; r++) {
        store_w(b, row0 + r, tap, ch0, (*acc)[r]);
    }
}

// (oy, ox) -> the next position of the row-major walk over [.., ow].
fn next_position(v: vec2<u32>) -> vec2<u32> {
    return select(vec2<u32>(v.x, v.y + 1u), vec2<u32>(v.x + 1u, 0u), v.y + 1u == params.ow);
}

// The activation-texture row of tap (0, 0) at position (oy, ox), or row 0 past the last position (the dy
// texel there is zero padding).
fn walk_row(v: vec2<u32>) -> u32 {
    let row = params.origin + v.x * params.pos_dy + v.y * params.pos_dx;
    return select(params.origin, row, v.x * params.ow + v.y < params.positions);
}

@compute @workgroup_size(8)
fn conv_taps_wgrad(
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
    // This lane's column texel: tap `tap`, channels 4·ci ..; a tap past the last reads tap 0 (never stored).
    let ct = block.z;
    let tap = ct / params.c4s;
    let ci = ct % params.c4s;
    let t = select(0u, tap, tap < params.kh * params.kw);
    let off = (t / params.kw) * params.tap_dy + (t % params.kw) * params.tap_dx;
    let arow = row0 + lane;
    var acc0 = array<vec4<f32>, 8>();
    var acc1 = array<vec4<f32>, 8>();
    var acc2 = array<vec4<f32>, 8>();
    var acc3 = array<vec4<f32>, 8>();
    let la = b * params.lhs_bstep;
    let lb = b * params.rhs_bstep;
    var pos = vec2<u32>(0u, 0u);
    for (var k4 = 0u; k4 < params.k4s; k4++) {
        let a0 = textureLoad(lhs, vec2<u32>(k4, arow), la, 0);
        let a1 = textureLoad(lhs, vec2<u32>(k4, arow + 8u), la, 0);
        let a2 = textureLoad(lhs, vec2<u32>(k4, arow + 16u), la, 0);
        let a3 = textureLoad(lhs, vec2<u32>(k4, arow + 24u), la, 0);
        let b0 = textureLoad(rhs, vec2<u32>(ci, walk_row(pos) + off), lb, 0);
        pos = next_position(pos);
        let b1 = textureLoad(rhs, vec2<u32>(ci, walk_row(pos) + off), lb, 0);
        pos = next_position(pos);
        let b2 = textureLoad(rhs, vec2<u32>(ci, walk_row(pos) + off), lb, 0);
        pos = next_position(pos);
        let b3 = textureLoad(rhs, vec2<u32>(ci, walk_row(pos) + off), lb, 0);
        pos = next_position(pos);
        fma_k4(a0, a1, a2, a3, b0, b1, b2, b3, &acc0, &acc1, &acc2, &acc3);
    }
    store_w8(b, row0, tap, 4u * ci, &acc0);
    store_w8(b, row0 + 8u, tap, 4u * ci, &acc1);
    store_w8(b, row0 + 16u, tap, 4u * ci, &acc2);
    store_w8(b, row0 + 24u, tap, 4u * ci, &acc3);
}
