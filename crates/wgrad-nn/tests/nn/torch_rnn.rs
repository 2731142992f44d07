//! Recurrent layers against PyTorch: state dicts PyTorch wrote (`tests/pytorch/{lstm,gru,rnn,rnn_relu}`)
//! load strictly and give PyTorch's outputs and final states, time-major with initial states, batch-first
//! without, and on padded batches with lengths (PyTorch's `pack_padded_sequence`); LSTM and GRU gradients
//! (backpropagation through time) match PyTorch's; gradient clipping by norm works on an LSTM. The inputs
//! and expected values are in `tests/pytorch/rnn_cases.safetensors`, written by
//! `tests/pytorch/make_rnn_checkpoints.py` (see its docstring for every case).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};
use wgrad_graph::{grad, DType, Device, Tensor};
use wgrad_nn::checkpoint::{self, LoadOptions};
use wgrad_nn::*;

use crate::{dev, vals};

/// PyTorch's f32 numbers against wgrad's f32 numbers on the CPU backend.
const CPU_TOL: f64 = 1e-5;
/// The same on the GPU (f32 kernels, other summation orders).
const GPU_TOL: f64 = 1e-4;

pub fn torch_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/pytorch/{name}.safetensors"))
}

/// Every tensor of a cases file: shape and values (f32 and i64 tensors).
pub struct Cases(HashMap<String, (Vec<usize>, Vec<f64>)>);

impl Cases {
    pub fn load(name: &str) -> Cases {
        let bytes = std::fs::read(torch_path(name)).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut map = HashMap::new();
        for (k, v) in st.tensors() {
            let values = match v.dtype() {
                Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap())))
                    .collect(),
                Dtype::I64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                other => panic!("{k}: unexpected dtype {other:?}"),
            };
            map.insert(k, (v.shape().to_vec(), values));
        }
        Cases(map)
    }

    pub fn values(&self, key: &str) -> &[f64] {
        &self.0.get(key).unwrap_or_else(|| panic!("no {key}")).1
    }

    /// The f32 tensor `key` on `d`.
    pub fn tensor(&self, key: &str, d: &Device) -> Tensor {
        let (shape, v) = self.0.get(key).unwrap_or_else(|| panic!("no {key}"));
        Tensor::from_f64(v, shape.clone(), DType::F32, d).unwrap()
    }

    pub fn lengths(&self, key: &str) -> Vec<usize> {
        self.values(key).iter().map(|&v| v as usize).collect()
    }
}

/// Largest |got - want|, asserting equal lengths and `<= tol`.
#[track_caller]
pub fn max_diff(what: &str, got: &Tensor, want: &[f64], tol: f64) -> f64 {
    let got = vals(got);
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    let (i, d) = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .enumerate()
        .fold((0, 0.0), |m, (i, d)| if d > m.1 { (i, d) } else { m });
    assert!(
        d <= tol,
        "{what}[{i}]: got {}, want {} (|diff| {d:e} > {tol:e})",
        got[i],
        want[i]
    );
    d
}

fn config(name: &str, batch_first: bool) -> RnnConfig {
    let c = RnnConfig::new(3, 4);
    let c = match name {
        "lstm" | "gru" => c.with_num_layers(2).with_bidirectional(),
        "rnn" => c,
        "rnn_relu" => c
            .with_nonlinearity(Nonlinearity::Relu)
            .without_bias()
            .with_bidirectional(),
        _ => unreachable!("{name}"),
    };
    if batch_first {
        c.with_batch_first()
    } else {
        c
    }
}

/// One of the four PyTorch models with its state dict loaded strictly, run on `x` from `state`.
enum Model {
    Lstm(Lstm),
    Gru(Gru),
    Rnn(Rnn),
}

impl Model {
    fn new(name: &str, batch_first: bool, d: &Device) -> Model {
        let c = config(name, batch_first);
        let m = match name {
            "lstm" => Model::Lstm(c.init_lstm(d).unwrap()),
            "gru" => Model::Gru(c.init_gru(d).unwrap()),
            _ => Model::Rnn(c.init(d).unwrap()),
        };
        let module: &dyn Module = match &m {
            Model::Lstm(l) => l,
            Model::Gru(g) => g,
            Model::Rnn(r) => r,
        };
        let keys =
            checkpoint::load_with(torch_path(name), module, &LoadOptions::default()).unwrap();
        assert!(keys.is_empty());
        m
    }

