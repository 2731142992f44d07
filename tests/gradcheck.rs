//! Central-difference gradient check in f64 on the CPU reference for every differentiable row of the op
//! table, plus the coverage check: every primitive has a row.

mod common;

use common::input_values;
use common::table::{rows, Domain, Row, NO_ROW_NEEDED};
use common::tolerance::GRADCHECK;
use wgrad::graph::Op;
use wgrad::{DType, Device, Tensor};

/// Gradcheck skips variants bigger than this (they still run in the GPU cross-check).
const MAX_GRADCHECK_NUMEL: usize = 400;

fn make_inputs(row: &Row, shapes: &[Vec<usize>], values: &[Vec<f64>], dev: &Device) -> Vec<Tensor> {
    row.domains
        .iter()
        .zip(shapes)
        .zip(values)
        .map(|((d, s), v)| match d {
            Domain::Index(_) => common::tensor(v, s, DType::I32, dev),
            _ => common::tensor(v, s, DType::F64, dev)
                .with_grad()
                .expect("leaf"),
        })
        .collect()
}

/// Σ out·w: a scalar whose gradient exercises every output element with a different weight.
fn scalar_loss(row: &Row, inputs: &[Tensor], w: &[f64]) -> Tensor {
    let out = (row.build)(inputs).unwrap_or_else(|e| panic!("{}: build failed: {e}", row.name));
    let wt = common::tensor(w, out.dims(), DType::F64, out.device());
    out.mul(&wt).and_then(|p| p.sum_all()).expect("loss")
}

fn check_row(row: &Row, variant: usize, dev: &Device) -> Result<(), String> {
    let shapes = &row.shapes[variant];
    let values: Vec<Vec<f64>> = row
        .domains
        .iter()
        .zip(shapes)
        .enumerate()
        .map(|(i, (d, s))| {
            input_values(*d, s.iter().product(), 100 * variant as u64 + i as u64 + 1)
        })
        .collect();
    let probe = (row.build)(&make_inputs(row, shapes, &values, dev)).map_err(|e| e.to_string())?;
    let w = common::uniform(probe.numel(), 999, -1.0, 1.0);
    let inputs = make_inputs(row, shapes, &values, dev);
    let loss = scalar_loss(row, &inputs, &w);
    loss.backward().map_err(|e| format!("backward: {e}"))?;
    for (i, x) in inputs.iter().enumerate() {
        if matches!(row.domains[i], Domain::Index(_)) {
            continue;
        }
        let analytic = match x.grad() {
            Some(g) => g.to_f64_vec().map_err(|e| e.to_string())?,
            None => vec![0.0; x.numel()],
        };
        for j in 0..values[i].len() {
            let eval = |delta: f64| {
                let mut v = values.clone();
                v[i][j] += delta;
                scalar_loss(row, &make_inputs(row, shapes, &v, dev), &w)
                    .item()
                    .expect("item")
            };
            let numeric = (eval(row.eps) - eval(-row.eps)) / (2.0 * row.eps);
            let a = analytic[j];
            if (a - numeric).abs() > GRADCHECK.atol + GRADCHECK.rtol * numeric.abs() {
                return Err(format!(
                    "input {i} shape {:?} element {j}: analytic {a}, numeric {numeric}",
                    shapes[i]
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_differentiable_op_passes_gradcheck() {
    let dev = common::cpu();
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in rows().iter().filter(|r| r.differentiable) {
        for v in 0..row.shapes.len() {
            if row.shapes[v]
                .iter()
                .map(|s| s.iter().product::<usize>())
                .sum::<usize>()
                > MAX_GRADCHECK_NUMEL
            {
                continue;
            }
            checked += 1;
            if let Err(e) = check_row(row, v, &dev) {
                failures.push(format!("{} {:?}: {e}", row.name, row.shapes[v]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "gradcheck failures:\n{}",
        failures.join("\n")
    );
    assert!(checked > 60, "only {checked} variants checked");
}

#[test]
fn forward_only_rows_run_on_cpu() {
    let dev = common::cpu();
    for row in rows().iter().filter(|r| !r.differentiable) {
        for shapes in &row.shapes {
            let values: Vec<Vec<f64>> = row
                .domains
                .iter()
                .zip(shapes)
                .map(|(d, s)| input_values(*d, s.iter().product(), 7))
                .collect();
            let out = (row.build)(&make_inputs(row, shapes, &values, &dev)).expect("build");
            out.to_f64_vec()
                .unwrap_or_else(|e| panic!("{}: {e}", row.name));
        }
    }
}

#[test]
fn op_table_covers_every_primitive() {
    let dev = common::cpu();
    let mut seen: Vec<&'static str> = Vec::new();
    for row in rows() {
        let shapes = &row.shapes[0];
        let values: Vec<Vec<f64>> = row
            .domains
            .iter()
            .zip(shapes)
            .map(|(d, s)| input_values(*d, s.iter().product(), 3))
            .collect();
        let out = (row.build)(&make_inputs(&row, shapes, &values, &dev)).expect("build");
        seen.extend(out.graph_op_names());
    }
    let missing: Vec<&str> = Op::all_names()
        .into_iter()
        .filter(|n| !seen.contains(n) && !NO_ROW_NEEDED.contains(n))
        .collect();
    assert!(
        missing.is_empty(),
        "primitives without an op-table row: {missing:?}"
    );
}
