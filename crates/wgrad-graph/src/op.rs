//! The primitive op set and its shape/dtype inference.
//!
//! Every primitive needs a CPU loop, a WGSL kernel, a backward rule and a test row, so the set stays small;
//! composites (mean, var, logsumexp, losses, norms) are built from these as `Tensor` methods (`ops/`) and in
//! `wgrad-nn`. The elementwise families are declared in [`crate::registry`]. Inputs live in the graph node,
//! never inside a variant, so graph walks never match on ops. Shape and dtype rules live in [`crate::infer()`].
//!
//! Binary ops and `where` take equal shapes: the `Tensor` API broadcasts by inserting `expand`, whose backward
//! is a sum, so no other rule has to "unbroadcast".

use crate::dtype::DType;
pub use crate::registry::{BinaryOp, ReduceOp, UnaryOp};
use crate::shape::Shape;

/// Shape and dtype of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    pub shape: Shape,
    pub dtype: DType,
}

impl Meta {
    pub fn new(shape: impl Into<Shape>, dtype: DType) -> Self {
        Meta {
            shape: shape.into(),
            dtype,
        }
    }
    pub fn numel(&self) -> usize {
        self.shape.numel()
    }
}

/// Distributions of the counter-based generator (see [`crate::philox`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RandomDist {
    /// Uniform in `[0, 1)`.
    Uniform,
    /// Standard normal (Box-Muller).
    Normal,
    /// 1 with probability `p`, else 0, in the output dtype.
    Bernoulli { p: f64 },
}

/// Parameters of a 2-D convolution (cross-correlation, NCHW input, weight `[C_out, C_in/groups, KH, KW]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dParams {
    fn default() -> Self {
        Conv2dParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl Conv2dParams {
    /// Output size along one spatial axis: `⌊(in + 2p - d(k-1) - 1)/s⌋ + 1`.
    pub fn out_size(&self, axis: usize, input: usize, kernel: usize) -> Option<usize> {
        let span = self.dilation[axis] * (kernel - 1) + 1;
        let padded = input + 2 * self.padding[axis];
        if padded < span || self.stride[axis] == 0 {
            return None;
        }
        Some((padded - span) / self.stride[axis] + 1)
    }
}

/// Parameters of 2-D pooling over NCHW. Max pooling pads with -∞; average pooling counts padding as zeros
/// (PyTorch's `count_include_pad=True`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2dParams {
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl Pool2dParams {
    pub fn out_size(&self, axis: usize, input: usize) -> Option<usize> {
        let padded = input + 2 * self.padding[axis];
        if padded < self.kernel[axis] || self.stride[axis] == 0 || self.kernel[axis] == 0 {
            return None;
        }
        Some((padded - self.kernel[axis]) / self.stride[axis] + 1)
    }
}

/// Parameters of the fused attention primitives ([`Op::Attention`] and its backward): the score scale and
/// PyTorch's causal mask (`is_causal=True`: query `i` attends keys `j ≤ i`, the top-left aligned lower
/// triangle, also when `tq != tk`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionParams {
    pub scale: f64,
    pub causal: bool,
}

/// Largest head dim (`d` and `dv`) the fused attention primitives take: the GPU kernels keep a row's
/// vectors in private arrays of this length. `scaled_dot_product_attention` takes the composite path past it.
pub const MAX_FUSED_HEAD_DIM: usize = 128;

