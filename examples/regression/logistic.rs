//! Logistic regression: two Gaussian blobs, binary cross-entropy on logits, mini-batch SGD.
//!
//! The data: class 0 ~ N((-1, 0), I), class 1 ~ N((1, 1), I), equally likely. For two Gaussians with the
//! same covariance the log-odds are exactly linear, `log p(1|x)/p(0|x) = w*·x + b*` with
//! `w* = μ₁ - μ₀ = (2, 1)` and `b* = (‖μ₀‖² - ‖μ₁‖²)/2 = -0.5`, so logistic regression is the right model
//! and its best accuracy is the Bayes rule's (Φ(‖μ₁ - μ₀‖/2) ≈ 86.8%). Two checks: SGD must reach the
//! maximum-likelihood weights that Newton's method computes on the host, and its test accuracy must come
//! close to the Bayes rule's on the same test points.

use std::path::Path;

use wgrad::nn::{binary_cross_entropy_with_logits, Forward};
use wgrad::{no_grad, Device, Tensor};

use crate::common::plot::{line_chart, scatter_chart, Chart, Corner, Series};
use crate::common::BoxResult;
use crate::reference::{self, Rng, Table};
use crate::sgd::{self, Fit, Settings};

pub const MEANS: [[f64; 2]; 2] = [[-1.0, 0.0], [1.0, 1.0]];
/// The Bayes rule's log-odds: `(w*, b*)`.
pub const BAYES: ([f64; 2], f64) = ([2.0, 1.0], -0.5);

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub sgd: Settings,
    pub train_samples: usize,
    pub test_samples: usize,
    pub data_seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sgd: Settings {
                epochs: 100,
                batch_size: 50,
                lr: 0.5,
                anneal: true,
                seed: 0,
            },
            train_samples: 1000,
            test_samples: 2000,
            data_seed: 5,
        }
    }
}

/// `n` points, alternately of class 0 and class 1, each `N(MEANS[class], I)`.
pub fn blobs(n: usize, rng: &mut Rng) -> Table {
    let mut t = Table {
        x: Vec::with_capacity(n),
        y: Vec::with_capacity(n),
    };
    for i in 0..n {
        let c = i % 2;
        t.x.push(MEANS[c].iter().map(|m| m + rng.normal()).collect());
        t.y.push(c as f64);
    }
    t
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub fit: Fit,
    /// Maximum-likelihood `(w, b)` by Newton's method.
    pub exact: (Vec<f64>, f64),
    /// The exact training BCE at the maximum-likelihood weights.
    pub exact_loss: f64,
    pub train_accuracy: f64,
    pub test_accuracy: f64,
    /// Accuracy of the Bayes rule (the true log-odds) on the same test points.
    pub bayes_accuracy: f64,
    pub test: Table,
}

impl Outcome {
    /// Largest |SGD - Newton| over the weights and the bias.
    pub fn max_error(&self) -> f64 {
        let w = self
            .fit
            .w
            .iter()
            .zip(&self.exact.0)
            .map(|(a, b)| (a - b).abs());
        w.fold((self.fit.b - self.exact.1).abs(), f64::max)
    }
}

/// Accuracy of the model `(w, b)` on `t`, computed by the library: the logits of every point in one pass,
/// class 1 where the logit is positive.
fn accuracy(t: &Table, w: &[f64], b: f64, dev: &Device) -> BoxResult<f64> {
    let (x, _) = t.batch(&(0..t.len()).collect::<Vec<_>>());
    let weight = Tensor::from_vec(w.iter().map(|&v| v as f32).collect(), [1, w.len()], dev)?;
    let bias = Tensor::from_vec(vec![b as f32], [1], dev)?;
    let model = wgrad::nn::Linear::from_tensors(weight, Some(bias))?;
    let logits = no_grad(|| model.forward(&Tensor::from_vec(x, [t.len(), w.len()], dev)?))?;
    let hits = logits
        .to_vec::<f32>()?
        .iter()
        .zip(&t.y)
        .filter(|(z, &y)| (**z > 0.0) == (y > 0.5))
        .count();
    Ok(hits as f64 / t.len().max(1) as f64)
}

pub fn run(cfg: &Config, dev: &Device) -> BoxResult<Outcome> {
    let mut rng = Rng::new(cfg.data_seed);
    let train = blobs(cfg.train_samples, &mut rng);
    let test = blobs(cfg.test_samples, &mut rng);
    let exact = reference::logistic(&train).ok_or("Newton's method met a singular Hessian")?;
    let loss =
        |logits: &Tensor, y: &Tensor, _w: &Tensor| binary_cross_entropy_with_logits(logits, y);
    let objective = |w: &[f64], b: f64| reference::bce(&train, w, b);
    let fit = sgd::fit(&train, &cfg.sgd, loss, objective, "logistic", dev)?;
    let bayes: Vec<f64> = BAYES.0.to_vec();
    Ok(Outcome {
        exact_loss: reference::bce(&train, &exact.0, exact.1),
        train_accuracy: accuracy(&train, &fit.w, fit.b, dev)?,
        test_accuracy: accuracy(&test, &fit.w, fit.b, dev)?,
        bayes_accuracy: accuracy(&test, &bayes, BAYES.1, dev)?,
        fit,
        exact,
        test,
    })
}

