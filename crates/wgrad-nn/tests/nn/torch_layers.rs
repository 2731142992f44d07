//! ConvTranspose2d, LayerNorm and GELU against PyTorch (`tests/pytorch/layers.safetensors`, a state dict
//! of `convt`, `convt_dilated`, `ln`, and `layers_cases.safetensors`, written by
//! `tests/pytorch/make_rnn_checkpoints.py`), plus their PyTorch conventions: init bounds, errors,
//! half-precision statistics; and Upsample, Dropout2d.

use wgrad_graph::{ConvTranspose2dParams, DType, Error, Tensor};
use wgrad_nn::checkpoint::{self, LoadOptions};
use wgrad_nn::*;

use crate::torch_rnn::{max_diff, torch_path, Cases};
use crate::{assert_close, dev, t64, vals};

#[derive(Debug, Module)]
struct Layers {
    convt: ConvTranspose2d,
    convt_dilated: ConvTranspose2d,
    ln: LayerNorm,
}

fn layers(d: &wgrad_graph::Device) -> Layers {
    let mut convt = ConvTranspose2dConfig::new(4, 6, 3)
        .with_stride(2)
        .with_padding(1)
        .with_output_padding(1);
    convt.kernel = [3, 2];
    convt.groups = 2;
    let mut dilated = ConvTranspose2dConfig::new(2, 3, 3)
        .with_padding(1)
        .with_output_padding(1);
    dilated.dilation = [2, 2];
    Layers {
        convt: convt.init(d).unwrap(),
        convt_dilated: dilated.init(d).unwrap(),
        ln: LayerNormConfig::new([3, 4]).init(d).unwrap(),
    }
}

#[test]
fn conv_transpose_and_layer_norm_match_pytorch() {
    let d = dev();
    let m = layers(&d);
    let keys = checkpoint::load_with(torch_path("layers"), &m, &LoadOptions::default()).unwrap();
    assert!(keys.is_empty());
    let cases = Cases::load("layers_cases");
    let mut worst: f64 = 0.0;
    for (name, layer) in [("convt", &m.convt), ("convt_dilated", &m.convt_dilated)] {
        let y = layer
            .forward(&cases.tensor(&format!("{name}.x"), &d))
            .unwrap();
        worst = worst.max(max_diff(name, &y, cases.values(&format!("{name}.y")), 1e-5));
    }
    let y = m.ln.forward(&cases.tensor("ln.x", &d)).unwrap();
    worst = worst.max(max_diff("ln", &y, cases.values("ln.y"), 1e-5));
    eprintln!("conv_transpose2d, layer_norm: max |wgrad - torch| = {worst:.2e}");
}

