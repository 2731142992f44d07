//! Autotuning: where several kernels can compute an op, time each once per (adapter, op, shape class) and
//! keep the fastest, remembered on disk across runs.
//!
//! Off by default, as PyTorch's `torch.backends.cudnn.benchmark`: the automatic picks
//! ([`crate::kernels::matmul::pick`], [`crate::kernels::conv2d::pick`]) are the measured defaults, and timing
//! candidates costs the first step that meets a new shape. [`crate::Options::autotune`] or `WGRAD_AUTOTUNE=1`
//! turns it on. Every candidate is a kernel the op table cross-checks against the CPU reference
//! (`tests/ops`: every matmul variant, every convolution path), so a choice changes speed, not results
//! beyond float rounding.
//!
//! The cache is a text file, one decision per line (tab-separated: adapter, op, shape class, choice, then
//! the measured `candidate=µs` pairs), at `WGRAD_AUTOTUNE_CACHE`, else `$XDG_CACHE_HOME/wgrad/autotune.tsv`,
//! else `~/.cache/wgrad/autotune.tsv`. The adapter key holds the adapter's name, driver and backend, so one
//! file serves several machines and a driver update tunes again. Lines that do not parse, or whose choice
//! is no longer a candidate, are ignored (and rewritten at the next decision); the file is replaced
//! atomically (written beside it, then renamed), so an interrupted run never leaves half a file. A cache
//! that cannot be read or written costs only the re-timing: the op still runs, with a warning on stderr.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wgrad_graph::Result;

/// The environment variable that turns autotuning on (`1`) or off (`0`).
pub const ENV: &str = "WGRAD_AUTOTUNE";
/// The environment variable that places the cache file.
pub const CACHE_ENV: &str = "WGRAD_AUTOTUNE_CACHE";
const HEADER: &str =
    "# wgrad autotune cache: adapter\top\tshape class\tchoice\tcandidate=microseconds ...";

/// A kernel choice that can be written to and read from the cache.
pub trait Candidate: Copy {
    /// The name the cache stores (stable across versions).
    fn label(self) -> &'static str;
}

/// The decisions of one adapter, backed by the cache file.
#[derive(Debug)]
pub struct Tuner {
    adapter: String,
    file: Option<PathBuf>,
    /// (adapter, op, class) → the rest of the line, for every adapter in the file.
    table: Mutex<BTreeMap<(String, String, String), String>>,
}

/// `WGRAD_AUTOTUNE` as a switch: `Some(true)` for 1/true/on, `Some(false)` for 0/false/off.
pub fn from_env() -> Option<bool> {
    let v = std::env::var(ENV).ok()?;
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" | "" => Some(false),
        _ => {
            eprintln!("wgrad-wgpu: {ENV}={v:?} is not 0 or 1; autotuning stays off");
            Some(false)
        }
    }
}

/// Where the cache lives: `WGRAD_AUTOTUNE_CACHE`, the XDG cache directory, or `~/.cache`.
pub fn default_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CACHE_ENV) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("wgrad").join("autotune.tsv"))
}

impl Tuner {
    /// The tuner of `adapter` (name, driver and backend in one string), with the decisions `file` holds
    /// (`None`: decisions last for this process only).
    pub fn open(adapter: &str, file: Option<PathBuf>) -> Tuner {
        let adapter = adapter.replace(['\t', '\n'], " ");
        let table = file.as_deref().map(load).unwrap_or_default();
        Tuner {
            adapter,
            file,
            table: Mutex::new(table),
        }
    }

    /// The fastest of `candidates` for `op` at shape `class`: the cached choice when there is one, else
    /// each candidate timed by `time` (seconds), the decision stored. One candidate is returned untimed.
    ///
    /// # Errors
    /// The first error `time` returns (a candidate that cannot run is a bug in the candidate list, not a
    /// slow kernel).
    pub fn choose<C: Candidate>(
        &self,
        op: &str,
        class: &str,
        candidates: &[C],
        mut time: impl FnMut(C) -> Result<f64>,
    ) -> Result<C> {
        let Some(&first) = candidates.first() else {
            panic!("autotune: no candidates for {op}");
        };
        if candidates.len() == 1 {
            return Ok(first);
        }
        let key = (self.adapter.clone(), op.to_string(), class.to_string());
        if let Some(c) = self.cached(&key, candidates) {
            return Ok(c);
        }
        let mut best = (first, f64::INFINITY);
        let mut times = Vec::new();
        for &c in candidates {
            let t = time(c)?;
            times.push(format!("{}={:.0}", c.label(), t * 1e6));
            if t < best.1 {
                best = (c, t);
            }
        }
        let line = format!("{}\t{}", best.0.label(), times.join(" "));
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.insert(key, line);
        if let Some(file) = &self.file {
            if let Err(e) = save(file, &table) {
                eprintln!(
                    "wgrad-wgpu: cannot write the autotune cache {}: {e}",
                    file.display()
                );
            }
        }
        Ok(best.0)
    }

