//! [`Mpi`]: the [`Communicator`] over MPI (`MPI_COMM_WORLD`), through rsmpi. Feature `mpi`.
//!
//! Start a job with `mpirun -np N <program>`; every process calls [`Mpi::init`] once, and ends with
//! [`Mpi::finish`], which turns an error into `MPI_Abort` so that the whole job stops.
//!
//! How failures end the job instead of hanging it:
//! - an error on one rank: [`Mpi::finish`] (or [`Communicator::abort`]) prints it and calls `MPI_Abort`,
//!   which makes `mpirun` kill every rank;
//! - a panic: the panic hook [`Mpi::init`] installs prints it and calls `MPI_Abort`;
//! - a rank that dies (killed, crashed, exited early): `mpirun` notices the lost process and kills the
//!   others (Open MPI's default);
//! - a rank that hangs outside MPI (a stuck device, an endless loop): MPI has no time-outs for collectives,
//!   so every collective here runs under a watchdog; a rank that has waited longer than
//!   `WGRAD_DIST_TIMEOUT` seconds (default 600; `0` turns it off) for the others prints what it was
//!   waiting in and exits with status 124, and `mpirun` then ends the job.
//!
//! Threading: MPI is initialized with `MPI_THREAD_FUNNELED`; only the thread that called [`Mpi::init`]
//! makes MPI calls (wgpu's helper threads and the watchdog make none; the watchdog exits the process
//! without MPI).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::request::Request;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives, Root};
use mpi::Threading;
use wgrad_graph::{Error, Result};

use crate::comm::{BucketSource, Communicator};

/// Exit status of a rank whose watchdog fired (as `timeout(1)`).
pub const TIMEOUT_EXIT: i32 = 124;
/// `MPI_Abort` error code after an error; after a panic it is [`PANIC_ABORT`].
pub const ERROR_ABORT: i32 = 1;
pub const PANIC_ABORT: i32 = 101;
/// Default of `WGRAD_DIST_TIMEOUT`, in seconds: longer than any step (the first compiles every pipeline).
pub const DEFAULT_TIMEOUT_S: u64 = 600;

/// Elements per MPI call: counts are C ints, so larger buffers go in pieces.
const CHUNK: usize = 1 << 28;
/// How long the bucket pipeline sleeps waiting for a copy when no reduction is in flight (it wakes when
/// the copy lands), and how often it tests the reductions in flight while waiting.
const IDLE_WAIT: Duration = Duration::from_millis(100);
const TEST_EVERY: Duration = Duration::from_micros(100);

/// The MPI job this process belongs to.
pub struct Mpi {
    /// Finalizes MPI when dropped (after `world`).
    _universe: Universe,
    world: SimpleCommunicator,
    rank: usize,
    size: usize,
    local_rank: usize,
    local_size: usize,
    watchdog: Arc<Watchdog>,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("rank", &self.rank)
            .field("size", &self.size)
            .field("local_rank", &self.local_rank)
            .field("local_size", &self.local_size)
            .field("timeout", &self.watchdog.timeout)
            .finish()
    }
}

impl Mpi {
    /// Initializes MPI, finds this process's rank (and its rank on this host, which picks its GPU), installs
    /// the panic hook and starts the watchdog (`WGRAD_DIST_TIMEOUT`).
    ///
    /// # Errors
    /// `Error::Backend` when MPI was already initialized or `WGRAD_DIST_TIMEOUT` is not a number.
    pub fn init() -> Result<Mpi> {
        let timeout = timeout_from_env()?;
        let (universe, _provided) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or_else(|| mpi_err("MPI is already initialized in this process"))?;
        let world = universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        // The ranks that share this host's memory: their order picks the GPUs of the host.
        let local = world.split_shared(world.rank());
        let (local_rank, local_size) = (local.rank() as usize, local.size() as usize);
        install_panic_hook(rank, size);
        let watchdog = Watchdog::start(rank, timeout);
        Ok(Mpi {
            _universe: universe,
            world,
            rank,
            size,
            local_rank,
            local_size,
            watchdog,
        })
    }

