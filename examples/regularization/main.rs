//! Regularizing an MLP on MNIST: dropout, batch norm, L2 weight decay, a max-norm constraint and early
//! stopping: `cargo run --release --example regularization`.
//!
//! The model is `784 → [Linear → BatchNorm → ReLU → Dropout] × 2 → Linear(10)` (hidden 128 and 64),
//! trained by SGD with momentum on 7,000 of the bundled training digits; the other 1,000 are a validation
//! split. After every step the incoming weight vector of each hidden unit is projected back to norm ≤ c
//! (`model::apply_max_norm`). After every epoch the validation loss decides: a new best is remembered
//! (a snapshot of every parameter and buffer), and after `--patience` epochs without one the run stops and
//! the best weights come back. The example prints the epoch it stopped at, the epoch restored and the test
//! accuracy of the restored model, and plots the training and validation losses with the stop marked
//! (`target/examples/regularization/curves.png`).
//!
//! Every technique has a switch (`--dropout 0`, `--no-batch-norm`, `--weight-decay 0`, `--max-norm 0`,
//! `--patience 1000`) to see what it does alone. One interaction to know: batch norm right after a linear
//! layer makes the network's output independent of the scale of each unit's incoming weights, so there the
//! max-norm bound changes only the effective step size (like weight decay does), not the functions the
//! network can represent; with `--no-batch-norm` it is what keeps the weights from growing.

#[path = "../common/mod.rs"]
mod common;
mod model;
mod train;

use std::path::PathBuf;

use clap::Parser;
use wgrad::data::Mnist;
use wgrad::nn::Module;

use common::plot::{line_chart, Chart, Series};
use common::{device, BackendKind, BoxResult};
use train::{Config, Outcome};

/// Dropout, batch norm, L2 weight decay, max-norm and early stopping on an MLP for MNIST.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Hidden layer widths.
    #[arg(long, value_delimiter = ',', default_values_t = Config::default().hidden)]
    hidden: Vec<usize>,
    /// Dropout probability after each hidden layer (0: none).
    #[arg(long, default_value_t = Config::default().dropout)]
    dropout: f64,
    /// Leave out batch normalization.
    #[arg(long)]
    no_batch_norm: bool,
    /// L2 weight decay λ (SGD adds λw to each gradient).
    #[arg(long, default_value_t = Config::default().weight_decay)]
    weight_decay: f64,
    /// Max-norm bound c on each hidden unit's incoming weights (0: no constraint).
    #[arg(long, default_value_t = Config::default().max_norm.unwrap_or(0.0))]
    max_norm: f64,
    /// Learning rate of SGD with momentum 0.9.
    #[arg(long, default_value_t = Config::default().lr)]
    lr: f64,
    #[arg(long, default_value_t = Config::default().batch_size)]
    batch_size: usize,
    /// Epochs at most.
    #[arg(long, default_value_t = Config::default().max_epochs)]
    max_epochs: usize,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = Config::default().patience)]
    patience: usize,
    /// Training images held out for validation.
    #[arg(long, default_value_t = Config::default().validation)]
    validation: usize,
    /// Seed of the weights, the split, the shuffling and the dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train (and validate) on the first N training images only, for quick runs.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The plot [default: target/examples/regularization/curves.png].
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
}

