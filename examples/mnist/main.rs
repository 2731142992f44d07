//! Train an MLP or a CNN on MNIST: `cargo run --release --example mnist`.
//!
//! With no arguments it trains the default MLP recipe on the 10,000 digits bundled in `data/` (8,000 train,
//! 2,000 test) on the best adapter wgrad finds, then prints the test accuracy and the confusion matrix, and
//! writes a checkpoint and a plot of the training curves under `target/mnist/`. `--help` lists the options.
//!
//! The parts: `models` the two networks and their recipes, `train` runs epochs (one realize per step, see
//! `wgrad::nn::Optimizer::backward_step`), `report` prints tables, `plot` draws the curves into a PNG
//! (`plotters`, through the examples' shared `common` module).

#[path = "../common/mod.rs"]
mod common;
mod models;
mod options;
mod plot;
mod report;
mod train;

use std::path::PathBuf;

use clap::Parser;
use models::{ModelConfig, Recipe};
use options::ModelKind;
pub use options::OptimizerKind;
use wgrad::data::Mnist;

pub use common::BoxResult;
use common::{device, BackendKind};

/// Train an MLP or a CNN on MNIST with wgrad.
///
/// The defaults are the recipes of DESIGN.md's reference table for the bundled data (8,000 train / 2,000
/// test digits), which reach 96.6% (MLP) and 98.6% (CNN) in PyTorch. The MLP is the default model because it
/// is the cheaper one: on a 2-core software adapter (lavapipe) its recipe takes about 4 minutes, the CNN's
/// about 4 too (20 s an epoch); use `--epochs` and `--limit` for a quick look.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Model to train.
    #[arg(long, value_enum, default_value_t = ModelKind::Mlp)]
    model: ModelKind,
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Epochs in total (default: the model's recipe, 20 for the MLP, 12 for the CNN).
    #[arg(long)]
    epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate of the one-cycle schedule.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// Update rule.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    /// An MNIST-format directory (MNIST, Fashion-MNIST) instead of the bundled digits.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Checkpoint written after every epoch [default: target/mnist/<model>.safetensors].
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,
    /// Continue from a checkpoint (its model, optimizer and recipe; --epochs may extend the run).
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Plot of training loss and test accuracy per epoch [default: target/mnist/<model>.png].
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// Seed of the initial weights, the shuffling and the dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on the first N training images only (for quick runs).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

impl Args {
    fn model_config(&self) -> ModelConfig {
        self.model.config()
    }

    /// The model's reference recipe with the command line's overrides.
    fn recipe(&self, config: &ModelConfig) -> Recipe {
        let base = Recipe::for_model(config);
        Recipe {
            epochs: self.epochs.unwrap_or(base.epochs),
            batch_size: self.batch_size,
            max_lr: self.lr,
        }
    }

    /// `--save`/`--plot`, or a file under `target/mnist/` named after the model (git ignores `target/`, so
    /// runs leave the checkout clean).
    fn output(&self, given: &Option<PathBuf>, kind: &str, ext: &str) -> BoxResult<PathBuf> {
        if let Some(p) = given {
            return Ok(p.clone());
        }
        let dir = PathBuf::from("target").join("mnist");
        std::fs::create_dir_all(&dir)?;
        Ok(dir.join(format!("{kind}.{ext}")))
    }
}

/// (train, test): `--data DIR` or the bundled split, the training set cut to `--limit`.
fn datasets(args: &Args) -> BoxResult<(Mnist, Mnist)> {
    let (train, test) = match &args.data {
        Some(dir) => Mnist::load_dir(dir)?,
        None => Mnist::bundled_split()?,
    };
    let train = match args.limit {
        Some(0) => return Err("--limit must be at least 1".into()),
        Some(n) if n < train.len() => train.split_at(n)?.0,
        _ => train,
    };
    Ok((train, test))
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.batch_size == 0 || !(args.lr > 0.0 && args.lr.is_finite()) {
        return Err("--batch-size must be positive and --lr a positive number".into());
    }
    let dev = device(args.backend)?;
    let (train_set, test_set) = datasets(&args)?;
    let run = match &args.resume {
        Some(path) => train::Run::resume(path, args.epochs, &dev)?,
        None => {
            let model = args.model_config();
            let recipe = args.recipe(&model);
            train::Run::fresh(model, recipe, args.optimizer, args.seed, &dev)?
        }
    };
    let kind = run.state.model.kind();
    let save = args.output(&args.save, kind, "safetensors")?;
    let plot_path = args.output(&args.plot, kind, "png")?;
    println!(
        "wgrad mnist: {kind} ({} parameters), {:?}, {} epochs, batch {}, peak lr {}, on {}",
        run.num_params(),
        run.state.optimizer,
        run.state.recipe.epochs,
        run.state.recipe.batch_size,
        run.state.recipe.max_lr,
        dev.name()
    );
    println!(
        "data: {} training, {} test images",
        train_set.len(),
        test_set.len()
    );
    let outcome = run.train(&train_set, &test_set, &save, &dev)?;
    report::summary(&outcome);
    plot::write(&plot_path, &outcome.history)?;
    println!("checkpoint: {}", save.display());
    println!(
        "plot: {} (blue: training loss, left axis; orange: test accuracy, right axis)",
        plot_path.display()
    );
    Ok(())
}
