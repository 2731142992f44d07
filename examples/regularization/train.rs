//! The training run: a validation split carved from the training set, SGD with L2 weight decay, the
//! max-norm projection after every step, and early stopping that restores the best epoch's weights.

use std::time::Instant;

use wgrad::data::{permutation, Dataset, Loader, LoaderConfig, Subset};
use wgrad::nn::{
    cross_entropy, cross_entropy_with, ConfusionMatrix, Forward, Module, Optimizer, Reduction,
    SgdConfig,
};
use wgrad::{no_grad, realize, Device, Tensor};

use crate::common::{progress_bar, BoxResult};
use crate::model::{apply_max_norm, max_row_norm, EarlyStopping, Mlp, Snapshot, Status, CLASSES};

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub hidden: Vec<usize>,
    /// Dropout probability after every hidden layer (0 turns it off).
    pub dropout: f64,
    pub batch_norm: bool,
    /// L2 penalty λ: SGD adds λw to every gradient, the gradient of (λ/2)‖w‖² (for plain SGD, L2
    /// regularization and weight decay are the same thing).
    pub weight_decay: f64,
    /// The max-norm bound c on every hidden unit's incoming weight vector (`None`: no constraint).
    pub max_norm: Option<f64>,
    pub lr: f64,
    pub momentum: f64,
    pub batch_size: usize,
    /// Epochs at most; early stopping usually ends the run sooner.
    pub max_epochs: usize,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    /// An improvement must beat the best validation loss by more than this.
    pub min_delta: f64,
    /// Training images held out for validation (a seeded random choice).
    pub validation: usize,
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            hidden: vec![128, 64],
            dropout: 0.3,
            batch_norm: true,
            weight_decay: 5e-4,
            max_norm: Some(1.0),
            lr: 0.1,
            momentum: 0.9,
            batch_size: 128,
            max_epochs: 30,
            patience: 4,
            min_delta: 1e-4,
            validation: 1000,
            seed: 0,
        }
    }
}

/// One epoch.
#[derive(Clone, Debug)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean of the mini-batch losses, dropout active (so it runs above the validation loss at first).
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Hidden units whose incoming weights the max-norm projection scaled down in the epoch's last step.
    pub clipped: usize,
    /// The largest norm of a hidden unit's incoming weights at the epoch's end (at most the max-norm bound).
    pub largest_norm: f64,
    pub seconds: f64,
}

#[derive(Debug)]
pub struct Outcome {
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were restored, and its validation loss.
    pub best_epoch: usize,
    pub best_val_loss: f64,
    /// The validation loss of the restored model, measured again (equals `best_val_loss`).
    pub restored_val_loss: f64,
    /// Whether patience ran out before `max_epochs`.
    pub stopped_early: bool,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub confusion: ConfusionMatrix,
    pub model: Mlp,
    pub seconds: f64,
}

impl Outcome {
    /// The last epoch that ran.
    pub fn last_epoch(&self) -> usize {
        self.history.last().map_or(0, |e| e.epoch)
    }
}

/// A batch's images `[n, 1, 28, 28]` and labels.
fn tensors(
    images: &[f32],
    labels: &[i32],
    shape: [usize; 4],
    dev: &Device,
) -> wgrad::Result<(Tensor, Tensor)> {
    Ok((
        Tensor::from_slice(images, shape.to_vec(), dev)?,
        Tensor::from_slice(labels, [labels.len()], dev)?,
    ))
}

/// Mean cross-entropy, accuracy and predictions of `model` (in evaluation mode: no dropout, running batch
/// statistics) over `data`; the model is back in training mode afterwards.
pub fn evaluate<D: Dataset>(
    model: &mut Mlp,
    data: D,
    dev: &Device,
) -> BoxResult<(f64, f64, Vec<i32>, Vec<i32>)> {
    let loader = Loader::new(
        data,
        LoaderConfig {
            batch_size: 500,
            shuffle: false,
            ..Default::default()
        },
    )?;
    model.eval();
    let run = || -> BoxResult<(f64, Vec<i32>, Vec<i32>)> {
        let (mut sum, mut predicted, mut actual) = (0.0, Vec::new(), Vec::new());
        for b in loader.epoch(0) {
            let (x, y) = tensors(&b.images, &b.labels, b.shape, dev)?;
            let (loss, classes) = no_grad(|| -> wgrad::Result<(Tensor, Tensor)> {
                let logits = model.forward(&x)?;
                let loss = cross_entropy_with(&logits, &y, 0.0, Reduction::Sum)?;
                Ok((loss, logits.argmax(-1, false)?))
            })?;
            realize(&[&loss, &classes])?;
            sum += loss.item()?;
            predicted.extend(classes.to_vec::<i32>()?);
            actual.extend_from_slice(&b.labels);
        }
        Ok((sum, predicted, actual))
    };
    let result = run();
    model.train();
    let (sum, predicted, actual) = result?;
    let n = actual.len().max(1) as f64;
    let hits = predicted
        .iter()
        .zip(&actual)
        .filter(|(p, a)| p == a)
        .count();
    Ok((sum / n, hits as f64 / n, predicted, actual))
}

