//! Elementwise fusion (`wgrad::graph::fuse`): which steps merge, and that merging changes no value.
//!
//! `Recording` wraps a backend and remembers the steps of every schedule it runs. Over the CPU reference it
//! switches fusion on: its fused steps run node by node through the CPU's own kernels (the default
//! `Kernels::fused`), so every value must equal the unfused CPU's bit for bit, while the recorded schedules
//! show what was merged. Over the GPU the same graphs run as generated kernels and must match the CPU within
//! the f32 tolerance, and the recorded schedules must show that they were fused there too.

mod common;

use std::sync::{Arc, Mutex};

use common::mismatch;
use common::tolerance::{gradient, TRAINING};
use wgrad::graph::fuse::MAX_LEAVES;
use wgrad::graph::{Backend, Buffer, DType, Kernel, Meta, Op, Schedule, View};
use wgrad::nn::{
    cross_entropy, Activation, AdamConfig, Forward, LinearConfig, Module, Optimizer, Sequential,
};
use wgrad::{Device, Result, Tensor};

/// A backend that remembers the steps of every schedule it ran; fusion on over the CPU, as the inner
/// backend decides over the GPU.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn Backend>,
    fuse: bool,
    runs: Mutex<Vec<Vec<Kernel>>>,
}

impl Backend for Recording {
    fn name(&self) -> String {
        format!("{} (recording)", self.inner.name())
    }
    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer> {
        self.inner.upload(bytes, meta)
    }
    fn download(&self, view: &View) -> Result<Vec<u8>> {
        self.inner.download(view)
    }
    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>> {
        let ops = schedule.steps.iter().map(|s| s.kernel.clone()).collect();
        self.runs.lock().expect("not poisoned").push(ops);
        self.inner.execute(schedule)
    }
    fn supports(&self, dtype: DType) -> bool {
        self.inner.supports(dtype)
    }
    fn fuses_elementwise(&self) -> bool {
        self.fuse
    }
}

impl Recording {
    /// Fused steps over every schedule run so far.
    fn fused_steps(&self) -> usize {
        let runs = self.runs.lock().expect("not poisoned");
        runs.iter()
            .flatten()
            .filter(|op| matches!(op, Kernel::Fused(_)))
            .count()
    }

    /// The last schedule's steps: (fused steps, ops inside them, other steps).
    fn last_run(&self) -> (usize, usize, usize) {
        let runs = self.runs.lock().expect("not poisoned");
        let ops = runs.last().expect("a schedule ran");
        let fused: Vec<usize> = ops
            .iter()
            .filter_map(|op| match op {
                Kernel::Fused(e) => Some(e.ops()),
                _ => None,
            })
            .collect();
        (fused.len(), fused.iter().sum(), ops.len() - fused.len())
    }
}

fn recording(inner: Arc<dyn Backend>, fuse: bool) -> (Device, Arc<Recording>) {
    let backend = Arc::new(Recording {
        inner,
        fuse,
        runs: Mutex::new(Vec::new()),
    });
    (Device::from_arc(backend.clone()), backend)
}

/// The CPU reference with fusion on.
fn fusing() -> (Device, Arc<Recording>) {
    recording(Arc::new(wgrad::cpu::CpuBackend), true)
}

/// The GPU (fusing as it does by default), recorded; `None` with a loud skip where there is no adapter.
fn recorded_gpu() -> Option<(Device, Arc<Recording>)> {
    let gpu = wgrad::wgpu::testing::backend_or_skip()?;
    assert!(gpu.fuses_elementwise(), "the GPU fuses (WGRAD_FUSION=0?)");
    Some(recording(Arc::new(gpu), true))
}

fn randn(shape: &[usize], seed: u64, dev: &Device) -> Tensor {
    Tensor::randn_seeded(shape.to_vec(), seed, DType::F32, dev).expect("randn")
}

