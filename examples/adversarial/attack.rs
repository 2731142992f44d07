//! The CNN under attack, its training, and the fast gradient sign method (Goodfellow, Shlens & Szegedy,
//! "Explaining and harnessing adversarial examples", ICLR 2015). `tests/adversarial.rs` includes this file.
//!
//! Everything here works in pixel space, `x ∈ [0, 1]`: the attack perturbs pixels, and the model normalizes
//! its input itself (`(x - 0.1307) / 0.3081`, the loader's MNIST normalization) as its first graph op. So
//! the gradient flows through the normalization back to the pixels, and "ε = 0.1" means a tenth of the
//! pixel range, as in the paper.

use serde::{Deserialize, Serialize};
use wgrad::data::{Batch, Dataset, Loader, LoaderConfig, MNIST_MEAN_STD};
use wgrad::nn::{
    cross_entropy, cross_entropy_with, Activation, AdamConfig, Conv2dConfig, Flatten, Forward,
    LinearConfig, MaxPool2d, Module, Optimizer, Reduction, Sequential,
};
use wgrad::{no_grad, realize, DType, Device, Result, Tensor};

use crate::common::{progress_bar, BoxResult};

pub const CLASSES: usize = 10;

/// The CNN: `[conv 3×3 (pad 1) → ReLU → max pool 2] × 2 → Linear(c₂·7·7 → fc) → ReLU → Linear(fc → 10)`.
/// Stored in the checkpoint's metadata, so a saved model rebuilds from its file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    pub channels: [usize; 2],
    pub fc: usize,
}

impl Default for CnnConfig {
    /// 8 and 16 channels, fc 64 (52k parameters): 96% on the bundled test digits after 2 epochs, and small
    /// enough to train in about two minutes on a 2-core software adapter (lavapipe).
    fn default() -> Self {
        CnnConfig {
            channels: [8, 16],
            fc: 64,
        }
    }
}

impl CnnConfig {
    pub fn build(&self, dev: &Device) -> Result<Sequential> {
        let [c1, c2] = self.channels;
        Ok(Sequential::new()
            .add(Conv2dConfig::new(1, c1, 3).with_padding(1).init(dev)?)
            .add(Activation::Relu)
            .add(MaxPool2d::new(2))
            .add(Conv2dConfig::new(c1, c2, 3).with_padding(1).init(dev)?)
            .add(Activation::Relu)
            .add(MaxPool2d::new(2))
            .add(Flatten)
            .add(LinearConfig::new(c2 * 7 * 7, self.fc).init(dev)?)
            .add(Activation::Relu)
            .add(LinearConfig::new(self.fc, CLASSES).init(dev)?))
    }
}

/// Pixels `[n, 1, 28, 28]` in [0, 1] → the normalized input the network was trained on.
pub fn normalize(pixels: &Tensor) -> Result<Tensor> {
    let (mean, std) = MNIST_MEAN_STD;
    pixels.sub(f64::from(mean))?.div(f64::from(std))
}

/// The logits for pixel images.
pub fn logits(model: &Sequential, pixels: &Tensor) -> Result<Tensor> {
    model.forward(&normalize(pixels)?)
}

/// A loader serving raw pixels in [0, 1] (no normalization: the model does it).
pub fn pixel_loader<D: Dataset>(
    data: D,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
) -> Result<Loader<D>> {
    Loader::new(
        data,
        LoaderConfig {
            batch_size,
            shuffle,
            seed,
            normalize: None,
            ..Default::default()
        },
    )
}

/// A batch's pixels and labels as tensors.
pub fn tensors(b: &Batch, dev: &Device) -> Result<(Tensor, Tensor)> {
    Ok((
        Tensor::from_slice(&b.images, b.shape.to_vec(), dev)?,
        Tensor::from_slice(&b.labels, [b.batch_size], dev)?,
    ))
}

