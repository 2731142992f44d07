//! Edge values (NaN, ±inf, ±0, huge and tiny numbers) give PyTorch's answer on every backend.
//!
//! The expected values are PyTorch's, computed by `tests/pytorch/edge_values.py` into
//! `tests/pytorch/edge_values.json`: every registry elementwise op on a vector of edge values (binary ops on
//! every pair), the reductions and softmax over rows with NaN and infinities, and the composites that meet an
//! edge (logsumexp of `-inf` rows, dropout with `p = 1`, half-precision means, one-element variance). Each
//! check runs on the CPU reference and, fused and unfused, on the GPU (lavapipe in CI).

use serde_json::Value;
use wgrad::graph::{BinaryOp, UnaryOp};
use wgrad::{DType, Device, Tensor};

fn expected() -> Value {
    let text = include_str!("pytorch/edge_values.json");
    serde_json::from_str(text).expect("edge_values.json parses")
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        other => other.as_f64().expect("a number or nan/inf"),
    }
}

fn nums(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(num).collect()
}

/// Devices to check: the CPU reference and the GPU (failing under CI=true without an adapter).
fn devices() -> Vec<Device> {
    let mut devs = vec![wgrad::cpu_device()];
    if let Some(gpu) = wgrad::wgpu::testing::backend_or_skip() {
        devs.push(Device::new(gpu));
    }
    devs
}

/// Equal as PyTorch's values: NaN where it is NaN, the same infinity, else within `rtol` (f32 rounding of
/// transcendental functions on a GPU).
fn same(got: f64, want: f64, rtol: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    if want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= 1e-6 + rtol * want.abs()
}

/// sin and cos of |x| ≥ 2²⁴ on a GPU: an exact answer needs 2/π to a hundred bits (Payne-Hanek), which the
/// WGSL helpers do not do (see `sin_f32` in `shaders/elementwise.wgsl`); such results only stay in [-1, 1].
fn beyond_range_reduction(op: UnaryOp, x: f64, dev: &Device) -> bool {
    matches!(op, UnaryOp::Sin | UnaryOp::Cos)
        && x.is_finite()
        && x.abs() >= 16_777_216.0
        && dev.name() != "cpu"
}

#[track_caller]
fn check(what: &str, dev: &Device, got: &[f64], want: &[f64], inputs: &[String]) {
    assert_eq!(got.len(), want.len(), "{what} on {}", dev.name());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            same(g, w, 2e-6),
            "{what}({}) on {}: got {g}, PyTorch {w}",
            inputs.get(i).map_or("", String::as_str),
            dev.name()
        );
    }
}

fn t(values: &[f64], shape: &[usize], dev: &Device) -> Tensor {
    Tensor::from_f64(values, shape.to_vec(), DType::F32, dev).expect("tensor")
}

#[test]
fn every_unary_op_follows_pytorch_at_edge_values() {
    let e = expected();
    let x = nums(&e["x"]);
    let labels: Vec<String> = x.iter().map(|v| format!("{v:e}")).collect();
    for &op in UnaryOp::ALL {
        let want = nums(&e["unary"][op.name()]);
        assert!(
            !want.is_empty(),
            "{}: no PyTorch values (rerun the script)",
            op.name()
        );
        for dev in devices() {
            let xt = t(&x, &[x.len()], &dev);
            // inside a fused chain too: x·1 through the op, then ·1
            let fused = xt
                .mul(1.0)
                .and_then(|y| y.unary(op))
                .and_then(|y| y.mul(1.0));
            for (what, y) in [
                (op.name().to_string(), xt.unary(op)),
                (format!("fused {}", op.name()), fused),
            ] {
                let mut got = y.and_then(|y| y.to_f64_vec()).expect("runs");
                let mut want = want.clone();
                for (i, &v) in x.iter().enumerate() {
                    if beyond_range_reduction(op, v, &dev) {
                        assert!(got[i].abs() <= 1.0, "{what}({v:e}) = {}", got[i]);
                        (got[i], want[i]) = (0.0, 0.0);
                    }
                }
                check(&what, &dev, &got, &want, &labels);
            }
        }
    }
}

#[test]
fn every_binary_op_follows_pytorch_at_edge_values() {
    let e = expected();
    let (a, b) = (nums(&e["a"]), nums(&e["b"]));
    let labels: Vec<String> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| format!("{a:e}, {b:e}"))
        .collect();
    for &op in BinaryOp::ALL {
        let want = nums(&e["binary"][op.name()]);
        assert!(!want.is_empty(), "{}: no PyTorch values", op.name());
        for dev in devices() {
            let (at, bt) = (t(&a, &[a.len()], &dev), t(&b, &[b.len()], &dev));
            let y = at.binary(op, &bt).expect("builds");
            let y = if op.is_comparison() {
                y.cast(DType::F32).expect("cast")
            } else {
                y
            };
            check(
                op.name(),
                &dev,
                &y.to_f64_vec().expect("runs"),
                &want,
                &labels,
            );
        }
    }
}

