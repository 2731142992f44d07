//! Multi-head attention (Vaswani et al. 2017), as PyTorch's `nn.MultiheadAttention` has it, on
//! [`scaled_dot_product_attention`] (the fused kernels unless attention weights or dropout are asked for).
//!
//! Parameters have PyTorch's names, shapes and init, so a PyTorch state dict loads as is: `in_proj_weight`
//! `[3E, E]` (query, key and value projections stacked, Xavier-uniform), `in_proj_bias` `[3E]` (zeros),
//! `out_proj.weight` `[E, E]` (PyTorch's Linear init) and `out_proj.bias` `[E]` (zeros). `kdim`/`vdim`
//! other than E, `add_bias_kv` and `add_zero_attn` are not supported.

use serde::{Deserialize, Serialize};
use wgrad_graph::{
    attention_weights, scaled_dot_product_attention_with, AttentionPath, DType, Device, Error,
    Result, SdpaOptions, Tensor,
};

pub use wgrad_graph::{scaled_dot_product_attention, AttentionParams};

use crate::init;
use crate::linear::Linear;
use crate::module::Forward;
use crate::param::Param;
use crate::Module;

/// Configuration of a [`MultiheadAttention`] (PyTorch's `embed_dim, num_heads, dropout=0.0, bias=True,
/// batch_first=False`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MultiheadAttentionConfig {
    pub embed_dim: usize,
    pub num_heads: usize,
    /// Dropout on the attention weights, in training.
    pub dropout: f64,
    pub bias: bool,
    /// Input and output `[N, L, E]` instead of `[L, N, E]`.
    pub batch_first: bool,
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl MultiheadAttentionConfig {
    /// No dropout, biases, sequence-first (PyTorch's defaults).
    pub fn new(embed_dim: usize, num_heads: usize) -> Self {
        MultiheadAttentionConfig {
            embed_dim,
            num_heads,
            dropout: 0.0,
            bias: true,
            batch_first: false,
            dtype: DType::F32,
        }
    }

    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    pub fn without_bias(mut self) -> Self {
        self.bias = false;
        self
    }

    pub fn with_batch_first(mut self) -> Self {
        self.batch_first = true;
        self
    }

    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// A layer with PyTorch's init.
    ///
    /// # Errors
    /// `Error::Argument` when `num_heads` does not divide `embed_dim`, or dropout is outside `[0, 1]`.
    pub fn init(&self, device: &Device) -> Result<MultiheadAttention> {
        let (e, h) = (self.embed_dim, self.num_heads);
        if h == 0 || e == 0 || e % h != 0 {
            return Err(Error::argument(
                "multihead_attention",
                format!("embed_dim {e} must be a positive multiple of num_heads {h}"),
            ));
        }
        if !(0.0..=1.0).contains(&self.dropout) {
            let msg = format!("dropout must be in [0, 1], got {}", self.dropout);
            return Err(Error::argument("multihead_attention", msg));
        }
        let zeros = |n: usize| Tensor::zeros([n], self.dtype, device);
        let w = init::xavier_uniform([3 * e, e], 1.0, self.dtype, device)?;
        let out_w = init::torch_default_weight([e, e], self.dtype, device)?;
        let out_b = self.bias.then(|| zeros(e));
        Ok(MultiheadAttention {
            in_proj_weight: Param::trainable("in_proj_weight", w)?,
            in_proj_bias: self
                .bias
                .then(|| Param::trainable("in_proj_bias", zeros(3 * e)))
                .transpose()?,
            out_proj: Linear::from_tensors(out_w, out_b)?,
            num_heads: h,
            dropout: self.dropout,
            batch_first: self.batch_first,
            training: true,
        })
    }
}

/// What a [`MultiheadAttention`] call takes besides the inputs (PyTorch's keyword arguments).
#[derive(Clone, Debug, Default)]
pub struct MhaOptions {
    /// `[N, S]`: bool, true where a key is padding (ignored), or float, added to the scores.
    pub key_padding_mask: Option<Tensor>,
    /// `[L, S]` or `[N·num_heads, L, S]`: bool, true where attending is *not* allowed (PyTorch's MHA
    /// convention, the opposite of `scaled_dot_product_attention`'s), or float, added to the scores.
    pub attn_mask: Option<Tensor>,
    /// Also return the attention weights (computed by the composite path).
    pub need_weights: bool,
    /// Average the returned weights over the heads (`[N, L, S]`), else `[N, num_heads, L, S]`.
    pub average_attn_weights: bool,
    /// Query `i` attends keys `j ≤ i` (applied by the kernel; PyTorch's `is_causal` is only a hint that
    /// `attn_mask` is causal and needs the mask too).
    pub causal: bool,
}

