//! The op-table harness: every row of `tests/common/table.rs`, on every shape variant, as its own trial
//! (libtest-mimic), named `<op>::<check>::<shapes>[ (<note>)][::<layout>]`:
//!
//! - `gradcheck`: central differences in f64 on the CPU (`exp::gradcheck::[3, 5]`);
//! - `gpu`: wgpu against the CPU in f32, forward and input gradients of Σ out·w (`exp::gpu::[3, 5]`); for
//!   elementwise, reduce and copy rows also on strided inputs (`exp::gpu::[17, 3]::transposed`, `::sliced`,
//!   `::broadcast`); matmul rows on every kernel the adapter runs (`matmul::gpu[matmul_tiled]::[3, 5]x[5, 4]`)
//!   and conv2d rows on every path (`gpu[conv2d_direct]`, `gpu[conv2d_unfolded]`, `gpu[conv2d_taps]`);
//! - `gpu_f64`: with SHADER_F64, what a GPU computes exactly in f64 matches the CPU and everything else is
//!   refused with `Error::Unsupported` (without SHADER_F64, the error names it);
//! - `gpu_f16`: f16 kernels against the CPU in f16 (without SHADER_F16, the error names it);
//! - `gpu_int[i32]`, `gpu_int[u32]`: the integer-capable ops, exactly;
//!
//! plus `random::gpu::[10000]` (the Philox streams on both backends), `op_table_covers_every_primitive` and
//! `forward_only_rows_run_on_cpu`. Trials run on several threads and share one GPU device (and one per
//! forced kernel).
//!
//! Filtering: `cargo test --test ops exp` runs exactly the trials of op `exp` (not `expand`): a filter that
//! equals a row's op name keeps that op's trials. Any other filter is libtest's substring match on the full
//! trial name (`cargo test --test ops -- 'gpu[matmul_tiled]'`, `-- '::transposed'`); `--exact` and `--skip`
//! work as usual.
//!
//! Without an adapter the GPU trials are ignored, with a loud `skipped: no adapter`; with `CI=true` the run
//! fails instead (`wgrad_wgpu::testing::backend_or_skip`).

#[path = "../common/mod.rs"]
mod common;

mod cases;
mod checks;
mod gpu;
mod gradcheck;
mod special;

use std::sync::LazyLock;

use libtest_mimic::{Arguments, Failed, Trial};

use common::table::Row;

static ROWS: LazyLock<Vec<Row>> = LazyLock::new(common::table::rows);

fn trial(
    name: String,
    gpu: bool,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Trial {
    let ignored = gpu && gpu::init().is_none();
    Trial::test(name, move || f().map_err(Failed::from)).with_ignored_flag(ignored)
}

/// Every trial, each tagged with the op it checks.
fn trials() -> Vec<(&'static str, Trial)> {
    let mut all = Vec::new();
    for row in ROWS.iter() {
        for case in cases::of_row(row) {
            let name = case.name();
            let t = if case.needs_gpu() {
                trial(name, true, move || checks::run(&case))
            } else {
                let n = name.clone();
                trial(name, false, move || {
                    gradcheck::check(&n, case.row, case.variant)
                })
            };
            all.push((row.name, t));
        }
    }
    let name = "random::gpu::[10000]";
    all.push((
        "random",
        trial(name.into(), true, move || special::random(name)),
    ));
    let coverage = trial("op_table_covers_every_primitive".into(), false, || {
        special::coverage(&ROWS)
    });
    all.push(("", coverage));
    let forward_only = trial("forward_only_rows_run_on_cpu".into(), false, || {
        special::forward_only_rows_run_on_cpu(&ROWS)
    });
    all.push(("", forward_only));
    all
}

/// Trial names must tell trials apart: two rows of one op with equal shapes need different notes.
fn assert_unique(trials: &[(&str, Trial)]) {
    let mut names: Vec<&str> = trials.iter().map(|(_, t)| t.name()).collect();
    names.sort_unstable();
    let dups: Vec<&&str> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(dups.is_empty(), "duplicate trial names: {dups:?}");
}

fn main() {
    let mut args = Arguments::from_args();
    if gpu::init().is_none() {
        eprintln!(
            "==================== skipped: no adapter: GPU trials are ignored ===================="
        );
    }
    let mut trials = trials();
    assert_unique(&trials);
    // `cargo test exp`: the trials of op `exp`, not every name containing "exp" (`expand`)
    if let Some(op) = args.filter.clone().filter(|_| !args.exact) {
        if trials.iter().any(|(o, _)| *o == op) {
            trials.retain(|(o, _)| *o == op);
            args.filter = None;
        }
    }
    let trials = trials.into_iter().map(|(_, t)| t).collect();
    libtest_mimic::run(&args, trials).exit();
}
