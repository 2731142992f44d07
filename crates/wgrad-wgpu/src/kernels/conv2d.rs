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
    features: wgpu::Features::empty(),
    checked: false,
};

/// Invocations per workgroup (a power of two: the weight-gradient reduction halves it); `WG64`.
pub const WG: u32 = 64;

/// Which kernels compute a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// One invocation per output element (`conv2d.wgsl`): every adapter, every `groups`.
    Direct,
    /// Texture products with the unfolded operand packed first ([`super::conv2d_tex`]).
    Unfolded,
    /// Texture products reading the taps from a channels-last copy ([`super::conv2d_taps`]), and
    /// [`Path::Unfolded`] for the passes it declines.
    Taps,
}

impl Path {
    fn textures(self) -> bool {
        matches!(self, Path::Unfolded | Path::Taps)
    }
}

/// [`Path::Taps`] where the texture products apply (see [`super::conv2d_tex::applies`]), else the direct
/// kernels; a path forced by [`crate::Options::conv2d`] wins where it applies.
pub fn pick(caps: &crate::Caps, p: &Conv2dParams) -> Path {
    match caps.conv2d {
        Some(Path::Direct) => Path::Direct,
        _ if !super::conv2d_tex::applies(caps, p) => Path::Direct,
        Some(forced) => forced,
        None => Path::Taps,
    }
}

/// `Unsupported` when `path` cannot run here.
fn check_path(rec: &Recorder, op: &'static str, path: Path, p: &Conv2dParams) -> Result<()> {
    if path.textures() && !super::conv2d_tex::applies(rec.caps(), p) {
        return Err(Error::Unsupported {
            backend: "wgpu",
            op,
            msg: format!(
                "the {:?} path (texture products) needs groups = 1 (got {}) and an adapter that runs \
                 matmul_tex ({} does {})",
                path,
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

/// The launches of `entry` into one fresh output: invocation per output element, or workgroup per element
/// when `per_group`. The loop each invocation runs is split into ranges within [`super::LOOP_BUDGET`]
/// ([`chunks`]), one dispatch each, the later ones adding into the output.
fn launch(
    rec: &mut Recorder,
    (pass, d, p): (Pass, &Dims, &Conv2dParams),
    params: Vec<u32>,
    [in0, in1]: [Input; 2],
    out: &Meta,
) -> Result<Buffer> {
    let entry = pass.op();
    let output = rec.output(out)?;
    let numel = out.numel();
    if numel == 0 {
        return Ok(output);
    }
    let groups = if pass == Pass::BackwardWeight {
        numel
    } else {
        numel.div_ceil(WG as usize)
    };
    for (i, (r0, r1)) in chunks(entry, pass, d, p)?.into_iter().enumerate() {
        let mut words = params.clone();
        words.extend([
            word(entry, "range", r0)?,
            word(entry, "range", r1)?,
            u32::from(i > 0),
            0,
        ]);
        FAMILY.launch(
            rec,
            Launch {
                op: entry,
                entry,
                dtype: out.dtype,
                bindings: &Bind::io(&[in0.buffer, in1.buffer], &output),
                params: &words,
                grid: Grid::Linear(word(entry, "workgroups", groups)?),
            },
        )?;
    }
    Ok(output)
}

/// The ranges of the summed loop of `pass`, each within [`super::LOOP_BUDGET`] iterations per invocation:
/// input channels of a group (forward: `kh·kw` taps each), output channels of a group (input gradient), or
/// the `N·OH·OW` positions a weight gradient sums (`WG` invocations stride over them). Errors when one
/// channel's taps alone exceed the budget.
fn chunks(op: &'static str, pass: Pass, d: &Dims, p: &Conv2dParams) -> Result<Vec<(usize, usize)>> {
    let [n, c_in, _, _, c_out, oh, ow, kh, kw] = d.0;
    let budget = super::LOOP_BUDGET;
    let (len, step) = match pass {
        Pass::Forward | Pass::BackwardInput => {
            let taps = kh * kw;
            if taps > budget {
                return Err(Error::LimitExceeded {
                    op,
                    what: format!("kernel taps {kh}x{kw} summed by one invocation"),
                    value: taps as u64,
                    limit_name: "wgrad LOOP_BUDGET",
                    limit: budget as u64,
                });
            }
            let channels = if pass == Pass::Forward { c_in } else { c_out } / p.groups;
            (channels, (budget / taps).max(1))
        }
        Pass::BackwardWeight => (n * oh * ow, WG as usize * budget),
    };
    Ok((0..len.div_ceil(step).max(1))
        .map(|c| (c * step, ((c + 1) * step).min(len)))
        .collect())
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
    if path.textures() && out.numel() > 0 {
        let inputs = [&a, &b];
        // the taps path declines some passes (see conv2d_taps): those take the unfolded products
        if path == Path::Taps {
            if let Some(y) = super::conv2d_taps::run(rec, pass, p, &d, inputs, out)? {
                return Ok(y);
            }
        }
        if let Some(y) = super::conv2d_tex::run(rec, pass, p, &d, inputs, out)? {
            return Ok(y);
        }
    }
    let params = d.params(op, p, out.numel(), [a.layout.offset, b.layout.offset])?;
    launch(rec, (pass, &d, p), params, [a, b], out)
}
