//! What the data-parallel tests train, shared by the thread-rank tests (`threads.rs`, no MPI) and the MPI
//! harness (`mpi/`): a small MLP on the first bundled MNIST digits, trained by every rank on its shard,
//! and the single-process run on the combined batch that it must follow.

#![allow(dead_code)] // each test binary uses a part

use wgrad_data::{Loader, LoaderConfig, Mnist};
use wgrad_dist::{Communicator, DataParallel, DdpConfig, DistributedSampler};
use wgrad_graph::{Device, Result, Tensor};
use wgrad_nn::{
    cross_entropy, Activation, BatchNormConfig, Conv2dConfig, Flatten, Forward, LinearConfig,
    MaxPool2d, Module, Optimizer, Sequential, SgdConfig,
};

/// Training images used (the first of the bundled training split).
pub const IMAGES: usize = 512;
/// Shuffling seed of the sampler and of the reference loader.
pub const DATA_SEED: u64 = 5;
/// The seed rank 0 draws its initial weights with (rank r draws with `INIT_SEED + r`, so only the
/// broadcast makes the ranks agree).
pub const INIT_SEED: u64 = 1_000;

pub fn images() -> Mnist {
    let (train, _) = Mnist::bundled_split().expect("bundled MNIST");
    train.split_at(IMAGES).expect("enough images").0
}

/// 784-32-10 MLP, ReLU; `hidden` changes the width (the signature-mismatch test builds another).
pub fn mlp(hidden: usize, dev: &Device) -> Result<Sequential> {
    Ok(Sequential::new()
        .add(Flatten)
        .add(LinearConfig::new(784, hidden).init(dev)?)
        .add(Activation::Relu)
        .add(LinearConfig::new(hidden, 10).init(dev)?))
}

/// A tiny CNN with batch norm: conv(1→4, 3×3, pad 1)-BN-ReLU-maxpool2-fc(784→10).
pub fn cnn_bn(dev: &Device) -> Result<Sequential> {
    Ok(Sequential::new()
        .add(
            Conv2dConfig::new(1, 4, 3)
                .with_padding(1)
                .without_bias()
                .init(dev)?,
        )
        .add(BatchNormConfig::new(4).init_2d(dev)?)
        .add(Activation::Relu)
        .add(MaxPool2d::new(2))
        .add(Flatten)
        .add(LinearConfig::new(4 * 14 * 14, 10).init(dev)?))
}

pub fn sgd(model: &Sequential) -> Optimizer {
    Optimizer::new(
        model.parameters(),
        SgdConfig {
            momentum: 0.9,
            ..SgdConfig::new(0.05)
        },
    )
}

fn loss_of(
    model: &Sequential,
    images: &[f32],
    labels: &[i32],
    shape: [usize; 4],
    dev: &Device,
) -> Result<Tensor> {
    let x = Tensor::from_slice(images, shape.to_vec(), dev)?;
    let y = Tensor::from_slice(labels, [labels.len()], dev)?;
    cross_entropy(&model.forward(&x)?, &y)
}

/// Trains `model` data-parallel for `steps` steps of `batch` images per rank; returns the DDP wrapper (its
/// stats) and the local losses.
pub fn train_ddp<C: Communicator>(
    comm: C,
    model: &Sequential,
    opt: &mut Optimizer,
    data: &Mnist,
    batch: usize,
    steps: usize,
    dev: &Device,
) -> Result<(DataParallel<C>, Vec<f64>)> {
    let (rank, size) = (comm.rank(), comm.size());
    let mut ddp = DataParallel::new(comm, model, opt, DdpConfig::default())?;
    let sampler = DistributedSampler::new(data.len(), size, rank, DATA_SEED)?.with_drop_last(true);
    let loader = Loader::new(
        data,
        LoaderConfig {
            batch_size: batch,
            drop_last: true,
            ..Default::default()
        },
    )?;
    let mut losses = Vec::new();
    for b in loader.epoch_from(sampler.indices(0)).take(steps) {
        let loss = loss_of(model, &b.images, &b.labels, b.shape, dev)?;
        losses.push(ddp.backward_step(opt, &loss)?.item()?);
    }
    Ok((ddp, losses))
}

/// The single-process run the job must follow: rank 0's initial weights, batches of `size · batch`.
pub fn train_reference(
    data: &Mnist,
    hidden: usize,
    batch: usize,
    steps: usize,
    dev: &Device,
) -> Result<Sequential> {
    dev.manual_seed(INIT_SEED);
    let model = mlp(hidden, dev)?;
    let mut opt = sgd(&model);
    let loader = Loader::new(
        data,
        LoaderConfig {
            batch_size: batch,
            seed: DATA_SEED,
            drop_last: true,
            ..Default::default()
        },
    )?;
    for b in loader.epoch(0).take(steps) {
        let loss = loss_of(&model, &b.images, &b.labels, b.shape, dev)?;
        opt.backward_step(&loss)?;
    }
    Ok(model)
}

