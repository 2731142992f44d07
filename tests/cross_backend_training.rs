//! End to end across backends: five training steps of the example's MLP and CNN (dropout and batch norm
//! included) give the same parameters, buffers and optimizer state on the CPU reference and on wgpu.
//!
//! Both models start from the same weights (initialized on the CPU, copied to the GPU with
//! `Tensor::to_device`) and both devices' random streams are seeded alike, so the dropout masks match:
//! the Philox stream is bit-identical on every backend. What is left to differ is float rounding (summation
//! order in matmul, conv and reductions), which five steps must not amplify past `tolerance::TRAINING`.

mod common;

use common::mismatch;
use common::tolerance::TRAINING;
#[path = "../examples/mnist/models.rs"]
#[allow(dead_code)]
mod models;

use models::{batch_tensors, CnnConfig, MlpConfig, ModelConfig};
use wgrad::data::{Loader, LoaderConfig, Mnist};
use wgrad::nn::{
    cross_entropy, AdamConfig, AdamWConfig, Forward, Module, Optimizer, OptimizerState, Sequential,
    UpdateRule,
};
use wgrad::Device;

const STEPS: usize = 5;
const BATCH: usize = 16;
/// Fraction of a whole model's state (parameters, buffers, optimizer slots) that may differ past `TRAINING`
/// after `STEPS` steps (see `check`).
const FLIPS: f64 = 0.01;
/// How far such an element may differ: five steps of AdamW's default learning rate (1e-3).
const FLIP_BOUND: f64 = 5e-3;

/// A CPU device of this test's own: `wgrad::cpu_device()` is one per process, and tests running in parallel
/// threads would interleave their draws from its random stream.
fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

fn gpu() -> Option<Device> {
    wgrad::wgpu::testing::backend_or_skip().map(Device::new)
}

/// Every parameter, buffer and optimizer slot, by name, as f64.
fn snapshot(model: &Sequential, opt: &dyn OptimizerState) -> Vec<(String, Vec<f64>)> {
    let named = model.state();
    let mut out: Vec<(String, Vec<f64>)> = named
        .iter()
        .map(|(n, p)| (n.clone(), p.tensor().to_f64_vec().expect("readback")))
        .collect();
    for (p, slot, t) in opt.state_tensors() {
        let path = named
            .iter()
            .find(|(_, q)| q.same(&p))
            .map(|(n, _)| n.as_str());
        let name = format!("optim.{}.{slot}", path.unwrap_or("?"));
        out.push((name, t.to_f64_vec().expect("readback")));
    }
    out
}

/// `model` after `STEPS` steps with `rule` on the first bundled digits; returns its snapshot.
fn train<R: UpdateRule + Clone + 'static>(
    model: &Sequential,
    rule: &R,
    dev: &Device,
) -> Vec<(String, Vec<f64>)> {
    let (data, _) = Mnist::bundled_split().expect("bundled data");
    let cfg = LoaderConfig {
        batch_size: BATCH,
        seed: 3,
        ..Default::default()
    };
    let loader = Loader::new(&data, cfg).expect("loader");
    let mut opt = Optimizer::new(model.parameters(), rule.clone());
    dev.manual_seed(99);
    for batch in loader.epoch(0).take(STEPS) {
        let (x, y) = batch_tensors(&batch, dev).expect("batch");
        let loss = cross_entropy(&model.forward(&x).expect("forward"), &y).expect("loss");
        opt.zero_grad();
        loss.backward().expect("backward");
        opt.step().expect("step");
    }
    snapshot(model, &opt)
}

