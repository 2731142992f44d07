//! Data-parallel MNIST training over MPI: `mpirun -np 2 target/release/examples/mnist_ddp`.
//!
//! Build with `cargo build --release --features mpi --example mnist_ddp` (Open MPI and libclang
//! installed), then start N processes with `mpirun`; README.md, "Training on several GPUs or hosts", has
//! the commands for one machine and for several hosts. The models and recipes are the `mnist` example's
//! (`models.rs`, included below); the options are its options, with `--batch-size` per rank (the global
//! batch is N times larger: raise `--lr` with it if you like, Goyal et al.'s linear scaling rule).
//!
//! Each rank trains on its shard of every epoch ([`DistributedSampler`]), gradients are averaged with
//! bucketed all-reduce ([`DataParallel`]), batch norm uses local batch statistics and its running
//! statistics are averaged over the ranks before each evaluation. Every rank evaluates its share of the
//! test set and the confusion matrices are summed; rank 0 alone prints and writes the checkpoint. Any
//! error on any rank ends the whole job (`Mpi::finish` calls `MPI_Abort`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../mnist/models.rs"]
mod models;
#[path = "../mnist/options.rs"]
mod options;

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use common::plot::{line_chart, Chart, Series};
use common::{BackendKind, BoxResult};
use models::{batch_tensors, predict, ModelConfig, Recipe, CLASSES};
use options::{ModelKind, OptimizerKind};
use serde::{Deserialize, Serialize};
use wgrad::data::{Loader, LoaderConfig, Mnist, Subset};
use wgrad::dist::{
    device_for_rank, Backend, Communicator, DataParallel, DdpConfig, DistributedSampler, Mpi,
};
use wgrad::nn::{
    checkpoint, cross_entropy, ConfusionMatrix, Forward, LrSchedule, Module, OneCycleLr, Optimizer,
};
use wgrad::Device;

/// Evaluation batch (no backward pass to hold).
const EVAL_BATCH: usize = 500;

/// Train an MLP or a CNN on MNIST with data parallelism over MPI (start it with mpirun).
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    #[arg(long, value_enum, default_value_t = ModelKind::Mlp)]
    model: ModelKind,
    /// Backend of every rank; default: a GPU adapter per rank (`WGRAD_ADAPTER`, or the rank's place on its
    /// host), else the CPU.
    #[arg(long, value_enum)]
    backend: Option<BackendKind>,
    /// Epochs in total (default: the model's recipe, 20 for the MLP, 12 for the CNN).
    #[arg(long)]
    epochs: Option<usize>,
    /// Mini-batch size of each rank (the global batch is this times the number of ranks).
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak learning rate of the one-cycle schedule.
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    /// An MNIST-format directory instead of the bundled digits (every host must have it).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Checkpoint written by rank 0 after every epoch [default: target/examples/mnist_ddp/<model>.safetensors].
    #[arg(long, value_name = "PATH")]
    save: Option<PathBuf>,
    /// Plot of training loss and test accuracy per epoch, by rank 0 [default:
    /// target/examples/mnist_ddp/<model>.png].
    #[arg(long, value_name = "PATH")]
    plot: Option<PathBuf>,
    /// Continue from a checkpoint (read by rank 0 and broadcast; --epochs may extend the run).
    #[arg(long, value_name = "PATH")]
    resume: Option<PathBuf>,
    /// Seed of the initial weights, the shuffling and the dropout masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Train on the first N training images only (for quick runs).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

/// What a checkpoint's metadata holds besides the tensors.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunState {
    model: ModelConfig,
    optimizer: OptimizerKind,
    /// `batch_size` is per rank.
    recipe: Recipe,
    seed: u64,
    ranks: usize,
    epochs_done: usize,
    /// (training loss, test accuracy) per epoch, for the plot.
    history: Vec<(f64, f64)>,
}

fn main() {
    let mpi = match Mpi::init() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("mnist_ddp: {e} (start it with mpirun; see README.md)");
            std::process::exit(1);
        }
    };
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            // every rank parsed the same arguments: one prints, all leave with the same status
            if mpi.rank() == 0 {
                let _ = e.print();
            }
            let code = e.exit_code();
            mpi.finish(Ok::<(), String>(()));
            std::process::exit(code);
        }
    };
    let result = run(&mpi, &args);
    mpi.finish(result)
}

