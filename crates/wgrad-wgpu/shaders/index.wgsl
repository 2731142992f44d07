// index.wgsl: gather and its adjoint scatter_add along one axis (PyTorch `gather` / `scatter_add`).
//
// scatter_add is written as a deterministic per-output loop, not atomics: output element o sums every src
// element q with q = o outside the axis and index[q] == o[axis], scanning the src axis in order. WGSL has no
// float atomics; the alternative (an atomicCompareExchangeWeak loop on atomic<u32> with bitcast) adds in a
// scheduling-dependent order, so results would vary from run to run and from the CPU reference, and it only
// works for 32-bit types. The loop costs O(numel(out) * src.shape[axis]), which is fine for the gradients of
// gather/embedding lookups with modest axis lengths.
//
// Entry points: gather, scatter_add.
// Bindings (group 0):
//   gather:      0 read x: array<T> | 1 read idx: array<i32> | 2 read_write out: array<T> | 3 uniform params
//   scatter_add: 0 read sidx: array<i32> | 1 read src: array<T> | 2 read_write out: array<T> | 3 uniform params
//   both:        4 read_write err: array<atomic<u32>, 4> (the engine's device error flag, see below)
//   (both inputs contiguous from their offsets; the output has the index's shape (gather) or params.oshape)
// Params: numel, rank, axis, axis_len (x's axis length for gather, src's for scatter_add), offset0, offset1,
//   oshape (output dims), ashape (gather: x dims; scatter_add: src dims); dims left-aligned.
// Overrides: WG (workgroup size, default 256).
// Element type: `alias T = f32;` becomes f16 (with `enable f16;`), i32, u32 (bool) or f64.
//
// Out-of-range indices (< 0 or >= the axis length) are errors, reported late. The kernel cannot return an
// error, and checking on the host would need the index values there, i.e. a GPU->CPU sync on every execute.
// Instead the kernel records the first bad index in the engine's device error flag (first writer wins with
// atomicCompareExchangeWeak): err[0] = op code (0 none, 1 gather, 2 scatter_add), err[1] = the index (i32
// bits), err[2] = axis, err[3] = axis length; it still writes a defined value (gather reads 0, scatter_add
// drops the element). The engine copies the flag into the staging readback of the next `download`, which
// waits for the GPU anyway, and that download returns `Error::Index` ("... (detected on the GPU)") and
// clears the flag: like CUDA's device-side asserts, the error surfaces at the next read, not at the launch.

alias T = f32;

override WG: u32 = 256u;

struct Params {
    numel: u32,
    rank: u32,
    axis: u32,
    axis_len: u32,
    offset0: u32,
    offset1: u32,
    // scatter_add: the part [a0, a1) of the src axis this dispatch sums, added into `out` unless a0 = 0 (the
    // host splits a long axis: llvmpipe ends an invocation's loops after 65,535 iterations); gather: unused.
    a0: u32,
    a1: u32,
    oshape: array<vec4<u32>, 2>,
    ashape: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(0) var<storage, read> sidx: array<i32>;
@group(0) @binding(1) var<storage, read> src: array<T>;
@group(0) @binding(2) var<storage, read_write> out: array<T>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>, 4>;

const ERR_GATHER: u32 = 1u;
const ERR_SCATTER_ADD: u32 = 2u;

// Records (op, index, axis, axis length) unless an earlier error is already recorded (first writer wins;
// the loop only retries spurious failures of the weak exchange, never overwrites a recorded error).
fn report(op: u32, index: i32, axis_len: u32) {
    loop {
        let r = atomicCompareExchangeWeak(&err[0], 0u, op);
        if r.exchanged {
            atomicStore(&err[1], bitcast<u32>(index));
            atomicStore(&err[2], params.axis);
            atomicStore(&err[3], axis_len);
            return;
        }
        if r.old_value != 0u {
            return;
        }
    }
}

fn linear(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn odim(d: u32) -> u32 {
    return params.oshape[d / 4u][d % 4u];
}

fn adim(d: u32) -> u32 {
    return params.ashape[d / 4u][d % 4u];
}

@compute @workgroup_size(WG)
fn gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    let j = idx[params.offset1 + i];
    if j < 0 || u32(j) >= params.axis_len {
        report(ERR_GATHER, j, params.axis_len);
        out[i] = T(0);
        return;
    }
    var rem = i;
    var q = 0u;
    var scale = 1u;
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let c = rem % odim(k);
        rem /= odim(k);
        q += select(c, u32(j), k == params.axis) * scale;
        scale *= adim(k);
    }
    out[i] = x[params.offset0 + q];
}

@compute @workgroup_size(WG)
fn scatter_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = linear(wid, nwg, lid);
    if i >= params.numel { return; }
    // src position of (o with o[axis] = 0), and the src stride of the axis
    var rem = i;
    var q = 0u;
    var scale = 1u;
    var axis_stride = 1u;
    var target_ = 0u;
    for (var d = i32(params.rank) - 1; d >= 0; d--) {
        let k = u32(d);
        let c = rem % odim(k);
        rem /= odim(k);
        if k == params.axis {
            target_ = c;
            axis_stride = scale;
        } else {
            if c >= adim(k) {
                if params.a0 == 0u {
                    out[i] = T(0);
                }
                return;
            }
            q += c * scale;
        }
        scale *= adim(k);
    }
    // every src position is scanned by the odim(axis) threads that share its outer coordinates; the one
    // with target_ 0 checks the index values
    let out_len = odim(params.axis);
    var acc = T(0);
    for (var a = params.a0; a < params.a1; a++) {
        let p = q + a * axis_stride;
        let s = sidx[params.offset0 + p];
        if s == i32(target_) {
            acc += src[params.offset1 + p];
        } else if target_ == 0u && (s < 0 || u32(s) >= out_len) {
            report(ERR_SCATTER_ADD, s, out_len);
        }
    }
    out[i] = select(acc, out[i] + acc, params.a0 != 0u);
}
