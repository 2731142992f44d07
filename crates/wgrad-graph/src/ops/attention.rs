//! Scaled dot-product attention (Vaswani et al. 2017, "Attention is all you need"):
//! `softmax(q·kᵀ·scale + mask)·v`, as PyTorch's `F.scaled_dot_product_attention` computes it.
//!
//! Two implementations with one meaning:
//! - **fused**: the [`Op::Attention`] primitive (FlashAttention, Dao et al. 2022 and 2023): the `[tq, tk]`
//!   scores are never stored, so memory grows linearly in the sequence length. Its backward recomputes the
//!   probabilities from each row's logsumexp (the primitive's last output column) in two primitives, one
//!   per query row (`dq`) and one per key row (`dk`, `dv`), so no kernel needs atomics.
//! - **composite**: matmul, softmax, matmul from existing primitives, which stores the scores. It is the
//!   reference the fused path is tested against, and the path for attention dropout (`dropout_p > 0`, which
//!   drops probabilities) and for head dims above [`MAX_FUSED_HEAD_DIM`].
//!
//! [`AttentionPath::Auto`] takes the fused path whenever it applies and the backend prefers it
//! ([`crate::Backend::prefers_fused_attention`]: not software adapters while the scores fit a binding).
//! The CPU backend runs the primitives' f64 reference loops; the wgpu backend its kernels (`shaders/attention.wgsl`).
//!
//! A fully masked query row (every score -∞) gives 0 and passes no gradient, as in PyTorch 2.x (where
//! `softmax` alone would give NaN).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{AttentionParams, Op, MAX_FUSED_HEAD_DIM};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// Which implementation [`scaled_dot_product_attention_with`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttentionPath {
    /// Fused unless attention dropout is on, a head dim exceeds [`MAX_FUSED_HEAD_DIM`], or the backend
    /// prefers the composite for these scores ([`crate::Backend::prefers_fused_attention`]).
    #[default]
    Auto,
    /// The fused primitive (an error where it does not apply).
    Fused,
    /// matmul, softmax, matmul (stores the `[tq, tk]` scores).
    Composite,
}

/// PyTorch's keyword arguments of `scaled_dot_product_attention`, plus the implementation to use.
#[derive(Clone, Debug, Default)]
pub struct SdpaOptions {
    /// bool (true = attend) or additive float mask of q's dtype, broadcastable to `[..., tq, tk]`.
    pub mask: Option<Tensor>,
    /// Query `i` attends keys `j ≤ i` (PyTorch's `is_causal`, top-left aligned).
    pub causal: bool,
    /// Probability of dropping an attention weight (inverted dropout; PyTorch applies it whenever it is
    /// positive, so pass 0 in evaluation).
    pub dropout_p: f64,
    /// The score scale; `None`: `1/√d`.
    pub scale: Option<f64>,
    pub path: AttentionPath,
}

impl SdpaOptions {
    pub fn new() -> Self {
        SdpaOptions::default()
    }
    pub fn mask(mut self, mask: Option<&Tensor>) -> Self {
        self.mask = mask.cloned();
        self
    }
    pub fn causal(mut self, causal: bool) -> Self {
        self.causal = causal;
        self
    }
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout_p = p;
        self
    }
    pub fn scale(mut self, scale: Option<f64>) -> Self {
        self.scale = scale;
        self
    }
    pub fn path(mut self, path: AttentionPath) -> Self {
        self.path = path;
        self
    }
}

/// `softmax(q·kᵀ/√d + mask)·v` (PyTorch's `F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p,
/// is_causal)`); see [`scaled_dot_product_attention_with`].
///
/// # Shapes
/// `q [..., tq, d]`, `k [..., tk, d]`, `v [..., tk, dv]` (leading dims broadcast), `mask` broadcastable to
/// `[..., tq, tk]` → `[..., tq, dv]`.
///
/// # Errors
/// See [`scaled_dot_product_attention_with`].
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    causal: bool,
    dropout_p: f64,
) -> Result<Tensor> {
    let opts = SdpaOptions::new()
        .mask(mask)
        .causal(causal)
        .dropout(dropout_p);
    scaled_dot_product_attention_with(q, k, v, &opts)
}

