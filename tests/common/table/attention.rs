//! Scaled dot-product attention: the fused primitive (`attention`, with and without its logsumexp column)
//! and its two backward primitives, against the composite on the same rows. Shapes cover tq ≠ tk, d ≠ dv,
//! T = 1, sizes that are no multiple of anything, causal masks with tq < tk and tq > tk, float masks
//! broadcast from `[tq, tk]`, bool masks (also a key-padding `[n, 1, 1, tk]` one), strided (permuted) q, k,
//! v, and rows long enough that the kernels split the key and query ranges over several dispatches.

use super::backward::grad_of;
use super::Domain::*;
use super::{row, Family, Row};
use wgrad::graph::{
    fused_attention, scaled_dot_product_attention_with, AttentionParams, AttentionPath, SdpaOptions,
};
use wgrad::{Result, Tensor};

/// How a row's mask input (the fourth, if any) becomes the mask.
#[derive(Clone, Copy)]
enum Mask {
    None,
    /// Additive, of the check's dtype.
    Float,
    /// 0/1 integers (`Index(2)`), attend where 1.
    Bool,
}

fn sdpa(x: &[Tensor], mask: Mask, causal: bool, path: AttentionPath) -> Result<Tensor> {
    let m = match mask {
        Mask::None => None,
        Mask::Float => Some(x[3].clone()),
        Mask::Bool => Some(x[3].eq(1)?),
    };
    let opts = SdpaOptions::new()
        .mask(m.as_ref())
        .causal(causal)
        .path(path);
    scaled_dot_product_attention_with(&x[0], &x[1], &x[2], &opts)
}

fn domains(mask: Mask) -> Vec<super::Domain> {
    match mask {
        Mask::None => vec![Any, Any, Any],
        Mask::Float => vec![Any, Any, Any, Any],
        Mask::Bool => vec![Any, Any, Any, Index(2)],
    }
}

/// `[n, h, tq, d]`, `[n, h, tk, d]`, `[n, h, tk, dv]` (and the mask's shape, if any).
const SMALL: &[&[&[usize]]] = &[
    &[&[1, 2, 5, 4], &[1, 2, 7, 4], &[1, 2, 7, 3]],
    &[&[2, 1, 1, 3], &[2, 1, 1, 3], &[2, 1, 1, 2]],
    &[&[1, 1, 7, 4], &[1, 1, 5, 4], &[1, 1, 5, 4]],
];
/// GPU-only sizes: past every workgroup, and long enough that the key and query ranges take several
/// dispatches (chunks of ~124 keys forward and ~82 in the backward at d = dv = 64).
const LONG: &[&[&[usize]]] = &[
    &[&[1, 2, 17, 8], &[1, 2, 17, 8], &[1, 2, 17, 8]],
    &[&[2, 1, 65, 16], &[2, 1, 257, 16], &[2, 1, 257, 5]],
    &[&[1, 2, 300, 64], &[1, 2, 300, 64], &[1, 2, 300, 64]],
];

fn attention(mask: Mask, causal: bool, path: AttentionPath, shapes: &[&[&[usize]]]) -> Row {
    let r = row(
        "attention",
        Family::Attention,
        &domains(mask),
        shapes,
        move |x| sdpa(x, mask, causal, path),
    );
    let mut note = vec![];
    if causal {
        note.push("causal");
    }
    match mask {
        Mask::None => {}
        Mask::Float => note.push("float mask"),
        Mask::Bool => note.push("bool mask"),
    }
    if path == AttentionPath::Composite {
        note.push("composite");
    }
    r.note(note.join(", "))
}

/// `shapes` with a mask shape appended to each variant.
fn with_mask(
    shapes: &[&[&[usize]]],
    mask: impl Fn(&[usize], &[usize]) -> Vec<usize>,
) -> Vec<Vec<Vec<usize>>> {
    shapes
        .iter()
        .map(|v| {
            let mut v: Vec<Vec<usize>> = v.iter().map(|s| s.to_vec()).collect();
            let m = mask(&v[0], &v[1]);
            v.push(m);
            v
        })
        .collect()
}

fn to_vecs(shapes: &[&[&[usize]]]) -> Vec<Vec<Vec<usize>>> {
    shapes
        .iter()
        .map(|v| v.iter().map(|s| s.to_vec()).collect())
        .collect()
}