/// Trains `model` with Adam (constant rate) for `epochs` epochs; returns the mean loss per epoch.
pub fn train<D: Dataset>(
    model: &Sequential,
    data: D,
    epochs: usize,
    lr: f64,
    seed: u64,
    dev: &Device,
) -> BoxResult<Vec<f64>> {
    let loader = pixel_loader(data, 64, true, seed)?;
    let mut opt = Optimizer::new(
        model.parameters(),
        AdamConfig {
            lr,
            ..Default::default()
        },
    );
    let mut history = Vec::new();
    for epoch in 0..epochs {
        let bar = progress_bar(
            loader.dataset().len() as u64,
            format!("train epoch {}/{epochs}", epoch + 1),
        )?;
        let mut sum = 0.0;
        for (i, b) in loader.epoch(epoch).enumerate() {
            let (x, y) = tensors(&b, dev)?;
            let loss = cross_entropy(&logits(model, &x)?, &y)?;
            sum += opt.backward_step(&loss)?.item()?;
            bar.inc(b.batch_size as u64);
            bar.set_message(format!("loss {:.4}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
        let mean = sum / loader.len().max(1) as f64;
        println!("train epoch {}/{epochs}: loss {mean:.4}", epoch + 1);
        history.push(mean);
    }
    Ok(history)
}

/// `∇ₓ J(x, y)`: the gradient of the summed cross-entropy with respect to the input pixels (not the
/// weights: `wgrad::grad` is asked for the input only, so the weights' gradients are never computed).
/// Summing instead of averaging keeps each image's gradient independent of the batch size; the sign is the
/// same either way.
///
/// # Shapes
/// - `pixels` `[n, 1, 28, 28]`, `labels` i32 `[n]`; output like `pixels`
pub fn input_gradient(model: &Sequential, pixels: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let x = pixels.detach().with_grad()?;
    let loss = cross_entropy_with(&logits(model, &x)?, labels, 0.0, Reduction::Sum)?;
    wgrad::grad(&loss, &[&x], None)?
        .pop()
        .flatten()
        .ok_or_else(|| wgrad::Error::argument("fgsm", "the loss does not depend on the input"))
}

/// FGSM: `x' = clamp(x + ε·sign(∇ₓ J(x, y)), 0, 1)`, one step that raises the loss as much as a
/// perturbation of L∞ size ε can to first order.
pub fn fgsm(pixels: &Tensor, gradient: &Tensor, eps: f64) -> Result<Tensor> {
    perturb(pixels, &gradient.sign()?, eps)
}

/// `clamp(x + ε·signs, 0, 1)`.
pub fn perturb(pixels: &Tensor, signs: &Tensor, eps: f64) -> Result<Tensor> {
    pixels.add(&signs.mul(eps)?)?.clamp(Some(0.0), Some(1.0))
}

/// A random ±1 for every pixel, from `dev`'s random stream: the control, noise of the same L∞ size ε as the
/// attack but blind to the model.
pub fn random_signs(like: &Tensor, dev: &Device) -> Result<Tensor> {
    Tensor::bernoulli(like.dims().to_vec(), 0.5, DType::F32, dev)?
        .mul(2.0)?
        .sub(1.0)
}

/// Accuracies over a data set: clean, and for each ε under FGSM and under random signs.
#[derive(Clone, Debug)]
pub struct Robustness {
    pub epsilons: Vec<f64>,
    pub clean: f64,
    pub fgsm: Vec<f64>,
    pub random: Vec<f64>,
    pub images: usize,
}

fn hits(classes: &Tensor, labels: &[i32]) -> Result<usize> {
    Ok(classes
        .to_vec::<i32>()?
        .iter()
        .zip(labels)
        .filter(|(p, a)| p == a)
        .count())
}

/// Attacks every image of `data` at each ε (the model in evaluation mode). Per batch one schedule computes
/// the input gradient, the clean predictions and the predictions on all perturbed copies.
pub fn robustness<D: Dataset>(
    model: &mut Sequential,
    data: D,
    epsilons: &[f64],
    dev: &Device,
) -> BoxResult<Robustness> {
    let loader = pixel_loader(data, 250, false, 0)?;
    model.eval();
    let bar = progress_bar(loader.dataset().len() as u64, "attack")?;
    let (mut clean, mut fgsm_hits, mut random_hits) =
        (0, vec![0; epsilons.len()], vec![0; epsilons.len()]);
    let mut total = 0;
    let mut run = || -> BoxResult<()> {
        for b in loader.epoch(0) {
            let (x, y) = tensors(&b, dev)?;
            let g = input_gradient(model, &x, &y)?;
            let signs = random_signs(&x, dev)?;
            let predict = |x: &Tensor| no_grad(|| logits(model, x)?.argmax(-1, false));
            let base = predict(&x)?;
            let mut attacked = Vec::new();
            let mut noisy = Vec::new();
            for &eps in epsilons {
                attacked.push(predict(&fgsm(&x, &g, eps)?)?);
                noisy.push(predict(&perturb(&x, &signs, eps)?)?);
            }
            let targets: Vec<&Tensor> = std::iter::once(&base)
                .chain(&attacked)
                .chain(&noisy)
                .collect();
            realize(&targets)?;
            clean += hits(&base, &b.labels)?;
            for (i, (a, n)) in attacked.iter().zip(&noisy).enumerate() {
                fgsm_hits[i] += hits(a, &b.labels)?;
                random_hits[i] += hits(n, &b.labels)?;
            }
            total += b.batch_size;
            bar.inc(b.batch_size as u64);
        }
        Ok(())
    };
    let result = run();
    bar.finish_and_clear();
    model.train();
    result?;
    let frac = |h: usize| h as f64 / total.max(1) as f64;
    Ok(Robustness {
        epsilons: epsilons.to_vec(),
        clean: frac(clean),
        fgsm: fgsm_hits.into_iter().map(frac).collect(),
        random: random_hits.into_iter().map(frac).collect(),
        images: total,
    })
}

/// One attacked image for the picture: the original, the perturbation `x' - x`, the adversarial image, and
/// the model's answers.
#[derive(Clone, Debug)]
pub struct Example {
    pub label: i32,
    pub original: Vec<f32>,
    pub adversarial: Vec<f32>,
    pub clean_prediction: i32,
    pub clean_confidence: f32,
    pub adversarial_prediction: i32,
    pub adversarial_confidence: f32,
}

/// The argmax and its softmax probability for each row of `[n, k]` logits.
fn top(logits: &Tensor) -> Result<Vec<(i32, f32)>> {
    let k = logits.dims()[1];
    let p = logits.softmax(-1)?.to_vec::<f32>()?;
    Ok(p.chunks(k)
        .map(|row| {
            let (i, v) =
                row.iter().enumerate().fold(
                    (0, f32::MIN),
                    |best, (i, &v)| if v > best.1 { (i, v) } else { best },
                );
            (i as i32, v)
        })
        .collect())
}

/// FGSM at `eps` on the first `n` images of `data`.
pub fn examples<D: Dataset>(
    model: &mut Sequential,
    data: D,
    n: usize,
    eps: f64,
    dev: &Device,
) -> BoxResult<Vec<Example>> {
    let loader = pixel_loader(data, n.max(1), false, 0)?;
    let Some(b) = loader.epoch(0).next() else {
        return Ok(Vec::new());
    };
    model.eval();
    let run = || -> Result<(Tensor, Tensor, Tensor)> {
        let (x, y) = tensors(&b, dev)?;
        let adv = fgsm(&x, &input_gradient(model, &x, &y)?, eps)?;
        let (clean, attacked) = no_grad(|| Ok((logits(model, &x)?, logits(model, &adv)?)))?;
        Ok((adv, clean, attacked))
    };
    let result = run();
    model.train();
    let (adv, clean, attacked) = result?;
    realize(&[&adv, &clean, &attacked])?;
    let pixels = 28 * 28;
    let adv = adv.to_vec::<f32>()?;
    let (clean, attacked) = (top(&clean)?, top(&attacked)?);
    Ok((0..b.batch_size)
        .map(|i| Example {
            label: b.labels[i],
            original: b.images[i * pixels..(i + 1) * pixels].to_vec(),
            adversarial: adv[i * pixels..(i + 1) * pixels].to_vec(),
            clean_prediction: clean[i].0,
            clean_confidence: clean[i].1,
            adversarial_prediction: attacked[i].0,
            adversarial_confidence: attacked[i].1,
        })
        .collect())
}
