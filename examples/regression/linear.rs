//! Linear regression by mini-batch SGD, checked against the exact solutions.
//!
//! Two data sets:
//! - **houses** (the lectures' normal-equations example, `../shared/seed-examples.md` #11): five houses,
//!   living area and bedrooms → price. The normal equations give `w = (XᵀX)⁻¹Xᵀy = [-70.43460183,
//!   0.06384337562, 103.43604651]` and a price of 598.683087 for (4000 ft², 4 bedrooms). SGD runs on
//!   standardized features (raw ones differ in scale by 10³, which makes plain gradient descent crawl) and
//!   must predict the same prices once its weights are mapped back to raw units.
//! - **synthetic**: `y = 3x₁ - 2x₂ + 1.5x₃ + 1 + noise` with 17 more features that play no part, and only
//!   80 training samples, so least squares fits noise with the irrelevant weights (its test error is about
//!   1.34 against the noise floor 1). Three objectives, each checked against its exact minimizer on the host:
//!   - least squares `J = (1/n)‖Xw + b - y‖²`: the normal equations;
//!   - ridge (L2) `J + (λ/n)‖w‖²`: the closed form `(XᵀX + λI)⁻¹Xᵀy` (bias not penalized). It shrinks every
//!     weight and zeroes none; with true weights this large the shrinkage costs more than it saves here;
//!   - lasso (L1) `J + α‖w‖₁`: coordinate descent. The L1 penalty's gradient `α·sign(w)` pushes every
//!     weight toward 0 with the same force, so weights whose data gradient is weaker end at 0: the
//!     irrelevant features drop out (15 of 17), which L2 (force proportional to the weight) never does,
//!     and the test error falls to about 1.19. SGD on `|w|` has no exact zeros (its weights hover within
//!     about lr·α of 0 and settle as the rate decays), so the report counts |w| < 10⁻³ as 0.

use std::path::Path;

use wgrad::nn::mse_loss;
use wgrad::{Device, Tensor};

use crate::common::plot::{line_chart, scatter_chart, Chart, Corner, Series};
use crate::common::BoxResult;
use crate::reference::{self, Rng, Standardizer, Table};
use crate::sgd::{self, Fit, Settings};

/// The lectures' houses: (living area ft², bedrooms) → price in $1000.
pub fn houses() -> Table {
    let rows = [
        (2104.0, 3.0, 400.0),
        (1600.0, 3.0, 330.0),
        (2400.0, 3.0, 369.0),
        (1416.0, 2.0, 232.0),
        (3000.0, 4.0, 540.0),
    ];
    Table {
        x: rows.iter().map(|&(a, b, _)| vec![a, b]).collect(),
        y: rows.iter().map(|r| r.2).collect(),
    }
}

/// The house whose price the lectures predict.
pub const QUERY: [f64; 2] = [4000.0, 4.0];

/// Settings of the linear part.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Gradient descent on the houses: the batch is all 5 houses, a constant rate.
    pub houses: Settings,
    /// Mini-batch SGD on the synthetic data (all three objectives).
    pub synthetic: Settings,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Features in all; the first `true_weights.len()` carry the signal.
    pub features: usize,
    pub true_weights: Vec<f64>,
    pub true_bias: f64,
    pub noise: f64,
    /// Ridge λ of `(XᵀX + λI)⁻¹Xᵀy` (the loss adds `(λ/n)‖w‖²`).
    pub lambda: f64,
    /// Lasso α (the loss adds `α‖w‖₁`).
    pub alpha: f64,
    /// Seed of the synthetic data (the SGD settings carry their own).
    pub data_seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            houses: Settings {
                epochs: 500,
                batch_size: 5,
                lr: 0.1,
                anneal: false,
                seed: 0,
            },
            synthetic: Settings {
                epochs: 400,
                batch_size: 20,
                lr: 0.05,
                anneal: true,
                seed: 0,
            },
            train_samples: 80,
            test_samples: 1000,
            features: 20,
            true_weights: vec![3.0, -2.0, 1.5],
            true_bias: 1.0,
            noise: 1.0,
            lambda: 4.0,
            alpha: 0.35,
            data_seed: 11,
        }
    }
}

/// `y = x·w + b + noise·ε` with standard normal features; weights beyond `true_weights` are 0.
pub fn synthetic(cfg: &Config, n: usize, rng: &mut Rng) -> Table {
    let mut w = cfg.true_weights.clone();
    w.resize(cfg.features, 0.0);
    let x: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..cfg.features).map(|_| rng.normal()).collect())
        .collect();
    let y = x
        .iter()
        .map(|r| reference::dot(r, &w) + cfg.true_bias + cfg.noise * rng.normal())
        .collect();
    Table { x, y }
}

