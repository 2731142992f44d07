//! The op table: one row per primitive (and per backward primitive, through `grad`), with its family, input
//! domains, shape variants and builder. The harness in `tests/ops` walks it: f64 finite differences on the
//! CPU, wgpu against the CPU in f32 (on strided layouts and on every matmul kernel and convolution path too),
//! f64, f16 and integers, and a coverage check that fails when a primitive has no row.
//!
//! Shapes include sizes 1, 3, 17, 257 and [45, 65], none a multiple of a workgroup or tile size. The rows
//! are split by family: [`elementwise`], [`reduce`], [`movement`], [`matmul_conv`], [`pool_softmax`],
//! [`backward`] (rows whose output is a gradient), [`attention`] and [`layers`] (composites layers are made of: transposed
//! convolution, GELU, layer norm, upsampling, recurrent cells and runs).

mod attention;
mod backward;
mod elementwise;
mod layers;
mod matmul_conv;
mod movement;
mod pool_softmax;
mod reduce;

use wgrad::graph::{BinaryOp, Conv2dParams, UnaryOp};
use wgrad::{DType, Result, Tensor};

/// How to draw an input.
#[derive(Clone, Copy, Debug)]
pub enum Domain {
    /// Uniform in [-2, 2).
    Any,
    /// Uniform in [0.5, 2): for log, sqrt, pow bases.
    Positive,
    /// |x| in [0.3, 2) with a random sign: keeps inputs off kinks at 0 (relu, abs, recip).
    AwayFromZero,
    /// Uniform in [-0.9, 0.9).
    Unit,
    /// Uniform in [-30, 30): logits large enough that softmax's max subtraction matters.
    Logits,
    /// Integers in [-2, 2]: windows and rows full of equal maxima (the first one must win).
    Ties,
    /// i32 in [0, n).
    Index(usize),
    /// Uniform in [-20, 20), stored in this dtype whatever the check's dtype (no gradient).
    Stored(DType),
}

impl Domain {
    /// The dtype of an input drawn from this domain when the check runs in `float`, and whether the input
    /// takes a gradient.
    pub fn dtype(self, float: DType) -> (DType, bool) {
        match self {
            Domain::Index(_) => (DType::I32, false),
            Domain::Stored(d) => (d, false),
            _ => (float, float.is_float()),
        }
    }

    /// Whether inputs from this domain follow the check's dtype.
    pub fn follows_check(self) -> bool {
        !matches!(self, Domain::Index(_) | Domain::Stored(_))
    }
}

/// What kind of kernel a row exercises: decides its checks, layouts and kernel variants.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Family {
    Unary,
    Binary,
    Where,
    Cast,
    Reduce,
    Movement,
    Copy,
    Fill,
    Gather,
    Matmul,
    /// The params of the row's convolutions (the texture path needs `groups = 1`).
    Conv2d(Conv2dParams),
    Pool,
    Softmax,
    /// Chains of several families (double backward).
    Composite,
    /// A layer's composite of several families (layer norm, recurrent cells), with f16 variants.
    Layer,
    /// Scaled dot-product attention: the fused primitives and the composite.
    Attention,
}

impl Family {
    /// Rows also run on strided, sliced and broadcast views of their inputs.
    pub fn has_layouts(self) -> bool {
        use Family::*;
        matches!(self, Unary | Binary | Where | Cast | Reduce | Copy)
    }

    /// Rows whose kernels have f16 variants.
    pub fn has_f16(self) -> bool {
        use Family::*;
        matches!(
            self,
            Unary
                | Binary
                | Where
                | Cast
                | Reduce
                | Matmul
                | Conv2d(_)
                | Pool
                | Softmax
                | Layer
                | Attention
        )
    }
}

pub type Build = Box<dyn Fn(&[Tensor]) -> Result<Tensor> + Send + Sync>;

