//! Matmul (contiguous, transposed, and offset batch-broadcast operands; sizes past every tile) and 2-D
//! convolution (stride, padding, dilation, groups; the example CNN's blocks).

use super::Domain::*;
use super::{row, Family, Row};
use wgrad::graph::Conv2dParams;
use wgrad::{Result, Tensor};

/// `(b, m, k, n)` of the matmul kernel cases: single elements, sizes past one tile, k past 256, and all
/// multiples of 4 (where operands are staged four elements per load).
const MNK: [[usize; 4]; 7] = [
    [1, 1, 1, 1],
    [1, 3, 17, 5],
    [2, 17, 3, 257],
    [1, 257, 33, 17],
    [3, 65, 70, 66],
    [1, 1, 257, 3],
    [2, 36, 40, 44],
];

fn matmul(shapes: &[&[&[usize]]], f: fn(&Tensor, &Tensor) -> Result<Tensor>) -> Row {
    row("matmul", Family::Matmul, &[Any, Any], shapes, move |x| {
        f(&x[0], &x[1])
    })
}

/// Rows over [`MNK`], each operand stored as `lhs(b, m, k)` and `rhs(b, k, n)` give.
fn matmul_cases(
    note: &str,
    lhs: fn([usize; 3]) -> Vec<usize>,
    rhs: fn([usize; 3]) -> Vec<usize>,
    f: fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Row {
    let shapes: Vec<Vec<Vec<usize>>> = MNK
        .iter()
        .map(|&[b, m, k, n]| vec![lhs([b, m, k]), rhs([b, k, n])])
        .collect();
    matmul(&[], f).with_shapes(shapes).note(note)
}

/// `x` stored with one extra row in front (so its view starts at an offset), broadcast over a batch of `b`.
fn offset_broadcast(x: &Tensor, b: usize) -> Result<Tensor> {
    let rows = x.dims()[1] - 1;
    let cols = x.dims()[2];
    x.narrow(1, 1, rows)?.expand([b, rows, cols])
}

pub(super) fn rows() -> Vec<Row> {
    let mut rows = vec![
        matmul(
            &[
                &[&[3, 5], &[5, 4]],
                &[&[1, 17], &[17, 3]],
                &[&[17], &[17, 3]],
                &[&[3, 17], &[17]],
            ],
            |a, b| a.matmul(b),
        ),
        matmul(
            &[
                &[&[2, 3, 5], &[5, 4]],
                &[&[2, 3, 5], &[2, 5, 4]],
                &[&[2, 1, 3, 5], &[3, 5, 4]],
            ],
            |a, b| a.matmul(b),
        ),
        matmul(&[&[&[3, 5], &[4, 5]], &[&[17, 3], &[1, 3]]], |a, b| {
            a.matmul(&b.t()?)
        }),
        matmul(&[&[&[5, 3], &[5, 4]], &[&[3, 17], &[3, 2]]], |a, b| {
            a.t()?.matmul(b)
        }),
        matmul_cases(
            "a·b",
            |[b, m, k]| vec![b, m, k],
            |[b, k, n]| vec![b, k, n],
            |a, b| a.matmul(b),
        ),
        matmul_cases(
            "aᵀ·b",
            |[b, m, k]| vec![b, k, m],
            |[b, k, n]| vec![b, k, n],
            |a, b| a.transpose(1, 2)?.matmul(b),
        ),
        matmul_cases(
            "a·bᵀ",
            |[b, m, k]| vec![b, m, k],
            |[b, k, n]| vec![b, n, k],
            |a, b| a.matmul(&b.transpose(1, 2)?),
        ),
        // lhs: one [m, k] matrix at an offset, stride 0 over the batch; rhs transposed
        matmul_cases(
            "a[offset, broadcast]·bᵀ",
            |[_, m, k]| vec![1, m + 1, k],
            |[b, k, n]| vec![b, n, k],
            |a, b| offset_broadcast(a, b.dims()[0])?.matmul(&b.transpose(1, 2)?),
        ),
        matmul_cases(
            "aᵀ·b[offset, broadcast]",
            |[b, m, k]| vec![b, k, m],
            |[_, k, n]| vec![1, k + 1, n],
            |a, b| {
                a.transpose(1, 2)?
                    .matmul(&offset_broadcast(b, a.dims()[0])?)
            },
        ),
        // n much larger than m with a transposed rhs: the texture path computes (b·aᵀ)ᵀ and stores it
        // transposed, so the transposed pack falls on the smaller operand
        matmul(&[&[&[2, 5, 36], &[2, 70, 36]]], |a, b| {
            a.matmul(&b.transpose(1, 2)?)
        })
        .note("stored transposed"),
        matmul(&[&[&[1, 5, 36], &[3, 70, 36]]], |a, b| {
            a.expand([3, 5, 36])?.matmul(&b.transpose(1, 2)?)
        })
        .note("stored transposed, lhs broadcast"),
        // k and n of 256: 64-texel rows, which the texture path widens by a texel (cache sets)
        matmul(&[&[&[33, 256], &[256, 256]]], |a, b| a.matmul(b))
            .note("64-texel rows")
            .no_gradcheck(),
    ];
    rows.extend(conv_rows());
    rows
}

pub fn conv_p(
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Conv2dParams {
    Conv2dParams {
        stride,
        padding,
        dilation,
        groups,
    }
}

/// A convolution row with `p`, without or with a bias (a third input).
fn conv(shapes: &[&[&[usize]]], p: Conv2dParams) -> Row {
    let domains = vec![Any; shapes[0].len()];
    let r = row("conv2d", Family::Conv2d(p), &domains, shapes, move |x| {
        x[0].conv2d(&x[1], x.get(2), p)
    });
    if p == Conv2dParams::default() {
        r
    } else {
        let [s, pad, d] = [p.stride, p.padding, p.dilation];
        r.note(format!(
            "stride {s:?} padding {pad:?} dilation {d:?} groups {}",
            p.groups
        ))
    }
}

/// `x` without its first item along axis 0: a contiguous view at an offset.
pub fn at_offset(x: &Tensor) -> Result<Tensor> {
    x.narrow(0, 1, x.dims()[0] - 1)
}

fn conv_rows() -> Vec<Row> {
    let same = conv_p([1, 1], [1, 1], [1, 1], 1);
    let offset = row(
        "conv2d",
        Family::Conv2d(same),
        &[Any, Any],
        &[&[&[3, 3, 17, 17], &[5, 3, 3, 3]]],
        move |x| at_offset(&x[0])?.conv2d(&at_offset(&x[1])?, None, same),
    );
    vec![
        offset.note("inputs at an offset"),
        conv(
            &[
                &[&[2, 3, 7, 6], &[4, 3, 3, 3]],
                &[&[1, 1, 17, 3], &[2, 1, 1, 2]],
                &[&[1, 1, 1, 1], &[1, 1, 1, 1]],
                &[&[1, 3, 28, 28], &[5, 3, 5, 5]],
            ],
            Conv2dParams::default(),
        ),
        conv(
            &[&[&[2, 3, 7, 6], &[4, 3, 3, 3], &[4]]],
            conv_p([2, 2], [1, 1], [1, 1], 1),
        ),
        conv(
            &[&[&[1, 2, 9, 8], &[3, 2, 3, 2]]],
            conv_p([1, 1], [2, 2], [2, 2], 1),
        ),
        conv(
            &[&[&[1, 4, 5, 5], &[6, 2, 3, 3]]],
            conv_p([2, 2], [1, 1], [1, 1], 2),
        ),
        // the blocks of the example CNN at batch 16
        conv(
            &[
                &[&[2, 3, 17, 17], &[4, 3, 3, 3]],
                &[&[2, 16, 8, 8], &[8, 16, 3, 3]],
                &[&[16, 1, 28, 28], &[4, 1, 3, 3]],
                &[&[16, 4, 14, 14], &[8, 4, 3, 3]],
                &[&[16, 8, 7, 7], &[8, 8, 3, 3]],
            ],
            same,
        ),
        // a batch whose unfolded images exceed the texture path's staging budget (8 MiB): every pass
        // runs in chunks of images (2-4 here), each writing its slice of the output
        conv(&[&[&[40, 16, 28, 28], &[8, 16, 3, 3]]], same)
            .note("batch in chunks")
            .no_gradcheck(),
        conv(
            &[&[&[2, 4, 17, 13], &[6, 2, 3, 2]]],
            conv_p([2, 2], [1, 0], [1, 1], 2),
        ),
        conv(
            &[&[&[1, 2, 16, 15], &[3, 2, 3, 3]]],
            conv_p([2, 1], [2, 1], [2, 2], 1),
        ),
        conv(
            &[&[&[3, 4, 9, 9], &[4, 2, 2, 3]]],
            conv_p([1, 2], [0, 2], [2, 1], 2),
        ),
    ]
}
