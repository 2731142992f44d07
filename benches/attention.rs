//! `cargo bench --bench attention`: scaled dot-product attention, forward + backward, fused kernels against
//! the composite (matmul, softmax, matmul), on the wgpu adapter.
//!
//! N = 8, H = 8, D = 64, T ∈ {128, 512, 2048}, f32, no mask (and causal with `-- causal`). One step is the
//! forward, `sum(out·w)`, its backward and reading one element of each gradient's sum (which waits for the
//! GPU). Each case runs on a fresh device, so the printed peak (`Device::memory().peak_reserved`: bytes
//! held by the buffer pool at most, inputs included) is that case's alone.
//!
//! Options (environment): `WGRAD_BENCH_QUICK=1` for one timed run per case; `WGRAD_BENCH_T=128,512` picks
//! the sequence lengths; `WGRAD_BACKEND` / `WGRAD_ADAPTER` choose the adapter; `WGRAD_PROFILE=1` prints the
//! wall time per kernel (kernels then run one by one). Results are in BENCHMARKS.md.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use wgrad::graph::{scaled_dot_product_attention_with, AttentionPath, SdpaOptions};
use wgrad::wgpu::WgpuBackend;
use wgrad::{DType, Device, Result, Tensor};

const N: usize = 8;
const H: usize = 8;
const D: usize = 64;

/// One forward + backward step; returns the sum of the gradients (read back).
fn step(dev: &Device, qkv: &[Tensor; 3], w: &Tensor, opts: &SdpaOptions) -> Result<f64> {
    let [q, k, v] = qkv;
    let out = scaled_dot_product_attention_with(q, k, v, opts)?;
    out.mul(w)?.sum_all()?.backward()?;
    let grads: Vec<Tensor> = qkv.iter().map(|t| t.grad().unwrap()).collect();
    for t in qkv {
        t.zero_grad();
    }
    let total = grads[0]
        .sum_all()?
        .add(&grads[1].sum_all()?)?
        .add(&grads[2].sum_all()?)?;
    let _ = dev;
    total.item()
}

struct Case {
    t: usize,
    path: AttentionPath,
    causal: bool,
}

/// Times `case` on a fresh device: (best s, median s, runs, peak bytes), or the error that stopped it.
fn run(case: &Case, reps: usize) -> Result<(f64, f64, usize, u64)> {
    let dev = Device::new(WgpuBackend::new()?);
    let shape = [N, H, case.t, D];
    let leaf = |seed| -> Result<Tensor> {
        Tensor::randn_seeded(shape, seed, DType::F32, &dev)?.with_grad()
    };
    let qkv = [leaf(1)?, leaf(2)?, leaf(3)?];
    let w = Tensor::randn_seeded(shape, 4, DType::F32, &dev)?
        .realize()?
        .clone();
    let opts = SdpaOptions::new().causal(case.causal).path(case.path);
    // warm-up (pipelines, buffer pool); the long cases skip it, their step takes minutes on a software
    // adapter and the pipelines compile in well under a second
    if case.t < 2048 {
        step(&dev, &qkv, &w, &opts)?;
    }
    wgrad::wgpu::profile::reset();
    let mut times = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        let s = step(&dev, &qkv, &w, &opts)?;
        times.push(start.elapsed().as_secs_f64());
        assert!(s.is_finite(), "gradients sum to {s}");
    }
    times.sort_by(f64::total_cmp);
    if wgrad::wgpu::profile::enabled() {
        println!("{}", wgrad::wgpu::profile::report());
        wgrad::wgpu::profile::reset();
    }
    Ok((
        times[0],
        times[times.len() / 2],
        times.len(),
        dev.memory().peak_reserved,
    ))
}

fn main() {
    let quick = std::env::var("WGRAD_BENCH_QUICK").is_ok_and(|v| v == "1");
    let ts: Vec<usize> = std::env::var("WGRAD_BENCH_T")
        .ok()
        .map(|s| s.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![128, 512, 2048]);
    let causal = std::env::args().any(|a| a == "causal");
    match WgpuBackend::new() {
        Ok(b) => println!("adapter: {}", b.caps().adapter_name),
        Err(e) => {
            println!("no wgpu adapter: {e}");
            return;
        }
    }
    println!(
        "attention forward + backward, N = {N}, H = {H}, D = {D}, f32{}",
        if causal { ", causal" } else { "" }
    );
    println!(
        "{:>6} {:<10} {:>12} {:>12} {:>6} {:>14}",
        "T", "path", "best ms", "median ms", "runs", "peak MiB"
    );
    for &t in &ts {
        for path in [AttentionPath::Fused, AttentionPath::Composite] {
            // the long cases take minutes on a software adapter: fewer repetitions there
            let reps = if quick || t >= 2048 { 1 } else { 3 };
            let name = format!("{path:?}").to_lowercase();
            match run(&Case { t, path, causal }, reps) {
                Ok((best, median, n, peak)) => println!(
                    "{t:>6} {name:<10} {:>12.1} {:>12.1} {n:>6} {:>14.1}",
                    best * 1e3,
                    median * 1e3,
                    peak as f64 / (1 << 20) as f64
                ),
                Err(e) => println!("{t:>6} {name:<10} refused: {e}"),
            }
        }
    }
}
