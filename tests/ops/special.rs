//! Trials that are not one row variant: the Philox streams on both backends, the op table's coverage of the
//! primitives, and the forward-only rows on the CPU (which the GPU trials cover only where an adapter is).

use wgrad::graph::dtype::decode_f64;
use wgrad::graph::{Backend, Kernel, Layout, Meta, Op, RandomDist, Schedule, Step, View};
use wgrad::{DType, Device, Tensor};

use crate::cases::Layout as InputLayout;
use crate::checks::{compute, Spec};
use crate::common::table::{Row, NO_ROW_NEEDED};
use crate::common::tolerance::{EXACT, NORMAL_SAMPLES};
use crate::common::{self, mismatch};

type Draws = (Vec<f32>, Vec<f32>, Vec<f32>);

fn draw(dev: &Device) -> wgrad::Result<Draws> {
    dev.manual_seed(1234);
    let u = Tensor::rand([10_000], DType::F32, dev)?.to_vec::<f32>()?;
    let n = Tensor::randn([10_000], DType::F32, dev)?.to_vec::<f32>()?;
    let b = Tensor::bernoulli([1000], 0.3, DType::F32, dev)?.to_vec::<f32>()?;
    Ok((u, n, b))
}

/// `Op::Random` as a one-step schedule at a counter `offset` (the Tensor API starts streams at 0).
fn random_at(b: &dyn Backend, dist: RandomDist, offset: u64, n: usize) -> wgrad::Result<Vec<f64>> {
    let meta = Meta::new([n], DType::F32);
    let schedule = Schedule {
        inputs: vec![],
        steps: vec![Step {
            kernel: Kernel::Op(Op::Random {
                dist,
                seed: 0x1234_5678_9abc_def0,
                offset,
            }),
            args: vec![],
            out: 0,
            meta: meta.clone(),
            release: vec![],
        }],
        slot_count: 1,
        outputs: vec![0],
    };
    let out = b.execute(&schedule)?;
    let bytes = b.download(&View {
        buffer: out[0].clone(),
        layout: Layout::contiguous(meta.shape.clone()),
        dtype: DType::F32,
    })?;
    Ok(decode_f64(&bytes, DType::F32))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Uniform and Bernoulli draws bit-equal on the CPU and the GPU, normal draws within `NORMAL_SAMPLES`;
/// also from a counter offset whose low word carries into the high word halfway through.
pub fn random(name: &str) -> Result<(), String> {
    let gpu = crate::gpu::init().ok_or("no adapter")?;
    let fail = |what: &str, e: wgrad::Error| format!("{name}: {what}: {e}");
    // fresh devices: their random streams are their own
    let (cu, cn, cb) = draw(&Device::new(wgrad::cpu::CpuBackend)).map_err(|e| fail("cpu", e))?;
    let (gu, gn, gb) = draw(&Device::new(gpu.backend.clone())).map_err(|e| fail("gpu", e))?;
    let first_diff = |a: &[u32], b: &[u32]| a.iter().zip(b).position(|(x, y)| x != y);
    if let Some(i) = first_diff(&bits(&gu), &bits(&cu)) {
        return Err(format!(
            "{name}: uniform[{i}]: gpu {}, cpu {}",
            gu[i], cu[i]
        ));
    }
    if let Some(i) = first_diff(&bits(&gb), &bits(&cb)) {
        return Err(format!(
            "{name}: bernoulli[{i}]: gpu {}, cpu {}",
            gb[i], cb[i]
        ));
    }
    let f64s = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>();
    let tol = NORMAL_SAMPLES;
    if let Some((i, g, c)) = mismatch(&f64s(&gn), &f64s(&cn), tol.atol, tol.rtol) {
        return Err(format!("{name}: normal[{i}]: gpu {g}, cpu {c}"));
    }
    let offset = (1 << 32) - 5000;
    for dist in [
        RandomDist::Uniform,
        RandomDist::Normal,
        RandomDist::Bernoulli { p: 0.3 },
    ] {
        let what = format!("{dist:?} at offset {offset}");
        let c =
            random_at(&wgrad::cpu::CpuBackend, dist, offset, 10_000).map_err(|e| fail(&what, e))?;
        let g = random_at(&gpu.backend, dist, offset, 10_000).map_err(|e| fail(&what, e))?;
        let tol = match dist {
            RandomDist::Normal => NORMAL_SAMPLES,
            _ => EXACT,
        };
        if let Some((i, g, c)) = mismatch(&g, &c, tol.atol, tol.rtol) {
            return Err(format!("{name}: {what}[{i}]: gpu {g}, cpu {c}"));
        }
    }
    Ok(())
}

fn spec(row: &Row, variant: usize) -> Spec<'_> {
    Spec {
        row,
        shapes: &row.shapes[variant],
        dtype: DType::F64,
        layout: InputLayout::Contiguous,
        seed: 7,
    }
}

/// Every primitive appears in some row's forward graph (backward primitives through the rows whose output
/// is a gradient), except sources and aliases.
pub fn coverage(rows: &[Row]) -> Result<(), String> {
    let dev = common::cpu();
    let mut seen: Vec<&'static str> = Vec::new();
    for row in rows {
        let out = compute(&spec(row, 0), &dev).map_err(|e| format!("{}: {e}", row.name))?;
        seen.extend(&out.forward.ops);
    }
    let missing: Vec<&str> = wgrad::graph::Op::all_names()
        .into_iter()
        .filter(|n| !seen.contains(n) && !NO_ROW_NEEDED.contains(n))
        .collect();
    match missing.is_empty() {
        true => Ok(()),
        false => Err(format!("primitives without an op-table row: {missing:?}")),
    }
}

/// Rows without a gradient (comparisons, argmax, casts, fills) compute on the CPU in every shape.
pub fn forward_only_rows_run_on_cpu(rows: &[Row]) -> Result<(), String> {
    let dev = common::cpu();
    for row in rows.iter().filter(|r| !r.differentiable) {
        for variant in 0..row.shapes.len() {
            let what = format!("{} {:?}", row.name, row.shapes[variant]);
            let out = compute(&spec(row, variant), &dev).map_err(|e| format!("{what}: {e}"))?;
            out.forward.value.map_err(|e| format!("{what}: {e}"))?;
        }
    }
    Ok(())
}
