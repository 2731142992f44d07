//! Data-parallel step times of the W2 and W3 workloads (DESIGN.md, "Benchmarks") over MPI, for
//! BENCHMARKS.md, "Data-parallel training".
//!
//! ```sh
//! cargo build --release -p wgrad-dist --features mpi --example ddp_bench
//! mpirun -np 2 --bind-to none target/release/examples/ddp_bench --workload w2
//! mpirun -np 1 target/release/examples/ddp_bench --workload w2 --plain   # no DataParallel at all
//! ```
//!
//! Every rank trains the workload on its own batch (`--batch` per rank, random inputs as in
//! `benches/workloads.rs`); a step is forward, backward, the bucketed all-reduce and the update, and ends
//! when the loss is on the host. Rank 0 prints the median step time, the global samples/s, where the time
//! went (see `StepStats`), the gradient bytes per step and the bytes a ring all-reduce would send per rank.

use std::time::Instant;

use wgrad_dist::{device_for_rank, Backend, Communicator, DataParallel, DdpConfig, Mpi};
use wgrad_graph::{DType, Device, Result, Tensor};
use wgrad_nn::{
    cross_entropy, Activation, AdamConfig, Conv2dConfig, Flatten, Forward, LinearConfig, MaxPool2d,
    Module, Optimizer, Sequential, SgdConfig,
};

#[derive(Debug)]
struct Args {
    workload: String,
    batch: usize,
    steps: usize,
    warmup: usize,
    backend: Backend,
    overlap: bool,
    plain: bool,
    /// Only time the all-reduce of the workload's buckets (after a barrier, so no rank waits for another's
    /// compute): the communication cost alone.
    comm_only: bool,
    bucket_mb: f64,
}

fn parse() -> std::result::Result<Args, String> {
    let mut a = Args {
        workload: "w2".into(),
        batch: 128,
        steps: 10,
        warmup: 2,
        backend: Backend::Wgpu,
        overlap: true,
        plain: false,
        comm_only: false,
        bucket_mb: 25.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--workload" => a.workload = value()?,
            "--batch" => a.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--steps" => a.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--warmup" => a.warmup = value()?.parse().map_err(|e| format!("--warmup: {e}"))?,
            "--bucket-mb" => {
                a.bucket_mb = value()?.parse().map_err(|e| format!("--bucket-mb: {e}"))?
            }
            "--backend" => {
                a.backend = match value()?.as_str() {
                    "cpu" => Backend::Cpu,
                    "wgpu" => Backend::Wgpu,
                    other => return Err(format!("--backend {other}: cpu or wgpu")),
                }
            }
            "--no-overlap" => a.overlap = false,
            "--plain" => a.plain = true,
            "--comm-only" => a.comm_only = true,
            other => {
                return Err(format!(
                "unknown option {other}; options: --workload w2|w3 --batch N --steps N --warmup N \
                     --backend cpu|wgpu --bucket-mb X --no-overlap --plain --comm-only"
            ))
            }
        }
    }
    Ok(a)
}

