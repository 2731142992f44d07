//! `cargo bench`: the fixed workloads of DESIGN.md "Benchmarks", on the wgpu backend.
//!
//! - W1 square f32 matmul, n = 256, 512, 1024, 2048 (and 4096, and f16, on hardware adapters), result read
//!   back: GFLOP/s (2n³/t)
//! - W2 MLP 784-512-512-10, ReLU, batch 128, SGD, one training step including reading the loss: samples/s
//! - W3 CNN conv(1→32,3×3)-ReLU-conv(32→64,3×3)-ReLU-maxpool2-fc(9216→128)-ReLU-fc(128→10), batch 128,
//!   Adam: samples/s
//! - W4 softmax (last axis) and sum reduction (last axis, and all elements) over [4096, 4096] f32: GB/s
//!   (bytes read + bytes written / t; the result is not read back, only one element to wait for the GPU)
//! - launch: µs per `realize` of one tiny op (read back), and per extra dispatch in one realize
//! - memory: peak bytes in use during one W3 step (values and staged textures, `Device::memory`) against
//!   the schedule's live-set bound (`Schedule::live_bytes_bound`); W3 also prints its first step's time
//!   (pipeline compilation included)
//!
//! Each case runs warm-up iterations (pipeline compilation, buffer pool), then timed repetitions until
//! `reps` are done or the time budget is spent; it prints the best and the median. W1 also runs on the CPU
//! reference at n = 256 for scale.
//!
//! Options (environment): `WGRAD_BENCH_QUICK=1` for a short run (fewer repetitions, W1 up to n = 1024);
//! `WGRAD_BENCH_REPS=n` for exactly n timed repetitions of every case (to sample with a profiler);
//! `WGRAD_BACKEND` / `WGRAD_ADAPTER` choose the adapter (see wgrad-wgpu); `WGRAD_PROFILE=1` prints the
//! wall time per kernel after each case (kernels then run one by one: the rates are not comparable).
//! Arguments that do not start with `-` filter cases by substring: `cargo bench --bench workloads -- w1 w4`.
//!
//! Results for some machines are in BENCHMARKS.md.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wgrad::graph::{Backend, Buffer, Layout, MemoryStats, Meta, Schedule, View};
use wgrad::nn::{
    cross_entropy, Activation, AdamConfig, Conv2dConfig, Flatten, Forward, LinearConfig, MaxPool2d,
    Module, Optimizer, Sequential, SgdConfig,
};
use wgrad::{DType, Device, Result, Tensor};

/// Timing policy of one case.
#[derive(Clone, Copy)]
struct Policy {
    warmup: usize,
    reps: usize,
    /// Stop repeating (after at least 2 timed runs) once this much time was spent timing.
    budget: Duration,
}

struct Stats {
    best: f64,
    median: f64,
    n: usize,
}

fn measure(p: Policy, mut f: impl FnMut() -> Result<()>) -> Result<Stats> {
    for _ in 0..p.warmup {
        f()?;
    }
    wgrad::wgpu::profile::reset();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < p.reps && (times.len() < 2 || start.elapsed() < p.budget) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    if wgrad::wgpu::profile::enabled() {
        println!(
            "kernels over {} timed runs:\n{}",
            times.len(),
            wgrad::wgpu::profile::report()
        );
    }
    Ok(Stats {
        best: times[0],
        median: times[times.len() / 2],
        n: times.len(),
    })
}

/// Prints one result line: the rate at the best and the median time.
fn report(case: &str, s: &Stats, work: f64, unit: &str) {
    println!(
        "{case:<34} {:>10.2} {unit:<10} (median {:>10.2}, best {:>9.3} ms, median {:>9.3} ms, {} runs)",
        work / s.best,
        work / s.median,
        s.best * 1e3,
        s.median * 1e3,
        s.n
    );
}

/// Waits until `t` is computed, reading back one element only.
fn sync(dev: &Device, t: &Tensor) -> Result<()> {
    let v = t.value()?;
    let one = View {
        buffer: v.buffer.clone(),
        layout: Layout::contiguous(vec![1].into()),
        dtype: v.dtype,
    };
    dev.backend().download(&one)?;
    Ok(())
}

fn randn(shape: &[usize], dev: &Device) -> Result<Tensor> {
    let t = Tensor::randn(shape.to_vec(), DType::F32, dev)?;
    t.realize()?;
    Ok(t)
}

fn w1(dev: &Device, label: &str, dtype: DType, sizes: &[usize], p: Policy) -> Result<()> {
    for &n in sizes {
        let a = Tensor::randn(vec![n, n], dtype, dev)?;
        let b = Tensor::randn(vec![n, n], dtype, dev)?;
        wgrad::realize(&[&a, &b])?;
        let s = measure(p, || {
            let c = a.matmul(&b)?;
            let v = c.to_f64_vec()?;
            assert_eq!(v.len(), n * n);
            Ok(())
        })?;
        let flop = 2.0 * (n as f64).powi(3);
        report(
            &format!("W1 matmul {n}x{n} {dtype} {label}"),
            &s,
            flop / 1e9,
            "GFLOP/s",
        );
    }
    Ok(())
}

