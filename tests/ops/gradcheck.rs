//! Central-difference gradient check in f64 on the CPU reference (eps per row, tolerances
//! `tolerance::GRADCHECK`).

use wgrad::{DType, Device, Tensor};

use crate::common::table::{Domain, Row};
use crate::common::tolerance::GRADCHECK;
use crate::common::{self, input_values};

fn make_inputs(row: &Row, shapes: &[Vec<usize>], values: &[Vec<f64>], dev: &Device) -> Vec<Tensor> {
    row.domains
        .iter()
        .zip(shapes)
        .zip(values)
        .map(|((d, s), v)| {
            let (dtype, grad) = d.dtype(DType::F64);
            let t = common::tensor(v, s, dtype, dev);
            if grad {
                t.with_grad().expect("a float leaf")
            } else {
                t
            }
        })
        .collect()
}

/// Σ out·w: a scalar whose gradient exercises every output element with a different weight.
fn scalar_loss(row: &Row, inputs: &[Tensor], w: &[f64]) -> Result<Tensor, String> {
    let out = (row.build)(inputs).map_err(|e| format!("build: {e}"))?;
    let wt = common::tensor(w, out.dims(), DType::F64, out.device());
    out.mul(&wt)
        .and_then(|p| p.sum_all())
        .map_err(|e| format!("loss: {e}"))
}

/// Analytic gradients of every float input against central differences of the loss.
pub fn check(name: &str, row: &Row, variant: usize) -> Result<(), String> {
    let dev = common::cpu();
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
    let probe = (row.build)(&make_inputs(row, shapes, &values, &dev))
        .map_err(|e| format!("{name}: build: {e}"))?;
    let w = common::uniform(probe.numel(), 999, -1.0, 1.0);
    let inputs = make_inputs(row, shapes, &values, &dev);
    let loss = scalar_loss(row, &inputs, &w).map_err(|e| format!("{name}: {e}"))?;
    loss.backward()
        .map_err(|e| format!("{name}: backward: {e}"))?;
    let eval = |v: &[Vec<f64>]| -> Result<f64, String> {
        let loss = scalar_loss(row, &make_inputs(row, shapes, v, &dev), &w)?;
        loss.item().map_err(|e| e.to_string())
    };
    for (i, x) in inputs.iter().enumerate() {
        if matches!(row.domains[i], Domain::Index(_) | Domain::Stored(_)) {
            continue;
        }
        let analytic = match x.grad() {
            Some(g) => g.to_f64_vec().map_err(|e| format!("{name}: {e}"))?,
            None => vec![0.0; x.numel()],
        };
        for j in 0..values[i].len() {
            let mut v = values.clone();
            v[i][j] += row.eps;
            let plus = eval(&v)?;
            v[i][j] = values[i][j] - row.eps;
            let minus = eval(&v)?;
            let numeric = (plus - minus) / (2.0 * row.eps);
            let a = analytic[j];
            if (a - numeric).abs() > GRADCHECK.atol + GRADCHECK.rtol * numeric.abs() {
                return Err(format!(
                    "{name}: grad of input {i} {:?} [{j}]: analytic {a}, numeric {numeric}",
                    shapes[i]
                ));
            }
        }
    }
    Ok(())
}