#[test]
fn gelu_exact_and_tanh_match_pytorch() {
    let d = dev();
    let cases = Cases::load("layers_cases");
    let x = cases.tensor("gelu.x", &d);
    let exact = max_diff(
        "gelu",
        &Activation::gelu().forward(&x).unwrap(),
        cases.values("gelu.y"),
        1e-6,
    );
    let tanh = max_diff(
        "gelu_tanh",
        &Activation::gelu_tanh().forward(&x).unwrap(),
        cases.values("gelu_tanh.y"),
        1e-6,
    );
    eprintln!("gelu: max |wgrad - torch| = {exact:.2e} (exact), {tanh:.2e} (tanh)");
    // the default is PyTorch's: exact
    assert_eq!(
        serde_json::to_string(&Activation::gelu()).unwrap(),
        r#"{"Gelu":{"approximate":"none"}}"#
    );
    let back: Activation = serde_json::from_str(r#"{"Gelu":{"approximate":"tanh"}}"#).unwrap();
    assert_eq!(back, Activation::gelu_tanh());
}

/// PyTorch's fan_in for a ConvTranspose2d weight `[c_in, c_out/groups, kh, kw]` is its dim 1 times the
/// kernel: `c_out/groups·kh·kw`, not `c_in·kh·kw`.
#[test]
fn conv_transpose_init_uses_pytorchs_fan_in() {
    let d = dev();
    d.manual_seed(11);
    let mut cfg = ConvTranspose2dConfig::new(40, 6, 3);
    cfg.groups = 2;
    let layer = cfg.init(&d).unwrap();
    assert_eq!(layer.weight.tensor().dims(), [40, 3, 3, 3]);
    let bound = 1.0 / 27f64.sqrt();
    let w = vals(&layer.weight.tensor());
    assert!(w.iter().all(|v| v.abs() <= bound));
    // fills its bound (U(-b, b) has variance b²/3)
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!(
        (var / (bound * bound / 3.0) - 1.0).abs() < 0.15,
        "var {var}"
    );
    let b = vals(&layer.bias.as_ref().unwrap().tensor());
    assert!(b.len() == 6 && b.iter().all(|v| v.abs() <= bound));
}

#[test]
fn conv_transpose_output_size_and_errors() {
    let d = dev();
    let x = Tensor::zeros([1, 2, 5, 4], DType::F32, &d);
    let w = Tensor::zeros([2, 3, 3, 3], DType::F32, &d);
    let p = ConvTranspose2dParams {
        stride: [2, 2],
        padding: [1, 1],
        output_padding: [1, 0],
        ..Default::default()
    };
    // (5-1)·2 - 2 + 2 + 1 + 1 = 10, (4-1)·2 - 2 + 2 + 0 + 1 = 7
    assert_eq!(
        x.conv_transpose2d(&w, None, p).unwrap().dims(),
        [1, 3, 10, 7]
    );
    let bad = ConvTranspose2dParams {
        output_padding: [2, 0],
        ..p
    };
    let err = x.conv_transpose2d(&w, None, bad).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Argument {
                op: "conv_transpose2d",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("smaller than either stride or dilation"),
        "{err}"
    );
    let err = x
        .conv_transpose2d(&Tensor::zeros([3, 3, 3, 3], DType::F32, &d), None, p)
        .unwrap_err();
    assert!(err.to_string().starts_with("conv_transpose2d:"), "{err}");
    let err = x
        .conv_transpose2d(&w, Some(&Tensor::zeros([2], DType::F32, &d)), p)
        .unwrap_err();
    assert!(err.to_string().contains("bias [2]"), "{err}");
    let mut cfg = ConvTranspose2dConfig::new(2, 3, 3).with_output_padding(1);
    assert!(cfg.init(&d).is_err());
    cfg.stride = [2, 2];
    assert!(cfg.init(&d).is_ok());
}

/// f16 input: μ and σ² are taken in f32. Each row sums to ~77,000, past f16's 65,504, so statistics in f16
/// would overflow to inf.
#[test]
fn layer_norm_computes_half_precision_statistics_in_f32() {
    let d = dev();
    let n = 256;
    let x0: Vec<f64> = (0..2 * n).map(|i| 300.0 + (i % 7) as f64 - 3.0).collect();
    let x = Tensor::from_f64(&x0, [2, n], DType::F16, &d).unwrap();
    let y = layer_norm(&x, &[n], None, None, 1e-5).unwrap();
    assert_eq!(y.dtype(), DType::F16);
    let want = vals(&layer_norm(&t64(&x0, &[2, n], &d), &[n], None, None, 1e-5).unwrap());
    assert_close(&vals(&y), &want, 2e-3);
    let err = layer_norm(&x, &[3], None, None, 1e-5).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not end in normalized_shape [3]"),
        "{err}"
    );
    let ln = LayerNormConfig::new([4]).without_bias().init(&d).unwrap();
    let names: Vec<String> = ln.state().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight"]);
    assert!(LayerNormConfig::new([4])
        .without_affine()
        .init(&d)
        .unwrap()
        .state()
        .is_empty());
}

#[test]
fn upsample_nearest_repeats_each_element() {
    let d = dev();
    let x = t64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[1, 1, 2, 3], &d);
    let y = Upsample::nearest(2).forward(&x).unwrap();
    assert_eq!(y.dims(), [1, 1, 4, 6]);
    #[rustfmt::skip]
    let want = [
        1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
        1.0, 1.0, 2.0, 2.0, 3.0, 3.0,
        4.0, 4.0, 5.0, 5.0, 6.0, 6.0,
        4.0, 4.0, 5.0, 5.0, 6.0, 6.0,
    ];
    assert_eq!(vals(&y), want);
    let y = upsample_nearest(&x, &[1, 3]).unwrap();
    assert_eq!(y.dims(), [1, 1, 2, 9]);
    assert!(upsample_nearest(&x, &[0]).is_err());
    assert!(upsample_nearest(&t64(&[1.0], &[1, 1], &d), &[2]).is_err());
}

#[test]
fn dropout2d_zeroes_whole_channels() {
    let d = dev();
    d.manual_seed(4);
    let x = Tensor::ones([8, 16, 3, 5], DType::F32, &d);
    let mut drop = Dropout2d::new(0.5).unwrap();
    let y = vals(&drop.forward(&x).unwrap());
    let mut dropped = 0;
    for plane in y.chunks(15) {
        // a whole plane is 0 or 2 (inverted scaling)
        assert!(plane.iter().all(|&v| v == plane[0]), "{plane:?}");
        assert!(plane[0] == 0.0 || plane[0] == 2.0);
        dropped += usize::from(plane[0] == 0.0);
    }
    assert!(
        (30..=98).contains(&dropped),
        "dropped {dropped} of 128 channels"
    );
    drop.eval();
    assert_eq!(vals(&drop.forward(&x).unwrap()), vals(&x));
    assert!(Dropout2d::new(1.5).is_err());
    assert!(dropout::dropout2d(&x, 1.0, true)
        .unwrap()
        .to_vec::<f32>()
        .unwrap()
        .iter()
        .all(|&v| v == 0.0));
    assert!(dropout::dropout2d(&Tensor::ones([3, 5], DType::F32, &d), 0.5, true).is_err());
}