fn labels(batch: usize, dev: &Device) -> Result<Tensor> {
    let y: Vec<i32> = (0..batch as i32).map(|i| (i * 7 + 3) % 10).collect();
    Tensor::from_vec(y, [batch], dev)
}

fn w2(dev: &Device, p: Policy) -> Result<()> {
    dev.manual_seed(0);
    let batch = 128;
    let model = Sequential::new()
        .add(LinearConfig::new(784, 512).init(dev)?)
        .add(Activation::Relu)
        .add(LinearConfig::new(512, 512).init(dev)?)
        .add(Activation::Relu)
        .add(LinearConfig::new(512, 10).init(dev)?);
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(0.01));
    let x = randn(&[batch, 784], dev)?;
    let y = labels(batch, dev)?;
    let s = measure(p, || {
        let loss = cross_entropy(&model.forward(&x)?, &y)?;
        let l = opt.backward_step(&loss)?.item()?;
        assert!(l.is_finite(), "loss {l}");
        Ok(())
    })?;
    report(
        "W2 MLP 784-512-512-10 SGD b128",
        &s,
        batch as f64,
        "samples/s",
    );
    Ok(())
}

/// W3's model, optimizer and batch on `dev`.
fn w3_setup(dev: &Device) -> Result<(Sequential, Optimizer, Tensor, Tensor)> {
    dev.manual_seed(0);
    let batch = 128;
    let model = Sequential::new()
        .add(Conv2dConfig::new(1, 32, 3).init(dev)?)
        .add(Activation::Relu)
        .add(Conv2dConfig::new(32, 64, 3).init(dev)?)
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(LinearConfig::new(9216, 128).init(dev)?)
        .add(Activation::Relu)
        .add(LinearConfig::new(128, 10).init(dev)?);
    let opt = Optimizer::new(model.parameters(), AdamConfig::default());
    let x = randn(&[batch, 1, 28, 28], dev)?;
    let y = labels(batch, dev)?;
    Ok((model, opt, x, y))
}

/// One W3 training step, the loss read back.
fn w3_step(model: &Sequential, opt: &mut Optimizer, x: &Tensor, y: &Tensor) -> Result<()> {
    let loss = cross_entropy(&model.forward(x)?, y)?;
    let l = opt.backward_step(&loss)?.item()?;
    assert!(l.is_finite(), "loss {l}");
    Ok(())
}

fn w3(dev: &Device, p: Policy) -> Result<()> {
    let (model, mut opt, x, y) = w3_setup(dev)?;
    let t = Instant::now();
    w3_step(&model, &mut opt, &x, &y)?;
    println!(
        "{:<34} {:>10.1} ms (pipelines compiled on first use)",
        "W3 first step",
        t.elapsed().as_secs_f64() * 1e3
    );
    let s = measure(p, || w3_step(&model, &mut opt, &x, &y))?;
    report(
        "W3 CNN (MNIST shape) Adam b128",
        &s,
        x.dims()[0] as f64,
        "samples/s",
    );
    Ok(())
}

/// A backend that passes everything on and keeps the largest live-set bound of the schedules it ran.
#[derive(Debug)]
struct Bounded {
    inner: wgrad::wgpu::WgpuBackend,
    bound: Mutex<u64>,
}

impl Backend for Bounded {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn upload(&self, bytes: &[u8], meta: &Meta) -> Result<Buffer> {
        self.inner.upload(bytes, meta)
    }
    fn download(&self, view: &View) -> Result<Vec<u8>> {
        self.inner.download(view)
    }
    fn execute(&self, schedule: &Schedule) -> Result<Vec<Buffer>> {
        let mut bound = self.bound.lock().unwrap_or_else(|e| e.into_inner());
        *bound = (*bound).max(schedule.live_bytes_bound());
        drop(bound);
        self.inner.execute(schedule)
    }
    fn supports(&self, dtype: DType) -> bool {
        self.inner.supports(dtype)
    }
    fn fuses_elementwise(&self) -> bool {
        self.inner.fuses_elementwise()
    }
    fn memory(&self) -> MemoryStats {
        self.inner.memory()
    }
    fn empty_cache(&self) {
        self.inner.empty_cache();
    }
    fn reset_peak_memory_stats(&self) {
        self.inner.reset_peak_memory_stats();
    }
}

/// Peak bytes in use during one W3 step (after a warm-up step) against the live-set bound of its
/// schedules, on a fresh device.
fn w3_memory() -> Result<()> {
    let backend = Arc::new(Bounded {
        inner: wgrad::wgpu::WgpuBackend::new()?,
        bound: Mutex::new(0),
    });
    let dev = Device::from_arc(backend.clone());
    let (model, mut opt, x, y) = w3_setup(&dev)?;
    w3_step(&model, &mut opt, &x, &y)?;
    dev.empty_cache();
    dev.reset_peak_memory_stats();
    *backend.bound.lock().unwrap_or_else(|e| e.into_inner()) = 0;
    w3_step(&model, &mut opt, &x, &y)?;
    let m = dev.memory();
    let bound = *backend.bound.lock().unwrap_or_else(|e| e.into_inner());
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "{:<34} {:>10.1} MiB peak in use, {:.1} MiB live-set bound ({:.2}x), {:.1} MiB peak reserved",
        "W3 step memory",
        mib(m.peak_allocated),
        mib(bound),
        m.peak_allocated as f64 / bound.max(1) as f64,
        mib(m.peak_reserved)
    );
    Ok(())
}

