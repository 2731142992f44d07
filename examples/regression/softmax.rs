//! Softmax regression on MNIST: one `Linear(784 → 10)` layer (no hidden layer), cross-entropy, plain
//! mini-batch SGD; then accuracy, per-class precision, recall and F1, and the confusion matrix.
//!
//! With 8,000 training digits this linear classifier reaches about 88-90% on the 2,000 test digits. Each
//! row of its weight matrix is a 28×28 template that the classifier correlates with the image: drawn as
//! pictures (`softmax_weights.png`) several are recognizable (the 0 is a bright ring around a dark centre),
//! bright where that digit's strokes lie and dark where another digit's would.

use std::path::Path;
use std::time::Instant;

use wgrad::data::{Batch, Dataset, Loader, LoaderConfig};
use wgrad::nn::{
    cross_entropy, cross_entropy_with, ConfusionMatrix, Forward, Linear, LinearConfig, Module,
    Optimizer, Reduction, SgdConfig,
};
use wgrad::{no_grad, realize, Device, Tensor};

use crate::common::plot::{image_grid_captioned, line_chart, Chart, Series};
use crate::common::{progress_bar, BoxResult};

pub const PIXELS: usize = 28 * 28;
pub const CLASSES: usize = 10;
const EVAL_BATCH: usize = 500;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for Config {
    /// SGD with learning rate 0.1, batch 128, 20 epochs.
    fn default() -> Self {
        Config {
            epochs: 20,
            batch_size: 128,
            lr: 0.1,
            seed: 0,
        }
    }
}

/// One epoch's numbers.
#[derive(Clone, Debug)]
pub struct EpochStats {
    /// Mean of the mini-batch losses.
    pub train_loss: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
}

#[derive(Debug)]
pub struct Outcome {
    pub history: Vec<EpochStats>,
    /// Of the final model on the test set.
    pub confusion: ConfusionMatrix,
    /// The test predictions and labels the confusion matrix was built from (`tests/regression.rs` checks
    /// the metrics against them).
    #[allow(dead_code)]
    pub predicted: Vec<i32>,
    #[allow(dead_code)]
    pub actual: Vec<i32>,
    /// The weight matrix, one 784-pixel template per class.
    pub templates: Vec<Vec<f32>>,
    pub seconds: f64,
}

/// A batch's images flattened to `[n, 784]`, and its labels.
fn tensors(batch: &Batch, dev: &Device) -> wgrad::Result<(Tensor, Tensor)> {
    let x = Tensor::from_slice(&batch.images, [batch.batch_size, PIXELS], dev)?;
    let y = Tensor::from_slice(&batch.labels, [batch.batch_size], dev)?;
    Ok((x, y))
}

/// Mean cross-entropy and predictions over `data` (no gradients): each batch's summed loss and argmax are
/// realized together, one schedule per batch.
pub fn evaluate<D: Dataset>(
    model: &Linear,
    data: D,
    dev: &Device,
) -> BoxResult<(f64, Vec<i32>, Vec<i32>)> {
    let cfg = LoaderConfig {
        batch_size: EVAL_BATCH,
        shuffle: false,
        ..Default::default()
    };
    let loader = Loader::new(data, cfg)?;
    let (mut sum, mut predicted, mut actual) = (0.0, Vec::new(), Vec::new());
    for batch in loader.epoch(0) {
        let (x, y) = tensors(&batch, dev)?;
        let (loss, classes) = no_grad(|| -> wgrad::Result<(Tensor, Tensor)> {
            let logits = model.forward(&x)?;
            let loss = cross_entropy_with(&logits, &y, 0.0, Reduction::Sum)?;
            Ok((loss, logits.argmax(-1, false)?))
        })?;
        realize(&[&loss, &classes])?;
        sum += loss.item()?;
        predicted.extend(classes.to_vec::<i32>()?);
        actual.extend_from_slice(&batch.labels);
    }
    Ok((sum / actual.len().max(1) as f64, predicted, actual))
}

