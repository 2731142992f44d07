//! The [`Communicator`] trait: the collectives data-parallel training needs, whatever carries them.
//!
//! Three implementations: `mpi::Mpi` (feature `mpi`, processes on one or many hosts),
//! [`Solo`] (one process; every collective is the identity, so code written for a job also runs alone),
//! and [`ThreadGroup`] (ranks as threads of one process, for tests that need several ranks but no MPI).
//!
//! Collectives are blocking and must be called by every rank in the same order, as in MPI. Results are the
//! same on every rank (bit for bit): the data-parallel invariant "every rank holds the same parameters"
//! rests on it. MPI recommends but does not promise it; Open MPI's reductions for commutative operations
//! give it (each element is reduced once and copied, or reduced in the same pairs on every rank), and the
//! two-rank test checks it.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wgrad_graph::{Error, Result};

/// The gradient buckets of one step, handed to [`Communicator::all_reduce_buckets`] one after another.
///
/// A source may still be copying later buckets off the GPU while earlier ones are being reduced: `poll`
/// returns `None` until bucket `i` is on the host.
pub trait BucketSource {
    /// Number of buckets.
    fn count(&self) -> usize;
    /// Elements of bucket `i`.
    fn numel(&self, i: usize) -> usize;
    /// Bucket `i`'s values once they are on the host (`numel(i)` of them), `None` while they are not yet
    /// after waiting up to `wait` (the thread sleeps meanwhile: on a software adapter the device's work runs
    /// on the same cores, and a spinning thread would slow it). Asked for `i = 0, 1, …` in order, each
    /// until it answers `Some` (then never again).
    fn poll(&mut self, i: usize, wait: Duration) -> Result<Option<Vec<f32>>>;
}

/// Collectives over a fixed group of ranks `0..size()`.
pub trait Communicator: std::fmt::Debug {
    /// This process's rank.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Rank among the ranks on this host (which GPU to take).
    fn local_rank(&self) -> usize {
        self.rank()
    }
    /// Ranks on this host.
    fn local_size(&self) -> usize {
        self.size()
    }

    /// Element-wise sum over all ranks, in place.
    fn all_reduce_f32(&self, data: &mut [f32]) -> Result<()>;
    /// Element-wise sum over all ranks, in place (metrics: counts and loss sums).
    fn all_reduce_f64(&self, data: &mut [f64]) -> Result<()>;
    /// Root's bytes on every rank (`data` is resized on the others).
    fn broadcast(&self, root: usize, data: &mut Vec<u8>) -> Result<()>;
    /// Every rank's bytes, indexed by rank (lengths may differ).
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>>;
    /// Waits until every rank has called it.
    fn barrier(&self) -> Result<()>;

    /// Sums the buckets `source` produces, in order, over all ranks. An implementation that can (MPI)
    /// starts a non-blocking all-reduce of each bucket as soon as it is on the host and keeps polling the
    /// source for the next, so copies off the GPU and reductions overlap. The default is sequential.
    fn all_reduce_buckets(&self, source: &mut dyn BucketSource) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(source.count());
        for i in 0..source.count() {
            let mut values = wait_for(source, i)?;
            self.all_reduce_f32(&mut values)?;
            out.push(values);
        }
        Ok(out)
    }

    /// Ends the whole job (every rank) after printing `msg` on this rank's stderr. Under MPI this is
    /// `MPI_Abort`; a single process exits.
    fn abort(&self, msg: &str) -> !;
}

/// Waits until bucket `i` of `source` is on the host.
pub fn wait_for(source: &mut dyn BucketSource, i: usize) -> Result<Vec<f32>> {
    loop {
        if let Some(v) = source.poll(i, Duration::from_millis(100))? {
            if v.len() != source.numel(i) {
                return Err(Error::Backend {
                    backend: "dist",
                    msg: format!(
                        "bucket {i} has {} values, expected {}",
                        v.len(),
                        source.numel(i)
                    ),
                });
            }
            return Ok(v);
        }
    }
}

impl<C: Communicator + ?Sized> Communicator for &C {
    fn rank(&self) -> usize {
        (**self).rank()
    }
    fn size(&self) -> usize {
        (**self).size()
    }
    fn local_rank(&self) -> usize {
        (**self).local_rank()
    }
    fn local_size(&self) -> usize {
        (**self).local_size()
    }
    fn all_reduce_f32(&self, data: &mut [f32]) -> Result<()> {
        (**self).all_reduce_f32(data)
    }
    fn all_reduce_f64(&self, data: &mut [f64]) -> Result<()> {
        (**self).all_reduce_f64(data)
    }
    fn broadcast(&self, root: usize, data: &mut Vec<u8>) -> Result<()> {
        (**self).broadcast(root, data)
    }
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        (**self).all_gather(data)
    }
    fn barrier(&self) -> Result<()> {
        (**self).barrier()
    }
    fn all_reduce_buckets(&self, source: &mut dyn BucketSource) -> Result<Vec<Vec<f32>>> {
        (**self).all_reduce_buckets(source)
    }
    fn abort(&self, msg: &str) -> ! {
        (**self).abort(msg)
    }
}

