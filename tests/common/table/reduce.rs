//! Reductions: over axis sets, to a few outputs over long ranges (the backend splits those into passes), and
//! argmax/argmin with ties (the first extremum wins).

use super::Domain::*;
use super::{row, Family, Row};
use wgrad::{Result, Tensor};

type Reduce = fn(&Tensor, &[isize], bool) -> Result<Tensor>;

const SUM_MAX_MIN: [(&str, Reduce); 3] = [
    ("sum", Tensor::sum),
    ("max", Tensor::max),
    ("min", Tensor::min),
];

fn reduce(
    name: &'static str,
    shapes: &[&[&[usize]]],
    f: impl Fn(&Tensor) -> Result<Tensor> + Send + Sync + 'static,
) -> Row {
    row(name, Family::Reduce, &[Any], shapes, move |x| f(&x[0]))
}

pub(super) fn rows() -> Vec<Row> {
    let mut rows = vec![
        reduce("sum", &[&[&[3, 5]], &[&[257]], &[&[17, 3]]], |x| {
            x.sum(&[-1], false)
        }),
        reduce("sum", &[&[&[3, 4, 5]], &[&[1, 17, 3]]], |x| {
            x.sum(&[0, 2], true)
        }),
        reduce("sum", &[&[&[45, 65]], &[&[]]], Tensor::sum_all),
        reduce("max", &[&[&[3, 5]], &[&[257]], &[&[45, 65]]], |x| {
            x.max(&[-1], false)
        }),
        reduce("max", &[&[&[3, 4, 5]], &[&[17, 1, 3]]], |x| {
            x.max(&[0, 2], true)
        }),
        reduce("min", &[&[&[3, 5]], &[&[17, 3]]], |x| x.min(&[0], false)),
        reduce("argmax", &[&[&[3, 5]], &[&[257]], &[&[45, 65]]], |x| {
            x.argmax(-1, false)
        })
        .forward_only(),
        reduce("argmin", &[&[&[3, 5]], &[&[17, 3]]], |x| x.argmin(0, true)).forward_only(),
    ];
    rows.extend(axis_sets());
    rows.extend(few_outputs());
    rows
}

/// Every axis set of a rank-3 input.
fn axis_sets() -> Vec<Row> {
    let sets: [&[isize]; 6] = [&[0], &[1], &[2], &[0, 2], &[1, 2], &[0, 1, 2]];
    let mut rows = Vec::new();
    for (name, f) in SUM_MAX_MIN {
        for axes in sets {
            let note = format!("axes {axes:?}");
            rows.push(reduce(name, &[&[&[3, 17, 257]]], move |x| f(x, axes, false)).note(note));
        }
    }
    for (name, f) in [
        (
            "argmax",
            Tensor::argmax as fn(&Tensor, isize, bool) -> Result<Tensor>,
        ),
        ("argmin", Tensor::argmin),
    ] {
        for axis in 0..3 {
            let ties = row(
                name,
                Family::Reduce,
                &[Ties],
                &[&[&[3, 17, 257]]],
                move |x| f(&x[0], axis, false),
            );
            rows.push(ties.note(format!("axis {axis}, ties")).forward_only());
        }
    }
    rows
}

/// Few outputs over long ranges: sum/max/min run in passes (partials per chunk, then the partials).
fn few_outputs() -> Vec<Row> {
    let mut rows = Vec::new();
    for (name, f) in SUM_MAX_MIN {
        rows.push(reduce(name, &[&[&[120_000]]], move |x| f(x, &[0], false)).note("to 1 output"));
        rows.push(
            reduce(name, &[&[&[300, 400]]], move |x| f(&x.t()?, &[0, 1], false))
                .note("transposed, to 1 output"),
        );
        // the kept axis strided (permuted to the front)
        rows.push(
            reduce(name, &[&[&[200, 200, 3]]], move |x| {
                f(&x.permute(&[2, 0, 1])?, &[1, 2], false)
            })
            .note("permuted, to 3 outputs"),
        );
        // reduced axis first: each output reads stride 3
        rows.push(
            reduce(name, &[&[&[40_000, 3]]], move |x| f(x, &[0], false)).note("to 3 outputs"),
        );
        // the batch axis of [N, C]: neighbouring outputs are neighbours in memory (the thread path's case),
        // long enough to be split into chunks
        rows.push(reduce(name, &[&[&[1000, 70]]], move |x| f(x, &[0], false)).note("batch axis"));
        // 2^22 elements: 1024 partials per output in the second pass
        rows.push(reduce(name, &[&[&[1 << 22]]], move |x| f(x, &[0], false)).note("2^22 to 1"));
    }
    for name in ["argmax", "argmin"] {
        let arg = row(name, Family::Reduce, &[Ties], &[&[&[120_000]]], move |x| {
            if name == "argmax" {
                x[0].argmax(0, false)
            } else {
                x[0].argmin(0, false)
            }
        });
        rows.push(arg.note("to 1 output, ties").forward_only());
    }
    rows
}