impl MhaOptions {
    pub fn new() -> Self {
        MhaOptions {
            average_attn_weights: true,
            ..MhaOptions::default()
        }
    }
    pub fn key_padding_mask(mut self, mask: Option<&Tensor>) -> Self {
        self.key_padding_mask = mask.cloned();
        self
    }
    pub fn attn_mask(mut self, mask: Option<&Tensor>) -> Self {
        self.attn_mask = mask.cloned();
        self
    }
    pub fn need_weights(mut self, on: bool) -> Self {
        self.need_weights = on;
        self
    }
    pub fn average_attn_weights(mut self, on: bool) -> Self {
        self.average_attn_weights = on;
        self
    }
    pub fn causal(mut self, on: bool) -> Self {
        self.causal = on;
        self
    }
}

/// Multi-head attention: `concat(head_1..head_h)·W_oᵀ + b_o`, `head_i = attention(q W_qiᵀ, k W_kiᵀ, v W_viᵀ)`.
/// Fully masked query rows give 0 (PyTorch 2.x's fused paths do the same; its weights path gives NaN).
///
/// # Shapes
/// - query `[L, N, E]` (`[N, L, E]` with `batch_first`, `[L, E]` unbatched), key and value `[S, N, E]`
/// - output: the query's shape; weights `[N, L, S]` (averaged) or `[N, num_heads, L, S]`
#[derive(Clone, Debug, Module)]
pub struct MultiheadAttention {
    pub in_proj_weight: Param,
    pub in_proj_bias: Option<Param>,
    pub out_proj: Linear,
    #[module(skip)]
    num_heads: usize,
    #[module(skip)]
    dropout: f64,
    #[module(skip)]
    batch_first: bool,
    #[module(training)]
    training: bool,
}

const OP: &str = "multihead_attention";

impl MultiheadAttention {
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    pub fn embed_dim(&self) -> usize {
        self.in_proj_weight.tensor().dims()[1]
    }

    pub fn batch_first(&self) -> bool {
        self.batch_first
    }

    /// Attention of `query` over `key`/`value`: the output and, with `need_weights`, the weights.
    ///
    /// # Shapes
    /// See [`MultiheadAttention`].
    ///
    /// # Errors
    /// `Error::Shape` for inputs or masks that do not fit, and what the ops raise.
    pub fn forward_with(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        opts: &MhaOptions,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let unbatched = query.rank() == 2;
        let batch = |t: &Tensor| -> Result<Tensor> {
            match (t.rank(), unbatched, self.batch_first) {
                (2, true, _) => t.unsqueeze(0),
                (3, false, true) => Ok(t.clone()),
                (3, false, false) => t.transpose(0, 1),
                _ => Err(Error::shape(
                    OP,
                    format!(
                        "query, key and value must all be 3-D or 2-D, got {} and {}",
                        query.shape(),
                        t.shape()
                    ),
                )),
            }
        };
        let (q, k, v) = (batch(query)?, batch(key)?, batch(value)?);
        let e = self.embed_dim();
        if q.dims()[2] != e
            || k.dims()[2] != e
            || v.dims()[2] != e
            || k.dims()[..2] != v.dims()[..2]
        {
            return Err(Error::shape(
                OP,
                format!(
                    "query {}, key {}, value {} do not fit embed_dim {e}",
                    q.shape(),
                    k.shape(),
                    v.shape()
                ),
            ));
        }
        let (qh, kh, vh) = self.project(query, key, value, [&q, &k, &v])?;
        let mask = self.mask(&q, &k, opts)?;
        let dropout = if self.training { self.dropout } else { 0.0 };
        let sdpa = SdpaOptions::new()
            .mask(mask.as_ref())
            .causal(opts.causal)
            .dropout(dropout);
        let (attn, weights) = if opts.need_weights {
            let w = attention_weights(&qh, &kh, &sdpa)?;
            let w = crate::dropout::dropout(&w, dropout, dropout > 0.0)?;
            let out = w.matmul(&vh)?;
            let w = if opts.average_attn_weights {
                w.mean(&[1], false)?
            } else {
                w
            };
            (out, Some(w))
        } else {
            let sdpa = sdpa.path(AttentionPath::Auto);
            (
                scaled_dot_product_attention_with(&qh, &kh, &vh, &sdpa)?,
                None,
            )
        };
        // [N, H, L, Dh] -> [N, L, E]
        let (n, l) = (q.dims()[0], q.dims()[1]);
        let merged = attn.permute(&[0, 2, 1, 3])?.reshape([n, l, e])?;
        let out = self.out_proj.forward(&merged)?;
        let out = match (unbatched, self.batch_first) {
            (true, _) => out.squeeze(0)?,
            (false, true) => out,
            (false, false) => out.transpose(0, 1)?,
        };
        let weights = match (weights, unbatched) {
            (Some(w), true) => Some(w.squeeze(0)?),
            (w, _) => w,
        };
        Ok((out, weights))
    }

