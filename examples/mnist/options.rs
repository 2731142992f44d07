//! The command-line choices the `mnist` and `mnist_ddp` examples share: which model, which update rule.

use clap::ValueEnum;
use wgrad::nn::{AdamConfig, AdamWConfig, SgdConfig, UpdateRule};

use crate::models::ModelConfig;

/// Which network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// 784-512-256-10 MLP, dropout 0.3; 20 epochs by default (96.6% in the reference table).
    Mlp,
    /// 3×(conv3×3 + batch norm), 2 max pools, fc 128, dropout 0.3; 12 epochs by default (98.6%).
    Cnn,
}

impl ModelKind {
    /// The network and its recipe.
    pub fn config(self) -> ModelConfig {
        match self {
            ModelKind::Mlp => ModelConfig::mlp(),
            ModelKind::Cnn => ModelConfig::cnn(),
        }
    }
}

/// Which update rule; the learning rate follows a one-cycle schedule whatever the choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum OptimizerKind {
    /// SGD with momentum 0.9.
    Sgd,
    Adam,
    /// Adam with decoupled weight decay 0.01.
    Adamw,
}

impl OptimizerKind {
    /// The update rule, chosen at run time.
    pub fn rule(self, lr: f64) -> Box<dyn UpdateRule> {
        match self {
            OptimizerKind::Sgd => Box::new(SgdConfig {
                momentum: 0.9,
                ..SgdConfig::new(lr)
            }),
            OptimizerKind::Adam => Box::new(AdamConfig {
                lr,
                ..Default::default()
            }),
            OptimizerKind::Adamw => Box::new(AdamWConfig {
                lr,
                ..Default::default()
            }),
        }
    }
}