/// A penalty on the weights (never on the bias).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Penalty {
    None,
    /// `(λ/n)‖w‖²`.
    L2(f64),
    /// `α‖w‖₁`.
    L1(f64),
}

impl Penalty {
    pub fn name(&self) -> &'static str {
        match self {
            Penalty::None => "least squares",
            Penalty::L2(_) => "ridge (L2)",
            Penalty::L1(_) => "lasso (L1)",
        }
    }

    /// The penalty as graph ops on the weight, so autodiff gives its gradient (`2λw/n`, `α·sign(w)`).
    fn term(&self, w: &Tensor, n: usize) -> wgrad::Result<Option<Tensor>> {
        Ok(match *self {
            Penalty::None => None,
            Penalty::L2(lambda) => Some(w.mul(w)?.sum_all()?.mul(lambda / n as f64)?),
            Penalty::L1(alpha) => Some(w.abs()?.sum_all()?.mul(alpha)?),
        })
    }

    /// The same on the host.
    fn value(&self, w: &[f64], n: usize) -> f64 {
        match *self {
            Penalty::None => 0.0,
            Penalty::L2(lambda) => lambda / n as f64 * w.iter().map(|v| v * v).sum::<f64>(),
            Penalty::L1(alpha) => alpha * w.iter().map(|v| v.abs()).sum::<f64>(),
        }
    }

    /// The exact minimizer of `MSE + penalty` on `t`.
    fn solution(&self, t: &Table) -> BoxResult<(Vec<f64>, f64)> {
        Ok(match *self {
            Penalty::None => reference::ridge(t, 0.0).ok_or("XᵀX is singular")?,
            Penalty::L2(lambda) => reference::ridge(t, lambda).ok_or("XᵀX + λI is singular")?,
            Penalty::L1(alpha) => reference::lasso(t, alpha),
        })
    }
}

/// Trains `Linear(d, 1)` on `MSE + penalty`.
fn fit(t: &Table, penalty: Penalty, s: &Settings, label: &str, dev: &Device) -> BoxResult<Fit> {
    let n = t.len();
    let loss = |pred: &Tensor, y: &Tensor, w: &Tensor| -> wgrad::Result<Tensor> {
        let mse = mse_loss(pred, y)?;
        match penalty.term(w, n)? {
            Some(p) => mse.add(&p),
            None => Ok(mse),
        }
    };
    let objective = |w: &[f64], b: f64| reference::mse(t, w, b) + penalty.value(w, n);
    sgd::fit(t, s, loss, objective, label, dev)
}

/// The houses: exact and SGD weights in raw units, and their prices for [`QUERY`].
#[derive(Clone, Debug)]
pub struct Houses {
    pub exact: (Vec<f64>, f64),
    pub sgd: (Vec<f64>, f64),
    pub exact_price: f64,
    pub sgd_price: f64,
    /// `J(w) - J(w*)` per epoch.
    pub excess: Vec<f64>,
    pub fit: Fit,
}

pub fn run_houses(s: &Settings, dev: &Device) -> BoxResult<Houses> {
    let raw = houses();
    let exact = reference::ridge(&raw, 0.0).ok_or("XᵀX is singular")?;
    let scaler = Standardizer::fit(&raw.x);
    let std = scaler.apply(&raw);
    let fit = fit(&std, Penalty::None, s, "houses", dev)?;
    let best = reference::mse(&raw, &exact.0, exact.1);
    let excess = fit.objective.iter().map(|j| j - best).collect();
    let sgd = scaler.unstandardize(&fit.w, fit.b);
    let price = |(w, b): &(Vec<f64>, f64)| reference::dot(w, &QUERY) + b;
    Ok(Houses {
        exact_price: price(&exact),
        sgd_price: price(&sgd),
        exact,
        sgd,
        excess,
        fit,
    })
}

/// One objective on the synthetic data: SGD's weights, the exact ones, and test error.
#[derive(Clone, Debug)]
pub struct Model {
    pub penalty: Penalty,
    pub fit: Fit,
    pub exact: (Vec<f64>, f64),
    /// `J(w) - J(w*)` per epoch.
    pub excess: Vec<f64>,
    pub test_mse: f64,
}

impl Model {
    /// Largest |SGD - exact| over the weights and the bias.
    pub fn max_error(&self) -> f64 {
        let w = self
            .fit
            .w
            .iter()
            .zip(&self.exact.0)
            .map(|(a, b)| (a - b).abs());
        w.fold((self.fit.b - self.exact.1).abs(), f64::max)
    }

