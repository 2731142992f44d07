//! The fused attention primitives, straightforwardly: every score computed in f64, row by row.
//!
//! With `s_ij = scale·q_i·k_j + mask_ij` (-∞ for `j > i` when causal), `lse_i = log Σ_j e^(s_ij)`,
//! `p_ij = e^(s_ij − lse_i)` and `ds_ij = p_ij (dout_i·v_j − Δ_i)`:
//! - `attention`: `out_i = Σ_j p_ij v_j` and `lse_i` (a fully masked row: 0 and +∞);
//! - `attention_backward_q`: `dq_i = scale·Σ_j ds_ij k_j`;
//! - `attention_backward_kv`: `dk_j = scale·Σ_i ds_ij q_i`, `dv_j = Σ_i p_ij dout_i`.

use wgrad_graph::{AttentionParams, Buffer, Error, Input, Meta, Result};

use crate::buffer::{output, values};

/// The inputs of one attention primitive as row-major f64 values, with their sizes.
struct Rows {
    q: Vec<f64>,
    k: Vec<f64>,
    v: Vec<f64>,
    mask: Option<Vec<f64>>,
    /// `[n·h, tq, tk, d, dv]`
    dims: [usize; 5],
    scale: f64,
    causal: bool,
}

impl Rows {
    fn new(
        op: &'static str,
        p: &AttentionParams,
        args: &[Input],
        mask: Option<Input>,
    ) -> Result<Rows> {
        let (q, k, v) = (args[0].shape(), args[1].shape(), args[2].shape());
        if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
            return Err(Error::shape(
                op,
                format!("needs 4-D q, k, v, got {q}, {k}, {v}"),
            ));
        }
        Ok(Rows {
            q: values(op, args[0])?,
            k: values(op, args[1])?,
            v: values(op, args[2])?,
            mask: mask.map(|m| values(op, m)).transpose()?,
            dims: [q.0[0] * q.0[1], q.0[2], k.0[2], q.0[3], v.0[3]],
            scale: p.scale,
            causal: p.causal,
        })
    }

    /// The score of query `i` and key `j` in head `b` (-∞ when masked).
    fn score(&self, b: usize, i: usize, j: usize) -> f64 {
        let [_, tq, tk, d, _] = self.dims;
        if self.causal && j > i {
            return f64::NEG_INFINITY;
        }
        let (qi, kj) = ((b * tq + i) * d, (b * tk + j) * d);
        let dot: f64 = (0..d).map(|c| self.q[qi + c] * self.k[kj + c]).sum();
        let bias = self.mask.as_ref().map_or(0.0, |m| m[(b * tq + i) * tk + j]);
        dot * self.scale + bias
    }

    /// `log Σ_j e^(s_ij)`, +∞ when every score is -∞ (so that every `e^(s − lse)` is 0).
    fn logsumexp(&self, b: usize, i: usize) -> f64 {
        let s: Vec<f64> = (0..self.dims[2]).map(|j| self.score(b, i, j)).collect();
        let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            return f64::INFINITY;
        }
        m + s.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
    }
}

/// `(q, k, v[, mask])` → `[n, h, tq, dv + 1]`: output rows and their logsumexp.
pub(crate) fn attention(p: &AttentionParams, args: &[Input], out: &Meta) -> Result<Buffer> {
    let r = Rows::new("attention", p, args, args.get(3).copied())?;
    let [bh, tq, tk, _, dv] = r.dims;
    let mut y = vec![0.0; bh * tq * (dv + 1)];
    for b in 0..bh {
        for i in 0..tq {
            let lse = r.logsumexp(b, i);
            let row = &mut y[(b * tq + i) * (dv + 1)..][..dv + 1];
            row[dv] = lse;
            for j in 0..tk {
                let pr = (r.score(b, i, j) - lse).exp();
                let vj = &r.v[(b * tk + j) * dv..][..dv];
                for (o, v) in row[..dv].iter_mut().zip(vj) {
                    *o += pr * v;
                }
            }
        }
    }
    Ok(output(out, y))
}

/// The backward's extra inputs: `stats [n, h, tq, 2]` (lse, Δ) and `dout [n, h, tq, dv]`.
struct Grads {
    stats: Vec<f64>,
    dout: Vec<f64>,
}

fn backward_inputs(op: &'static str, p: &AttentionParams, args: &[Input]) -> Result<(Rows, Grads)> {
    let rows = Rows::new(op, p, args, args.get(5).copied())?;
    let grads = Grads {
        stats: values(op, args[3])?,
        dout: values(op, args[4])?,
    };
    Ok((rows, grads))
}

/// `(p_ij, ds_ij)` of query `i` and key `j` in head `b`.
fn prob_and_score_grad(r: &Rows, g: &Grads, b: usize, i: usize, j: usize) -> (f64, f64) {
    let [_, tq, tk, _, dv] = r.dims;
    let row = b * tq + i;
    let (lse, delta) = (g.stats[row * 2], g.stats[row * 2 + 1]);
    let pr = (r.score(b, i, j) - lse).exp();
    let dp: f64 = (0..dv)
        .map(|c| g.dout[row * dv + c] * r.v[(b * tk + j) * dv + c])
        .sum();
    (pr, pr * (dp - delta))
}

/// `(q, k, v, stats, dout[, mask])` → `dq [n, h, tq, d]`.
pub(crate) fn attention_backward_q(
    p: &AttentionParams,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let (r, g) = backward_inputs("attention_backward_q", p, args)?;
    let [bh, tq, tk, d, _] = r.dims;
    let mut dq = vec![0.0; bh * tq * d];
    for b in 0..bh {
        for i in 0..tq {
            for j in 0..tk {
                let (_, ds) = prob_and_score_grad(&r, &g, b, i, j);
                for c in 0..d {
                    dq[(b * tq + i) * d + c] += r.scale * ds * r.k[(b * tk + j) * d + c];
                }
            }
        }
    }
    Ok(output(out, dq))
}

/// `(q, k, v, stats, dout[, mask])` → `[n, h, tk, d + dv]` (`dk`, then `dv`).
pub(crate) fn attention_backward_kv(
    p: &AttentionParams,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    let (r, g) = backward_inputs("attention_backward_kv", p, args)?;
    let [bh, tq, tk, d, dv] = r.dims;
    let width = d + dv;
    let mut dkv = vec![0.0; bh * tk * width];
    for b in 0..bh {
        for j in 0..tk {
            let row = &mut dkv[(b * tk + j) * width..][..width];
            for i in 0..tq {
                let (pr, ds) = prob_and_score_grad(&r, &g, b, i, j);
                let (dk, dvj) = row.split_at_mut(d);
                for (o, q) in dk.iter_mut().zip(&r.q[(b * tq + i) * d..][..d]) {
                    *o += r.scale * ds * q;
                }
                for (o, g) in dvj.iter_mut().zip(&g.dout[(b * tq + i) * dv..][..dv]) {
                    *o += pr * g;
                }
            }
        }
    }
    Ok(output(out, dkv))
}
