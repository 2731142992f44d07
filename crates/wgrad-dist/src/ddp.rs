//! [`DataParallel`]: synchronous data-parallel training (Horovod's and PyTorch DDP's scheme).
//!
//! Every rank holds a full copy of the model and trains on its own shard of each batch. A step:
//! 1. forward and `backward` on the local batch, and the gradients packed into buckets ([`BucketPlan`]),
//!    realized together with the loss, anything the caller asks for and the pending batch-norm statistics:
//!    **one schedule** (one submit on the GPU), as in single-process training;
//! 2. each bucket copied to the host and summed over the ranks (all-reduce), the copies of later buckets
//!    overlapping the reduction of earlier ones (see [`Communicator::all_reduce_buckets`]);
//! 3. the sums divided by the number of ranks on the host, uploaded (one upload per bucket), cut into
//!    per-parameter views, and applied with [`Optimizer::apply_gradients`]: a second schedule.
//!
//! Since every rank starts from rank 0's parameters (broadcast by [`DataParallel::new`]) and applies the
//! same averaged gradients with the same kernels, the parameters stay identical on every rank, bit for
//! bit; [`DataParallel::check_in_sync`] verifies it.
//!
//! Failure: an error inside the exchange (a failed download while other ranks are already reducing)
//! ends the job with [`Communicator::abort`], since the ranks can no longer agree on what comes next. Any
//! other error is returned: the caller must end the job too (`Mpi::finish` does), or the other ranks would
//! wait in their next collective until the time-out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use wgrad_graph::{realize, DType, Error, Result, Tensor};
use wgrad_nn::{Module, Optimizer, OptimizerState, Param};

use crate::bucket::BucketPlan;
use crate::comm::{wait_for, BucketSource, Communicator};
use crate::signature::Signature;

/// How [`DataParallel`] buckets and exchanges gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdpConfig {
    /// Cap of a bucket in bytes (PyTorch DDP's `bucket_cap_mb`, 25 MiB).
    pub bucket_bytes: usize,
    /// Cap of the first bucket (1 MiB, as PyTorch DDP): a small first bucket starts the first all-reduce
    /// early.
    pub first_bucket_bytes: usize,
    /// Overlap GPU→host copies with the all-reduces of buckets already copied (non-blocking MPI). `false`
    /// downloads every bucket first, then reduces them one by one: slower, but it times the two apart.
    pub overlap: bool,
}

impl Default for DdpConfig {
    fn default() -> Self {
        DdpConfig {
            bucket_bytes: 25 << 20,
            first_bucket_bytes: 1 << 20,
            overlap: true,
        }
    }
}

/// Time and traffic of the steps so far (what BENCHMARKS.md reports).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepStats {
    pub steps: u64,
    /// From the start of the step until the first bucket was on the host: building the graph, forward,
    /// backward and packing on the device, and the first copy.
    pub compute: Duration,
    /// From the first bucket on the host until every bucket's sum was back: the copies of the other
    /// buckets and the all-reduces (overlapped), i.e. the communication the step waits for.
    pub exchange: Duration,
    /// With `overlap` off only: the copies off the device, and the all-reduces (blocking), apart.
    pub download: Duration,
    pub all_reduce: Duration,
    /// Dividing, uploading and applying the averaged gradients.
    pub update: Duration,
    /// Bytes this rank contributed to all-reduces (the gradient payload; a ring all-reduce sends
    /// 2·(p−1)/p of it per rank).
    pub bytes: u64,
    /// All-reduce calls (one per bucket per step).
    pub calls: u64,
}

impl StepStats {
    /// The whole time of the steps.
    pub fn total(&self) -> Duration {
        self.compute + self.exchange + self.update
    }
}

/// Data-parallel training over the ranks of `comm`. See the module docs.
///
/// ```text
/// let mpi = Mpi::init()?;
/// let model = config.build(&dev)?;
/// let mut opt = Optimizer::new(model.parameters(), SgdConfig::new(0.1));
/// let mut ddp = DataParallel::new(&mpi, &model, &mut opt, DdpConfig::default())?; // rank 0's weights
/// for batch in loader.epoch_from(sampler.indices(epoch)) {
///     let loss = cross_entropy(&model.forward(&x)?, &y)?;
///     let loss = ddp.backward_step(&mut opt, &loss)?;   // backward, all-reduce, update
/// }
/// ```
#[derive(Debug)]
pub struct DataParallel<C: Communicator> {
    comm: C,
    plan: BucketPlan,
    config: DdpConfig,
    stats: StepStats,
}