    /// The projections, split into heads: `[N, H, L, Dh]` each. Self-attention (one tensor for query, key
    /// and value) takes one matmul with the whole `in_proj_weight`; the heads are views.
    fn project(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        [q, k, v]: [&Tensor; 3],
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let e = self.embed_dim();
        let (h, dh) = (self.num_heads, e / self.num_heads);
        let w = self.in_proj_weight.tensor();
        let b = self.in_proj_bias.as_ref().map(Param::tensor);
        let heads = |x: &Tensor| -> Result<Tensor> {
            let (n, l) = (x.dims()[0], x.dims()[1]);
            x.reshape([n, l, h, dh])?.permute(&[0, 2, 1, 3])
        };
        if query.same(key) && key.same(value) {
            let mut qkv = q.matmul(&w.t()?)?;
            if let Some(b) = &b {
                qkv = qkv.add(b)?;
            }
            let (n, l) = (q.dims()[0], q.dims()[1]);
            let qkv = qkv.reshape([n, l, 3, h, dh])?.permute(&[2, 0, 3, 1, 4])?;
            let part = |i: usize| qkv.narrow(0, i, 1)?.squeeze(0);
            return Ok((part(0)?, part(1)?, part(2)?));
        }
        let proj = |x: &Tensor, i: usize| -> Result<Tensor> {
            let y = x.matmul(&w.narrow(0, i * e, e)?.t()?)?;
            let y = match &b {
                Some(b) => y.add(&b.narrow(0, i * e, e)?)?,
                None => y,
            };
            heads(&y)
        };
        Ok((proj(q, 0)?, proj(k, 1)?, proj(v, 2)?))
    }

    /// The additive mask for the scores, broadcastable to `[N, H, L, S]`: the key padding mask and the
    /// attention mask in PyTorch's conventions, added.
    fn mask(&self, q: &Tensor, k: &Tensor, opts: &MhaOptions) -> Result<Option<Tensor>> {
        let (n, l, s, h) = (q.dims()[0], q.dims()[1], k.dims()[1], self.num_heads);
        let additive = |m: &Tensor, what: &str| -> Result<Tensor> {
            match m.dtype() {
                DType::Bool => m.where_(
                    f64::NEG_INFINITY,
                    Tensor::zeros(m.shape().clone(), q.dtype(), q.device()),
                ),
                d if d == q.dtype() => Ok(m.clone()),
                d => Err(Error::dtype(
                    OP,
                    format!("{what} must be bool or {}, got {d}", q.dtype()),
                )),
            }
        };
        let mut total: Option<Tensor> = None;
        if let Some(m) = &opts.key_padding_mask {
            let m = if m.rank() == 1 {
                m.unsqueeze(0)?
            } else {
                m.clone()
            };
            if m.dims() != [n, s] {
                return Err(Error::shape(
                    OP,
                    format!("key_padding_mask {} is not [N, S] = [{n}, {s}]", m.shape()),
                ));
            }
            total = Some(additive(&m, "key_padding_mask")?.reshape([n, 1, 1, s])?);
        }
        if let Some(m) = &opts.attn_mask {
            let m = match m.dims() {
                [a, b] if *a == l && *b == s => m.reshape([1, 1, l, s])?,
                [nh, a, b] if *nh == n * h && *a == l && *b == s => m.reshape([n, h, l, s])?,
                _ => {
                    return Err(Error::shape(
                        OP,
                        format!(
                            "attn_mask {} is not [L, S] or [N·num_heads, L, S] = [{}, {l}, {s}]",
                            m.shape(),
                            n * h
                        ),
                    ))
                }
            };
            let m = additive(&m, "attn_mask")?;
            total = Some(match total {
                Some(t) => t.add(&m)?,
                None => m,
            });
        }
        Ok(total)
    }
}

/// Self-attention without masks or weights: `forward_with(x, x, x)`.
impl Forward for MultiheadAttention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with(x, x, x, &MhaOptions::new())?.0)
    }
}
