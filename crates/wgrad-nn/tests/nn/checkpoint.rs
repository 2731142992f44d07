//! Checkpoints: roundtrip of parameters, buffers and optimizer state; mismatch and corruption errors.

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Device, Error, Tensor};
use wgrad_nn::*;

use crate::{dev, vals};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct MlpConfig {
    d_in: usize,
    hidden: usize,
    classes: usize,
}

fn mlp(c: &MlpConfig, d: &Device) -> Sequential {
    Sequential::new()
        .add(LinearConfig::new(c.d_in, c.hidden).init(d).unwrap())
        .add(BatchNormConfig::new(c.hidden).init_1d(d).unwrap())
        .add(Activation::Relu)
        .add(LinearConfig::new(c.hidden, c.classes).init(d).unwrap())
}

fn train(model: &Sequential, opt: &mut Optimizer, d: &Device, steps: usize) {
    let x = Tensor::randn_seeded([6, 3], 11, DType::F32, d).unwrap();
    let y = Tensor::from_vec(vec![0i32, 1, 0, 1, 1, 0], [6], d).unwrap();
    for _ in 0..steps {
        let loss = cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
        opt.backward_step(&loss).unwrap();
    }
}

fn snapshot(model: &dyn Module, opt: &dyn OptimizerState) -> Vec<Vec<f64>> {
    let mut out: Vec<Vec<f64>> = model
        .parameters()
        .iter()
        .map(|p| vals(&p.tensor()))
        .collect();
    out.extend(opt.state_tensors().iter().map(|(_, _, t)| vals(t)));
    out
}

#[test]
fn checkpoint_roundtrip_restores_params_state_and_config() {
    let d = dev();
    let cfg = MlpConfig {
        d_in: 3,
        hidden: 5,
        classes: 2,
    };
    d.manual_seed(1);
    let a = mlp(&cfg, &d);
    let mut opt_a = Optimizer::new(a.parameters(), AdamConfig::default());
    train(&a, &mut opt_a, &d, 2);
    let dir = std::env::temp_dir().join(format!("wgrad-nn-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mlp.safetensors");
    checkpoint::save(&path, &a, Some(&opt_a), &cfg).unwrap();

    let cfg_b: MlpConfig = checkpoint::load_config(&path).unwrap();
    assert_eq!(cfg_b, cfg);
    d.manual_seed(2);
    let b = mlp(&cfg_b, &d);
    let mut opt_b = Optimizer::new(b.parameters(), AdamConfig::default());
    assert_ne!(snapshot(&a, &opt_a)[0], snapshot(&b, &opt_b)[0]);
    checkpoint::load(&path, &b, Some(&mut opt_b)).unwrap();
    assert_eq!(snapshot(&a, &opt_a), snapshot(&b, &opt_b));
    assert_eq!(opt_b.steps(), 2);
    // The restored pair continues exactly like the original.
    train(&a, &mut opt_a, &d, 1);
    train(&b, &mut opt_b, &d, 1);
    assert_eq!(snapshot(&a, &opt_a), snapshot(&b, &opt_b));

    let names: Vec<String> = safetensors::SafeTensors::deserialize(&std::fs::read(&path).unwrap())
        .unwrap()
        .names()
        .into_iter()
        .map(String::from)
        .collect();
    assert!(names.contains(&"1.running_var".to_string()));
    assert!(names.contains(&"optim.0.weight.exp_avg_sq".to_string()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_mismatch_lists_every_problem() {
    let d = dev();
    let small = MlpConfig {
        d_in: 3,
        hidden: 5,
        classes: 2,
    };
    let bytes = checkpoint::to_bytes(&mlp(&small, &d), None, &small).unwrap();
    let other = Sequential::new()
        .add(LinearConfig::new(3, 4).init(&d).unwrap())
        .add(LinearConfig::new(4, 2).init(&d).unwrap());
    let before = vals(&other.parameters()[0].tensor());
    let err = checkpoint::from_bytes(&bytes, "mlp.safetensors", &other, None).unwrap_err();
    let Error::Data { path, msg } = &err else {
        panic!("wrong error kind: {err}");
    };
    assert_eq!(path, "mlp.safetensors");
    for needle in [
        "0.weight: shape [5, 3] in the file, [4, 3] in the model",
        "0.bias: shape [5]",
        "1.weight: shape [5] in the file, [2, 4] in the model",
        "1.bias: shape [5] in the file, [2] in the model",
        "1.running_mean: not in the model",
        "3.weight: not in the model",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from: {msg}");
    }
    // Nothing was loaded.
    assert_eq!(vals(&other.parameters()[0].tensor()), before);

    // A model with the optimizer requested but no state in the file: every slot is missing.
    let model = mlp(&small, &d);
    let mut opt = Optimizer::new(model.parameters(), AdamConfig::default());
    let err = checkpoint::from_bytes(&bytes, "f", &model, Some(&mut opt)).unwrap_err();
    assert!(
        err.to_string()
            .contains("optim.0.weight.exp_avg: missing from the file"),
        "{err}"
    );

    // A dtype mismatch.
    let f64_model = Linear::from_tensors(
        Tensor::zeros([5, 3], DType::F64, &d),
        Some(Tensor::zeros([5], DType::F64, &d)),
    )
    .unwrap();
    let lin_bytes =
        checkpoint::to_bytes(&LinearConfig::new(3, 5).init(&d).unwrap(), None, &()).unwrap();
    let err = checkpoint::from_bytes(&lin_bytes, "f", &f64_model, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("weight: dtype F32 in the file, f64 in the model"),
        "{err}"
    );
}

#[test]
fn corrupt_or_truncated_checkpoints_are_errors() {
    let d = dev();
    let cfg = MlpConfig {
        d_in: 3,
        hidden: 5,
        classes: 2,
    };
    let model = mlp(&cfg, &d);
    let bytes = checkpoint::to_bytes(&model, None, &cfg).unwrap();
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let r = checkpoint::from_bytes(&bytes[..cut], "cut", &model, None);
        assert!(matches!(r, Err(Error::Data { .. })), "cut at {cut}: {r:?}");
    }
    let mut garbage = bytes.clone();
    for b in garbage.iter_mut().skip(8).take(40) {
        *b = 0xff;
    }
    assert!(checkpoint::from_bytes(&garbage, "garbage", &model, None).is_err());
    assert!(checkpoint::config_from_bytes::<MlpConfig>(&bytes[..10], "cut").is_err());
    let missing = checkpoint::load("/nonexistent/dir/x.safetensors", &model, None);
    assert!(matches!(missing, Err(Error::Io { .. })));
}
