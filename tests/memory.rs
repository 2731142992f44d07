//! Memory stays bounded on the GPU: a long training loop reaches a steady state (no buffer created, no
//! bytes or bind groups added after warm-up, read from the pool's own counters), shapes a loop stops using
//! are freed, a cap is honoured, and `empty_cache` releases what is cached.
//!
//! GPU tests: with CI=true and no adapter they fail (`backend_or_skip`).

use wgrad::nn::{
    cross_entropy, Activation, Conv2dConfig, Flatten, Forward, LinearConfig, MaxPool2d, Module,
    Optimizer, Sequential, SgdConfig,
};
use wgrad::wgpu::engine::Memory;
use wgrad::wgpu::{Options, WgpuBackend};
use wgrad::{DType, Device, Tensor};

fn backend(options: Options) -> Option<WgpuBackend> {
    wgrad::wgpu::testing::backend_or_skip()?;
    Some(WgpuBackend::with_options(&options).expect("the adapter again"))
}

fn memory(b: &WgpuBackend) -> Memory {
    b.engine().memory()
}

/// `steps` training steps of `model` on random data of `shape` with `classes` labels; returns the memory
/// counters after `warmup` steps and at the end.
fn train(
    model: &Sequential,
    dev: &Device,
    b: &WgpuBackend,
    (shape, classes): (&[usize], usize),
    (warmup, steps): (usize, usize),
) -> (Memory, Memory) {
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(0.01));
    let x = Tensor::randn(shape.to_vec(), DType::F32, dev).unwrap();
    let labels: Vec<i32> = (0..shape[0]).map(|i| (i % classes) as i32).collect();
    let y = Tensor::from_vec(labels, [shape[0]], dev).unwrap();
    let mut after_warmup = None;
    for step in 0..steps {
        {
            // the step's graph is dropped at the end of this block, before the counters are read
            let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
            let loss = opt.backward_step(&loss).unwrap().item().unwrap();
            assert!(loss.is_finite());
        }
        if step + 1 == warmup {
            after_warmup = Some(memory(b));
        }
    }
    (after_warmup.expect("warmup < steps"), memory(b))
}

#[track_caller]
fn assert_steady(what: &str, warm: Memory, end: Memory) {
    assert_eq!(
        end.pool.created, warm.pool.created,
        "{what}: buffers created after warm-up"
    );
    // held bytes may only shrink (a warm-up-only buffer aging out)
    let (held_end, held_warm) = (
        end.pool.live_bytes + end.pool.cached_bytes,
        warm.pool.live_bytes + warm.pool.cached_bytes,
    );
    assert!(
        held_end <= held_warm,
        "{what}: bytes held grew: {held_warm} -> {held_end}"
    );
    assert_eq!(
        end.pool.live_bytes, warm.pool.live_bytes,
        "{what}: live bytes changed"
    );
    assert!(
        end.bind_groups <= warm.bind_groups,
        "{what}: bind groups grew"
    );
    assert!(
        end.pool.reused > warm.pool.reused,
        "{what}: buffers were reused"
    );
}

/// W2 (MLP 784-512-512-10, batch 128, SGD) for 1,000 steps.
#[test]
fn a_long_mlp_training_loop_reaches_a_steady_state() {
    let Some(b) = backend(Options::default()) else {
        return;
    };
    let dev = Device::new(b.clone());
    dev.manual_seed(0);
    let model = Sequential::new()
        .add(LinearConfig::new(784, 512).init(&dev).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(512, 512).init(&dev).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(512, 10).init(&dev).unwrap());
    let (warm, end) = train(&model, &dev, &b, (&[128, 784], 10), (50, 1000));
    assert_steady("W2", warm, end);
}

