//! Reading values back: `to_vec_async` against `to_vec` on both backends, device errors through the async
//! path, and that the async readback wakes its task instead of needing to be polled in a loop.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use wgrad::{DType, Device, Error, Tensor};

fn devices() -> Vec<Device> {
    let mut v = vec![Device::new(wgrad::cpu::CpuBackend)];
    if let Some(gpu) = wgrad::wgpu::testing::backend_or_skip() {
        v.push(Device::new(gpu));
    }
    v
}

/// `[rows, cols]` of distinct values.
fn values(rows: usize, cols: usize, dev: &Device) -> Tensor {
    let v: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
    Tensor::from_vec(v, [rows, cols], dev).expect("from_vec")
}

#[test]
fn to_vec_async_matches_to_vec() {
    for dev in devices() {
        let name = dev.backend().name();
        let a = values(17, 33, &dev);
        let b = values(33, 5, &dev);
        let product = || (a.matmul(&b).expect("matmul") + 1.0).expect("add");
        let want = product().to_vec::<f32>().expect("to_vec");
        let got = pollster::block_on(product().to_vec_async::<f32>()).expect("async");
        assert_eq!(got, want, "{name}");
        // a strided view (copied before the readback) and an empty tensor
        let t = a.transpose(0, 1).expect("transpose");
        assert_eq!(
            pollster::block_on(t.to_vec_async::<f32>()).expect("strided"),
            t.to_vec::<f32>().expect("strided"),
            "{name}"
        );
        let empty = Tensor::zeros([0, 3], DType::F32, &dev);
        assert!(pollster::block_on(empty.to_vec_async::<f32>())
            .expect("empty")
            .is_empty());
        let err = pollster::block_on(a.to_vec_async::<i32>()).expect_err("wrong dtype");
        assert_eq!(
            err.to_string(),
            "to_vec_async: tensor is f32, asked for i32",
            "{name}"
        );
    }
}

#[test]
fn async_readback_reports_device_errors() {
    for dev in devices() {
        let x = values(2, 5, &dev);
        let idx = Tensor::from_vec(vec![0i32, 7, 1, 2], [2, 2], &dev).expect("index");
        let gathered = x.gather(1, &idx).expect("gather");
        let err = pollster::block_on(gathered.to_vec_async::<f32>()).expect_err("index 7");
        assert!(matches!(err, Error::Index { op: "gather", .. }), "{err}");
        // reported once: the next read works
        assert_eq!(x.to_vec::<f32>().expect("after the error").len(), 10);
    }
}

/// Counts wakes and signals each one.
struct Signal {
    wakes: AtomicUsize,
    tx: std::sync::Mutex<mpsc::Sender<()>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(());
        }
    }
}

/// A pending readback resolves after its waker fires, with no polling in between: the task is woken by the
/// map callback, so an executor can park it instead of spinning.
#[test]
fn async_readback_wakes_its_task() {
    let Some(gpu) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(gpu);
    let a = values(256, 256, &dev);
    let t = a.matmul(&a).expect("matmul").matmul(&a).expect("matmul");
    let (tx, rx) = mpsc::channel();
    let signal = Arc::new(Signal {
        wakes: AtomicUsize::new(0),
        tx: std::sync::Mutex::new(tx),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = Box::pin(t.to_vec_async::<f32>());
    let got = loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(r) => break r.expect("readback"),
            // a generous bound that only catches a future nobody wakes (it would hang forever)
            Poll::Pending => rx
                .recv_timeout(Duration::from_secs(120))
                .expect("the pending readback was never woken"),
        }
    };
    drop(future);
    // map callbacks of this test's own device fire only from a poll of that device, which nothing did
    // before the first poll of the future: it went pending at least once and was woken
    assert!(signal.wakes.load(Ordering::SeqCst) >= 1);
    assert_eq!(got, t.to_vec::<f32>().expect("blocking readback"));
}
