//! Mini-batch SGD for a one-output linear model `ŷ = x·wᵀ + b` (wgrad's `Linear(d, 1)`), shared by the
//! linear and the logistic parts: they differ only in the loss.

use std::time::Instant;

use wgrad::data::permutation;
use wgrad::nn::{
    ConstantLr, CosineLr, Forward, Linear, LinearConfig, LrSchedule, Module, Optimizer, SgdConfig,
};
use wgrad::{Device, Tensor};

use crate::common::{progress_bar, BoxResult};
use crate::reference::Table;

/// How to run SGD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub epochs: usize,
    /// Samples per step; the last batch of an epoch is smaller when it does not divide the data.
    pub batch_size: usize,
    /// The initial learning rate.
    pub lr: f64,
    /// Anneal the learning rate to 0 along a cosine. Mini-batch gradients are noisy, so SGD with a constant
    /// rate ends in a cloud around the minimizer whose size grows with the rate; a rate that decays to 0
    /// lands on the minimizer. (Full-batch gradient descent needs no decay.)
    pub anneal: bool,
    /// Seed of the initial weights and of the shuffling.
    pub seed: u64,
}

/// What a run of [`fit`] produced.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The learned weights and bias, read back from the device.
    pub w: Vec<f64>,
    pub b: f64,
    /// Mean of the mini-batch losses (the library's values) per epoch.
    pub batch_loss: Vec<f64>,
    /// The full objective after each epoch, computed on the host in f64 from the parameters.
    pub objective: Vec<f64>,
    pub seconds: f64,
}

/// The model's `(w, b)` on the host.
pub fn parameters(model: &Linear) -> BoxResult<(Vec<f64>, f64)> {
    let w = model.weight.tensor().to_f64_vec()?;
    let b = match &model.bias {
        Some(b) => b.tensor().item()?,
        None => 0.0,
    };
    Ok((w, b))
}

/// Trains `Linear(d, 1)` on `table` by mini-batch SGD. `loss(prediction [m, 1], target [m, 1], weight [1, d])`
/// builds the loss of one batch (the weight is there for penalties); `objective(w, b)` is the exact
/// objective on the host, recorded after each epoch for the convergence plot.
pub fn fit(
    table: &Table,
    settings: &Settings,
    loss: impl Fn(&Tensor, &Tensor, &Tensor) -> wgrad::Result<Tensor>,
    objective: impl Fn(&[f64], f64) -> f64,
    label: &str,
    dev: &Device,
) -> BoxResult<Fit> {
    let (n, d) = (table.len(), table.features());
    let bs = settings.batch_size.clamp(1, n.max(1));
    dev.manual_seed(settings.seed);
    let model = LinearConfig::new(d, 1).init(dev)?;
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(settings.lr));
    let steps_per_epoch = n.div_ceil(bs);
    let schedule: Box<dyn LrSchedule> = if settings.anneal {
        Box::new(CosineLr {
            base: settings.lr,
            min: 0.0,
            total: settings.epochs * steps_per_epoch,
        })
    } else {
        Box::new(ConstantLr(settings.lr))
    };
    let bar = progress_bar(settings.epochs as u64, label.to_string())?;
    let start = Instant::now();
    let (mut batch_loss, mut objective_curve) = (Vec::new(), Vec::new());
    let mut step = 0;
    for epoch in 0..settings.epochs {
        let order = permutation(n, settings.seed, epoch);
        let mut sum = 0.0;
        for idx in order.chunks(bs) {
            let (xb, yb) = table.batch(idx);
            let x = Tensor::from_vec(xb, [idx.len(), d], dev)?;
            let y = Tensor::from_vec(yb, [idx.len(), 1], dev)?;
            let batch = loss(&model.forward(&x)?, &y, &model.weight.tensor())?;
            opt.set_lr(schedule.lr(step));
            sum += opt.backward_step(&batch)?.item()?;
            step += 1;
        }
        let (w, b) = parameters(&model)?;
        let mean = sum / steps_per_epoch as f64;
        batch_loss.push(mean);
        objective_curve.push(objective(&w, b));
        bar.inc(1);
        bar.set_message(format!("loss {mean:.6}"));
    }
    bar.finish_and_clear();
    let (w, b) = parameters(&model)?;
    Ok(Fit {
        w,
        b,
        batch_loss,
        objective: objective_curve,
        seconds: start.elapsed().as_secs_f64(),
    })
}
