//! Sequential MNIST: train a [`RowClassifier`] on the bundled digits, one row per time step.

use std::path::Path;
use std::time::Instant;

use wgrad::data::{Batch, Loader, LoaderConfig, Mnist};
use wgrad::nn::{
    accuracy, cross_entropy, predictions, AdamConfig, Forward, GradClip, LrSchedule, Module,
    OneCycleLr, Optimizer,
};
use wgrad::{no_grad, Device, Tensor};

use crate::common::plot::{line_chart, Chart, Series};
use crate::common::{progress_bar, BoxResult};
use crate::models::{CellKind, RowClassifier};

/// The MNIST task's settings.
#[derive(Clone, Debug)]
pub struct RowsConfig {
    pub cell: CellKind,
    pub hidden: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub max_lr: f64,
    /// Train on the first `limit` training digits only.
    pub limit: Option<usize>,
    pub seed: u64,
}

/// What one epoch measured.
#[derive(Clone, Debug)]
pub struct EpochStats {
    pub train_loss: f64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// A batch's images (`[n, 1, 28, 28]`) and labels as tensors.
fn tensors(batch: &Batch, dev: &Device) -> wgrad::Result<(Tensor, Tensor)> {
    let x = Tensor::from_slice(&batch.images, batch.shape.to_vec(), dev)?;
    let y = Tensor::from_slice(&batch.labels, [batch.batch_size], dev)?;
    Ok((x, y))
}

/// Test accuracy of `model` on `data`, in evaluation mode, batches of 500.
pub fn evaluate(model: &mut RowClassifier, data: &Mnist, dev: &Device) -> wgrad::Result<f64> {
    let config = LoaderConfig {
        batch_size: 500,
        shuffle: false,
        ..Default::default()
    };
    let loader = Loader::new(data, config)?;
    model.eval();
    let result = no_grad(|| -> wgrad::Result<f64> {
        let (mut predicted, mut actual) = (Vec::new(), Vec::new());
        for batch in loader.epoch(0) {
            let (x, _) = tensors(&batch, dev)?;
            predicted.extend(predictions(&model.forward(&x)?)?);
            actual.extend_from_slice(&batch.labels);
        }
        accuracy(&predicted, &actual)
    });
    model.train();
    result
}

/// Trains `model` for `config.epochs` epochs with Adam under a one-cycle learning rate (gradients clipped
/// to norm 1, the usual guard for backpropagation through time), evaluating on `test` after each epoch.
/// `on_step` sees each step's loss (the tests use it; the example passes a no-op).
pub fn train(
    model: &mut RowClassifier,
    config: &RowsConfig,
    train_set: &Mnist,
    test_set: &Mnist,
    dev: &Device,
    mut on_step: impl FnMut(f64),
) -> BoxResult<Vec<EpochStats>> {
    let loader = Loader::new(
        train_set,
        LoaderConfig {
            batch_size: config.batch_size,
            seed: config.seed,
            ..Default::default()
        },
    )?;
    let schedule = OneCycleLr::new(config.max_lr, (config.epochs * loader.len()).max(1));
    let mut opt =
        Optimizer::new(model.parameters(), AdamConfig::default()).with_clip(GradClip::Norm(1.0));
    let mut history = Vec::new();
    for epoch in 0..config.epochs {
        let prefix = format!("{} epoch {}/{}", config.cell, epoch + 1, config.epochs);
        let bar = progress_bar(train_set.len() as u64, prefix)?;
        let start = Instant::now();
        let mut loss_sum = 0.0;
        for (i, batch) in loader.epoch(epoch).enumerate() {
            let (x, y) = tensors(&batch, dev)?;
            let loss = cross_entropy(&model.forward(&x)?, &y)?;
            opt.set_lr(schedule.lr(epoch * loader.len() + i));
            let loss = opt.backward_step(&loss)?.item()?;
            on_step(loss);
            loss_sum += loss;
            bar.inc(batch.batch_size as u64);
            bar.set_message(format!("loss {:.4}", loss_sum / (i + 1) as f64));
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let test_accuracy = evaluate(model, test_set, dev)?;
        let stats = EpochStats {
            train_loss: loss_sum / loader.len() as f64,
            test_accuracy,
            seconds,
        };
        println!(
            "{} epoch {:>2}/{}: loss {:.4}, test accuracy {:.2}%, {:.1} s",
            config.cell,
            epoch + 1,
            config.epochs,
            stats.train_loss,
            100.0 * stats.test_accuracy,
            stats.seconds
        );
        history.push(stats);
    }
    Ok(history)
}

/// The whole task as the example runs it: data, model, training, the plot.
pub fn run(config: &RowsConfig, plot: &Path, dev: &Device) -> BoxResult<f64> {
    let (train_set, test_set) = Mnist::bundled_split()?;
    let train_set = match config.limit {
        Some(n) if n < train_set.len() => train_set.split_at(n)?.0,
        _ => train_set,
    };
    dev.manual_seed(config.seed);
    let mut model = RowClassifier::new(config.cell, config.hidden, dev)?;
    println!(
        "sequential MNIST: {} (28 steps of 28 pixels, hidden {}, {} parameters), {} training / {} test digits, \
         {} epochs, batch {}, Adam with one-cycle LR peaking at {}",
        config.cell,
        config.hidden,
        model.num_params(),
        train_set.len(),
        test_set.len(),
        config.epochs,
        config.batch_size,
        config.max_lr
    );
    let start = Instant::now();
    let history = train(&mut model, config, &train_set, &test_set, dev, |_| {})?;
    let last = history.last().map_or(0.0, |s| s.test_accuracy);
    println!(
        "sequential MNIST ({}): test accuracy {:.2}% after {} epochs, {:.0} s",
        config.cell,
        100.0 * last,
        config.epochs,
        start.elapsed().as_secs_f64()
    );
    let losses: Vec<f64> = history.iter().map(|s| s.train_loss).collect();
    let accs: Vec<f64> = history.iter().map(|s| 100.0 * s.test_accuracy).collect();
    let chart = Chart {
        title: format!("Sequential MNIST, {} (rows as time steps)", config.cell),
        x_label: "epoch".into(),
        y_label: "training loss (cross-entropy)".into(),
        series: vec![Series::per_step("training loss", &losses)],
        right: Some((
            "test accuracy (%)".into(),
            vec![Series::per_step("test accuracy", &accs)],
        )),
    };
    line_chart(plot, &chart, (800, 500))?;
    println!("plot: {}", plot.display());
    Ok(last)
}