    /// The end of a rank's work: `Ok` finalizes MPI and returns the value; an error is printed as
    /// `wgrad-dist: rank r/n: error: …` and ends the whole job with `MPI_Abort` (so the other ranks do not
    /// wait for this one forever).
    pub fn finish<T, E: std::fmt::Display>(self, result: std::result::Result<T, E>) -> T {
        match result {
            Ok(v) => {
                self.watchdog.stop();
                drop(self);
                v
            }
            Err(e) => self.abort(&format!("error: {e}")),
        }
    }

    /// The name of this host (`MPI_Get_processor_name`).
    pub fn host(&self) -> String {
        mpi::environment::processor_name().unwrap_or_else(|_| "?".to_string())
    }

    /// The MPI library's version string (`MPI_Get_library_version`).
    pub fn library_version(&self) -> String {
        mpi::environment::library_version().unwrap_or_default()
    }

    /// Runs `f` under the watchdog, labelled `what`.
    fn watched<T>(&self, what: &'static str, f: impl FnOnce() -> T) -> T {
        self.watchdog.begin(what);
        let out = f();
        self.watchdog.end();
        out
    }
}

fn mpi_err(msg: impl Into<String>) -> Error {
    Error::Backend {
        backend: "mpi",
        msg: msg.into(),
    }
}

fn timeout_from_env() -> Result<Option<Duration>> {
    let secs = match std::env::var("WGRAD_DIST_TIMEOUT") {
        Ok(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|x| *x >= 0.0)
            .ok_or_else(|| {
                mpi_err(format!(
                    "WGRAD_DIST_TIMEOUT={s}: expected seconds (0 turns the watchdog off)"
                ))
            })?,
        Err(_) => DEFAULT_TIMEOUT_S as f64,
    };
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

/// A panic anywhere in this process prints the usual message, then aborts the job.
fn install_panic_hook(rank: usize, size: usize) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        eprintln!("wgrad-dist: rank {rank}/{size} panicked: aborting the MPI job");
        SimpleCommunicator::world().abort(PANIC_ABORT);
    }));
}

/// Watches the collective in progress; see the module docs.
#[derive(Debug)]
struct Watchdog {
    rank: usize,
    timeout: Option<Duration>,
    current: Mutex<Option<(Instant, &'static str)>>,
    stopped: AtomicBool,
}

impl Watchdog {
    fn start(rank: usize, timeout: Option<Duration>) -> Arc<Watchdog> {
        let w = Arc::new(Watchdog {
            rank,
            timeout,
            current: Mutex::new(None),
            stopped: AtomicBool::new(false),
        });
        if let Some(limit) = timeout {
            let watch = w.clone();
            let tick = (limit / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
            std::thread::spawn(move || {
                while !watch.stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    watch.check(limit);
                }
            });
        }
        w
    }

    fn check(&self, limit: Duration) {
        let current = *self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((since, what)) = current {
            let waited = since.elapsed();
            if waited > limit {
                eprintln!(
                    "wgrad-dist: rank {}: {what} has waited {:.1} s for the other ranks \
                     (WGRAD_DIST_TIMEOUT={}): a rank hung or died; ending the job",
                    self.rank,
                    waited.as_secs_f64(),
                    limit.as_secs_f64()
                );
                std::process::exit(TIMEOUT_EXIT);
            }
        }
    }

    fn begin(&self, what: &'static str) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), what));
    }

    fn end(&self) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

impl Communicator for Mpi {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn local_rank(&self) -> usize {
        self.local_rank
    }
    fn local_size(&self) -> usize {
        self.local_size
    }

    fn all_reduce_f32(&self, data: &mut [f32]) -> Result<()> {
        self.watched("all-reduce", || {
            for chunk in data.chunks_mut(CHUNK) {
                let send = chunk.to_vec();
                self.world
                    .all_reduce_into(&send[..], chunk, SystemOperation::sum());
            }
        });
        Ok(())
    }

    fn all_reduce_f64(&self, data: &mut [f64]) -> Result<()> {
        self.watched("all-reduce", || {
            for chunk in data.chunks_mut(CHUNK) {
                let send = chunk.to_vec();
                self.world
                    .all_reduce_into(&send[..], chunk, SystemOperation::sum());
            }
        });
        Ok(())
    }

