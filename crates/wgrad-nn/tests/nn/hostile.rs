//! Hostile checkpoint files: every truncated, bit-flipped, padded or lying file is an `Error::Data` (or
//! `Error::Io`) naming the file, or a valid load when the mutation kept the file valid; never a panic, and
//! never an allocation the file's size does not justify.
//!
//! The fuzz test is proptest with a fixed seed and a bounded number of cases (fast, and the same cases in
//! every run); no failure file is written.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde::{Deserialize, Serialize};
use wgrad_graph::{Device, Error, Result};
use wgrad_nn::checkpoint;
use wgrad_nn::*;

use crate::dev;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Cfg {
    width: usize,
}

fn model(d: &Device) -> Sequential {
    Sequential::new()
        .add(LinearConfig::new(3, 4).init(d).unwrap())
        .add(BatchNormConfig::new(4).init_1d(d).unwrap())
}

/// A temp directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("wgrad-nn-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `Ok`, or an `Error::Data` / `Error::Io` whose message names `path`.
fn check_outcome<T: std::fmt::Debug>(what: &str, path: &Path, r: Result<T>) {
    let name = path.display().to_string();
    match r {
        Ok(_) => {}
        Err(e @ (Error::Data { .. } | Error::Io { .. })) => {
            assert!(
                e.to_string().contains(&name),
                "{what}: message does not name the file: {e}"
            )
        }
        Err(e) => panic!("{what}: expected Error::Data or Error::Io, got {e:?}"),
    }
}

/// Loads `path` every way a checkpoint is read.
fn load_all_ways(path: &Path, d: &Device) {
    let m = model(d);
    check_outcome("load", path, checkpoint::load(path, &m, None));
    check_outcome("load_config", path, checkpoint::load_config::<Cfg>(path));
    let lax = checkpoint::LoadOptions::new().strict(false);
    check_outcome("load_with", path, checkpoint::load_with(path, &m, &lax));
    let mut opt = Optimizer::new(m.parameters(), AdamConfig::default());
    check_outcome(
        "load_optimizer",
        path,
        checkpoint::load_optimizer(path, &m, &mut opt),
    );
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    Insert(usize, Vec<u8>),
    Overwrite(usize, Vec<u8>),
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match m {
        Mutation::Truncate(at) => bytes.truncate(at % (n + 1)),
        Mutation::FlipBit(at, bit) if n > 0 => bytes[at % n] ^= 1 << (bit % 8),
        Mutation::FlipBit(..) => {}
        Mutation::Insert(at, data) => {
            let at = at % (n + 1);
            bytes.splice(at..at, data.iter().copied());
        }
        Mutation::Overwrite(at, data) => {
            for (i, b) in data.iter().enumerate() {
                if let Some(slot) = bytes.get_mut((at + i) % n.max(1)) {
                    *slot = *b;
                }
            }
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // positions favour the 8-byte length and the JSON header, where the structure is
    let at = prop_oneof![0usize..16, 0usize..400, any::<usize>()];
    let data = proptest::collection::vec(any::<u8>(), 1..12);
    prop_oneof![
        at.clone().prop_map(Mutation::Truncate),
        (at.clone(), any::<u8>()).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        (at.clone(), data.clone()).prop_map(|(a, d)| Mutation::Insert(a, d)),
        (at, data).prop_map(|(a, d)| Mutation::Overwrite(a, d)),
    ]
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_c4e5),
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn checkpoint_fuzz_mutated_files_are_errors_naming_the_file() {
    let d = dev();
    let dir = Dir::new("ckpt-fuzz");
    let m = model(&d);
    let model_file = checkpoint::to_bytes(&m, &Cfg { width: 4 }).unwrap();
    let opt = Optimizer::new(m.parameters(), AdamConfig::default());
    let optim_file = checkpoint::optimizer_to_bytes(&m, &opt).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(config(300));
    let strategy = (any::<bool>(), proptest::collection::vec(mutation(), 1..4));
    runner
        .run(&strategy, |(optim, mutations)| {
            let mut bytes = if optim {
                optim_file.clone()
            } else {
                model_file.clone()
            };
            for m in &mutations {
                apply(&mut bytes, m);
            }
            let path = dir.write("fuzz.safetensors", &bytes);
            load_all_ways(&path, &d);
            Ok(())
        })
        .unwrap();
}

/// A safetensors file: the 8-byte little-endian header length, the JSON header, the data.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Headers that claim far more than the file holds: refused before anything is allocated for them (the
/// `safetensors` crate checks offsets against the file size with checked arithmetic, and wgrad compares
/// shapes before copying).
#[test]
fn checkpoint_huge_shapes_and_lengths_are_refused() {
    let d = dev();
    let dir = Dir::new("ckpt-huge");
    let w = r#""0.weight":{"dtype":"F32","shape":[4,3],"data_offsets":[0,48]}"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // 2^93 elements: the element count overflows
        (
            "overflow",
            raw_file(
                r#"{"0.weight":{"dtype":"F32","shape":[2147483648,2147483648,2147483648],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
        ),
        // 2^40 elements backed by 16 bytes
        (
            "lying_offsets",
            raw_file(
                r#"{"0.weight":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,4398046511104]}}"#,
                &[0; 16],
            ),
        ),
        // a header length of 2^64 - 1, and one just under the crate's 100 MB cap
        ("huge_header_len", u64::MAX.to_le_bytes().to_vec()),
        ("big_header_len", {
            let mut b = 99_999_999u64.to_le_bytes().to_vec();
            b.extend_from_slice(b"{}");
            b
        }),
        // a valid file whose tensor is a huge-shaped empty tensor
        (
            "empty_huge",
            raw_file(
                &format!(
                    r#"{{{w},"0.bias":{{"dtype":"F32","shape":[0,4294967295,4294967295],"data_offsets":[48,48]}}}}"#
                ),
                &[0; 48],
            ),
        ),
        ("not_json", raw_file("{\"0.weight\":", &[])),
        ("empty", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = dir.write(name, &bytes);
        let m = model(&d);
        let err = checkpoint::load(&path, &m, None).unwrap_err();
        assert!(matches!(err, Error::Data { .. }), "{name}: {err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{name}: {err}"
        );
        load_all_ways(&path, &d);
    }
}