/// A primitive. Inputs are listed per variant in its doc comment, in the order of `Node::inputs`.
///
/// [`OpKind`] is the same set without the fields; `OpKind::iter()` lists every variant (for coverage tests).
#[derive(Clone, Debug, PartialEq, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(OpKind),
    derive(Hash, strum::EnumIter, strum::IntoStaticStr),
    strum(serialize_all = "snake_case")
)]
pub enum Op {
    /// Data handed in by the user; always realized. No inputs.
    Leaf,
    /// Every element equal to the value. No inputs.
    Full(f64),
    /// Counter-based random numbers: element `i` uses Philox counter `(offset + i)`. No inputs.
    Random {
        dist: RandomDist,
        seed: u64,
        offset: u64,
    },
    /// `(x)`.
    Unary(UnaryOp),
    /// `(x)` converted to the dtype (float→int truncates toward zero, →bool is `x != 0`).
    Cast(DType),
    /// `(lhs, rhs)`, equal shapes and dtypes.
    Binary(BinaryOp),
    /// `(cond: bool, a, b)`, equal shapes, `a` and `b` of one dtype.
    Where,
    /// `(x)`, axes sorted and distinct, reduced axes kept as size 1.
    Reduce { op: ReduceOp, axes: Vec<usize> },
    /// `(x)`: same elements, new shape (a view when `x` is contiguous).
    Reshape(Shape),
    /// `(x)`: axes reordered; a view.
    Permute(Vec<usize>),
    /// `(x)`: size-1 or new leading axes repeated; a view with stride 0.
    Expand(Shape),
    /// `(x)`: `x[start:end:step]` along every axis (step ≥ 1); a view.
    Slice {
        starts: Vec<usize>,
        ends: Vec<usize>,
        steps: Vec<usize>,
    },
    /// `(x)`: `before[i]`/`after[i]` elements of `value` added on each side of axis `i`.
    Pad {
        before: Vec<usize>,
        after: Vec<usize>,
        value: f64,
    },
    /// `(x0, x1, …)` joined along the axis.
    Cat { axis: usize },
    /// `(x, index: i32)`: `out[p] = x[p with p[axis] := index[p]]`, index of x's rank, output of index's shape
    /// (PyTorch `gather`).
    Gather { axis: usize },
    /// `(index: i32, src)`: zeros of `shape`, then `out[p with p[axis] := index[p]] += src[p]`; the adjoint of
    /// `gather`.
    ScatterAdd { axis: usize, shape: Shape },
    /// `(lhs [b, m, k], rhs [b, k, n]) -> [b, m, n]`.
    Matmul,
    /// `(x [n, c_in, h, w], weight [c_out, c_in/groups, kh, kw])`.
    Conv2d(Conv2dParams),
    /// `(dy [n, c_out, oh, ow], weight)` → `dx [n, c_in, h, w]`: the transposed convolution.
    Conv2dBackwardInput {
        params: Conv2dParams,
        input_hw: [usize; 2],
    },
    /// `(x, dy)` → `dweight [c_out, c_in/groups, kh, kw]`.
    Conv2dBackwardWeight {
        params: Conv2dParams,
        kernel_hw: [usize; 2],
    },
    /// `(x [n, c, h, w])`.
    MaxPool2d(Pool2dParams),
    /// `(x, dy)` → `dx`: each window's `dy` goes to the window's first maximum.
    MaxPool2dBackward(Pool2dParams),
    /// `(x [n, c, h, w])`.
    AvgPool2d(Pool2dParams),
    /// `(dy)` → `dx [n, c, input_hw]`.
    AvgPool2dBackward {
        params: Pool2dParams,
        input_hw: [usize; 2],
    },
    /// `(x)`, along one axis, max-subtracted.
    Softmax { axis: usize },
    /// `(x)`: `x - logsumexp(x)` along one axis.
    LogSoftmax { axis: usize },
    /// `(y, dy)` with `y = softmax(x)`: `y·(dy - Σ dy·y)`.
    SoftmaxBackward { axis: usize },
    /// `(z, dy)` with `z = log_softmax(x)`: `dy - exp(z)·Σ dy`.
    LogSoftmaxBackward { axis: usize },
    /// `(q [n, h, tq, d], k [n, h, tk, d], v [n, h, tk, dv][, mask [n, h, tq, tk]])` → `[n, h, tq, dv + 1]`:
    /// `softmax(s)·v` with scores `s = q·kᵀ·scale + mask` (-∞ above the diagonal when causal) in the first `dv`
    /// columns, and each row's `logsumexp(s)` in the last (what the backward recomputes probabilities from).
    /// A row whose scores are all -∞ (fully masked) has output 0 and logsumexp +∞, so that `exp(s - lse)` is
    /// 0 for each of its scores (PyTorch returns 0 there too). The mask is additive, of q's dtype. Inputs are
    /// read strided: a broadcast mask or a permuted projection costs no copy, and the `[tq, tk]` scores are
    /// never stored (FlashAttention).
    Attention(AttentionParams),
    /// `(q, k, v, stats [n, h, tq, 2], dout [n, h, tq, dv][, mask])` → `dq [n, h, tq, d]`, where `stats` holds
    /// each row's logsumexp and `Δ = Σ dout·out − dlse`: `dq_i = scale·Σ_j p_ij (dout_i·v_j − Δ_i) k_j`.
    AttentionBackwardQ(AttentionParams),
    /// The inputs of `attention_backward_q` → `[n, h, tk, d + dv]`: `dk` in the first `d` columns, `dv` after.
    AttentionBackwardKv(AttentionParams),
    /// `(x)` copied into a fresh contiguous buffer.
    Copy,
    /// `(x)`: the same value with gradients stopped; an alias of the input's buffer.
    Detach,
}

impl Op {
    /// The op's name in errors, op-table rows and kernel labels: the family member's name for unary, binary
    /// and reduce ops (`exp`, `maximum`, `argmax`), else the variant's in snake case (`conv2d_backward_input`).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Reduce { op, .. } => op.name(),
            other => OpKind::from(other).into(),
        }
    }

    /// The name of every primitive, derived from [`OpKind`] and the registry's tables: what an op table must
    /// cover.
    pub fn all_names() -> Vec<&'static str> {
        use strum::IntoEnumIterator;
        let mut names = Vec::new();
        for kind in OpKind::iter() {
            match kind {
                OpKind::Unary => names.extend(UnaryOp::ALL.iter().map(|op| op.name())),
                OpKind::Binary => names.extend(BinaryOp::ALL.iter().map(|op| op.name())),
                OpKind::Reduce => names.extend(ReduceOp::all().map(ReduceOp::name)),
                other => names.push(other.into()),
            }
        }
        names
    }

    /// Ops that only change the layout; they never launch a kernel unless a reshape meets a strided input.
    pub fn is_view(&self) -> bool {
        matches!(
            self,
            Op::Reshape(_) | Op::Permute(_) | Op::Expand(_) | Op::Slice { .. } | Op::Detach
        )
    }

    /// Ops whose kernels read arbitrary strided layouts; every other op gets contiguous inputs (the scheduler
    /// inserts a `copy` where needed).
    pub fn reads_strided(&self) -> bool {
        matches!(
            self,
            Op::Unary(_)
                | Op::Cast(_)
                | Op::Binary(_)
                | Op::Where
                | Op::Reduce { .. }
                | Op::Copy
                | Op::Matmul
                | Op::Attention(_)
                | Op::AttentionBackwardQ(_)
                | Op::AttentionBackwardKv(_)
        )
    }
}