/// Largest |a − b| / (atol + rtol·|b|) over every parameter (≤ 1 is within tolerance), with its name.
pub fn compare(a: &Sequential, b: &Sequential, atol: f64, rtol: f64) -> Result<(f64, String)> {
    let mut worst = (0.0, String::new());
    for ((name, p), (_, q)) in a.named_parameters().iter().zip(b.named_parameters()) {
        let x = p.tensor().to_f64_vec()?;
        let y = q.tensor().to_f64_vec()?;
        for (u, v) in x.iter().zip(&y) {
            let r = (u - v).abs() / (atol + rtol * v.abs());
            if r > worst.0 {
                worst = (r, name.clone());
            }
        }
    }
    Ok(worst)
}

/// The data-parallel run of rank `comm.rank()` and the reference, compared: `Ok(message)` when the ranks
/// agree bit for bit and follow the reference within tolerance.
pub fn equivalence<C: Communicator>(
    comm: C,
    dev: &Device,
    batch: usize,
    steps: usize,
) -> Result<String> {
    let data = images();
    let (rank, size) = (comm.rank(), comm.size());
    dev.manual_seed(INIT_SEED + rank as u64);
    let model = mlp(32, dev)?;
    let mut opt = sgd(&model);
    let (ddp, losses) = train_ddp(comm, &model, &mut opt, &data, batch, steps, dev)?;
    ddp.check_in_sync(&model, &opt)?;
    let reference = train_reference(&data, 32, size * batch, steps, dev)?;
    let (worst, name) = compare(&model, &reference, 1e-5, 1e-4)?;
    if worst > 1.0 {
        return Err(wgrad_graph::Error::argument(
            "equivalence",
            format!(
                "rank {rank}: {name} is {worst:.2}x the tolerance away from the single-process run"
            ),
        ));
    }
    let s = ddp.stats();
    Ok(format!(
        "rank {rank}/{size}: {steps} steps in sync, within {worst:.3} of the tolerance of the single-process \
         run; losses {losses:.4?}; {} all-reduce calls, {} bytes",
        s.calls, s.bytes
    ))
}

/// Seed example 16: the four workers' vectors.
pub const WORKERS: [[f32; 4]; 4] = [
    [17.0, 11.0, 1.0, 9.0],
    [5.0, 13.0, 23.0, 14.0],
    [3.0, 6.0, 10.0, 8.0],
    [12.0, 7.0, 2.0, 12.0],
];

/// A model that is one vector parameter `w`.
#[derive(Debug)]
pub struct Vector {
    pub w: wgrad_nn::Param,
}

impl Module for Vector {
    fn visit_params(&self, prefix: &str, f: &mut dyn FnMut(&str, &wgrad_nn::Param)) {
        f(&wgrad_nn::join(prefix, "w"), &self.w);
    }
    fn set_training(&mut self, _training: bool) {}
}

/// Seed example 16 on rank `comm.rank()` of 4: the all-reduce of the workers' vectors is
/// [37, 37, 36, 43]; through the data-parallel step (loss `w · x_rank`, so the local gradient is `x_rank`,
/// SGD with lr 1 from w = 0) every rank ends with w = −[37, 37, 36, 43] / 4.
pub fn seed_example_16<C: Communicator>(comm: C, dev: &Device) -> Result<String> {
    let rank = comm.rank();
    let x = WORKERS[rank];
    let mut sum = x.to_vec();
    comm.all_reduce_f32(&mut sum)?;
    let fail = |what: String| Err(wgrad_graph::Error::argument("seed example 16", what));
    if sum != [37.0, 37.0, 36.0, 43.0] {
        return fail(format!("rank {rank}: all-reduce gave {sum:?}"));
    }
    let model = Vector {
        w: wgrad_nn::Param::trainable("w", Tensor::zeros([4], wgrad_graph::DType::F32, dev))?,
    };
    let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(1.0));
    let mut ddp = DataParallel::new(comm, &model, &mut opt, DdpConfig::default())?;
    let xs = Tensor::from_slice(&x, [4], dev)?;
    let loss = model.w.tensor().mul(&xs)?.sum_all()?;
    ddp.backward_step(&mut opt, &loss)?;
    let w = model.w.tensor().to_vec::<f32>()?;
    if w != [-9.25, -9.25, -9.0, -10.75] {
        return fail(format!("rank {rank}: w = {w:?} after the averaged step"));
    }
    Ok(format!(
        "rank {rank}: all-reduce {sum:?}, averaged step w = {w:?}"
    ))
}
