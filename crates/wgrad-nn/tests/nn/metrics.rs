//! Host-side metrics beyond the seed example.

use wgrad_nn::*;

use crate::assert_close;

#[test]
fn confusion_matrix_from_labels_counts_pairs() {
    let actual = [0, 0, 1, 1, 2, 2];
    let predicted = [0, 1, 1, 1, 2, 0];
    let m = ConfusionMatrix::from_labels(&actual, &predicted, 3).unwrap();
    assert_eq!(m.counts(), &[vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
    assert_close(&[m.accuracy()], &[4.0 / 6.0], 1e-12);
    assert_close(
        &[accuracy(&predicted, &actual).unwrap()],
        &[4.0 / 6.0],
        1e-12,
    );
    // class 0: precision 1/2, recall 1/2, F1 1/2
    assert_close(
        &[m.precision(0), m.recall(0), m.f1(0)],
        &[0.5, 0.5, 0.5],
        1e-12,
    );
    assert_close(
        &[m.macro_precision()],
        &[(0.5 + 2.0 / 3.0 + 1.0) / 3.0],
        1e-12,
    );
}

#[test]
fn metrics_reject_bad_labels() {
    assert!(ConfusionMatrix::from_labels(&[0, 3], &[0, 0], 3).is_err());
    assert!(ConfusionMatrix::from_labels(&[0], &[0, 1], 3).is_err());
    assert!(accuracy(&[0], &[0, 1]).is_err());
    assert!(ConfusionMatrix::from_counts(vec![vec![1, 2], vec![3]]).is_err());
}

#[test]
fn precision_of_a_never_predicted_class_is_zero() {
    let m = ConfusionMatrix::from_counts(vec![vec![2, 0], vec![1, 0]]).unwrap();
    assert_eq!(m.precision(1), 0.0);
    assert_eq!(m.f1(1), 0.0);
}
