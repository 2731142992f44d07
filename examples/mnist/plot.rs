//! Training curves as a PNG: training loss (left axis) and test accuracy (right axis) per epoch, drawn with
//! the examples' plotting helpers (`plotters`).

use std::path::Path;

use crate::common::plot::{line_chart, Chart, Series};
use crate::common::BoxResult;
use crate::train::EpochStats;

/// Writes the curves of `history` to `path`.
pub fn write(path: &Path, history: &[EpochStats]) -> BoxResult<()> {
    let loss: Vec<f64> = history.iter().map(|e| e.train_loss).collect();
    let accuracy: Vec<f64> = history.iter().map(|e| 100.0 * e.test_accuracy).collect();
    let chart = Chart {
        title: "MNIST training".into(),
        x_label: "epoch".into(),
        y_label: "training loss".into(),
        series: vec![Series::per_step("training loss", &loss)],
        right: Some((
            "test accuracy (%)".into(),
            vec![Series::per_step("test accuracy", &accuracy)],
        )),
    };
    line_chart(path, &chart, (800, 480))
}
