//! Regression, the first models of the course, each checked against an exact answer:
//! `cargo run --release --example regression [-- linear|logistic|softmax]`.
//!
//! - `linear`: linear regression by mini-batch SGD against the normal equations (the lectures' houses:
//!   SGD must predict 598.683087 for (4000 ft², 4 bedrooms)), then least squares, ridge (L2) and lasso (L1)
//!   on synthetic data with 17 irrelevant features, each against its exact minimizer (closed forms, and
//!   coordinate descent for the lasso), showing the zeros the L1 penalty produces.
//! - `logistic`: logistic regression (binary cross-entropy on logits) on two Gaussian blobs, against the
//!   maximum-likelihood weights (Newton's method) and the Bayes rule's accuracy.
//! - `softmax`: softmax regression on the bundled MNIST (one `Linear(784 → 10)`, SGD, batch 128, 20 epochs):
//!   accuracy, precision, recall, F1 and the confusion matrix.
//!
//! With no subcommand all three run. Plots go to `target/examples/regression/` (`--out-dir`): loss curves
//! and fits for each part, and the softmax weights drawn as images. The parts: `reference` (host f64 data
//! generators and exact solvers), `sgd` (the mini-batch loop for one-output models), `linear`, `logistic`,
//! `softmax`.

#[path = "../common/mod.rs"]
mod common;
mod linear;
mod logistic;
mod reference;
mod sgd;
mod softmax;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use wgrad::data::Mnist;
use wgrad::Device;

use common::{device, BackendKind, BoxResult};

/// Linear, logistic and softmax regression with wgrad, checked against exact solutions.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    part: Option<Part>,
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum, global = true)]
    backend: Option<BackendKind>,
    /// Seed of the initial weights and the shuffling (the synthetic data sets have fixed seeds).
    #[arg(long, default_value_t = 0, global = true)]
    seed: u64,
    /// Where the plots go [default: target/examples/regression].
    #[arg(long, value_name = "DIR", global = true)]
    out_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Part {
    /// Linear regression: houses against the normal equations; least squares, ridge and lasso.
    Linear(LinearArgs),
    /// Logistic regression on two Gaussian blobs.
    Logistic(LogisticArgs),
    /// Softmax regression on MNIST with precision, recall, F1 and the confusion matrix.
    Softmax(SoftmaxArgs),
}

#[derive(Debug, Args)]
struct LinearArgs {
    /// Gradient-descent epochs on the houses (one step each: the batch is all 5 houses).
    #[arg(long, default_value_t = linear::Config::default().houses.epochs)]
    houses_epochs: usize,
    /// SGD epochs on the synthetic data.
    #[arg(long, default_value_t = linear::Config::default().synthetic.epochs)]
    epochs: usize,
    /// Mini-batch size on the synthetic data.
    #[arg(long, default_value_t = linear::Config::default().synthetic.batch_size)]
    batch_size: usize,
    /// Initial learning rate on the synthetic data (annealed to 0 along a cosine).
    #[arg(long, default_value_t = linear::Config::default().synthetic.lr)]
    lr: f64,
    /// Ridge λ: the loss adds (λ/n)‖w‖², the closed form is (XᵀX + λI)⁻¹Xᵀy.
    #[arg(long, default_value_t = linear::Config::default().lambda)]
    lambda: f64,
    /// Lasso α: the loss adds α‖w‖₁.
    #[arg(long, default_value_t = linear::Config::default().alpha)]
    alpha: f64,
}

impl Default for LinearArgs {
    fn default() -> Self {
        LinearArgs::parse_defaults()
    }
}

#[derive(Debug, Args)]
struct LogisticArgs {
    #[arg(long, default_value_t = logistic::Config::default().sgd.epochs)]
    epochs: usize,
    #[arg(long, default_value_t = logistic::Config::default().sgd.batch_size)]
    batch_size: usize,
    /// Initial learning rate (annealed to 0 along a cosine).
    #[arg(long, default_value_t = logistic::Config::default().sgd.lr)]
    lr: f64,
}

impl Default for LogisticArgs {
    fn default() -> Self {
        LogisticArgs::parse_defaults()
    }
}

#[derive(Debug, Args)]
struct SoftmaxArgs {
    #[arg(long, default_value_t = softmax::Config::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = softmax::Config::default().batch_size)]
    batch_size: usize,
    /// Learning rate of plain SGD (constant).
    #[arg(long, default_value_t = softmax::Config::default().lr)]
    lr: f64,
    /// Train on the first N training images only (for quick runs).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

impl Default for SoftmaxArgs {
    fn default() -> Self {
        SoftmaxArgs::parse_defaults()
    }
}

/// A subcommand's arguments at their defaults (what a run without a subcommand uses).
trait ParseDefaults: Args + Sized {
    fn parse_defaults() -> Self {
        let cmd = Self::augment_args(clap::Command::new("defaults"));
        let matches = cmd.get_matches_from(["defaults"]);
        Self::from_arg_matches(&matches).expect("every argument has a default")
    }
}

impl<T: Args> ParseDefaults for T {}

/// Where the plots go.
struct Out(Option<PathBuf>);

impl Out {
    fn path(&self, file: &str) -> BoxResult<PathBuf> {
        if let Some(dir) = &self.0 {
            std::fs::create_dir_all(dir)?;
        }
        common::output(self.0.as_ref().map(|d| d.join(file)), "regression", file)
    }
}

fn check_positive(what: &str, v: f64) -> BoxResult<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(format!("{what} must be a positive number, got {v}").into())
    }
}

