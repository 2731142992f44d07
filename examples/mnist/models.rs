//! The MNIST models of the `mnist` example, and the recipes that train them to their targets.
//!
//! The integration tests include this file too (`#[path]`), so they train exactly the models the example
//! does. Both are plain [`Sequential`]s built from a serde-serializable [`ModelConfig`]; the config is what
//! a checkpoint stores, so `--resume` rebuilds the model from the file alone.
//!
//! The recipes are the ones DESIGN.md's reference table measured with PyTorch on the bundled split (8,000
//! training digits, 2,000 test digits): on so little data a plain recipe stops short of 96% (MLP) and 98%
//! (CNN); dropout, batch norm and a one-cycle learning rate are what close the gap.

use serde::{Deserialize, Serialize};
use wgrad::data::{Batch, Dataset, Loader, LoaderConfig};
use wgrad::nn::{
    predictions, Activation, BatchNormConfig, Conv2dConfig, Dropout, Flatten, Forward,
    LinearConfig, MaxPool2d, Sequential,
};
use wgrad::{no_grad, Device, Result, Tensor};

/// Pixels of one MNIST image, and the number of classes.
pub const PIXELS: usize = 28 * 28;
pub const CLASSES: usize = 10;

/// A multi-layer perceptron: flatten, then `Linear → ReLU → Dropout` per hidden layer, then a linear head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub input: usize,
    pub hidden: Vec<usize>,
    pub classes: usize,
    pub dropout: f64,
}

impl Default for MlpConfig {
    /// 784-512-256-10 with dropout 0.3 (the reference table's 96.6% MLP).
    fn default() -> Self {
        MlpConfig {
            input: PIXELS,
            hidden: vec![512, 256],
            classes: CLASSES,
            dropout: 0.3,
        }
    }
}

impl MlpConfig {
    pub fn build(&self, dev: &Device) -> Result<Sequential> {
        let mut net = Sequential::new().add(Flatten);
        let mut width = self.input;
        for &h in &self.hidden {
            net.push(LinearConfig::new(width, h).init(dev)?);
            net.push(Activation::Relu);
            net.push(Dropout::new(self.dropout)?);
            width = h;
        }
        net.push(LinearConfig::new(width, self.classes).init(dev)?);
        Ok(net)
    }
}

/// A small VGG-style CNN for 1×28×28 input: three `conv3×3 (pad 1, no bias) → BatchNorm → ReLU` blocks,
/// the first two followed by a 2×2 max pool (28 → 14 → 7), then
/// `Linear(c₃·7·7 → fc) → ReLU → Dropout → Linear(fc → 10)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Output channels of the three convolutions.
    pub channels: [usize; 3],
    pub fc: usize,
    pub classes: usize,
    pub dropout: f64,
}

impl Default for CnnConfig {
    /// Channels 16-32-32, fc 128, dropout 0.3. Why so narrow: on a software adapter (lavapipe, 2 cores) the
    /// convolutions dominate the step, and 32-64-64 costs about 4× their arithmetic.
    fn default() -> Self {
        CnnConfig {
            channels: [16, 32, 32],
            fc: 128,
            classes: CLASSES,
            dropout: 0.3,
        }
    }
}

impl CnnConfig {
    pub fn build(&self, dev: &Device) -> Result<Sequential> {
        let mut net = Sequential::new();
        let mut c_in = 1;
        for (i, &c) in self.channels.iter().enumerate() {
            // No bias: the batch norm right after subtracts the per-channel mean, which would cancel it.
            let conv = Conv2dConfig::new(c_in, c, 3).with_padding(1).without_bias();
            net.push(conv.init(dev)?);
            net.push(BatchNormConfig::new(c).init_2d(dev)?);
            net.push(Activation::Relu);
            if i < 2 {
                net.push(MaxPool2d::new(2));
            }
            c_in = c;
        }
        net.push(Flatten);
        net.push(LinearConfig::new(c_in * 7 * 7, self.fc).init(dev)?);
        net.push(Activation::Relu);
        net.push(Dropout::new(self.dropout)?);
        net.push(LinearConfig::new(self.fc, self.classes).init(dev)?);
        Ok(net)
    }
}

/// Either model; what a checkpoint stores as its config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelConfig {
    Mlp(MlpConfig),
    Cnn(CnnConfig),
}

impl ModelConfig {
    /// The default MLP.
    pub fn mlp() -> Self {
        ModelConfig::Mlp(MlpConfig::default())
    }

    /// The default CNN.
    pub fn cnn() -> Self {
        ModelConfig::Cnn(CnnConfig::default())
    }

    /// `"mlp"` or `"cnn"`.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Cnn(_) => "cnn",
        }
    }

    /// A fresh model with its initial weights drawn from `dev`'s random stream (seed it first for a
    /// reproducible run). It starts in training mode.
    pub fn build(&self, dev: &Device) -> Result<Sequential> {
        match self {
            ModelConfig::Mlp(c) => c.build(dev),
            ModelConfig::Cnn(c) => c.build(dev),
        }
    }
}

/// How to train a model: Adam under a one-cycle learning rate peaking at `max_lr`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub epochs: usize,
    pub batch_size: usize,
    pub max_lr: f64,
}

impl Recipe {
    /// The reference table's recipe: MLP 20 epochs, CNN 12 epochs; both batch 64, peak 3e-3.
    pub fn for_model(config: &ModelConfig) -> Self {
        let epochs = match config {
            ModelConfig::Mlp(_) => 20,
            ModelConfig::Cnn(_) => 12,
        };
        Recipe {
            epochs,
            batch_size: 64,
            max_lr: 3e-3,
        }
    }
}

/// A batch's images (`[n, 1, 28, 28]` f32) and labels (`[n]` i32) as tensors on `dev`.
pub fn batch_tensors(batch: &Batch, dev: &Device) -> Result<(Tensor, Tensor)> {
    let y = Tensor::from_slice(&batch.labels, [batch.batch_size], dev)?;
    Ok((batch_images(batch, dev)?, y))
}

/// A batch's images alone (evaluation needs no label tensor).
pub fn batch_images(batch: &Batch, dev: &Device) -> Result<Tensor> {
    Tensor::from_slice(&batch.images, batch.shape.to_vec(), dev)
}

/// Predicted classes for every sample of `data`, in order, with the model in evaluation mode (running
/// batch-norm statistics, no dropout); the model is back in training mode afterwards. Labels come back
/// with the predictions so callers need not walk the data set twice.
pub fn predict<D: Dataset>(
    model: &mut dyn Forward,
    data: D,
    batch_size: usize,
    dev: &Device,
) -> Result<(Vec<i32>, Vec<i32>)> {
    let loader = Loader::new(
        data,
        LoaderConfig {
            batch_size,
            shuffle: false,
            ..Default::default()
        },
    )?;
    model.eval();
    let result = no_grad(|| -> Result<(Vec<i32>, Vec<i32>)> {
        let (mut predicted, mut actual) = (Vec::new(), Vec::new());
        for batch in loader.epoch(0) {
            let x = batch_images(&batch, dev)?;
            predicted.extend(predictions(&model.forward(&x)?)?);
            actual.extend_from_slice(&batch.labels);
        }
        Ok((predicted, actual))
    });
    model.train();
    result
}
