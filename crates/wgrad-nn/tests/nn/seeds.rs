//! The worked examples of seed-examples.md that concern wgrad-nn (items 4, 5, 6, 12, 13, 14).

use wgrad_graph::{DType, Tensor};
use wgrad_nn::*;

use crate::{assert_close, dev, t32, vals};

/// Seed 12: one SGD step (lr 0.5) of the 2-2-2 logistic network on ½Σ(t - o)².
#[test]
fn seed12_backprop_by_hand_one_sgd_step() {
    let d = dev();
    let hidden = Linear::from_tensors(
        t32(&[0.15, 0.20, 0.25, 0.30], &[2, 2], &d),
        Some(t32(&[0.35, 0.35], &[2], &d)),
    )
    .unwrap();
    let out = Linear::from_tensors(
        t32(&[0.40, 0.45, 0.50, 0.55], &[2, 2], &d),
        Some(t32(&[0.60, 0.60], &[2], &d)),
    )
    .unwrap();
    let x = t32(&[0.05, 0.10], &[1, 2], &d);
    let target = t32(&[0.01, 0.99], &[1, 2], &d);
    let h = hidden.forward(&x).unwrap().sigmoid().unwrap();
    let o = out.forward(&h).unwrap().sigmoid().unwrap();
    let diff = target.sub(&o).unwrap();
    let err = diff
        .mul(&diff)
        .unwrap()
        .sum_all()
        .unwrap()
        .mul(0.5)
        .unwrap();
    let mut params = hidden.parameters();
    params.extend(out.parameters());
    let mut opt = Optimizer::new(params, SgdConfig::new(0.5));
    let loss = opt.backward_step_with(&err, &[&h, &o]).unwrap();
    assert_close(&vals(&h), &[0.593269992, 0.596884378], 1e-6);
    assert_close(&vals(&o), &[0.751365070, 0.772928465], 1e-6);
    assert_close(&[loss.item().unwrap()], &[0.298371109], 1e-6);
    assert_close(
        &vals(&out.weight.tensor()),
        &[0.358916480, 0.408666186, 0.511301270, 0.561370121],
        1e-6,
    );
    assert_close(
        &vals(&hidden.weight.tensor()),
        &[0.149780716, 0.199561432, 0.249751144, 0.299502287],
        1e-6,
    );
}

/// Seed 13: softmax regression forward pass, predictions and mean cross-entropy.
#[test]
fn seed13_softmax_regression_forward() {
    let d = dev();
    let x = t32(
        &[
            1.0, 0.1, 0.5, 1.0, 1.1, 2.3, 1.0, -1.1, -2.3, 1.0, -1.5, -2.5,
        ],
        &[4, 3],
        &d,
    );
    let w = t32(&[0.01, 0.1, 0.1, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3], &[3, 3], &d);
    let y = Tensor::from_vec(vec![0i32, 1, 2, 2], [4], &d).unwrap();
    let logits = x.matmul(&w).unwrap();
    let probs = vals(&logits.softmax(-1).unwrap());
    #[rustfmt::skip]
    let want = [0.2945, 0.3422, 0.3633, 0.2129, 0.3273, 0.4598,
                0.4286, 0.3338, 0.2376, 0.4494, 0.3296, 0.2210];
    assert_close(&probs, &want, 5e-5);
    assert_eq!(predictions(&logits).unwrap(), vec![2, 2, 0, 0]);
    let ce = cross_entropy(&logits, &y).unwrap().item().unwrap();
    assert_close(&[ce], &[1.3215979], 1e-6);
}

/// Seed 14: clipping g = [0.9, 100] by value 1 and by norm 1.
#[test]
fn seed14_gradient_clipping() {
    let d = dev();
    let g = t32(&[0.9, 100.0], &[2], &d);
    let by_value = clip_grad_value(std::slice::from_ref(&g), 1.0).unwrap();
    assert_close(&vals(&by_value[0]), &[0.9, 1.0], 1e-7);
    let (by_norm, norm) = clip_grad_norm(&[g], 1.0).unwrap();
    assert_close(&vals(&norm), &[100.00405], 1e-4);
    assert_close(&vals(&by_norm[0]), &[0.00899963552, 0.99995950246], 1e-7);
}

/// A norm below the limit leaves gradients alone (the coefficient is clamped at 1).
#[test]
fn clip_grad_norm_leaves_small_gradients() {
    let d = dev();
    let (c, _) = clip_grad_norm(&[t32(&[0.3, 0.4], &[2], &d)], 1.0).unwrap();
    assert_close(&vals(&c[0]), &[0.3, 0.4], 1e-7);
}

