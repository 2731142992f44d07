//! Matmul and convolution with the kernel the autotuner picks ([`crate::autotune`]), or the automatic pick
//! when autotuning is off or a kernel is forced: what [`super::router::GpuKernels`] calls.
//!
//! Candidates are timed alone on zero-filled operands of the same shapes (contiguous; their values do not
//! matter to the speed), so timing never touches the tensors being computed. Shape classes: a matmul's batch, m,
//! n and k rounded up to powers of two, and its dtype; a convolution's pass, dtype and whole geometry with
//! the batch rounded up to a power of two.

use wgrad_graph::{Buffer, Conv2dParams, DType, Input, Layout, Meta, Result};

use super::conv2d::{self, Path};
use super::conv_geometry::Pass;
use super::matmul::{self, Variant};
use crate::autotune::Candidate;
use crate::engine::Recorder;

impl Candidate for Variant {
    fn label(self) -> &'static str {
        self.entry()
    }
}

impl Candidate for Path {
    fn label(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Unfolded => "unfolded",
            Path::Taps => "taps",
        }
    }
}

/// [`matmul::matmul_with`] on the tuned or picked kernel.
///
/// # Shapes
/// `lhs [b, m, k]`, `rhs [b, k, n]` (any strides) → `out [b, m, n]` contiguous.
pub fn matmul(rec: &mut Recorder, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
    let caps = rec.caps();
    let [b, m, k] = dims3(lhs.shape().dims());
    let n = out.shape.dims()[2];
    let picked = matmul::pick_for(caps, [m, n, k]);
    let variant = match (&rec.engine().tuner, caps.matmul) {
        (Some(tuner), None) => {
            let others = if caps.is_software {
                [Variant::Texture, Variant::Subgroup]
            } else {
                [Variant::Subgroup, Variant::RegisterBlocked]
            };
            let candidates = distinct(picked, others, |&v| matmul::available(caps, v));
            let class = format!(
                "{:?} b{} m{} n{} k{}",
                out.dtype,
                p2(b),
                p2(m),
                p2(n),
                p2(k)
            );
            let operands = Operands::new(rec, [vec![b, m, k], vec![b, k, n]], out.dtype)?;
            tuner.choose("matmul", &class, &candidates, |v| {
                rec.time_alone(|r| {
                    let [a, c] = operands.inputs();
                    matmul::matmul_with(r, v, a, c, out).map(drop)
                })
            })?
        }
        _ => picked,
    };
    matmul::matmul_with(rec, variant, lhs, rhs, out)
}

/// [`conv2d::run`] of `pass` on the tuned or picked path; inputs in the order of [`Pass`]'s docs.
pub fn conv2d(
    rec: &mut Recorder,
    pass: Pass,
    p: &Conv2dParams,
    [a, b]: [Input; 2],
    out: &Meta,
) -> Result<Buffer> {
    let caps = rec.caps();
    let picked = conv2d::pick(caps, p);
    // On software adapters the direct kernels are 50-100x slower than the texture paths (BENCHMARKS.md):
    // never worth timing where those apply.
    let path = match (&rec.engine().tuner, caps.conv2d) {
        (Some(tuner), None) if picked == Path::Taps => {
            let candidates = [Path::Taps, Path::Unfolded];
            let (da, db) = (a.shape().dims(), b.shape().dims());
            // the weight gradient's second input is dy, batched like the first
            let db_class = if pass == Pass::BackwardWeight {
                &db[1..]
            } else {
                db
            };
            let class = format!(
                "{} {:?} n{} {:?} {:?} s{:?} p{:?} d{:?} g{}",
                pass.op(),
                out.dtype,
                p2(da[0]),
                &da[1..],
                db_class,
                p.stride,
                p.padding,
                p.dilation,
                p.groups
            );
            let operands = Operands::new(rec, [da.to_vec(), db.to_vec()], out.dtype)?;
            tuner.choose("conv2d", &class, &candidates, |path| {
                rec.time_alone(|r| conv2d::run(r, pass, path, p, operands.inputs(), out).map(drop))
            })?
        }
        _ => picked,
    };
    conv2d::run(rec, pass, path, p, [a, b], out)
}

/// Two contiguous operands filled with zeros, for timing: the values do not change the kernels' speed, and
/// zeros rule out denormals (slow on CPUs, and software adapters run on one) that a pooled buffer's old
/// contents might hold.
struct Operands {
    buffers: [Buffer; 2],
    layouts: [Layout; 2],
    dtype: DType,
}

impl Operands {
    fn new(rec: &Recorder, shapes: [Vec<usize>; 2], dtype: DType) -> Result<Operands> {
        let metas = shapes.map(|s| Meta::new(s, dtype));
        let mut fill = Recorder::new(rec.engine().clone());
        let buffers = [
            super::movement::full(&mut fill, 0.0, &metas[0])?,
            super::movement::full(&mut fill, 0.0, &metas[1])?,
        ];
        fill.finish()?;
        Ok(Operands {
            buffers,
            layouts: metas.map(|m| Layout::contiguous(m.shape)),
            dtype,
        })
    }

    fn inputs(&self) -> [Input<'_>; 2] {
        [0, 1].map(|i| Input {
            buffer: &self.buffers[i],
            layout: &self.layouts[i],
            dtype: self.dtype,
        })
    }
}

/// `first`, then those of `others` that differ from it and `keep` accepts.
fn distinct<T: PartialEq + Copy, const N: usize>(
    first: T,
    others: [T; N],
    keep: impl Fn(&T) -> bool,
) -> Vec<T> {
    let mut out = vec![first];
    out.extend(others.into_iter().filter(|x| *x != first && keep(x)));
    out
}

fn dims3(d: &[usize]) -> [usize; 3] {
    [d[0], d[1], d[2]]
}

/// `x` rounded up to a power of two (the shape classes' buckets).
fn p2(x: usize) -> usize {
    x.max(1).next_power_of_two()
}
