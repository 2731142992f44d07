//! The `regularization` example's parts (included with `#[path]`): the max-norm projection on exact
//! numbers, the early-stopping rule on a scripted loss sequence, the snapshot that restores parameters and
//! batch-norm buffers, and a short training run whose restored model must be the best epoch's.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/regularization/model.rs"]
#[allow(dead_code)]
mod model;
#[path = "../examples/regularization/train.rs"]
#[allow(dead_code)]
mod train;

use model::{apply_max_norm, max_row_norm, EarlyStopping, Mlp, Snapshot, Status};
use wgrad::data::Mnist;
use wgrad::nn::{cross_entropy, Forward, Module, Optimizer, Param, SgdConfig};
use wgrad::{DType, Device, Tensor};

fn own_cpu() -> Device {
    Device::new(wgrad::cpu::CpuBackend)
}

#[test]
fn max_norm_scales_long_rows_onto_the_ball_and_leaves_short_ones() {
    let dev = own_cpu();
    // rows of norm 5, 0.5, 0 and 2 (in 3-4-0, 0.3-0.4-0, 0-0-0, 0-0-2); bound c = 1
    let w = Tensor::from_vec(
        vec![
            3.0f32, 4.0, 0.0, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.0,
        ],
        [4, 3],
        &dev,
    )
    .expect("tensor");
    let p = Param::trainable("weight", w).expect("param");
    let clipped = apply_max_norm(std::slice::from_ref(&p), 1.0).expect("max-norm");
    assert_eq!(clipped, 2);
    let got = p.tensor().to_vec::<f32>().expect("values");
    let want = [
        0.6f32, 0.8, 0.0, 0.3, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
    assert!(
        p.tensor().requires_grad(),
        "the projected weight must stay trainable"
    );
    assert!((max_row_norm(&[p]).expect("norm") - 1.0).abs() < 1e-6);
}

#[test]
fn early_stopping_waits_for_patience_and_remembers_the_best_epoch() {
    let mut s = EarlyStopping::new(3, 0.01);
    let losses = [1.0, 0.8, 0.795, 0.7, 0.75, 0.72, 0.71];
    let got: Vec<Status> = losses
        .iter()
        .enumerate()
        .map(|(i, &l)| s.update(i + 1, l))
        .collect();
    // 0.795 is not better than 0.8 by more than min_delta; 0.71 is no improvement on 0.7
    assert_eq!(
        got,
        [
            Status::Improved,
            Status::Improved,
            Status::Waiting(1),
            Status::Improved,
            Status::Waiting(1),
            Status::Waiting(2),
            Status::Stop
        ]
    );
    assert_eq!(s.best(), Some((4, 0.7)));
}

#[test]
fn snapshot_restores_parameters_and_batch_norm_statistics() {
    let dev = own_cpu();
    dev.manual_seed(1);
    let model = Mlp::new(&[8], 0.0, true, &dev).expect("model");
    let values = |m: &Mlp| -> Vec<Vec<f32>> {
        m.state()
            .iter()
            .map(|(_, p)| {
                p.tensor()
                    .cast(DType::F32)
                    .and_then(|t| t.to_vec::<f32>())
                    .expect("value")
            })
            .collect()
    };
    let before = values(&model);
    let snapshot = Snapshot::take(&model);
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(0.5));
    let x = Tensor::randn([16, 784], DType::F32, &dev).expect("x");
    let y = Tensor::from_vec((0..16).map(|i| i % 10).collect::<Vec<i32>>(), [16], &dev).expect("y");
    for _ in 0..2 {
        let loss = cross_entropy(&model.forward(&x).expect("forward"), &y).expect("loss");
        opt.backward_step(&loss).expect("step");
    }
    let trained = values(&model);
    assert_ne!(before, trained, "training changed nothing");
    // the running mean (a buffer) moved too
    let names: Vec<String> = model.state().into_iter().map(|(n, _)| n).collect();
    let rm = names
        .iter()
        .position(|n| n.ends_with("running_mean"))
        .expect("batch norm");
    assert_ne!(before[rm], trained[rm]);
    snapshot.restore().expect("restore");
    assert_eq!(values(&model), before);
}

#[test]
fn regularized_mlp_stops_early_and_restores_its_best_epoch() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    let (train, _) = train.split_at(1500).expect("split");
    let (test, _) = test.split_at(500).expect("split");
    // small, fast, and impatient: stopping before max_epochs is near certain with patience 1
    let cfg = train::Config {
        hidden: vec![64, 32],
        max_norm: Some(0.5),
        max_epochs: 8,
        patience: 1,
        validation: 500,
        ..Default::default()
    };
    let o = train::run(&cfg, &train, &test, &dev).expect("run");
    let val: Vec<f64> = o.history.iter().map(|e| e.val_loss).collect();
    eprintln!(
        "validation losses {val:?}; best epoch {}, test accuracy {:.4}",
        o.best_epoch, o.test_accuracy
    );
    assert!(o.stopped_early, "ran all {} epochs", cfg.max_epochs);
    assert_eq!(o.last_epoch(), o.best_epoch + cfg.patience);
    // the restored model is the best epoch's: its validation loss, measured again, is the recorded minimum
    let min = val.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(val[o.best_epoch - 1] <= min + cfg.min_delta, "{val:?}");
    assert!(
        (o.restored_val_loss - o.best_val_loss).abs() < 1e-5,
        "restored model: validation loss {} where epoch {} had {}",
        o.restored_val_loss,
        o.best_epoch,
        o.best_val_loss
    );
    // the constraint held and was active
    let largest = max_row_norm(&o.model.hidden_weights()).expect("norm");
    assert!(largest <= 0.5 + 1e-5, "a hidden unit has norm {largest}");
    assert!(
        o.history.iter().any(|e| e.clipped > 0),
        "max-norm never bound"
    );
    assert!(o.test_accuracy > 0.8, "test accuracy {}", o.test_accuracy);
}