    fn broadcast(&self, root: usize, data: &mut Vec<u8>) -> Result<()> {
        if root >= self.size {
            return Err(mpi_err(format!(
                "broadcast: root {root} out of range for {} ranks",
                self.size
            )));
        }
        self.watched("broadcast", || {
            let process = self.world.process_at_rank(root as i32);
            let mut len = data.len() as u64;
            process.broadcast_into(&mut len);
            data.resize(len as usize, 0);
            for chunk in data.chunks_mut(CHUNK) {
                process.broadcast_into(chunk);
            }
        });
        Ok(())
    }

    fn all_gather(&self, data: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self.watched("all-gather", || {
            let mut lens = vec![0u64; self.size];
            self.world
                .all_gather_into(&(data.len() as u64), &mut lens[..]);
            let width = lens.iter().copied().max().unwrap_or(0) as usize;
            let mut padded = data.to_vec();
            padded.resize(width, 0);
            let mut all = vec![0u8; width * self.size];
            if width > 0 {
                self.world.all_gather_into(&padded[..], &mut all[..]);
            }
            lens.iter()
                .enumerate()
                .map(|(r, &n)| all[r * width..r * width + n as usize].to_vec())
                .collect()
        }))
    }

    fn barrier(&self) -> Result<()> {
        self.watched("barrier", || self.world.barrier());
        Ok(())
    }

    /// Starts a non-blocking all-reduce (`MPI_Iallreduce`) of each bucket as soon as it is on the host and
    /// keeps testing the ones in flight while polling for the next: Open MPI progresses non-blocking
    /// collectives only inside MPI calls, so the tests are what moves them along while copies run.
    fn all_reduce_buckets(&self, source: &mut dyn BucketSource) -> Result<Vec<Vec<f32>>> {
        let n = source.count();
        let mut sends: Vec<Vec<f32>> = vec![Vec::new(); n];
        let mut sums: Vec<Vec<f32>> = (0..n).map(|i| vec![0.0; source.numel(i)]).collect();
        if sums.iter().any(|s| s.len() > CHUNK) {
            // a bucket above one MPI call's count (a single parameter of 2^28 elements): in pieces
            return (0..n)
                .map(|i| {
                    let mut v = crate::comm::wait_for(source, i)?;
                    self.all_reduce_f32(&mut v)?;
                    Ok(v)
                })
                .collect();
        }
        self.watchdog.begin("gradient all-reduce");
        mpi::request::scope(|scope| {
            let mut buffers = sends.iter_mut().zip(sums.iter_mut());
            let mut in_flight = Vec::new();
            for next in 0..n {
                // Nothing in flight: sleep until the copy lands. Reductions in flight: wake every 100 µs
                // to test them (Open MPI moves non-blocking collectives along only inside MPI calls).
                let values = loop {
                    let wait = if in_flight.is_empty() {
                        IDLE_WAIT
                    } else {
                        TEST_EVERY
                    };
                    match source.poll(next, wait) {
                        Ok(Some(v)) => break v,
                        Ok(None) => {}
                        Err(e) => self.abort(&format!("copying gradient bucket {next}: {e}")),
                    }
                    in_flight.retain_mut(|r: &mut Option<_>| match r.take().map(Request::test) {
                        Some(Err(pending)) => {
                            *r = Some(pending);
                            true
                        }
                        _ => false,
                    });
                };
                let Some((send, sum)) = buffers.next() else {
                    self.abort("more buckets than buffers")
                };
                if values.len() != sum.len() {
                    self.abort(&format!(
                        "bucket {next} has {} values, expected {}",
                        values.len(),
                        sum.len()
                    ));
                }
                *send = values;
                let send: &Vec<f32> = send;
                in_flight.push(Some(self.world.immediate_all_reduce_into(
                    scope,
                    &send[..],
                    &mut sum[..],
                    SystemOperation::sum(),
                )));
            }
            // every bucket is handed over: nothing left to overlap with
            for request in in_flight.into_iter().flatten() {
                request.wait();
            }
        });
        self.watchdog.end();
        Ok(sums)
    }

    fn abort(&self, msg: &str) -> ! {
        // Our own line says the job is ending: Open MPI's MPI_ABORT notice is best-effort (its help
        // system can fail to print it while the job is torn down).
        eprintln!(
            "wgrad-dist: rank {}/{}: {msg}; aborting the MPI job",
            self.rank, self.size
        );
        self.world.abort(ERROR_ABORT)
    }
}