/// Scaled dot-product attention with every option: fused ([`Op::Attention`]) or composite, per
/// `opts.path`. Fully masked rows give 0.
///
/// # Shapes
/// `q [..., tq, d]`, `k [..., tk, d]`, `v [..., tk, dv]` (rank ≥ 2, leading dims broadcast), mask
/// broadcastable to `[..., tq, tk]` → `[..., tq, dv]`.
///
/// # Errors
/// `Error::Shape` for inputs that do not fit (rank < 2, `d` or `tk` disagreeing, a mask that does not
/// broadcast), `Error::DType` for non-float or mixed dtypes or a float mask of another dtype,
/// `Error::Argument` for `dropout_p` outside `[0, 1]` and for [`AttentionPath::Fused`] where the fused
/// primitive does not apply (dropout, head dims above [`MAX_FUSED_HEAD_DIM`]).
pub fn scaled_dot_product_attention_with(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    opts: &SdpaOptions,
) -> Result<Tensor> {
    let prep = Prepared::new(q, k, v, opts)?;
    let (d, dv) = (q.dims()[q.rank() - 1], v.dims()[v.rank() - 1]);
    let fusable = opts.dropout_p == 0.0 && d <= MAX_FUSED_HEAD_DIM && dv <= MAX_FUSED_HEAD_DIM;
    match opts.path {
        AttentionPath::Fused if !fusable => Err(Error::argument(
            "scaled_dot_product_attention",
            format!(
                "the fused path needs dropout_p = 0 and head dims <= {MAX_FUSED_HEAD_DIM} (got dropout_p {}, \
                 d {d}, dv {dv})",
                opts.dropout_p
            ),
        )),
        AttentionPath::Composite => prep.composite(opts.causal, opts.dropout_p),
        AttentionPath::Auto if !fusable || !fused_preferred(q, k) => {
            prep.composite(opts.causal, opts.dropout_p)
        }
        _ => prep.fused(opts.causal),
    }
}

/// Whether q's backend wants the fused kernel for these scores (`[..., tq, tk]`, leading dims broadcast).
fn fused_preferred(q: &Tensor, k: &Tensor) -> bool {
    let lead = |t: &Tensor| t.dims()[..t.rank() - 2].iter().product::<usize>();
    let (tq, tk) = (q.dims()[q.rank() - 2], k.dims()[k.rank() - 2]);
    let bytes = lead(q).max(lead(k)) as u64 * (tq * tk * q.dtype().host_size()) as u64;
    q.device().backend().prefers_fused_attention(bytes)
}

/// The attention probabilities `softmax(q·kᵀ·scale + mask)` (no dropout), 0 in fully masked rows: what
/// `MultiheadAttention` returns with `need_weights`.
///
/// # Shapes
/// `q [..., tq, d]`, `k [..., tk, d]` → `[..., tq, tk]`.
///
/// # Errors
/// As [`scaled_dot_product_attention_with`] (`opts.path` and `opts.dropout_p` are ignored).
pub fn attention_weights(q: &Tensor, k: &Tensor, opts: &SdpaOptions) -> Result<Tensor> {
    // v only fixes shapes here: k stands in for it
    let prep = Prepared::new(q, k, k, opts)?;
    prep.probs(opts.causal)
}

/// The fused primitive itself on 4-D inputs: `[n, h, tq, dv + 1]`, the attention output and, in the last
/// column, each row's logsumexp of the scores (+∞ for a fully masked row). For tests and for code that
/// wants the logsumexp; `mask` is additive, of q's dtype, broadcastable to `[n, h, tq, tk]`.
///
/// # Shapes
/// `q [n, h, tq, d]`, `k [n, h, tk, d]`, `v [n, h, tk, dv]` → `[n, h, tq, dv + 1]`.
///
/// # Errors
/// `Error::Shape`/`Error::DType` from the primitive's rules ([`Op::Attention`]).
pub fn fused_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Tensor>,
    params: AttentionParams,
) -> Result<Tensor> {
    let mut inputs = vec![q, k, v];
    let expanded;
    if let Some(m) = mask {
        let (n, h, tq, tk) = (q.dims()[0], q.dims()[1], q.dims()[2], k.dims()[2]);
        expanded = m.expand([n, h, tq, tk])?;
        inputs.push(&expanded);
    }
    Tensor::from_op(Op::Attention(params), &inputs)
}

/// Inputs brought to common leading dims, the mask made additive and broadcast, the scale decided.
struct Prepared {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Option<Tensor>,
    batch: Vec<usize>,
    scale: f64,
}

const OP: &str = "scaled_dot_product_attention";

