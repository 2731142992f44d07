//! Kernel families: one module per WGSL file in `shaders/`, each with `SHADER`, `variants()` (what the
//! naga test validates) and the free functions [`GpuKernels`] calls.

pub mod binary;
pub mod conv2d;
pub mod conv2d_tex;
pub mod fused;
pub mod index;
pub mod matmul;
pub mod matmul_tex;
pub mod movement;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod softmax;
pub mod strided;
pub mod unary;

use wgrad_graph::{
    BinaryOp, Buffer, Conv2dParams, Error, Input, Kernels, Meta, Pool2dParams, RandomDist,
    ReduceOp, Result, UnaryOp,
};

use crate::engine::{Recorder, Shader};
use wgrad_graph::DType;

/// `value` as a u32 shader word, or `LimitExceeded` (the shaders index with u32).
pub(crate) fn word(op: &'static str, what: &str, value: usize) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::LimitExceeded {
        op,
        what: what.to_string(),
        value: value as u64,
        limit_name: "u32 index range of the wgpu kernels",
        limit: u32::MAX as u64,
    })
}

/// Every value as a u32 shader word.
pub(crate) fn words(op: &'static str, values: &[usize]) -> Result<Vec<u32>> {
    values
        .iter()
        .map(|&v| word(op, "size, stride or offset", v))
        .collect()
}

/// A variant: entry point, dtype, overrides.
pub type Variant = (&'static str, wgrad_graph::DType, Vec<(&'static str, f64)>);

/// Every family's shader and variants, for the naga test.
pub fn families() -> Vec<(&'static Shader, Vec<Variant>)> {
    vec![
        (&unary::SHADER, unary::variants()),
        (&binary::SHADER, binary::variants()),
        (&movement::SHADER, movement::variants()),
        (&reduce::SHADER, reduce::variants()),
        (&index::SHADER, index::variants()),
        (&random::SHADER, random::variants()),
        (&matmul::SHADER, matmul::variants()),
        (&matmul_tex::PACK, matmul_tex::pack_variants()),
        (&conv2d::SHADER, conv2d::variants()),
        (&conv2d_tex::SHADER, conv2d_tex::variants()),
        (&pool::SHADER, pool::variants()),
        (&softmax::SHADER, softmax::variants()),
    ]
}

/// The files that need `wgpu::Features::SUBGROUP`, kept apart so a device without subgroups never compiles
/// them (and the naga test validates them with that capability).
pub fn subgroup_families() -> Vec<(&'static Shader, Vec<Variant>)> {
    let f32_f16 = |entry| vec![(entry, DType::F32, vec![]), (entry, DType::F16, vec![])];
    vec![
        (&matmul::SHADER_SG, f32_f16("matmul_sg")),
        (&matmul_tex::SHADER, f32_f16("matmul_tex")),
    ]
}

/// Refuses f64 for an op whose kernel would not compute it in f64.
///
/// On adapters with `SHADER_F64` the kernels WGSL evaluates exactly in f64 run in f64: add, sub, mul, div,
/// max, min, comparisons, `where`, neg, abs, sign, relu, the reductions, gather and scatter_add, and data
/// movement and fills. The others refuse it with this error instead of returning f32-precision numbers:
/// WGSL has no f64 exp, log, sin or pow, the matmul, convolution, pooling and softmax kernels accumulate in
/// f32, and the casts and random kernels go through f32 words.
pub fn refuse_f64(op: &'static str, dtypes: &[DType]) -> Result<()> {
    if !dtypes.contains(&DType::F64) {
        return Ok(());
    }
    Err(wgrad_graph::Error::Unsupported {
        backend: "wgpu",
        op,
        msg: format!(
            "f64 {op} is not available on wgpu: the kernel would compute in f32 (f64 covers arithmetic, \
             comparisons, where, neg/abs/sign/relu, reductions, gather/scatter_add and data movement); \
             cast to f32 or use the CPU backend"
        ),
    })
}

/// Unary ops whose kernels are exact in f64 (no f32 round trip).
fn unary_exact_in_f64(op: UnaryOp) -> bool {
    matches!(
        op,
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Relu
    )
}

/// The `Kernels` impl `run_schedule` drives: every method records into the one [`Recorder`].
#[derive(Debug)]
pub struct GpuKernels {
    pub rec: Recorder,
}

