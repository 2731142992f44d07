//! The `mnist` example's path in miniature, on real digits: a shortened training run must reach a known
//! accuracy on both backends, and a checkpoint of the trained model must predict exactly like the model.
//!
//! Shortened so that CI can afford it on a 2-core software adapter: a one-hidden-layer MLP (784-128-10,
//! dropout 0.1) trained for 2 epochs on the first 2,000 bundled training digits, evaluated on the 2,000 test
//! digits. PyTorch reaches about 90% with this recipe; the test asks for 85%, which a broken gradient,
//! optimizer, loader or evaluation cannot reach (chance is 10%) but every sane seed does.

use wgrad::data::{Loader, LoaderConfig, Mnist};
#[path = "../examples/mnist/models.rs"]
#[allow(dead_code)]
mod models;

use models::{batch_tensors, predict, MlpConfig, ModelConfig};
use wgrad::nn::{
    accuracy, checkpoint, cross_entropy, AdamConfig, Forward, LrSchedule, Module, OneCycleLr,
    Optimizer, Sequential,
};
use wgrad::Device;

const TRAIN_IMAGES: usize = 2_000;
const EPOCHS: usize = 2;
const TARGET: f64 = 0.85;

/// A CPU device of this test's own: `wgrad::cpu_device()` is one per process, and tests running in parallel
/// threads would interleave their draws from its random stream.
fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

fn small_mlp() -> ModelConfig {
    ModelConfig::Mlp(MlpConfig {
        hidden: vec![128],
        dropout: 0.1,
        ..Default::default()
    })
}

/// Trains `config` as the example does (Adam, one-cycle LR peaking at 5e-3, batch 64); returns the model.
fn train(config: &ModelConfig, train: &Mnist, dev: &Device) -> Sequential {
    dev.manual_seed(0);
    let model = config.build(dev).expect("model");
    let cfg = LoaderConfig {
        batch_size: 64,
        ..Default::default()
    };
    let loader = Loader::new(train, cfg).expect("loader");
    let schedule = OneCycleLr::new(5e-3, EPOCHS * loader.len());
    let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
    let mut step = 0;
    for epoch in 0..EPOCHS {
        for batch in loader.epoch(epoch) {
            let (x, y) = batch_tensors(&batch, dev).expect("batch");
            let loss = cross_entropy(&model.forward(&x).expect("forward"), &y).expect("loss");
            opt.set_lr(schedule.lr(step));
            let loss = opt
                .backward_step(&loss)
                .expect("step")
                .item()
                .expect("loss value");
            assert!(loss.is_finite(), "loss {loss} at step {step}");
            step += 1;
        }
    }
    model
}

fn data() -> (Mnist, Mnist) {
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    let (train, _) = train.split_at(TRAIN_IMAGES).expect("split");
    (train, test)
}

/// Trains on `dev`, checks the test accuracy, and returns the model with its test predictions.
fn reaches_target(dev: &Device) -> (Sequential, Vec<i32>) {
    let (train_set, test_set) = data();
    let mut model = train(&small_mlp(), &train_set, dev);
    let (predicted, actual) = predict(&mut model, &test_set, 500, dev).expect("predict");
    let acc = accuracy(&predicted, &actual).expect("accuracy");
    eprintln!("{}: test accuracy {:.2}%", dev.name(), 100.0 * acc);
    assert!(
        acc >= TARGET,
        "{}: test accuracy {acc} < {TARGET} after {EPOCHS} epochs on {TRAIN_IMAGES} images",
        dev.name()
    );
    (model, predicted)
}

#[test]
fn mlp_reaches_target_on_cpu_and_checkpoint_predicts_the_same() {
    let dev = own_cpu();
    let (model, predicted) = reaches_target(&dev);
    let config = small_mlp();
    let path = std::env::temp_dir().join(format!(
        "wgrad-mnist-test-{}.safetensors",
        std::process::id()
    ));
    checkpoint::save(&path, &model, None, &config).expect("save");
    let loaded: ModelConfig = checkpoint::load_config(&path).expect("config");
    assert_eq!(loaded, config);
    dev.manual_seed(123);
    let mut restored = loaded.build(&dev).expect("model");
    checkpoint::load(&path, &restored, None).expect("load");
    std::fs::remove_file(&path).expect("remove checkpoint");
    let (_, test_set) = data();
    let (again, _) = predict(&mut restored, &test_set, 500, &dev).expect("predict");
    assert_eq!(again, predicted, "restored model predicts differently");
}

#[test]
fn mlp_reaches_target_on_wgpu() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    reaches_target(&Device::new(backend));
}