/// A simple RNN cell `h' = tanh(W_xh x + b + W_hh h)`, from two Linear layers, only to count parameters.
#[derive(Debug, Module)]
struct SimpleRnn {
    input: Linear,
    recurrent: Linear,
}

impl Forward for SimpleRnn {
    fn forward(&self, x: &Tensor) -> wgrad_graph::Result<Tensor> {
        // One step from a zero state: enough for the shapes.
        let h0 = Tensor::zeros([x.dims()[0], 32], DType::F32, x.device());
        self.input
            .forward(x)?
            .add(&self.recurrent.forward(&h0)?)?
            .tanh()
    }
}

/// Seed 6: parameter counts of Dense 10→20→5 and of Embedding(10000, 32) + SimpleRNN(32).
#[test]
fn seed6_parameter_counts() {
    let d = dev();
    let dense = Sequential::new()
        .add(LinearConfig::new(10, 20).init(&d).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(20, 5).init(&d).unwrap());
    assert_eq!(dense.num_params(), 325);
    let names: Vec<String> = dense.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);

    let rnn = SimpleRnn {
        input: LinearConfig::new(32, 32).init(&d).unwrap(),
        recurrent: LinearConfig::new(32, 32).without_bias().init(&d).unwrap(),
    };
    let emb = EmbeddingConfig::new(10000, 32).init(&d).unwrap();
    assert_eq!(emb.num_params(), 320_000);
    assert_eq!(rnn.num_params(), 32 * 32 + 32 * 32 + 32);
    assert_eq!(emb.num_params() + rnn.num_params(), 322_080);
    let ids = Tensor::from_vec(vec![1i32, 9999], [2], &d).unwrap();
    let h = rnn.forward(&emb.forward(&ids).unwrap()).unwrap();
    assert_eq!(h.dims(), [2, 32]);
}

/// Seed 5: confusion-matrix metrics.
#[test]
fn seed5_confusion_matrix_metrics() {
    let a = ConfusionMatrix::from_counts(vec![
        vec![9, 1, 0, 0],
        vec![1, 15, 3, 1],
        vec![5, 0, 24, 1],
        vec![0, 4, 1, 15],
    ])
    .unwrap();
    assert_eq!(a.total(), 80);
    assert_close(&[a.accuracy()], &[63.0 / 80.0], 1e-12);
    let b = ConfusionMatrix::from_counts(vec![
        vec![100, 80, 10, 10],
        vec![0, 9, 0, 1],
        vec![0, 1, 8, 1],
        vec![0, 1, 0, 9],
    ])
    .unwrap();
    assert_close(&[b.accuracy()], &[126.0 / 230.0], 1e-12);
    let precision: Vec<f64> = (0..4).map(|c| b.precision(c)).collect();
    assert_close(
        &precision,
        &[1.0, 9.0 / 91.0, 8.0 / 18.0, 9.0 / 21.0],
        1e-12,
    );
    let recall: Vec<f64> = (0..4).map(|c| b.recall(c)).collect();
    assert_close(&recall, &[0.5, 0.9, 0.8, 0.9], 1e-12);
    let f1: Vec<f64> = (0..4)
        .map(|c| 2.0 * precision[c] * recall[c] / (precision[c] + recall[c]))
        .collect();
    assert_close(&[b.macro_f1()], &[f1.iter().sum::<f64>() / 4.0], 1e-12);
    assert_close(&[b.macro_recall()], &[(0.5 + 0.9 + 0.8 + 0.9) / 4.0], 1e-12);
}

/// Seed 4: one linear-regression step with J = (1/m)·Σ ½(ŷ - y)², lr 0.01 → W = 4.5175, b = 0.9.
#[test]
fn seed4_linear_regression_step() {
    let d = dev();
    let lin = Linear::from_tensors(t32(&[5.0], &[1, 1], &d), Some(t32(&[1.0], &[1], &d))).unwrap();
    let x = t32(&[1.0, 3.0, 6.0, 5.0], &[4, 1], &d);
    let y = t32(&[4.0, 8.0, 14.0, 13.0], &[4, 1], &d);
    let yhat = lin.forward(&x).unwrap();
    let j = mse_loss(&yhat, &y).unwrap().mul(0.5).unwrap();
    let mut opt = Optimizer::new(lin.parameters(), SgdConfig::new(0.01));
    let loss = opt.backward_step_with(&j, &[&yhat]).unwrap();
    assert_close(&vals(&yhat), &[6.0, 16.0, 31.0, 26.0], 1e-6);
    assert_close(&[loss.item().unwrap()], &[65.75], 1e-5);
    assert_close(&vals(&lin.weight.tensor()), &[4.5175], 1e-6);
    assert_close(&vals(&lin.bias.as_ref().unwrap().tensor()), &[0.9], 1e-6);
}
