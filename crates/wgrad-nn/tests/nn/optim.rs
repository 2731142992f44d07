//! Each optimizer's first two steps against a host computation of PyTorch's documented algorithm, on
//! L(w) = Σ aᵢwᵢ + ½Σwᵢ² (so g = a + w), in f64. Plus: one schedule per step, LR schedules.

use std::sync::atomic::Ordering;

use wgrad_graph::{DType, Device, Tensor};
use wgrad_nn::*;

use crate::{assert_close, dev, t64, vals, Counting};

const W0: [f64; 3] = [0.5, -1.0, 2.0];
const A: [f64; 3] = [1.0, -2.0, 0.5];

fn loss_of(p: &Param, d: &Device) -> Tensor {
    let w = p.tensor();
    let a = t64(&A, &[3], d);
    w.mul(&a)
        .unwrap()
        .sum_all()
        .unwrap()
        .add(w.mul(&w).unwrap().sum_all().unwrap().mul(0.5).unwrap())
        .unwrap()
}

/// Runs two steps of `rule` and returns the parameter after each.
fn two_steps<R: UpdateRule + 'static>(rule: R) -> Vec<Vec<f64>> {
    let d = dev();
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt = Optimizer::new(vec![p.clone()], rule);
    (0..2)
        .map(|_| {
            opt.backward_step(&loss_of(&p, &d)).unwrap();
            vals(&p.tensor())
        })
        .collect()
}

/// Host reference: `f(w, g, t)` updates `w` in place given the gradient at `w` and the 1-based step.
fn host_two_steps(mut f: impl FnMut(&mut [f64; 3], [f64; 3], i32)) -> Vec<Vec<f64>> {
    let mut w = W0;
    (1..=2)
        .map(|t| {
            let g = [A[0] + w[0], A[1] + w[1], A[2] + w[2]];
            f(&mut w, g, t);
            w.to_vec()
        })
        .collect()
}

fn check(got: Vec<Vec<f64>>, want: Vec<Vec<f64>>) {
    for (g, w) in got.iter().zip(&want) {
        assert_close(g, w, 1e-12);
    }
}

#[test]
fn sgd_plain_two_steps() {
    // Hand-computed: g = [1.5, -3, 2.5] → w = [0.35, -0.7, 1.75]; g = [1.35, -2.7, 2.25] → [0.215, -0.43, 1.525]
    let got = two_steps(SgdConfig::new(0.1));
    check(got, vec![vec![0.35, -0.7, 1.75], vec![0.215, -0.43, 1.525]]);
}

#[test]
fn sgd_momentum_two_steps() {
    let (lr, mu) = (0.1, 0.9);
    let mut v = [0.0; 3];
    let want = host_two_steps(|w, g, _| {
        for i in 0..3 {
            v[i] = mu * v[i] + g[i];
            w[i] -= lr * v[i];
        }
    });
    let got = two_steps(SgdConfig {
        lr,
        momentum: mu,
        nesterov: false,
        weight_decay: 0.0,
    });
    check(got, want);
}

#[test]
fn sgd_nesterov_with_weight_decay_two_steps() {
    let (lr, mu, wd) = (0.1, 0.9, 0.01);
    let mut v = [0.0; 3];
    let want = host_two_steps(|w, g, _| {
        for i in 0..3 {
            let g = g[i] + wd * w[i];
            v[i] = mu * v[i] + g;
            w[i] -= lr * (g + mu * v[i]);
        }
    });
    let got = two_steps(SgdConfig {
        lr,
        momentum: mu,
        nesterov: true,
        weight_decay: wd,
    });
    check(got, want);
}

#[test]
fn rmsprop_two_steps() {
    let c = RmsPropConfig::default();
    let mut v = [0.0; 3];
    let want = host_two_steps(|w, g, _| {
        for i in 0..3 {
            v[i] = c.alpha * v[i] + (1.0 - c.alpha) * g[i] * g[i];
            w[i] -= c.lr * g[i] / (v[i].sqrt() + c.eps);
        }
    });
    check(two_steps(c.clone()), want);
}

