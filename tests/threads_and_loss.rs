//! One GPU from several threads, and a GPU that is gone.
//!
//! - Four threads training their own small models on one wgpu device (each its own `Device` handle, so its
//!   own random stream) end with the parameters the same four runs give one after another.
//! - After `wgpu::Device::destroy()` every call returns `Error::DeviceLost`; none panics.
//!
//! GPU tests: with CI=true and no adapter they fail (`backend_or_skip`).

use std::sync::Arc;

use wgrad::graph::Backend;
use wgrad::nn::{
    cross_entropy, Activation, AdamConfig, Dropout, Forward, LinearConfig, Module, Optimizer,
    Sequential,
};
use wgrad::{DType, Device, Error, Tensor};

/// 20 Adam steps of a small MLP with dropout, everything drawn from `seed`; the final parameters.
fn train(backend: Arc<dyn Backend>, seed: u64) -> Vec<Vec<f32>> {
    let dev = Device::from_arc(backend);
    dev.manual_seed(seed);
    let model = Sequential::new()
        .add(LinearConfig::new(12, 32).init(&dev).unwrap())
        .add(Activation::Relu)
        .add(Dropout::new(0.2).unwrap())
        .add(LinearConfig::new(32, 4).init(&dev).unwrap());
    let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
    let x = Tensor::randn([16, 12], DType::F32, &dev).unwrap();
    let y = Tensor::from_vec((0..16).map(|i| i % 4).collect::<Vec<i32>>(), [16], &dev).unwrap();
    for _ in 0..20 {
        let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
        opt.backward_step(&loss).unwrap();
    }
    model
        .parameters()
        .iter()
        .map(|p| p.tensor().to_vec::<f32>().unwrap())
        .collect()
}

#[test]
fn four_threads_train_as_if_one_after_another() {
    let Some(gpu) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let backend: Arc<dyn Backend> = Arc::new(gpu);
    let seeds = [1u64, 2, 3, 4];
    let sequential: Vec<_> = seeds.iter().map(|&s| train(backend.clone(), s)).collect();
    let handles: Vec<_> = seeds
        .iter()
        .map(|&s| {
            let b = backend.clone();
            std::thread::spawn(move || train(b, s))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let parallel = h.join().expect("the thread trained without panicking");
        assert_eq!(
            parallel, sequential[i],
            "seed {}: parameters differ",
            seeds[i]
        );
    }
    assert_ne!(
        sequential[0], sequential[1],
        "the seeds give different models"
    );
}

#[test]
fn a_destroyed_device_is_device_lost_everywhere() {
    let Some(gpu) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(gpu.clone());
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0], [3], &dev).unwrap();
    let y = x.mul(2.0).unwrap();
    y.realize().unwrap();
    gpu.engine().gpu.device.destroy();
    let lost = |r: wgrad::Result<()>, what: &str| match r {
        Err(Error::DeviceLost(msg)) => assert!(!msg.is_empty(), "{what}"),
        other => panic!("{what}: expected DeviceLost, got {other:?}"),
    };
    lost(y.to_vec::<f32>().map(drop), "download of a realized tensor");
    lost(x.add(1.0).and_then(|z| z.realize().map(drop)), "execute");
    lost(
        Tensor::from_vec(vec![1.0f32], [1], &dev).map(drop),
        "upload",
    );
    lost(
        pollster::block_on(y.to_vec_async::<f32>()).map(drop),
        "async download",
    );
    // still an error, not a panic, the second time
    lost(y.to_vec::<f32>().map(drop), "download again");
}
