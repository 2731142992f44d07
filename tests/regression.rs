//! The `regression` example's three parts, each against an exact answer (the example's own modules, included
//! with `#[path]`):
//! - linear regression: gradient descent on the lectures' houses reaches the normal equations' prediction
//!   598.683087 for (4000 ft², 4 bedrooms); mini-batch SGD on least squares, ridge and lasso reaches the
//!   closed forms and the coordinate-descent lasso, and the lasso's zeros are where the irrelevant features are;
//! - logistic regression: SGD reaches Newton's maximum-likelihood weights and the Bayes rule's accuracy;
//! - softmax regression on MNIST: a sane accuracy, and precision, recall, F1 and accuracy agree with counts
//!   taken from the predictions directly.
//!
//! A wrong gradient (a missing factor, an unsummed bias gradient), a wrong penalty or a wrong update rule
//! moves SGD off the exact solutions by far more than the tolerances here.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/regression/linear.rs"]
#[allow(dead_code)]
mod linear;
#[path = "../examples/regression/logistic.rs"]
#[allow(dead_code)]
mod logistic;
#[path = "../examples/regression/reference.rs"]
#[allow(dead_code)]
mod reference;
#[path = "../examples/regression/sgd.rs"]
#[allow(dead_code)]
mod sgd;
#[path = "../examples/regression/softmax.rs"]
#[allow(dead_code)]
mod softmax;

use wgrad::data::Mnist;
use wgrad::Device;

/// A CPU device of this test's own (tests run in parallel threads; a shared device's random stream would
/// interleave their draws).
fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

fn gpu() -> Option<Device> {
    wgrad::wgpu::testing::backend_or_skip().map(Device::new)
}

#[test]
fn houses_normal_equations_match_the_lectures() {
    // seed example 11: w = (XᵀX)⁻¹Xᵀy = [-70.43460183, 0.06384337562, 103.43604651], price 598.683087
    let (xtx, xty) = reference::normal_equations(&linear::houses());
    assert_eq!(xtx[0], [5.0, 10520.0, 15.0]);
    assert_eq!(xtx[1], [10520.0, 23751872.0, 33144.0]);
    assert_eq!(xtx[2], [15.0, 33144.0, 47.0]);
    assert_eq!(xty, [1871.0, 4203712.0, 5921.0]);
    let (w, b) = reference::ridge(&linear::houses(), 0.0).expect("regular");
    assert!((b + 70.43460183).abs() < 1e-6, "intercept {b}");
    assert!((w[0] - 0.06384337562).abs() < 1e-10, "area weight {}", w[0]);
    assert!(
        (w[1] - 103.43604651).abs() < 1e-6,
        "bedrooms weight {}",
        w[1]
    );
    let price = reference::dot(&w, &linear::QUERY) + b;
    assert!((price - 598.683087).abs() < 1e-6, "price {price}");
}

/// Gradient descent on standardized features must predict the normal equations' price.
fn houses_reach_closed_form(dev: &Device) {
    let cfg = linear::Config::default();
    let h = linear::run_houses(&cfg.houses, dev).expect("houses");
    eprintln!("{}: SGD price {:.6}", dev.name(), h.sgd_price);
    assert!(
        (h.exact_price - 598.683087).abs() < 1e-5,
        "{}",
        h.exact_price
    );
    assert!(
        (h.sgd_price - h.exact_price).abs() < 0.01,
        "{}: SGD predicts {} for (4000, 4), the normal equations {}",
        dev.name(),
        h.sgd_price,
        h.exact_price
    );
    // the raw-unit weights too: the bedrooms weight is the sensitive one
    assert!((h.sgd.0[1] - h.exact.0[1]).abs() < 0.01, "{:?}", h.sgd);
}

#[test]
fn houses_gradient_descent_reaches_normal_equations_on_cpu() {
    houses_reach_closed_form(&own_cpu());
}

#[test]
fn houses_gradient_descent_reaches_normal_equations_on_wgpu() {
    if let Some(dev) = gpu() {
        houses_reach_closed_form(&dev);
    }
}

#[test]
fn ridge_closed_form_solves_its_normal_equations() {
    // (XᵀX + λI₀)w = Xᵀy at the returned solution, checked through the objective's gradient on the host:
    // ∇_w (‖Xw + b - y‖² + λ‖w‖²) = 2Xᵀr + 2λw = 0 and ∂/∂b = 2Σr = 0
    let cfg = linear::Config::default();
    let mut rng = reference::Rng::new(cfg.data_seed);
    let t = linear::synthetic(&cfg, cfg.train_samples, &mut rng);
    let (w, b) = reference::ridge(&t, cfg.lambda).expect("regular");
    let r: Vec<f64> =
        t.x.iter()
            .zip(&t.y)
            .map(|(x, y)| reference::dot(x, &w) + b - y)
            .collect();
    assert!(r.iter().sum::<f64>().abs() < 1e-8);
    for j in 0..w.len() {
        let g: f64 = t.x.iter().zip(&r).map(|(x, e)| x[j] * e).sum::<f64>() + cfg.lambda * w[j];
        assert!(g.abs() < 1e-8, "gradient {g} for weight {j}");
    }
}