    /// `(output, h_n, c_n)` from the case's `prefix.h0` (`prefix.c0`) when `with_state`.
    fn run(
        &self,
        cases: &Cases,
        prefix: &str,
        with_state: bool,
        lengths: Option<&[usize]>,
        d: &Device,
    ) -> (Tensor, Tensor, Option<Tensor>) {
        let x = cases.tensor(&format!("{prefix}.x"), d);
        let h0 = with_state.then(|| cases.tensor(&format!("{prefix}.h0"), d));
        match self {
            Model::Lstm(l) => {
                let c0 = with_state.then(|| cases.tensor(&format!("{prefix}.c0"), d));
                let state = h0.as_ref().zip(c0.as_ref());
                let (out, (h, c)) = match lengths {
                    Some(len) => l.forward_padded(&x, len, state).unwrap(),
                    None => l.forward(&x, state).unwrap(),
                };
                (out, h, Some(c))
            }
            Model::Gru(g) => {
                let (out, h) = match lengths {
                    Some(len) => g.forward_padded(&x, len, h0.as_ref()).unwrap(),
                    None => g.forward(&x, h0.as_ref()).unwrap(),
                };
                (out, h, None)
            }
            Model::Rnn(r) => {
                let (out, h) = match lengths {
                    Some(len) => r.forward_padded(&x, len, h0.as_ref()).unwrap(),
                    None => r.forward(&x, h0.as_ref()).unwrap(),
                };
                (out, h, None)
            }
        }
    }
}

/// Runs `name`'s three cases (time-major with states, batch-first, padded with lengths) on `d` and checks
/// outputs and final states within `tol`; returns the largest difference.
fn check_model(name: &str, d: &Device, tol: f64) -> f64 {
    let cases = Cases::load("rnn_cases");
    let mut worst: f64 = 0.0;
    let mut check = |prefix: &str, got: (Tensor, Tensor, Option<Tensor>)| {
        let (out, h, c) = got;
        worst = worst.max(max_diff(
            &format!("{prefix}.out"),
            &out,
            cases.values(&format!("{prefix}.out")),
            tol,
        ));
        worst = worst.max(max_diff(
            &format!("{prefix}.h_n"),
            &h,
            cases.values(&format!("{prefix}.h_n")),
            tol,
        ));
        if let Some(c) = c {
            worst = worst.max(max_diff(
                &format!("{prefix}.c_n"),
                &c,
                cases.values(&format!("{prefix}.c_n")),
                tol,
            ));
        }
    };
    let m = Model::new(name, false, d);
    check(name, m.run(&cases, name, true, None, d));
    let packed = format!("{name}.packed");
    let lengths = cases.lengths(&format!("{packed}.lengths"));
    check(&packed, m.run(&cases, &packed, true, Some(&lengths), d));
    let bf = format!("{name}.bf");
    check(
        &bf,
        Model::new(name, true, d).run(&cases, &bf, false, None, d),
    );
    eprintln!(
        "{name} on {}: max |wgrad - torch| = {worst:.2e}",
        d.backend().name()
    );
    worst
}

#[test]
fn lstm_state_dict_loads_strictly_and_matches_pytorch() {
    check_model("lstm", &dev(), CPU_TOL);
}

#[test]
fn gru_state_dict_loads_strictly_and_matches_pytorch() {
    check_model("gru", &dev(), CPU_TOL);
}

#[test]
fn rnn_state_dicts_load_strictly_and_match_pytorch() {
    check_model("rnn", &dev(), CPU_TOL);
    check_model("rnn_relu", &dev(), CPU_TOL);
}

/// The state-dict keys are PyTorch's, in its order (`_reverse` after each layer's forward direction).
#[test]
fn recurrent_state_dict_keys_are_pytorchs() {
    let d = dev();
    let lstm = config("lstm", false).init_lstm(&d).unwrap();
    let names: Vec<String> = lstm.state().into_iter().map(|(n, _)| n).collect();
    let mut want = Vec::new();
    for l in 0..2 {
        for sfx in ["", "_reverse"] {
            for p in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
                want.push(format!("{p}_l{l}{sfx}"));
            }
        }
    }
    assert_eq!(names, want);
    let shapes: Vec<Vec<usize>> = lstm
        .state()
        .iter()
        .map(|(_, p)| p.tensor().dims().to_vec())
        .collect();
    assert_eq!(shapes[0], [16, 3]);
    assert_eq!(shapes[8], [16, 8]);
    // PyTorch's init: every parameter in U(-1/√H, 1/√H)
    let bound = 0.5;
    assert!(lstm
        .parameters()
        .iter()
        .all(|p| vals(&p.tensor()).iter().all(|v| v.abs() <= bound)));
    let rnn = config("rnn_relu", false).init(&d).unwrap();
    let names: Vec<String> = rnn.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "weight_ih_l0",
            "weight_hh_l0",
            "weight_ih_l0_reverse",
            "weight_hh_l0_reverse"
        ]
    );
}

