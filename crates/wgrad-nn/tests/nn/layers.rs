//! Layers: shapes, names, init ranges, activations, BatchNorm train/eval, Dropout.

use wgrad_graph::{DType, Tensor};
use wgrad_nn::*;

use crate::{assert_close, dev, t32, t64, vals};

#[derive(Debug, Module)]
struct Cnn {
    conv1: Conv2d,
    bn1: BatchNorm,
    pool: MaxPool2d,
    fc: Linear,
}

impl Forward for Cnn {
    fn forward(&self, x: &Tensor) -> wgrad_graph::Result<Tensor> {
        let h = self.conv1.forward(x)?;
        let h = self.pool.forward(&self.bn1.forward(&h)?.relu()?)?;
        self.fc.forward(&Flatten.forward(&h)?)
    }
}

#[test]
fn cnn_forward_shapes_and_param_paths() {
    let d = dev();
    d.manual_seed(1);
    let cnn = Cnn {
        conv1: Conv2dConfig::new(1, 4, 3).with_padding(1).init(&d).unwrap(),
        bn1: BatchNormConfig::new(4).init_2d(&d).unwrap(),
        pool: MaxPool2d::new(2),
        fc: LinearConfig::new(4 * 3 * 3, 10).init(&d).unwrap(),
    };
    let x = Tensor::randn([2, 1, 6, 6], DType::F32, &d).unwrap();
    assert_eq!(cnn.forward(&x).unwrap().dims(), [2, 10]);
    let names: Vec<String> = cnn.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "bn1.weight",
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.num_batches_tracked",
            "fc.weight",
            "fc.bias"
        ]
    );
    // conv 4·9 + 4, bn 4 + 4 (running stats are not trainable), fc 36·10 + 10
    assert_eq!(cnn.num_params(), 40 + 8 + 370);
    let y = AvgPool2d::new(2).forward(&x).unwrap();
    assert_eq!(y.dims(), [2, 1, 3, 3]);
}

#[test]
fn torch_default_init_stays_in_its_bounds() {
    let d = dev();
    d.manual_seed(7);
    let lin = LinearConfig::new(50, 40).init(&d).unwrap();
    let bound = 1.0 / 50f64.sqrt();
    let w = vals(&lin.weight.tensor());
    assert!(w.iter().all(|v| v.abs() <= bound));
    // U(-b, b) has variance b²/3.
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((var / (bound * bound / 3.0) - 1.0).abs() < 0.1, "var {var}");
    let b = vals(&lin.bias.as_ref().unwrap().tensor());
    assert!(b.iter().all(|v| v.abs() <= bound));
}

#[test]
fn xavier_and_kaiming_have_their_variances() {
    let d = dev();
    d.manual_seed(3);
    let var = |t: Tensor| {
        let v = vals(&t);
        v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64
    };
    let shape = [200, 100];
    let xu = var(init::xavier_uniform(shape, 1.0, DType::F32, &d).unwrap());
    let xn = var(init::xavier_normal(shape, 1.0, DType::F32, &d).unwrap());
    let want_x = 2.0 / 300.0;
    assert!((xu / want_x - 1.0).abs() < 0.05, "xavier uniform {xu}");
    assert!((xn / want_x - 1.0).abs() < 0.05, "xavier normal {xn}");
    let ku = var(init::kaiming_uniform(shape, 0.0, init::FanMode::FanIn, DType::F32, &d).unwrap());
    let kn = var(init::kaiming_normal(shape, 0.0, init::FanMode::FanIn, DType::F32, &d).unwrap());
    assert!((ku / 0.02 - 1.0).abs() < 0.05, "kaiming uniform {ku}");
    assert!((kn / 0.02 - 1.0).abs() < 0.05, "kaiming normal {kn}");
    assert!(init::fans(&[3].into()).is_err());
}

