//! The MPI harness: real processes under `mpirun`, on the CPU backend and on the GPU backend (lavapipe in
//! CI). Feature `mpi`: `cargo test -p wgrad-dist --features mpi`.
//!
//! This one binary plays two parts. Run by cargo, it is the driver: every trial starts
//! `mpirun -np N <this binary>` with `WGRAD_DIST_SCENARIO` set, waits at most the trial's time limit
//! (then kills the job and fails: a hang is a failure), and checks the exit status and output. Started
//! by `mpirun` with the variable set, it is a rank: it runs the scenario and ends through `Mpi::finish`.
//!
//! Trials run one at a time (`--test-threads` is ignored): each job already oversubscribes two cores.
//! As root, Open MPI refuses to start without `OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1`,
//! which the driver sets for its jobs.

#[path = "../common/mod.rs"]
mod common;
mod scenarios;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

/// The variable that makes this binary a rank.
const SCENARIO: &str = "WGRAD_DIST_SCENARIO";

/// What a job must end with.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Exit status 0 and this many lines `ok:` (one per rank).
    Success,
    /// A non-zero exit status, within the time limit, and every one of these strings in the output.
    Failure(&'static [&'static str]),
    /// [`Expect::Failure`] with this exit status: the `MPI_Abort` code wgrad-dist chose.
    Abort(i32, &'static [&'static str]),
}

/// One trial: a scenario run on `ranks` processes.
#[derive(Clone, Copy, Debug)]
struct Job {
    name: &'static str,
    scenario: &'static str,
    ranks: usize,
    expect: Expect,
    limit: Duration,
    /// Extra environment for the ranks.
    env: &'static [(&'static str, &'static str)],
}

const fn job(
    name: &'static str,
    scenario: &'static str,
    ranks: usize,
    expect: Expect,
    limit_s: u64,
) -> Job {
    Job {
        name,
        scenario,
        ranks,
        expect,
        limit: Duration::from_secs(limit_s),
        env: &[],
    }
}

fn jobs() -> Vec<Job> {
    vec![
        job(
            "two_ranks_cpu_match_single_process",
            "equivalence-cpu",
            2,
            Expect::Success,
            120,
        ),
        job(
            "two_ranks_lavapipe_match_single_process",
            "equivalence-wgpu",
            2,
            Expect::Success,
            300,
        ),
        job(
            "four_ranks_seed_example_16",
            "seed16",
            4,
            Expect::Success,
            120,
        ),
        job(
            "signature_mismatch_ends_the_job",
            "mismatch",
            2,
            Expect::Failure(&[
                "model signature differs between ranks",
                "rank 1 has `1.weight [33, 784] f32 param`",
            ]),
            60,
        ),
        job(
            "error_on_one_rank_aborts_the_job",
            "error",
            2,
            Expect::Abort(
                wgrad_dist::mpi::ERROR_ABORT,
                &["rank 1/2: error: ", "; aborting the MPI job"],
            ),
            60,
        ),
        job(
            "panic_on_one_rank_aborts_the_job",
            "panic",
            2,
            Expect::Abort(
                wgrad_dist::mpi::PANIC_ABORT,
                &[
                    "rank 1 panics at step 2",
                    "rank 1/2 panicked: aborting the MPI job",
                ],
            ),
            60,
        ),
        job(
            "killed_rank_ends_the_job",
            "killed",
            2,
            Expect::Failure(&["signal 9"]),
            60,
        ),
        Job {
            env: &[("WGRAD_DIST_TIMEOUT", "3")],
            ..job(
                "hung_rank_trips_the_watchdog",
                "hang",
                2,
                Expect::Failure(&[
                    "rank 0: gradient all-reduce has waited",
                    "a rank hung or died",
                ]),
                60,
            )
        },
    ]
}

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO) {
        scenarios::run_rank(&scenario);
        return;
    }
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let trials = jobs()
        .into_iter()
        .map(|j| Trial::test(j.name, move || run_job(&j)))
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

/// Starts the job, enforces its time limit, checks how it ended.
fn run_job(job: &Job) -> Result<(), Failed> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let ranks = job.ranks.to_string();
    let mut args = vec![
        "-np",
        &ranks,
        "--oversubscribe",
        "--bind-to",
        "none",
        "-x",
        SCENARIO,
    ];
    for (k, _) in job.env {
        args.extend(["-x", k]);
    }
    let mut cmd = Command::new("mpirun");
    cmd.args(args)
        .arg(&exe)
        .env(SCENARIO, job.scenario)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .envs(job.env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start mpirun ({e}): install openmpi-bin"))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let readers = [
        out.map(|o| reader(Box::new(o))),
        err.map(|e| reader(Box::new(e))),
    ];
    let status = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| format!("waiting for mpirun: {e}"))?
        {
            break Some(s);
        }
        if start.elapsed() > job.limit {
            // SIGTERM lets mpirun take its ranks down; SIGKILL after a grace period.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            std::thread::sleep(Duration::from_secs(3));
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let output: String = readers
        .into_iter()
        .flatten()
        .map(|h| h.join().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n--- stderr ---\n");
    let Some(status) = status else {
        return Err(format!(
            "{}: no end after {:?} (a hang)\n{output}",
            job.name, job.limit
        )
        .into());
    };
    println!(
        "    {} ranks, {:.1} s, {status}",
        job.ranks,
        elapsed.as_secs_f64()
    );
    check_end(job, status, &output)?;
    for line in output
        .lines()
        .filter(|l| l.contains(": ok: ") || l.contains("wgrad-dist:"))
    {
        println!("    {line}");
    }
    Ok(())
}

/// Whether the job ended as `job.expect` says.
fn check_end(job: &Job, status: std::process::ExitStatus, output: &str) -> Result<(), Failed> {
    match job.expect {
        Expect::Success => {
            let oks = output.lines().filter(|l| l.contains(": ok: ")).count();
            if !status.success() || oks != job.ranks {
                return Err(format!(
                    "expected success on {} ranks, got {status}, {oks} ok lines\n{output}",
                    job.ranks
                )
                .into());
            }
        }
        Expect::Failure(wanted) | Expect::Abort(_, wanted) => {
            if status.success() {
                return Err(format!("expected the job to fail, it succeeded\n{output}").into());
            }
            if let Expect::Abort(code, _) = job.expect {
                if status.code() != Some(code) {
                    return Err(
                        format!("expected exit status {code}, got {status}\n{output}").into(),
                    );
                }
            }
            if let Some(w) = wanted.iter().find(|w| !output.contains(*w)) {
                return Err(format!("the output lacks {w:?}\n{output}").into());
            }
        }
    }
    Ok(())
}

/// Reads a pipe to its end on a thread (so that a chatty job cannot block on a full pipe).
fn reader(mut pipe: Box<dyn Read + Send>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    })
}
