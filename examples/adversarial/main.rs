//! Adversarial examples by the fast gradient sign method: `cargo run --release --example adversarial`.
//!
//! Trains a small CNN on the bundled MNIST digits (or loads the checkpoint a previous run wrote to
//! `target/examples/adversarial/cnn.safetensors`; `--retrain` trains again), then attacks every test digit
//! with `x' = clamp(x + ε·sign(∇ₓ J(x, y)), 0, 1)` in pixel space, for ε ∈ {0.05, 0.1, 0.2, 0.3}. The
//! control is noise of the same size with random signs: it barely moves the accuracy, while the gradient's
//! signs, the worst direction to first order, bring it down to a fraction. Writes a picture of originals,
//! perturbations and adversarial images with the model's answers (`examples.png`) and the accuracy against
//! ε (`accuracy.png`).

mod attack;
#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;

use clap::Parser;
use wgrad::data::Mnist;
use wgrad::nn::{checkpoint, Module, Sequential};
use wgrad::Device;

use attack::{CnnConfig, Example, Robustness};
use common::plot::{image_grid_captioned, line_chart, Chart, Series};
use common::{device, BackendKind, BoxResult};

/// Attack a CNN on MNIST with the fast gradient sign method.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// Backend; default: the best GPU adapter, else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Training epochs (Adam, batch 64) when there is no checkpoint.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Adam's learning rate (constant).
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// The model file: loaded when it exists, written after training [default:
    /// target/examples/adversarial/cnn.safetensors].
    #[arg(long, value_name = "PATH")]
    checkpoint: Option<PathBuf>,
    /// Train even when the checkpoint exists (and overwrite it).
    #[arg(long)]
    retrain: bool,
    /// Attack strengths (L∞ size in pixel units, pixels in [0, 1]).
    #[arg(long, value_delimiter = ',', default_values_t = [0.05, 0.1, 0.2, 0.3])]
    eps: Vec<f64>,
    /// The ε of the picture.
    #[arg(long, default_value_t = 0.2)]
    show_eps: f64,
    /// Digits in the picture.
    #[arg(long, default_value_t = 10)]
    show: usize,
    /// Attack the first N test digits only.
    #[arg(long, value_name = "N")]
    test_limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the pictures go [default: target/examples/adversarial].
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

impl Args {
    fn path(&self, file: &str) -> BoxResult<PathBuf> {
        if let Some(dir) = &self.out_dir {
            std::fs::create_dir_all(dir)?;
        }
        common::output(
            self.out_dir.as_ref().map(|d| d.join(file)),
            "adversarial",
            file,
        )
    }
}

/// The trained model: from the checkpoint, or trained now and saved there.
fn model(args: &Args, train: &Mnist, dev: &Device) -> BoxResult<Sequential> {
    let path = match &args.checkpoint {
        Some(p) => p.clone(),
        None => args.path("cnn.safetensors")?,
    };
    if path.exists() && !args.retrain {
        let config: CnnConfig = checkpoint::load_config(&path)?;
        let net = config.build(dev)?;
        checkpoint::load(&path, &net, None)?;
        println!("loaded {} (--retrain to train again)", path.display());
        return Ok(net);
    }
    let config = CnnConfig::default();
    dev.manual_seed(args.seed);
    let net = config.build(dev)?;
    println!(
        "training the CNN ({} parameters) on {} digits, {} epochs, Adam lr {}",
        net.num_params(),
        train.len(),
        args.epochs,
        args.lr
    );
    let start = std::time::Instant::now();
    attack::train(&net, train, args.epochs, args.lr, args.seed, dev)?;
    println!("training took {:.1} s", start.elapsed().as_secs_f64());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    checkpoint::save(&path, &net, None, &config)?;
    println!("saved {}", path.display());
    Ok(net)
}

fn print_table(r: &Robustness) {
    println!(
        "accuracy on {} test digits: clean {:.2}%",
        r.images,
        100.0 * r.clean
    );
    println!("  {:>6}{:>12}{:>22}", "ε", "FGSM", "random signs, same ε");
    for (i, eps) in r.epsilons.iter().enumerate() {
        println!(
            "  {eps:>6}{:>11.2}%{:>21.2}%",
            100.0 * r.fgsm[i],
            100.0 * r.random[i]
        );
    }
}