    /// SGD's weights below `tol` in magnitude among the first `relevant` features and among the others.
    pub fn zeros(&self, relevant: usize, tol: f64) -> (usize, usize) {
        zeros(&self.fit.w, relevant, tol)
    }
}

/// Weights below `tol` in magnitude among the first `relevant` and among the others.
pub fn zeros(w: &[f64], relevant: usize, tol: f64) -> (usize, usize) {
    let (head, tail) = w.split_at(relevant.min(w.len()));
    let count = |ws: &[f64]| ws.iter().filter(|w| w.abs() < tol).count();
    (count(head), count(tail))
}

/// The three objectives on one synthetic data set (features standardized on the training set).
pub fn run_synthetic(cfg: &Config, dev: &Device) -> BoxResult<Vec<Model>> {
    let mut rng = Rng::new(cfg.data_seed);
    let train = synthetic(cfg, cfg.train_samples, &mut rng);
    let test = synthetic(cfg, cfg.test_samples, &mut rng);
    let scaler = Standardizer::fit(&train.x);
    let (train, test) = (scaler.apply(&train), scaler.apply(&test));
    let n = train.len();
    let mut models = Vec::new();
    for penalty in [
        Penalty::None,
        Penalty::L2(cfg.lambda),
        Penalty::L1(cfg.alpha),
    ] {
        let exact = penalty.solution(&train)?;
        let fit = fit(&train, penalty, &cfg.synthetic, penalty.name(), dev)?;
        let best = reference::mse(&train, &exact.0, exact.1) + penalty.value(&exact.0, n);
        let excess = fit.objective.iter().map(|j| j - best).collect();
        let test_mse = reference::mse(&test, &fit.w, fit.b);
        models.push(Model {
            penalty,
            fit,
            exact,
            excess,
            test_mse,
        });
    }
    Ok(models)
}

/// A weight below this counts as 0 in the sparsity report (SGD's L1 weights hover within lr·α of 0).
pub const ZERO: f64 = 1e-3;

pub fn print_houses(h: &Houses, s: &Settings) {
    println!(
        "houses: 5 samples, (living area, bedrooms) → price in $1000; features standardized; gradient \
         descent, batch {}, lr {}, {} epochs ({:.1} s)",
        s.batch_size, s.lr, s.epochs, h.fit.seconds
    );
    println!(
        "  {:<26}{:>14}{:>14}{:>14}{:>18}",
        "", "intercept", "area", "bedrooms", "price(4000, 4)"
    );
    for (name, (w, b), price) in [
        ("normal equations (f64)", &h.exact, h.exact_price),
        ("SGD, raw units", &h.sgd, h.sgd_price),
    ] {
        println!(
            "  {name:<26}{b:>14.6}{:>14.8}{:>14.6}{price:>18.6}",
            w[0], w[1]
        );
    }
    println!(
        "  prediction error {:+.6} (relative {:.1e}); final J - J* = {:.2e}",
        h.sgd_price - h.exact_price,
        ((h.sgd_price - h.exact_price) / h.exact_price).abs(),
        h.excess.last().copied().unwrap_or(f64::NAN)
    );
}

pub fn print_synthetic(models: &[Model], cfg: &Config) {
    let s = &cfg.synthetic;
    let relevant = cfg.true_weights.len();
    println!();
    println!(
        "synthetic: {} training / {} test samples, {} features of which {relevant} carry the signal \
         (true weights {:?}, bias {}, noise σ {}); SGD batch {}, lr {} annealed to 0, {} epochs",
        cfg.train_samples,
        cfg.test_samples,
        cfg.features,
        cfg.true_weights,
        cfg.true_bias,
        cfg.noise,
        s.batch_size,
        s.lr,
        s.epochs
    );
    println!(
        "  {:<20}{:>11}{:>11}{:>11}{:>17}{:>22}",
        "objective", "max|Δw|", "J - J*", "test MSE", "zeros: relevant", "irrelevant (exact)"
    );
    for m in models {
        let name = match m.penalty {
            Penalty::None => "least squares".to_string(),
            Penalty::L2(l) => format!("ridge λ = {l}"),
            Penalty::L1(a) => format!("lasso α = {a}"),
        };
        let (zr, zi) = m.zeros(relevant, ZERO);
        let (_, exact) = zeros(&m.exact.0, relevant, ZERO);
        println!(
            "  {name:<20}{:>11.2e}{:>11.2e}{:>11.4}{:>17}{:>22}",
            m.max_error(),
            m.excess.last().copied().unwrap_or(f64::NAN),
            m.test_mse,
            format!("{zr}/{relevant}"),
            format!("{zi}/{} ({exact})", cfg.features - relevant)
        );
    }
    println!(
        "  (max|Δw|: largest difference between SGD's weights and the exact minimizer — normal equations, \
         ridge closed form, lasso by coordinate descent; zeros: |w| < {ZERO})"
    );
    println!("  weights (standardized features), SGD vs exact:");
    let show = relevant + 4;
    for m in models {
        let fmt = |ws: &[f64]| {
            ws.iter()
                .take(show)
                .map(|w| format!("{w:>7.3}"))
                .collect::<String>()
        };
        println!("    {:<14} SGD  {} …", m.penalty.name(), fmt(&m.fit.w));
        println!("    {:<14} exact{} …", "", fmt(&m.exact.0));
    }
}

