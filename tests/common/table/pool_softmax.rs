//! Max and average pooling (windows past the edges, padding, ties) and softmax / log_softmax (every axis
//! position, long rows, large logits).

use super::matmul_conv::at_offset;
use super::Domain::{self, *};
use super::{row, Family, Row};
use wgrad::graph::Pool2dParams;

fn pool_p(kernel: [usize; 2], stride: [usize; 2], padding: [usize; 2]) -> Pool2dParams {
    Pool2dParams {
        kernel,
        stride,
        padding,
    }
}

/// A max (or average) pooling row; with `ties`, inputs are small integers, so windows hold equal maxima and
/// the first must win on every backend (central differences do not apply there).
fn name(max: bool) -> &'static str {
    if max {
        "max_pool2d"
    } else {
        "avg_pool2d"
    }
}

fn pool(max: bool, shapes: &[&[&[usize]]], p: Pool2dParams, ties: bool) -> Row {
    let name = name(max);
    let domain = if ties { Ties } else { Any };
    let r = row(name, Family::Pool, &[domain], shapes, move |x| {
        if max {
            x[0].max_pool2d(p.kernel, p.stride, p.padding)
        } else {
            x[0].avg_pool2d(p.kernel, p.stride, p.padding)
        }
    });
    let note = format!(
        "kernel {:?} stride {:?} padding {:?}",
        p.kernel, p.stride, p.padding
    );
    if ties {
        let r = r.note(note + ", ties");
        if max {
            r.no_gradcheck()
        } else {
            r
        }
    } else {
        r.note(note)
    }
}

pub(super) fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for max in [true, false] {
        let small: &[&[&[usize]]] = &[&[&[2, 3, 7, 6]], &[&[1, 1, 17, 3]]];
        rows.push(pool(max, small, pool_p([2, 2], [2, 2], [0, 0]), false));
        let stride = if max { [2, 2] } else { [2, 1] };
        rows.push(pool(
            max,
            &[&[&[2, 3, 7, 6]]],
            pool_p([3, 3], stride, [1, 1]),
            false,
        ));
        let cases: [(&[usize], Pool2dParams); 6] = [
            (&[1, 1, 1, 1], pool_p([1, 1], [1, 1], [0, 0])),
            (&[2, 3, 17, 17], pool_p([2, 2], [2, 2], [0, 0])),
            (&[2, 3, 17, 15], pool_p([3, 3], [2, 2], [1, 1])),
            (&[1, 2, 9, 13], pool_p([3, 2], [1, 1], [1, 1])),
            (&[3, 1, 8, 8], pool_p([5, 3], [3, 2], [2, 1])),
            (&[1, 3, 33, 31], pool_p([2, 4], [1, 3], [0, 2])),
        ];
        for (i, (shape, p)) in cases.into_iter().enumerate() {
            // ties in every other case
            rows.push(pool(max, &[&[shape]], p, i % 2 == 0));
        }
        let p = pool_p([3, 3], [2, 2], [1, 1]);
        let offset = row(
            name(max),
            Family::Pool,
            &[Any],
            &[&[&[3, 3, 17, 15]]],
            move |x| {
                let x = at_offset(&x[0])?;
                match max {
                    true => x.max_pool2d(p.kernel, p.stride, p.padding),
                    false => x.avg_pool2d(p.kernel, p.stride, p.padding),
                }
            },
        );
        rows.push(offset.note("input at an offset"));
    }
    rows.extend(softmax_rows());
    rows
}

fn softmax(log: bool, domain: Domain, axis: isize, shapes: &[&[&[usize]]]) -> Row {
    let name = if log { "log_softmax" } else { "softmax" };
    let r = row(name, Family::Softmax, &[domain], shapes, move |x| {
        if log {
            x[0].log_softmax(axis)
        } else {
            x[0].softmax(axis)
        }
    });
    match domain {
        Logits => r.note(format!("axis {axis}, logits ±30")),
        _ => r.note(format!("axis {axis}")),
    }
}

fn softmax_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for log in [false, true] {
        rows.push(softmax(
            log,
            Any,
            -1,
            &[&[&[3, 5]], &[&[1, 257]], &[&[45, 65]]],
        ));
        rows.push(softmax(log, Any, 1, &[&[&[4, 3, 5]], &[&[2, 17, 3]]]));
        rows.push(softmax(log, Any, 0, &[&[&[4, 3, 5]]]));
        let logits: [(isize, &[&[&[usize]]]); 4] = [
            (0, &[&[&[1]], &[&[3, 17]]]),
            (
                1,
                &[&[&[3, 17]], &[&[2, 257, 3]], &[&[5, 1000]], &[&[130, 10]]],
            ),
            (2, &[&[&[17, 3, 65]]]),
            (-1, &[&[&[2, 3, 1000]]]),
        ];
        for (axis, shapes) in logits {
            rows.push(softmax(log, Logits, axis, shapes));
        }
        let name = if log { "log_softmax" } else { "softmax" };
        let offset = row(name, Family::Softmax, &[Logits], &[&[&[4, 17]]], move |x| {
            let x = at_offset(&x[0])?;
            if log {
                x.log_softmax(-1)
            } else {
                x.softmax(-1)
            }
        });
        rows.push(offset.note("input at an offset"));
    }
    rows
}
