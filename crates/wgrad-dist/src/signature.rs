//! The model signature: what every rank must agree on before training starts.
//!
//! Why: ranks that built different models (another `--model`, a changed layer width on one host, a stale
//! binary) would reduce gradients of different layouts, which MPI cannot notice; the job would compute
//! nonsense or hang on a size mismatch. At start-up every rank all-gathers a 64-bit hash of its signature;
//! when the hashes differ, the ranks gather the full descriptions and every rank fails with an error naming
//! the first tensor that differs.

use wgrad_graph::{Error, Result};
use wgrad_nn::{Module, Optimizer};

use crate::comm::Communicator;

/// One line per tensor: state tensors of the model in visit order (`name shape dtype kind`), then the
/// optimizer's parameters in its order (which sets the bucket layout) and its state slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub lines: Vec<String>,
}

impl Signature {
    /// The signature of `model` trained by `opt`.
    pub fn of(model: &dyn Module, opt: &Optimizer) -> Signature {
        let state = model.state();
        let mut lines: Vec<String> = state
            .iter()
            .map(|(name, p)| {
                let t = p.tensor();
                let kind = if p.is_trainable() { "param" } else { "buffer" };
                format!("{name} {} {} {kind}", t.shape(), t.dtype())
            })
            .collect();
        for p in opt.params() {
            let name = state
                .iter()
                .find(|(_, q)| q.same(p))
                .map_or("(not in the model)", |(n, _)| n.as_str());
            lines.push(format!("optimizer {name} {}", p.tensor().shape()));
        }
        lines.push(format!("optimizer slots {:?}", opt.rule().slots()));
        Signature { lines }
    }

    /// FNV-1a over the lines (each followed by a newline).
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.lines.iter().flat_map(|l| l.bytes().chain([b'\n'])) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// Checks that every rank has this signature. Every rank gets the same answer: `Ok` on all, or an
    /// error on all naming the ranks that differ from rank 0 and their first differing line.
    ///
    /// # Errors
    /// `Error::Argument` (op `data_parallel`) when the signatures differ; communication errors.
    pub fn check(&self, comm: &dyn Communicator) -> Result<()> {
        let hashes = comm.all_gather(&self.hash().to_le_bytes())?;
        if hashes.iter().all(|h| *h == hashes[0]) {
            return Ok(());
        }
        // Rare path: gather the full descriptions so that the error says what differs.
        let text = comm.all_gather(self.lines.join("\n").as_bytes())?;
        let all: Vec<Vec<String>> = text
            .iter()
            .map(|t| {
                String::from_utf8_lossy(t)
                    .lines()
                    .map(String::from)
                    .collect()
            })
            .collect();
        let mut diffs = Vec::new();
        for (rank, lines) in all.iter().enumerate().skip(1) {
            if let Some(d) = first_difference(&all[0], lines) {
                diffs.push(format!("rank {rank} {d}"));
            }
        }
        Err(Error::argument(
            "data_parallel",
            format!(
                "model signature differs between ranks (every rank must build the same model and optimizer): {}",
                diffs.join("; ")
            ),
        ))
    }
}

/// `has "x" where rank 0 has "y"` for the first line that differs, `None` when the lists are equal.
fn first_difference(root: &[String], other: &[String]) -> Option<String> {
    let n = root.len().max(other.len());
    (0..n).find_map(|i| match (root.get(i), other.get(i)) {
        (Some(a), Some(b)) if a == b => None,
        (a, b) => Some(format!(
            "has {} where rank 0 has {} (entry {i})",
            b.map_or("nothing".to_string(), |s| format!("`{s}`")),
            a.map_or("nothing".to_string(), |s| format!("`{s}`")),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(lines: &[&str]) -> Signature {
        Signature {
            lines: lines.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn signature_hash_tells_lines_apart() {
        let a = sig(&["0.weight [4, 3] f32 param", "0.bias [4] f32 param"]);
        let b = sig(&["0.weight [4, 3] f32 param", "0.bias [5] f32 param"]);
        let c = sig(&["0.weight [4, 3] f32 param0.bias [4] f32 param"]);
        assert_eq!(a.hash(), a.clone().hash());
        assert_ne!(a.hash(), b.hash());
        assert_ne!(a.hash(), c.hash(), "line boundaries count");
    }

    #[test]
    fn signature_first_difference_names_the_entry() {
        let a = sig(&["x [2] f32 param", "y [3] f32 param"]).lines;
        let b = sig(&["x [2] f32 param", "y [4] f32 param"]).lines;
        let d = first_difference(&a, &b).expect("differs");
        assert_eq!(
            d,
            "has `y [4] f32 param` where rank 0 has `y [3] f32 param` (entry 1)"
        );
        let short = sig(&["x [2] f32 param"]).lines;
        let d = first_difference(&a, &short).expect("differs");
        assert!(d.starts_with("has nothing where rank 0 has `y"), "{d}");
        assert_eq!(first_difference(&a, &a), None);
    }
}