/// `f` on a fusing CPU device and on the plain CPU: equal bits; returns the fusing backend's counts.
fn same_on_both(f: impl Fn(&Device) -> Vec<Tensor>) -> (usize, usize, usize) {
    let (dev, backend) = fusing();
    let plain = Device::new(wgrad::cpu::CpuBackend);
    let got = f(&dev);
    wgrad::realize(&got.iter().collect::<Vec<_>>()).expect("fused realize");
    let counts = backend.last_run();
    let want = f(&plain);
    for (g, w) in got.iter().zip(&want) {
        let (g, w) = (g.to_f64_vec().expect("read"), w.to_f64_vec().expect("read"));
        assert_eq!(g.len(), w.len());
        for (i, (a, b)) in g.iter().zip(&w).enumerate() {
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{i}: {a} vs {b}"
            );
        }
    }
    counts
}

#[test]
fn a_chain_with_broadcast_leaves_becomes_one_step() {
    // relu(x · 2 + b) - 1 with b broadcast over rows: four ops, one step
    let counts = same_on_both(|dev| {
        let x = randn(&[17, 33], 1, dev);
        let b = randn(&[33], 2, dev);
        let y = ((x * 2.0).unwrap() + &b).unwrap().relu().unwrap();
        vec![(y - 1.0).unwrap()]
    });
    assert_eq!(counts.0, 1, "{counts:?}");
    assert_eq!(counts.1, 4, "{counts:?}");
}

#[test]
fn shared_values_outputs_and_reordered_reads_stay_steps() {
    // e = exp(x) read three times by one chain: inlined everywhere, and computed once in it
    let (fused, ops, other) = same_on_both(|dev| {
        let e = randn(&[5, 7], 3, dev).exp().unwrap();
        vec![((&e * &e).unwrap() + &e).unwrap().neg().unwrap()]
    });
    assert_eq!(
        (fused, ops, other),
        (1, 4, 1),
        "exp, mul, add, neg; the randn"
    );
    // read four times (more than MAX_SHARED_READERS): e stays a step, the expression over it fuses
    let (fused, ops, other) = same_on_both(|dev| {
        let e = randn(&[5, 7], 3, dev).exp().unwrap();
        vec![((&e * &e).unwrap() + (&e * &e).unwrap()).unwrap()]
    });
    assert_eq!(
        (fused, ops, other),
        (1, 2, 2),
        "one mul (both e·e are the same), add; the randn and exp"
    );
    // a requested intermediate is computed on its own
    let (fused, _, other) = same_on_both(|dev| {
        let a = (randn(&[9], 4, dev) + 1.0).unwrap();
        let b = a.sigmoid().unwrap().sqrt().unwrap();
        vec![a, b]
    });
    assert_eq!(fused, 1, "b = sqrt(sigmoid(a)) fuses");
    assert!(other >= 2, "a, and the constant, are their own steps");
    // a transposed read needs the producer's values at other positions
    let (fused, _, _) = same_on_both(|dev| {
        let t = (randn(&[4, 6], 5, dev) + 1.0)
            .unwrap()
            .transpose(0, 1)
            .unwrap();
        vec![(t * 3.0).unwrap()]
    });
    assert_eq!(fused, 0);
}

/// `exp(s)` is inlined into the product, which runs after `sum(s)`, the step that used to read `s` last:
/// `s` must stay alive until the fused step.
#[test]
fn inlining_moves_reads_past_the_old_last_reader() {
    let (fused, _, _) = same_on_both(|dev| {
        let s = (randn(&[6, 5], 8, dev) + 1.0).unwrap();
        let total = s.sum_all().unwrap();
        vec![s.exp().unwrap().mul(&total).unwrap()]
    });
    assert_eq!(fused, 1);
}

