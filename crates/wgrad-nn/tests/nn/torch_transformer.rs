//! Attention and transformer layers against PyTorch: state dicts PyTorch wrote (`tests/pytorch/{mha,
//! encoder_layer,encoder_post,encoder}.safetensors`) load strictly and give PyTorch's outputs, attention
//! weights and gradients, on the CPU and (once) on the GPU. Inputs and expected values are in
//! `tests/pytorch/transformer_cases.safetensors`, written by `tests/pytorch/make_transformer_checkpoints.py`
//! (see its docstring for every case). Also: the sinusoidal table's formula, the learned positional
//! embedding's parameter, and sampling (temperature, top-k, multinomial) reproducible from the device seed.

use wgrad_graph::{grad, DType, Device, Tensor};
use wgrad_nn::checkpoint::{self, LoadOptions};
use wgrad_nn::*;

use crate::torch_rnn::{max_diff, torch_path, Cases};
use crate::{dev, vals};

const CPU_TOL: f64 = 1e-5;
const GPU_TOL: f64 = 1e-4;

fn load(module: &dyn Module, name: &str) {
    let keys = checkpoint::load_with(torch_path(name), module, &LoadOptions::default()).unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

fn mha(batch_first: bool, d: &Device) -> MultiheadAttention {
    let mut c = MultiheadAttentionConfig::new(8, 2);
    c.batch_first = batch_first;
    let mut m = c.init(d).unwrap();
    load(&m, "mha");
    m.eval();
    m
}

/// PyTorch's bool masks come as int64 0/1.
fn bool_mask(cases: &Cases, key: &str, d: &Device) -> Tensor {
    cases.tensor(key, d).ne(0.0).unwrap()
}

fn check_mha(cases: &Cases, d: &Device, tol: f64) {
    let m = mha(false, d);
    // self-attention and its gradients
    let x = cases.tensor("mha.x", d).with_grad().unwrap();
    let (out, w) = m.forward_with(&x, &x, &x, &MhaOptions::new()).unwrap();
    assert!(w.is_none());
    max_diff("mha.out", &out, cases.values("mha.out"), tol);
    let loss = out
        .mul(cases.tensor("mha.w", d))
        .unwrap()
        .sum_all()
        .unwrap();
    let w_in = m.in_proj_weight.tensor();
    let g = grad(&loss, &[&x, &w_in], None).unwrap();
    max_diff(
        "mha.grad_x",
        g[0].as_ref().unwrap(),
        cases.values("mha.grad_x"),
        tol,
    );
    let gw = g[1].as_ref().unwrap();
    max_diff(
        "mha.grad_in_proj_weight",
        gw,
        cases.values("mha.grad_in_proj_weight"),
        tol,
    );
    // cross-attention with both masks, weights averaged over heads
    let (q, kv) = (cases.tensor("mha.q", d), cases.tensor("mha.kv", d));
    let kpm = bool_mask(cases, "mha.kpm", d);
    let attn = cases.tensor("mha.attn_mask", d);
    let opts = MhaOptions::new()
        .key_padding_mask(Some(&kpm))
        .attn_mask(Some(&attn))
        .need_weights(true);
    let (out, w) = m.forward_with(&q, &kv, &kv, &opts).unwrap();
    max_diff("mha.cross.out", &out, cases.values("mha.cross.out"), tol);
    max_diff(
        "mha.cross.weights",
        &w.unwrap(),
        cases.values("mha.cross.weights"),
        tol,
    );
    // the same through the fused path (no weights)
    let (out, _) = m
        .forward_with(&q, &kv, &kv, &opts.need_weights(false))
        .unwrap();
    max_diff(
        "mha.cross.out (fused)",
        &out,
        cases.values("mha.cross.out"),
        tol,
    );
    // batch-first with a causal bool mask (true = masked), and the same as `causal`
    let mb = mha(true, d);
    let xb = cases.tensor("mha.bf.x", d);
    let causal: Vec<f64> = (0..25)
        .map(|k| f64::from(u8::from(k % 5 > k / 5)))
        .collect();
    let causal = Tensor::from_f64(&causal, [5, 5], DType::F32, d)
        .unwrap()
        .ne(0.0)
        .unwrap();
    let (out, _) = mb
        .forward_with(&xb, &xb, &xb, &MhaOptions::new().attn_mask(Some(&causal)))
        .unwrap();
    max_diff("mha.bf.out", &out, cases.values("mha.bf.out"), tol);
    let (out, _) = mb
        .forward_with(&xb, &xb, &xb, &MhaOptions::new().causal(true))
        .unwrap();
    max_diff(
        "mha.bf.out (causal flag)",
        &out,
        cases.values("mha.bf.out"),
        tol,
    );
}

fn check_encoder(cases: &Cases, d: &Device, tol: f64) {
    let pre = TransformerEncoderLayerConfig::new(8, 2)
        .with_dim_feedforward(16)
        .with_activation(FfActivation::Gelu)
        .with_layer_norm_eps(1e-6)
        .with_batch_first()
        .with_norm_first();
    let mut layer = pre.init(d).unwrap();
    load(&layer, "encoder_layer");
    layer.eval();
    let kpm = bool_mask(cases, "layer.kpm", d);
    let out = layer
        .forward_with(
            &cases.tensor("layer.x", d),
            &MhaOptions::new().key_padding_mask(Some(&kpm)),
        )
        .unwrap();
    max_diff("layer.out", &out, cases.values("layer.out"), tol);

    let mut post = TransformerEncoderLayerConfig::new(8, 2)
        .with_dim_feedforward(16)
        .init(d)
        .unwrap();
    load(&post, "encoder_post");
    post.eval();
    let mask: Vec<f64> = (0..25)
        .map(|k| {
            if k % 5 > k / 5 {
                f64::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_f64(&mask, [5, 5], DType::F32, d).unwrap();
    let out = post
        .forward_with(
            &cases.tensor("post.x", d),
            &MhaOptions::new().attn_mask(Some(&mask)),
        )
        .unwrap();
    max_diff("post.out", &out, cases.values("post.out"), tol);

    let mut encoder = TransformerEncoder::new(&pre, 2, true, d).unwrap();
    let names: Vec<String> = encoder.state().into_iter().map(|(n, _)| n).collect();
    assert!(
        names.contains(&"layers.1.self_attn.out_proj.weight".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"norm.bias".to_string()));
    load(&encoder, "encoder");
    encoder.eval();
    let out = encoder.forward(&cases.tensor("encoder.x", d)).unwrap();
    max_diff("encoder.out", &out, cases.values("encoder.out"), tol);
}

#[test]
fn multihead_attention_matches_pytorch() {
    check_mha(&Cases::load("transformer_cases"), &dev(), CPU_TOL);
}

#[test]
fn transformer_encoder_matches_pytorch() {
    check_encoder(&Cases::load("transformer_cases"), &dev(), CPU_TOL);
}

#[test]
fn transformer_matches_pytorch_on_the_gpu() {
    let Some(backend) = wgrad_wgpu::testing::backend_or_skip() else {
        return;
    };
    let d = Device::new(backend);
    let cases = Cases::load("transformer_cases");
    check_mha(&cases, &d, GPU_TOL);
    check_encoder(&cases, &d, GPU_TOL);
}

/// Parameter names and shapes are PyTorch's (what `load_state_dict(strict=True)` checks).
#[test]
fn transformer_parameter_names_are_pytorchs() {
    let d = dev();
    let layer = TransformerEncoderLayerConfig::new(8, 2).init(&d).unwrap();
    let got: Vec<(String, Vec<usize>)> = layer
        .state()
        .into_iter()
        .map(|(n, p)| (n, p.tensor().dims().to_vec()))
        .collect();
    let want = [
        ("self_attn.in_proj_weight", vec![24, 8]),
        ("self_attn.in_proj_bias", vec![24]),
        ("self_attn.out_proj.weight", vec![8, 8]),
        ("self_attn.out_proj.bias", vec![8]),
        ("linear1.weight", vec![2048, 8]),
        ("linear1.bias", vec![2048]),
        ("linear2.weight", vec![8, 2048]),
        ("linear2.bias", vec![8]),
        ("norm1.weight", vec![8]),
        ("norm1.bias", vec![8]),
        ("norm2.weight", vec![8]),
        ("norm2.bias", vec![8]),
    ];
    let want: Vec<(String, Vec<usize>)> =
        want.into_iter().map(|(n, s)| (n.to_string(), s)).collect();
    assert_eq!(got, want);
    assert!(MultiheadAttentionConfig::new(10, 3).init(&d).is_err());
}

/// PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)): at pos 3, d = 4 the
/// row is [sin 3, cos 3, sin 0.03, cos 0.03]; the encodings add to `[N, T, d]` and `[T, N, d]` input.
#[test]
fn positional_encodings_add_the_table() {
    let d = dev();
    let table = sinusoidal_table(5, 4, DType::F64, &d).unwrap();
    let row3 = vals(&table.narrow(0, 3, 1).unwrap());
    let want = [3f64.sin(), 3f64.cos(), 0.03f64.sin(), 0.03f64.cos()];
    crate::assert_close(&row3, &want, 1e-15);
    let pe = SinusoidalPositionalEncoding::new(5, 4, true, DType::F64, &d).unwrap();
    let x = Tensor::zeros([2, 3, 4], DType::F64, &d);
    let y = vals(&pe.forward(&x).unwrap());
    crate::assert_close(&y[12..24], &vals(&table.narrow(0, 0, 3).unwrap()), 0.0);
    let seq_first = SinusoidalPositionalEncoding::new(5, 4, false, DType::F64, &d).unwrap();
    let y = vals(
        &seq_first
            .forward(&Tensor::zeros([3, 2, 4], DType::F64, &d))
            .unwrap(),
    );
    // [T, N, d]: position 1 of sequence 0 starts at element (1·2 + 0)·4
    crate::assert_close(&y[8..12], &vals(&table.narrow(0, 1, 1).unwrap()), 0.0);
    assert!(pe
        .forward(&Tensor::zeros([1, 6, 4], DType::F64, &d))
        .is_err());

    let learned = LearnedPositionalEmbedding::new(7, 4, true, DType::F32, &d).unwrap();
    assert_eq!(learned.state()[0].0, "embedding.weight");
    let x = Tensor::zeros([2, 3, 4], DType::F32, &d);
    let loss = learned.forward(&x).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    // positions 0..3 were used by both sequences, the rest not at all
    let g = vals(&learned.embedding.weight.grad().unwrap());
    assert!(
        g[..12].iter().all(|&v| v == 2.0) && g[12..].iter().all(|&v| v == 0.0),
        "{g:?}"
    );
}

/// Greedy picks the argmax; top-1 equals greedy; a seeded draw repeats, on the CPU and the GPU alike; the
/// draws follow the distribution.
#[test]
fn sampling_is_reproducible_from_the_device_seed() {
    let mut devices = vec![dev()];
    if let Some(b) = wgrad_wgpu::testing::backend_or_skip() {
        devices.push(Device::new(b));
    }
    let logits_v = [0.1, 2.0, -1.0, 0.5, 1.5, 0.0];
    let mut runs = Vec::new();
    for d in &devices {
        let logits = Tensor::from_f64(&logits_v, [2, 3], DType::F32, d).unwrap();
        let greedy = SamplingConfig {
            temperature: 0.0,
            top_k: None,
        };
        assert_eq!(
            sample(&logits, &greedy).unwrap().to_vec::<i32>().unwrap(),
            vec![1, 1]
        );
        let top1 = SamplingConfig {
            temperature: 1.0,
            top_k: Some(1),
        };
        assert_eq!(
            sample(&logits, &top1).unwrap().to_vec::<i32>().unwrap(),
            vec![1, 1]
        );
        let masked = vals(&top_k_logits(&logits, 2).unwrap());
        assert_eq!(masked[2], f64::NEG_INFINITY);
        d.manual_seed(7);
        let probs = Tensor::from_f64(&[0.1, 0.6, 0.3], [3], DType::F32, d).unwrap();
        let draws = multinomial(&probs, 4000).unwrap().to_vec::<i32>().unwrap();
        let freq = |k| draws.iter().filter(|&&x| x == k).count() as f64 / 4000.0;
        assert!(
            (freq(0) - 0.1).abs() < 0.03 && (freq(1) - 0.6).abs() < 0.03,
            "{}",
            freq(1)
        );
        d.manual_seed(7);
        let again = multinomial(&probs, 4000).unwrap().to_vec::<i32>().unwrap();
        assert_eq!(draws, again);
        let hot = SamplingConfig {
            temperature: 1.5,
            top_k: Some(2),
        };
        runs.push(sample(&logits, &hot).unwrap().to_vec::<i32>().unwrap());
        runs.push(draws);
        assert!(multinomial(&Tensor::zeros([3], DType::F32, d), 1).is_err());
    }
    if runs.len() == 4 {
        assert_eq!(runs[0], runs[2], "cpu and gpu sampled differently");
        assert_eq!(runs[1], runs[3], "cpu and gpu drew differently");
    }
}
