//! Checkpoints: roundtrip of parameters, buffers and optimizer state (a file of its own); mismatch and
//! corruption errors.

use serde::{Deserialize, Serialize};
use wgrad_graph::{DType, Device, Error, Tensor};
use wgrad_nn::checkpoint::LoadOptions;
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

    // The model file holds the state dict only; the optimizer state sits beside it.
    let names = |path: &std::path::Path| -> Vec<String> {
        let bytes = std::fs::read(path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
        names.sort();
        names
    };
    let model_keys: Vec<String> = a.state().into_iter().map(|(n, _)| n).collect();
    let mut sorted = model_keys.clone();
    sorted.sort();
    assert_eq!(names(&path), sorted);
    let opath = checkpoint::optimizer_path(&path);
    assert_eq!(opath, dir.join("mlp.optim.safetensors"));
    let optim_keys = names(&opath);
    assert!(optim_keys.contains(&"0.weight.exp_avg_sq".to_string()));
    assert!(optim_keys
        .iter()
        .all(|k| k.ends_with(".exp_avg") || k.ends_with(".exp_avg_sq")));
    assert_eq!(optim_keys.len(), 2 * a.parameters().len());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `save_optimizer` / `load_optimizer` on their own; a model file is not an optimizer file, and `load`
/// with an optimizer needs the optimizer file.
#[test]
fn optimizer_state_has_its_own_file() {
    let d = dev();
    let cfg = MlpConfig {
        d_in: 3,
        hidden: 5,
        classes: 2,
    };
    d.manual_seed(4);
    let a = mlp(&cfg, &d);
    let mut opt_a = Optimizer::new(a.parameters(), AdamConfig::default());
    train(&a, &mut opt_a, &d, 3);
    let dir = std::env::temp_dir().join(format!("wgrad-nn-optim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (model_path, optim_path) = (dir.join("m.safetensors"), dir.join("o.safetensors"));
    checkpoint::save(&model_path, &a, None, &cfg).unwrap();
    checkpoint::save_optimizer(&optim_path, &a, &opt_a).unwrap();
    assert!(!checkpoint::optimizer_path(&model_path).exists());

    let b = mlp(&cfg, &d);
    let mut opt_b = Optimizer::new(b.parameters(), AdamConfig::default());
    // no m.optim.safetensors: an I/O error naming it, and nothing loaded
    let before = snapshot(&b, &opt_b);
    let err = checkpoint::load(&model_path, &b, Some(&mut opt_b)).unwrap_err();
    let Error::Io { path, .. } = &err else {
        panic!("expected Error::Io, got {err}");
    };
    assert!(path.ends_with("m.optim.safetensors"), "{path}");
    assert_eq!(snapshot(&b, &opt_b), before);

    checkpoint::load(&model_path, &b, None).unwrap();
    checkpoint::load_optimizer(&optim_path, &b, &mut opt_b).unwrap();
    assert_eq!(snapshot(&a, &opt_a), snapshot(&b, &opt_b));
    assert_eq!(opt_b.steps(), 3);

    let err = checkpoint::load_optimizer(&model_path, &b, &mut opt_b).unwrap_err();
    assert!(
        err.to_string().contains("not an optimizer state file"),
        "{err}"
    );
    assert!(err.to_string().contains("m.safetensors"), "{err}");
    // an SGD-with-momentum optimizer does not take Adam's slots
    let momentum = SgdConfig {
        momentum: 0.9,
        ..SgdConfig::new(0.1)
    };
    let mut sgd = Optimizer::new(b.parameters(), momentum);
    let err = checkpoint::load_optimizer(&optim_path, &b, &mut sgd).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("0.weight.momentum_buffer: missing from the file"),
        "{msg}"
    );
    assert!(msg.contains("0.weight.exp_avg: not in the model"), "{msg}");
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
    let bytes = checkpoint::to_bytes(&mlp(&small, &d), &small).unwrap();
    let other = Sequential::new()
        .add(LinearConfig::new(3, 4).init(&d).unwrap())
        .add(LinearConfig::new(4, 2).init(&d).unwrap());
    let before = vals(&other.parameters()[0].tensor());
    let strict = LoadOptions::default();
    let err = checkpoint::from_bytes(&bytes, "mlp.safetensors", &other, &strict).unwrap_err();
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

    // A dtype mismatch.
    let f64_model = Linear::from_tensors(
        Tensor::zeros([5, 3], DType::F64, &d),
        Some(Tensor::zeros([5], DType::F64, &d)),
    )
    .unwrap();
    let lin_bytes = checkpoint::to_bytes(&LinearConfig::new(3, 5).init(&d).unwrap(), &()).unwrap();
    let err = checkpoint::from_bytes(&lin_bytes, "f", &f64_model, &strict).unwrap_err();
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
    let bytes = checkpoint::to_bytes(&model, &cfg).unwrap();
    let strict = LoadOptions::default();
    for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
        let r = checkpoint::from_bytes(&bytes[..cut], "cut", &model, &strict);
        assert!(matches!(r, Err(Error::Data { .. })), "cut at {cut}: {r:?}");
    }
    let mut garbage = bytes.clone();
    for b in garbage.iter_mut().skip(8).take(40) {
        *b = 0xff;
    }
    assert!(checkpoint::from_bytes(&garbage, "garbage", &model, &strict).is_err());
    assert!(checkpoint::config_from_bytes::<MlpConfig>(&bytes[..10], "cut").is_err());
    let missing = checkpoint::load("/nonexistent/dir/x.safetensors", &model, None);
    assert!(matches!(missing, Err(Error::Io { .. })));
}