impl<C: Communicator> DataParallel<C> {
    /// Checks that every rank built the same model and optimizer (their [`Signature`]s), then makes every
    /// rank start from rank 0's state: parameters, buffers (batch-norm statistics), optimizer state and
    /// step count are broadcast, so ranks may even have drawn different initial weights, and a checkpoint
    /// loaded on rank 0 alone reaches every rank.
    ///
    /// # Errors
    /// `Error::Argument` on every rank when the signatures differ; errors of realizing or moving the
    /// state.
    pub fn new(
        comm: C,
        model: &dyn Module,
        opt: &mut Optimizer,
        config: DdpConfig,
    ) -> Result<Self> {
        Signature::of(model, opt).check(&comm)?;
        broadcast_state(&comm, model, opt)?;
        let shapes: Vec<Vec<usize>> = opt
            .params()
            .iter()
            .map(|p| p.tensor().dims().to_vec())
            .collect();
        let plan = BucketPlan::new(&shapes, config.bucket_bytes, config.first_bucket_bytes);
        Ok(DataParallel {
            comm,
            plan,
            config,
            stats: StepStats::default(),
        })
    }

    pub fn comm(&self) -> &C {
        &self.comm
    }
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }
    pub fn size(&self) -> usize {
        self.comm.size()
    }
    /// Whether this is rank 0, the one that prints and writes checkpoints.
    pub fn is_root(&self) -> bool {
        self.comm.rank() == 0
    }
    pub fn plan(&self) -> &BucketPlan {
        &self.plan
    }
    pub fn stats(&self) -> StepStats {
        self.stats
    }
    pub fn reset_stats(&mut self) {
        self.stats = StepStats::default();
    }

    /// Backward, gradient averaging and update; returns the realized local loss (as
    /// [`Optimizer::backward_step`], whose rules it follows: it refuses parameters that already hold a
    /// gradient, and drops the gradients afterwards).
    pub fn backward_step(&mut self, opt: &mut Optimizer, loss: &Tensor) -> Result<Tensor> {
        self.backward_step_with(opt, loss, &[])
    }

    /// [`DataParallel::backward_step`] that also realizes `extra` (the logits' argmax for accuracy, say)
    /// in the step's first schedule.
    pub fn backward_step_with(
        &mut self,
        opt: &mut Optimizer,
        loss: &Tensor,
        extra: &[&Tensor],
    ) -> Result<Tensor> {
        if let Some(p) = opt.params().iter().find(|p| p.grad().is_some()) {
            return Err(Error::argument(
                "data_parallel",
                format!(
                    "parameter {} already has a gradient (was loss.backward() called?): call step() to \
                     apply it, or zero_grad() first",
                    p.name()
                ),
            ));
        }
        let result = loss.backward().and_then(|()| {
            let mut targets = vec![loss];
            targets.extend(extra.iter().copied());
            self.reduce_and_apply(opt, &targets).map(|_| ())
        });
        opt.zero_grad();
        result.map(|()| loss.detach())
    }

    /// PyTorch's habit, `loss.backward()?; ddp.step(&mut opt)?`: averages the gradients accumulated in
    /// the parameters (several `backward`s accumulate, for gradient accumulation), applies them, and
    /// leaves the averaged gradients in the parameters (until [`Optimizer::zero_grad`]).
    pub fn step(&mut self, opt: &mut Optimizer) -> Result<()> {
        let averaged = self.reduce_and_apply(opt, &[])?;
        for (p, g) in opt.params().iter().zip(averaged) {
            p.set_grad(Some(g));
        }
        Ok(())
    }

    /// Packs, realizes (with `targets`), exchanges, averages and applies; returns the averaged gradients.
    fn reduce_and_apply(
        &mut self,
        opt: &mut Optimizer,
        targets: &[&Tensor],
    ) -> Result<Vec<Tensor>> {
        let start = Instant::now();
        let Some(device) = opt.params().first().map(|p| p.tensor().device().clone()) else {
            realize(targets)?;
            return Ok(Vec::new());
        };
        let grads: Vec<Option<Tensor>> = opt.params().iter().map(Param::grad).collect();
        let buckets = self.plan.pack(&grads, &device)?;
        let mut all: Vec<&Tensor> = targets.to_vec();
        all.extend(buckets.iter());
        realize(&all)?;
        let sums = match self.exchange(&buckets, start) {
            Ok(s) => s,
            Err(e) => self.comm.abort(&format!(
                "rank {}: gradient exchange failed: {e}",
                self.comm.rank()
            )),
        };
        let t = Instant::now();
        let p = self.comm.size() as f32;
        let uploaded = sums
            .into_iter()
            .zip(&self.plan.buckets)
            .map(|(mut v, b)| {
                if p != 1.0 {
                    v.iter_mut().for_each(|x| *x /= p);
                }
                Tensor::from_vec(v, [b.numel], &device)
            })
            .collect::<Result<Vec<_>>>()?;
        let averaged = self.plan.unpack(&uploaded)?;
        let some: Vec<Option<Tensor>> = averaged.iter().cloned().map(Some).collect();
        opt.apply_gradients(&some)?;
        self.stats.update += t.elapsed();
        self.stats.steps += 1;
        self.stats.bytes += self.plan.bytes() as u64;
        self.stats.calls += self.plan.buckets.len() as u64;
        Ok(averaged)
    }

    /// Downloads the buckets and sums them over the ranks; records the timings.
    fn exchange(&mut self, buckets: &[Tensor], start: Instant) -> Result<Vec<Vec<f32>>> {
        let mut source = Downloads::new(buckets);
        if self.config.overlap {
            let sums = self.comm.all_reduce_buckets(&mut source)?;
            let first = source.first_ready.unwrap_or(start);
            self.stats.compute += first - start;
            self.stats.exchange += first.elapsed();
            return Ok(sums);
        }
        let mut host = Vec::with_capacity(buckets.len());
        for i in 0..buckets.len() {
            host.push(wait_for(&mut source, i)?);
        }
        let first = source.first_ready.unwrap_or(start);
        let downloaded = Instant::now();
        for v in &mut host {
            self.comm.all_reduce_f32(v)?;
        }
        self.stats.compute += first - start;
        self.stats.download += downloaded - first;
        self.stats.all_reduce += downloaded.elapsed();
        self.stats.exchange += first.elapsed();
        Ok(host)
    }

    /// Sums of `values` over all ranks (metrics: loss sums, correct counts, sample counts).
    pub fn all_reduce_sum(&self, values: &[f64]) -> Result<Vec<f64>> {
        let mut v = values.to_vec();
        self.comm.all_reduce_f64(&mut v)?;
        Ok(v)
    }

    /// Replaces every floating-point buffer of `model` (batch-norm running mean and variance) by its mean
    /// over the ranks. Batch norm normalizes with local batch statistics during training (PyTorch DDP's
    /// default), so the running statistics drift apart between ranks; call this before evaluating or
    /// saving, so that every rank evaluates, and rank 0 saves, the same model. Integer buffers (step
    /// counters) are the same on every rank and left alone.
    pub fn average_buffers(&self, model: &dyn Module) -> Result<()> {
        let buffers: Vec<Param> = model
            .buffers()
            .into_iter()
            .filter(|p| p.tensor().dtype().is_float())
            .collect();
        if buffers.is_empty() || self.comm.size() == 1 {
            return Ok(());
        }
        let mut flat = Vec::new();
        for b in &buffers {
            flat.extend(b.tensor().cast(DType::F32)?.to_vec::<f32>()?);
        }
        self.comm.all_reduce_f32(&mut flat)?;
        let p = self.comm.size() as f32;
        let mut offset = 0;
        for b in &buffers {
            let t = b.tensor();
            let n = t.numel();
            let mean: Vec<f32> = flat[offset..offset + n].iter().map(|x| x / p).collect();
            offset += n;
            b.set(&Tensor::from_vec(mean, t.dims().to_vec(), t.device())?.cast(t.dtype())?)?;
        }
        Ok(())
    }

    /// Checks that every rank holds the same model and optimizer state, bit for bit (hashes of every
    /// tensor, gathered). Costs a download of everything: for tests and occasional checks.
    ///
    /// # Errors
    /// `Error::Argument` on every rank naming, per differing rank, the first tensor that differs.
    pub fn check_in_sync(&self, model: &dyn Module, opt: &Optimizer) -> Result<()> {
        let mut names = Vec::new();
        let mut hashes = Vec::new();
        for (name, p) in model.state() {
            names.push(name);
            hashes.push(fnv1a(&p.tensor().to_bytes()?));
        }
        for (p, slot, t) in opt.state_tensors() {
            names.push(format!("optimizer {} {slot}", p.name()));
            hashes.push(fnv1a(&t.to_bytes()?));
        }
        names.push("optimizer steps".to_string());
        hashes.push(opt.step_count());
        let mine: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
        let all = self.comm.all_gather(&mine)?;
        let diffs: Vec<String> = all
            .iter()
            .enumerate()
            .skip(1)
            .filter_map(|(rank, bytes)| {
                let k = (0..names.len())
                    .find(|&k| bytes.get(8 * k..8 * k + 8) != all[0].get(8 * k..8 * k + 8))?;
                Some(format!("rank {rank} differs from rank 0 in {}", names[k]))
            })
            .collect();
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(Error::argument("data_parallel", diffs.join("; ")))
        }
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Rank 0's model state, optimizer state and step count, onto every rank (one broadcast).
fn broadcast_state(comm: &dyn Communicator, model: &dyn Module, opt: &mut Optimizer) -> Result<()> {
    if comm.size() == 1 {
        return Ok(());
    }
    let state = model.state();
    let slots = opt.state_tensors();
    let tensors: Vec<Tensor> = state
        .iter()
        .map(|(_, p)| p.tensor())
        .chain(slots.iter().map(|(_, _, t)| t.clone()))
        .collect();
    let mut bytes = Vec::new();
    if comm.rank() == 0 {
        bytes.extend(opt.step_count().to_le_bytes());
        for t in &tensors {
            bytes.extend(t.to_bytes()?);
        }
    }
    comm.broadcast(0, &mut bytes)?;
    if comm.rank() == 0 {
        return Ok(());
    }
    let want = 8 + tensors
        .iter()
        .map(|t| t.numel() * t.dtype().host_size())
        .sum::<usize>();
    if bytes.len() != want {
        return Err(Error::argument(
            "data_parallel",
            format!(
                "rank 0 sent {} bytes of state, this rank's model needs {want}",
                bytes.len()
            ),
        ));
    }
    let (steps, mut rest) = bytes.split_at(8);
    let mut next = |t: &Tensor| -> Result<Tensor> {
        let (mine, tail) = rest.split_at(t.numel() * t.dtype().host_size());
        rest = tail;
        Tensor::from_bytes(mine, t.meta().clone(), t.device())
    };
    for (_, p) in &state {
        p.set(&next(&p.tensor())?)?;
    }
    for (p, slot, t) in &slots {
        let value = next(t)?;
        opt.set_state_tensor(p, slot, value)?;
    }
    let steps: [u8; 8] = steps.try_into().expect("split_at(8) gives 8 bytes");
    opt.set_step_count(u64::from_le_bytes(steps));
    Ok(())
}

