//! The checks of one row variant on the GPU: forward values and input gradients (of Σ out·w) against the CPU
//! reference, in f32 (on every layout and forced kernel), f64, f16 and integers. Failures name the trial
//! (op, check, shapes, layout), the element and both values: `exp::gpu::[3, 5]: forward[7]: gpu 1.2345,
//! cpu 1.2346`.

use wgrad::{DType, Device, Error, Tensor};

use crate::cases::{Case, Check, Layout};
use crate::common::table::{exact_in_f64, Family, Row};
use crate::common::tolerance::{forward, gradient, Tol};
use crate::common::{self, input_values, int_values, mismatch};
use crate::gpu::{self, Kernel};

/// One run of a row variant: dtype of its float inputs, their layout, the seed of its values.
pub struct Spec<'a> {
    pub row: &'a Row,
    pub shapes: &'a [Vec<usize>],
    pub dtype: DType,
    pub layout: Layout,
    pub seed: u64,
}

/// The leaves (what gradients are taken of) and the views of them the row reads.
fn inputs(spec: &Spec, dev: &Device) -> wgrad::Result<(Vec<Tensor>, Vec<Tensor>)> {
    let row = spec.row;
    let (mut leaves, mut views) = (Vec::new(), Vec::new());
    for (i, (domain, shape)) in row.domains.iter().zip(spec.shapes).enumerate() {
        let (dtype, grad) = domain.dtype(spec.dtype);
        let stored = match domain.follows_check() {
            true => spec.layout.storage(shape),
            false => None,
        };
        let stored_shape = stored.clone().unwrap_or_else(|| shape.clone());
        let n = stored_shape.iter().product();
        let seed = spec.seed + i as u64;
        let values = if dtype.is_int() && domain.follows_check() {
            let extremes = matches!(row.family, Family::Unary | Family::Binary);
            int_values(n, seed, dtype, extremes)
        } else {
            input_values(*domain, n, seed)
        };
        let mut leaf = common::tensor(&values, &stored_shape, dtype, dev);
        // forward-only rows too: some build gradients themselves (max_pool2d_backward)
        if grad {
            leaf = leaf.with_grad()?;
        }
        views.push(match stored {
            Some(_) => spec.layout.view(&leaf, shape)?,
            None => leaf.clone(),
        });
        leaves.push(leaf);
    }
    Ok((leaves, views))
}

/// A value read back, with the ops of the graph that computed it.
pub struct Read {
    pub ops: Vec<&'static str>,
    pub value: wgrad::Result<Vec<f64>>,
}

fn read(t: &Tensor) -> Read {
    Read {
        ops: t.graph_op_names(),
        value: t.to_f64_vec(),
    }
}

/// The forward output and the gradient of every float input.
pub struct Outcome {
    pub forward: Read,
    pub grads: Vec<(usize, Read)>,
}

/// Runs `spec` on `dev`: an error when the graph cannot even be built or differentiated.
pub fn compute(spec: &Spec, dev: &Device) -> Result<Outcome, String> {
    let (leaves, views) = inputs(spec, dev).map_err(|e| format!("inputs: {e}"))?;
    let out = (spec.row.build)(&views).map_err(|e| format!("build: {e}"))?;
    let forward = read(&out);
    let mut grads = Vec::new();
    if spec.row.differentiable && forward.value.is_ok() && spec.dtype.is_float() {
        let w = common::uniform(out.numel(), 5, -1.0, 1.0);
        let wt = common::tensor(&w, out.dims(), spec.dtype, dev);
        out.mul(&wt)
            .and_then(|l| l.sum_all())
            .and_then(|l| l.backward())
            .map_err(|e| format!("backward: {e}"))?;
        for (i, leaf) in leaves.iter().enumerate() {
            if leaf.requires_grad() {
                let g = leaf.grad().unwrap_or_else(|| leaf.zeros_like());
                grads.push((i, read(&g)));
            }
        }
    }
    Ok(Outcome { forward, grads })
}

/// `gpu` against `cpu`: `Err` naming the first differing element (`what`: `forward` or `grad of input k`,
/// so `forward[7]`, `grad of input 1 [4]`).
fn compare(name: &str, what: &str, gpu: &[f64], cpu: &[f64], tol: Tol) -> Result<(), String> {
    let sep = if what == "forward" { "" } else { " " };
    match mismatch(gpu, cpu, tol.atol, tol.rtol) {
        None => Ok(()),
        Some((usize::MAX, a, e)) => Err(format!("{name}: {what}: gpu has {a} values, cpu {e}")),
        Some((i, a, e)) => Err(format!("{name}: {what}{sep}[{i}]: gpu {a}, cpu {e}")),
    }
}

/// Every read of `gpu` and `cpu` (the same spec) side by side: (what, gpu read, cpu read, tolerance).
fn pairs<'a>(
    gpu: &'a Outcome,
    cpu: &'a Outcome,
    dtype: DType,
) -> Vec<(String, &'a Read, &'a Read, Tol)> {
    let mut v = vec![(
        "forward".to_string(),
        &gpu.forward,
        &cpu.forward,
        forward(dtype),
    )];
    for ((i, g), (_, c)) in gpu.grads.iter().zip(&cpu.grads) {
        v.push((format!("grad of input {i}"), g, c, gradient(dtype)));
    }
    v
}

fn outcome_or_fail(name: &str, side: &str, r: Result<Outcome, String>) -> Result<Outcome, String> {
    r.map_err(|e| format!("{name}: {side}: {e}"))
}