#[test]
fn adagrad_two_steps() {
    let c = AdagradConfig {
        lr: 0.1,
        ..Default::default()
    };
    let mut s = [0.0; 3];
    let want = host_two_steps(|w, g, _| {
        for i in 0..3 {
            s[i] += g[i] * g[i];
            w[i] -= c.lr * g[i] / (s[i].sqrt() + c.eps);
        }
    });
    // Hand check of step 1: s = g², so the step is lr·sign(g) (up to ε).
    let got = two_steps(c.clone());
    assert_close(&got[0], &[0.4, -0.9, 1.9], 1e-9);
    check(got, want);
}

fn host_adam(lr: f64, wd: f64, decoupled: bool) -> Vec<Vec<f64>> {
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    let (mut m, mut v) = ([0.0; 3], [0.0; 3]);
    host_two_steps(|w, g, t| {
        for i in 0..3 {
            let mut g = g[i];
            if decoupled {
                w[i] *= 1.0 - lr * wd;
            } else {
                g += wd * w[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
            let mhat = m[i] / (1.0 - b1.powi(t));
            let vhat = v[i] / (1.0 - b2.powi(t));
            w[i] -= lr * mhat / (vhat.sqrt() + eps);
        }
    })
}

#[test]
fn adam_two_steps() {
    let got = two_steps(AdamConfig {
        lr: 0.1,
        ..Default::default()
    });
    // Hand check of step 1: m̂/√v̂ = sign(g), so w moves by lr against the gradient's sign.
    assert_close(&got[0], &[0.4, -0.9, 1.9], 1e-8);
    check(got, host_adam(0.1, 0.0, false));
    let got = two_steps(AdamConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..Default::default()
    });
    check(got, host_adam(0.1, 0.1, false));
}

#[test]
fn adamw_two_steps() {
    let got = two_steps(AdamWConfig {
        lr: 0.1,
        weight_decay: 0.1,
        ..Default::default()
    });
    check(got, host_adam(0.1, 0.1, true));
}

#[test]
fn optimizer_clips_gradients_before_the_update() {
    let d = dev();
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt =
        Optimizer::new(vec![p.clone()], SgdConfig::new(1.0)).with_clip(GradClip::Value(1.0));
    opt.backward_step(&loss_of(&p, &d)).unwrap();
    // g = [1.5, -3, 2.5] clipped to [1, -1, 1]
    assert_close(&vals(&p.tensor()), &[-0.5, 0.0, 1.0], 1e-12);
}

/// The whole step (forward, backward, update, optimizer state, BN running stats, loss and extra outputs)
/// is one `execute`: one submit on the GPU.
#[test]
fn step_is_one_schedule() {
    let backend = Counting::default();
    let count = backend.executes.clone();
    let d = Device::new(backend);
    let model = Sequential::new()
        .add(LinearConfig::new(4, 8).init(&d).unwrap())
        .add(BatchNormConfig::new(8).init_1d(&d).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(8, 3).init(&d).unwrap());
    let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
    let x = Tensor::randn([5, 4], DType::F32, &d).unwrap();
    let y = Tensor::from_vec(vec![0i32, 1, 2, 0, 1], [5], &d).unwrap();
    for _ in 0..3 {
        let before = count.load(Ordering::SeqCst);
        let logits = model.forward(&x).unwrap();
        let loss = cross_entropy(&logits, &y).unwrap();
        let loss = opt.backward_step_with(&loss, &[&logits]).unwrap();
        assert_eq!(
            count.load(Ordering::SeqCst) - before,
            1,
            "one execute per step"
        );
        assert!(logits.is_realized());
        loss.item().unwrap();
        predictions(&logits).unwrap();
        let rm = model.state()[4].1.tensor();
        assert!(rm.is_realized(), "running mean realized in the step");
    }
    assert_eq!(opt.steps(), 3);
    assert!(model.parameters().iter().all(|p| p.grad().is_none()));
}

#[test]
fn set_lr_changes_the_next_step() {
    let d = dev();
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt = Optimizer::new(vec![p.clone()], SgdConfig::new(0.1));
    opt.set_lr(0.0);
    opt.backward_step(&loss_of(&p, &d)).unwrap();
    assert_close(&vals(&p.tensor()), &W0, 0.0);
    opt.set_lr(0.1);
    opt.backward_step(&loss_of(&p, &d)).unwrap();
    assert_close(&vals(&p.tensor()), &[0.35, -0.7, 1.75], 1e-12);
}

#[test]
fn lr_schedules_follow_their_formulas() {
    let s = StepLr {
        base: 1.0,
        step_size: 10,
        gamma: 0.5,
    };
    assert_close(
        &[s.lr(0), s.lr(9), s.lr(10), s.lr(25)],
        &[1.0, 1.0, 0.5, 0.25],
        1e-15,
    );
    let e = ExponentialLr {
        base: 2.0,
        gamma: 0.9,
    };
    assert_close(&[e.lr(2)], &[2.0 * 0.81], 1e-15);
    let c = CosineLr {
        base: 1.0,
        min: 0.0,
        total: 100,
    };
    assert_close(
        &[c.lr(0), c.lr(50), c.lr(100), c.lr(200)],
        &[1.0, 0.5, 0.0, 0.0],
        1e-12,
    );
    let w = LinearWarmup {
        warmup: 4,
        inner: ConstantLr(1.0),
    };
    assert_close(&[w.lr(0), w.lr(3), w.lr(4)], &[0.25, 1.0, 1.0], 1e-15);
    // OneCycle(max 3e-3, 100 steps): starts at max/25, peaks at step 29 (0.3·100 - 1), ends at max/25/1e4.
    let o = OneCycleLr::new(3e-3, 100);
    assert_close(
        &[o.lr(0), o.lr(29), o.lr(99)],
        &[1.2e-4, 3e-3, 1.2e-8],
        1e-15,
    );
    let mid = o.lr(64);
    assert!(mid < 3e-3 && mid > 1.2e-8);
}

/// A parameter shared by two layers (listed twice) is updated once per step.
#[test]
fn shared_parameter_is_updated_once() {
    let d = dev();
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt = Optimizer::new(vec![p.clone(), p.clone()], SgdConfig::new(0.1));
    assert_eq!(opt.params().len(), 1);
    opt.backward_step(&loss_of(&p, &d)).unwrap();
    assert_close(&vals(&p.tensor()), &[0.35, -0.7, 1.75], 1e-12);
}

/// PyTorch's loop, `zero_grad(); loss.backward(); step()`, against PyTorch's own numbers
/// (`tests/pytorch/sgd_two_steps.py`: Linear(3, 2), cross entropy, SGD lr 0.1, momentum 0.9, weight decay
/// 0.01, float64), and against the one-call `backward_step` on the same model.
#[test]
fn step_after_backward_matches_pytorch_sgd() {
    // PyTorch 2.15, float64: (loss, weight, bias) after steps 1 and 2
    let want = [
        (
            1.7999360292824873,
            [
                0.17537538127601637,
                -0.15316187252366975,
                0.20645706221678758,
                0.3241246187239837,
                0.4528618725236697,
                -0.5061570622167876,
            ],
            [0.037266304582998615, -0.037266304582998615],
        ),
        (
            1.475323395306411,
            [
                0.31560089986016265,
                -0.06316391870007548,
                0.03954683462381859,
                0.1829496001398374,
                0.36229421870007544,
                -0.3386771346238186,
            ],
            [0.016009338605338798, -0.016009338605338798],
        ),
    ];
    let d = dev();
    let x = t64(
        &[
            1.0, 2.0, 3.0, -1.0, 0.5, 2.0, 0.0, -1.0, 1.0, 2.0, 1.0, -2.0,
        ],
        &[4, 3],
        &d,
    );
    let y = Tensor::from_vec(vec![0i32, 1, 1, 0], [4], &d).unwrap();
    let model = |d: &Device| {
        let w = t64(&[0.1, -0.2, 0.3, 0.4, 0.5, -0.6], &[2, 3], d);
        Linear::from_tensors(w, Some(t64(&[0.05, -0.05], &[2], d))).unwrap()
    };
    let rule = SgdConfig {
        momentum: 0.9,
        weight_decay: 0.01,
        ..SgdConfig::new(0.1)
    };
    let (habit, one_call) = (model(&d), model(&d));
    let mut opt = Optimizer::new(habit.parameters(), rule.clone());
    let mut opt_one = Optimizer::new(one_call.parameters(), rule);
    for (loss_want, w_want, b_want) in want {
        opt.zero_grad();
        let loss = cross_entropy(&habit.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        opt.step().unwrap();
        assert!(
            loss.is_realized(),
            "the loss is computed in the step's schedule"
        );
        assert_close(&[loss.item().unwrap()], &[loss_want], 1e-12);
        assert_close(&vals(&habit.weight.tensor()), &w_want, 1e-12);
        let bias = habit.bias.as_ref().unwrap().tensor();
        assert_close(&vals(&bias), &b_want, 1e-12);

        let loss = cross_entropy(&one_call.forward(&x).unwrap(), &y).unwrap();
        let loss = opt_one.backward_step(&loss).unwrap();
        assert_close(&[loss.item().unwrap()], &[loss_want], 1e-12);
        assert_close(&vals(&one_call.weight.tensor()), &w_want, 1e-12);
    }
}

/// `step` keeps the gradients (readable, realized) and a second `backward` adds to them, as in PyTorch;
/// `backward_step` after `backward` is an error instead of a silent double gradient.
#[test]
fn step_keeps_gradients_and_backward_step_refuses_stale_ones() {
    let d = dev();
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt = Optimizer::new(vec![p.clone()], SgdConfig::new(0.0));
    loss_of(&p, &d).backward().unwrap();
    opt.step().unwrap();
    let g = p.grad().expect("kept after step");
    assert!(g.is_realized(), "realized with the update");
    // g = a + w with a = [1, -2, 2], w = W0 (lr 0: w unchanged)
    let once = vals(&g);
    loss_of(&p, &d).backward().unwrap();
    let twice = vals(&p.grad().unwrap());
    assert_close(
        &twice,
        &once.iter().map(|v| 2.0 * v).collect::<Vec<_>>(),
        1e-12,
    );
    let e = opt.backward_step(&loss_of(&p, &d)).unwrap_err();
    assert!(e.to_string().contains("already has a gradient"), "{e}");
    opt.zero_grad();
    opt.backward_step(&loss_of(&p, &d)).unwrap();
    assert!(p.grad().is_none(), "backward_step drops its gradients");
}

/// Gradients from elsewhere (averaged across processes by data-parallel training) step the optimizer;
/// a count or shape mismatch is an error naming the parameter.
#[test]
fn apply_gradients_steps_with_given_gradients() {
    let d = dev();
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt = Optimizer::new(vec![p.clone()], SgdConfig::new(0.5));
    let g = t64(&[2.0, -2.0, 4.0], &[3], &d);
    opt.apply_gradients(&[Some(g)]).unwrap();
    let want: Vec<f64> = W0
        .iter()
        .zip([2.0, -2.0, 4.0])
        .map(|(w, g)| w - 0.5 * g)
        .collect();
    assert_close(&vals(&p.tensor()), &want, 1e-12);
    assert!(p.grad().is_none());
    assert!(opt.apply_gradients(&[]).is_err());
    let e = opt
        .apply_gradients(&[Some(t64(&[1.0], &[1], &d))])
        .unwrap_err();
    assert!(e.to_string().contains("parameter w"), "{e}");
}

/// Hyper-parameters PyTorch's constructors refuse are an error at the first step, before anything changes.
#[test]
fn invalid_hyper_parameters_are_refused() {
    let d = dev();
    let cases: Vec<(Box<dyn UpdateRule>, &str)> = vec![
        (Box::new(SgdConfig::new(-1.0)), "invalid learning rate: -1"),
        (
            Box::new(SgdConfig {
                nesterov: true,
                ..SgdConfig::new(0.1)
            }),
            "Nesterov momentum requires a momentum",
        ),
        (
            Box::new(AdamConfig {
                beta1: 1.0,
                ..Default::default()
            }),
            "invalid beta parameter at index 0: 1",
        ),
        (
            Box::new(AdamWConfig {
                eps: f64::NAN,
                ..Default::default()
            }),
            "invalid epsilon value",
        ),
    ];
    for (rule, message) in cases {
        let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
        let mut opt = Optimizer::new(vec![p.clone()], rule);
        let e = opt.backward_step(&loss_of(&p, &d)).unwrap_err();
        assert!(e.to_string().contains(message), "{e}");
        assert_eq!(vals(&p.tensor()), W0.to_vec(), "nothing changed");
        assert_eq!(opt.steps(), 0);
    }
    let p = Param::trainable("w", t64(&W0, &[3], &d)).unwrap();
    let mut opt = Optimizer::new(vec![p.clone()], SgdConfig::new(0.1));
    opt.set_lr(f64::INFINITY);
    assert!(opt.backward_step(&loss_of(&p, &d)).is_err());
}