impl Args {
    fn config(&self) -> BoxResult<Config> {
        if !(self.lr > 0.0 && self.lr.is_finite()) || self.batch_size == 0 || self.patience == 0 {
            return Err("--lr must be positive, --batch-size and --patience at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) || self.weight_decay < 0.0 || self.max_norm < 0.0 {
            return Err("--dropout must be in [0, 1), --weight-decay and --max-norm ≥ 0".into());
        }
        Ok(Config {
            hidden: self.hidden.clone(),
            dropout: self.dropout,
            batch_norm: !self.no_batch_norm,
            weight_decay: self.weight_decay,
            max_norm: (self.max_norm > 0.0).then_some(self.max_norm),
            lr: self.lr,
            batch_size: self.batch_size,
            max_epochs: self.max_epochs,
            patience: self.patience,
            validation: self.validation,
            seed: self.seed,
            ..Config::default()
        })
    }
}

/// Training and validation loss per epoch (left axis), validation accuracy (right axis), and a vertical
/// line at the epoch whose weights were restored.
fn plot(path: &std::path::Path, o: &Outcome) -> BoxResult<()> {
    let pick =
        |f: fn(&train::EpochRecord) -> f64| -> Vec<f64> { o.history.iter().map(f).collect() };
    let (train_loss, val_loss) = (pick(|e| e.train_loss), pick(|e| e.val_loss));
    let all = train_loss.iter().chain(&val_loss).copied();
    let lo = all.clone().fold(f64::INFINITY, f64::min);
    let hi = all.fold(f64::NEG_INFINITY, f64::max);
    let best = o.best_epoch as f64;
    let stop_label = if o.stopped_early {
        format!(
            "stopped after epoch {}; epoch {} restored",
            o.last_epoch(),
            o.best_epoch
        )
    } else {
        format!("best epoch {} (restored)", o.best_epoch)
    };
    let chart = Chart {
        title: "MLP with dropout, batch norm, weight decay, max-norm and early stopping".into(),
        x_label: "epoch".into(),
        y_label: "cross-entropy".into(),
        series: vec![
            Series::per_step("training loss (dropout on)", &train_loss),
            Series::per_step("validation loss", &val_loss),
            Series::new(stop_label, vec![(best, lo), (best, hi)]),
        ],
        right: Some((
            "validation accuracy (%)".into(),
            vec![Series::per_step(
                "validation accuracy",
                &pick(|e| 100.0 * e.val_accuracy),
            )],
        )),
    };
    line_chart(path, &chart, (960, 540))
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    let cfg = args.config()?;
    let dev = device(args.backend)?;
    let (train, test) = Mnist::bundled_split()?;
    let train = match args.limit {
        Some(0) => return Err("--limit must be at least 1".into()),
        Some(n) if n < train.len() => train.split_at(n)?.0,
        _ => train,
    };
    let plot_path = common::output(args.plot.clone(), "regularization", "curves.png")?;
    println!(
        "wgrad regularization on {}: MLP 784-{}-10, dropout {}, batch norm {}, weight decay {}, max-norm {}",
        dev.name(),
        cfg.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join("-"),
        cfg.dropout,
        if cfg.batch_norm { "on" } else { "off" },
        cfg.weight_decay,
        cfg.max_norm.map_or("off".to_string(), |c| format!("c = {c}")),
    );
    println!(
        "SGD lr {} momentum {}, batch {}; {} training / {} validation / {} test images; early stopping with \
         patience {} (at most {} epochs)",
        cfg.lr,
        cfg.momentum,
        cfg.batch_size,
        train.len() - cfg.validation.min(train.len()),
        cfg.validation,
        test.len(),
        cfg.patience,
        cfg.max_epochs
    );
    let outcome = train::run(&cfg, &train, &test, &dev)?;
    println!();
    if outcome.stopped_early {
        println!(
            "early stopping: stopped after epoch {} ({} epochs without a better validation loss)",
            outcome.last_epoch(),
            cfg.patience
        );
    } else {
        println!(
            "ran all {} epochs without running out of patience",
            outcome.last_epoch()
        );
    }
    println!(
        "restored the weights of epoch {}: validation loss {:.4} (recorded {:.4})",
        outcome.best_epoch, outcome.restored_val_loss, outcome.best_val_loss
    );
    if let Some(c) = cfg.max_norm {
        let largest = model::max_row_norm(&outcome.model.hidden_weights())?;
        println!("largest hidden-unit weight norm {largest:.4} (bound {c})");
    }
    println!(
        "test accuracy {:.2}% (test loss {:.4}), macro F1 {:.4}; {} parameters; training {:.1} s",
        100.0 * outcome.test_accuracy,
        outcome.test_loss,
        outcome.confusion.macro_f1(),
        outcome.model.num_params(),
        outcome.seconds
    );
    plot(&plot_path, &outcome)?;
    println!("plot: {}", plot_path.display());
    Ok(())
}
