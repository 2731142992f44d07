//! Data-parallel training with ranks as threads ([`ThreadGroup`]): the whole `DataParallel` path
//! (signature check, broadcast, bucketing, averaging, update) on the CPU backend, no MPI needed. The MPI
//! harness (`tests/mpi/`, feature `mpi`) runs the same scenarios as processes.

mod common;

use std::sync::Arc;

use wgrad_dist::{Communicator, DataParallel, DdpConfig, ThreadGroup};
use wgrad_graph::{Device, Result};
use wgrad_nn::Module;

/// Runs `f(comm, own CPU device)` on one thread per rank; the results in rank order.
fn on_ranks<T: Send + 'static>(
    size: usize,
    f: impl Fn(ThreadGroup, &Device) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let handles: Vec<_> = ThreadGroup::new(size)
        .into_iter()
        .map(|comm| {
            let f = f.clone();
            std::thread::spawn(move || f(comm, &Device::new(wgrad_cpu::CpuBackend)))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("rank thread panicked"))
        .collect()
}

fn all_ok(results: Vec<Result<String>>) {
    for r in results {
        match r {
            Ok(msg) => println!("{msg}"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn ddp_two_ranks_match_single_process() {
    all_ok(on_ranks(2, |comm, dev| {
        common::equivalence(comm, dev, 16, 6)
    }));
}

#[test]
fn ddp_three_ranks_match_single_process() {
    all_ok(on_ranks(3, |comm, dev| {
        common::equivalence(comm, dev, 8, 4)
    }));
}

#[test]
fn ddp_seed_example_16() {
    all_ok(on_ranks(4, common::seed_example_16));
}

#[test]
fn ddp_signature_mismatch_fails_on_every_rank() {
    let errors = on_ranks(2, |comm, dev| {
        let hidden = if comm.rank() == 1 { 33 } else { 32 };
        let model = common::mlp(hidden, dev).expect("model");
        let mut opt = common::sgd(&model);
        DataParallel::new(comm, &model, &mut opt, DdpConfig::default())
            .expect_err("the ranks built different models")
            .to_string()
    });
    for e in errors {
        assert!(
            e.contains("model signature differs")
                && e.contains("rank 1 has `1.weight [33, 784] f32 param`"),
            "{e}"
        );
    }
}

#[test]
fn ddp_batch_norm_buffers_are_local_until_averaged() {
    let results = on_ranks(2, |comm, dev| -> Result<(String, bool)> {
        let data = common::images();
        dev.manual_seed(7);
        let model = common::cnn_bn(dev)?;
        let mut opt = common::sgd(&model);
        let (ddp, _) = common::train_ddp(comm, &model, &mut opt, &data, 4, 2, dev)?;
        // Local batch statistics: the running means differ between the ranks.
        let before = ddp.check_in_sync(&model, &opt).map_err(|e| e.to_string());
        ddp.average_buffers(&model)?;
        ddp.check_in_sync(&model, &opt)?;
        let names: Vec<String> = model.named_buffers().into_iter().map(|(n, _)| n).collect();
        Ok((format!("{before:?} {names:?}"), before.is_err()))
    });
    for r in results {
        let (msg, differed) = r.expect("rank");
        assert!(
            differed,
            "running statistics should differ before averaging: {msg}"
        );
        assert!(
            msg.contains("differs from rank 0 in 1.running_mean"),
            "{msg}"
        );
    }
}
