// texture_pack.wgsl: stages a strided [batch, rows, cols] operand in an rgba32float 2-D array texture, one
// layer per batch, four consecutive columns per texel, for kernels that read operands through the texture
// unit (matmul_tex.wgsl).
//
// Texel (x, r) of layer b holds src[b, r, 4x .. 4x + 3]; rows r >= rows and columns >= cols are zeros, so the
// consumer can read whole padded tiles with no bounds checks and no garbage (0 · NaN would not be 0). The
// texture is width x height texels x batch layers, width ≥ ceil(cols / 4), height ≥ rows.
//
// Entry points:
// - pack_rgba: any strides. Grid: Grid::Linear(ceil(texels / WG)), one texel per invocation.
// - pack_rgba4: rows contiguous (s_c = 1; off, s_r, s_b and cols multiples of 4): a texel is one vec4 load.
//   Same grid.
// - pack_rgba4t: columns contiguous (s_r = 1, a transposed operand; off, s_c, s_b, rows and height
//   multiples of 4): an invocation packs a column of four texels from four vec4 loads down four columns,
//   transposed in registers. Grid: Grid::Linear(ceil(texels / 4 / WG)).
// Why the vec4 entries: llvmpipe executes a storage load lane by lane whatever its width, so a vec4 load
// moves four elements for the cost of one.
// Bindings (group 0):
//   0 read   src     array<T>  strided [batch, rows, cols]: element (b, r, c) at off + b·s_b + r·s_r + c·s_c
//                    (src4: the same buffer as array<vec4<T>>, for the vec4 entries)
//   1 write  dst     texture_storage_2d_array<rgba32float, write>
//   2 uniform params Params
// Overrides: WG (workgroup size, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`); texels are f32 either way.

alias T = f32;

override WG: u32 = 256u;

struct Params {
    // width · height · batch
    texels: u32,
    width: u32,
    height: u32,
    rows: u32,
    cols: u32,
    s_b: u32,
    s_r: u32,
    s_c: u32,
    off: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(0) var<storage, read> src4: array<vec4<T>>;
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WG)
fn pack_rgba(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = (wid.x + wid.y * nwg.x) * WG + lid;
    if t >= params.texels {
        return;
    }
    let x = t % params.width;
    let yb = t / params.width;
    let r = yb % params.height;
    let b = yb / params.height;
    var v = vec4<f32>(0.0);
    if r < params.rows {
        let base = params.off + b * params.s_b + r * params.s_r;
        for (var c = 0u; c < 4u; c++) {
            let col = 4u * x + c;
            if col < params.cols {
                v[c] = f32(src[base + col * params.s_c]);
            }
        }
    }
    textureStore(dst, vec2<u32>(x, r), b, v);
}

@compute @workgroup_size(WG)
fn pack_rgba4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = (wid.x + wid.y * nwg.x) * WG + lid;
    if t >= params.texels {
        return;
    }
    let x = t % params.width;
    let yb = t / params.width;
    let r = yb % params.height;
    let b = yb / params.height;
    var v = vec4<f32>(0.0);
    if r < params.rows && 4u * x < params.cols {
        v = vec4<f32>(src4[(params.off + b * params.s_b + r * params.s_r) / 4u + x]);
    }
    textureStore(dst, vec2<u32>(x, r), b, v);
}

// Column `col` of rows r0..r0+3 of batch b as one vec4 (zeros past cols).
fn column4(b: u32, r0: u32, col: u32) -> vec4<f32> {
    if col >= params.cols {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(src4[(params.off + b * params.s_b + r0 + col * params.s_c) / 4u]);
}

@compute @workgroup_size(WG)
fn pack_rgba4t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = (wid.x + wid.y * nwg.x) * WG + lid;
    if t >= params.texels / 4u {
        return;
    }
    let x = t % params.width;
    let yb = t / params.width;
    let quads = params.height / 4u;
    let r0 = 4u * (yb % quads);
    let b = yb / quads;
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    if r0 < params.rows {
        c0 = column4(b, r0, 4u * x);
        c1 = column4(b, r0, 4u * x + 1u);
        c2 = column4(b, r0, 4u * x + 2u);
        c3 = column4(b, r0, 4u * x + 3u);
    }
    // c_i holds column 4x + i of rows r0..r0+3; texel (x, r0 + q) is row r0 + q of those four columns
    textureStore(dst, vec2<u32>(x, r0), b, vec4<f32>(c0.x, c1.x, c2.x, c3.x));
    textureStore(dst, vec2<u32>(x, r0 + 1u), b, vec4<f32>(c0.y, c1.y, c2.y, c3.y));
    textureStore(dst, vec2<u32>(x, r0 + 2u), b, vec4<f32>(c0.z, c1.z, c2.z, c3.z));
    textureStore(dst, vec2<u32>(x, r0 + 3u), b, vec4<f32>(c0.w, c1.w, c2.w, c3.w));
}
