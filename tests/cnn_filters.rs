//! The `cnn_filters` example in miniature (its model module, included with `#[path]`): a short training run
//! must move the first-layer filters away from their initialization, classify far above chance, and write
//! the filter picture.

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/cnn_filters/model.rs"]
#[allow(dead_code)]
mod model;

use wgrad::data::Mnist;
use wgrad::Device;

#[test]
fn unit_range_maps_each_filter_onto_zero_to_one() {
    assert_eq!(model::unit_range(&[-2.0, 0.0, 2.0]), [0.0, 0.5, 1.0]);
    assert_eq!(model::unit_range(&[3.0, 3.0]), [0.5, 0.5]);
    let b = vec![vec![1.0f32, 0.0], vec![0.0, 1.0]];
    let a = vec![vec![1.0f32, 1.0], vec![0.0, 1.0]];
    assert!((model::relative_change(&b, &a) - 0.5f64.sqrt()).abs() < 1e-12);
}

#[test]
fn cnn_filters_learn_and_are_drawn() {
    let Some(backend) = wgrad::wgpu::testing::backend_or_skip() else {
        return;
    };
    let dev = Device::new(backend);
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    let (train, _) = train.split_at(1000).expect("split");
    let (test, _) = test.split_at(500).expect("split");
    let config = model::Config::default();
    dev.manual_seed(0);
    let mut net = config.build(&dev).expect("model");
    let before = model::filters(&net).expect("filters");
    assert_eq!(before.len(), config.filters);
    assert!(before
        .iter()
        .all(|f| f.len() == config.kernel * config.kernel));
    let losses = model::train(&net, &train, 1, 32, 2e-3, 0, &dev).expect("train");
    let accuracy = model::accuracy(&mut net, &test, &dev).expect("accuracy");
    let after = model::filters(&net).expect("filters");
    let change = model::relative_change(&before, &after);
    eprintln!("accuracy {accuracy:.4}, filters moved {change:.3}");
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        change > 0.05,
        "the first-layer filters moved by only {change} of their norm"
    );
    assert!(
        accuracy > 0.7,
        "accuracy {accuracy} after 1 epoch on 1,000 digits (chance 0.1)"
    );

    let path = std::env::temp_dir().join(format!("wgrad-cnn-filters-{}.png", std::process::id()));
    model::save_filters(&path, &before, &after, config.kernel).expect("picture");
    let bytes = std::fs::read(&path).expect("the picture was written");
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    // the IHDR chunk: width and height, big-endian, at bytes 16..24
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert!(width > 16 * 5 * 4 && height > 3 * 5 * 4, "{width}x{height}");
}
