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

// cols[n, kk, q] from x.
fn col(n: u32, kk: u32, q: u32) -> f32 {
    let taps = params.kh * params.kw;
    if kk >= params.c_in * taps || q >= params.oh * params.ow {
        return 0.0;
    }
    let ci = kk / taps;
    let i = (kk % taps) / params.kw;
    let j = kk % params.kw;
    let iy = i32((q / params.ow) * params.sh + i * params.dh) - i32(params.ph);
    let ix = i32((q % params.ow) * params.sw + j * params.dw) - i32(params.pw);
    if iy < 0 || ix < 0 || u32(iy) >= params.h || u32(ix) >= params.w {
        return 0.0;
    }
    return f32(src[params.off + ((n * params.c_in + ci) * params.h + u32(iy)) * params.w + u32(ix)]);
}

// One output coordinate of dcols: the dy row index reaching input coordinate `p` through tap `t`, or -1.
fn source_of(p: u32, pad: u32, t: u32, dil: u32, stride: u32, size: u32) -> i32 {
    let s = i32(p + pad) - i32(t * dil);
    if s < 0 || u32(s) % stride != 0u || u32(s) / stride >= size {
        return -1;
    }
    return i32(u32(s) / stride);
}

// dcols[n, kk', p] from dy.
fn dcol(n: u32, kk: u32, p: u32) -> f32 {
    let taps = params.kh * params.kw;
    if kk >= params.c_out * taps || p >= params.h * params.w {
        return 0.0;
    }
    let co = kk / taps;
    let i = (kk % taps) / params.kw;
    let j = kk % params.kw;
    let oy = source_of(p / params.w, params.ph, i, params.dh, params.sh, params.oh);
    let ox = source_of(p % params.w, params.pw, j, params.dw, params.sw, params.ow);
    if oy < 0 || ox < 0 {
        return 0.0;
    }
    return f32(src[params.off + ((n * params.c_out + co) * params.oh + u32(oy)) * params.ow + u32(ox)]);
}

// w[co, ci, i, j] for kk' = (co, i, j).
fn weight_t_at(ci: u32, kk: u32) -> f32 {
    let taps = params.kh * params.kw;
    if kk >= params.c_out * taps || ci >= params.c_in {
        return 0.0;
    }
    return f32(src[params.off + ((kk / taps) * params.c_in + ci) * taps + kk % taps]);
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
    let q = 4u * t.x;
    let v = vec4<f32>(col(t.z, t.y, q), col(t.z, t.y, q + 1u), col(t.z, t.y, q + 2u), col(t.z, t.y, q + 3u));
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn im2col_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    let kk = 4u * t.x;
    let v = vec4<f32>(col(t.z, kk, t.y), col(t.z, kk + 1u, t.y), col(t.z, kk + 2u, t.y), col(t.z, kk + 3u, t.y));
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn dy_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    let p = 4u * t.x;
    let v = vec4<f32>(dcol(t.z, t.y, p), dcol(t.z, t.y, p + 1u), dcol(t.z, t.y, p + 2u), dcol(t.z, t.y, p + 3u));
    textureStore(dst, t.xy, t.z, v);
}

@compute @workgroup_size(WG)
fn weight_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let t = texel(wid, nwg, lid);
    if t.z == 0xffffffffu {
        return;
    }
    let kk = 4u * t.x;
    let v = vec4<f32>(weight_t_at(t.y, kk), weight_t_at(t.y, kk + 1u), weight_t_at(t.y, kk + 2u), weight_t_at(t.y, kk + 3u));
    textureStore(dst, t.xy, t.z, v);
}
