// pool.wgsl: 2-D max and average pooling over NCHW and their backward, one invocation per output element.
//
// Window of output (oy, ox): input rows oy·sh - ph + ky (ky < kh), columns ox·sw - pw + kx (kx < kw).
// - max_pool2d: padding counts as -inf (never wins); the result is the window's FIRST maximum in row-major
//   window order, NaN winning over numbers (as the CPU reference's `max`).
// - max_pool2d_backward(x, dy): a gather, so no atomics: input element (iy, ix) visits every window that
//   contains it, recomputes that window's first maximum and adds the window's dy when it is (iy, ix).
// - avg_pool2d: Σ window / (kh·kw), padding counted as zeros (count_include_pad).
// - avg_pool2d_backward(dy): dx = Σ dy / (kh·kw) over the windows containing the element: the exact adjoint.
// Windows containing input row iy: oy in [ceil((iy + ph - kh + 1) / sh), floor((iy + ph) / sh)] ∩ [0, oh).
//
// Grid: Linear(ceil(numel / WG)) with numel the output size; invocation i = (wid.x + wid.y·nwg.x)·WG + lid.
//
// Bindings (group 0):
//   max_pool2d, avg_pool2d:  0 read x [N, C, H, W]     1 read_write out [N, C, OH, OW]   2 uniform params
//   avg_pool2d_backward:     0 read dy [N, C, OH, OW]  1 read_write out [N, C, H, W]     2 uniform params
//   max_pool2d_backward:     0 read x, 1 read dy,      2 read_write out [N, C, H, W]     3 uniform params
// Inputs are contiguous at element offsets x_off (binding 0) and dy_off (dy of max_pool2d_backward).
// Overrides: WG = 64 (invocations per workgroup).

alias T = f32;

struct Params {
    numel: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    x_off: u32,
    dy_off: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> out1: array<T>;
@group(0) @binding(2) var<uniform> p1: Params;

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> out2: array<T>;
@group(0) @binding(3) var<uniform> p2: Params;

fn index(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// NaN on the bits: llvmpipe compiles float comparisons as ordered, so `x != x` is false for NaN there.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// NaN-aware "candidate beats current" for a maximum: NaN beats numbers, nothing beats NaN.
fn beats(candidate: f32, current: f32) -> bool {
    if is_nan(current) {
        return false;
    }
    return is_nan(candidate) || candidate > current;
}

// (ox, oy, plane) of output element i: the window it is and the (n, c) plane it lies in.
fn window(p: Params, i: u32) -> vec3<u32> {
    return vec3<u32>(i % p.ow, (i / p.ow) % p.oh, i / (p.ow * p.oh));
}

// Flat input index (within the plane) of the first maximum of window (oy, ox) of `plane_base`.
fn first_max(p: Params, plane_base: u32, oy: u32, ox: u32) -> u32 {
    var best = 0.0;
    var best_at = 0xffffffffu;
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = i32(oy * p.sh + ky) - i32(p.ph);
        if iy < 0 || iy >= i32(p.h) {
            continue;
        }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = i32(ox * p.sw + kx) - i32(p.pw);
            if ix < 0 || ix >= i32(p.w) {
                continue;
            }
            let at = u32(iy) * p.w + u32(ix);
            let v = f32(x[p.x_off + plane_base + at]);
            if best_at == 0xffffffffu || beats(v, best) {
                best = v;
                best_at = at;
            }
        }
    }
    return best_at;
}

@compute @workgroup_size(WG)
fn max_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p1.numel {
        return;
    }
    let win = window(p1, i);
    let ox = win.x;
    let oy = win.y;
    let plane = win.z;
    let base = plane * p1.h * p1.w;
    let at = first_max(p1, base, oy, ox);
    if at == 0xffffffffu {
        out1[i] = T(bitcast<f32>(0xff800000u));
    } else {
        out1[i] = x[p1.x_off + base + at];
    }
}

