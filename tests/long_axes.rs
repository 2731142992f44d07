//! Long loops on lavapipe: llvmpipe ends an invocation's loops after 65,535 iterations in total, silently
//! (a product over k = 70,000 used to sum 65,533 terms). Every kernel whose per-invocation loop grows with
//! the input splits it (`wgrad_wgpu::kernels::LOOP_BUDGET`); these tests run each of them past the
//! threshold, on the default kernels and on the forced alternatives, and compare with exact answers (sums of
//! ones and integers, exact in f32) or with the CPU reference.
//!
//! GPU tests: with CI=true and no adapter they fail (`backend_or_skip`).

use wgrad::wgpu::kernels::conv2d::Path;
use wgrad::wgpu::kernels::matmul::{available, Variant};
use wgrad::wgpu::{Options, WgpuBackend};
use wgrad::{Conv2dParams, DType, Device, Tensor};

fn gpu() -> Option<Device> {
    wgrad::wgpu::testing::backend_or_skip().map(Device::new)
}

/// The GPU with `options` (a forced kernel), when the adapter can run it.
fn forced(options: Options) -> Option<Device> {
    WgpuBackend::with_options(&options).ok().map(Device::new)
}

fn ones(shape: &[usize], dev: &Device) -> Tensor {
    Tensor::ones(shape.to_vec(), DType::F32, dev)
}

#[test]
fn matmul_over_k_past_the_loop_limit() {
    let Some(default) = gpu() else { return };
    let caps = WgpuBackend::new().expect("adapter").caps().clone();
    let mut devices = vec![("default", default)];
    for v in Variant::ALL {
        if available(&caps, v) {
            let options = Options {
                matmul: Some(v),
                ..Default::default()
            };
            devices.extend(forced(options).map(|d| (v.entry(), d)));
        }
    }
    for (kernel, dev) in &devices {
        for k in [70_000, 140_003] {
            let y = ones(&[1, k], dev).matmul(&ones(&[k, 1], dev).mul(0.5).unwrap());
            let y = y.and_then(|y| y.item()).expect("runs");
            assert_eq!(y, k as f64 / 2.0, "k = {k} on {kernel}");
        }
    }
    // a product with every dim odd, against the CPU
    let cpu = wgrad::cpu_device();
    let (m, k, n) = (3, 70_001, 5);
    let a: Vec<f32> = (0..m * k)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 64.0)
        .collect();
    let b: Vec<f32> = (0..k * n)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 64.0)
        .collect();
    let product = |dev: &Device| {
        let a = Tensor::from_slice(&a, [m, k], dev).unwrap();
        let b = Tensor::from_slice(&b, [k, n], dev).unwrap();
        a.matmul(&b).unwrap().to_f64_vec().unwrap()
    };
    let want = product(&cpu);
    for (kernel, dev) in &devices {
        for (g, w) in product(dev).iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-3 * w.abs().max(1.0),
                "{g} vs {w} on {kernel}"
            );
        }
    }
}

#[test]
fn reductions_over_17m_elements() {
    let Some(dev) = gpu() else { return };
    let n = 17_000_000;
    let x = ones(&[1, n], &dev);
    assert_eq!(x.sum_all().unwrap().item().unwrap(), n as f64);
    assert_eq!(x.sum(&[1], false).unwrap().item().unwrap(), n as f64);
    // a row with its maximum near the end, and a minimum earlier
    let mut v = vec![0.0f32; n];
    v[n - 3] = 5.0;
    v[12_345_678] = -4.0;
    v[n - 2] = 5.0; // a tie: the first one wins
    let x = Tensor::from_vec(v, [1, n], &dev).unwrap();
    assert_eq!(x.max_all().unwrap().item().unwrap(), 5.0);
    let am = x.argmax(1, false).unwrap().to_vec::<i32>().unwrap();
    assert_eq!(am, [n as i32 - 3]);
    let am = x.argmin(1, false).unwrap().to_vec::<i32>().unwrap();
    assert_eq!(am, [12_345_678]);
}