fn run(mpi: &Mpi, args: &Args) -> BoxResult<()> {
    if args.batch_size == 0 || !(args.lr > 0.0 && args.lr.is_finite()) {
        return Err("--batch-size must be positive and --lr a positive number".into());
    }
    let root = mpi.rank() == 0;
    let dev = match args.backend {
        Some(BackendKind::Cpu) => device_for_rank(mpi, Backend::Cpu)?,
        Some(BackendKind::Wgpu) => device_for_rank(mpi, Backend::Wgpu)?,
        None => device_for_rank(mpi, Backend::Wgpu).or_else(|e| {
            eprintln!(
                "mnist_ddp: rank {}: no GPU adapter ({e}); using the CPU backend",
                mpi.rank()
            );
            device_for_rank(mpi, Backend::Cpu)
        })?,
    };
    let names = mpi.all_gather(format!("{} on {}", mpi.host(), dev.name()).as_bytes())?;
    let (train, test) = datasets(args)?;
    let mut state = run_state(mpi, args)?;
    dev.manual_seed(state.seed);
    let mut model = state.model.build(&dev)?;
    let mut opt = Optimizer::new(
        model.parameters(),
        state.optimizer.rule(state.recipe.max_lr),
    );
    if let (Some(path), true) = (&args.resume, root) {
        checkpoint::load(path, &model, Some(&mut opt))?;
    }
    // checks that every rank built the same model, then starts every rank from rank 0's state
    let mut ddp = DataParallel::new(mpi, &model, &mut opt, DdpConfig::default())?;
    let kind = state.model.kind();
    let save = output(&args.save, kind, "safetensors", root)?;
    let plot = output(&args.plot, kind, "png", root)?;
    if root {
        println!(
            "wgrad mnist_ddp: {} ({} parameters), {:?}, {} epochs, batch {} per rank × {} ranks, peak lr {}",
            state.model.kind(),
            model.num_params(),
            state.optimizer,
            state.recipe.epochs,
            state.recipe.batch_size,
            mpi.size(),
            state.recipe.max_lr,
        );
        for (r, n) in names.iter().enumerate() {
            println!("rank {r}: {}", String::from_utf8_lossy(n));
        }
        println!(
            "data: {} training images ({} per rank and epoch), {} test images; {} gradient buckets, {:.2} MB per step",
            train.len(),
            train.len().div_ceil(mpi.size()),
            test.len(),
            ddp.plan().buckets.len(),
            ddp.plan().bytes() as f64 / 1e6
        );
    }
    let recipe = state.recipe;
    let sampler = DistributedSampler::new(train.len(), mpi.size(), mpi.rank(), state.seed)?;
    let loader = Loader::new(
        &train,
        LoaderConfig {
            batch_size: recipe.batch_size,
            ..Default::default()
        },
    )?;
    let steps = sampler.batches(recipe.batch_size, false);
    let schedule = OneCycleLr::new(recipe.max_lr, (recipe.epochs * steps).max(1));
    let mut last = None;
    for epoch in state.epochs_done..recipe.epochs {
        // dropout masks differ between ranks, and a resumed run draws the same ones
        dev.manual_seed(state.seed ^ ((epoch as u64 + 1) << 40) ^ ((mpi.rank() as u64) << 52));
        let start = Instant::now();
        let (mut loss_sum, mut hits, mut seen) = (0.0, 0usize, 0usize);
        for (i, batch) in loader.epoch_from(sampler.indices(epoch)).enumerate() {
            let (x, y) = batch_tensors(&batch, &dev)?;
            // the same graph as the single-process example; the step differs
            let logits = model.forward(&x)?;
            let loss = cross_entropy(&logits, &y)?;
            let predicted = logits.argmax(-1, false)?;
            opt.set_lr(schedule.lr(epoch * steps + i));
            loss_sum += ddp
                .backward_step_with(&mut opt, &loss, &[&predicted])?
                .item()?;
            hits += predicted
                .to_vec::<i32>()?
                .iter()
                .zip(&batch.labels)
                .filter(|(p, a)| p == a)
                .count();
            seen += batch.batch_size;
        }
        let seconds = start.elapsed().as_secs_f64();
        // metrics over all ranks: one all-reduce per epoch
        let sums = ddp.all_reduce_sum(&[loss_sum, hits as f64, seen as f64, steps as f64])?;
        ddp.average_buffers(&model)?;
        let confusion = evaluate(&ddp, &mut model, &test, &dev)?;
        state.epochs_done = epoch + 1;
        state
            .history
            .push((sums[0] / sums[3], confusion.accuracy()));
        if root {
            println!(
                "epoch {:>2}/{}: loss {:.4}, train acc {:.2}%, test acc {:.2}%, {:.1} s, {:.0} samples/s (all ranks)",
                epoch + 1,
                recipe.epochs,
                sums[0] / sums[3],
                100.0 * sums[1] / sums[2],
                100.0 * confusion.accuracy(),
                seconds,
                sums[2] / seconds
            );
            checkpoint::save(&save, &model, Some(&opt), &state)?;
            write_plot(&plot, &state.history)?;
        }
        last = Some(confusion);
    }
    let confusion = match last {
        Some(c) => c,
        None => evaluate(&ddp, &mut model, &test, &dev)?,
    };
    let s = ddp.stats();
    if root {
        println!(
            "\ntest accuracy: {:.2}% of {}, macro F1 {:.4}",
            100.0 * confusion.accuracy(),
            confusion.total(),
            confusion.macro_f1()
        );
        if s.steps > 0 {
            let per = |d: std::time::Duration| 1e3 * d.as_secs_f64() / s.steps as f64;
            println!(
                "per step on rank 0: {:.1} ms compute, {:.1} ms gradient exchange ({:.0}%), {:.1} ms update; \
                 {:.2} MB in {} all-reduce calls",
                per(s.compute),
                per(s.exchange),
                100.0 * s.exchange.as_secs_f64() / s.total().as_secs_f64(),
                per(s.update),
                s.bytes as f64 / s.steps as f64 / 1e6,
                s.calls / s.steps
            );
        }
        println!("checkpoint: {}", save.display());
        println!(
            "plot: {} (training loss and test accuracy per epoch)",
            plot.display()
        );
    }
    Ok(())
}