/// Launch overhead: one tiny op per realize (result read back), and the cost of each further dispatch
/// in one realize (64 reductions of 4 elements, which do not fuse, against one).
fn launch(dev: &Device, p: Policy) -> Result<()> {
    let x = randn(&[4], dev)?;
    let s = measure(p, || {
        (&x + 1.0)?.to_vec::<f32>()?;
        Ok(())
    })?;
    println!(
        "{:<34} {:>10.1} µs per realize (median; best {:.1} µs)",
        "launch: one op, read back",
        s.median * 1e6,
        s.best * 1e6
    );
    let xs: Vec<Tensor> = (0..64).map(|_| randn(&[4], dev)).collect::<Result<_>>()?;
    let mut per_count = Vec::new();
    for count in [1usize, 64] {
        let s = measure(p, || {
            let sums: Vec<Tensor> = xs[..count]
                .iter()
                .map(Tensor::sum_all)
                .collect::<Result<_>>()?;
            wgrad::realize(&sums.iter().collect::<Vec<_>>())?;
            sync(dev, &sums[0])
        })?;
        per_count.push(s.median);
    }
    println!(
        "{:<34} {:>10.1} µs per dispatch (median of 64 in one realize against 1)",
        "launch: dispatch",
        (per_count[1] - per_count[0]) / 63.0 * 1e6
    );
    Ok(())
}

fn w4(dev: &Device, p: Policy) -> Result<()> {
    let (r, c) = (4096, 4096);
    let x = randn(&[r, c], dev)?;
    let bytes = (r * c * 4) as f64;
    let s = measure(p, || sync(dev, &x.softmax(-1)?))?;
    report(
        "W4 softmax [4096,4096] last axis",
        &s,
        2.0 * bytes / 1e9,
        "GB/s",
    );
    let s = measure(p, || sync(dev, &x.sum(&[-1], false)?))?;
    report("W4 sum [4096,4096] last axis", &s, bytes / 1e9, "GB/s");
    let s = measure(p, || sync(dev, &x.sum_all()?))?;
    report("W4 sum [4096,4096] all", &s, bytes / 1e9, "GB/s");
    Ok(())
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock (days-to-civil, H. Hinnant).
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn main() -> Result<()> {
    let quick = std::env::var("WGRAD_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| a.to_lowercase())
        .collect();
    let want = |case: &str| filters.is_empty() || filters.iter().any(|f| case.contains(f.as_str()));

    let gpu = wgrad::gpu_device()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("wgrad benchmarks, {}", today());
    println!("device: {}", gpu.name());
    println!(
        "host: {cores} hardware threads{}{}",
        std::env::var("LP_NUM_THREADS")
            .map(|v| format!(", LP_NUM_THREADS={v}"))
            .unwrap_or_default(),
        if quick { ", quick run" } else { "" }
    );
    println!("rate at the best time (median in parentheses)\n");

    // WGRAD_BENCH_REPS=n: exactly n timed repetitions of every case (for profilers such as perf)
    let fixed: Option<usize> = std::env::var("WGRAD_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok());
    let policy = |reps: usize, secs: u64| match fixed {
        Some(n) => Policy {
            warmup: 1,
            reps: n.max(2),
            budget: Duration::MAX,
        },
        None => Policy {
            warmup: 1,
            reps: if quick { reps.min(3) } else { reps },
            budget: Duration::from_secs(if quick { secs.min(2) } else { secs }),
        },
    };
    if want("w1") {
        // a real GPU also runs 4096 (the size the targets are stated at), and f16 where it has it
        let software = gpu.name().contains("(Cpu)");
        let mut sizes = vec![256, 512, 1024];
        if !quick {
            sizes.push(2048);
        }
        if !quick && !software {
            sizes.push(4096);
        }
        w1(&gpu, "wgpu", DType::F32, &sizes, policy(10, 10))?;
        if !software && gpu.backend().supports(DType::F16) {
            w1(&gpu, "wgpu", DType::F16, &sizes, policy(10, 10))?;
        }
        w1(
            &wgrad::cpu_device(),
            "cpu-reference",
            DType::F32,
            &[256],
            policy(3, 5),
        )?;
    }
    if want("w2") {
        w2(&gpu, policy(10, 10))?;
    }
    if want("w3") {
        w3(&gpu, policy(5, 20))?;
    }
    if want("w4") {
        w4(&gpu, policy(10, 10))?;
    }
    if want("launch") {
        launch(&gpu, policy(50, 5))?;
    }
    if want("memory") {
        w3_memory()?;
    }
    Ok(())
}