/// log10 of `J - J*`, floored at 1e-12 (f32 arithmetic cannot resolve less).
fn log_excess(values: &[f64]) -> Vec<f64> {
    values.iter().map(|e| e.max(1e-12).log10()).collect()
}

/// The convergence plot: log10(J(w) - J(w*)) per epoch for the houses and the three synthetic objectives.
pub fn plot_loss(path: &Path, h: &Houses, models: &[Model]) -> BoxResult<()> {
    let mut series = vec![Series::per_step(
        "houses, gradient descent",
        &log_excess(&h.excess),
    )];
    for m in models {
        series.push(Series::per_step(
            format!("synthetic, {}", m.penalty.name()),
            &log_excess(&m.excess),
        ));
    }
    let chart = Chart {
        title: "Linear regression: distance to the exact minimizer".into(),
        x_label: "epoch".into(),
        y_label: "log10( J(w) - J(w*) )".into(),
        series,
        right: None,
    };
    line_chart(path, &chart, (900, 520))
}

/// The houses' fit: price against living area, one fitted line per bedroom count, and the two predictions
/// for (4000 ft², 4 bedrooms).
pub fn plot_houses(path: &Path, h: &Houses) -> BoxResult<()> {
    let data = houses();
    let points = vec![
        Series::new(
            "houses (data)",
            data.x
                .iter()
                .zip(&data.y)
                .map(|(r, &y)| (r[0], y))
                .collect(),
        ),
        Series::new(
            "normal equations at (4000, 4)",
            vec![(QUERY[0], h.exact_price)],
        ),
        Series::new("SGD at (4000, 4)", vec![(QUERY[0], h.sgd_price)]),
    ];
    let (w, b) = &h.sgd;
    let line = |beds: f64| {
        let ys = [1300.0, 4200.0].map(|a| (a, w[0] * a + w[1] * beds + b));
        Series::new(format!("SGD fit, {beds} bedrooms"), ys.to_vec())
    };
    let chart = Chart {
        title: "Houses: price = w₀ + w₁·area + w₂·bedrooms".into(),
        x_label: "living area (ft²)".into(),
        y_label: "price ($1000)".into(),
        series: vec![line(2.0), line(3.0), line(4.0)],
        right: None,
    };
    scatter_chart(path, &chart, &points, (900, 560), Corner::LowerRight)
}

/// The weights each objective learned, feature by feature, with the true ones: the lasso's are exactly 0
/// where the true ones are.
pub fn plot_coefficients(path: &Path, models: &[Model], cfg: &Config) -> BoxResult<()> {
    // Each set is shifted sideways a little (by `shift`) so that equal values stay visible.
    let index = |ws: &[f64], shift: f64| -> Vec<(f64, f64)> {
        ws.iter()
            .enumerate()
            .map(|(i, &w)| ((i + 1) as f64 + shift, w))
            .collect()
    };
    // (On standardized features the true weights are scaled by each feature's std, which is close to 1.)
    let mut truth = cfg.true_weights.clone();
    truth.resize(cfg.features, 0.0);
    let mut points = vec![Series::new("true weights", index(&truth, -0.24))];
    for (k, m) in models.iter().enumerate() {
        points.push(Series::new(
            format!("{} (SGD)", m.penalty.name()),
            index(&m.fit.w, -0.08 + 0.16 * k as f64),
        ));
    }
    let chart = Chart {
        title: "Synthetic data: weights by feature (features 4-20 are irrelevant)".into(),
        x_label: "feature".into(),
        y_label: "weight".into(),
        series: vec![Series::new(
            "zero",
            vec![(1.0, 0.0), (cfg.features as f64, 0.0)],
        )],
        right: None,
    };
    scatter_chart(path, &chart, &points, (900, 560), Corner::UpperRight)
}