#[test]
fn activations_match_host_formulas() {
    let d = dev();
    let xs = [-3.0, -0.5, 0.0, 0.7, 2.0];
    let x = t64(&xs, &[5], &d);
    let run = |a: Activation| vals(&a.forward(&x).unwrap());
    let host = |f: &dyn Fn(f64) -> f64| xs.iter().map(|&v| f(v)).collect::<Vec<_>>();
    assert_close(&run(Activation::Relu), &host(&|v| v.max(0.0)), 1e-12);
    assert_close(
        &run(Activation::leaky_relu()),
        &host(&|v| if v > 0.0 { v } else { 0.01 * v }),
        1e-12,
    );
    assert_close(
        &run(Activation::elu()),
        &host(&|v| if v > 0.0 { v } else { v.exp() - 1.0 }),
        1e-12,
    );
    let c = (2.0 / std::f64::consts::PI).sqrt();
    assert_close(
        &run(Activation::gelu_tanh()),
        &host(&|v| 0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())),
        1e-12,
    );
    assert_close(&run(Activation::Tanh), &host(&|v| v.tanh()), 1e-12);
    assert_close(
        &run(Activation::Sigmoid),
        &host(&|v| 1.0 / (1.0 + (-v).exp())),
        1e-12,
    );
    assert_close(
        &run(Activation::Softplus),
        &host(&|v| v.exp().ln_1p()),
        1e-12,
    );
}

/// ELU's unused exp branch must not poison the gradient for large inputs.
#[test]
fn elu_gradient_is_finite_for_large_inputs() {
    let d = dev();
    let x = t64(&[1000.0, -1.0], &[2], &d).with_grad().unwrap();
    activation::elu(&x, 1.0)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert_close(&vals(&x.grad().unwrap()), &[1.0, (-1.0f64).exp()], 1e-12);
}

#[test]
fn embedding_picks_rows() {
    let d = dev();
    let emb = EmbeddingConfig::new(4, 2).init(&d).unwrap();
    emb.weight
        .set(&t32(
            &[0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0],
            &[4, 2],
            &d,
        ))
        .unwrap();
    let ids = Tensor::from_vec(vec![3i32, 0, 3, 1], [2, 2], &d).unwrap();
    let y = emb.forward(&ids).unwrap();
    assert_eq!(y.dims(), [2, 2, 2]);
    assert_close(
        &vals(&y),
        &[30.0, 31.0, 0.0, 1.0, 30.0, 31.0, 10.0, 11.0],
        0.0,
    );
    // Row 3 is used twice: its gradient is 2 per element; row 2 is unused.
    y.sum_all().unwrap().backward().unwrap();
    assert_close(
        &vals(&emb.weight.grad().unwrap()),
        &[1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 2.0, 2.0],
        0.0,
    );
}

const BN_X1: [f64; 8] = [1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 6.0, 40.0];
const BN_X2: [f64; 8] = [0.0, -5.0, 4.0, 5.0, 4.0, 15.0, 0.0, 25.0];

fn host_stats(x: &[f64], c: usize) -> (f64, f64, f64) {
    let col: Vec<f64> = x.iter().skip(c).step_by(2).cloned().collect();
    let n = col.len() as f64;
    let mean = col.iter().sum::<f64>() / n;
    let ss = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    (mean, ss / n, ss / (n - 1.0))
}

/// Train mode normalizes with batch statistics and moves the running ones (momentum 0.1, unbiased
/// variance); eval mode uses the running ones. Two steps through the optimizer, which realizes the buffers.
#[test]
fn batch_norm_train_eval_and_running_stats() {
    let d = dev();
    let mut bn = BatchNormConfig::new(2).init_1d(&d).unwrap();
    let mut opt = Optimizer::new(bn.parameters(), SgdConfig::new(0.0));
    let (mut rm, mut rv) = ([0.0, 0.0], [1.0, 1.0]);
    for x in [BN_X1, BN_X2] {
        let xt = t64(&x, &[4, 2], &d).cast(DType::F32).unwrap();
        let y = bn.forward(&xt).unwrap();
        opt.backward_step_with(&y.sum_all().unwrap(), &[&y])
            .unwrap();
        let y = vals(&y);
        for c in 0..2 {
            let (mean, var, unbiased) = host_stats(&x, c);
            for r in 0..4 {
                let want = (x[r * 2 + c] - mean) / (var + 1e-5).sqrt();
                assert_close(&[y[r * 2 + c]], &[want], 1e-5);
            }
            rm[c] = 0.9 * rm[c] + 0.1 * mean;
            rv[c] = 0.9 * rv[c] + 0.1 * unbiased;
        }
    }
    assert_close(&vals(&bn.running_mean.tensor()), &rm, 1e-5);
    assert_close(&vals(&bn.running_var.tensor()), &rv, 1e-4);
    bn.eval();
    let x = t32(&[1.0, 2.0], &[1, 2], &d);
    let y = vals(&bn.forward(&x).unwrap());
    let want: Vec<f64> = (0..2)
        .map(|c| ([1.0, 2.0][c] - rm[c]) / (rv[c] + 1e-5).sqrt())
        .collect();
    assert_close(&y, &want, 1e-5);
    // Eval leaves the running statistics alone.
    assert_close(&vals(&bn.running_mean.tensor()), &rm, 1e-5);
    assert!(bn.forward(&t32(&[1.0, 2.0, 3.0], &[1, 3], &d)).is_err());
}

