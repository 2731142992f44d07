//! Batched matmul.

use wgrad_graph::{DType, Kernels, Layout, Shape};

use super::{assert_close, k, meta, rand_below, read, T};

#[test]
fn matmul_hand_values() {
    // [[1, 2], [3, 4]] · [[5, 6], [7, 8]] = [[1·5 + 2·7, 1·6 + 2·8], [3·5 + 4·7, 3·6 + 4·8]] = [[19, 22], [43, 50]].
    let a = T::f64([1, 2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = T::f64([1, 2, 2], &[5.0, 6.0, 7.0, 8.0]);
    let out = k()
        .matmul(a.input(), b.input(), &meta([1, 2, 2], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [19.0, 22.0, 43.0, 50.0]);
    // Integers wrap: [65536] · [65536] = 2^32 ≡ 0 in i32; [1, 1]·[MAX, 1]^T = MAX + 1 ≡ MIN.
    let a = T::i32([1, 1, 2], &[65536, 1]);
    let b = T::i32([1, 2, 1], &[65536, 0]);
    let out = k()
        .matmul(a.input(), b.input(), &meta([1, 1, 1], DType::I32))
        .unwrap();
    assert_eq!(read(&out), [0.0]);
    let a = T::i32([1, 1, 2], &[1, 1]);
    let b = T::i32([1, 2, 1], &[i32::MAX as i64, 1]);
    let out = k()
        .matmul(a.input(), b.input(), &meta([1, 1, 1], DType::I32))
        .unwrap();
    assert_eq!(read(&out), [i32::MIN as f64]);
}

/// Strided inputs (a transposed rhs, a batch stride of 0) give the same result as their contiguous copies
/// multiplied by the textbook triple loop.
#[test]
fn matmul_strided_matches_naive() {
    let dims = [1, 3, 17];
    for case in 0..10u64 {
        let [b, m, kk, n] = [0, 1, 2, 3].map(|i| dims[rand_below(case, i, 3)]);
        let lhs = T::rand([b, m, kk], case);
        // rhs stored as [n, k], read transposed and broadcast over the batch.
        let w = T::rand([n, kk], case + 50);
        let rhs = w.view(Layout {
            shape: Shape::new([b, kk, n]),
            strides: vec![0, 1, kk],
            offset: 0,
        });
        let out = k()
            .matmul(lhs.input(), rhs.input(), &meta([b, m, n], DType::F64))
            .unwrap();
        let (l, r) = (lhs.values(), rhs.values());
        let mut want = vec![0.0; b * m * n];
        for bi in 0..b {
            for i in 0..m {
                for j in 0..n {
                    want[(bi * m + i) * n + j] = (0..kk)
                        .map(|t| l[(bi * m + i) * kk + t] * r[(bi * kk + t) * n + j])
                        .sum();
                }
            }
        }
        assert_close(
            &read(&out),
            &want,
            1e-12,
            &format!("[{b}, {m}, {kk}] x [{b}, {kk}, {n}]"),
        );
    }
}

#[test]
fn matmul_f32_rounds_the_f64_sum_once() {
    // 2^24 + 1 + 1 as a dot product [2^24, 1, 1]·[1, 1, 1]: f32 accumulation gives 2^24, f64 then f32 gives 2^24 + 2.
    let a = T::new([1, 1, 3], DType::F32, &[16_777_216.0, 1.0, 1.0]);
    let b = T::new([1, 3, 1], DType::F32, &[1.0, 1.0, 1.0]);
    let out = k()
        .matmul(a.input(), b.input(), &meta([1, 1, 1], DType::F32))
        .unwrap();
    assert_eq!(read(&out), [16_777_218.0]);
}
