// conv2d.wgsl: 2-D convolution (cross-correlation) over NCHW and its two adjoints, direct kernels.
//
// Shapes: x [N, C_in, H, W], weight [C_out, C_in/groups, KH, KW], y [N, C_out, OH, OW]. Output channel co
// belongs to group g = co / cout_g and reads input channels g·cin_g .. g·cin_g + cin_g - 1:
//   y[n, co, oy, ox] = Σ_{ci, ky, kx} x[n, g·cin_g + ci, oy·sh - ph + ky·dh, ox·sw - pw + kx·dw] · w[co, ci, ky, kx]
// (zero padding: taps outside the input contribute nothing).
// - conv2d: one invocation per output element.
// - conv2d_backward_input(dy, w) → dx: the transposed convolution, one invocation per dx element: it sums
//   dy[n, co, oy, ox]·w[co, ci, ky, kx] over the taps with oy·sh = iy + ph - ky·dh (divisible, in range),
//   so it is the exact adjoint of conv2d in x, without atomics.
// - conv2d_backward_weight(x, dy) → dw: one workgroup per dw element, its WG invocations stride over the
//   N·OH·OW products and combine them with a tree reduction in workgroup memory (a dw element sums over the
//   whole batch, usually far more terms than there are dw elements).
// Sums in f32 whatever T is.
//
// Grid: Linear(ceil(numel / WG)) for conv2d and conv2d_backward_input (numel = output size), Linear(numel)
// for conv2d_backward_weight; workgroup id = wid.x + wid.y·nwg.x.
//
// Bindings (group 0):
//   0 read in0 (conv2d, conv2d_backward_weight: x; conv2d_backward_input: dy), contiguous at in0_off
//   1 read in1 (conv2d, conv2d_backward_input: weight; conv2d_backward_weight: dy), contiguous at in1_off
//   2 read_write out (y, dx or dw), contiguous
//   3 uniform params
// Overrides: WG = 64 (invocations per workgroup; a power of two, ≤ 256, for the reduction).

alias T = f32;

struct Params {
    numel: u32,
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
    cin_g: u32,
    cout_g: u32,
    in0_off: u32,
    in1_off: u32,
    // The part of the summed loop this dispatch covers (input channels of the group for conv2d, output
    // channels for conv2d_backward_input, positions n·OH·OW for conv2d_backward_weight), and whether it adds
    // into `out` (later parts): llvmpipe ends an invocation's loops after 65,535 iterations, so the host
    // splits long sums (kernels/conv2d.rs).
    r0: u32,
    r1: u32,
    accumulate: u32,
    pad: u32,
}

// Stores (or, for the later parts of a split sum, adds) s at out[i].
fn put(i: u32, s: f32) {
    out[i] = T(select(s, f32(out[i]) + s, p.accumulate != 0u));
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> in0: array<T>;
@group(0) @binding(1) var<storage, read> in1: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

fn group_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

@compute @workgroup_size(WG)
fn conv2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let i = group_id(wid, nwg) * WG + lid;
    if i >= p.numel {
        return;
    }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let co = (i / (p.ow * p.oh)) % p.c_out;
    let b = i / (p.ow * p.oh * p.c_out);
    let g = co / p.cout_g;
    let x_base = p.in0_off + (b * p.c_in + g * p.cin_g) * p.h * p.w;
    let w_base = p.in1_off + co * p.cin_g * p.kh * p.kw;
    let y0 = i32(oy * p.sh) - i32(p.ph);
    let x0 = i32(ox * p.sw) - i32(p.pw);
    var s = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = y0 + i32(ky * p.dh);
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = x0 + i32(kx * p.dw);
            if ix < 0 || ix >= i32(p.w) {
                continue;
            }
            var xi = x_base + p.r0 * p.h * p.w + u32(iy) * p.w + u32(ix);
            var wi = w_base + p.r0 * p.kh * p.kw + ky * p.kw + kx;
            for (var ci = p.r0; ci < p.r1; ci++) {
                s = fma(f32(in0[xi]), f32(in1[wi]), s);
                xi += p.h * p.w;
                wi += p.kh * p.kw;
            }
        }
    }
    put(i, s);
}

@compute @workgroup_size(WG)
fn conv2d_backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lid: u32) {
    let i = group_id(wid, nwg) * WG + lid;
    if i >= p.numel {
        return;
    }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let c = (i / (p.w * p.h)) % p.c_in;
    let b = i / (p.w * p.h * p.c_in);
    let g = c / p.cin_g;
    let ci = c - g * p.cin_g;
    let dy_base = p.in0_off + (b * p.c_out + g * p.cout_g) * p.oh * p.ow;
    let w_base = p.in1_off + (g * p.cout_g * p.cin_g + ci) * p.kh * p.kw;
    var s = 0.0;
    for (var ky = 0u; ky < p.kh; ky++) {
        let ty = i32(iy + p.ph) - i32(ky * p.dh);
        if ty < 0 || u32(ty) % p.sh != 0u || u32(ty) / p.sh >= p.oh {
            continue;
        }
        let oy = u32(ty) / p.sh;
        for (var kx = 0u; kx < p.kw; kx++) {
            let tx = i32(ix + p.pw) - i32(kx * p.dw);
            if tx < 0 || u32(tx) % p.sw != 0u || u32(tx) / p.sw >= p.ow {
                continue;
            }
            let ox = u32(tx) / p.sw;
            var di = dy_base + p.r0 * p.oh * p.ow + oy * p.ow + ox;
            var wi = w_base + p.r0 * p.cin_g * p.kh * p.kw + ky * p.kw + kx;
            for (var co = p.r0; co < p.r1; co++) {
                s = fma(f32(in0[di]), f32(in1[wi]), s);
                di += p.oh * p.ow;
                wi += p.cin_g * p.kh * p.kw;
            }
        }
    }
    put(i, s);
}

@compute @workgroup_size(WG)
fn conv2d_backward_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lid: u32) {
    // One workgroup per dw element: uniform, so the early return keeps the barriers in uniform control flow.
    let i = group_id(wid, nwg);
    if i >= p.numel {
        return;
    }
    let kx = i % p.kw;
    let ky = (i / p.kw) % p.kh;
    let ci = (i / (p.kw * p.kh)) % p.cin_g;
    let co = i / (p.kw * p.kh * p.cin_g);
    let g = co / p.cout_g;
    let plane = p.oh * p.ow;
    let y0 = i32(ky * p.dh) - i32(p.ph);
    let x0 = i32(kx * p.dw) - i32(p.pw);
    var s = 0.0;
    for (var r = p.r0 + lid; r < p.r1; r += WG) {
        let b = r / plane;
        let oy = (r % plane) / p.ow;
        let ox = r % p.ow;
        let iy = y0 + i32(oy * p.sh);
        let ix = x0 + i32(ox * p.sw);
        if iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w) {
            let xi = p.in0_off + ((b * p.c_in + g * p.cin_g + ci) * p.h + u32(iy)) * p.w + u32(ix);
            let di = p.in1_off + (b * p.c_out + co) * plane + oy * p.ow + ox;
            s = fma(f32(in0[xi]), f32(in1[di]), s);
        }
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half >>= 1u) {
        if lid < half {
            partial[lid] += partial[lid + half];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        put(i, partial[0]);
    }
}