/// A job of one process: every collective leaves the data as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Communicator for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_f32(&self, _data: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_f64(&self, _data: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, root: usize, _data: &mut Vec<u8>) -> Result<()> {
        check_root(root, 1)
    }
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(vec![data.to_vec()])
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn abort(&self, msg: &str) -> ! {
        eprintln!("wgrad-dist: {msg}");
        std::process::exit(1)
    }
}

fn check_root(root: usize, size: usize) -> Result<()> {
    if root >= size {
        return Err(Error::argument(
            "broadcast",
            format!("root {root} out of range for {size} ranks"),
        ));
    }
    Ok(())
}

/// One collective in progress among the threads of a [`ThreadGroup`]: each rank deposits its part, the
/// last to arrive publishes them all, and every rank reads the published parts.
#[derive(Debug, Default)]
struct Exchange {
    /// Parts deposited for the round in progress, by rank.
    parts: Vec<Option<Vec<u8>>>,
    arrived: usize,
    /// Completed rounds; a rank waits for this to pass the round it joined.
    round: u64,
    /// The parts of the last completed round.
    published: Arc<Vec<Vec<u8>>>,
    /// Ranks that have read the published parts of the last round.
    readers: usize,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    state: Mutex<Exchange>,
    changed: Condvar,
    timeout: Duration,
}

/// Ranks as threads of one process: [`ThreadGroup::new`]`(n)` gives one communicator per rank, to move
/// into `n` threads. Tests use it to run data-parallel training with several ranks and no MPI.
///
/// Reductions add the ranks' parts in rank order on every rank, so every rank gets the same bits. A
/// collective that waits longer than the group's time-out (30 s) fails instead of hanging.
#[derive(Debug, Clone)]
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadGroup {
    /// Communicators for ranks `0..size`, in rank order.
    pub fn new(size: usize) -> Vec<ThreadGroup> {
        ThreadGroup::with_timeout(size, Duration::from_secs(30))
    }

    /// [`ThreadGroup::new`] whose collectives fail after waiting `timeout`.
    pub fn with_timeout(size: usize, timeout: Duration) -> Vec<ThreadGroup> {
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(Exchange {
                parts: vec![None; size],
                ..Default::default()
            }),
            changed: Condvar::new(),
            timeout,
        });
        (0..size)
            .map(|rank| ThreadGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Deposits `part` and returns every rank's part of this round.
    fn exchange(&self, what: &str, part: Vec<u8>) -> Result<Arc<Vec<Vec<u8>>>> {
        let s = &self.shared;
        let deadline = Instant::now() + s.timeout;
        let timed_out = || Error::Backend {
            backend: "dist",
            msg: format!(
                "rank {}: {what} waited {:?} for the other ranks",
                self.rank, s.timeout
            ),
        };
        let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
        // Wait until every rank has read the previous round before depositing into the next.
        while st.readers != 0 && st.readers < s.size {
            st = wait(&s.changed, st, deadline).ok_or_else(timed_out)?;
        }
        if st.readers == s.size {
            st.readers = 0;
        }
        st.parts[self.rank] = Some(part);
        st.arrived += 1;
        let joined = st.round;
        if st.arrived == s.size {
            let parts = st.parts.iter_mut().map(|p| p.take().unwrap_or_default());
            st.published = Arc::new(parts.collect());
            st.arrived = 0;
            st.round += 1;
            s.changed.notify_all();
        }
        while st.round == joined {
            st = wait(&s.changed, st, deadline).ok_or_else(timed_out)?;
        }
        let out = st.published.clone();
        st.readers += 1;
        s.changed.notify_all();
        Ok(out)
    }
}

/// Waits on `cv` until notified or `deadline`; `None` once the deadline has passed.
fn wait<'a, T>(
    cv: &Condvar,
    guard: std::sync::MutexGuard<'a, T>,
    deadline: Instant,
) -> Option<std::sync::MutexGuard<'a, T>> {
    let left = deadline.checked_duration_since(Instant::now())?;
    let (guard, _) = cv
        .wait_timeout(guard, left)
        .unwrap_or_else(|e| e.into_inner());
    Some(guard)
}

