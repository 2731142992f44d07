//! A small GPT-style character model: token embedding plus learned positions, pre-norm transformer
//! encoder layers with causal self-attention, a final layer norm and a linear head over the characters.
//!
//! Two broken variants exist for tests (`tests/char_lm_training.rs`): `Leaky` drops the causal mask, so
//! position t also sees the characters after it (the next one is its own target); `Blind` lets each
//! position attend only itself, which removes the context and leaves a bigram model.

use serde::{Deserialize, Serialize};
use wgrad::nn::{
    cross_entropy, Embedding, EmbeddingConfig, FfActivation, Forward, LayerNorm, LayerNormConfig,
    LearnedPositionalEmbedding, Linear, LinearConfig, MhaOptions, Module, TransformerEncoderLayer,
    TransformerEncoderLayerConfig,
};
use wgrad::{DType, Device, Result, Tensor};

/// How the self-attention sees the sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attention {
    /// Position t attends positions ≤ t: an honest language model.
    #[default]
    Causal,
    /// No mask: position t sees the future (and so its own target).
    Leaky,
    /// Position t attends only itself: no context.
    Blind,
}

/// The model's sizes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    pub vocab: usize,
    pub d_model: usize,
    pub nhead: usize,
    pub layers: usize,
    /// Longest window the model reads.
    pub context: usize,
    pub dropout: f64,
    pub attention: Attention,
}

/// The model. Parameter names follow PyTorch's modules (`layers.0.self_attn.in_proj_weight`, …).
#[derive(Debug, Module)]
pub struct CharTransformer {
    pub tokens: Embedding,
    pub positions: LearnedPositionalEmbedding,
    pub layers: Vec<TransformerEncoderLayer>,
    pub norm: LayerNorm,
    pub head: Linear,
    #[module(skip)]
    config: LmConfig,
}

impl CharTransformer {
    pub fn new(config: &LmConfig, dev: &Device) -> Result<CharTransformer> {
        let d = config.d_model;
        let layer = TransformerEncoderLayerConfig::new(d, config.nhead)
            .with_dim_feedforward(4 * d)
            .with_dropout(config.dropout)
            .with_activation(FfActivation::Gelu)
            .with_batch_first()
            .with_norm_first();
        let layers = (0..config.layers)
            .map(|_| layer.init(dev))
            .collect::<Result<Vec<_>>>()?;
        let tokens = EmbeddingConfig::new(config.vocab, d).init(dev)?;
        let positions = LearnedPositionalEmbedding::new(config.context, d, true, DType::F32, dev)?;
        Ok(CharTransformer {
            tokens,
            positions,
            layers,
            norm: LayerNormConfig::new([d]).init(dev)?,
            head: LinearConfig::new(d, config.vocab).init(dev)?,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &LmConfig {
        &self.config
    }

    /// The attention options of the variant for windows of `t` characters.
    fn mask(&self, t: usize, dev: &Device) -> Result<MhaOptions> {
        Ok(match self.config.attention {
            Attention::Causal => MhaOptions::new().causal(true),
            Attention::Leaky => MhaOptions::new(),
            Attention::Blind => {
                // PyTorch's convention: true = not allowed; everything off the diagonal
                let eye: Vec<f64> = (0..t * t)
                    .map(|k| f64::from(u8::from(k % t != k / t)))
                    .collect();
                let mask = Tensor::from_f64(&eye, [t, t], DType::F32, dev)?.ne(0.0)?;
                MhaOptions::new().attn_mask(Some(&mask))
            }
        })
    }

    /// Logits `[B, T, vocab]` for character ids `[B, T]` (i32).
    pub fn logits(&self, ids: &Tensor) -> Result<Tensor> {
        let t = ids.dims()[1];
        let opts = self.mask(t, ids.device())?;
        let mut x = self.positions.forward(&self.tokens.forward(ids)?)?;
        for layer in &self.layers {
            x = layer.forward_with(&x, &opts)?;
        }
        self.head.forward(&self.norm.forward(&x)?)
    }

    /// Mean cross-entropy of predicting `targets [B, T]` at every position.
    pub fn loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.logits(ids)?;
        let v = self.config.vocab;
        cross_entropy(
            &logits.reshape([targets.numel(), v])?,
            &targets.reshape([targets.numel()])?,
        )
    }

    /// Mean cross-entropy of predicting `targets [B]` from the last position of `ids [B, T]` only: what a
    /// generating model faces, with no future in the window to look at.
    pub fn last_position_loss(&self, ids: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let logits = self.logits(ids)?;
        let (b, t) = (ids.dims()[0], ids.dims()[1]);
        let last = logits
            .narrow(1, t - 1, 1)?
            .reshape([b, self.config.vocab])?;
        cross_entropy(&last, targets)
    }
}