@compute @workgroup_size(WG)
fn avg_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p1.numel {
        return;
    }
    let win = window(p1, i);
    let ox = win.x;
    let oy = win.y;
    let base = p1.x_off + win.z * p1.h * p1.w;
    var s = 0.0;
    for (var ky = 0u; ky < p1.kh; ky++) {
        let iy = i32(oy * p1.sh + ky) - i32(p1.ph);
        if iy < 0 || iy >= i32(p1.h) {
            continue;
        }
        for (var kx = 0u; kx < p1.kw; kx++) {
            let ix = i32(ox * p1.sw + kx) - i32(p1.pw);
            if ix >= 0 && ix < i32(p1.w) {
                s += f32(x[base + u32(iy) * p1.w + u32(ix)]);
            }
        }
    }
    out1[i] = T(s / f32(p1.kh * p1.kw));
}

// Range [lo, hi) of windows along one axis that contain input coordinate c.
fn windows(c: u32, pad: u32, k: u32, s: u32, n_out: u32) -> vec2<u32> {
    let top = c + pad; // window o contains c iff o·s <= top < o·s + k
    var lo = 0u;
    if top + 1u > k {
        lo = (top + 1u - k + s - 1u) / s;
    }
    let hi = min(top / s + 1u, n_out);
    return vec2<u32>(lo, max(lo, hi));
}

@compute @workgroup_size(WG)
fn avg_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p1.numel {
        return;
    }
    let ix = i % p1.w;
    let iy = (i / p1.w) % p1.h;
    let base = p1.x_off + (i / (p1.w * p1.h)) * p1.oh * p1.ow;
    let ry = windows(iy, p1.ph, p1.kh, p1.sh, p1.oh);
    let rx = windows(ix, p1.pw, p1.kw, p1.sw, p1.ow);
    var s = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        for (var ox = rx.x; ox < rx.y; ox++) {
            s += f32(x[base + oy * p1.ow + ox]);
        }
    }
    out1[i] = T(s / f32(p1.kh * p1.kw));
}

@compute @workgroup_size(WG)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p2.numel {
        return;
    }
    let ix = i % p2.w;
    let iy = (i / p2.w) % p2.h;
    let plane = i / (p2.w * p2.h);
    let x_base = plane * p2.h * p2.w;
    let dy_base = p2.dy_off + plane * p2.oh * p2.ow;
    let me = iy * p2.w + ix;
    let ry = windows(iy, p2.ph, p2.kh, p2.sh, p2.oh);
    let rx = windows(ix, p2.pw, p2.kw, p2.sw, p2.ow);
    var s = 0.0;
    for (var oy = ry.x; oy < ry.y; oy++) {
        for (var ox = rx.x; ox < rx.y; ox++) {
            if first_max(p2, x_base, oy, ox) == me {
                s += f32(dy[dy_base + oy * p2.ow + ox]);
            }
        }
    }
    out2[i] = T(s);
}

// max_pool2d_backward when the windows tile the input exactly (stride = kernel, no padding, h = oh·kh,
// w = ow·kw; the host checks): one invocation per window writes the window's kh·kw elements of dx, dy at
// its first maximum and 0 elsewhere. Every element belongs to exactly one window, so this is the gather
// above with the window maximum found once instead of once per element. p2.numel counts windows.
@compute @workgroup_size(WG)
fn max_pool2d_backward_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
    let i = index(wid, nwg, lid);
    if i >= p2.numel {
        return;
    }
    let win = window(p2, i);
    let ox = win.x;
    let oy = win.y;
    let plane = win.z;
    let x_base = plane * p2.h * p2.w;
    let best = first_max(p2, x_base, oy, ox);
    let g = dy[p2.dy_off + i];
    for (var ky = 0u; ky < p2.kh; ky++) {
        let row = (oy * p2.kh + ky) * p2.w + ox * p2.kw;
        for (var kx = 0u; kx < p2.kw; kx++) {
            out2[x_base + row + kx] = select(T(0.0), g, row + kx == best);
        }
    }
}
