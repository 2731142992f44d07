//! The training run: model, optimizer, the state a checkpoint carries, and the epoch loop.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{
    accuracy, checkpoint, cross_entropy, ConfusionMatrix, Forward, LrSchedule, Module, OneCycleLr,
    Optimizer, Sequential,
};
use wgrad::Device;

use crate::common::{progress_bar, BoxResult};
use crate::models::{batch_tensors, predict, ModelConfig, Recipe, CLASSES};
use crate::OptimizerKind;

/// Batch size for evaluation: larger than training batches, since there is no backward pass to hold.
const EVAL_BATCH: usize = 500;

/// What one epoch measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (with dropout active).
    pub train_loss: f64,
    /// Accuracy on the training batches as they were trained (running accuracy, dropout active).
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// Wall time of the training part of the epoch (evaluation excluded).
    pub seconds: f64,
    pub samples_per_sec: f64,
}

/// Everything besides tensors that a resumed run needs; stored as the checkpoint's `config` metadata, so a
/// checkpoint alone says which model to build, how to continue, and what the curves so far looked like.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunState {
    pub model: ModelConfig,
    pub optimizer: OptimizerKind,
    pub recipe: Recipe,
    pub seed: u64,
    pub epochs_done: usize,
    pub history: Vec<EpochStats>,
}

/// The end of a run: its curves and the final evaluation on the test set.
#[derive(Debug)]
pub struct Outcome {
    pub history: Vec<EpochStats>,
    pub confusion: ConfusionMatrix,
}

/// A model with its optimizer and run state.
#[derive(Debug)]
pub struct Run {
    pub state: RunState,
    model: Sequential,
    opt: Optimizer,
}

/// The device's random stream for `epoch`: reseeding per epoch makes the dropout masks of a resumed run the
/// ones an uninterrupted run would have drawn (Philox streams with different keys are independent).
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed ^ ((epoch as u64 + 1) << 40)
}

impl Run {
    /// A new model with weights drawn from `seed`.
    pub fn fresh(
        model: ModelConfig,
        recipe: Recipe,
        optimizer: OptimizerKind,
        seed: u64,
        dev: &Device,
    ) -> BoxResult<Run> {
        dev.manual_seed(seed);
        let net = model.build(dev)?;
        let opt = Optimizer::new(net.parameters(), optimizer.rule(recipe.max_lr));
        let state = RunState {
            model,
            optimizer,
            recipe,
            seed,
            epochs_done: 0,
            history: Vec::new(),
        };
        Ok(Run {
            state,
            model: net,
            opt,
        })
    }

    /// The run saved in `path`: model, optimizer state, recipe and history. `epochs` replaces the total.
    pub fn resume(path: &Path, epochs: Option<usize>, dev: &Device) -> BoxResult<Run> {
        let mut state: RunState = checkpoint::load_config(path)?;
        let net = state.model.build(dev)?;
        let mut opt = Optimizer::new(net.parameters(), state.optimizer.rule(state.recipe.max_lr));
        checkpoint::load(path, &net, Some(&mut opt))?;
        if let Some(e) = epochs {
            state.recipe.epochs = e;
        }
        println!(
            "resumed {} after epoch {} (checkpoint settings replace --model, --optimizer, --lr, --batch-size)",
            path.display(),
            state.epochs_done
        );
        Ok(Run {
            state,
            model: net,
            opt,
        })
    }

    pub fn num_params(&self) -> usize {
        self.model.num_params()
    }

    /// Trains the remaining epochs, evaluating on `test` and checkpointing to `save` after each; the
    /// confusion matrix is the last evaluation's.
    pub fn train(
        mut self,
        train: &Mnist,
        test: &Mnist,
        save: &Path,
        dev: &Device,
    ) -> BoxResult<Outcome> {
        let recipe = self.state.recipe;
        let loader = Loader::new(
            train,
            LoaderConfig {
                batch_size: recipe.batch_size,
                seed: self.state.seed,
                ..Default::default()
            },
        )?;
        let schedule = OneCycleLr::new(recipe.max_lr, (recipe.epochs * loader.len()).max(1));
        // The last epoch's test predictions give the confusion matrix; evaluate again only when no epoch
        // ran (a resumed run that is already complete).
        let mut last = None;
        for epoch in self.state.epochs_done..recipe.epochs {
            let mut stats = self.epoch(&loader, &schedule, epoch, dev)?;
            let (predicted, actual) = predict(&mut self.model, test, EVAL_BATCH, dev)?;
            stats.test_accuracy = accuracy(&predicted, &actual)?;
            print_epoch(&stats, recipe.epochs);
            self.state.history.push(stats);
            self.state.epochs_done = epoch + 1;
            checkpoint::save(save, &self.model, Some(&self.opt), &self.state)?;
            last = Some((predicted, actual));
        }
        let (predicted, actual) = match last {
            Some(p) => p,
            None => predict(&mut self.model, test, EVAL_BATCH, dev)?,
        };
        let confusion = ConfusionMatrix::from_labels(&actual, &predicted, CLASSES)?;
        Ok(Outcome {
            history: self.state.history,
            confusion,
        })
    }

    /// One pass over the training set; the caller fills in `test_accuracy`.
    fn epoch(
        &mut self,
        loader: &Loader<&Mnist>,
        schedule: &OneCycleLr,
        epoch: usize,
        dev: &Device,
    ) -> BoxResult<EpochStats> {
        dev.manual_seed(epoch_seed(self.state.seed, epoch));
        let prefix = format!("epoch {}/{}", epoch + 1, self.state.recipe.epochs);
        let bar = progress_bar(loader.dataset().len() as u64, prefix)?;
        let start = Instant::now();
        let (mut loss_sum, mut hits, mut seen) = (0.0, 0usize, 0usize);
        for (i, batch) in loader.epoch(epoch).enumerate() {
            let (x, y) = batch_tensors(&batch, dev)?;
            let logits = self.model.forward(&x)?;
            let loss = cross_entropy(&logits, &y)?;
            let lr = schedule.lr(epoch * loader.len() + i);
            // The loss and the predicted classes are realized with the update: one schedule per step,
            // then two small readbacks (a realize of `argmax(logits)` afterwards would be a second pass).
            let predicted = logits.argmax(-1, false)?;
            self.opt.set_lr(lr);
            loss_sum += self.opt.backward_step_with(&loss, &[&predicted])?.item()?;
            hits += predicted
                .to_vec::<i32>()?
                .iter()
                .zip(&batch.labels)
                .filter(|(p, a)| p == a)
                .count();
            seen += batch.batch_size;
            bar.inc(batch.batch_size as u64);
            bar.set_message(format!(
                "loss {:.4}  acc {:.2}%",
                loss_sum / (i + 1) as f64,
                100.0 * hits as f64 / seen as f64
            ));
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        Ok(EpochStats {
            epoch: epoch + 1,
            train_loss: loss_sum / loader.len().max(1) as f64,
            train_accuracy: hits as f64 / seen.max(1) as f64,
            test_accuracy: f64::NAN,
            seconds,
            samples_per_sec: seen as f64 / seconds.max(1e-9),
        })
    }
}

/// One line per epoch: the record that remains in a log, where the progress bar is hidden.
fn print_epoch(stats: &EpochStats, epochs: usize) {
    println!(
        "epoch {:>2}/{epochs}: loss {:.4}, train acc {:.2}%, test acc {:.2}%, {:.1} s, {:.0} samples/s",
        stats.epoch,
        stats.train_loss,
        100.0 * stats.train_accuracy,
        100.0 * stats.test_accuracy,
        stats.seconds,
        stats.samples_per_sec
    );
}
