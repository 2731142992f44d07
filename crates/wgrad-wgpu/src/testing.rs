//! Helpers for tests that need a GPU.

use crate::backend::WgpuBackend;

/// The default backend, or `None` with a loud `skipped: no adapter` on stderr. With `CI=true` a missing
/// adapter panics instead: GPU tests must fail, not skip, in CI.
pub fn backend_or_skip() -> Option<WgpuBackend> {
    match WgpuBackend::new() {
        Ok(b) => Some(b),
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("no wgpu adapter in CI (CI=true): {e}");
            }
            eprintln!("==================== skipped: no adapter ({e}) ====================");
            None
        }
    }
}

/// The default backend when it runs the texture products (`matmul_tex`, `conv2d_taps`), else `None` with a
/// loud skip. CI's lavapipe takes that path for every matmul and convolution: there a software adapter
/// without it is a failure.
pub fn texture_backend_or_skip() -> Option<WgpuBackend> {
    let gpu = backend_or_skip()?;
    if !crate::kernels::matmul_tex::supported(gpu.caps()) {
        let name = &gpu.caps().adapter_name;
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !(ci && gpu.caps().is_software),
            "software adapter {name} in CI cannot run matmul_tex (needs 8-lane subgroups)"
        );
        eprintln!("skipped: adapter {name} cannot run matmul_tex (hardware GPUs never use it)");
        return None;
    }
    Some(gpu)
}
