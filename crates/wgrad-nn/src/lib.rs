//! wgrad-nn: layers, losses, initializers, optimizers, LR schedules, metrics and checkpoints for wgrad.
//!
//! Layers hold their parameters in shared [`Param`] handles and derive [`Module`] (their parameters and
//! buffers by path, a train/eval switch); an [`Optimizer`] holds clones of the same handles and realizes
//! each step (the new parameters, its own state, the loss and pending buffers) in one schedule: one GPU
//! submit per training step.
//!
//! ```
//! use wgrad_graph::{DType, Device, Tensor};
//! use wgrad_nn::{cross_entropy, Activation, AdamConfig, Forward, LinearConfig, Module, Optimizer, Sequential};
//!
//! # fn main() -> wgrad_graph::Result<()> {
//! let dev = Device::new(wgrad_cpu::CpuBackend);
//! let model = Sequential::new()
//!     .add(LinearConfig::new(784, 128).init(&dev)?)
//!     .add(Activation::Relu)
//!     .add(LinearConfig::new(128, 10).init(&dev)?);
//! let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
//! let x = Tensor::randn([8, 784], DType::F32, &dev)?;
//! let y = Tensor::from_vec(vec![1i32; 8], [8], &dev)?;
//!
//! // PyTorch's habit: backward, then step (the loss is computed in the step's schedule)
//! let loss = cross_entropy(&model.forward(&x)?, &y)?;
//! opt.zero_grad();
//! loss.backward()?;
//! opt.step()?;
//! assert!(loss.item()?.is_finite());
//!
//! // or both in one call (gradients are not kept; zero_grad clears the ones step kept)
//! opt.zero_grad();
//! let loss = opt.backward_step(&cross_entropy(&model.forward(&x)?, &y)?)?;
//! assert!(loss.item()?.is_finite());
//! # Ok(())
//! # }
//! ```

// `#[derive(Module)]` names this crate `::wgrad_nn`, also inside it
extern crate self as wgrad_nn;

pub mod activation;
pub mod attention;
pub mod checkpoint;
pub mod conv;
pub mod dropout;
pub mod embedding;
pub mod init;
pub mod linear;
pub mod loss;
pub mod metrics;
pub mod module;
pub mod norm;
pub mod optim;
pub mod param;
pub mod pool;
pub mod positional;
pub mod rnn;
pub mod sampling;
pub mod sequential;
pub mod transformer;
pub mod upsample;

pub use activation::{Activation, GeluApprox};
pub use attention::{
    scaled_dot_product_attention, MhaOptions, MultiheadAttention, MultiheadAttentionConfig,
};
pub use conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
pub use dropout::{Dropout, Dropout2d};
pub use embedding::{Embedding, EmbeddingConfig};
pub use linear::{Linear, LinearConfig};
pub use loss::{
    binary_cross_entropy_with_logits, cross_entropy, cross_entropy_with, hinge_loss, huber_loss,
    mae_loss, mse_loss, nll_loss, Reduction,
};
pub use metrics::{accuracy, predictions, ConfusionMatrix};
pub use module::{join, Forward, Module, Visit};
pub use norm::{
    layer_norm, BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormConfig, LayerNorm, LayerNormConfig,
};
pub use optim::schedule::{
    ConstantLr, CosineLr, ExponentialLr, LinearWarmup, LrSchedule, OneCycleLr, StepLr,
};
pub use optim::{
    clip_grad_norm, clip_grad_value, AdagradConfig, AdamConfig, AdamWConfig, GradClip, Optimizer,
    OptimizerState, RmsPropConfig, SgdConfig, UpdateRule,
};
pub use param::Param;
pub use pool::{AvgPool2d, Flatten, MaxPool2d, Pool2dConfig};
pub use positional::{sinusoidal_table, LearnedPositionalEmbedding, SinusoidalPositionalEncoding};
pub use rnn::{Gru, Lstm, Nonlinearity, Rnn, RnnConfig};
pub use sampling::{apply_temperature, multinomial, sample, top_k_logits, SamplingConfig};
pub use sequential::Sequential;
pub use transformer::{
    FfActivation, TransformerEncoder, TransformerEncoderLayer, TransformerEncoderLayerConfig,
};
pub use upsample::{upsample_nearest, Upsample, UpsampleMode};
/// `#[derive(Module)]`: see [`wgrad_derive`].
pub use wgrad_derive::Module;