/// `--save`/`--plot`, or `target/examples/mnist_ddp/<model>.<ext>`; only rank 0 creates the directory.
fn output(given: &Option<PathBuf>, kind: &str, ext: &str, root: bool) -> BoxResult<PathBuf> {
    let file = format!("{kind}.{ext}");
    if root {
        return common::output(given.clone(), "mnist_ddp", &file);
    }
    Ok(given
        .clone()
        .unwrap_or_else(|| Path::new("target/examples/mnist_ddp").join(file)))
}

/// Training loss (left axis) and test accuracy (right axis) per epoch.
fn write_plot(path: &Path, history: &[(f64, f64)]) -> BoxResult<()> {
    let loss: Vec<f64> = history.iter().map(|h| h.0).collect();
    let accuracy: Vec<f64> = history.iter().map(|h| 100.0 * h.1).collect();
    let chart = Chart {
        title: "MNIST, data-parallel training".into(),
        x_label: "epoch".into(),
        y_label: "training loss".into(),
        series: vec![Series::per_step("training loss", &loss)],
        right: Some((
            "test accuracy (%)".into(),
            vec![Series::per_step("test accuracy", &accuracy)],
        )),
    };
    line_chart(path, &chart, (800, 480))
}

/// (train, test): `--data DIR` or the bundled split, the training set cut to `--limit`.
fn datasets(args: &Args) -> BoxResult<(Mnist, Mnist)> {
    let (train, test) = match &args.data {
        Some(dir) => Mnist::load_dir(dir)?,
        None => Mnist::bundled_split()?,
    };
    let train = match args.limit {
        Some(0) => return Err("--limit must be at least 1".into()),
        Some(n) if n < train.len() => train.split_at(n)?.0,
        _ => train,
    };
    Ok((train, test))
}

/// The run's settings: from the command line, or (`--resume`) from the checkpoint rank 0 reads, sent to
/// every rank.
fn run_state(mpi: &Mpi, args: &Args) -> BoxResult<RunState> {
    let Some(path) = &args.resume else {
        let model = args.model.config();
        let base = Recipe::for_model(&model);
        return Ok(RunState {
            recipe: Recipe {
                epochs: args.epochs.unwrap_or(base.epochs),
                batch_size: args.batch_size,
                max_lr: args.lr,
            },
            model,
            optimizer: args.optimizer,
            seed: args.seed,
            ranks: mpi.size(),
            epochs_done: 0,
            history: Vec::new(),
        });
    };
    let mut bytes = Vec::new();
    if mpi.rank() == 0 {
        let state: RunState = checkpoint::load_config(path)?;
        bytes = serde_json::to_vec(&state)?;
    }
    mpi.broadcast(0, &mut bytes)?;
    let mut state: RunState = serde_json::from_slice(&bytes)?;
    if let Some(e) = args.epochs {
        state.recipe.epochs = e;
    }
    if state.ranks != mpi.size() && mpi.rank() == 0 {
        println!(
            "note: the checkpoint was trained on {} ranks, this job has {} (the global batch changes)",
            state.ranks,
            mpi.size()
        );
    }
    state.ranks = mpi.size();
    Ok(state)
}

/// Each rank predicts its share of the test set (every `size`-th image); the confusion matrices are
/// summed over the ranks, so every rank returns the one of the whole test set.
fn evaluate(
    ddp: &DataParallel<&Mpi>,
    model: &mut dyn Forward,
    test: &Mnist,
    dev: &Device,
) -> BoxResult<ConfusionMatrix> {
    let shard: Vec<usize> = (ddp.rank()..test.len()).step_by(ddp.size()).collect();
    let (predicted, actual) = predict(model, Subset::new(test, shard)?, EVAL_BATCH, dev)?;
    let local = ConfusionMatrix::from_labels(&actual, &predicted, CLASSES)?;
    let flat: Vec<f64> = local.counts().iter().flatten().map(|&c| c as f64).collect();
    let sums = ddp.all_reduce_sum(&flat)?;
    let counts = sums
        .chunks(CLASSES)
        .map(|row| row.iter().map(|&c| c as u64).collect())
        .collect();
    Ok(ConfusionMatrix::from_counts(counts)?)
}