/// Builds `config` on the CPU (seeded), copies it into a model built on `gpu`, trains both, compares.
fn check<R: UpdateRule + Clone + 'static>(config: &ModelConfig, rule: R, gpu: &Device) {
    let cpu = own_cpu();
    cpu.manual_seed(7);
    let on_cpu = config.build(&cpu).expect("cpu model");
    let on_gpu = config.build(gpu).expect("gpu model");
    for ((name, a), (_, b)) in on_cpu.state().iter().zip(on_gpu.state()) {
        let copy = a.tensor().to_device(gpu).expect("copy");
        b.set(&copy).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let initial: Vec<Vec<f64>> = on_cpu
        .state()
        .iter()
        .map(|(_, p)| p.tensor().to_f64_vec().expect("readback"))
        .collect();
    let expected = train(&on_cpu, &rule, &cpu);
    let actual = train(&on_gpu, &rule, gpu);
    assert_eq!(expected.len(), actual.len());
    // How close the backends came, as a fraction of the tolerance (printed so a drift shows before it fails).
    let worst = expected
        .iter()
        .zip(&actual)
        .flat_map(|((_, e), (_, a))| e.iter().zip(a))
        .map(|(e, a)| (a - e).abs() / (TRAINING.atol + TRAINING.rtol * e.abs()))
        .fold(0.0, f64::max);
    eprintln!(
        "{}: worst difference {worst:.3} of the tolerance",
        config.kind()
    );
    // Elements outside the tolerance: a few are rounding crossing a decision, not a bug. A pre-activation
    // within ~1e-7 of zero is positive on one backend and negative on the other (or a max-pool window holds
    // two near-equal values), so one element's gradient passes on one side only and its channel's update
    // differs by up to a few learning rates. With ~80k pre-activations per CNN step that happens in about one
    // step in twenty. The flip reaches the gradients of that channel's weights, so a few dozen elements (and
    // their Adam moments) move by a fraction of the learning rate; a wrong kernel, mask or optimizer rule
    // moves far more than `FLIPS` of the state.
    let mut outside = Vec::new();
    for ((name, e), (_, a)) in expected.iter().zip(&actual) {
        assert_eq!(a.len(), e.len(), "{name}: lengths differ");
        for (i, (&av, &ev)) in a.iter().zip(e).enumerate() {
            if mismatch(&[av], &[ev], TRAINING.atol, TRAINING.rtol).is_some() {
                outside.push(format!("{name}[{i}]: wgpu {av} vs cpu {ev}"));
                assert!(
                    (av - ev).abs() <= FLIP_BOUND,
                    "{} {name}[{i}]: wgpu {av} vs cpu {ev} after {STEPS} steps",
                    config.kind()
                );
            }
        }
    }
    let total: usize = expected.iter().map(|(_, e)| e.len()).sum();
    assert!(
        outside.len() as f64 <= FLIPS * total as f64,
        "{}: {} of {total} elements outside the tolerance after {STEPS} steps:\n{}",
        config.kind(),
        outside.len(),
        outside.join("\n")
    );
    if !outside.is_empty() {
        eprintln!(
            "{}: {} of {total} elements accepted as decision flips",
            config.kind(),
            outside.len()
        );
    }
    // The steps did something: every trainable tensor moved away from its (shared) initial value.
    for (((_, p), init), (name, after)) in on_cpu.state().iter().zip(&initial).zip(&expected) {
        if p.is_trainable() {
            assert_ne!(init, after, "{name} did not change in {STEPS} steps");
        }
    }
}

/// A narrow MLP (dropout 0.3) under Adam.
#[test]
fn mlp_five_steps_match_across_backends() {
    let Some(gpu) = gpu() else { return };
    let config = ModelConfig::Mlp(MlpConfig {
        hidden: vec![64, 32],
        ..Default::default()
    });
    check(&config, AdamConfig::default(), &gpu);
}

/// A narrow CNN (three conv + batch norm blocks, dropout) under AdamW. (It works because the convolutions
/// have no bias: a bias right before batch norm gets a gradient that is zero up to rounding, and Adam's
/// first step moves a weight by ±lr whatever its gradient's size, so rounding noise would become a
/// difference of 2·lr between backends.)
#[test]
fn cnn_five_steps_match_across_backends() {
    let Some(gpu) = gpu() else { return };
    let config = ModelConfig::Cnn(CnnConfig {
        channels: [4, 8, 8],
        fc: 16,
        ..Default::default()
    });
    check(&config, AdamWConfig::default(), &gpu);
}