/// W2: MLP 784-512-512-10, ReLU, SGD lr 0.01. W3: the CNN of benches/workloads.rs, Adam.
fn workload(
    name: &str,
    batch: usize,
    dev: &Device,
) -> Result<(Sequential, Optimizer, Tensor, Tensor)> {
    dev.manual_seed(0);
    let (model, opt, x) = match name {
        "w2" => {
            let model = Sequential::new()
                .add(LinearConfig::new(784, 512).init(dev)?)
                .add(Activation::Relu)
                .add(LinearConfig::new(512, 512).init(dev)?)
                .add(Activation::Relu)
                .add(LinearConfig::new(512, 10).init(dev)?);
            let opt = Optimizer::new(model.parameters(), SgdConfig::new(0.01));
            (model, opt, Tensor::randn([batch, 784], DType::F32, dev)?)
        }
        _ => {
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
            (
                model,
                opt,
                Tensor::randn([batch, 1, 28, 28], DType::F32, dev)?,
            )
        }
    };
    let y: Vec<i32> = (0..batch as i32).map(|i| (i * 7 + 3) % 10).collect();
    let y = Tensor::from_vec(y, [batch], dev)?;
    x.realize()?;
    Ok((model, opt, x, y))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn run(mpi: &Mpi, a: &Args) -> Result<()> {
    let dev = device_for_rank(mpi, a.backend)?;
    let (model, mut opt, x, y) = workload(&a.workload, a.batch, &dev)?;
    let config = DdpConfig {
        bucket_bytes: (a.bucket_mb * (1 << 20) as f64) as usize,
        overlap: a.overlap,
        ..DdpConfig::default()
    };
    let mut ddp = DataParallel::new(mpi, &model, &mut opt, config)?;
    if a.comm_only {
        return comm_only(mpi, &ddp, a);
    }
    let mut times = Vec::new();
    for step in 0..a.warmup + a.steps {
        if step == a.warmup {
            ddp.reset_stats();
        }
        let start = Instant::now();
        let loss = cross_entropy(&model.forward(&x)?, &y)?;
        let l = if a.plain {
            opt.backward_step(&loss)?.item()?
        } else {
            ddp.backward_step(&mut opt, &loss)?.item()?
        };
        if !l.is_finite() {
            return Err(wgrad_graph::Error::argument(
                "ddp_bench",
                format!("loss {l}"),
            ));
        }
        if step >= a.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    // the slowest rank's median sets the pace
    let medians = mpi.all_gather(&median(times).to_le_bytes())?;
    let step = medians
        .iter()
        .map(|b| f64::from_le_bytes(b[..8].try_into().expect("8 bytes per rank")))
        .fold(0.0, f64::max);
    if mpi.rank() == 0 {
        let p = mpi.size();
        let s = ddp.stats();
        let n = s.steps.max(1) as f64;
        let ms = |d: std::time::Duration| 1e3 * d.as_secs_f64() / n;
        let payload = ddp.plan().bytes() as f64;
        println!(
            "{} {} ranks{}{}, batch {} per rank, {} params, on {}",
            a.workload,
            p,
            if a.plain {
                " (plain, no DataParallel)"
            } else {
                ""
            },
            if a.overlap { "" } else { " (no overlap)" },
            a.batch,
            model.num_params(),
            dev.name()
        );
        println!(
            "  step {:.1} ms (median, slowest rank), {:.0} samples/s over all ranks",
            1e3 * step,
            (p * a.batch) as f64 / step
        );
        if !a.plain {
            let exchange = ms(s.exchange);
            println!(
                "  per step: compute {:.1} ms, exchange {:.1} ms ({:.1}% of the step; download {:.1} + all-reduce {:.1} when not overlapped), update {:.1} ms",
                ms(s.compute),
                exchange,
                100.0 * exchange / ms(s.total()),
                ms(s.download),
                ms(s.all_reduce),
                ms(s.update)
            );
            println!(
                "  gradients {:.2} MB per step in {} bucket(s); a ring all-reduce sends {:.2} MB per rank",
                payload / 1e6,
                ddp.plan().buckets.len(),
                payload * 2.0 * (p as f64 - 1.0) / p as f64 / 1e6
            );
        }
    }
    Ok(())
}

/// Times the all-reduce of the workload's buckets alone: barrier, then one blocking all-reduce per bucket.
fn comm_only(mpi: &Mpi, ddp: &DataParallel<&Mpi>, a: &Args) -> Result<()> {
    let mut buckets: Vec<Vec<f32>> = ddp
        .plan()
        .buckets
        .iter()
        .map(|b| vec![1.0; b.numel])
        .collect();
    let mut times = Vec::new();
    for rep in 0..a.warmup + 5 * a.steps {
        mpi.barrier()?;
        let start = Instant::now();
        for b in &mut buckets {
            mpi.all_reduce_f32(b)?;
        }
        if rep >= a.warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let medians = mpi.all_gather(&median(times).to_le_bytes())?;
    let t = medians
        .iter()
        .map(|b| f64::from_le_bytes(b[..8].try_into().expect("8 bytes per rank")))
        .fold(0.0, f64::max);
    if mpi.rank() == 0 {
        let (p, bytes) = (mpi.size() as f64, ddp.plan().bytes() as f64);
        println!(
            "{} {} ranks: all-reduce of {:.2} MB in {} bucket(s): {:.2} ms (median); algorithm bandwidth {:.2} GB/s, bus bandwidth (2(p-1)/p of it) {:.2} GB/s",
            a.workload,
            mpi.size(),
            bytes / 1e6,
            buckets.len(),
            1e3 * t,
            bytes / t / 1e9,
            bytes * 2.0 * (p - 1.0) / p / t / 1e9
        );
    }
    Ok(())
}

fn main() {
    let mpi = match Mpi::init() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ddp_bench: {e}");
            std::process::exit(1);
        }
    };
    let result = parse()
        .map_err(|e| wgrad_graph::Error::argument("ddp_bench", e))
        .and_then(|a| run(&mpi, &a));
    mpi.finish(result)
}
