//! PyTorch interop: a state dict PyTorch wrote loads strictly and gives PyTorch's numbers; a file wgrad
//! writes has PyTorch's keys and dtypes; non-strict loading and key remapping.
//!
//! `tests/pytorch/bn_checkpoint.safetensors` is written by `tests/pytorch/make_bn_checkpoint.py` (see its
//! docstring): `Sequential(Linear(3, 4), BatchNorm1d(4))` after three training-mode passes, with a fixed
//! input and PyTorch's eval-mode output in the metadata.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use wgrad_graph::{DType, Device, Error, Tensor};
use wgrad_nn::checkpoint::{self, IncompatibleKeys, LoadOptions};
use wgrad_nn::*;

use crate::{assert_close, dev, vals};

fn torch_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pytorch/bn_checkpoint.safetensors")
}

/// wgrad's `Sequential(Linear(3, 4), BatchNorm1d(4))`, freshly initialized.
fn linear_bn(d: &Device) -> Sequential {
    Sequential::new()
        .add(LinearConfig::new(3, 4).init(d).unwrap())
        .add(BatchNormConfig::new(4).init_1d(d).unwrap())
}

/// The float list stored as JSON under `key` in the file's metadata.
fn meta_floats(bytes: &[u8], key: &str) -> Vec<f64> {
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let json = &meta.metadata().as_ref().unwrap()[key];
    serde_json::from_str(json).unwrap()
}

/// `bytes` rewritten with every tensor renamed by `rename` (`None` drops it), metadata dropped.
fn renamed(bytes: &[u8], rename: impl Fn(&str) -> Option<String>) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let views: Vec<(String, _)> = st
        .tensors()
        .into_iter()
        .filter_map(|(n, v)| rename(&n).map(|n| (n, v)))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// `bytes` with `name` replaced by an I64 scalar holding `value`.
fn with_counter(bytes: &[u8], name: &str, value: i64) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let data = value.to_le_bytes();
    let counter = safetensors::tensor::TensorView::new(Dtype::I64, vec![], &data).unwrap();
    let mut views: Vec<(String, _)> = st
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != name)
        .collect();
    views.push((name.to_string(), counter));
    safetensors::serialize(views, None).unwrap()
}

/// Loads the PyTorch file strictly and checks the eval-mode output against PyTorch's within 1e-6.
fn check_matches_torch(model: &mut Sequential, bytes: &[u8], d: &Device) {
    let x = meta_floats(bytes, "input");
    let want = meta_floats(bytes, "expected");
    let x = Tensor::from_f64(&x, [5, 3], DType::F32, d).unwrap();
    model.eval();
    assert_close(&vals(&model.forward(&x).unwrap()), &want, 1e-6);
}

#[test]
fn pytorch_checkpoint_loads_strictly_and_matches_eval_output() {
    let d = dev();
    let mut model = linear_bn(&d);
    let path = torch_file();
    checkpoint::load(&path, &model, None).unwrap();
    let bn = model.state();
    let count = bn
        .iter()
        .find(|(n, _)| n == "1.num_batches_tracked")
        .unwrap();
    assert_eq!(count.1.tensor().to_vec::<i32>().unwrap(), [3]);
    check_matches_torch(&mut model, &std::fs::read(&path).unwrap(), &d);
}