fn f32_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f64_bytes(data: &[f64]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Sums the ranks' parts in rank order into `data` (`N` bytes per element).
fn sum_parts<const N: usize, T: Copy + std::ops::Add<Output = T>>(
    parts: &[Vec<u8>],
    data: &mut [T],
    decode: fn([u8; N]) -> T,
) -> Result<()> {
    for (i, x) in data.iter_mut().enumerate() {
        let mut acc: Option<T> = None;
        for p in parts {
            let bytes = p
                .get(i * N..(i + 1) * N)
                .and_then(|b| <[u8; N]>::try_from(b).ok())
                .ok_or_else(|| {
                    Error::argument("all_reduce", "ranks passed different element counts")
                })?;
            let v = decode(bytes);
            acc = Some(acc.map_or(v, |a| a + v));
        }
        if let Some(a) = acc {
            *x = a;
        }
    }
    Ok(())
}

impl Communicator for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.shared.size
    }
    fn all_reduce_f32(&self, data: &mut [f32]) -> Result<()> {
        let parts = self.exchange("all_reduce", f32_bytes(data))?;
        sum_parts::<4, f32>(&parts, data, f32::from_le_bytes)
    }
    fn all_reduce_f64(&self, data: &mut [f64]) -> Result<()> {
        let parts = self.exchange("all_reduce", f64_bytes(data))?;
        sum_parts::<8, f64>(&parts, data, f64::from_le_bytes)
    }
    fn broadcast(&self, root: usize, data: &mut Vec<u8>) -> Result<()> {
        check_root(root, self.size())?;
        let mine = if self.rank == root {
            data.clone()
        } else {
            Vec::new()
        };
        let parts = self.exchange("broadcast", mine)?;
        *data = parts[root].clone();
        Ok(())
    }
    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self.exchange("all_gather", data.to_vec())?.to_vec())
    }
    fn barrier(&self) -> Result<()> {
        self.exchange("barrier", Vec::new()).map(|_| ())
    }
    /// A thread cannot end the other threads: it panics with `msg`, and the others' next collective times
    /// out.
    fn abort(&self, msg: &str) -> ! {
        panic!("wgrad-dist: rank {}: {msg}", self.rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f(comm)` on one thread per rank and returns the results in rank order.
    fn on_threads<T: Send + 'static>(
        size: usize,
        f: impl Fn(ThreadGroup) -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let f = Arc::new(f);
        let handles: Vec<_> = ThreadGroup::new(size)
            .into_iter()
            .map(|c| {
                let f = f.clone();
                std::thread::spawn(move || f(c))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rank thread"))
            .collect()
    }

    /// Seed example 16: four workers' vectors sum to [37, 37, 36, 43] on every worker.
    #[test]
    fn all_reduce_seed_example_16() {
        let inputs = [
            [17.0, 11.0, 1.0, 9.0],
            [5.0, 13.0, 23.0, 14.0],
            [3.0, 6.0, 10.0, 8.0],
            [12.0, 7.0, 2.0, 12.0],
        ];
        let out = on_threads(4, move |c| {
            let mut v = inputs[c.rank()].to_vec();
            c.all_reduce_f32(&mut v).expect("all-reduce");
            v
        });
        for v in out {
            assert_eq!(v, [37.0, 37.0, 36.0, 43.0]);
        }
    }

    #[test]
    fn collectives_in_sequence() {
        let out = on_threads(3, |c| {
            let r = c.rank();
            let mut sums = Vec::new();
            for round in 0..20 {
                let mut v = [r as f64 + round as f64];
                c.all_reduce_f64(&mut v).expect("all-reduce");
                sums.push(v[0]);
            }
            let mut b = if r == 1 { vec![7, 8, 9] } else { Vec::new() };
            c.broadcast(1, &mut b).expect("broadcast");
            let g = c.all_gather(&[r as u8; 2]).expect("all-gather");
            c.barrier().expect("barrier");
            (sums, b, g)
        });
        for (sums, b, g) in out {
            let want: Vec<f64> = (0..20).map(|k| 3.0 + 3.0 * k as f64).collect();
            assert_eq!(sums, want);
            assert_eq!(b, [7, 8, 9]);
            assert_eq!(g, [vec![0, 0], vec![1, 1], vec![2, 2]]);
        }
    }

    #[test]
    fn thread_group_times_out_instead_of_hanging() {
        let mut comms = ThreadGroup::with_timeout(2, Duration::from_millis(200));
        let lonely = comms.remove(0);
        let err = lonely.barrier().expect_err("rank 1 never arrives");
        assert!(err.to_string().contains("waited"), "{err}");
    }

    #[test]
    fn solo_is_the_identity() {
        let mut v = [1.5f32, -2.0];
        Solo.all_reduce_f32(&mut v).expect("all-reduce");
        assert_eq!(v, [1.5, -2.0]);
        assert!(Solo.broadcast(1, &mut Vec::new()).is_err());
    }
}