/// `num_batches_tracked` counts training-mode forward passes (PyTorch's buffer, i32 here), realized with the
/// optimizer's step like the running statistics; eval passes leave it alone.
#[test]
fn batch_norm_counts_training_batches() {
    let d = dev();
    let mut bn = BatchNormConfig::new(2).init_1d(&d).unwrap();
    let mut opt = Optimizer::new(bn.parameters(), SgdConfig::new(0.0));
    let count = |bn: &BatchNorm| bn.num_batches_tracked.tensor().to_vec::<i32>().unwrap();
    assert_eq!(count(&bn), [0]);
    let x = t64(&BN_X1, &[4, 2], &d).cast(DType::F32).unwrap();
    for _ in 0..3 {
        let y = bn.forward(&x).unwrap();
        opt.backward_step(&y.sum_all().unwrap()).unwrap();
    }
    assert_eq!(count(&bn), [3]);
    assert_eq!(bn.num_batches_tracked.tensor().dims(), [0usize; 0]);
    bn.eval();
    bn.forward(&x).unwrap().realize().unwrap();
    assert_eq!(count(&bn), [3]);
}

/// In training, one value per channel (`[1, c]`, `[1, c, 1]`, `[1, c, 1, 1]`) has zero batch variance, so
/// PyTorch raises "Expected more than 1 value per channel when training"; wgrad gives a shape error. Eval
/// mode takes a single sample.
#[test]
fn batch_norm_refuses_one_value_per_channel_in_training() {
    let d = dev();
    let bn1 = BatchNormConfig::new(3).init_1d(&d).unwrap();
    let bn2 = BatchNormConfig::new(3).init_2d(&d).unwrap();
    let cases: [(&BatchNorm, &[usize]); 3] =
        [(&bn1, &[1, 3]), (&bn1, &[1, 3, 1]), (&bn2, &[1, 3, 1, 1])];
    for (bn, shape) in cases {
        let x = Tensor::ones(shape.to_vec(), DType::F32, &d);
        match bn.forward(&x) {
            Err(wgrad_graph::Error::Shape { op, msg }) => {
                assert_eq!(op, "batch_norm");
                assert!(
                    msg.contains("more than 1 value per channel when training"),
                    "{msg}"
                );
            }
            other => panic!("{shape:?}: expected a shape error, got {other:?}"),
        }
    }
    // Two values per channel are enough; so is one sample in eval mode.
    assert!(bn1
        .forward(&Tensor::ones([1, 3, 2], DType::F32, &d))
        .is_ok());
    let mut bn1 = bn1;
    bn1.eval();
    let y = bn1.forward(&Tensor::ones([1, 3], DType::F32, &d)).unwrap();
    assert_eq!(y.dims(), [1, 3]);
}

