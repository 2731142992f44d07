// softmax.wgsl: fused, numerically stable softmax and log_softmax along one axis, and their backward.
//
// The input is viewed as [outer, axis, inner] (contiguous, offset x_off); a row is the `axis` elements
// base + j·inner, base = o·axis·inner + i, and there are rows = outer·inner of them.
//   softmax(x)_j     = e^(x_j - m) / Σ e^(x_i - m)         m = max_i x_i (every exponent ≤ 0: no overflow)
//   log_softmax(x)_j = x_j - m - ln Σ e^(x_i - m)
//   softmax_backward(y, dy)     = y · (dy - Σ dy·y)
//   log_softmax_backward(z, dy) = dy - e^z · Σ dy
// Two kernels per op:
// - `<op>`: one workgroup per row; its WG invocations stride over the row and combine partial maxima and sums
//   with a tree reduction in workgroup memory (log2 WG barrier steps). For long rows.
// - `<op>_small`: one invocation per row, no barriers; WG rows per workgroup. For short rows (e.g. 10 classes),
//   where a workgroup per row would leave most invocations idle.
// Reads and sums in f32 whatever T is.
//
// Grid: Linear(rows) for `<op>`, Linear(ceil(rows / WG)) for `<op>_small`; workgroup id = wid.x + wid.y·nwg.x.
//
// Bindings (group 0), forward (softmax, log_softmax, *_small):
//   0 read x [outer, axis, inner]   1 read_write out (same shape)   2 uniform params
// backward (softmax_backward, log_softmax_backward, *_small):
//   0 read y (the forward output)   1 read dy   2 read_write out   3 uniform params
// Overrides: WG = 64 (invocations per workgroup; a power of two for the tree reduction, ≤ 256).

alias T = f32;

struct Params {
    rows: u32,
    axis: u32,
    inner: u32,
    // element offsets of the inputs in their buffers
    x_off: u32,
    dy_off: u32,
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> out_f: array<T>;
@group(0) @binding(2) var<uniform> params_f: Params;

@group(0) @binding(1) var<storage, read> dy: array<T>;
@group(0) @binding(2) var<storage, read_write> out_b: array<T>;
@group(0) @binding(3) var<uniform> params_b: Params;

var<workgroup> partial: array<f32, WG>;

fn row_base(p: Params, row: u32) -> u32 {
    let o = row / p.inner;
    return o * p.axis * p.inner + (row - o * p.inner);
}

fn row_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Tree reduction of partial[0..WG) with max (is_max) or sum; every invocation gets the result.
fn workgroup_reduce(li: u32, v: f32, is_max: bool) -> f32 {
    partial[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if li < s {
            let other = partial[li + s];
            partial[li] = select(partial[li] + other, max(partial[li], other), is_max);
        }
        workgroupBarrier();
    }
    let r = partial[0];
    workgroupBarrier();
    return r;
}

fn forward_row(row: u32, li: u32, is_log: bool) {
    let base = row_base(params_f, row) + params_f.x_off;
    let st = params_f.inner;
    var m = -3.4028235e38;
    for (var j = li; j < params_f.axis; j += WG) {
        m = max(m, f32(x[base + j * st]));
    }
    m = workgroup_reduce(li, m, true);
    var s = 0.0;
    for (var j = li; j < params_f.axis; j += WG) {
        s += exp(f32(x[base + j * st]) - m);
    }
    s = workgroup_reduce(li, s, false);
    let o = base - params_f.x_off;
    let ls = log(s);
    for (var j = li; j < params_f.axis; j += WG) {
        let v = f32(x[base + j * st]) - m;
        out_f[o + j * st] = T(select(exp(v) / s, v - ls, is_log));
    }
}

fn backward_row(row: u32, li: u32, is_log: bool) {
    let b = row_base(params_b, row);
    let yb = b + params_b.x_off;
    let db = b + params_b.dy_off;
    let st = params_b.inner;
    var s = 0.0;
    for (var j = li; j < params_b.axis; j += WG) {
        let g = f32(dy[db + j * st]);
        s += select(g * f32(x[yb + j * st]), g, is_log);
    }
    s = workgroup_reduce(li, s, false);
    for (var j = li; j < params_b.axis; j += WG) {
        let y = f32(x[yb + j * st]);
        let g = f32(dy[db + j * st]);
        out_b[b + j * st] = T(select(y * (g - s), g - exp(y) * s, is_log));
    }
}

// Whole rows in one invocation (the _small kernels).
fn forward_row_alone(row: u32, is_log: bool) {
    let base = row_base(params_f, row) + params_f.x_off;
    let st = params_f.inner;
    var m = -3.4028235e38;
    for (var j = 0u; j < params_f.axis; j++) {
        m = max(m, f32(x[base + j * st]));
    }
    var s = 0.0;
    for (var j = 0u; j < params_f.axis; j++) {
        s += exp(f32(x[base + j * st]) - m);
    }
    let o = base - params_f.x_off;
    let ls = log(s);
    for (var j = 0u; j < params_f.axis; j++) {
        let v = f32(x[base + j * st]) - m;
        out_f[o + j * st] = T(select(exp(v) / s, v - ls, is_log));
    }
}

fn backward_row_alone(row: u32, is_log: bool) {
    let b = row_base(params_b, row);
    let yb = b + params_b.x_off;
    let db = b + params_b.dy_off;
    let st = params_b.inner;
    var s = 0.0;
    for (var j = 0u; j < params_b.axis; j++) {
        let g = f32(dy[db + j * st]);
        s += select(g * f32(x[yb + j * st]), g, is_log);
    }
    for (var j = 0u; j < params_b.axis; j++) {
        let y = f32(x[yb + j * st]);
        let g = f32(dy[db + j * st]);
        out_b[b + j * st] = T(select(y * (g - s), g - exp(y) * s, is_log));
    }
}

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg);
    if row >= params_f.rows {
        return;
    }
    forward_row(row, li, false);
}

@compute @workgroup_size(WG)
fn log_softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg);
    if row >= params_f.rows {
        return;
    }
    forward_row(row, li, true);
}

@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg);
    if row >= params_b.rows {
        return;
    }
    backward_row(row, li, false);
}

@compute @workgroup_size(WG)
fn log_softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg);
    if row >= params_b.rows {
        return;
    }
    backward_row(row, li, true);
}

@compute @workgroup_size(WG)
fn softmax_small(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg) * WG + li;
    if row >= params_f.rows {
        return;
    }
    forward_row_alone(row, false);
}

@compute @workgroup_size(WG)
fn log_softmax_small(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg) * WG + li;
    if row >= params_f.rows {
        return;
    }
    forward_row_alone(row, true);
}

@compute @workgroup_size(WG)
fn softmax_backward_small(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg) * WG + li;
    if row >= params_b.rows {
        return;
    }
    backward_row_alone(row, false);
}

@compute @workgroup_size(WG)
fn log_softmax_backward_small(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                              @builtin(local_invocation_index) li: u32) {
    let row = row_id(wid, nwg) * WG + li;
    if row >= params_b.rows {
        return;
    }
    backward_row_alone(row, true);
}