/// A bias add read by ReLU and by ReLU's backward is recomputed in both fused kernels, so no step computes
/// it alone.
#[test]
fn a_value_with_few_fusible_readers_is_recomputed_in_each() {
    let (dev, backend) = fusing();
    let x = randn(&[4, 3], 10, &dev);
    let b = randn(&[3], 11, &dev);
    let g = randn(&[4, 3], 12, &dev);
    let relu_and_backward = |x: &Tensor, b: &Tensor, g: &Tensor| {
        let z = (x + b).unwrap();
        let dz = z.gt(0.0).unwrap().where_(g, 0.0).unwrap();
        [z.relu().unwrap(), dz]
    };
    let [y, dz] = relu_and_backward(&x, &b, &g);
    wgrad::realize(&[&y, &dz]).unwrap();
    let ops = backend.runs.lock().unwrap().last().unwrap().clone();
    assert!(
        !ops.iter().any(|op| matches!(op, Kernel::Op(Op::Binary(_)))),
        "the add runs only inside fused steps: {ops:?}"
    );
    assert_eq!(
        ops.iter()
            .filter(|op| matches!(op, Kernel::Fused(_)))
            .count(),
        2
    );
    let plain = Device::new(wgrad::cpu::CpuBackend);
    let p = |seed, shape: &[usize]| randn(shape, seed, &plain);
    let [y2, dz2] = relu_and_backward(&p(10, &[4, 3]), &p(11, &[3]), &p(12, &[4, 3]));
    assert_eq!(y.to_vec::<f32>().unwrap(), y2.to_vec::<f32>().unwrap());
    assert_eq!(dz.to_vec::<f32>().unwrap(), dz2.to_vec::<f32>().unwrap());
}

#[test]
fn relu_backward_and_where_fuse() {
    let (fused, ops, _) = same_on_both(|dev| {
        let x = randn(&[31, 3], 6, dev);
        let g = randn(&[31, 3], 7, dev);
        let mask = x.gt(0.0).unwrap();
        vec![mask.where_(&g, 0.0).unwrap().mul(0.5).unwrap()]
    });
    assert_eq!(fused, 1);
    assert!(ops >= 3, "{ops}");
}

#[test]
fn fused_steps_read_at_most_max_leaves() {
    let (dev, backend) = fusing();
    let xs: Vec<Tensor> = (0..2 * MAX_LEAVES as u64)
        .map(|i| randn(&[8], i, &dev))
        .collect();
    let mut sum = xs[0].clone();
    for x in &xs[1..] {
        sum = (&sum + x).unwrap();
    }
    let plain = Device::new(wgrad::cpu::CpuBackend);
    let ys: Vec<Tensor> = (0..2 * MAX_LEAVES as u64)
        .map(|i| randn(&[8], i, &plain))
        .collect();
    let mut reference = ys[0].clone();
    for y in &ys[1..] {
        reference = (&reference + y).unwrap();
    }
    assert_eq!(
        sum.to_vec::<f32>().unwrap(),
        reference.to_vec::<f32>().unwrap()
    );
    let runs = backend.runs.lock().unwrap();
    let leaves: Vec<usize> = runs
        .last()
        .unwrap()
        .iter()
        .filter_map(|op| match op {
            Kernel::Fused(e) => Some(
                e.nodes
                    .iter()
                    .filter(|(n, _)| matches!(n, wgrad::graph::Node::Leaf(_)))
                    .count(),
            ),
            _ => None,
        })
        .collect();
    // 2·MAX_LEAVES inputs: at least two fused steps, none over the limit
    assert!(leaves.len() >= 2, "{leaves:?}");
    assert!(leaves.iter().all(|&n| n <= MAX_LEAVES), "{leaves:?}");
}

/// Three Adam steps of a small MLP: fused schedules give the unfused parameters bit for bit on the CPU,
/// and the GPU's generated kernels match them within the training tolerance.
#[test]
fn training_steps_are_unchanged_by_fusion() {
    let run = |dev: &Device| -> Vec<Vec<f64>> {
        dev.manual_seed(5);
        let model = Sequential::new()
            .add(LinearConfig::new(12, 16).init(dev).unwrap())
            .add(Activation::Relu)
            .add(LinearConfig::new(16, 3).init(dev).unwrap());
        let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
        let x = randn(&[8, 12], 9, dev);
        let y = Tensor::from_vec(vec![0i32, 1, 2, 1, 0, 2, 2, 1], [8], dev).unwrap();
        for _ in 0..3 {
            let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
            opt.backward_step(&loss).unwrap();
        }
        model
            .parameters()
            .iter()
            .map(|p| p.tensor().to_f64_vec().unwrap())
            .collect()
    };
    let (dev, backend) = fusing();
    let fused = run(&dev);
    let plain = run(&Device::new(wgrad::cpu::CpuBackend));
    assert_eq!(fused, plain);
    let merged = backend.fused_steps();
    assert!(
        merged >= 3,
        "the optimizer steps fuse ({merged} fused steps)"
    );
    if let Some((gpu, recorded)) = recorded_gpu() {
        let got = run(&gpu);
        let on_gpu = recorded.fused_steps();
        assert!(
            on_gpu >= 3,
            "the optimizer steps fuse on the GPU ({on_gpu} fused steps)"
        );
        assert_eq!(got.len(), plain.len());
        for (g, w) in got.iter().zip(&plain) {
            let bad = mismatch(g, w, TRAINING.atol, TRAINING.rtol);
            assert!(bad.is_none(), "gpu vs cpu: {bad:?}");
        }
    }
}

