//! Opt-in wall time per kernel: set `WGRAD_PROFILE=1` and read [`report`].
//!
//! With profiling on, [`crate::engine::Recorder::finish`] submits every dispatch on its own and waits for it,
//! so each kernel's time is measured alone (timestamp queries are optional in wgpu and absent on some
//! adapters; wall time works everywhere). This serializes the GPU and is for finding where time goes, not
//! for benchmark numbers. Off by default, and then costs one cached check per execute.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Calls and seconds per pipeline label (`file/entry<dtype>{overrides}`).
static TABLE: Mutex<Option<HashMap<String, (u64, f64)>>> = Mutex::new(None);

/// Whether `WGRAD_PROFILE` is set to something other than `0` (read once).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("WGRAD_PROFILE").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Adds one call of `label` that took `seconds`.
pub fn record(label: &str, seconds: f64) {
    if let Ok(mut table) = TABLE.lock() {
        let entry = table
            .get_or_insert_with(HashMap::new)
            .entry(label.to_string())
            .or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }
}

/// The table so far, slowest kernel first: total ms, calls, ms per call, share of the total, label.
pub fn report() -> String {
    let table = TABLE
        .lock()
        .map(|t| t.clone())
        .unwrap_or_default()
        .unwrap_or_default();
    let mut rows: Vec<(String, (u64, f64))> = table.into_iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    let total: f64 = rows.iter().map(|r| r.1 .1).sum();
    let mut out = format!(
        "{:>10} {:>7} {:>10} {:>6}  kernel\n",
        "total ms", "calls", "ms/call", "share"
    );
    for (label, (calls, secs)) in rows {
        out += &format!(
            "{:>10.1} {calls:>7} {:>10.3} {:>5.1}%  {label}\n",
            secs * 1e3,
            secs * 1e3 / calls as f64,
            100.0 * secs / total.max(f64::MIN_POSITIVE)
        );
    }
    out
}

/// Clears the table (e.g. after warm-up).
pub fn reset() {
    if let Ok(mut table) = TABLE.lock() {
        *table = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_sorts_by_total_time() {
        reset();
        record("a", 0.001);
        record("b", 0.003);
        record("a", 0.001);
        let r = report();
        let (b, a) = (r.find("  b\n").expect("b"), r.find("  a\n").expect("a"));
        assert!(b < a, "{r}");
        assert!(r.contains("      2      1.000"), "{r}");
        reset();
        assert_eq!(report().lines().count(), 1);
    }
}
