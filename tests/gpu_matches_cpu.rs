//! The wgpu backend against the CPU reference, driven by the op table: forward values and gradients of every
//! row, in f32, over every shape variant (sizes 1, 3, 17, 257, [45, 65]).
//!
//! Runs on whatever adapter exists: lavapipe in CI, a real GPU on a developer's machine. With `CI=true` and
//! no adapter the test fails (see `wgrad_wgpu::testing::backend_or_skip`).

mod common;

use common::table::{rows, Domain, Row};
use common::tolerance::{forward, gradient, NORMAL_SAMPLES};
use common::{input_values, mismatch};
use wgrad::{DType, Device, Tensor};

fn gpu() -> Option<Device> {
    wgrad::wgpu::testing::backend_or_skip().map(Device::new)
}

fn inputs(row: &Row, shapes: &[Vec<usize>], seed: u64, dev: &Device) -> Vec<Tensor> {
    row.domains
        .iter()
        .zip(shapes)
        .enumerate()
        .map(|(i, (d, s))| {
            let v = input_values(*d, s.iter().product(), seed + i as u64);
            match d {
                Domain::Index(_) => common::tensor(&v, s, DType::I32, dev),
                _ => common::tensor(&v, s, DType::F32, dev)
                    .with_grad()
                    .expect("leaf"),
            }
        })
        .collect()
}

/// Forward output and input gradients (of Σ out·w) of one row variant on one device.
fn run(
    row: &Row,
    shapes: &[Vec<usize>],
    dev: &Device,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), String> {
    let xs = inputs(row, shapes, 11, dev);
    let out = (row.build)(&xs).map_err(|e| e.to_string())?;
    let forward = out.to_f64_vec().map_err(|e| e.to_string())?;
    let mut grads = Vec::new();
    if row.differentiable {
        let w = common::uniform(out.numel(), 5, -1.0, 1.0);
        let wt = common::tensor(&w, out.dims(), DType::F32, dev);
        let loss = out
            .mul(&wt)
            .and_then(|l| l.sum_all())
            .map_err(|e| e.to_string())?;
        loss.backward().map_err(|e| e.to_string())?;
        for (x, d) in xs.iter().zip(&row.domains) {
            if matches!(d, Domain::Index(_)) {
                continue;
            }
            grads.push(match x.grad() {
                Some(g) => g.to_f64_vec().map_err(|e| e.to_string())?,
                None => vec![0.0; x.numel()],
            });
        }
    }
    Ok((forward, grads))
}

#[test]
fn every_op_matches_cpu_forward_and_backward() {
    let Some(gpu) = gpu() else { return };
    let cpu = common::cpu();
    eprintln!("checking {} against {}", gpu.name(), cpu.name());
    let (ft, gt) = (forward(DType::F32), gradient(DType::F32));
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows() {
        for shapes in &row.shapes {
            checked += 1;
            let expected = run(&row, shapes, &cpu);
            let actual = run(&row, shapes, &gpu);
            let (expected, actual) = match (expected, actual) {
                (Ok(e), Ok(a)) => (e, a),
                (e, a) => {
                    failures.push(format!(
                        "{} {shapes:?}: cpu {:?} / gpu {:?}",
                        row.name,
                        e.err(),
                        a.err()
                    ));
                    continue;
                }
            };
            if let Some((i, a, e)) = mismatch(&actual.0, &expected.0, ft.atol, ft.rtol) {
                failures.push(format!(
                    "{} {shapes:?} forward[{i}]: gpu {a}, cpu {e}",
                    row.name
                ));
            }
            for (k, (ga, ge)) in actual.1.iter().zip(&expected.1).enumerate() {
                if let Some((i, a, e)) = mismatch(ga, ge, gt.atol, gt.rtol) {
                    failures.push(format!(
                        "{} {shapes:?} grad of input {k} [{i}]: gpu {a}, cpu {e}",
                        row.name
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} variants differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn random_streams_are_identical_on_cpu_and_gpu() {
    let Some(gpu) = gpu() else { return };
    let cpu = common::cpu();
    for dev in [&cpu, &gpu] {
        dev.manual_seed(1234);
    }
    let draw = |dev: &Device| {
        let u = Tensor::rand([10_000], DType::F32, dev)
            .and_then(|t| t.to_vec::<f32>())
            .expect("uniform");
        let n = Tensor::randn([10_000], DType::F32, dev)
            .and_then(|t| t.to_vec::<f32>())
            .expect("normal");
        let b = Tensor::bernoulli([1000], 0.3, DType::F32, dev)
            .and_then(|t| t.to_vec::<f32>())
            .expect("bernoulli");
        (u, n, b)
    };
    let (cu, cn, cb) = draw(&cpu);
    let (gu, gn, gb) = draw(&gpu);
    assert_eq!(
        cu.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        gu.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(cb, gb);
    let (cn, gn): (Vec<f64>, Vec<f64>) = (
        cn.iter().map(|&v| v as f64).collect(),
        gn.iter().map(|&v| v as f64).collect(),
    );
    assert_eq!(
        mismatch(&gn, &cn, NORMAL_SAMPLES.atol, NORMAL_SAMPLES.rtol),
        None,
        "normal samples differ"
    );
}
