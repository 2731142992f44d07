// texture_pack.wgsl: stages a strided [batch, rows, cols] operand in an rgba32float 2-D array texture, one
// layer per batch, four consecutive columns per texel, for kernels that read operands through the texture
// unit (matmul_tex.wgsl).
//
// Texel (x, r) of layer b holds src[b, r, 4x .. 4x + 3]; rows r >= rows and columns >= cols are zeros, so the
// consumer can read whole padded tiles with no bounds checks and no garbage (0 · NaN would not be 0). The
// texture is width x height texels x batch layers, width ≥ ceil(cols / 4), height ≥ rows.
//
// Entry point: pack_rgba. Grid: Grid::Linear(ceil(texels / WG)), one texel per invocation.
// Bindings (group 0):
//   0 read   src     array<T>  strided [batch, rows, cols]: element (b, r, c) at off + b·s_b + r·s_r + c·s_c
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
