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