impl Prepared {
    fn new(q: &Tensor, k: &Tensor, v: &Tensor, opts: &SdpaOptions) -> Result<Prepared> {
        if q.rank() < 2 || k.rank() < 2 || v.rank() < 2 {
            return Err(Error::shape(
                OP,
                format!(
                    "needs q [..., tq, d], k [..., tk, d], v [..., tk, dv], got {}, {}, {}",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        if !q.dtype().is_float() || q.dtype() != k.dtype() || q.dtype() != v.dtype() {
            return Err(Error::dtype(
                OP,
                format!(
                    "q, k, v must share a float dtype, got {}, {}, {}",
                    q.dtype(),
                    k.dtype(),
                    v.dtype()
                ),
            ));
        }
        let last2 = |t: &Tensor| [t.dims()[t.rank() - 2], t.dims()[t.rank() - 1]];
        let ([tq, d], [tk, dk], [tv, dv]) = (last2(q), last2(k), last2(v));
        if d != dk || tk != tv {
            return Err(Error::shape(
                OP,
                format!(
                    "q {}, k {}, v {} are not [..., tq, d], [..., tk, d], [..., tk, dv]",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        if !(0.0..=1.0).contains(&opts.dropout_p) {
            return Err(Error::argument(
                OP,
                format!("dropout_p must be in [0, 1], got {}", opts.dropout_p),
            ));
        }
        let lead = |t: &Tensor| Shape::new(&t.dims()[..t.rank() - 2]);
        let batch = Shape::broadcast(OP, &lead(q), &lead(k))?;
        let batch = Shape::broadcast(OP, &batch, &lead(v))?.0;
        let full = |t: &Tensor, a: usize, b: usize| {
            let mut dims = batch.clone();
            dims.extend([a, b]);
            t.expand(dims)
        };
        let mask = match &opts.mask {
            None => None,
            Some(m) => Some(full(&additive(m, q.dtype())?, tq, tk)?),
        };
        Ok(Prepared {
            q: full(q, tq, d)?,
            k: full(k, tk, d)?,
            v: full(v, tk, dv)?,
            mask,
            scale: opts.scale.unwrap_or(1.0 / (d as f64).sqrt()),
            batch,
        })
    }

    /// `q·kᵀ·scale`, with the causal and user masks applied (masked scores -∞).
    fn scores(&self, causal: bool) -> Result<Tensor> {
        let mut s = self.q.matmul(&self.k.t()?)?.mul(self.scale)?;
        if causal {
            let r = s.rank();
            s = causal_mask(s.dims()[r - 2], s.dims()[r - 1], &s)?.where_(&s, f64::NEG_INFINITY)?;
        }
        if let Some(m) = &self.mask {
            s = s.add(m)?;
        }
        Ok(s)
    }

    /// The probabilities; rows can only be fully masked by a user mask (causal rows keep key 0).
    fn probs(&self, causal: bool) -> Result<Tensor> {
        let s = self.scores(causal)?;
        match self.mask {
            Some(_) => masked_softmax(&s),
            None => s.softmax(-1),
        }
    }

    fn composite(&self, causal: bool, dropout_p: f64) -> Result<Tensor> {
        let mut probs = self.probs(causal)?;
        if dropout_p == 1.0 {
            probs = probs.mul(probs.zeros_like())?;
        } else if dropout_p > 0.0 {
            let keep = 1.0 - dropout_p;
            let drop =
                Tensor::bernoulli(probs.shape().clone(), keep, probs.dtype(), probs.device())?;
            probs = probs.mul(&drop.mul(1.0 / keep)?)?;
        }
        probs.matmul(&self.v)
    }

    fn fused(&self, causal: bool) -> Result<Tensor> {
        let params = AttentionParams {
            scale: self.scale,
            causal,
        };
        let mut inputs = vec![to_4d(&self.q)?, to_4d(&self.k)?, to_4d(&self.v)?];
        if let Some(m) = &self.mask {
            inputs.push(to_4d(m)?);
        }
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let out = Tensor::from_op(Op::Attention(params), &refs)?;
        let dv = self.v.dims()[self.v.rank() - 1];
        let mut dims = self.batch.clone();
        dims.extend([self.q.dims()[self.q.rank() - 2], dv]);
        out.narrow(-1, 0, dv)?.reshape(dims)
    }
}

/// A bool mask (true = attend) as an additive one (0 or -∞) of `dtype`; a float mask must be of `dtype`.
fn additive(mask: &Tensor, dtype: DType) -> Result<Tensor> {
    match mask.dtype() {
        DType::Bool => {
            let zero = Tensor::zeros(mask.shape().clone(), dtype, mask.device());
            mask.where_(&zero, f64::NEG_INFINITY)
        }
        d if d == dtype => Ok(mask.clone()),
        d => Err(Error::dtype(
            OP,
            format!("mask must be bool or of q's dtype {dtype}, got {d}"),
        )),
    }
}

/// `[tq, tk]` bool, true where key `j ≤ i` (PyTorch's `ones(tq, tk).tril()`).
fn causal_mask(tq: usize, tk: usize, like: &Tensor) -> Result<Tensor> {
    let dev = like.device();
    let i = Tensor::arange(0.0, tq as f64, 1.0, DType::I32, dev)?.reshape([tq, 1])?;
    let j = Tensor::arange(0.0, tk as f64, 1.0, DType::I32, dev)?.reshape([1, tk])?;
    j.le(&i)
}

/// Softmax over the last axis, 0 in rows whose scores are all -∞ (where softmax alone gives NaN).
fn masked_softmax(s: &Tensor) -> Result<Tensor> {
    let live = s.max(&[-1], true)?.gt(f64::NEG_INFINITY)?;
    let p = live.where_(s, 0.0)?.softmax(-1)?;
    live.where_(&p, 0.0)
}

/// `[batch..., t, c]` as `[n, h, t, c]`: views for up to two leading dims, a reshape past that.
fn to_4d(t: &Tensor) -> Result<Tensor> {
    let r = t.rank();
    let (tail, lead) = (&t.dims()[r - 2..], &t.dims()[..r - 2]);
    let (n, h) = match lead {
        [] => (1, 1),
        [h] => (1, *h),
        [n, h] => (*n, *h),
        [rest @ .., h] => (rest.iter().product(), *h),
    };
    t.reshape([n, h, tail[0], tail[1]])
}

/// The backward of [`Op::Attention`]: `g` is `[n, h, tq, dv + 1]` (output and logsumexp columns).
///
/// `Δ_i = Σ_c dout_ic·out_ic − dlse_i` (the logsumexp's own gradient `dlse_i·p_ij` joins the score gradient
/// `ds_ij = p_ij (dout_i·v_j − Δ_i)`), then one primitive for `dq` and one for `dk`, `dv`. A mask that needs
/// a gradient gets `ds` from the composite formula (it is `[tq, tk]` anyway).
pub(crate) fn attention_vjp(
    p: &AttentionParams,
    x: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let (d, dv) = (x[0].dims()[3], x[2].dims()[3]);
    let out = y.narrow(-1, 0, dv)?;
    let lse = y.narrow(-1, dv, 1)?;
    let g_out = g.narrow(-1, 0, dv)?;
    let delta = g_out
        .mul(&out)?
        .sum(&[-1], true)?
        .sub(&g.narrow(-1, dv, 1)?)?;
    let stats = Tensor::cat(&[&lse, &delta], -1)?;
    let mut inputs: Vec<&Tensor> = vec![&x[0], &x[1], &x[2], &stats, &g_out];
    inputs.extend(x.get(3));
    let dq = Tensor::from_op(Op::AttentionBackwardQ(*p), &inputs)?;
    let dkv = Tensor::from_op(Op::AttentionBackwardKv(*p), &inputs)?;
    let mut grads = vec![
        Some(dq),
        Some(dkv.narrow(-1, 0, d)?),
        Some(dkv.narrow(-1, d, dv)?),
    ];
    if let Some(mask) = x.get(3) {
        let wanted = mask.requires_grad();
        grads.push(match wanted {
            true => Some(score_grad(p, x, &lse, &delta, &g_out)?),
            false => None,
        });
    }
    Ok(grads)
}

/// `ds = p ∘ (dout·vᵀ − Δ)` with `p = exp(s − lse)`: the gradient of the scores, and so of an additive mask.
fn score_grad(
    p: &AttentionParams,
    x: &[Tensor],
    lse: &Tensor,
    delta: &Tensor,
    g_out: &Tensor,
) -> Result<Tensor> {
    let mut s = x[0].matmul(&x[1].t()?)?.mul(p.scale)?;
    if p.causal {
        s = causal_mask(x[0].dims()[2], x[1].dims()[2], &s)?.where_(&s, f64::NEG_INFINITY)?;
    }
    let s = s.add(&x[3])?;
    let probs = s.sub(lse)?.exp()?;
    probs.mul(&g_out.matmul(&x[2].t()?)?.sub(delta)?)
}