/// Backpropagation through time: d(Σ out·out_w + Σ h_n·h_w) with respect to the input and `weight_hh_l0`
/// equal PyTorch's autograd values.
#[test]
fn lstm_and_gru_gradients_match_pytorch() {
    let d = dev();
    let cases = Cases::load("rnn_cases");
    for name in ["lstm", "gru"] {
        let m = Model::new(name, false, &d);
        let x = cases.tensor(&format!("{name}.x"), &d).with_grad().unwrap();
        let h0 = cases.tensor(&format!("{name}.h0"), &d);
        let (out, h, w_hh) = match &m {
            Model::Lstm(l) => {
                let c0 = cases.tensor(&format!("{name}.c0"), &d);
                let (out, (h, _)) = l.forward(&x, Some((&h0, &c0))).unwrap();
                (out, h, l.cells()[0].weight_hh.tensor())
            }
            Model::Gru(g) => {
                let (out, h) = g.forward(&x, Some(&h0)).unwrap();
                (out, h, g.cells()[0].weight_hh.tensor())
            }
            Model::Rnn(_) => unreachable!(),
        };
        let weighted = |t: &Tensor, key: &str| {
            let w = cases.tensor(&format!("{name}.{key}"), &d);
            t.mul(w).unwrap().sum_all().unwrap()
        };
        let loss = weighted(&out, "out_w").add(weighted(&h, "h_w")).unwrap();
        let g = grad(&loss, &[&x, &w_hh], None).unwrap();
        let gx = max_diff(
            "grad_x",
            g[0].as_ref().unwrap(),
            cases.values(&format!("{name}.grad_x")),
            CPU_TOL,
        );
        let gw = max_diff(
            "grad_weight_hh_l0",
            g[1].as_ref().unwrap(),
            cases.values(&format!("{name}.grad_weight_hh_l0")),
            CPU_TOL,
        );
        eprintln!("{name} gradients: max |wgrad - torch| = {:.2e}", gx.max(gw));
    }
}

/// The padded run ignores what lies past each length: other padding values give the same results.
#[test]
fn padding_values_do_not_matter() {
    let d = dev();
    let lstm = config("lstm", false).init_lstm(&d).unwrap();
    let x = Tensor::randn_seeded([4, 3, 3], 1, DType::F32, &d).unwrap();
    let lengths = [2, 4, 1];
    let noise = Tensor::randn_seeded([4, 3, 3], 2, DType::F32, &d).unwrap();
    let valid: Vec<bool> = (0..4).flat_map(|t| lengths.map(|l| t < l)).collect();
    let mask = Tensor::from_vec(valid, [4, 3, 1], &d).unwrap();
    let x2 = mask.where_(&x, noise.mul(100.0).unwrap()).unwrap();
    let (o1, (h1, c1)) = lstm.forward_padded(&x, &lengths, None).unwrap();
    let (o2, (h2, c2)) = lstm.forward_padded(&x2, &lengths, None).unwrap();
    for (a, b) in [(o1, o2), (h1, h2), (c1, c2)] {
        assert_eq!(vals(&a), vals(&b));
    }
    let err = lstm.forward_padded(&x, &[2, 5, 1], None).unwrap_err();
    assert!(err.to_string().contains("lengths [2, 5, 1]"), "{err}");
}