/// (training part, validation part) of `train`: `validation` images chosen at random with `seed`.
pub fn split<D: Dataset + Copy>(
    train: D,
    validation: usize,
    seed: u64,
) -> BoxResult<(Subset<D>, Subset<D>)> {
    let n = train.len();
    if validation == 0 || validation >= n {
        return Err(format!("the validation split needs 1..{n} images, got {validation}").into());
    }
    // A stream of its own (epoch index u32::MAX), so the split differs from every epoch's shuffle.
    let order = permutation(n, seed, u32::MAX as usize);
    let (val, rest) = order.split_at(validation);
    Ok((
        Subset::new(train, rest.to_vec())?,
        Subset::new(train, val.to_vec())?,
    ))
}

/// Trains with early stopping on the validation split, restores the best weights and tests them.
pub fn run<D: Dataset + Copy, E: Dataset>(
    cfg: &Config,
    train: D,
    test: E,
    dev: &Device,
) -> BoxResult<Outcome> {
    let (train_part, val_part) = split(train, cfg.validation, cfg.seed)?;
    dev.manual_seed(cfg.seed);
    let mut model = Mlp::new(&cfg.hidden, cfg.dropout, cfg.batch_norm, dev)?;
    let rule = SgdConfig {
        momentum: cfg.momentum,
        weight_decay: cfg.weight_decay,
        ..SgdConfig::new(cfg.lr)
    };
    let mut opt = Optimizer::new(model.parameters(), rule);
    let hidden = model.hidden_weights();
    if let Some(c) = cfg.max_norm {
        apply_max_norm(&hidden, c)?; // start inside the constraint set
    }
    let loader = Loader::new(
        &train_part,
        LoaderConfig {
            batch_size: cfg.batch_size,
            seed: cfg.seed,
            ..Default::default()
        },
    )?;
    let mut stopper = EarlyStopping::new(cfg.patience, cfg.min_delta);
    let mut best = Snapshot::take(&model);
    let (mut history, mut stopped_early) = (Vec::new(), false);
    let start = Instant::now();
    for epoch in 1..=cfg.max_epochs {
        let epoch_start = Instant::now();
        let bar = progress_bar(
            train_part.len() as u64,
            format!("epoch {epoch}/{}", cfg.max_epochs),
        )?;
        let (mut sum, mut clipped) = (0.0, 0);
        for (i, b) in loader.epoch(epoch - 1).enumerate() {
            let (x, y) = tensors(&b.images, &b.labels, b.shape, dev)?;
            let loss = cross_entropy(&model.forward(&x)?, &y)?;
            sum += opt.backward_step(&loss)?.item()?;
            if let Some(c) = cfg.max_norm {
                clipped = apply_max_norm(&hidden, c)?;
            }
            bar.inc(b.batch_size as u64);
            bar.set_message(format!("loss {:.4}", sum / (i + 1) as f64));
        }
        bar.finish_and_clear();
        let (val_loss, val_accuracy, _, _) = evaluate(&mut model, &val_part, dev)?;
        let record = EpochRecord {
            epoch,
            train_loss: sum / loader.len().max(1) as f64,
            val_loss,
            val_accuracy,
            clipped,
            largest_norm: max_row_norm(&hidden)?,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        let status = stopper.update(epoch, val_loss);
        print_epoch(&record, cfg, status);
        history.push(record);
        match status {
            Status::Improved => best = Snapshot::take(&model),
            Status::Waiting(_) => {}
            Status::Stop => {
                stopped_early = epoch < cfg.max_epochs || cfg.max_epochs == 0;
                break;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let (best_epoch, best_val_loss) = stopper.best().unwrap_or((0, f64::NAN));
    best.restore()?;
    let (restored_val_loss, _, _, _) = evaluate(&mut model, &val_part, dev)?;
    let (test_loss, test_accuracy, predicted, actual) = evaluate(&mut model, test, dev)?;
    Ok(Outcome {
        history,
        best_epoch,
        best_val_loss,
        restored_val_loss,
        stopped_early,
        test_loss,
        test_accuracy,
        confusion: ConfusionMatrix::from_labels(&actual, &predicted, CLASSES)?,
        model,
        seconds,
    })
}

fn print_epoch(r: &EpochRecord, cfg: &Config, status: Status) {
    let note = match status {
        Status::Improved => "best so far".to_string(),
        Status::Waiting(k) => format!("no improvement ({k}/{})", cfg.patience),
        Status::Stop => format!("no improvement for {} epochs: stop", cfg.patience),
    };
    let clipped = match cfg.max_norm {
        Some(_) => format!(
            ", max ‖w‖ {:.3} ({} units projected)",
            r.largest_norm, r.clipped
        ),
        None => format!(", max ‖w‖ {:.3}", r.largest_norm),
    };
    println!(
        "epoch {:>2}: train loss {:.4}, val loss {:.4}, val acc {:.2}%{clipped}, {:.1} s  [{note}]",
        r.epoch,
        r.train_loss,
        r.val_loss,
        100.0 * r.val_accuracy,
        r.seconds
    );
}
