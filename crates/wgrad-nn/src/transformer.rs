//! The transformer encoder (Vaswani et al. 2017), as PyTorch's `nn.TransformerEncoderLayer` and
//! `nn.TransformerEncoder` have it: the same parameter names (`self_attn.in_proj_weight`, `linear1`,
//! `linear2`, `norm1`, `norm2`; `layers.0.…` in a stack, `norm.…` for the optional final norm), init and
//! arithmetic, post-norm (the paper's) or pre-norm (`norm_first`), so a PyTorch state dict loads and gives
//! PyTorch's outputs.

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Device, Error, Result, Tensor};

use crate::activation::gelu;
use crate::attention::{MhaOptions, MultiheadAttention, MultiheadAttentionConfig};
use crate::dropout::Dropout;
use crate::init;
use crate::linear::{Linear, LinearConfig};
use crate::module::Forward;
use crate::norm::{LayerNorm, LayerNormConfig};
use crate::Module;

/// The feed-forward activation (PyTorch's `activation="relu"` or `"gelu"`, exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FfActivation {
    #[default]
    Relu,
    Gelu,
}

/// Configuration of a [`TransformerEncoderLayer`] (PyTorch's `d_model, nhead, dim_feedforward=2048,
/// dropout=0.1, activation=relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerEncoderLayerConfig {
    pub d_model: usize,
    pub nhead: usize,
    pub dim_feedforward: usize,
    pub dropout: f64,
    pub activation: FfActivation,
    pub layer_norm_eps: f64,
    pub batch_first: bool,
    /// Pre-norm: `x + sa(norm1(x))`, `x + ff(norm2(x))`; else post-norm `norm1(x + sa(x))`, ….
    pub norm_first: bool,
    pub bias: bool,
    #[serde(default = "init::default_dtype")]
    pub dtype: DType,
}

impl TransformerEncoderLayerConfig {
    /// PyTorch's defaults.
    pub fn new(d_model: usize, nhead: usize) -> Self {
        TransformerEncoderLayerConfig {
            d_model,
            nhead,
            dim_feedforward: 2048,
            dropout: 0.1,
            activation: FfActivation::Relu,
            layer_norm_eps: 1e-5,
            batch_first: false,
            norm_first: false,
            bias: true,
            dtype: DType::F32,
        }
    }
    pub fn with_dim_feedforward(mut self, d: usize) -> Self {
        self.dim_feedforward = d;
        self
    }
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    pub fn with_activation(mut self, a: FfActivation) -> Self {
        self.activation = a;
        self
    }
    pub fn with_layer_norm_eps(mut self, eps: f64) -> Self {
        self.layer_norm_eps = eps;
        self
    }
    pub fn with_batch_first(mut self) -> Self {
        self.batch_first = true;
        self
    }
    pub fn with_norm_first(mut self) -> Self {
        self.norm_first = true;
        self
    }
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// A layer with PyTorch's init.
    ///
    /// # Errors
    /// `Error::Argument` when `nhead` does not divide `d_model` or the dropout is outside `[0, 1]`.
    pub fn init(&self, device: &Device) -> Result<TransformerEncoderLayer> {
        let (d, ff) = (self.d_model, self.dim_feedforward);
        let mut mha = MultiheadAttentionConfig::new(d, self.nhead)
            .with_dropout(self.dropout)
            .with_dtype(self.dtype);
        mha.batch_first = self.batch_first;
        mha.bias = self.bias;
        let linear = |i: usize, o: usize| {
            let c = LinearConfig::new(i, o).with_dtype(self.dtype);
            if self.bias { c } else { c.without_bias() }.init(device)
        };
        let norm = || {
            let c = LayerNormConfig::new([d])
                .with_eps(self.layer_norm_eps)
                .with_dtype(self.dtype);
            if self.bias { c } else { c.without_bias() }.init(device)
        };
        Ok(TransformerEncoderLayer {
            self_attn: mha.init(device)?,
            linear1: linear(d, ff)?,
            dropout: Dropout::new(self.dropout)?,
            linear2: linear(ff, d)?,
            norm1: norm()?,
            norm2: norm()?,
            dropout1: Dropout::new(self.dropout)?,
            dropout2: Dropout::new(self.dropout)?,
            activation: self.activation,
            norm_first: self.norm_first,
        })
    }
}