/// `GradClip::Norm` on an LSTM's gradients: the update of an SGD step with lr 1 is the gradient scaled to
/// the norm bound, and `clip_grad_norm` returns the unclipped norm.
#[test]
fn grad_norm_clipping_works_on_an_lstm() {
    let d = dev();
    d.manual_seed(3);
    let lstm = RnnConfig::new(3, 5)
        .with_num_layers(2)
        .init_lstm(&d)
        .unwrap();
    let x = Tensor::randn([6, 2, 3], DType::F32, &d).unwrap();
    let loss = |m: &Lstm| {
        m.forward(&x, None)
            .unwrap()
            .0
            .mul(10.0)
            .unwrap()
            .sum_all()
            .unwrap()
    };
    let params = lstm.parameters();
    let wrt: Vec<Tensor> = params.iter().map(Param::tensor).collect();
    let grads: Vec<Tensor> = grad(&loss(&lstm), &wrt.iter().collect::<Vec<_>>(), None)
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let (clipped, norm) = clip_grad_norm(&grads, 0.5).unwrap();
    let total = |gs: &[Tensor]| {
        gs.iter()
            .map(|g| vals(g).iter().map(|v| v * v).sum::<f64>())
            .sum::<f64>()
            .sqrt()
    };
    let raw = total(&grads);
    assert!(
        raw > 1.0,
        "the test needs a gradient norm above the bound, got {raw}"
    );
    assert!((norm.item().unwrap() - raw).abs() < 1e-3 * raw);
    assert!((total(&clipped) - 0.5).abs() < 1e-4);

    let before: Vec<Vec<f64>> = params.iter().map(|p| vals(&p.tensor())).collect();
    let mut opt =
        Optimizer::new(params.clone(), SgdConfig::new(1.0)).with_clip(GradClip::Norm(0.5));
    opt.backward_step(&loss(&lstm)).unwrap();
    let step: f64 = params
        .iter()
        .zip(&before)
        .map(|(p, b)| {
            vals(&p.tensor())
                .iter()
                .zip(b)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        .sqrt();
    assert!((step - 0.5).abs() < 1e-4, "update norm {step}");
}

/// The same PyTorch models on the GPU backend (lavapipe in CI), f32 tolerance.
#[test]
fn recurrent_layers_match_pytorch_on_gpu() {
    let Some(backend) = wgrad_wgpu::testing::backend_or_skip() else {
        return;
    };
    let d = Device::new(backend);
    for name in ["lstm", "gru", "rnn", "rnn_relu"] {
        check_model(name, &d, GPU_TOL);
    }
}

/// Shape and argument errors name the layer and the shapes; an unbatched sequence `[T, C]` runs as a batch
/// of one.
#[test]
fn recurrent_errors_and_unbatched_input() {
    let d = dev();
    let gru = config("gru", false).init_gru(&d).unwrap();
    let x = Tensor::randn_seeded([5, 2, 3], 1, DType::F32, &d).unwrap();
    let err = gru.forward(&x.narrow(2, 0, 2).unwrap(), None).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("gru: weights do not fit input size 2"),
        "{err}"
    );
    let h0 = Tensor::zeros([2, 2, 4], DType::F32, &d);
    let err = gru.forward(&x, Some(&h0)).unwrap_err();
    assert!(
        err.to_string().contains("h0 [2, 2, 4] does not fit"),
        "{err}"
    );
    let err = gru
        .forward(&Tensor::zeros([3], DType::F32, &d), None)
        .unwrap_err();
    assert!(err.to_string().contains("input must be [T, N, C]"), "{err}");
    assert!(RnnConfig::new(3, 0).init_lstm(&d).is_err());
    assert!(RnnConfig::new(3, 4).with_dropout(1.5).init_gru(&d).is_err());

    // [T, C] with h0 [L·D, H] is the batch of one [T, 1, C] with h0 [L·D, 1, H]
    let one = x.narrow(1, 1, 1).unwrap();
    let h0 = Tensor::randn_seeded([4, 1, 4], 2, DType::F32, &d).unwrap();
    let (out, h) = gru.forward(&one, Some(&h0)).unwrap();
    let (out_u, h_u) = gru
        .forward(&one.squeeze(1).unwrap(), Some(&h0.squeeze(1).unwrap()))
        .unwrap();
    assert_eq!((out_u.dims(), h_u.dims()), (&[5, 8][..], &[4, 4][..]));
    assert_eq!(vals(&out), vals(&out_u));
    assert_eq!(vals(&h), vals(&h_u));
}

/// Dropout acts between layers in training only: with p = 1 the second layer sees zeros, so the output no
/// longer depends on the input; in evaluation it does.
#[test]
fn dropout_between_layers_in_training_only() {
    let d = dev();
    let mut lstm = RnnConfig::new(3, 4)
        .with_num_layers(2)
        .with_dropout(1.0)
        .init_lstm(&d)
        .unwrap();
    let x1 = Tensor::randn_seeded([4, 2, 3], 1, DType::F32, &d).unwrap();
    let x2 = Tensor::randn_seeded([4, 2, 3], 2, DType::F32, &d).unwrap();
    let run = |m: &Lstm, x: &Tensor| vals(&m.forward(x, None).unwrap().0);
    assert_eq!(run(&lstm, &x1), run(&lstm, &x2));
    lstm.eval();
    assert_ne!(run(&lstm, &x1), run(&lstm, &x2));
}