/// Every unary and binary op inside one fused expression: the GPU's generated kernel matches the CPU (and
/// the fusing CPU matches the plain one bit for bit).
#[test]
fn every_op_fuses_and_matches() {
    let expression = |dev: &Device| -> Vec<Tensor> {
        // positive inputs keep log, sqrt, rsqrt and pow defined
        let x = (Tensor::rand_seeded([7, 19], 21, DType::F32, dev).unwrap() + 0.5).unwrap();
        let z = (Tensor::rand_seeded([19], 22, DType::F32, dev).unwrap() + 0.25).unwrap();
        let unary = [
            x.neg(),
            x.exp(),
            x.log(),
            x.sqrt(),
            x.rsqrt(),
            x.recip(),
            x.abs(),
            x.sign(),
            x.sin(),
            x.cos(),
            x.tanh(),
            x.sigmoid(),
            (&x - 1.0).unwrap().relu(),
        ];
        let mut sum = x.pow(&z).unwrap();
        for u in unary {
            sum = (&sum + &u.unwrap()).unwrap();
        }
        let mixed = (x.maximum(&z).unwrap() - x.minimum(&z).unwrap()).unwrap();
        let scaled = (&mixed * 3.0).unwrap().div(&x).unwrap();
        let picked = x.lt(&z).unwrap().where_(&scaled, &sum).unwrap();
        let picked = x.le(0.9).unwrap().where_(&picked, 2.0).unwrap();
        vec![x.eq(&x).unwrap().where_(&picked, -1.0).unwrap()]
    };
    let (fused, ops, _) = same_on_both(expression);
    assert!(
        fused >= 1 && ops >= 30,
        "{fused} fused steps with {ops} ops"
    );
    if let Some((gpu, recorded)) = recorded_gpu() {
        let got = expression(&gpu)[0].to_vec::<f32>().unwrap();
        let (fused, ops, _) = recorded.last_run();
        assert!(
            fused >= 1 && ops >= 30,
            "on the GPU: {fused} fused steps with {ops} ops"
        );
        let want = expression(&Device::new(wgrad::cpu::CpuBackend))[0]
            .to_vec::<f32>()
            .unwrap();
        // a chain of ops, like a gradient: the chained f32 tolerance
        let tol = gradient(DType::F32);
        let to_f64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        let bad = mismatch(&to_f64(got), &to_f64(want), tol.atol, tol.rtol);
        assert!(bad.is_none(), "gpu vs cpu: {bad:?}");
    }
}

/// The gradient of a weight used transposed (`Linear`'s `x·Wᵀ`) is computed as `gᵀ·x` in the weight's own
/// layout, not left as a transposed view of `xᵀ·g` that the optimizer step would read column-wise; the
/// values are those of the view.
#[test]
fn a_transposed_weight_gets_its_gradient_in_its_own_layout() {
    let dev = Device::new(wgrad::cpu::CpuBackend);
    let x = randn(&[5, 3], 1, &dev);
    let w = randn(&[4, 3], 2, &dev).with_grad().unwrap();
    let y = x.matmul(&w.t().unwrap()).unwrap();
    y.mul(&y).unwrap().sum_all().unwrap().backward().unwrap();
    let g = w.grad().expect("a gradient");
    assert!(!matches!(g.op(), Op::Permute(_)), "{:?}", g.op());
    let want = (&y.t().unwrap().matmul(&x).unwrap() * 2.0).unwrap();
    let (g, want) = (g.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
    for (i, (a, b)) in g.iter().zip(&want).enumerate() {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{i}: {a} vs {b}");
    }
}