/// W3's CNN at reduced size (8 and 16 channels, batch 16) for 120 steps.
#[test]
fn a_long_cnn_training_loop_reaches_a_steady_state() {
    let Some(b) = backend(Options::default()) else {
        return;
    };
    let dev = Device::new(b.clone());
    dev.manual_seed(0);
    let model = Sequential::new()
        .add(Conv2dConfig::new(1, 8, 3).init(&dev).unwrap())
        .add(Activation::Relu)
        .add(Conv2dConfig::new(8, 16, 3).init(&dev).unwrap())
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(LinearConfig::new(16 * 12 * 12, 32).init(&dev).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(32, 10).init(&dev).unwrap());
    let (warm, end) = train(&model, &dev, &b, (&[16, 1, 28, 28], 10), (30, 120));
    assert_steady("W3 reduced", warm, end);
}

/// Shapes a loop stops using are freed after a while (aging), a cap bounds the cache at every moment, and
/// `empty_cache` frees everything cached.
#[test]
fn unused_shapes_age_out_and_a_cap_holds() {
    let cap = 4 << 20;
    let Some(b) = backend(Options {
        pool_max: Some(cap),
        ..Default::default()
    }) else {
        return;
    };
    let dev = Device::new(b.clone());
    let lin = LinearConfig::new(64, 256).init(&dev).unwrap();
    // 150 batch sizes, each used once: every output shape is new
    for n in 1..150 {
        let x = Tensor::ones([n * 7, 64], DType::F32, &dev);
        lin.forward(&x)
            .unwrap()
            .relu()
            .unwrap()
            .sum_all()
            .unwrap()
            .item()
            .unwrap();
        assert!(
            memory(&b).pool.cached_bytes <= cap,
            "over the cap after batch {n}"
        );
    }
    assert!(memory(&b).pool.evicted > 0, "the cap evicted buffers");
    // without a cap, aging alone frees them: a fixed shape for a while, then nothing old is left
    b.set_pool_max(None);
    for n in 1..100 {
        let x = Tensor::ones([n * 5 + 1, 64], DType::F32, &dev);
        lin.forward(&x).unwrap().sum_all().unwrap().item().unwrap();
    }
    let x = Tensor::ones([8, 64], DType::F32, &dev);
    for _ in 0..2 * wgrad::wgpu::free_list::MAX_AGE {
        lin.forward(&x).unwrap().sum_all().unwrap().item().unwrap();
    }
    let steady = memory(&b).pool.cached_bytes;
    assert!(
        steady < 1 << 20,
        "old shapes aged out: {steady} bytes cached"
    );
    // user-facing counters, and empty_cache
    let m = dev.memory();
    assert!(m.allocated > 0 && m.reserved >= m.allocated && m.peak_reserved >= m.reserved);
    assert!(m.peak_allocated >= m.allocated);
    // the peak starts over from what is allocated now, and a larger temporary raises it by its bytes
    dev.reset_peak_memory_stats();
    let before = dev.memory();
    assert_eq!(before.peak_allocated, before.allocated);
    let big = Tensor::ones([1 << 18], DType::F32, &dev);
    (&big * 2.0).unwrap().sum_all().unwrap().item().unwrap();
    drop(big);
    let raised = dev.memory().peak_allocated - before.allocated;
    assert!(
        raised >= 2 << 20,
        "{raised} bytes: two 1 MiB buffers alive at once"
    );
    dev.empty_cache();
    let after = memory(&b);
    assert_eq!(
        (
            after.pool.cached_bytes,
            after.texture_bytes,
            after.bind_groups
        ),
        (0, 0, 0)
    );
    // still works afterwards
    assert_eq!(
        Tensor::ones([3], DType::F32, &dev)
            .sum_all()
            .unwrap()
            .item()
            .unwrap(),
        3.0
    );
}

#[test]
fn the_pool_cap_reads_wgrad_pool_max() {
    use wgrad::wgpu::device::parse_bytes;
    assert_eq!(parse_bytes("1000"), Some(1000));
    assert_eq!(parse_bytes("64K"), Some(64 << 10));
    assert_eq!(parse_bytes("512m"), Some(512 << 20));
    assert_eq!(parse_bytes("2G"), Some(2 << 30));
    assert_eq!(parse_bytes("lots"), None);
    assert_eq!(parse_bytes("5T"), None);
}