/// The file wgrad writes is a PyTorch state dict: the same keys, shapes and dtypes as the file PyTorch
/// wrote (`num_batches_tracked` an I64 scalar), so PyTorch's strict load accepts it.
///
/// Checked by hand once (torch 2.15.0, safetensors 0.8.0): the model saved below, after its one
/// training-mode pass, was written to a file and `python make_bn_checkpoint.py check FILE` printed
/// `<All keys matched successfully>` for `load_state_dict(load_file(FILE), strict=True)`, with
/// `num_batches_tracked` read back as `tensor(4)`, int64.
#[test]
fn wgrad_checkpoint_has_pytorch_keys_and_dtypes() {
    let d = dev();
    let model = linear_bn(&d);
    checkpoint::load(torch_file(), &model, None).unwrap();
    // one more training pass: the counter goes to 4 (realized by the optimizer step)
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(0.0));
    let x = Tensor::randn_seeded([6, 3], 5, DType::F32, &d).unwrap();
    opt.backward_step(&model.forward(&x).unwrap().sum_all().unwrap())
        .unwrap();
    let ours = checkpoint::to_bytes(&model, &()).unwrap();
    let theirs = std::fs::read(torch_file()).unwrap();
    let layout = |bytes: &[u8]| -> HashMap<String, (Dtype, Vec<usize>)> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let entries = st.tensors().into_iter();
        entries
            .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec())))
            .collect()
    };
    assert_eq!(layout(&ours), layout(&theirs));
    let st = SafeTensors::deserialize(&ours).unwrap();
    let count = st.tensor("1.num_batches_tracked").unwrap();
    assert_eq!((count.dtype(), count.shape()), (Dtype::I64, &[][..]));
    assert_eq!(count.data(), 4i64.to_le_bytes());
    // and it loads back into wgrad, counter included
    let back = linear_bn(&d);
    checkpoint::from_bytes(&ours, "ours", &back, &LoadOptions::default()).unwrap();
    let counter = back.state().pop().unwrap().1;
    assert!(counter.is_counter());
    assert_eq!(counter.tensor().to_vec::<i32>().unwrap(), [4]);
}

/// PyTorch fills `num_batches_tracked` in for state dicts without it (files from before it existed) and
/// copies an int32 one; a value beyond i32 is an error here, as wgrad keeps the counter in i32.
#[test]
fn counter_is_optional_and_range_checked() {
    let d = dev();
    let bytes = std::fs::read(torch_file()).unwrap();
    let without = renamed(&bytes, |n| {
        (!n.ends_with("num_batches_tracked")).then(|| n.to_string())
    });
    let model = linear_bn(&d);
    let keys = checkpoint::from_bytes(&without, "old", &model, &LoadOptions::default()).unwrap();
    assert!(keys.is_empty());
    let counter = model.state().pop().unwrap().1;
    assert_eq!(counter.tensor().to_vec::<i32>().unwrap(), [0]);

    let big = with_counter(&bytes, "1.num_batches_tracked", 1 << 40);
    let err = checkpoint::from_bytes(&big, "big.safetensors", &model, &LoadOptions::default())
        .unwrap_err();
    let Error::Data { path, msg } = &err else {
        panic!("expected Error::Data, got {err}");
    };
    assert_eq!(path, "big.safetensors");
    assert!(
        msg.contains("1.num_batches_tracked: value 1099511627776 does not fit"),
        "{msg}"
    );
    let max = with_counter(&bytes, "1.num_batches_tracked", i64::from(i32::MAX));
    checkpoint::from_bytes(&max, "max", &model, &LoadOptions::default()).unwrap();
    assert_eq!(counter.tensor().to_vec::<i32>().unwrap(), [i32::MAX]);
}

