//! 2-D convolution over NCHW and its adjoints in input and weight (`shaders/conv2d.wgsl`).
//!
//! Two paths, chosen per adapter and params by [`pick`]:
//! - direct kernels (`shaders/conv2d.wgsl`, every adapter and every `groups`): one invocation per output
//!   element for the forward and backward-input passes (the latter a gather over the taps, so no atomics),
//!   one workgroup per weight-gradient element with a tree reduction over the batch and the output
//!   positions;
//! - implicit GEMM through textures ([`super::conv2d_tex`], software adapters where `matmul_tex` runs,
//!   `groups = 1`), falling back to the direct kernels when the textures would exceed the limits.

use wgrad_graph::{Buffer, Conv2dParams, Error, Input, Meta, Result};

use crate::dispatch::{Bind, Grid, Shader};
use crate::engine::Recorder;
use crate::family::{entries, Family, Launch, FLOATS, WG64};
use crate::kernels::conv_geometry::Dims;
pub use crate::kernels::conv_geometry::Pass;
use crate::kernels::matmul::expect_rank;
use crate::kernels::word;

/// The direct kernels (every adapter, every `groups`).
pub static FAMILY: Family = Family {
    shader: Shader {
        name: "conv2d",
        source: include_str!("../../shaders/conv2d.wgsl"),
    },
    entries: entries!(FLOATS, WG64; "conv2d" "conv2d_backward_input" "conv2d_backward_weight"),
    subgroups: false,
    checked: false,
};

/// Invocations per workgroup (a power of two: the weight-gradient reduction halves it); `WG64`.
pub const WG: u32 = 64;

/// Which kernels compute a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Direct,
    Texture,
}

/// The texture path where it applies (see [`super::conv2d_tex::applies`]), else the direct kernels.
pub fn pick(caps: &crate::Caps, p: &Conv2dParams) -> Path {
    if super::conv2d_tex::applies(caps, p) {
        Path::Texture
    } else {
        Path::Direct
    }
}

/// `Unsupported` when `path` cannot run here.
fn check_path(rec: &Recorder, op: &'static str, path: Path, p: &Conv2dParams) -> Result<()> {
    if path == Path::Texture && !super::conv2d_tex::applies(rec.caps(), p) {
        return Err(Error::Unsupported {
            backend: "wgpu",
            op,
            msg: format!(
                "the texture path needs groups = 1 (got {}) and an adapter that runs matmul_tex ({} does {})",
                p.groups,
                rec.caps().adapter_name,
                if super::matmul_tex::supported(rec.caps()) { "" } else { "not" }
            ),
        });
    }
    Ok(())
}

fn contiguous(op: &'static str, what: &str, x: &Input) -> Result<()> {
    expect_rank(op, what, x, 4)?;
    if !x.layout.is_contiguous() {
        return Err(Error::shape(
            op,
            format!(
                "{what} must be contiguous, got strides {:?}",
                x.layout.strides
            ),
        ));
    }
    Ok(())
}

/// One launch of `entry`: invocation per output element, or workgroup per element when `per_group`.
fn launch(
    rec: &mut Recorder,
    entry: &'static str,
    params: &[u32],
    [in0, in1]: [Input; 2],
    out: &Meta,
    per_group: bool,
) -> Result<Buffer> {
    let output = rec.output(out)?;
    let numel = out.numel();
    if numel == 0 {
        return Ok(output);
    }
    let groups = if per_group {
        numel
    } else {
        numel.div_ceil(WG as usize)
    };
    FAMILY.launch(
        rec,
        Launch {
            op: entry,
            entry,
            dtype: out.dtype,
            bindings: &Bind::io(&[in0.buffer, in1.buffer], &output),
            params,
            grid: Grid::Linear(word(entry, "workgroups", groups)?),
        },
    )?;
    Ok(output)
}

/// # Shapes
/// `x [N, C_in, H, W]`, `w [C_out, C_in/groups, KH, KW]` → `y [N, C_out, OH, OW]`.
pub fn conv2d(
    rec: &mut Recorder,
    p: &Conv2dParams,
    x: Input,
    w: Input,
    out: &Meta,
) -> Result<Buffer> {
    run(rec, Pass::Forward, pick(rec.caps(), p), p, [x, w], out)
}

