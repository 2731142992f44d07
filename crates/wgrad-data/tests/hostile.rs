//! Hostile IDX files: truncated, bit-flipped, padded, with lying dims (raw or inside gzip) or corrupt gzip.
//! Every reader (`idx::read*`, `Mnist::from_files`, `Mnist::load_dir`) gives `Error::Data` or `Error::Io`
//! naming the file (the directory, for `load_dir`), or a valid parse when the mutation kept the file valid;
//! never a panic. Dims are drawn big on purpose: a reader that allocated what a header claims before
//! checking it against the file would abort the run.
//!
//! proptest with a fixed seed and a bounded number of cases: fast, and the same cases in every run; no
//! failure file is written.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use wgrad_data::{idx, Mnist};
use wgrad_graph::{Error, Result};

/// A temp directory removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("wgrad-data-{tag}-{}", std::process::id()));
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

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    Insert(usize, Vec<u8>),
    Overwrite(usize, Vec<u8>),
    /// Sets dim `i` (of those the header has) to a value, often huge.
    SetDim(usize, u32),
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len();
    match m {
        Mutation::Truncate(at) => bytes.truncate(at % (n + 1)),
        Mutation::FlipBit(at, bit) if n > 0 => bytes[at % n] ^= 1 << (bit % 8),
        Mutation::Insert(at, data) => {
            let at = at % (n + 1);
            bytes.splice(at..at, data.iter().copied());
        }
        Mutation::Overwrite(at, data) if n > 0 => {
            for (i, b) in data.iter().enumerate() {
                bytes[(at + i) % n] = *b;
            }
        }
        Mutation::SetDim(i, value) => {
            let ndim = bytes.get(3).map_or(0, |&d| usize::from(d));
            let at = 4 + 4 * (i % ndim.max(1));
            if let Some(slot) = bytes.get_mut(at..at + 4) {
                slot.copy_from_slice(&value.to_be_bytes());
            }
        }
        Mutation::FlipBit(..) | Mutation::Overwrite(..) => {}
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // positions favour the header, where the structure is
    let at = prop_oneof![0usize..20, any::<usize>()];
    let data = proptest::collection::vec(any::<u8>(), 1..8);
    let dim = prop_oneof![0u32..64, any::<u32>(), Just(u32::MAX), Just(1 << 31)];
    prop_oneof![
        at.clone().prop_map(Mutation::Truncate),
        (at.clone(), any::<u8>()).prop_map(|(a, b)| Mutation::FlipBit(a, b)),
        (at.clone(), data.clone()).prop_map(|(a, d)| Mutation::Insert(a, d)),
        (at, data).prop_map(|(a, d)| Mutation::Overwrite(a, d)),
        (0usize..3, dim).prop_map(|(i, v)| Mutation::SetDim(i, v)),
    ]
}

/// One hostile file: mutations of the plain IDX bytes, then (when `gz`) compression and mutations of the
/// compressed bytes.
#[derive(Clone, Debug)]
struct Recipe {
    gz: bool,
    plain: Vec<Mutation>,
    packed: Vec<Mutation>,
}

fn recipe() -> impl Strategy<Value = Recipe> {
    let muts = |max| proptest::collection::vec(mutation(), 0..max);
    (any::<bool>(), muts(3), muts(2)).prop_map(|(gz, plain, packed)| Recipe { gz, plain, packed })
}

fn cook(plain: &[u8], r: &Recipe) -> Vec<u8> {
    let mut bytes = plain.to_vec();
    for m in &r.plain {
        apply(&mut bytes, m);
    }
    if r.gz {
        bytes = gzip(&bytes);
        for m in &r.packed {
            apply(&mut bytes, m);
        }
    }
    bytes
}

/// `Ok` with a consistent result, or `Error::Data` / `Error::Io` whose message contains `name`.
fn check<T>(what: &str, name: &Path, r: Result<T>, valid: impl Fn(&T) -> bool) {
    let name = name.display().to_string();
    match r {
        Ok(v) => assert!(valid(&v), "{what}: inconsistent result"),
        Err(e @ (Error::Data { .. } | Error::Io { .. })) => {
            assert!(
                e.to_string().contains(&name),
                "{what}: message does not name {name}: {e}"
            )
        }
        Err(e) => panic!("{what}: expected Error::Data or Error::Io, got {e:?}"),
    }
}

fn consistent(idx: &idx::Idx) -> bool {
    idx.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) == Some(idx.data.len())
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x1d8_f022),
        failure_persistence: None,
        ..Config::default()
    }
}

const N: usize = 6;

fn images_plain() -> Vec<u8> {
    let data: Vec<u8> = (0..N * 6).map(|i| (i * 7) as u8).collect();
    idx::encode(&[N, 2, 3], &data).unwrap()
}

fn labels_plain() -> Vec<u8> {
    let data: Vec<u8> = (0..N).map(|i| (i % 10) as u8).collect();
    idx::encode(&[N], &data).unwrap()
}

#[test]
fn idx_fuzz_readers_return_errors_naming_the_file() {
    let dir = Dir::new("idx-fuzz");
    let (images, labels) = (images_plain(), labels_plain());
    let mut runner = TestRunner::new(config(400));
    runner
        .run(&(recipe(), any::<bool>()), |(r, mutate_images)| {
            let plain = if mutate_images { &images } else { &labels };
            let path = dir.write("file", &cook(plain, &r));
            check("read", &path, idx::read(&path), consistent);
            check("read_images", &path, idx::read_images(&path), consistent);
            check("read_labels", &path, idx::read_labels(&path), consistent);
            let name = path.display().to_string();
            let bytes = std::fs::read(&path).unwrap();
            check(
                "decode",
                &path,
                idx::decode(&name, &bytes, None, "x"),
                consistent,
            );
            // paired with a valid partner
            let other = dir.write("other", if mutate_images { &labels } else { &images });
            let (img, lbl) = if mutate_images {
                (&path, &other)
            } else {
                (&other, &path)
            };
            let valid = |m: &Mnist| m.images.len() == m.len() * m.pixels();
            check("from_files", &path, Mnist::from_files(img, lbl), valid);
            Ok(())
        })
        .unwrap();
}

/// `load_dir` over a standard layout with one mutated file: errors name the directory (every file path
/// is inside it, and layout errors name the directory itself).
#[test]
fn idx_fuzz_load_dir() {
    let dir = Dir::new("idx-fuzz-dir");
    let (images, labels) = (images_plain(), labels_plain());
    let names = [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ];
    let mut runner = TestRunner::new(config(150));
    runner
        .run(&(recipe(), 0usize..4), |(r, which)| {
            for name in names {
                for stale in [name.to_string(), format!("{name}.gz")] {
                    let _ = std::fs::remove_file(dir.0.join(stale));
                }
            }
            for (i, name) in names.iter().enumerate() {
                let plain = if i % 2 == 0 { &images } else { &labels };
                if i == which {
                    let file = if r.gz {
                        format!("{name}.gz")
                    } else {
                        name.to_string()
                    };
                    dir.write(&file, &cook(plain, &r));
                } else {
                    dir.write(name, plain);
                }
            }
            let whole = |m: &Mnist| m.images.len() == m.len() * m.pixels();
            let valid = |(a, b): &(Mnist, Mnist)| whole(a) && whole(b);
            check("load_dir", &dir.0, Mnist::load_dir(&dir.0), valid);
            Ok(())
        })
        .unwrap();
}