#[test]
fn reductions_and_softmax_follow_pytorch_on_nan_and_inf_rows() {
    let e = expected();
    let r = &e["reductions"];
    let rows: Vec<f64> = r["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(nums)
        .collect();
    let labels: Vec<String> = (0..4).map(|i| format!("row {i}")).collect();
    for dev in devices() {
        let x = t(&rows, &[4, 4], &dev);
        let f32s = |y: Tensor| y.to_f64_vec().expect("runs");
        check(
            "sum",
            &dev,
            &f32s(x.sum(&[1], false).unwrap()),
            &nums(&r["sum"]),
            &labels,
        );
        check(
            "max",
            &dev,
            &f32s(x.max(&[1], false).unwrap()),
            &nums(&r["max"]),
            &labels,
        );
        check(
            "min",
            &dev,
            &f32s(x.min(&[1], false).unwrap()),
            &nums(&r["min"]),
            &labels,
        );
        let arg = |y: Tensor| y.cast(DType::F32).map(f32s).expect("cast");
        check(
            "argmax",
            &dev,
            &arg(x.argmax(1, false).unwrap()),
            &nums(&r["argmax"]),
            &labels,
        );
        check(
            "argmin",
            &dev,
            &arg(x.argmin(1, false).unwrap()),
            &nums(&r["argmin"]),
            &labels,
        );
        let lse = f32s(x.logsumexp(&[1], false).unwrap());
        check("logsumexp", &dev, &lse, &nums(&r["logsumexp"]), &labels);
        check(
            "mean",
            &dev,
            &f32s(x.mean(&[1], false).unwrap()),
            &nums(&r["mean"]),
            &labels,
        );
        let flat =
            |v: &Value| -> Vec<f64> { v.as_array().expect("rows").iter().flat_map(nums).collect() };
        let sm = f32s(x.softmax(1).unwrap());
        check("softmax", &dev, &sm, &flat(&r["softmax"]), &[]);
        let lsm = f32s(x.log_softmax(1).unwrap());
        check("log_softmax", &dev, &lsm, &flat(&r["log_softmax"]), &[]);
    }
}

#[test]
fn composites_meet_edges_as_pytorch_does() {
    let e = expected();
    let c = &e["composites"];
    for dev in devices() {
        let x = t(&[1.0, f64::INFINITY, f64::NAN, -2.0], &[4], &dev);
        let dropped = wgrad::nn::dropout::dropout(&x, 1.0, true)
            .unwrap()
            .to_f64_vec()
            .unwrap();
        check("dropout p=1", &dev, &dropped, &nums(&c["dropout_p1"]), &[]);
        let ones16 = Tensor::ones([100_000], DType::F16, &dev);
        let mean = ones16.mean_all().unwrap().item().unwrap();
        check(
            "f16 mean",
            &dev,
            &[mean],
            &[num(&c["mean_f16_ones_100000"])],
            &[],
        );
        let sum = ones16.sum_all().unwrap().item().unwrap();
        check(
            "f16 sum",
            &dev,
            &[sum],
            &[num(&c["sum_f16_ones_100000"])],
            &[],
        );
        // accumulated in f32, as PyTorch does: in f16, 2048 + 1 rounds back to 2048
        let sum = Tensor::ones([3000], DType::F16, &dev)
            .sum_all()
            .unwrap()
            .item()
            .unwrap();
        check(
            "f16 sum 3000",
            &dev,
            &[sum],
            &[num(&c["sum_f16_ones_3000"])],
            &[],
        );
        let three = t(&[3.0], &[1], &dev);
        let var = three.var(&[0], false, true).unwrap().item().unwrap();
        check(
            "var unbiased n=1",
            &dev,
            &[var],
            &[num(&c["var_unbiased_one_element"])],
            &[],
        );
        let var = three.var(&[0], false, false).unwrap().item().unwrap();
        check(
            "var biased n=1",
            &dev,
            &[var],
            &[num(&c["var_biased_one_element"])],
            &[],
        );
        let img = t(&[1.0, f64::NAN, 3.0, 4.0], &[1, 1, 2, 2], &dev);
        let pooled = img
            .max_pool2d([2, 2], [2, 2], [0, 0])
            .unwrap()
            .item()
            .unwrap();
        check(
            "max_pool2d NaN",
            &dev,
            &[pooled],
            &[num(&c["max_pool2d_nan"])],
            &[],
        );
        let logits = t(&[0.0, f64::NEG_INFINITY], &[1, 2], &dev);
        let y = Tensor::from_vec(vec![0i32], [1], &dev).unwrap();
        let ce = wgrad::nn::cross_entropy(&logits, &y)
            .unwrap()
            .item()
            .unwrap();
        check(
            "cross_entropy",
            &dev,
            &[ce],
            &[num(&c["cross_entropy_neg_inf_other"])],
            &[],
        );
    }
}

/// `clamp` as `torch.clamp` documents it (values written here, not from the JSON): NaN stays NaN, infinities
/// meet the bounds, `min > max` makes every element `max`, and the gradient is 1 on the closed interval.
#[test]
fn clamp_follows_pytorch_at_edges() {
    let nan = f64::NAN;
    let inf = f64::INFINITY;
    let x = [nan, inf, -inf, -2.0, -1.0, 0.5, 1.0, 2.0];
    let names: Vec<String> = x.iter().map(|v| v.to_string()).collect();
    for dev in devices() {
        let v = t(&x, &[x.len()], &dev);
        let both = v
            .clamp(Some(-1.0), Some(1.0))
            .unwrap()
            .to_f64_vec()
            .unwrap();
        let want = [nan, 1.0, -1.0, -1.0, -1.0, 0.5, 1.0, 1.0];
        check("clamp(-1, 1)", &dev, &both, &want, &names);
        let crossed = v
            .clamp(Some(1.0), Some(-1.0))
            .unwrap()
            .to_f64_vec()
            .unwrap();
        check(
            "clamp(1, -1)",
            &dev,
            &crossed,
            &[nan, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0],
            &names,
        );
        let open = v.clamp(None, Some(0.0)).unwrap().to_f64_vec().unwrap();
        check(
            "clamp(max=0)",
            &dev,
            &open,
            &[nan, 0.0, -inf, -2.0, -1.0, 0.0, 0.0, 0.0],
            &names,
        );
        let finite = t(&x[3..], &[5], &dev).with_grad().unwrap();
        let y = finite
            .clamp(Some(-1.0), Some(1.0))
            .unwrap()
            .sum_all()
            .unwrap();
        y.backward().unwrap();
        let g = finite.grad().unwrap().to_f64_vec().unwrap();
        check(
            "d clamp(-1, 1)",
            &dev,
            &g,
            &[0.0, 1.0, 1.0, 1.0, 0.0],
            &names[3..],
        );
    }
    let e = t(&[1.0], &[1], &wgrad::cpu_device())
        .clamp(None, None)
        .unwrap_err();
    assert!(e.to_string().contains("at least one of min and max"), "{e}");
}

#[test]
fn dropout_refuses_probabilities_outside_0_1() {
    assert!(
        wgrad::nn::Dropout::new(1.0).is_ok(),
        "p = 1 is accepted, as in PyTorch"
    );
    for p in [-0.1, 1.5, f64::NAN] {
        let e = wgrad::nn::Dropout::new(p).expect_err("outside [0, 1]");
        assert!(e.to_string().contains("between 0 and 1"), "{e}");
    }
}

/// Zero-size dimensions compute what PyTorch does (empty results, sums of nothing are 0, means NaN, the
/// loss of an empty batch NaN); reducing an empty dimension to a max is an error, as in PyTorch.
#[test]
fn zero_size_dims_work_like_pytorch() {
    for dev in devices() {
        let empty = Tensor::ones([0, 3], DType::F32, &dev);
        let vals = |t: wgrad::Result<Tensor>| t.and_then(|t| t.to_f64_vec()).expect("runs");
        let b = Tensor::ones([3, 4], DType::F32, &dev);
        assert_eq!(vals(empty.matmul(&b)).len(), 0);
        let k0 =
            Tensor::ones([3, 0], DType::F32, &dev).matmul(&Tensor::ones([0, 4], DType::F32, &dev));
        assert_eq!(vals(k0), vec![0.0; 12], "a product over k = 0 is 0");
        assert_eq!(vals(empty.sum(&[0], false)), vec![0.0; 3]);
        assert!(vals(empty.mean(&[0], false)).iter().all(|v| v.is_nan()));
        assert_eq!(
            vals(Tensor::ones([0, 5], DType::F32, &dev).softmax(-1)).len(),
            0
        );
        let x = Tensor::ones([0, 1, 5, 5], DType::F32, &dev);
        let w = Tensor::ones([2, 1, 3, 3], DType::F32, &dev);
        let y = x
            .conv2d(&w, None, wgrad::Conv2dParams::default())
            .expect("builds");
        assert_eq!(y.dims(), [0, 2, 3, 3]);
        assert_eq!(vals(Ok(y)).len(), 0);
        // an empty batch contributes nothing to the weight gradient (3 channels: every texture path)
        let x = Tensor::ones([0, 3, 5, 5], DType::F32, &dev);
        let w = Tensor::ones([2, 3, 3, 3], DType::F32, &dev)
            .with_grad()
            .expect("leaf");
        let p = wgrad::Conv2dParams::default();
        let s = x
            .conv2d(&w, None, p)
            .and_then(|y| y.sum_all())
            .expect("builds");
        s.backward().expect("backward");
        assert_eq!(vals(Ok(w.grad().expect("grad"))), vec![0.0; 54]);
        let labels = Tensor::from_vec(Vec::<i32>::new(), [0], &dev).expect("empty labels");
        let loss = wgrad::nn::cross_entropy(&empty, &labels).and_then(|l| l.item());
        assert!(loss.expect("runs").is_nan(), "mean over an empty batch");
        let e = empty.max_all().expect_err("max of nothing");
        assert!(e.to_string().contains("cannot reduce empty dim"), "{e}");
    }
}

/// A function of leaf tensors whose gradients a check takes.
type Graph<'a> = dyn Fn(&[Tensor]) -> wgrad::Result<Tensor> + 'a;

/// Gradients at edges follow PyTorch's backward formulas: pow's masks at a zero base or exponent, ties and
/// NaN in maximum/minimum, amax's NaN and ties, unary derivatives at 0 and at saturation, the stable
/// binary cross entropy, softplus and ELU, a one-element variance.
#[test]
fn gradients_at_edges_follow_pytorch() {
    let e = expected();
    let g = &e["gradients"];
    for dev in devices() {
        let grads = |xs: &[Vec<f64>], f: &Graph<'_>| {
            let ts: Vec<Tensor> = xs
                .iter()
                .map(|x| t(x, &[x.len()], &dev).with_grad().unwrap())
                .collect();
            f(&ts)
                .and_then(|y| y.sum_all())
                .unwrap()
                .backward()
                .unwrap();
            let out: Vec<Vec<f64>> = ts
                .iter()
                .map(|x| x.grad().unwrap().to_f64_vec().unwrap())
                .collect();
            out
        };
        let binary: [(&str, &Graph<'_>); 3] = [
            ("pow", &|x| x[0].pow(&x[1])),
            ("maximum", &|x| x[0].maximum(&x[1])),
            ("minimum", &|x| x[0].minimum(&x[1])),
        ];
        for (name, f) in binary {
            let got = grads(&[nums(&g[name]["a"]), nums(&g[name]["b"])], f);
            for (i, want) in g[name]["grads"].as_array().unwrap().iter().enumerate() {
                check(&format!("d{name}/dx{i}"), &dev, &got[i], &nums(want), &[]);
            }
        }
        let amax = |x: &[Tensor]| x[0].max_all();
        let got = grads(&[nums(&g["amax"]["x"])], &amax);
        check(
            "d amax (NaN)",
            &dev,
            &got[0],
            &nums(&g["amax"]["grads"][0]),
            &[],
        );
        let got = grads(&[nums(&g["amax"]["ties"])], &amax);
        check(
            "d amax (ties)",
            &dev,
            &got[0],
            &nums(&g["amax"]["tie_grads"][0]),
            &[],
        );
        let x = nums(&g["unary"]["x"]);
        for op in ["sqrt", "abs", "relu", "log", "sigmoid", "tanh"] {
            let unary = UnaryOp::ALL.iter().find(|u| u.name() == op).unwrap();
            let got = grads(std::slice::from_ref(&x), &|t| t[0].unary(*unary));
            check(
                &format!("d{op}"),
                &dev,
                &got[0],
                &nums(&g["unary"][op]),
                &[],
            );
        }
        let target = t(&[1.0, 0.0, 1.0], &[3], &dev);
        let bce = |x: &[Tensor]| wgrad::nn::binary_cross_entropy_with_logits(&x[0], &target);
        let got = grads(&[vec![1000.0, 1000.0, -1000.0]], &bce);
        check(
            "d bce_with_logits",
            &dev,
            &got[0],
            &nums(&g["bce_with_logits"]),
            &[],
        );
        let softplus = |x: &[Tensor]| wgrad::nn::activation::softplus(&x[0]);
        let got = grads(&[vec![1000.0, -1000.0, 0.0]], &softplus);
        check("d softplus", &dev, &got[0], &nums(&g["softplus"]), &[]);
        let elu = |x: &[Tensor]| wgrad::nn::activation::elu(&x[0], 1.0);
        let got = grads(&[vec![1000.0, -1000.0, 0.0]], &elu);
        check("d elu", &dev, &got[0], &nums(&g["elu"]), &[]);
        let var = |x: &[Tensor]| x[0].var(&[0], false, true);
        let got = grads(&[vec![3.0]], &var);
        check(
            "d var n=1",
            &dev,
            &got[0],
            &nums(&g["var_one_element"]),
            &[],
        );
    }
}