/// All failures of one trial, one per line, or `Ok`.
fn report(failures: Vec<String>) -> Result<(), String> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// `spec` on `dev` against the CPU: every read must succeed on both and agree within `spec.dtype`'s
/// tolerances.
fn against_cpu(name: &str, spec: &Spec, dev: &Device) -> Result<(), String> {
    let cpu = outcome_or_fail(name, "cpu", compute(spec, &common::cpu()))?;
    let gpu = outcome_or_fail(name, "gpu", compute(spec, dev))?;
    if let (Ok(_), Ok(_)) = (&gpu.forward.value, &cpu.forward.value) {
        if gpu.grads.len() != cpu.grads.len() {
            let (g, c) = (gpu.grads.len(), cpu.grads.len());
            return Err(format!("{name}: {g} gradients on the gpu, {c} on the cpu"));
        }
    }
    let mut failures = Vec::new();
    for (what, g, c, tol) in pairs(&gpu, &cpu, spec.dtype) {
        let r = match (&g.value, &c.value) {
            (Ok(g), Ok(c)) => compare(name, &what, g, c, tol),
            (_, Err(e)) => Err(format!("{name}: {what}: cpu error: {e}")),
            (Err(e), _) => Err(format!("{name}: {what}: gpu error: {e}")),
        };
        failures.extend(r.err());
    }
    report(failures)
}

/// The first error of a forward run on the GPU, which must mention `feature` (an adapter without it).
fn expect_feature_error(
    name: &str,
    spec: &Spec,
    dev: &Device,
    feature: &str,
) -> Result<(), String> {
    let gpu = outcome_or_fail(name, "gpu", compute(spec, dev))?;
    match gpu.forward.value {
        Err(e) if e.to_string().contains(feature) => Ok(()),
        Err(e) => Err(format!(
            "{name}: expected an error naming {feature}, got: {e}"
        )),
        Ok(_) => Err(format!("{name}: ran without {feature}")),
    }
}

/// One f64 read: with only ops exact in f64 in its graph it must match the CPU's `cpu`, else it must be
/// refused with `Error::Unsupported` (never computed in f32 and returned as f64).
fn f64_read(
    name: &str,
    what: &str,
    read: &Read,
    cpu: Option<&Read>,
    tol: Tol,
) -> Result<(), String> {
    let inexact: Vec<&str> = read
        .ops
        .iter()
        .copied()
        .filter(|n| !exact_in_f64(n))
        .collect();
    match (&read.value, inexact.is_empty()) {
        (Ok(g), true) => match cpu.map(|c| &c.value) {
            Some(Ok(c)) => compare(name, what, g, c, tol),
            Some(Err(e)) => Err(format!("{name}: {what}: cpu error: {e}")),
            None => Err(format!("{name}: {what}: no cpu value")),
        },
        (Err(e), true) => Err(format!(
            "{name}: {what}: refused though every op is exact in f64 ({:?}): {e}",
            read.ops
        )),
        (Err(Error::Unsupported { msg, .. }), false) if msg.contains("f64") => Ok(()),
        (Err(e), false) => Err(format!(
            "{name}: {what}: expected Error::Unsupported (f64 {inexact:?}), got: {e}"
        )),
        (Ok(_), false) => Err(format!(
            "{name}: {what}: computed in f64 though {inexact:?} are not exact in f64 on a GPU \
             (expected Error::Unsupported)"
        )),
    }
}

/// f64: every read (forward, then each gradient) through [`f64_read`].
fn f64_check(name: &str, spec: &Spec, dev: &Device) -> Result<(), String> {
    let gpu = outcome_or_fail(name, "gpu", compute(spec, dev))?;
    let any_exact = std::iter::once(&gpu.forward)
        .chain(gpu.grads.iter().map(|(_, r)| r))
        .any(|r| r.ops.iter().all(|n| exact_in_f64(n)));
    let cpu = match any_exact {
        true => Some(outcome_or_fail(name, "cpu", compute(spec, &common::cpu()))?),
        false => None,
    };
    let mut failures = Vec::new();
    let tol = forward(DType::F64);
    let cpu_forward = cpu.as_ref().map(|c| &c.forward);
    failures.extend(f64_read(name, "forward", &gpu.forward, cpu_forward, tol).err());
    for (k, (i, read)) in gpu.grads.iter().enumerate() {
        let c = cpu.as_ref().and_then(|c| c.grads.get(k)).map(|(_, r)| r);
        let what = format!("grad of input {i}");
        failures.extend(f64_read(name, &what, read, c, gradient(DType::F64)).err());
    }
    report(failures)
}

/// Runs one GPU trial.
pub fn run(case: &Case) -> Result<(), String> {
    let name = case.name();
    let kernel = match case.check {
        Check::Gpu(k, _) => k,
        _ => Kernel::Default,
    };
    let dev = gpu::device(kernel).map_err(|e| format!("{name}: {e}"))?;
    let caps = gpu::caps().ok_or("no adapter")?;
    let spec = |dtype| Spec {
        row: case.row,
        shapes: case.shapes(),
        dtype,
        layout: case.layout(),
        seed: 11,
    };
    match case.check {
        Check::Gradcheck => Err(format!("{name}: not a GPU check")),
        Check::Gpu(..) => against_cpu(&name, &spec(DType::F32), &dev),
        Check::GpuInt(d) => against_cpu(&name, &spec(d), &dev),
        Check::GpuF16 if caps.shader_f16 => against_cpu(&name, &spec(DType::F16), &dev),
        Check::GpuF16 => expect_feature_error(&name, &spec(DType::F16), &dev, "SHADER_F16"),
        Check::GpuF64 if caps.shader_f64 => f64_check(&name, &spec(DType::F64), &dev),
        Check::GpuF64 => expect_feature_error(&name, &spec(DType::F64), &dev, "SHADER_F64"),
    }
}