    fn cached<C: Candidate>(&self, key: &(String, String, String), candidates: &[C]) -> Option<C> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let choice = table.get(key)?.split('\t').next()?;
        candidates.iter().copied().find(|c| c.label() == choice)
    }
}

/// Every well-formed line of `file` (a missing file is an empty cache).
fn load(file: &Path) -> BTreeMap<(String, String, String), String> {
    let mut table = BTreeMap::new();
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return table,
        Err(e) => {
            eprintln!(
                "wgrad-wgpu: cannot read the autotune cache {}: {e}; tuning again",
                file.display()
            );
            return table;
        }
    };
    let mut bad = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let f: Vec<&str> = line.splitn(5, '\t').collect();
        match f[..] {
            [adapter, op, class, choice, rest] if !choice.is_empty() => {
                let key = (adapter.to_string(), op.to_string(), class.to_string());
                table.insert(key, format!("{choice}\t{rest}"));
            }
            _ => bad += 1,
        }
    }
    if bad > 0 {
        eprintln!(
            "wgrad-wgpu: ignored {bad} malformed line(s) of the autotune cache {}",
            file.display()
        );
    }
    table
}

/// Writes `table` to `file` through a temporary file beside it and a rename.
fn save(file: &Path, table: &BTreeMap<(String, String, String), String>) -> std::io::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::from(HEADER);
    text.push('\n');
    for ((adapter, op, class), rest) in table {
        text.push_str(&format!("{adapter}\t{op}\t{class}\t{rest}\n"));
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum K {
        Slow,
        Mid,
        Fast,
    }
    impl Candidate for K {
        fn label(self) -> &'static str {
            match self {
                K::Slow => "slow",
                K::Mid => "mid",
                K::Fast => "fast",
            }
        }
    }

    fn temp_file(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wgrad-autotune-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("nested").join("autotune.tsv")
    }

    fn timing(k: K) -> Result<f64> {
        Ok(match k {
            K::Slow => 2e-3,
            K::Mid => 1.5e-3,
            K::Fast => 1e-3,
        })
    }

    /// The fastest candidate wins and is written down; a second tuner on the same file (a new process)
    /// answers from the file without timing anything; another adapter's lines survive; a malformed line is
    /// ignored, not fatal.
    #[test]
    fn decisions_persist_per_adapter() {
        let file = temp_file("persist");
        let a = Tuner::open("gpu A\tdriver 1", Some(file.clone()));
        let got = a.choose("matmul", "m64", &[K::Slow, K::Fast], timing);
        assert_eq!(got.expect("timed"), K::Fast);
        let other = Tuner::open("gpu B", Some(file.clone()));
        let got = other.choose("matmul", "m64", &[K::Fast, K::Slow], |k| {
            Ok(if k == K::Slow { 1e-4 } else { 1e-3 })
        });
        assert_eq!(got.expect("timed"), K::Slow);
        let mut text = std::fs::read_to_string(&file).expect("written");
        assert!(
            text.contains("gpu A driver 1\tmatmul\tm64\tfast\tslow=2000 fast=1000"),
            "{text}"
        );
        text.push_str("garbage without tabs\n");
        std::fs::write(&file, text).expect("rewrite");
        let again = Tuner::open("gpu A\tdriver 1", Some(file.clone()));
        let got = again.choose("matmul", "m64", &[K::Slow, K::Fast], |_| {
            panic!("a cached decision is not timed again")
        });
        assert_eq!(got.expect("cached"), K::Fast);
        let b = Tuner::open("gpu B", Some(file.clone()));
        let got = b.choose("matmul", "m64", &[K::Slow, K::Fast], |_| panic!("cached"));
        assert_eq!(got.expect("cached"), K::Slow);
        let _ = std::fs::remove_dir_all(file.parent().and_then(Path::parent).expect("dir"));
    }

    /// A stored choice that is no longer a candidate is timed again; one candidate is never timed; a
    /// timing error is the caller's error.
    #[test]
    fn stale_choices_are_retimed() {
        let file = temp_file("stale");
        let t = Tuner::open("gpu", Some(file.clone()));
        let both = [K::Slow, K::Fast];
        assert_eq!(t.choose("conv2d", "c", &both, timing).ok(), Some(K::Fast));
        let t = Tuner::open("gpu", Some(file.clone()));
        let mut timed = 0;
        let got = t.choose("conv2d", "c", &[K::Slow, K::Mid], |k| {
            timed += 1;
            timing(k)
        });
        assert_eq!((got.ok(), timed), (Some(K::Mid), 2));
        let got = t.choose("conv2d", "c", &[K::Slow], |_| panic!("one candidate"));
        assert_eq!(got.ok(), Some(K::Slow));
        let err = t.choose("conv2d", "d", &both, |_| {
            Err(wgrad_graph::Error::argument("timing", "boom"))
        });
        assert!(err.is_err());
        let _ = std::fs::remove_dir_all(file.parent().and_then(Path::parent).expect("dir"));
    }
}
