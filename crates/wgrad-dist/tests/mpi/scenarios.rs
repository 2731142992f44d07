//! What a rank of the MPI harness does, by scenario (`WGRAD_DIST_SCENARIO`).

use std::time::Duration;

use wgrad_data::{Loader, LoaderConfig};
use wgrad_dist::{
    device_for_rank, Backend, Communicator, DataParallel, DdpConfig, DistributedSampler, Mpi,
};
use wgrad_graph::{DType, Device, Error, Result, Tensor};
use wgrad_nn::{cross_entropy, Forward};

use crate::common;

/// Runs `scenario` as one rank and ends the process through `Mpi::finish` (an error aborts the job).
pub fn run_rank(scenario: &str) {
    let mpi = match Mpi::init() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("MPI init: {e}");
            std::process::exit(2);
        }
    };
    let result = run(&mpi, scenario);
    if let Ok(msg) = &result {
        println!("rank {}: ok: {msg}", mpi.rank());
    }
    mpi.finish(result);
}

fn run(mpi: &Mpi, scenario: &str) -> Result<String> {
    let cpu = || device_for_rank(mpi, Backend::Cpu);
    match scenario {
        "equivalence-cpu" => common::equivalence(mpi, &cpu()?, 16, 6),
        "equivalence-wgpu" => {
            let dev = device_for_rank(mpi, Backend::Wgpu)?;
            let msg = common::equivalence(mpi, &dev, 16, 6)?;
            Ok(format!("{msg} on {}", dev.name()))
        }
        "seed16" => common::seed_example_16(mpi, &cpu()?),
        "mismatch" => {
            let dev = cpu()?;
            let hidden = if mpi.rank() == 1 { 33 } else { 32 };
            let model = common::mlp(hidden, &dev)?;
            let mut opt = common::sgd(&model);
            DataParallel::new(mpi, &model, &mut opt, DdpConfig::default())?;
            Ok("the signatures matched".to_string())
        }
        "error" | "panic" | "killed" | "hang" => faulty(mpi, scenario, &cpu()?),
        other => Err(Error::argument(
            "scenario",
            format!("unknown scenario {other:?}"),
        )),
    }
}

/// Trains; at step 2 rank 1 fails as `fault` says, while rank 0 goes on into the step's all-reduce.
fn faulty(mpi: &Mpi, fault: &str, dev: &Device) -> Result<String> {
    let data = common::images();
    let model = common::mlp(32, dev)?;
    let mut opt = common::sgd(&model);
    let mut ddp = DataParallel::new(mpi, &model, &mut opt, DdpConfig::default())?;
    let sampler = DistributedSampler::new(data.len(), mpi.size(), mpi.rank(), 0)?;
    let loader = Loader::new(
        &data,
        LoaderConfig {
            batch_size: 8,
            ..Default::default()
        },
    )?;
    for (step, b) in loader.epoch_from(sampler.indices(0)).take(4).enumerate() {
        let mut x = Tensor::from_slice(&b.images, b.shape.to_vec(), dev)?;
        if step == 2 && mpi.rank() == 1 {
            match fault {
                // a shape error in the forward pass
                "error" => x = Tensor::zeros([8, 5], DType::F32, dev),
                "panic" => panic!("rank 1 panics at step 2"),
                "killed" => {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &std::process::id().to_string()])
                        .status();
                    std::thread::sleep(Duration::from_secs(60));
                }
                _ => std::thread::sleep(Duration::from_secs(120)),
            }
        }
        let y = Tensor::from_slice(&b.labels, [b.batch_size], dev)?;
        let loss = cross_entropy(&model.forward(&x)?, &y)?;
        ddp.backward_step(&mut opt, &loss)?;
    }
    Ok(format!("rank {} was not meant to get here", mpi.rank()))
}