#[test]
fn least_squares_ridge_and_lasso_sgd_reach_exact_minimizers() {
    let Some(dev) = gpu() else { return };
    let mut cfg = linear::Config::default();
    cfg.synthetic.epochs = 250;
    let models = linear::run_synthetic(&cfg, &dev).expect("synthetic");
    let relevant = cfg.true_weights.len();
    let irrelevant = cfg.features - relevant;
    for (m, tol) in models.iter().zip([3e-3, 3e-3, 1e-2]) {
        eprintln!(
            "{}: max |SGD - exact| {:.2e}",
            m.penalty.name(),
            m.max_error()
        );
        assert!(
            m.max_error() < tol,
            "{}: SGD weights differ from the exact minimizer by {} (> {tol})",
            m.penalty.name(),
            m.max_error()
        );
    }
    let (ols, ridge, lasso) = (&models[0], &models[1], &models[2]);
    // ridge shrinks every weight but zeroes none; the lasso zeroes most irrelevant ones
    let norm = |w: &[f64]| w.iter().map(|v| v * v).sum::<f64>();
    assert!(norm(&ridge.fit.w) < norm(&ols.fit.w));
    assert_eq!(linear::zeros(&ols.fit.w, relevant, 1e-3), (0, 0));
    assert_eq!(linear::zeros(&ridge.exact.0, relevant, 1e-9), (0, 0));
    let (rel_zeros, exact_zeros) = linear::zeros(&lasso.exact.0, relevant, 1e-12);
    assert_eq!(rel_zeros, 0, "the lasso dropped a relevant feature");
    assert!(
        exact_zeros >= irrelevant * 3 / 4,
        "only {exact_zeros} of {irrelevant} irrelevant weights are 0"
    );
    for (j, (&exact, &sgd)) in lasso.exact.0.iter().zip(&lasso.fit.w).enumerate() {
        if exact == 0.0 {
            assert!(sgd.abs() < 5e-3, "lasso weight {j}: SGD {sgd}, exact 0");
        }
    }
    // with 17 irrelevant features and 80 samples, discarding them pays on the test set
    assert!(
        lasso.test_mse < ols.test_mse,
        "{} vs {}",
        lasso.test_mse,
        ols.test_mse
    );
}

#[test]
fn logistic_regression_reaches_newton_and_bayes_accuracy() {
    let dev = own_cpu();
    let mut cfg = logistic::Config {
        train_samples: 600,
        test_samples: 1000,
        ..Default::default()
    };
    cfg.sgd.epochs = 60;
    let o = logistic::run(&cfg, &dev).expect("logistic");
    eprintln!(
        "max |SGD - Newton| {:.2e}, test accuracy {:.4}, Bayes {:.4}",
        o.max_error(),
        o.test_accuracy,
        o.bayes_accuracy
    );
    assert!(
        o.max_error() < 5e-3,
        "SGD is {} from the MLE",
        o.max_error()
    );
    // the MLE points along the population's w* = (2, 1)
    let (w, star) = (&o.fit.w, logistic::BAYES.0);
    let cos = (w[0] * star[0] + w[1] * star[1])
        / ((w[0] * w[0] + w[1] * w[1]).sqrt() * (star[0] * star[0] + star[1] * star[1]).sqrt());
    assert!(cos > 0.99, "direction {w:?}, cosine {cos}");
    assert!(
        o.test_accuracy > o.bayes_accuracy - 0.015,
        "test accuracy {} vs the Bayes rule's {}",
        o.test_accuracy,
        o.bayes_accuracy
    );
    let final_loss = *o.fit.objective.last().expect("epochs ran");
    assert!(final_loss - o.exact_loss < 1e-5 && final_loss >= o.exact_loss - 1e-9);
}

#[test]
fn softmax_regression_reaches_sane_accuracy_and_consistent_metrics() {
    let Some(dev) = gpu() else { return };
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    let cfg = softmax::Config {
        epochs: 4,
        ..Default::default()
    };
    let o = softmax::train(&cfg, &train, &test, &dev).expect("train");
    let m = &o.confusion;
    eprintln!("softmax regression: test accuracy {:.4}", m.accuracy());
    assert!(
        m.accuracy() > 0.87,
        "softmax regression reaches {} after {} epochs (~0.90 expected)",
        m.accuracy(),
        cfg.epochs
    );
    assert!(o
        .history
        .windows(2)
        .all(|w| w[1].train_loss < w[0].train_loss));
    // the metrics from the matrix against counts taken from the predictions directly
    let (p, a) = (&o.predicted, &o.actual);
    assert_eq!(m.total(), a.len() as u64);
    let hits = p.iter().zip(a).filter(|(p, a)| p == a).count();
    assert!((m.accuracy() - hits as f64 / a.len() as f64).abs() < 1e-12);
    let (mut f1_sum, classes) = (0.0, softmax::CLASSES as i32);
    for c in 0..classes {
        let count =
            |f: &dyn Fn(i32, i32) -> bool| p.iter().zip(a).filter(|(&p, &a)| f(p, a)).count();
        let tp = count(&|p, a| p == c && a == c) as f64;
        let fp = count(&|p, a| p == c && a != c) as f64;
        let fn_ = count(&|p, a| p != c && a == c) as f64;
        let (precision, recall) = (tp / (tp + fp), tp / (tp + fn_));
        let f1 = 2.0 * precision * recall / (precision + recall);
        let k = c as usize;
        assert!((m.precision(k) - precision).abs() < 1e-12, "precision {c}");
        assert!((m.recall(k) - recall).abs() < 1e-12, "recall {c}");
        assert!((m.f1(k) - f1).abs() < 1e-12, "F1 {c}");
        assert!(
            precision > 0.7 && recall > 0.7,
            "class {c}: {precision} {recall}"
        );
        f1_sum += f1;
    }
    assert!((m.macro_f1() - f1_sum / f64::from(classes)).abs() < 1e-12);
    assert_eq!(o.templates.len(), softmax::CLASSES);
    assert!(o.templates.iter().all(|t| t.len() == softmax::PIXELS));
}