#[test]
fn dropout_train_zeroes_about_p_and_rescales_eval_is_identity() {
    let d = dev();
    d.manual_seed(42);
    let mut drop = Dropout::new(0.3).unwrap();
    let x = Tensor::ones([10_000], DType::F32, &d);
    let y = vals(&drop.forward(&x).unwrap());
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped fraction {zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
    drop.eval();
    assert_eq!(vals(&drop.forward(&x).unwrap()), vec![1.0; 10_000]);
    // p = 1 drops everything (PyTorch allows it); p outside [0, 1] is refused
    assert!(Dropout::new(1.0).is_ok());
    for p in [-0.1, 1.5, f64::NAN] {
        assert!(Dropout::new(p).is_err(), "p = {p}");
    }
}

/// `eval()` on a `Sequential` reaches the layers inside it.
#[test]
fn sequential_eval_reaches_dropout() {
    let d = dev();
    let mut seq = Sequential::new()
        .add(Dropout::new(0.5).unwrap())
        .add(Activation::Relu);
    let x = Tensor::ones([1000], DType::F32, &d);
    let dropped = vals(&seq.forward(&x).unwrap());
    assert!(dropped.contains(&0.0));
    seq.eval();
    assert_eq!(vals(&seq.forward(&x).unwrap()), vec![1.0; 1000]);
}

/// `#[derive(Module)]` reaches every part: nested modules, `Option`s and `Vec`s (named by position), and
/// `eval()` switches all of them (a model whose dropout stayed in training mode would change `y`).
#[test]
fn derived_modules_visit_and_switch_every_part() {
    #[derive(Debug, Module)]
    struct Block {
        fc: Linear,
        norm: Option<BatchNorm>,
        drops: Vec<Dropout>,
        #[module(skip)]
        width: usize,
    }
    impl Forward for Block {
        fn forward(&self, x: &Tensor) -> wgrad_graph::Result<Tensor> {
            let mut h = self.fc.forward(x)?;
            if let Some(n) = &self.norm {
                h = n.forward(&h)?;
            }
            for d in &self.drops {
                h = d.forward(&h)?;
            }
            Ok(h)
        }
    }
    let d = dev();
    d.manual_seed(3);
    let mut block = Block {
        fc: LinearConfig::new(4, 6).init(&d).unwrap(),
        norm: Some(BatchNormConfig::new(6).init_1d(&d).unwrap()),
        drops: vec![Dropout::new(0.5).unwrap(), Dropout::new(0.5).unwrap()],
        width: 6,
    };
    let names = |v: Vec<(String, Param)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(
        names(block.named_parameters()),
        ["fc.weight", "fc.bias", "norm.weight", "norm.bias"]
    );
    assert_eq!(
        names(block.named_buffers()),
        [
            "norm.running_mean",
            "norm.running_var",
            "norm.num_batches_tracked"
        ]
    );
    assert_eq!(block.state().len(), 7);
    assert_eq!(block.num_params(), 4 * 6 + 6 + 6 + 6 + block.width - 6);
    let x = Tensor::randn([5, 4], DType::F32, &d).unwrap();
    block.eval();
    let (a, b) = (
        vals(&block.forward(&x).unwrap()),
        vals(&block.forward(&x).unwrap()),
    );
    assert_eq!(a, b, "eval: no dropout, running statistics");
    block.train();
    let (a, b) = (
        vals(&block.forward(&x).unwrap()),
        vals(&block.forward(&x).unwrap()),
    );
    assert_ne!(a, b, "train: fresh dropout masks");
}

/// Layers take their parameter dtype from the config (f32 by default).
#[test]
fn layer_configs_choose_the_dtype() {
    let d = dev();
    for dtype in [DType::F32, DType::F64, DType::F16] {
        let lin = LinearConfig::new(3, 2).with_dtype(dtype).init(&d).unwrap();
        let conv = Conv2dConfig::new(1, 2, 3)
            .with_dtype(dtype)
            .init(&d)
            .unwrap();
        let bn = BatchNormConfig::new(2)
            .with_dtype(dtype)
            .init_2d(&d)
            .unwrap();
        let emb = EmbeddingConfig::new(5, 2)
            .with_dtype(dtype)
            .init(&d)
            .unwrap();
        for (name, p) in [lin.state(), conv.state(), bn.state(), emb.state()].concat() {
            // the counter is i32 whatever the dtype (int64 in PyTorch and in checkpoints)
            let want = if p.is_counter() { DType::I32 } else { dtype };
            assert_eq!(p.tensor().dtype(), want, "{name}");
        }
        let x = Tensor::randn([4, 3], dtype, &d).unwrap();
        assert_eq!(lin.forward(&x).unwrap().dtype(), dtype);
    }
    assert_eq!(LinearConfig::new(3, 2).dtype, DType::F32);
}