impl Kernels for GpuKernels {
    fn fused(
        &mut self,
        expr: &wgrad_graph::fuse::FusedExpr,
        args: &[Input],
        out: &Meta,
    ) -> Result<Buffer> {
        fused::fused(&mut self.rec, expr, args, out)
    }
    fn full(&mut self, value: f64, out: &Meta) -> Result<Buffer> {
        movement::full(&mut self.rec, value, out)
    }
    fn random(&mut self, dist: RandomDist, seed: u64, offset: u64, out: &Meta) -> Result<Buffer> {
        refuse_f64("random", &[out.dtype])?;
        random::random(&mut self.rec, dist, seed, offset, out)
    }
    fn unary(&mut self, op: UnaryOp, x: Input, out: &Meta) -> Result<Buffer> {
        if !unary_exact_in_f64(op) {
            refuse_f64(op.name(), &[out.dtype])?;
        }
        unary::unary(&mut self.rec, op, x, out)
    }
    fn cast(&mut self, x: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("cast", &[x.dtype, out.dtype])?;
        unary::cast(&mut self.rec, x, out)
    }
    fn binary(&mut self, op: BinaryOp, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
        if op == BinaryOp::Pow {
            refuse_f64("pow", &[lhs.dtype])?;
        }
        binary::binary(&mut self.rec, op, lhs, rhs, out)
    }
    fn where_(&mut self, cond: Input, a: Input, b: Input, out: &Meta) -> Result<Buffer> {
        binary::where_(&mut self.rec, cond, a, b, out)
    }
    fn reduce(&mut self, op: ReduceOp, axes: &[usize], x: Input, out: &Meta) -> Result<Buffer> {
        reduce::reduce(&mut self.rec, op, axes, x, out)
    }
    fn copy(&mut self, x: Input, out: &Meta) -> Result<Buffer> {
        movement::copy(&mut self.rec, x, out)
    }
    fn pad(&mut self, before: &[usize], value: f64, x: Input, out: &Meta) -> Result<Buffer> {
        movement::pad(&mut self.rec, before, value, x, out)
    }
    fn concat(&mut self, axis: usize, xs: &[Input], out: &Meta) -> Result<Buffer> {
        movement::concat(&mut self.rec, axis, xs, out)
    }
    fn gather(&mut self, axis: usize, x: Input, index: Input, out: &Meta) -> Result<Buffer> {
        index::gather(&mut self.rec, axis, x, index, out)
    }
    fn scatter_add(&mut self, axis: usize, index: Input, src: Input, out: &Meta) -> Result<Buffer> {
        index::scatter_add(&mut self.rec, axis, index, src, out)
    }
    fn matmul(&mut self, lhs: Input, rhs: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("matmul", &[out.dtype])?;
        matmul::matmul(&mut self.rec, lhs, rhs, out)
    }
    fn conv2d(&mut self, p: &Conv2dParams, x: Input, w: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("conv2d", &[out.dtype])?;
        conv2d::conv2d(&mut self.rec, p, x, w, out)
    }
    fn conv2d_backward_input(
        &mut self,
        p: &Conv2dParams,
        dy: Input,
        w: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        refuse_f64("conv2d_backward_input", &[out.dtype])?;
        conv2d::conv2d_backward_input(&mut self.rec, p, dy, w, out)
    }
    fn conv2d_backward_weight(
        &mut self,
        p: &Conv2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        refuse_f64("conv2d_backward_weight", &[out.dtype])?;
        conv2d::conv2d_backward_weight(&mut self.rec, p, x, dy, out)
    }
    fn max_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("max_pool2d", &[out.dtype])?;
        pool::max_pool2d(&mut self.rec, p, x, out)
    }
    fn max_pool2d_backward(
        &mut self,
        p: &Pool2dParams,
        x: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        refuse_f64("max_pool2d_backward", &[out.dtype])?;
        pool::max_pool2d_backward(&mut self.rec, p, x, dy, out)
    }
    fn avg_pool2d(&mut self, p: &Pool2dParams, x: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("avg_pool2d", &[out.dtype])?;
        pool::avg_pool2d(&mut self.rec, p, x, out)
    }
    fn avg_pool2d_backward(&mut self, p: &Pool2dParams, dy: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("avg_pool2d_backward", &[out.dtype])?;
        pool::avg_pool2d_backward(&mut self.rec, p, dy, out)
    }
    fn softmax(&mut self, axis: usize, log: bool, x: Input, out: &Meta) -> Result<Buffer> {
        refuse_f64("softmax", &[out.dtype])?;
        softmax::softmax(&mut self.rec, axis, log, x, out)
    }
    fn softmax_backward(
        &mut self,
        axis: usize,
        log: bool,
        y: Input,
        dy: Input,
        out: &Meta,
    ) -> Result<Buffer> {
        refuse_f64("softmax_backward", &[out.dtype])?;
        softmax::softmax_backward(&mut self.rec, axis, log, y, dy, out)
    }
}