/// `strict: false` returns what PyTorch's `_IncompatibleKeys` holds and loads the rest; shape mismatches
/// stay errors.
#[test]
fn non_strict_load_returns_missing_and_unexpected_keys() {
    let d = dev();
    let bytes = std::fs::read(torch_file()).unwrap();
    let lax = LoadOptions::new().strict(false);
    // a model with one more layer: its tensors are missing
    let bigger = linear_bn(&d).add(LinearConfig::new(4, 2).init(&d).unwrap());
    let keys = checkpoint::from_bytes(&bytes, "f", &bigger, &lax).unwrap();
    let want = IncompatibleKeys {
        missing_keys: vec!["2.weight".into(), "2.bias".into()],
        unexpected_keys: vec![],
    };
    assert_eq!(keys, want);
    let state = bigger.state();
    assert_eq!(vals(&state[1].1.tensor()), file_f32(&bytes, "0.bias"));
    let err = checkpoint::from_bytes(&bytes, "f", &bigger, &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("2.weight: missing from the file"),
        "{err}"
    );

    // a model with the linear layer only: the batch norm's tensors are unexpected
    let smaller = Sequential::new().add(LinearConfig::new(3, 4).init(&d).unwrap());
    let keys = checkpoint::from_bytes(&bytes, "f", &smaller, &lax).unwrap();
    assert!(keys.missing_keys.is_empty());
    let unexpected = [
        "1.bias",
        "1.num_batches_tracked",
        "1.running_mean",
        "1.running_var",
        "1.weight",
    ];
    assert_eq!(keys.unexpected_keys, unexpected);

    // a shape mismatch is an error, strict or not
    let wider = Sequential::new().add(LinearConfig::new(3, 5).init(&d).unwrap());
    let err = checkpoint::from_bytes(&bytes, "f", &wider, &lax).unwrap_err();
    assert!(
        err.to_string()
            .contains("0.weight: shape [4, 3] in the file, [5, 3] in the model"),
        "{err}"
    );
}

/// The values of the f32 tensor `name` in the file.
fn file_f32(bytes: &[u8], name: &str) -> Vec<f64> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let data = st.tensor(name).unwrap().data().to_vec();
    let f = |c: &[u8]| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    data.chunks_exact(4).map(f).collect()
}

/// A file saved from a `DataParallel` model has every key under `module.`; the remap hook strips it, and
/// a hook returning `None` drops a key.
#[test]
fn remap_hook_strips_a_module_prefix() {
    let d = dev();
    let bytes = std::fs::read(torch_file()).unwrap();
    let prefixed = renamed(&bytes, |n| Some(format!("module.{n}")));
    let mut model = linear_bn(&d);
    let err = checkpoint::from_bytes(&prefixed, "dp", &model, &LoadOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("module.0.weight: not in the model"),
        "{err}"
    );
    assert!(
        err.to_string().contains("0.weight: missing from the file"),
        "{err}"
    );

    let strip = |k: &str| Some(k.strip_prefix("module.").unwrap_or(k).to_string());
    let keys =
        checkpoint::from_bytes(&prefixed, "dp", &model, &LoadOptions::new().remap(&strip)).unwrap();
    assert!(keys.is_empty());
    // the metadata was dropped by `renamed`: compare with the original file's
    check_matches_torch(&mut model, &bytes, &d);

    // a mismatch names the file's key too
    let wider = Sequential::new().add(LinearConfig::new(3, 5).init(&d).unwrap());
    let lax = LoadOptions::new().strict(false).remap(&strip);
    let err = checkpoint::from_bytes(&prefixed, "dp", &wider, &lax).unwrap_err();
    assert!(
        err.to_string()
            .contains("0.weight (module.0.weight in the file): shape [4, 3]"),
        "{err}"
    );

    // dropping keys: the linear bias is then missing
    let drop_bias = |k: &str| (k != "module.0.bias").then(|| strip(k)).flatten();
    let lax = LoadOptions::new().strict(false).remap(&drop_bias);
    let keys = checkpoint::from_bytes(&prefixed, "dp", &model, &lax).unwrap();
    assert_eq!(keys.missing_keys, ["0.bias"]);
    assert!(keys.unexpected_keys.is_empty());

    // two keys that map to one name
    let both = renamed(&bytes, |n| Some(n.to_string()));
    let mut merged = SafeTensors::deserialize(&both).unwrap().tensors();
    merged.push((
        "module.0.bias".into(),
        SafeTensors::deserialize(&bytes)
            .unwrap()
            .tensor("0.bias")
            .unwrap(),
    ));
    let merged = safetensors::serialize(merged, None).unwrap();
    let err = checkpoint::from_bytes(&merged, "two", &model, &LoadOptions::new().remap(&strip))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("two tensors in the file map to it"),
        "{err}"
    );
}
