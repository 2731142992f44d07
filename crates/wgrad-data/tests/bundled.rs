//! The 10,000 real MNIST digits bundled in `crates/wgrad-data/data/` (see its `README.md`).

use wgrad_data::mnist::CLASSES;
use wgrad_data::{Loader, LoaderConfig, Mnist};

/// Class counts from `crates/wgrad-data/data/README.md`: those of the first 10,000 images of the MNIST training set.
const README_COUNTS: [usize; CLASSES] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

#[test]
fn bundled_loads_10000_digits() {
    let m = Mnist::bundled().expect("bundled data");
    assert_eq!(m.len(), 10_000);
    assert_eq!((m.rows, m.cols), (28, 28));
    assert_eq!(m.images.len(), 10_000 * 28 * 28);
    assert_eq!(m.class_counts(), README_COUNTS);
    // Real digits, not noise or zeros: MNIST's mean pixel is 0.1307 (after /255), and its borders are blank.
    let mean = m.images.iter().map(|&b| f64::from(b)).sum::<f64>() / m.images.len() as f64 / 255.0;
    assert!((mean - 0.1307).abs() < 0.005, "mean pixel {mean}");
    let corner_sum: u64 = (0..m.len()).map(|i| u64::from(m.image(i)[0])).sum();
    assert_eq!(corner_sum, 0, "top-left pixels are background");
}

#[test]
fn bundled_split_sizes() {
    let (train, test) = Mnist::bundled_split().expect("bundled data");
    assert_eq!((train.len(), test.len()), (8_000, 2_000));
    assert_eq!(train.images.len(), 8_000 * 784);
    assert_eq!(test.images.len(), 2_000 * 784);
    let all = Mnist::bundled().expect("bundled data");
    assert_eq!(train.image(0), all.image(0));
    assert_eq!(test.image(0), all.image(8_000));
    assert_eq!(test.labels[..], all.labels[8_000..]);
    // The data was shuffled before writing, so both parts hold every class (README).
    let (tr, te) = (train.class_counts(), test.class_counts());
    for c in 0..CLASSES {
        assert_eq!(tr[c] + te[c], README_COUNTS[c]);
        assert!(te[c] > 100, "class {c}: {} test images", te[c]);
    }
}

#[test]
fn bundled_load_dir_matches_bundled_split() {
    // the crate's own copy of the files, read as a directory in the bundled layout
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data");
    let (train, test) = Mnist::load_dir(dir).expect("bundled layout");
    let (want_train, want_test) = Mnist::bundled_split().expect("bundled data");
    assert_eq!(train, want_train);
    assert_eq!(test, want_test);
}

#[test]
fn bundled_loader_normalizes_to_zero_mean_unit_std() {
    let (train, _) = Mnist::bundled_split().expect("bundled data");
    let loader = Loader::new(
        &train,
        LoaderConfig {
            batch_size: 1_000,
            ..Default::default()
        },
    )
    .expect("valid config");
    assert_eq!(loader.len(), 8);
    let (mut n, mut sum, mut sq) = (0usize, 0f64, 0f64);
    for batch in loader.epoch(0) {
        assert_eq!(batch.shape, [1_000, 1, 28, 28]);
        n += batch.images.len();
        for &x in &batch.images {
            sum += f64::from(x);
            sq += f64::from(x) * f64::from(x);
        }
    }
    let mean = sum / n as f64;
    let std = (sq / n as f64 - mean * mean).sqrt();
    assert!(mean.abs() < 0.03, "normalized mean {mean}");
    assert!((std - 1.0).abs() < 0.03, "normalized std {std}");
}