pub struct Row {
    /// The op: the primitive's name (or `<primitive>_backward`, `double_backward_<op>`).
    pub name: &'static str,
    pub family: Family,
    /// Tells apart rows of one op (axes, params) in trial names; empty when the shapes already do.
    pub note: String,
    pub domains: Vec<Domain>,
    /// Shape variants: one shape per input.
    pub shapes: Vec<Vec<Vec<usize>>>,
    pub build: Build,
    /// False for ops with no gradient (comparisons, argmax, max_pool2d_backward).
    pub differentiable: bool,
    /// False where central differences do not apply though a gradient exists (ties in max pooling).
    pub gradcheck: bool,
    /// Runs on i32 and u32 inputs too (the integer-capable elementwise ops, reductions).
    pub int: bool,
    /// Finite-difference step (larger where the row rounds through f32 on purpose).
    pub eps: f64,
}

pub fn row(
    name: &'static str,
    family: Family,
    domains: &[Domain],
    shapes: &[&[&[usize]]],
    build: impl Fn(&[Tensor]) -> Result<Tensor> + Send + Sync + 'static,
) -> Row {
    let int = match family {
        Family::Unary => unary_op(name).is_some_and(UnaryOp::allows_int),
        Family::Binary => binary_op(name).is_some_and(BinaryOp::allows_int),
        Family::Reduce => true,
        _ => false,
    };
    Row {
        name,
        family,
        note: String::new(),
        domains: domains.to_vec(),
        shapes: shapes
            .iter()
            .map(|v| v.iter().map(|s| s.to_vec()).collect())
            .collect(),
        build: Box::new(build),
        differentiable: true,
        gradcheck: true,
        int,
        eps: super::tolerance::GRADCHECK_EPS,
    }
}

impl Row {
    pub fn forward_only(mut self) -> Row {
        self.differentiable = false;
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.note = note.into();
        self
    }
    pub fn no_gradcheck(mut self) -> Row {
        self.gradcheck = false;
        self
    }
    pub fn int(mut self) -> Row {
        self.int = true;
        self
    }
    /// Replaces the shape variants (for variants computed in code).
    pub fn with_shapes(mut self, shapes: Vec<Vec<Vec<usize>>>) -> Row {
        self.shapes = shapes;
        self
    }
    pub fn eps(mut self, eps: f64) -> Row {
        self.eps = eps;
        self
    }
}

pub fn unary_op(name: &str) -> Option<UnaryOp> {
    UnaryOp::ALL.iter().copied().find(|op| op.name() == name)
}

pub fn binary_op(name: &str) -> Option<BinaryOp> {
    BinaryOp::ALL.iter().copied().find(|op| op.name() == name)
}

/// Whether a GPU computes the primitive `name` exactly in f64 (wgrad-wgpu's `family::refuse` lists them):
/// the registry's `exact_in_f64` ops, `where`, reductions, gather/scatter_add, data movement and fills. The
/// others (exp, pow, cast, matmul, conv, pool, softmax, random) are refused in f64.
pub fn exact_in_f64(name: &str) -> bool {
    if let Some(op) = unary_op(name) {
        return op.exact_in_f64();
    }
    if let Some(op) = binary_op(name) {
        return op.exact_in_f64();
    }
    matches!(
        name,
        "leaf"
            | "full"
            | "detach"
            | "where"
            | "sum"
            | "max"
            | "min"
            | "argmax"
            | "argmin"
            | "reshape"
            | "permute"
            | "expand"
            | "slice"
            | "pad"
            | "cat"
            | "copy"
            | "gather"
            | "scatter_add"
    )
}

pub fn rows() -> Vec<Row> {
    let mut rows = elementwise::rows();
    rows.extend(reduce::rows());
    rows.extend(movement::rows());
    rows.extend(matmul_conv::rows());
    rows.extend(pool_softmax::rows());
    rows.extend(backward::rows());
    rows.extend(layers::rows());
    rows.extend(attention::rows());
    rows
}

/// Primitive op names that need no row: sources and aliases (`random` has its own trial).
pub const NO_ROW_NEEDED: &[&str] = &["leaf", "full", "random", "detach"];