/// Self-attention and a feed-forward block, each with a residual connection and layer norm.
///
/// # Shapes
/// `src` `[S, N, E]` (`[N, S, E]` with `batch_first`, `[S, E]` unbatched); output the same
#[derive(Clone, Debug, Module)]
pub struct TransformerEncoderLayer {
    pub self_attn: MultiheadAttention,
    pub linear1: Linear,
    pub dropout: Dropout,
    pub linear2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout1: Dropout,
    pub dropout2: Dropout,
    #[module(skip)]
    activation: FfActivation,
    #[module(skip)]
    norm_first: bool,
}

impl TransformerEncoderLayer {
    /// The layer with masks (PyTorch's `src_mask`, `src_key_padding_mask` in [`MhaOptions`]'s conventions;
    /// `need_weights` is ignored).
    ///
    /// # Errors
    /// What the attention and the other layers raise.
    pub fn forward_with(&self, src: &Tensor, opts: &MhaOptions) -> Result<Tensor> {
        let opts = MhaOptions {
            need_weights: false,
            ..opts.clone()
        };
        let sa = |x: &Tensor| -> Result<Tensor> {
            let (y, _) = self.self_attn.forward_with(x, x, x, &opts)?;
            self.dropout1.forward(&y)
        };
        if self.norm_first {
            let x = src.add(&sa(&self.norm1.forward(src)?)?)?;
            x.add(&self.feed_forward(&self.norm2.forward(&x)?)?)
        } else {
            let x = self.norm1.forward(&src.add(&sa(src)?)?)?;
            self.norm2.forward(&x.add(&self.feed_forward(&x)?)?)
        }
    }

    /// `dropout2(linear2(dropout(activation(linear1(x)))))`.
    fn feed_forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.linear1.forward(x)?;
        let h = match self.activation {
            FfActivation::Relu => h.relu()?,
            FfActivation::Gelu => gelu(&h)?,
        };
        let y = self.linear2.forward(&self.dropout.forward(&h)?)?;
        self.dropout2.forward(&y)
    }
}

impl Forward for TransformerEncoderLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &MhaOptions::new())
    }
}

/// A stack of encoder layers (each with its own parameters, initialized like `layer` is: PyTorch deep-copies
/// one layer, so all start equal) and an optional final layer norm (`norm`).
///
/// # Shapes
/// As [`TransformerEncoderLayer`].
#[derive(Clone, Debug, Module)]
pub struct TransformerEncoder {
    pub layers: Vec<TransformerEncoderLayer>,
    pub norm: Option<LayerNorm>,
}

impl TransformerEncoder {
    /// `num_layers` layers from `config` and an optional final norm. Unlike PyTorch, which copies one
    /// initialized layer, each layer gets its own random init (what training from scratch wants; a loaded
    /// state dict overwrites either).
    ///
    /// # Errors
    /// As [`TransformerEncoderLayerConfig::init`]; `Error::Argument` for zero layers.
    pub fn new(
        config: &TransformerEncoderLayerConfig,
        num_layers: usize,
        final_norm: bool,
        device: &Device,
    ) -> Result<TransformerEncoder> {
        if num_layers == 0 {
            return Err(Error::argument(
                "transformer_encoder",
                "needs at least one layer",
            ));
        }
        let layers = (0..num_layers)
            .map(|_| config.init(device))
            .collect::<Result<Vec<_>>>()?;
        let norm = match final_norm {
            true => Some(
                LayerNormConfig::new([config.d_model])
                    .with_eps(config.layer_norm_eps)
                    .with_dtype(config.dtype)
                    .init(device)?,
            ),
            false => None,
        };
        Ok(TransformerEncoder { layers, norm })
    }

    /// Every layer with the same masks, then the final norm.
    ///
    /// # Errors
    /// What the layers raise.
    pub fn forward_with(&self, src: &Tensor, opts: &MhaOptions) -> Result<Tensor> {
        let mut x = src.clone();
        for layer in &self.layers {
            x = layer.forward_with(&x, opts)?;
        }
        match &self.norm {
            Some(n) => n.forward(&x),
            None => Ok(x),
        }
    }
}

impl Forward for TransformerEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, &MhaOptions::new())
    }
}
