//! Data movement (views read by a kernel, pad, cat, copy), fills, and indexing (gather, index_select,
//! scatter_add).

use super::Domain::*;
use super::{row, Family, Row};
use wgrad::{DType, Tensor};

pub(super) fn rows() -> Vec<Row> {
    let mut rows = views();
    rows.extend(pad_cat_copy());
    rows.extend(fills());
    rows.extend(indexing());
    rows
}

/// View ops, each read by a kernel after it.
fn views() -> Vec<Row> {
    use Family::Movement;
    vec![
        row(
            "reshape",
            Movement,
            &[Any],
            &[&[&[3, 5]], &[&[17, 3]], &[&[45, 65]]],
            |x| x[0].t()?.reshape(wgrad::graph::Infer(&[-1]))?.mul(1.5),
        ),
        row(
            "permute",
            Movement,
            &[Any],
            &[&[&[3, 4, 5]], &[&[1, 17, 3]]],
            |x| x[0].permute(&[2, 0, 1])?.exp(),
        ),
        row(
            "expand",
            Movement,
            &[Any],
            &[&[&[3, 1]], &[&[1]], &[&[17, 1]]],
            |x| x[0].expand([x[0].dims()[0], 5])?.mul(2.0),
        ),
        row(
            "slice",
            Movement,
            &[Any],
            &[&[&[17, 3]], &[&[257, 1]]],
            |x| x[0].slice(0, 1, 16, 3)?.exp(),
        ),
        row("slice", Movement, &[Any], &[&[&[3, 5, 7]]], |x| {
            x[0].slice_all(vec![1, 0, 2], vec![3, 5, 7], vec![1, 2, 3])?
                .mul(2.0)
        }),
    ]
}

fn pad_cat_copy() -> Vec<Row> {
    use Family::{Copy, Movement};
    vec![
        row(
            "pad",
            Movement,
            &[Any],
            &[&[&[3, 5]], &[&[17, 3]], &[&[1, 1]]],
            |x| x[0].pad(&[(1, 2), (0, 3)], 0.5),
        ),
        row("pad", Movement, &[Any], &[&[&[3, 17]]], |x| {
            x[0].pad(&[(1, 2), (0, 5)], -1.5)
        })
        .note("value -1.5"),
        // on integers too: pads with 7
        row("pad", Movement, &[Any], &[&[&[3, 17]]], |x| {
            x[0].pad(&[(0, 1), (3, 0)], 7.0)
        })
        .note("value 7")
        .int(),
        row(
            "cat",
            Movement,
            &[Any, Any],
            &[&[&[3, 5], &[2, 5]], &[&[1, 17], &[4, 17]]],
            |x| Tensor::cat(&[&x[0], &x[1]], 0),
        ),
        row(
            "cat",
            Movement,
            &[Any, Any, Any],
            &[
                &[&[3, 2], &[3, 7], &[3, 1]],
                &[&[3, 17], &[3, 1], &[3, 257]],
            ],
            |x| Tensor::cat(&[&x[0], &x[1], &x[2]], 1),
        ),
        row("copy", Copy, &[Any], &[&[&[3, 5]], &[&[17, 3]]], |x| {
            x[0].t()?.contiguous()
        }),
        row("copy", Copy, &[Any], &[&[&[17, 3, 5]]], |x| {
            x[0].permute(&[2, 0, 1])?.contiguous()
        }),
        // a stride-0 read, on integers too
        row("copy", Copy, &[Any], &[&[&[3]], &[&[1, 17]]], |x| {
            let mut dims = x[0].dims().to_vec();
            dims.insert(0, 4);
            x[0].expand(dims)?.contiguous()
        })
        .note("expanded")
        .int(),
    ]
}

/// Fills (`full`), in every dtype; in f64 the values are exact (0.1 is not an f32 value).
fn fills() -> Vec<Row> {
    let full = |note: &str, value: f64, dtype: Option<DType>| {
        row(
            "full",
            Family::Fill,
            &[Any],
            &[&[&[257]], &[&[]]],
            move |x| {
                let dtype = dtype.unwrap_or(x[0].dtype());
                Ok(Tensor::full(x[0].dims(), value, dtype, x[0].device()))
            },
        )
        .note(note)
        .forward_only()
    };
    vec![
        full("2.5", 2.5, None),
        full("0.1", 0.1, None),
        full("-1/3", -1.0 / 3.0, None),
        full("1234.5678901234567", 1_234.567_890_123_456_7, None),
        full("i32 -3", -3.0, Some(DType::I32)),
        full("bool", 1.0, Some(DType::Bool)),
        full("u32 4e9", 4e9, Some(DType::U32)),
    ]
}

fn indexing() -> Vec<Row> {
    use Family::Gather;
    vec![
        row(
            "gather",
            Gather,
            &[Any, Index(5)],
            &[&[&[5, 4], &[3, 4]], &[&[5, 17], &[7, 17]]],
            |x| x[0].gather(0, &x[1]),
        ),
        row(
            "gather",
            Gather,
            &[Any, Index(3)],
            &[&[&[17, 3], &[17, 2]], &[&[4, 3], &[1, 1]]],
            |x| x[0].gather(1, &x[1]),
        ),
        row(
            "gather",
            Gather,
            &[Any, Index(17)],
            &[&[&[5, 17], &[5, 4]]],
            |x| x[0].gather(1, &x[1]),
        ),
        row(
            "index_select",
            Gather,
            &[Any, Index(10)],
            &[&[&[10, 4], &[7]], &[&[10, 1], &[17]]],
            |x| x[0].index_select(0, &x[1]),
        ),
        row(
            "scatter_add",
            Gather,
            &[Index(5), Any],
            &[
                &[&[3, 4], &[3, 4]],
                &[&[17, 2], &[17, 2]],
                &[&[3, 17], &[3, 17]],
            ],
            |x| Tensor::scatter_add(&x[0], &x[1], 0, [5, x[1].dims()[1] + 1]),
        ),
        row(
            "scatter_add",
            Gather,
            &[Index(3), Any],
            &[&[&[4, 9], &[4, 9]]],
            |x| Tensor::scatter_add(&x[0], &x[1], 1, [x[1].dims()[0] + 2, 3]),
        ),
    ]
}
