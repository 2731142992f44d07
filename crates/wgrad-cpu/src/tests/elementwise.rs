//! unary, binary, where, cast, full and random.

use wgrad_graph::{philox, BinaryOp, DType, Error, Kernels, RandomDist, Shape, UnaryOp};

use super::{k, meta, read, T};

fn unary(op: UnaryOp, x: &T) -> Vec<f64> {
    read(
        &k().unary(op, x.input(), &meta(x.shape().clone(), x.dtype))
            .unwrap(),
    )
}

fn binary(op: BinaryOp, a: &T, b: &T) -> Vec<f64> {
    let dtype = if op.is_comparison() {
        DType::Bool
    } else {
        a.dtype
    };
    let out = meta(a.shape().clone(), dtype);
    read(&k().binary(op, a.input(), b.input(), &out).unwrap())
}

#[test]
fn unary_hand_values() {
    let x = T::f64([4], &[-2.0, 0.0, 0.25, 4.0]);
    // sign(0) = 0, not signum's 1; relu(-2) = 0; rsqrt(4) = 1/2; recip(0.25) = 4; recip(0) = inf.
    assert_eq!(unary(UnaryOp::Sign, &x), [-1.0, 0.0, 1.0, 1.0]);
    assert_eq!(unary(UnaryOp::Relu, &x), [0.0, 0.0, 0.25, 4.0]);
    assert_eq!(unary(UnaryOp::Abs, &x), [2.0, 0.0, 0.25, 4.0]);
    assert_eq!(unary(UnaryOp::Neg, &x), [2.0, -0.0, -0.25, -4.0]);
    assert_eq!(unary(UnaryOp::Rsqrt, &x)[2..], [2.0, 0.5]);
    assert_eq!(unary(UnaryOp::Sqrt, &x)[2..], [0.5, 2.0]);
    assert_eq!(unary(UnaryOp::Recip, &x)[1..], [f64::INFINITY, 4.0, 0.25]);
    // sigmoid(0) = 1/(1+1) = 1/2; sigmoid(-1000) = 1/(1+e^1000) = 1/inf = 0, no NaN.
    let s = T::f64([3], &[0.0, -1000.0, 1000.0]);
    assert_eq!(unary(UnaryOp::Sigmoid, &s), [0.5, 0.0, 1.0]);
    assert_eq!(unary(UnaryOp::Exp, &s)[0], 1.0);
    assert_eq!(unary(UnaryOp::Tanh, &s), [0.0, -1.0, 1.0]);
    let t = T::f64([2], &[1.0, std::f64::consts::PI]);
    assert_eq!(unary(UnaryOp::Log, &t)[0], 0.0);
    assert_eq!(unary(UnaryOp::Cos, &t)[1], -1.0);
    assert!(unary(UnaryOp::Sin, &t)[1].abs() < 1e-15);
}

#[test]
fn unary_f32_is_rounded_once_from_f64() {
    // exp(1) computed in f64 and rounded once to f32 is the correctly rounded f32 e.
    let x = T::new([1], DType::F32, &[1.0]);
    assert_eq!(unary(UnaryOp::Exp, &x), [std::f64::consts::E as f32 as f64]);
    let h = T::new([1], DType::F16, &[1.0]);
    assert_eq!(
        unary(UnaryOp::Exp, &h),
        [half::f16::from_f64(std::f64::consts::E).to_f64()]
    );
}

#[test]
fn unary_integers_wrap() {
    let min = i32::MIN as i64;
    let x = T::i32([4], &[min, -3, 0, 5]);
    // -(-2^31) = 2^31 wraps to -2^31 (wrapping_neg), and so does abs.
    assert_eq!(unary(UnaryOp::Neg, &x), [min as f64, 3.0, 0.0, -5.0]);
    assert_eq!(unary(UnaryOp::Abs, &x), [min as f64, 3.0, 0.0, 5.0]);
    assert_eq!(unary(UnaryOp::Sign, &x), [-1.0, -1.0, 0.0, 1.0]);
    assert_eq!(unary(UnaryOp::Relu, &x), [0.0, 0.0, 0.0, 5.0]);
    // u32 neg is wrapping_neg: -5 = 2^32 - 5.
    let u = T::new([1], DType::U32, &[5.0]);
    assert_eq!(unary(UnaryOp::Neg, &u), [(u32::MAX - 4) as f64]);
}

#[test]
fn unary_rejects_int_exp() {
    let x = T::i32([1], &[1]);
    let e = k()
        .unary(UnaryOp::Exp, x.input(), &meta([1], DType::I32))
        .unwrap_err();
    assert!(matches!(e, Error::DType { op: "exp", .. }), "{e}");
}

