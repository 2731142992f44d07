//! The CNN of the `cnn_filters` example, its training loop, and the picture of its first-layer filters.
//! `tests/cnn_filters.rs` includes this file, so it trains exactly this model.

use std::path::Path;
use std::time::Instant;

use wgrad::data::{Dataset, Loader, LoaderConfig};
use wgrad::nn::{
    cross_entropy, predictions, Activation, AdamConfig, Conv2dConfig, Flatten, Forward,
    LinearConfig, MaxPool2d, Module, Optimizer, Param, Sequential,
};
use wgrad::{no_grad, Device, Result, Tensor};

use crate::common::plot::image_grid;
use crate::common::{progress_bar, BoxResult};

pub const CLASSES: usize = 10;

/// `conv k×k (1 → c₁, pad k/2) → ReLU → max pool 2 → conv 3×3 (c₁ → c₂, pad 1) → ReLU → max pool 2 →
/// Linear(c₂·7·7 → 10)`, or without the second convolution and pool when `channels2` is 0
/// (`Linear(c₁·14·14 → 10)`). The first layer's kernels are 5×5 by default: large enough to show what they
/// respond to (3×3 kernels are too small to read as pictures).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub filters: usize,
    pub kernel: usize,
    pub channels2: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            filters: 16,
            kernel: 5,
            channels2: 0,
        }
    }
}

impl Config {
    pub fn build(&self, dev: &Device) -> Result<Sequential> {
        let c1 = Conv2dConfig::new(1, self.filters, self.kernel).with_padding(self.kernel / 2);
        let mut net = Sequential::new()
            .add(c1.init(dev)?)
            .add(Activation::Relu)
            .add(MaxPool2d::new(2));
        let features = if self.channels2 == 0 {
            self.filters * 14 * 14
        } else {
            let c2 = Conv2dConfig::new(self.filters, self.channels2, 3).with_padding(1);
            net.push(c2.init(dev)?);
            net.push(Activation::Relu);
            net.push(MaxPool2d::new(2));
            self.channels2 * 7 * 7
        };
        net.push(Flatten);
        net.push(LinearConfig::new(features, CLASSES).init(dev)?);
        Ok(net)
    }
}

/// The first convolution's weight, `[filters, 1, k, k]` (the first parameter of the model).
pub fn first_layer(model: &Sequential) -> Result<Param> {
    model
        .parameters()
        .into_iter()
        .next()
        .ok_or_else(|| wgrad::Error::argument("cnn_filters", "the model has no parameters"))
}

/// The first-layer filters as host images, one `k·k` vector per filter.
pub fn filters(model: &Sequential) -> Result<Vec<Vec<f32>>> {
    let w = first_layer(model)?.tensor();
    let k2 = w.dims()[2] * w.dims()[3];
    Ok(w.to_vec::<f32>()?.chunks(k2).map(<[f32]>::to_vec).collect())
}

/// `v` mapped linearly onto [0, 1] (its min → 0, max → 1; all 0.5 when constant), so each filter uses the
/// whole grey scale whatever its magnitude.
pub fn unit_range(v: &[f32]) -> Vec<f32> {
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi - lo <= f32::EPSILON {
        return vec![0.5; v.len()];
    }
    v.iter().map(|x| (x - lo) / (hi - lo)).collect()
}

/// Relative change `‖after - before‖ / ‖before‖` over all filters.
pub fn relative_change(before: &[Vec<f32>], after: &[Vec<f32>]) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (b, a) in before.iter().flatten().zip(after.iter().flatten()) {
        diff += f64::from(a - b).powi(2);
        norm += f64::from(*b).powi(2);
    }
    (diff / norm.max(1e-30)).sqrt()
}

/// Writes three labelled rows of grey images: the filters at initialization, after training, and the
/// change training made (trained - initial). Each image is normalized to [0, 1] on its own (black: the
/// filter's most negative weight, white: its most positive).
///
/// Why the third row: MNIST digits are smooth, so the loss hardly depends on a filter's pixel-to-pixel
/// noise, and the initial random pattern survives training nearly untouched underneath what was learned;
/// the difference shows the learned part alone (smooth blobs and oriented edges).
pub fn save_filters(
    path: &Path,
    before: &[Vec<f32>],
    after: &[Vec<f32>],
    kernel: usize,
) -> BoxResult<()> {
    let change: Vec<Vec<f32>> = before
        .iter()
        .zip(after)
        .map(|(b, a)| a.iter().zip(b).map(|(a, b)| a - b).collect())
        .collect();
    let images: Vec<Vec<f32>> = before
        .iter()
        .chain(after)
        .chain(&change)
        .map(|f| unit_range(f))
        .collect();
    let cols = before.len().max(1);
    let scale = (96 / kernel.max(1)).max(2) as u32;
    image_grid(
        path,
        "First-layer filters of the CNN (each scaled to its own range: black most negative, white most positive)",
        &images,
        ((kernel, kernel), cols, scale),
        &["initial", "trained", "change"],
    )
}

/// A batch as tensors: images `[n, 1, 28, 28]`, labels `[n]`.
pub fn tensors(
    images: &[f32],
    labels: &[i32],
    shape: [usize; 4],
    dev: &Device,
) -> Result<(Tensor, Tensor)> {
    Ok((
        Tensor::from_slice(images, shape.to_vec(), dev)?,
        Tensor::from_slice(labels, [labels.len()], dev)?,
    ))
}

/// Trains `model` for `epochs` epochs (Adam, constant learning rate); returns the loss of every step.
pub fn train<D: Dataset>(
    model: &Sequential,
    data: D,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    seed: u64,
    dev: &Device,
) -> BoxResult<Vec<f64>> {
    let loader = Loader::new(
        data,
        LoaderConfig {
            batch_size,
            seed,
            ..Default::default()
        },
    )?;
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr,
            ..Default::default()
        },
    );
    let mut losses = Vec::with_capacity(epochs * loader.len());
    for epoch in 0..epochs {
        let bar = progress_bar(
            loader.dataset().len() as u64,
            format!("epoch {}/{epochs}", epoch + 1),
        )?;
        let start = Instant::now();
        let mut sum = 0.0;
        for (i, b) in loader.epoch(epoch).enumerate() {
            let (x, y) = tensors(&b.images, &b.labels, b.shape, dev)?;
            let loss = cross_entropy(&model.forward(&x)?, &y)?;
            let value = opt.backward_step(&loss)?.item()?;
            losses.push(value);
            sum += value;
            bar.inc(b.batch_size as u64);
            bar.set_message(format!("loss {:.4}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
        println!(
            "epoch {}/{epochs}: mean loss {:.4}, {:.1} s",
            epoch + 1,
            sum / loader.len().max(1) as f64,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(losses)
}

/// Accuracy of `model` on `data` (evaluation mode, no gradients).
pub fn accuracy<D: Dataset>(model: &mut Sequential, data: D, dev: &Device) -> BoxResult<f64> {
    let loader = Loader::new(
        data,
        LoaderConfig {
            batch_size: 500,
            shuffle: false,
            ..Default::default()
        },
    )?;
    model.eval();
    let mut hits = 0usize;
    let mut total = 0usize;
    for b in loader.epoch(0) {
        let (x, _) = tensors(&b.images, &b.labels, b.shape, dev)?;
        let predicted = no_grad(|| predictions(&model.forward(&x)?))?;
        hits += predicted
            .iter()
            .zip(&b.labels)
            .filter(|(p, a)| p == a)
            .count();
        total += b.batch_size;
    }
    model.train();
    Ok(hits as f64 / total.max(1) as f64)
}