#[test]
fn softmax_over_long_rows() {
    let Some(dev) = gpu() else { return };
    let cpu = wgrad::cpu_device();
    for (rows, len) in [(64, 70_000), (2, 400_003)] {
        let v: Vec<f32> = (0..rows * len)
            .map(|i| ((i * 7919 % 1000) as f32) / 100.0)
            .collect();
        for log in [false, true] {
            let run = |d: &Device| {
                let x = Tensor::from_slice(&v, [rows, len], d)
                    .unwrap()
                    .with_grad()
                    .unwrap();
                let y = if log { x.log_softmax(1) } else { x.softmax(1) }.unwrap();
                // weights that vary along the row, so the backward is not trivially 0
                let w = Tensor::from_slice(&v, [rows, len], d).unwrap();
                y.mul(&w).unwrap().sum_all().unwrap().backward().unwrap();
                let g = x.grad().unwrap();
                (y.to_f64_vec().unwrap(), g.to_f64_vec().unwrap())
            };
            let (want_y, want_g) = run(&cpu);
            let (got_y, got_g) = run(&dev);
            for (what, got, want) in [("forward", got_y, want_y), ("grad", got_g, want_g)] {
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    let ok = (g - w).abs() <= 1e-5 + 1e-3 * w.abs();
                    assert!(
                        ok,
                        "[{rows}, {len}] log {log} {what}[{i}]: gpu {g}, cpu {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn convolutions_sum_past_the_loop_limit() {
    let Some(default) = gpu() else { return };
    let direct = forced(Options {
        conv2d: Some(Path::Direct),
        ..Default::default()
    });
    for dev in [Some(default), direct].into_iter().flatten() {
        // forward: 8192 channels x 9 taps per output (73,728 iterations in one invocation before the split)
        let y = ones(&[1, 8192, 3, 3], &dev)
            .conv2d(&ones(&[1, 8192, 3, 3], &dev), None, Conv2dParams::default())
            .unwrap();
        assert_eq!(y.item().unwrap(), 8192.0 * 9.0, "{}", dev.name());
        // the input gradient sums over 8192 output channels
        let x = ones(&[1, 1, 5, 5], &dev).with_grad().unwrap();
        let w = ones(&[8192, 1, 3, 3], &dev);
        let y = x.conv2d(&w, None, Conv2dParams::default()).unwrap();
        y.sum_all().unwrap().backward().unwrap();
        let dx = x.grad().unwrap().to_vec::<f32>().unwrap();
        // the center pixel is covered by all 9 taps of every output channel
        assert_eq!(dx[2 * 5 + 2], 8192.0 * 9.0, "{}", dev.name());
        // the weight gradient sums over 2098² positions
        let x = ones(&[1, 1, 2100, 2100], &dev);
        let w = ones(&[1, 1, 3, 3], &dev).with_grad().unwrap();
        let y = x.conv2d(&w, None, Conv2dParams::default()).unwrap();
        y.sum_all().unwrap().backward().unwrap();
        let dw = w.grad().unwrap().to_vec::<f32>().unwrap();
        assert!(
            dw.iter().all(|&v| v == 2098.0 * 2098.0),
            "{}: dw {}",
            dev.name(),
            dw[0]
        );
    }
}

#[test]
fn scatter_add_over_a_long_axis() {
    let Some(dev) = gpu() else { return };
    let n = 70_000;
    // index_select's gradient: 70,000 picks of row 0 of a table
    let table = ones(&[3, 2], &dev).with_grad().unwrap();
    let ids = Tensor::from_vec(vec![0i32; n], [n], &dev).unwrap();
    let rows = table.index_select(0, &ids).unwrap();
    rows.sum_all().unwrap().backward().unwrap();
    let g = table.grad().unwrap().to_vec::<f32>().unwrap();
    assert_eq!(g, [n as f32, n as f32, 0.0, 0.0, 0.0, 0.0]);
}
