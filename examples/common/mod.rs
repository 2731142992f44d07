//! What every example shares: picking the backend, a progress bar, where outputs go, and plots (curves and
//! image grids drawn with `plotters`). Each example includes this directory with
//! `#[path = "../common/mod.rs"] mod common;` (examples cannot depend on each other).
#![allow(dead_code)]

pub mod plot;

use std::error::Error;
use std::path::PathBuf;

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use wgrad::Device;

/// The examples' error type: wgrad's errors, I/O, plotting and CLI errors all fit.
pub type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Which backend an example runs on (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The GPU backend (any wgpu adapter, lavapipe included).
    Wgpu,
    /// The CPU reference backend (slow, exact).
    Cpu,
}

/// The device for `--backend` (default: the best GPU adapter, else the CPU).
pub fn device(kind: Option<BackendKind>) -> BoxResult<Device> {
    Ok(match kind {
        None => wgrad::best_device(),
        Some(BackendKind::Wgpu) => wgrad::gpu_device()?,
        Some(BackendKind::Cpu) => wgrad::cpu_device(),
    })
}

/// A progress bar over `len` items showing `prefix`, rate, ETA and a message (loss, accuracy). indicatif
/// hides it when stderr is not a terminal, so logs keep only what the example prints.
pub fn progress_bar(len: u64, prefix: impl Into<String>) -> BoxResult<ProgressBar> {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {per_sec:>12} eta {eta:>3}  {msg}",
        )?
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.into());
    Ok(bar)
}

/// `target/examples/<example>/<file>` (created), or `given` when the user named a path. git ignores
/// `target/`, so runs leave the checkout clean.
pub fn output(given: Option<PathBuf>, example: &str, file: &str) -> BoxResult<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let dir = PathBuf::from("target").join("examples").join(example);
    std::fs::create_dir_all(&dir)?;
    Ok(dir.join(file))
}