pub fn print(o: &Outcome, cfg: &Config) {
    let s = &cfg.sgd;
    println!(
        "logistic regression: Gaussian blobs N((-1, 0), I) vs N((1, 1), I), {} training / {} test points; \
         binary cross-entropy on logits, SGD batch {}, lr {} annealed to 0, {} epochs ({:.1} s)",
        cfg.train_samples, cfg.test_samples, s.batch_size, s.lr, s.epochs, o.fit.seconds
    );
    println!(
        "  {:<32}{:>10}{:>10}{:>10}{:>14}",
        "", "w₁", "w₂", "b", "training BCE"
    );
    let last = o.fit.objective.last().copied().unwrap_or(f64::NAN);
    println!(
        "  {:<32}{:>10.4}{:>10.4}{:>10.4}{:>14.6}",
        "SGD (f32)", o.fit.w[0], o.fit.w[1], o.fit.b, last
    );
    println!(
        "  {:<32}{:>10.4}{:>10.4}{:>10.4}{:>14.6}",
        "maximum likelihood (Newton, f64)", o.exact.0[0], o.exact.0[1], o.exact.1, o.exact_loss
    );
    println!(
        "  {:<32}{:>10.4}{:>10.4}{:>10.4}",
        "Bayes rule (population)", BAYES.0[0], BAYES.0[1], BAYES.1
    );
    println!(
        "  max |SGD - Newton| = {:.2e}; accuracy: train {:.2}%, test {:.2}% (Bayes rule on the same test \
         points {:.2}%)",
        o.max_error(),
        100.0 * o.train_accuracy,
        100.0 * o.test_accuracy,
        100.0 * o.bayes_accuracy
    );
}

pub fn plot_loss(path: &Path, o: &Outcome) -> BoxResult<()> {
    let epochs = o.fit.objective.len().max(1) as f64;
    let chart = Chart {
        title: "Logistic regression: training loss".into(),
        x_label: "epoch".into(),
        y_label: "binary cross-entropy".into(),
        series: vec![
            Series::per_step("mean of the epoch's mini-batch losses", &o.fit.batch_loss),
            Series::per_step("full training loss at the epoch's end", &o.fit.objective),
            Series::new(
                "minimum (Newton's method)",
                vec![(1.0, o.exact_loss), (epochs, o.exact_loss)],
            ),
        ],
        right: None,
    };
    line_chart(path, &chart, (900, 520))
}

/// Test points by class (the first 600), with the learned, the maximum-likelihood and the Bayes boundaries.
pub fn plot_fit(path: &Path, o: &Outcome) -> BoxResult<()> {
    let shown = o.test.len().min(600);
    let class = |c: f64| -> Vec<(f64, f64)> {
        (0..shown)
            .filter(|&i| o.test.y[i] == c)
            .map(|i| (o.test.x[i][0], o.test.x[i][1]))
            .collect()
    };
    let (c0, c1) = (class(0.0), class(1.0));
    let range = |f: fn(&(f64, f64)) -> f64| {
        let v: Vec<f64> = c0.iter().chain(&c1).map(f).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        (lo, v.iter().copied().fold(lo, f64::max))
    };
    let ((x0, x1), (y0, y1)) = (range(|p| p.0), range(|p| p.1));
    // w₁x + w₂y + b = 0 ⇒ y = -(w₁x + b)/w₂, drawn where it crosses the points' bounding box.
    let boundary = |name: &str, w: &[f64], b: f64| {
        let line = (0..=400)
            .map(|i| x0 + (x1 - x0) * i as f64 / 400.0)
            .map(|x| (x, -(w[0] * x + b) / w[1]))
            .filter(|&(_, y)| (y0..=y1).contains(&y))
            .collect();
        Series::new(name, line)
    };
    let chart = Chart {
        title: "Logistic regression: test points and decision boundaries".into(),
        x_label: "x₁".into(),
        y_label: "x₂".into(),
        series: vec![
            boundary("SGD boundary", &o.fit.w, o.fit.b),
            boundary("maximum likelihood (Newton)", &o.exact.0, o.exact.1),
            boundary("Bayes boundary", &BAYES.0, BAYES.1),
        ],
        right: None,
    };
    let points = [Series::new("class 0", c0), Series::new("class 1", c1)];
    scatter_chart(path, &chart, &points, (820, 700), Corner::UpperLeft)
}
