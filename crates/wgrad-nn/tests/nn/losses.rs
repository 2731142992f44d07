//! Losses against host formulas (f64 tensors, so the comparison is tight).

use wgrad_graph::Tensor;
use wgrad_nn::*;

use crate::{assert_close, dev, t64, vals};

const LOGITS: [f64; 6] = [2.0, -1.0, 0.5, 0.1, 0.2, 3.0];
const LABELS: [i32; 2] = [0, 2];

fn host_log_softmax(row: &[f64]) -> Vec<f64> {
    let m = row.iter().cloned().fold(f64::MIN, f64::max);
    let lse = row.iter().map(|v| (v - m).exp()).sum::<f64>().ln() + m;
    row.iter().map(|v| v - lse).collect()
}

fn host_ce(eps: f64) -> f64 {
    let k = 3.0;
    let mut total = 0.0;
    for (r, &y) in LOGITS.chunks(3).zip(&LABELS) {
        let lp = host_log_softmax(r);
        for (c, l) in lp.iter().enumerate() {
            let q = (1.0 - eps) * if c == y as usize { 1.0 } else { 0.0 } + eps / k;
            total -= q * l;
        }
    }
    total / 2.0
}

#[test]
fn cross_entropy_matches_host_with_and_without_smoothing() {
    let d = dev();
    let logits = t64(&LOGITS, &[2, 3], &d);
    let y = Tensor::from_vec(LABELS.to_vec(), [2], &d).unwrap();
    let ce = cross_entropy(&logits, &y).unwrap().item().unwrap();
    assert_close(&[ce], &[host_ce(0.0)], 1e-12);
    let smooth = cross_entropy_with(&logits, &y, 0.1, Reduction::Mean)
        .unwrap()
        .item()
        .unwrap();
    assert_close(&[smooth], &[host_ce(0.1)], 1e-12);
    let sum = cross_entropy_with(&logits, &y, 0.0, Reduction::Sum).unwrap();
    assert_close(&vals(&sum), &[2.0 * host_ce(0.0)], 1e-12);
    let per = cross_entropy_with(&logits, &y, 0.0, Reduction::None).unwrap();
    assert_eq!(per.dims(), [2]);
}

/// d CE / d logits = (softmax - onehot) / n.
#[test]
fn cross_entropy_gradient_is_softmax_minus_onehot() {
    let d = dev();
    let logits = t64(&LOGITS, &[2, 3], &d).with_grad().unwrap();
    let y = Tensor::from_vec(LABELS.to_vec(), [2], &d).unwrap();
    cross_entropy(&logits, &y).unwrap().backward().unwrap();
    let mut want = Vec::new();
    for (r, &lab) in LOGITS.chunks(3).zip(&LABELS) {
        for (c, l) in host_log_softmax(r).iter().enumerate() {
            want.push((l.exp() - if c == lab as usize { 1.0 } else { 0.0 }) / 2.0);
        }
    }
    assert_close(&vals(&logits.grad().unwrap()), &want, 1e-12);
}

#[test]
fn nll_loss_picks_the_labelled_log_prob() {
    let d = dev();
    let logp = t64(&[-0.1, -2.0, -3.0, -1.5, -0.5, -4.0], &[2, 3], &d);
    let y = Tensor::from_vec(vec![1i32, 0], [2], &d).unwrap();
    let l = nll_loss(&logp, &y, Reduction::Mean).unwrap();
    assert_close(&vals(&l), &[(2.0 + 1.5) / 2.0], 1e-12);
}

#[test]
fn losses_reject_bad_shapes_and_dtypes() {
    let d = dev();
    let logits = t64(&LOGITS, &[2, 3], &d);
    let y_f = t64(&[0.0, 2.0], &[2], &d);
    assert!(cross_entropy(&logits, &y_f).is_err());
    let y3 = Tensor::from_vec(vec![0i32, 1, 2], [3], &d).unwrap();
    assert!(cross_entropy(&logits, &y3).is_err());
    assert!(mse_loss(&logits, &t64(&[1.0, 2.0], &[2], &d)).is_err());
}

const PRED: [f64; 4] = [0.5, -2.0, 3.0, 0.0];
const TARGET: [f64; 4] = [1.0, 1.0, -1.0, 0.2];

fn host_mean(f: impl Fn(f64, f64) -> f64) -> f64 {
    PRED.iter()
        .zip(&TARGET)
        .map(|(&p, &t)| f(p, t))
        .sum::<f64>()
        / 4.0
}

#[test]
fn regression_losses_match_host() {
    let d = dev();
    let (p, t) = (t64(&PRED, &[2, 2], &d), t64(&TARGET, &[2, 2], &d));
    let mse = vals(&mse_loss(&p, &t).unwrap())[0];
    assert_close(&[mse], &[host_mean(|p, t| (p - t).powi(2))], 1e-12);
    let mae = vals(&mae_loss(&p, &t).unwrap())[0];
    assert_close(&[mae], &[host_mean(|p, t| (p - t).abs())], 1e-12);
    let delta = 1.0;
    let huber = vals(&huber_loss(&p, &t, delta).unwrap())[0];
    let host = host_mean(|p, t| {
        let a = (p - t).abs();
        if a <= delta {
            0.5 * a * a
        } else {
            delta * (a - 0.5 * delta)
        }
    });
    assert_close(&[huber], &[host], 1e-12);
}

#[test]
fn bce_with_logits_matches_host_and_stays_finite() {
    let d = dev();
    let x = [0.3, -1.2, 100.0, -100.0];
    let t = [1.0, 0.0, 0.0, 1.0];
    let l =
        vals(&binary_cross_entropy_with_logits(&t64(&x, &[4], &d), &t64(&t, &[4], &d)).unwrap())[0];
    let host: f64 = x
        .iter()
        .zip(&t)
        .map(|(&x, &t)| {
            // exact: -t log σ(x) - (1-t) log(1-σ(x)), written via log1p to be exact at ±100
            let log_sig = -(-x).exp().ln_1p();
            let log_one_minus = -x.exp().ln_1p();
            -t * log_sig - (1.0 - t) * log_one_minus
        })
        .sum::<f64>()
        / 4.0;
    assert!(l.is_finite());
    assert_close(&[l], &[host], 1e-9);
}

#[test]
fn hinge_loss_matches_host() {
    let d = dev();
    let s = [0.5, -2.0, 3.0, 0.0];
    let y = [1.0, 1.0, -1.0, -1.0];
    let l = vals(&hinge_loss(&t64(&s, &[4], &d), &t64(&y, &[4], &d)).unwrap())[0];
    let host = s
        .iter()
        .zip(&y)
        .map(|(s, y)| (1.0 - s * y).max(0.0))
        .sum::<f64>()
        / 4.0;
    assert_close(&[l], &[host], 1e-12);
}
