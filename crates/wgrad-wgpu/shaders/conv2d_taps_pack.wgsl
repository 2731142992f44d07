// conv2d_taps_pack.wgsl: the textures conv2d_taps.wgsl reads, written from storage buffers.
//
// Entry points (one texel per invocation; every texel of the width x height x layers texture is written,
// zeros past the data, which conv2d_taps.wgsl relies on):
// - nhwc: an NCHW activation src [layers, c, h, w] channels-last and zero-padded: layer b, texel
//   (c4, y·wp + x) = src[b, 4·c4 .. 4·c4 + 3, y - pt, x - pl] (0 outside the image or past c).
// - weight_taps: a weight src [a, b, kh, kw] as the [K, columns] rhs of conv_taps, K ordered (tap, channel)
//   with 4·c4s channels per tap: texel (col4, kk) with kk = tap·4·c4s + ch, tap = (ty, tx) < (skh, skw),
//   holds, for col = 4·col4 .. and weight tap (i, j) = (i0 + si·ty', j0 + sj·tx'):
//     flip = 0 (forward, columns = a):         src[col, ch, i, j]     (ty', tx') = (ty, tx)
//     flip = 1 (input gradient, columns = b):  src[ch, col, i, j]     (ty', tx') = (skh - 1 - ty, skw - 1 - tx)
//   zero past the channels, the columns or the taps. The forward pass reads the whole kernel (skh = kh,
//   i0 = 0, si = 1); the input gradient at stride s one phase's sub-kernel per texture (si = s).
//
// Grid: Grid::Linear(ceil(texels / WG)).
// Bindings (group 0):
//   0 read   src     array<T>  contiguous from `off`
//   1 write  dst     texture_storage_2d_array<rgba32float, write>
//   2 uniform params Params
// Overrides: WG (workgroup size, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`); texels are f32 either way.

alias T = f32;

override WG: u32 = 256u;

struct Params {
    // width · height · layers of the texture
    texels: u32,
    width: u32,
    height: u32,
    off: u32,
    // nhwc: the source's channels, height and width, the padded width, top and left padding.
    c: u32,
    h: u32,
    w: u32,
    wp: u32,
    pt: u32,
    pl: u32,
    // weight_taps: the source's dims a, b, kh, kw, channel texels per tap, the flip flag, and the taps
    // read: sub-kernel size skh x skw, weight tap (i0 + si·ty, j0 + sj·tx) for tap (ty, tx) (after the
    // flip ty -> skh - 1 - ty, tx -> skw - 1 - tx).
    a: u32,
    b: u32,
    kh: u32,
    kw: u32,
    c4s: u32,
    flip: u32,
    skh: u32,
    skw: u32,
    i0: u32,
    j0: u32,
    si: u32,
    sj: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(2) var<uniform> params: Params;

// (x, y, layer) of texel `t`, or none (layer = 0xffffffff) past the end.
fn texel(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> vec3<u32> {
    let t = (wid.x + wid.y * nwg.x) * WG + lid;
    if t >= params.texels {
        return vec3<u32>(0u, 0u, 0xffffffffu);
    }
    let yl = t / params.width;
    return vec3<u32>(t % params.width, yl % params.height, yl / params.height);
}

@compute @workgroup_size(WG)
fn nhwc(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    let y = i32(t.y / params.wp) - i32(params.pt);
    let x = i32(t.y % params.wp) - i32(params.pl);
    var v = vec4<f32>(0.0);
    if y >= 0 && u32(y) < params.h && x >= 0 && u32(x) < params.w {
        let plane = params.h * params.w;
        var i = params.off + (t.z * params.c + 4u * t.x) * plane + u32(y) * params.w + u32(x);
        for (var c = 0u; c < 4u; c++) {
            if 4u * t.x + c < params.c {
                v[c] = f32(src[i]);
            }
            i += plane;
        }
    }
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn weight_taps(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    let per_tap = 4u * params.c4s;
    let tap = t.y / per_tap;
    let ch = t.y % per_tap;
    var ty = tap / params.skw;
    var tx = tap % params.skw;
    var v = vec4<f32>(0.0);
    if tap < params.skh * params.skw {
        if params.flip != 0u {
            ty = params.skh - 1u - ty;
            tx = params.skw - 1u - tx;
        }
        let taps = params.kh * params.kw;
        let ij = (params.i0 + params.si * ty) * params.kw + params.j0 + params.sj * tx;
        for (var c = 0u; c < 4u; c++) {
            let col = 4u * t.x + c;
            // flip = 0: src[col, ch, i, j]; flip = 1: src[ch, col, i, j]
            let ab = select(vec2<u32>(col, ch), vec2<u32>(ch, col), params.flip != 0u);
            if ab.x < params.a && ab.y < params.b {
                v[c] = f32(src[params.off + (ab.x * params.b + ab.y) * taps + ij]);
            }
        }
    }
    textureStore(dst, t.xy, t.z, v);
}