/// A bucket's copy to the host: in flight, done, or handed over.
enum Copy<'a> {
    Pending(Pin<Box<dyn Future<Output = Result<Vec<f32>>> + 'a>>),
    Ready(Result<Vec<f32>>),
    Taken,
}

/// The buckets' copies off the device, all started at once (on wgpu each is a copy and a map queued
/// behind the step's schedule; a helper thread drives the device), polled without spinning.
struct Downloads<'a> {
    copies: Vec<Copy<'a>>,
    numel: Vec<usize>,
    /// When the first bucket reached the host.
    first_ready: Option<Instant>,
    /// Wakes this thread when a copy completes.
    waker: Waker,
}

/// Unparks the thread that polls the copies.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl<'a> Downloads<'a> {
    fn new(buckets: &'a [Tensor]) -> Self {
        let mut d = Downloads {
            copies: buckets
                .iter()
                .map(|b| Copy::Pending(Box::pin(b.to_vec_async::<f32>())))
                .collect(),
            numel: buckets.iter().map(Tensor::numel).collect(),
            first_ready: None,
            waker: Waker::from(Arc::new(Unpark(std::thread::current()))),
        };
        // The first poll of each future queues its copy.
        for i in 0..d.copies.len() {
            d.poll_once(i);
        }
        d
    }

    /// Polls copy `i` once if it is still pending.
    fn poll_once(&mut self, i: usize) {
        if let Copy::Pending(f) = &mut self.copies[i] {
            let mut cx = Context::from_waker(&self.waker);
            if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
                self.copies[i] = Copy::Ready(r);
            }
        }
    }
}

impl BucketSource for Downloads<'_> {
    fn count(&self) -> usize {
        self.copies.len()
    }
    fn numel(&self, i: usize) -> usize {
        self.numel[i]
    }
    fn poll(&mut self, i: usize, wait: Duration) -> Result<Option<Vec<f32>>> {
        let deadline = Instant::now() + wait;
        loop {
            self.poll_once(i);
            match std::mem::replace(&mut self.copies[i], Copy::Taken) {
                Copy::Ready(r) => {
                    self.first_ready.get_or_insert_with(Instant::now);
                    return r.map(Some);
                }
                Copy::Pending(f) => self.copies[i] = Copy::Pending(f),
                Copy::Taken => {
                    return Err(Error::argument(
                        "data_parallel",
                        format!("bucket {i} was already taken"),
                    ))
                }
            }
            // a wake-up (or a spurious one) polls again; the deadline bounds the wait
            match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                _ => return Ok(None),
            }
        }
    }
}