fn run_linear(a: &LinearArgs, seed: u64, out: &Out, dev: &Device) -> BoxResult<()> {
    check_positive("--lr", a.lr)?;
    if a.lambda < 0.0 || a.alpha < 0.0 || a.batch_size == 0 {
        return Err("--lambda and --alpha must be ≥ 0, --batch-size ≥ 1".into());
    }
    let mut cfg = linear::Config {
        lambda: a.lambda,
        alpha: a.alpha,
        ..Default::default()
    };
    cfg.houses.epochs = a.houses_epochs;
    cfg.houses.seed = seed;
    cfg.synthetic.epochs = a.epochs;
    cfg.synthetic.batch_size = a.batch_size;
    cfg.synthetic.lr = a.lr;
    cfg.synthetic.seed = seed;
    println!("== linear regression ==");
    let houses = linear::run_houses(&cfg.houses, dev)?;
    linear::print_houses(&houses, &cfg.houses);
    let models = linear::run_synthetic(&cfg, dev)?;
    linear::print_synthetic(&models, &cfg);
    let paths = [
        out.path("linear_loss.png")?,
        out.path("linear_fit.png")?,
        out.path("linear_weights.png")?,
    ];
    linear::plot_loss(&paths[0], &houses, &models)?;
    linear::plot_houses(&paths[1], &houses)?;
    linear::plot_coefficients(&paths[2], &models, &cfg)?;
    print_plots(&paths);
    Ok(())
}

fn run_logistic(a: &LogisticArgs, seed: u64, out: &Out, dev: &Device) -> BoxResult<()> {
    check_positive("--lr", a.lr)?;
    let mut cfg = logistic::Config::default();
    cfg.sgd.epochs = a.epochs;
    cfg.sgd.batch_size = a.batch_size.max(1);
    cfg.sgd.lr = a.lr;
    cfg.sgd.seed = seed;
    println!("== logistic regression ==");
    let outcome = logistic::run(&cfg, dev)?;
    logistic::print(&outcome, &cfg);
    let paths = [
        out.path("logistic_loss.png")?,
        out.path("logistic_fit.png")?,
    ];
    logistic::plot_loss(&paths[0], &outcome)?;
    logistic::plot_fit(&paths[1], &outcome)?;
    print_plots(&paths);
    Ok(())
}

fn run_softmax(a: &SoftmaxArgs, seed: u64, out: &Out, dev: &Device) -> BoxResult<()> {
    check_positive("--lr", a.lr)?;
    if a.batch_size == 0 || a.limit == Some(0) {
        return Err("--batch-size and --limit must be at least 1".into());
    }
    let cfg = softmax::Config {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        seed,
    };
    let (train, test) = Mnist::bundled_split()?;
    let train = match a.limit {
        Some(n) if n < train.len() => train.split_at(n)?.0,
        _ => train,
    };
    println!(
        "== softmax regression: Linear(784 → 10) on {} MNIST training digits, {} test; SGD lr {}, batch {}, \
         {} epochs ==",
        train.len(),
        test.len(),
        cfg.lr,
        cfg.batch_size,
        cfg.epochs
    );
    let outcome = softmax::train(&cfg, &train, &test, dev)?;
    softmax::print(&outcome);
    let paths = [
        out.path("softmax_loss.png")?,
        out.path("softmax_weights.png")?,
    ];
    softmax::plot_loss(&paths[0], &outcome)?;
    softmax::plot_templates(&paths[1], &outcome)?;
    print_plots(&paths);
    Ok(())
}

fn print_plots(paths: &[PathBuf]) {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    println!("  plots: {}", names.join(", "));
    println!();
}

fn main() -> BoxResult<()> {
    let cli = Cli::parse();
    let dev = device(cli.backend)?;
    let out = Out(cli.out_dir.clone());
    println!("wgrad regression on {}", dev.name());
    let start = std::time::Instant::now();
    match &cli.part {
        Some(Part::Linear(a)) => run_linear(a, cli.seed, &out, &dev)?,
        Some(Part::Logistic(a)) => run_logistic(a, cli.seed, &out, &dev)?,
        Some(Part::Softmax(a)) => run_softmax(a, cli.seed, &out, &dev)?,
        None => {
            run_linear(&LinearArgs::default(), cli.seed, &out, &dev)?;
            run_logistic(&LogisticArgs::default(), cli.seed, &out, &dev)?;
            run_softmax(&SoftmaxArgs::default(), cli.seed, &out, &dev)?;
        }
    }
    println!("total time {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
