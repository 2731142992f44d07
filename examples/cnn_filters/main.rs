//! What a CNN's first layer learns: `cargo run --release --example cnn_filters`.
//!
//! Trains a small CNN (`model::Config`: 16 filters of 5×5, ReLU, a 2×2 max pool and a linear classifier;
//! `--conv2 32` adds a second convolution) on the bundled MNIST digits with Adam, prints the test accuracy,
//! and draws the 16 first-layer filters as grey images (`target/examples/cnn_filters/filters.png`, each
//! scaled to its own range): at initialization (uniform noise), after training, and the change training
//! made, which shows the learned part alone: smooth blobs and oriented edge and stroke detectors (a light
//! band beside a dark one). The loss curve goes to `loss.png`.
//!
//! One convolution by default because the first layer then has to find every feature the classifier uses,
//! and because it is cheap: on a 2-core software adapter (lavapipe) an epoch of this model takes about
//! 20-50 s, and a second convolution doubles that.

#[path = "../common/mod.rs"]
mod common;
mod model;

use std::path::PathBuf;

use clap::Parser;
use wgrad::data::Mnist;
use wgrad::nn::Module;

use common::plot::{line_chart, Chart, Series};
use common::{device, BackendKind, BoxResult};

/// Train a small CNN on MNIST and save its first-layer filters as a picture.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate (constant).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Number of first-layer filters.
    #[arg(long, default_value_t = model::Config::default().filters)]
    filters: usize,
    /// Their size (k×k, odd).
    #[arg(long, default_value_t = model::Config::default().kernel)]
    kernel: usize,
    /// Channels of the second convolution (0: none, the first layer's pooled maps go to the classifier).
    #[arg(long, default_value_t = model::Config::default().channels2)]
    conv2: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on the first N training images only (for quick runs).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// The filter picture [default: target/examples/cnn_filters/filters.png].
    #[arg(long, value_name = "PATH")]
    filters_png: Option<PathBuf>,
    /// The loss curve [default: target/examples/cnn_filters/loss.png].
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
}

/// The mean of each window of `w` steps ending at a step (shorter at the start).
fn moving_average(values: &[f64], w: usize) -> Vec<f64> {
    (0..values.len())
        .map(|i| {
            let from = (i + 1).saturating_sub(w);
            values[from..=i].iter().sum::<f64>() / (i + 1 - from) as f64
        })
        .collect()
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    let lr_ok = args.lr > 0.0 && args.lr.is_finite();
    if args.batch_size == 0 || !lr_ok || args.kernel % 2 == 0 || args.filters == 0 {
        return Err(
            "--batch-size, --filters ≥ 1, --lr > 0 and an odd --kernel are required".into(),
        );
    }
    let dev = device(args.backend)?;
    let (train, test) = Mnist::bundled_split()?;
    let train = match args.limit {
        Some(0) => return Err("--limit must be at least 1".into()),
        Some(n) if n < train.len() => train.split_at(n)?.0,
        _ => train,
    };
    let config = model::Config {
        filters: args.filters,
        kernel: args.kernel,
        channels2: args.conv2,
    };
    dev.manual_seed(args.seed);
    let mut net = config.build(&dev)?;
    let second = match config.channels2 {
        0 => String::new(),
        c => format!("conv 3×3 ({} → {c}) → ReLU → max pool 2 → ", config.filters),
    };
    println!(
        "wgrad cnn_filters on {}: conv {k}×{k} (1 → {}) → ReLU → max pool 2 → {second}linear, {} parameters; \
         Adam lr {}, batch {}, {} epochs on {} digits",
        dev.name(),
        config.filters,
        net.num_params(),
        args.lr,
        args.batch_size,
        args.epochs,
        train.len(),
        k = config.kernel,
    );
    let before = model::filters(&net)?;
    let start = std::time::Instant::now();
    let losses = model::train(
        &net,
        &train,
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        &dev,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let accuracy = model::accuracy(&mut net, &test, &dev)?;
    let after = model::filters(&net)?;
    println!(
        "test accuracy {:.2}% on {} digits; training {seconds:.1} s",
        100.0 * accuracy,
        test.len()
    );
    println!(
        "first-layer filters moved by {:.0}% of their initial norm",
        100.0 * model::relative_change(&before, &after)
    );
    let filters_path = common::output(args.filters_png.clone(), "cnn_filters", "filters.png")?;
    model::save_filters(&filters_path, &before, &after, config.kernel)?;
    let plot_path = common::output(args.plot.clone(), "cnn_filters", "loss.png")?;
    let window = 50.min(losses.len().max(1));
    let chart = Chart {
        title: "CNN on MNIST: training loss".into(),
        x_label: "step".into(),
        y_label: "cross-entropy".into(),
        series: vec![
            Series::per_step("loss of the step's batch", &losses),
            Series::per_step(
                format!("mean of the last {window} steps"),
                &moving_average(&losses, window),
            ),
        ],
        right: None,
    };
    line_chart(&plot_path, &chart, (900, 500))?;
    println!("filters: {}", filters_path.display());
    println!("loss curve: {}", plot_path.display());
    Ok(())
}