pub fn train<D: Dataset, E: Dataset>(
    cfg: &Config,
    train: D,
    test: E,
    dev: &Device,
) -> BoxResult<Outcome> {
    dev.manual_seed(cfg.seed);
    let model = LinearConfig::new(PIXELS, CLASSES).init(dev)?;
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(cfg.lr));
    let loader = Loader::new(
        train,
        LoaderConfig {
            batch_size: cfg.batch_size,
            seed: cfg.seed,
            ..Default::default()
        },
    )?;
    let start = Instant::now();
    let mut history = Vec::new();
    let mut last = None;
    for epoch in 0..cfg.epochs {
        let prefix = format!("softmax epoch {}/{}", epoch + 1, cfg.epochs);
        let bar = progress_bar(loader.dataset().len() as u64, prefix)?;
        let mut sum = 0.0;
        for (i, batch) in loader.epoch(epoch).enumerate() {
            let (x, y) = tensors(&batch, dev)?;
            let loss = cross_entropy(&model.forward(&x)?, &y)?;
            sum += opt.backward_step(&loss)?.item()?;
            bar.inc(batch.batch_size as u64);
            bar.set_message(format!("loss {:.4}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
        let (test_loss, predicted, actual) = evaluate(&model, &test, dev)?;
        let hits = predicted
            .iter()
            .zip(&actual)
            .filter(|(p, a)| p == a)
            .count();
        let stats = EpochStats {
            train_loss: sum / loader.len().max(1) as f64,
            test_loss,
            test_accuracy: hits as f64 / actual.len().max(1) as f64,
        };
        println!(
            "  epoch {:>2}/{}: train loss {:.4}, test loss {:.4}, test accuracy {:.2}%",
            epoch + 1,
            cfg.epochs,
            stats.train_loss,
            stats.test_loss,
            100.0 * stats.test_accuracy
        );
        history.push(stats);
        last = Some((predicted, actual));
    }
    let seconds = start.elapsed().as_secs_f64();
    let (predicted, actual) = match last {
        Some(p) => p,
        None => {
            let (_, p, a) = evaluate(&model, &test, dev)?;
            (p, a)
        }
    };
    let confusion = ConfusionMatrix::from_labels(&actual, &predicted, CLASSES)?;
    let templates = model
        .weight
        .tensor()
        .to_vec::<f32>()?
        .chunks(PIXELS)
        .map(<[f32]>::to_vec)
        .collect();
    Ok(Outcome {
        history,
        confusion,
        predicted,
        actual,
        templates,
        seconds,
    })
}

/// Accuracy, the per-class table (precision, recall, F1, support), macro averages and the confusion matrix.
pub fn print(o: &Outcome) {
    let m = &o.confusion;
    let hits: u64 = (0..m.classes()).map(|i| m.counts()[i][i]).sum();
    println!(
        "  test accuracy {:.2}% ({hits} of {}), training {:.1} s",
        100.0 * m.accuracy(),
        m.total(),
        o.seconds
    );
    println!(
        "  {:>5}{:>11}{:>9}{:>9}{:>9}",
        "class", "precision", "recall", "F1", "support"
    );
    for c in 0..m.classes() {
        let support: u64 = m.counts()[c].iter().sum();
        println!(
            "  {c:>5}{:>11.4}{:>9.4}{:>9.4}{support:>9}",
            m.precision(c),
            m.recall(c),
            m.f1(c)
        );
    }
    println!(
        "  {:>5}{:>11.4}{:>9.4}{:>9.4}{:>9}",
        "macro",
        m.macro_precision(),
        m.macro_recall(),
        m.macro_f1(),
        m.total()
    );
    println!("  confusion matrix (rows: actual class, columns: predicted class):");
    print!("       ");
    for j in 0..m.classes() {
        print!("{j:>5}");
    }
    println!();
    for (i, row) in m.counts().iter().enumerate() {
        print!("  {i:>5}");
        for c in row {
            print!("{c:>5}");
        }
        println!();
    }
}

pub fn plot_loss(path: &Path, o: &Outcome) -> BoxResult<()> {
    let pick = |f: fn(&EpochStats) -> f64| o.history.iter().map(f).collect::<Vec<f64>>();
    let chart = Chart {
        title: "Softmax regression on MNIST".into(),
        x_label: "epoch".into(),
        y_label: "cross-entropy".into(),
        series: vec![
            Series::per_step("training loss", &pick(|e| e.train_loss)),
            Series::per_step("test loss", &pick(|e| e.test_loss)),
        ],
        right: Some((
            "test accuracy (%)".into(),
            vec![Series::per_step(
                "test accuracy",
                &pick(|e| 100.0 * e.test_accuracy),
            )],
        )),
    };
    line_chart(path, &chart, (900, 520))
}

/// The ten weight templates, each scaled to [0, 1] by its own min and max.
pub fn plot_templates(path: &Path, o: &Outcome) -> BoxResult<()> {
    let images: Vec<Vec<f32>> = o.templates.iter().map(|t| unit_range(t)).collect();
    let captions: Vec<String> = (0..images.len()).map(|c| format!("class {c}")).collect();
    image_grid_captioned(
        path,
        "Softmax regression: the weights of each class as an image (bright: evidence for the class)",
        &images,
        ((28, 28), 10, 4),
        &[],
        &captions,
    )
}

/// `v` mapped linearly onto [0, 1] (min → 0, max → 1; all 0.5 when constant).
pub fn unit_range(v: &[f32]) -> Vec<f32> {
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi - lo <= f32::EPSILON {
        return vec![0.5; v.len()];
    }
    v.iter().map(|x| (x - lo) / (hi - lo)).collect()
}
