//! wgrad-nn: layers, losses, initializers, optimizers, LR schedules, metrics and checkpoints for wgrad.
//!
//! Layers hold their parameters in shared [`Param`] handles; an [`Optimizer`] holds clones of the same
//! handles and, in [`Optimizer::step`], realizes the loss, the new parameters, its own state and pending
//! buffers in one schedule (one GPU submit per training step), then swaps the new values in.
//!
//! ```
//! use wgrad_graph::{DType, Device, Tensor};
//! use wgrad_nn::{cross_entropy, Activation, AdamConfig, LinearConfig, Module, Optimizer, Sequential};
//!
//! # fn main() -> wgrad_graph::Result<()> {
//! let dev = Device::new(wgrad_cpu::CpuBackend);
//! let model = Sequential::new()
//!     .add(LinearConfig::new(784, 128).init(&dev)?)
//!     .add(Activation::Relu)
//!     .add(LinearConfig::new(128, 10).init(&dev)?);
//! let mut opt = Optimizer::new(model.params(), AdamConfig::default());
//! let x = Tensor::randn([8, 784], DType::F32, &dev)?;
//! let y = Tensor::from_vec(vec![1i32; 8], [8], &dev)?;
//! let loss = opt.step(&cross_entropy(&model.forward(&x)?, &y)?)?; // one realize per step
//! assert!(loss.item()?.is_finite());
//! # Ok(())
//! # }
//! ```

pub mod activation;
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
pub mod sequential;

pub use activation::Activation;
pub use conv::{Conv2d, Conv2dConfig};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingConfig};
pub use linear::{Linear, LinearConfig};
pub use loss::{
    binary_cross_entropy_with_logits, cross_entropy, cross_entropy_with, hinge_loss, huber_loss,
    mae_loss, mse_loss, nll_loss, Reduction,
};
pub use metrics::{accuracy, predictions, ConfusionMatrix};
pub use module::{join, Module};
pub use norm::{BatchNorm, BatchNorm1d, BatchNorm2d, BatchNormConfig};
pub use optim::schedule::{
    ConstantLr, CosineLr, ExponentialLr, LinearWarmup, LrSchedule, OneCycleLr, StepLr,
};
pub use optim::{
    clip_grad_norm, clip_grad_value, Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig,
    GradClip, Optimizer, OptimizerState, RmsProp, RmsPropConfig, Sgd, SgdConfig, UpdateRule,
};
pub use param::Param;
pub use pool::{AvgPool2d, Flatten, MaxPool2d, Pool2dConfig};
pub use sequential::Sequential;