pub(super) fn rows() -> Vec<Row> {
    let (fused, composite) = (AttentionPath::Fused, AttentionPath::Composite);
    let all: Vec<Vec<Vec<usize>>> = to_vecs(SMALL).into_iter().chain(to_vecs(LONG)).collect();
    // a [tq, tk] float mask broadcast over n and h; a key-padding bool mask [n, 1, 1, tk]
    let square = |q: &[usize], k: &[usize]| vec![q[2], k[2]];
    let padding = |q: &[usize], k: &[usize]| vec![q[0], 1, 1, k[2]];
    let mut rows = vec![
        attention(Mask::None, false, fused, &[]).with_shapes(all.clone()),
        attention(Mask::None, true, fused, &[]).with_shapes(all.clone()),
        attention(Mask::Float, false, fused, &[]).with_shapes(with_mask(SMALL, square)),
        attention(Mask::Float, true, fused, &[]).with_shapes(with_mask(LONG, square)),
        attention(Mask::Bool, false, fused, &[]).with_shapes(with_mask(SMALL, padding)),
        attention(Mask::Bool, true, fused, &[]).with_shapes(with_mask(LONG, square)),
        attention(Mask::None, true, composite, SMALL),
        attention(Mask::Float, false, composite, &[]).with_shapes(with_mask(SMALL, square)),
        logsumexp_row(),
        strided_row(),
    ];
    rows.extend(backward_rows());
    rows
}

/// The primitive's raw output, logsumexp column included: its gradient feeds `dlse` into `Δ`.
fn logsumexp_row() -> Row {
    let params = AttentionParams {
        scale: 0.7,
        causal: true,
    };
    row(
        "attention",
        Family::Attention,
        &[Any, Any, Any, Any],
        &[&[&[1, 2, 5, 4], &[1, 2, 6, 4], &[1, 2, 6, 3], &[5, 6]]],
        move |x| fused_attention(&x[0], &x[1], &x[2], Some(&x[3]), params),
    )
    .note("with logsumexp")
}

/// q, k, v stored `[n, t, h, d]` (as a projection makes them) and read through a permutation.
fn strided_row() -> Row {
    let shapes: &[&[&[usize]]] = &[&[&[2, 5, 3, 4], &[2, 7, 3, 4], &[2, 7, 3, 2]]];
    row(
        "attention",
        Family::Attention,
        &[Any, Any, Any],
        shapes,
        |x| {
            let p = |t: &Tensor| t.permute(&[0, 2, 1, 3]);
            let opts = SdpaOptions::new().causal(true);
            scaled_dot_product_attention_with(&p(&x[0])?, &p(&x[1])?, &p(&x[2])?, &opts)
        },
    )
    .note("permuted q, k, v")
}

/// The backward primitives as forward ops (the gradient of Σ out·w).
fn backward_rows() -> Vec<Row> {
    let shapes: &[&[&[usize]]] = &[
        &[
            &[1, 2, 5, 4],
            &[1, 2, 7, 4],
            &[1, 2, 7, 3],
            &[1, 2, 5, 3],
            &[5, 7],
        ],
        &[
            &[1, 1, 300, 64],
            &[1, 1, 300, 64],
            &[1, 1, 300, 64],
            &[1, 1, 300, 64],
            &[300, 300],
        ],
    ];
    let mut rows = Vec::new();
    for (name, wrt, note) in [
        ("attention_backward_q", 0, "dq"),
        ("attention_backward_kv", 1, "dk"),
        ("attention_backward_kv", 2, "dv"),
    ] {
        for causal in [false, true] {
            let build = move |x: &[Tensor]| {
                let opts = SdpaOptions::new()
                    .mask(Some(&x[4]))
                    .causal(causal)
                    .path(AttentionPath::Fused);
                let y = scaled_dot_product_attention_with(&x[0], &x[1], &x[2], &opts)?;
                grad_of(&y, &x[3], &x[wrt])
            };
            let r = row(name, Family::Attention, &[Any; 5], shapes, build);
            let note = if causal {
                format!("{note}, causal")
            } else {
                note.to_string()
            };
            rows.push(r.note(note).forward_only());
        }
    }
    rows
}