#[test]
fn unary_reads_transposed_view() {
    // x = [[1, 2, 3], [4, 5, 6]]; x^T row-major = [1, 4, 2, 5, 3, 6].
    let x = T::f64([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let t = x.view(x.layout.permute(&[1, 0]));
    assert_eq!(
        unary(UnaryOp::Neg, &t),
        [-1.0, -4.0, -2.0, -5.0, -3.0, -6.0]
    );
}

#[test]
fn binary_float_hand_values() {
    let a = T::f64([4], &[1.0, -2.0, 3.0, 2.0]);
    let b = T::f64([4], &[2.0, 2.0, 3.0, 0.5]);
    assert_eq!(binary(BinaryOp::Add, &a, &b), [3.0, 0.0, 6.0, 2.5]);
    assert_eq!(binary(BinaryOp::Sub, &a, &b), [-1.0, -4.0, 0.0, 1.5]);
    assert_eq!(binary(BinaryOp::Mul, &a, &b), [2.0, -4.0, 9.0, 1.0]);
    assert_eq!(binary(BinaryOp::Div, &a, &b), [0.5, -1.0, 1.0, 4.0]);
    // 1^2 = 1, (-2)^2 = 4, 3^3 = 27, 2^0.5 = sqrt 2.
    assert_eq!(binary(BinaryOp::Pow, &a, &b), [1.0, 4.0, 27.0, 2f64.sqrt()]);
    assert_eq!(binary(BinaryOp::Max, &a, &b), [2.0, 2.0, 3.0, 2.0]);
    assert_eq!(binary(BinaryOp::Min, &a, &b), [1.0, -2.0, 3.0, 0.5]);
    assert_eq!(binary(BinaryOp::Lt, &a, &b), [1.0, 1.0, 0.0, 0.0]);
    assert_eq!(binary(BinaryOp::Le, &a, &b), [1.0, 1.0, 1.0, 0.0]);
    assert_eq!(binary(BinaryOp::Eq, &a, &b), [0.0, 0.0, 1.0, 0.0]);
}

#[test]
fn binary_maximum_propagates_nan() {
    let a = T::f64([2], &[f64::NAN, 1.0]);
    let b = T::f64([2], &[1.0, f64::NAN]);
    assert!(binary(BinaryOp::Max, &a, &b).iter().all(|v| v.is_nan()));
    assert!(binary(BinaryOp::Min, &a, &b).iter().all(|v| v.is_nan()));
}

#[test]
fn binary_f32_add_is_correctly_rounded() {
    // 1 + 2^-24 is a tie between 1 and 1 + 2^-23 in f32; ties round to even, i.e. to 1.
    let a = T::new([1], DType::F32, &[1.0]);
    let b = T::new([1], DType::F32, &[2f64.powi(-24)]);
    assert_eq!(binary(BinaryOp::Add, &a, &b), [1.0]);
}

#[test]
fn binary_integers_wrap_and_truncate() {
    let (min, max) = (i32::MIN as i64, i32::MAX as i64);
    let a = T::i32([6], &[-7, 7, min, max, 65536, 7]);
    let b = T::i32([6], &[2, -2, -1, 1, 65536, 0]);
    // -7/2 = -3.5 -> -3 (toward zero); 7/-2 -> -3; MIN/-1 = 2^31 wraps to MIN; x/0 = x (WGSL).
    assert_eq!(
        binary(BinaryOp::Div, &a, &b),
        [-3.0, -3.0, min as f64, max as f64, 1.0, 7.0]
    );
    // MAX + 1 wraps to MIN; 2^16 · 2^16 = 2^32 wraps to 0.
    assert_eq!(binary(BinaryOp::Add, &a, &b)[3], min as f64);
    assert_eq!(binary(BinaryOp::Mul, &a, &b)[4], 0.0);
    // u32: 0 - 1 = MAX; (2^32 - 1)^2 = 2^64 - 2^33 + 1 ≡ 1 (mod 2^32), a product f64 cannot hold exactly.
    let m = u32::MAX as f64;
    let u = T::new([2], DType::U32, &[0.0, m]);
    let v = T::new([2], DType::U32, &[1.0, m]);
    assert_eq!(binary(BinaryOp::Sub, &u, &v)[0], m);
    assert_eq!(binary(BinaryOp::Mul, &u, &v)[1], 1.0);
    // i32: 46341^2 = 2147488281 = 2^31 + 4633 wraps to -2^31 + 4633.
    let c = T::i32([1], &[46341]);
    assert_eq!(binary(BinaryOp::Mul, &c, &c), [(min + 4633) as f64]);
}

#[test]
fn binary_rejects_int_pow_and_bool_add() {
    let x = T::i32([1], &[2]);
    let e = k().binary(BinaryOp::Pow, x.input(), x.input(), &meta([1], DType::I32));
    assert!(matches!(e, Err(Error::DType { op: "pow", .. })));
    let b = T::new([1], DType::Bool, &[1.0]);
    let e = k().binary(BinaryOp::Add, b.input(), b.input(), &meta([1], DType::Bool));
    assert!(matches!(e, Err(Error::DType { op: "add", .. })));
}

#[test]
fn binary_broadcasts_through_stride_zero() {
    // a [2, 3] + b [3] expanded to [2, 3] with strides [0, 1]: b is added to every row.
    let a = T::f64([2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let b = T::f64([3], &[10.0, 20.0, 30.0]);
    let be = b.view(b.layout.expand(&Shape::new([2, 3])));
    assert_eq!(be.layout.strides, [0, 1]);
    assert_eq!(
        binary(BinaryOp::Add, &a, &be),
        [11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
    );
}

#[test]
fn where_selects_with_broadcast_condition() {
    // cond [2, 1] = [[true], [false]] expanded over 2 columns: row 0 from a, row 1 from b.
    let c = T::new([2, 1], DType::Bool, &[1.0, 0.0]);
    let c = c.view(c.layout.expand(&Shape::new([2, 2])));
    let a = T::f64([2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = T::f64([2, 2], &[-1.0, -2.0, -3.0, -4.0]);
    let out = k()
        .where_(c.input(), a.input(), b.input(), &meta([2, 2], DType::F64))
        .unwrap();
    assert_eq!(read(&out), [1.0, 2.0, -3.0, -4.0]);
}

#[test]
fn cast_truncates_saturates_and_wraps() {
    let x = T::f64([6], &[2.7, -2.7, 1e10, -1e10, f64::NAN, 0.5]);
    let to = |x: &T, d: DType| read(&k().cast(x.input(), &meta(x.shape().clone(), d)).unwrap());
    let (min, max) = (i32::MIN as f64, i32::MAX as f64);
    // Toward zero, saturating, NaN -> 0 (Rust `as`).
    assert_eq!(to(&x, DType::I32), [2.0, -2.0, max, min, 0.0, 0.0]);
    assert_eq!(
        to(&x, DType::U32),
        [2.0, 0.0, u32::MAX as f64, 0.0, 0.0, 0.0]
    );
    // x != 0, NaN is true.
    assert_eq!(to(&x, DType::Bool), [1.0; 6]);
    // int -> int wraps like `as`: -1i32 as u32 = u32::MAX.
    let i = T::i32([2], &[-1, 3]);
    assert_eq!(to(&i, DType::U32), [u32::MAX as f64, 3.0]);
    let b = T::new([2], DType::Bool, &[1.0, 0.0]);
    assert_eq!(to(&b, DType::F32), [1.0, 0.0]);
    // f64 -> f32 rounds to nearest.
    let t = T::f64([1], &[0.1]);
    assert_eq!(to(&t, DType::F32), [0.1f32 as f64]);
}

#[test]
fn full_rounds_value_to_dtype() {
    assert_eq!(
        read(&k().full(3.7, &meta([2], DType::I32)).unwrap()),
        [3.0; 2]
    );
    assert_eq!(
        read(&k().full(0.1, &meta([], DType::F32)).unwrap()),
        [0.1f32 as f64]
    );
}

#[test]
fn random_matches_philox() {
    let (seed, offset) = (42, 17);
    let draw = |dist, dtype| read(&k().random(dist, seed, offset, &meta([5], dtype)).unwrap());
    let u = draw(RandomDist::Uniform, DType::F32);
    let n = draw(RandomDist::Normal, DType::F64);
    let b = draw(RandomDist::Bernoulli { p: 0.5 }, DType::Bool);
    let h = draw(RandomDist::Normal, DType::F16);
    for i in 0..5 {
        assert_eq!(u[i], philox::uniform(seed, offset, i as u64) as f64);
        assert_eq!(n[i], philox::normal(seed, offset, i as u64) as f64);
        assert_eq!(b[i], philox::bernoulli(seed, offset, i as u64, 0.5) as f64);
        assert_eq!(h[i], DType::F16.round(n[i]));
    }
    // Drawing from offset 18 shifts the stream by one element.
    let shifted = read(
        &k().random(
            RandomDist::Uniform,
            seed,
            offset + 1,
            &meta([4], DType::F32),
        )
        .unwrap(),
    );
    assert_eq!(shifted, u[1..]);
}

/// Every unary op runs on every float dtype, and its result is the f64 value rounded once to that dtype.
#[test]
fn unary_every_op_every_float_dtype() {
    let x = T::rand([3, 5], 3);
    for op in UnaryOp::ALL {
        for dtype in [DType::F32, DType::F64, DType::F16, DType::BF16] {
            let xd = T::new([3, 5], dtype, &x.values());
            let want: Vec<f64> = xd
                .values()
                .iter()
                .map(|&v| dtype.round(op.apply(v)))
                .collect();
            let got = unary(*op, &xd);
            let same = got
                .iter()
                .zip(&want)
                .all(|(g, w)| g == w || (g.is_nan() && w.is_nan()));
            assert!(same, "{} {dtype}: {got:?} != {want:?}", op.name());
        }
    }
}
