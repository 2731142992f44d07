//! Bad input gives a clear `Error` naming the op and the shapes, never a panic or silent garbage.

mod common;

use wgrad::{Conv2dParams, DType, Device, Error, Tensor};

fn f32s(shape: &[usize], dev: &Device) -> Tensor {
    let n = shape.iter().product();
    common::tensor(&common::uniform(n, 1, -1.0, 1.0), shape, DType::F32, dev)
}

fn message(r: wgrad::Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shape_mismatches_name_the_op_and_shapes() {
    let dev = common::cpu();
    let (a, b) = (f32s(&[2, 3], &dev), f32s(&[3, 2], &dev));
    assert_eq!(
        message(&a + &b),
        "add: shapes do not broadcast: lhs [2, 3], rhs [3, 2]"
    );
    let (l, r) = (f32s(&[2, 3], &dev), f32s(&[4, 5], &dev));
    assert_eq!(
        message(l.matmul(&r)),
        "matmul: inner dims differ: lhs [2, 3], rhs [4, 5] (3 != 4)"
    );
    let x = f32s(&[1, 3, 8, 8], &dev);
    let w = f32s(&[4, 2, 3, 3], &dev);
    let m = message(x.conv2d(&w, None, Conv2dParams::default()));
    assert!(
        m.starts_with("conv2d:") && m.contains("[1, 3, 8, 8]") && m.contains("[4, 2, 3, 3]"),
        "{m}"
    );
    let big = f32s(&[4, 3, 9, 9], &dev);
    let m = message(x.conv2d(&big, None, Conv2dParams::default()));
    assert!(
        m.starts_with("conv2d:") && m.contains("[4, 3, 9, 9]"),
        "{m}"
    );
    let (c1, c2) = (f32s(&[2, 3], &dev), f32s(&[2, 4], &dev));
    assert_eq!(
        message(Tensor::cat(&[&c1, &c2], 0)),
        "cat: shapes differ outside dim 0: [2, 3] and [2, 4]"
    );
    assert_eq!(
        message(a.reshape([4, 2])),
        "reshape: [2, 3] has 6 elements, [4, 2] has 8"
    );
}

#[test]
fn wrong_dtypes_are_rejected() {
    let dev = common::cpu();
    let x = f32s(&[3], &dev);
    let i = Tensor::from_vec(vec![1i32, 2, 3], [3], &dev).unwrap();
    assert_eq!(
        message(&x + &i),
        "add: dtypes differ: lhs [3] f32, rhs [3] i32"
    );
    assert_eq!(
        message(i.exp()),
        "exp: dtype i32 not supported (float only)"
    );
    assert!(matches!(
        i.set_requires_grad(true),
        Err(Error::DType { .. })
    ));
    let idx = Tensor::from_vec(vec![0.0f32, 1.0], [2], &dev).unwrap();
    assert_eq!(
        message(x.gather(0, &idx)),
        "gather: index dtype must be i32, got f32"
    );
    assert!(matches!(x.to_vec::<i32>(), Err(Error::DType { .. })));
    assert_eq!(
        message(x.where_(&x, &x)),
        "where: condition must be bool, got f32"
    );
}

#[test]
fn out_of_range_axes_and_slices_are_errors() {
    let dev = common::cpu();
    let x = f32s(&[4, 5], &dev);
    assert_eq!(
        message(x.sum(&[2], false)),
        "sum: dim 2 out of range for shape [4, 5]"
    );
    assert_eq!(
        message(x.softmax(-3)),
        "softmax: dim -3 out of range for shape [4, 5]"
    );
    assert_eq!(
        message(x.permute(&[0, 0])),
        "permute: [0, 0] is not a permutation of the axes of [4, 5]"
    );
    assert_eq!(
        message(x.narrow(1, 3, 4)),
        "narrow: range 3..7 out of bounds for dim 1 of shape [4, 5]"
    );
    assert_eq!(
        message(x.slice(0, 5, 9, 1)),
        "slice: range 5..9 out of bounds for dim 0 of shape [4, 5]"
    );
    assert!(message(x.slice(0, 0, 4, 0)).starts_with("slice: range 0..4 step 0 out of bounds"));
}

#[test]
fn gather_with_out_of_range_indices_is_an_error() {
    let dev = common::cpu();
    let x = f32s(&[2, 5], &dev);
    let idx = Tensor::from_vec(vec![0i32, 7, 1, 2], [2, 2], &dev).unwrap();
    let err = x.gather(1, &idx).unwrap().to_vec::<f32>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "gather: index 7 out of range for dim 1 of shape [2, 5]"
    );
    let neg = Tensor::from_vec(vec![-1i32], [1], &dev).unwrap();
    let err = f32s(&[3, 2], &dev)
        .index_select(0, &neg)
        .unwrap()
        .to_vec::<f32>()
        .unwrap_err();
    assert!(matches!(err, Error::Index { op: "gather", .. }), "{err}");
}

#[test]
fn bad_constructor_arguments_are_errors() {
    let dev = common::cpu();
    assert_eq!(
        Tensor::from_vec(vec![1.0f32; 5], [2, 3], &dev)
            .unwrap_err()
            .to_string(),
        "from_vec: 5 values do not fill shape [2, 3] (6 elements)"
    );
    assert!(Tensor::arange(0.0, 5.0, -1.0, DType::F32, &dev).is_err());
    assert!(Tensor::bernoulli([3], 1.5, DType::F32, &dev).is_err());
    assert!(Tensor::rand([3], DType::I32, &dev).is_err());
    assert!(f32s(&[2, 2], &dev).item().is_err());
}

#[test]
fn mixing_devices_is_an_error() {
    let a = Device::new(wgrad::cpu::CpuBackend);
    let b = Device::new(wgrad::cpu::CpuBackend);
    let err = message(&f32s(&[2], &a) + &f32s(&[2], &b));
    assert_eq!(err, "add: tensors live on different devices (cpu and cpu)");
}

#[test]
fn backward_needs_a_scalar_or_a_seed_and_a_grad_path() {
    let dev = common::cpu();
    let x = f32s(&[3], &dev).with_grad().unwrap();
    let y = x.exp().unwrap();
    assert!(matches!(y.backward(), Err(Error::Backward { .. })));
    let c = f32s(&[3], &dev).sum_all().unwrap();
    assert!(matches!(c.backward(), Err(Error::Backward { .. })));
    y.backward_with(Some(&y.ones_like())).unwrap();
    assert!(x.grad().is_some());
}