fn plot_accuracy(path: &std::path::Path, r: &Robustness) -> BoxResult<()> {
    let curve = |acc: &[f64]| -> Vec<(f64, f64)> {
        std::iter::once((0.0, 100.0 * r.clean))
            .chain(r.epsilons.iter().zip(acc).map(|(&e, &a)| (e, 100.0 * a)))
            .collect()
    };
    let chart = Chart {
        title: "FGSM against a CNN on MNIST".into(),
        x_label: "ε (L∞ size of the perturbation, pixels in [0, 1])".into(),
        y_label: "test accuracy (%)".into(),
        series: vec![
            Series::new("random signs (same size)", curve(&r.random)),
            Series::new("FGSM: ε·sign(∇ₓJ)", curve(&r.fgsm)),
        ],
        right: None,
    };
    line_chart(path, &chart, (900, 520))
}

/// Three labelled rows: originals, perturbations (grey 0, white +ε, black -ε), adversarial images; under
/// each image the label or the model's answer with its softmax probability.
fn plot_examples(path: &std::path::Path, examples: &[Example], eps: f64) -> BoxResult<()> {
    let mut images = Vec::new();
    let mut captions = Vec::new();
    for e in examples {
        images.push(e.original.clone());
        captions.push(format!(
            "{} → {} {:.0}%",
            e.label,
            e.clean_prediction,
            100.0 * e.clean_confidence
        ));
    }
    for e in examples {
        let delta = e.adversarial.iter().zip(&e.original);
        images.push(
            delta
                .map(|(a, o)| 0.5 + (a - o) / (2.0 * eps as f32))
                .collect(),
        );
        captions.push(String::new());
    }
    for e in examples {
        images.push(e.adversarial.clone());
        captions.push(format!(
            "→ {} {:.0}%",
            e.adversarial_prediction,
            100.0 * e.adversarial_confidence
        ));
    }
    let title =
        format!("FGSM, ε = {eps}: label → prediction (probability) before and after the attack");
    let rows = ["original", "perturbation", "adversarial"];
    image_grid_captioned(
        path,
        &title,
        &images,
        ((28, 28), examples.len().max(1), 3),
        &rows,
        &captions,
    )
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.eps.iter().any(|e| !(0.0..=1.0).contains(e))
        || !(args.show_eps > 0.0 && args.show_eps <= 1.0)
    {
        return Err("every ε must lie in [0, 1] (--show-eps in (0, 1])".into());
    }
    if !(args.lr > 0.0 && args.lr.is_finite()) {
        return Err("--lr must be a positive number".into());
    }
    let dev = device(args.backend)?;
    println!("wgrad adversarial (FGSM) on {}", dev.name());
    let (train, test) = Mnist::bundled_split()?;
    let test = match args.test_limit {
        Some(0) => return Err("--test-limit must be at least 1".into()),
        Some(n) if n < test.len() => test.split_at(n)?.0,
        _ => test,
    };
    let mut net = model(&args, &train, &dev)?;
    dev.manual_seed(args.seed ^ 0xA77AC4);
    let start = std::time::Instant::now();
    let r = attack::robustness(&mut net, &test, &args.eps, &dev)?;
    print_table(&r);
    println!(
        "attack and evaluation took {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let examples = attack::examples(&mut net, &test, args.show, args.show_eps, &dev)?;
    let fooled = examples
        .iter()
        .filter(|e| e.clean_prediction == e.label && e.adversarial_prediction != e.label)
        .count();
    println!(
        "picture: {fooled} of the first {} test digits are classified correctly and then fooled at ε = {}",
        examples.len(),
        args.show_eps
    );
    let paths = [args.path("examples.png")?, args.path("accuracy.png")?];
    plot_examples(&paths[0], &examples, args.show_eps)?;
    plot_accuracy(&paths[1], &r)?;
    println!("plots: {}, {}", paths[0].display(), paths[1].display());
    Ok(())
}