/// The transposed convolution: the adjoint of [`conv2d`] in `x`.
///
/// # Shapes
/// `dy [N, C_out, OH, OW]`, `w [C_out, C_in/groups, KH, KW]` → `dx [N, C_in, H, W]` (`out` gives `H, W`).
pub fn conv2d_backward_input(
    rec: &mut Recorder,
    p: &Conv2dParams,
    dy: Input,
    w: Input,
    out: &Meta,
) -> Result<Buffer> {
    run(
        rec,
        Pass::BackwardInput,
        pick(rec.caps(), p),
        p,
        [dy, w],
        out,
    )
}

/// The adjoint of [`conv2d`] in the weight.
///
/// # Shapes
/// `x [N, C_in, H, W]`, `dy [N, C_out, OH, OW]` → `dw [C_out, C_in/groups, KH, KW]` (`out` gives `KH, KW`).
pub fn conv2d_backward_weight(
    rec: &mut Recorder,
    p: &Conv2dParams,
    x: Input,
    dy: Input,
    out: &Meta,
) -> Result<Buffer> {
    run(
        rec,
        Pass::BackwardWeight,
        pick(rec.caps(), p),
        p,
        [x, dy],
        out,
    )
}

/// `pass` on a given path (tests compare the paths); inputs in the order of [`Pass`]'s docs.
pub fn run(
    rec: &mut Recorder,
    pass: Pass,
    path: Path,
    p: &Conv2dParams,
    [a, b]: [Input; 2],
    out: &Meta,
) -> Result<Buffer> {
    let op = pass.op();
    let [a_name, b_name] = pass.input_names();
    contiguous(op, a_name, &a)?;
    contiguous(op, b_name, &b)?;
    let [xs, ws, ys] = pass.shapes(&a.shape().0, &b.shape().0, &out.shape.0);
    let d = Dims::new(op, p, xs, ws, ys)?;
    check_path(rec, op, path, p)?;
    if path == Path::Texture && out.numel() > 0 {
        if let Some(y) = super::conv2d_tex::run(rec, pass, p, &d, [&a, &b], out)? {
            return Ok(y);
        }
    }
    let params = d.params(op, p, out.numel(), [a.layout.offset, b.layout.offset])?;
    launch(rec, op, &params, [a, b], out, pass == Pass::BackwardWeight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_check::{
        self as check, assert_close, download, matches_cpu, run, upload, In,
    };
    use crate::testing::backend_or_skip;
    use wgrad_graph::DType;
    use wgrad_graph::{Layout, Op};

    /// f32 tolerance for sums of a few hundred products.
    const ATOL: f64 = 1e-4;

    /// (x shape, c_out, kernel hw, params)
    fn cases() -> Vec<([usize; 4], usize, [usize; 2], Conv2dParams)> {
        let p = |s: [usize; 2], pad: [usize; 2], d: [usize; 2], groups| Conv2dParams {
            stride: s,
            padding: pad,
            dilation: d,
            groups,
        };
        vec![
            ([1, 1, 1, 1], 1, [1, 1], Conv2dParams::default()),
            ([2, 3, 17, 17], 4, [3, 3], p([1, 1], [1, 1], [1, 1], 1)),
            ([2, 4, 17, 13], 6, [3, 2], p([2, 2], [1, 0], [1, 1], 2)),
            ([1, 2, 16, 15], 3, [3, 3], p([2, 1], [2, 1], [2, 2], 1)),
            ([3, 4, 9, 9], 4, [2, 3], p([1, 2], [0, 2], [2, 1], 2)),
            ([1, 3, 28, 28], 5, [5, 5], p([1, 1], [0, 0], [1, 1], 1)),
            ([2, 16, 8, 8], 8, [3, 3], p([1, 1], [1, 1], [1, 1], 1)),
            // the blocks of the example CNN at batch 16
            ([16, 1, 28, 28], 4, [3, 3], p([1, 1], [1, 1], [1, 1], 1)),
            ([16, 4, 14, 14], 8, [3, 3], p([1, 1], [1, 1], [1, 1], 1)),
            ([16, 8, 7, 7], 8, [3, 3], p([1, 1], [1, 1], [1, 1], 1)),
        ]
    }

    /// Random contiguous input at a nonzero offset.
    fn input(seed: u64, shape: &[usize]) -> In {
        let base = In::new(seed, shape);
        let mut data = vec![0.25; 7];
        data.extend(base.data);
        let mut layout = Layout::contiguous(shape.to_vec().into());
        layout.offset = 7;
        In { data, layout }
    }

    /// The three passes of one case on `path`, each as its own execute, read back.
    fn run_path(
        gpu: &crate::WgpuBackend,
        path: Path,
        p: &Conv2dParams,
        [a, b]: [&In; 2],
        pass: &Op,
        out: &Meta,
    ) -> Vec<f64> {
        let (ab, bb) = (upload(gpu, a, out.dtype), upload(gpu, b, out.dtype));
        let (ia, ib) = (
            check::input(&ab, a, out.dtype),
            check::input(&bb, b, out.dtype),
        );
        let mut rec = Recorder::new(gpu.engine().clone());
        let pass = match pass {
            Op::Conv2d(_) => Pass::Forward,
            Op::Conv2dBackwardInput { .. } => Pass::BackwardInput,
            _ => Pass::BackwardWeight,
        };
        let y = super::run(&mut rec, pass, path, p, [ia, ib], out).expect("record");
        rec.finish().expect("submit");
        download(gpu, &y, out)
    }

    /// Every case, every pass, on every path this adapter runs (the texture path skips grouped cases).
    #[test]
    fn conv2d_paths_match_cpu() {
        let Some(gpu) = backend_or_skip() else { return };
        let cpu = wgrad_cpu::CpuBackend::new();
        for (i, (xs, c_out, k, p)) in cases().into_iter().enumerate() {
            let seed = 10 * i as u64;
            let ws = [c_out, xs[1] / p.groups, k[0], k[1]];
            let oh = p.out_size(0, xs[2], k[0]).expect("fits");
            let ow = p.out_size(1, xs[3], k[1]).expect("fits");
            let ys = [xs[0], c_out, oh, ow];
            let (x, w, dy) = (input(seed, &xs), input(seed + 1, &ws), input(seed + 2, &ys));
            let passes = [
                (Op::Conv2d(p), [&x, &w], ys),
                (
                    Op::Conv2dBackwardInput {
                        params: p,
                        input_hw: [xs[2], xs[3]],
                    },
                    [&dy, &w],
                    xs,
                ),
                (
                    Op::Conv2dBackwardWeight {
                        params: p,
                        kernel_hw: k,
                    },
                    [&x, &dy],
                    ws,
                ),
            ];
            for (op, inputs, shape) in &passes {
                let out = Meta::new(shape.to_vec(), DType::F32);
                let want = run(&cpu, op, inputs, &out);
                for path in [Path::Direct, Path::Texture] {
                    if path == Path::Texture && !super::super::conv2d_tex::applies(gpu.caps(), &p) {
                        continue;
                    }
                    let got = run_path(&gpu, path, &p, *inputs, op, &out);
                    let case = format!("{path:?} {op:?} x {xs:?} w {ws:?}");
                    assert_close(&case, &got, &want, ATOL, ATOL);
                }
            }
        }
    }

    #[test]
    fn conv2d_matches_cpu() {
        let Some(gpu) = backend_or_skip() else { return };
        for (i, (xs, c_out, k, p)) in cases().into_iter().enumerate() {
            let seed = 10 * i as u64;
            let ws = [c_out, xs[1] / p.groups, k[0], k[1]];
            let oh = p.out_size(0, xs[2], k[0]).expect("fits");
            let ow = p.out_size(1, xs[3], k[1]).expect("fits");
            let ys = [xs[0], c_out, oh, ow];
            let (x, w, dy) = (input(seed, &xs), input(seed + 1, &ws), input(seed + 2, &ys));
            let case = |name: &str| format!("{name} x {xs:?} w {ws:?} {p:?}");
            let y = Meta::new(ys.to_vec(), DType::F32);
            matches_cpu(&gpu, &case("conv2d"), &Op::Conv2d(p), &[&x, &w], &y, ATOL);
            let dx = Meta::new(xs.to_vec(), DType::F32);
            let op = Op::Conv2dBackwardInput {
                params: p,
                input_hw: [xs[2], xs[3]],
            };
            matches_cpu(
                &gpu,
                &case("conv2d_backward_input"),
                &op,
                &[&dy, &w],
                &dx,
                ATOL,
            );
            let dw = Meta::new(ws.to_vec(), DType::F32);
            let op = Op::Conv2dBackwardWeight {
                params: p,
                kernel_hw: k,
            };
            let name = case("conv2d_backward_weight");
            matches_cpu(&gpu, &name, &op, &[&x, &dy], &dw, ATOL);
        }
    }
}
