// conv2d_pack.wgsl: stages the operands of a 2-D convolution (NCHW, groups = 1) as matrices in rgba32float
// 2-D array textures, so matmul_tex.wgsl computes the convolution and its two adjoints as products
// (implicit GEMM: the unfolded input never exists in a storage buffer).
//
// With K = c_in·kh·kw taps kk = (ci, i, j) and output positions q = (oy, ox) < oh·ow:
//   cols[n, kk, q]  = x[n, ci, oy·sh + i·dh - ph, ox·sw + j·dw - pw]   (0 outside the image)
//   y[n]            = W [c_out, K] · cols[n]                             forward
//   dW              = Σ_n dy[n] [c_out, oh·ow] · cols[n]ᵀ               weight gradient
//   dx[n]           = Wᵀ' [c_in, c_out·kh·kw] · dcols[n]                 input gradient, where
//   dcols[n, kk', p] = dy[n, co, (py + ph - i·dh) / sh, (px + pw - j·dw) / sw] for kk' = (co, i, j) and
//                      input positions p = (py, px), 0 unless both divisions are exact and in range.
// Each entry fills every texel of a width x height x layers texture (four consecutive columns per texel;
// rows and columns past the matrix are zeros, which matmul_tex relies on):
//   im2col     rhs of the forward:  layer n, texel (q4, kk)  = cols[n, kk, 4·q4 ..]   src = x
//   im2col_t   rhs of dW:           layer n, texel (kk4, q)  = cols[n, 4·kk4 .., q]   src = x
//   dy_cols    rhs of dx:           layer n, texel (p4, kk') = dcols[n, kk', 4·p4 ..] src = dy
//   weight_t   lhs of dx:           layer 0, texel (kk4', ci) = w[co, ci, i, j] for kk' = 4·kk4' ..  src = w
// (the forward's lhs W and dW's lhs dy are plain matrices, packed by texture_pack.wgsl).
//
// Grid: Grid::Linear(ceil(texels / WG)), one texel per invocation.
// Bindings (group 0):
//   0 read   src     array<T>  contiguous from `off`: x [n, c_in, h, w], dy [n, c_out, oh, ow] or w [c_out, c_in, kh, kw]
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
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var dst: texture_storage_2d_array<rgba32float, write>;
@group(0) @binding(2) var<uniform> params: Params;

// Each texel holds four consecutive columns of one row, so the entries split the row index and the first
// column index into their coordinates once and step the rest: llvmpipe splits every vector integer division
// into 8 scalar ones, and a texel would otherwise pay for a dozen of them.

// The input coordinate tap (i, j) of output position (oy, ox) reads, or -1 past the padding.
fn input_at(o: u32, stride: u32, t: u32, dil: u32, pad: u32, size: u32) -> i32 {
    let v = i32(o * stride + t * dil) - i32(pad);
    return select(-1, v, v >= 0 && u32(v) < size);
}

// x[n, ci, iy, ix], or 0 when (iy, ix) is outside the image.
fn x_at(n: u32, ci: u32, iy: i32, ix: i32) -> f32 {
    if iy < 0 || ix < 0 {
        return 0.0;
    }
    return f32(src[params.off + ((n * params.c_in + ci) * params.h + u32(iy)) * params.w + u32(ix)]);
}

// The output coordinate whose tap t reads input coordinate p, or -1 when none does (not a multiple of the
// stride, or out of range).
fn source_of(p: u32, pad: u32, t: u32, dil: u32, stride: u32, size: u32) -> i32 {
    let s = i32(p + pad) - i32(t * dil);
    if s < 0 {
        return -1;
    }
    var o = u32(s);
    if stride != 1u {
        if o % stride != 0u {
            return -1;
        }
        o /= stride;
    }
    return select(-1, i32(o), o < size);
}

// (a, b) -> the next position of a row-major [.., extent] walk.
fn step(v: vec2<u32>, extent: u32) -> vec2<u32> {
    return select(vec2<u32>(v.x, v.y + 1u), vec2<u32>(v.x + 1u, 0u), v.y + 1u == extent);
}

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
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    // row kk = (ci, i, j), columns q = 4·t.x .. + 3 = (oy, ox)
    let taps = params.kh * params.kw;
    var v = vec4<f32>(0.0);
    if t.y < params.c_in * taps {
        let ci = t.y / taps;
        let i = (t.y % taps) / params.kw;
        let j = t.y % params.kw;
        let q0 = 4u * t.x;
        var o = vec2<u32>(q0 / params.ow, q0 % params.ow);
        for (var c = 0u; c < 4u; c++) {
            if q0 + c < params.oh * params.ow {
                let iy = input_at(o.x, params.sh, i, params.dh, params.ph, params.h);
                let ix = input_at(o.y, params.sw, j, params.dw, params.pw, params.w);
                v[c] = x_at(t.z, ci, iy, ix);
            }
            o = step(o, params.ow);
        }
    }
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn im2col_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    // row q = (oy, ox), columns kk = 4·t.x .. + 3 = (ci, i, j)
    let taps = params.kh * params.kw;
    var v = vec4<f32>(0.0);
    if t.y < params.oh * params.ow {
        let oy = t.y / params.ow;
        let ox = t.y % params.ow;
        let kk0 = 4u * t.x;
        var ci = kk0 / taps;
        var ij = vec2<u32>((kk0 % taps) / params.kw, kk0 % params.kw);
        for (var c = 0u; c < 4u; c++) {
            if ci < params.c_in {
                let iy = input_at(oy, params.sh, ij.x, params.dh, params.ph, params.h);
                let ix = input_at(ox, params.sw, ij.y, params.dw, params.pw, params.w);
                v[c] = x_at(t.z, ci, iy, ix);
            }
            ij = step(ij, params.kw);
            if ij.x == params.kh {
                ij.x = 0u;
                ci += 1u;
            }
        }
    }
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn dy_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    // row kk' = (co, i, j), columns p = 4·t.x .. + 3 = (py, px)
    let taps = params.kh * params.kw;
    var v = vec4<f32>(0.0);
    if t.y < params.c_out * taps {
        let co = t.y / taps;
        let i = (t.y % taps) / params.kw;
        let j = t.y % params.kw;
        let p0 = 4u * t.x;
        var p = vec2<u32>(p0 / params.w, p0 % params.w);
        let base = params.off + (t.z * params.c_out + co) * params.oh * params.ow;
        for (var c = 0u; c < 4u; c++) {
            if p0 + c < params.h * params.w {
                let oy = source_of(p.x, params.ph, i, params.dh, params.sh, params.oh);
                let ox = source_of(p.y, params.pw, j, params.dw, params.sw, params.ow);
                if oy >= 0 && ox >= 0 {
                    v[c] = f32(src[base + u32(oy) * params.ow + u32(ox)]);
                }
            }
            p = step(p, params.w);
        }
    }
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn weight_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    // row ci, columns kk' = 4·t.x .. + 3 = (co, tap): w[co, ci, tap]
    let taps = params.kh * params.kw;
    var v = vec4<f32>(0.0);
    if t.y < params.c_in {
        let kk0 = 4u * t.x;
        var ct = vec2<u32>(kk0 / taps, kk0 % taps);
        for (var c = 0u; c < 4u; c++) {
            if ct.x < params.c_out {
                v[c] = f32(src[params.off + (ct.x * params.c_in + t.y) * taps + ct.y]);
            }
            ct = step(ct, taps);
        }
    }
    textureStore(dst, t.xy, t.z, v);
}
