//! The end-of-run report: test accuracy, per-class precision and recall, and the confusion matrix as a table.

use wgrad::nn::ConfusionMatrix;

use crate::train::Outcome;

/// Prints the final test accuracy, timing totals and the confusion matrix.
pub fn summary(outcome: &Outcome) {
    let m = &outcome.confusion;
    let seconds: f64 = outcome.history.iter().map(|e| e.seconds).sum();
    let samples: f64 = outcome
        .history
        .iter()
        .map(|e| e.samples_per_sec * e.seconds)
        .sum();
    println!();
    println!(
        "test accuracy: {:.2}% ({} of {}), macro F1 {:.4}",
        100.0 * m.accuracy(),
        trace(m),
        m.total(),
        m.macro_f1()
    );
    if seconds > 0.0 {
        println!(
            "training time: {:.1} s over {} epochs, {:.0} samples/s",
            seconds,
            outcome.history.len(),
            samples / seconds
        );
    }
    println!();
    print!("{}", table(m));
}

fn trace(m: &ConfusionMatrix) -> u64 {
    (0..m.classes()).map(|i| m.counts()[i][i]).sum()
}

/// Rows: actual class; columns: predicted class; a recall column on the right and a precision row below,
/// so the classes that get confused stand out as large off-diagonal counts.
fn table(m: &ConfusionMatrix) -> String {
    let k = m.classes();
    let mut out = String::from("actual \\ predicted");
    out.push('\n');
    out.push_str("      ");
    for j in 0..k {
        out.push_str(&format!("{j:>6}"));
    }
    out.push_str("  recall\n");
    for (i, row) in m.counts().iter().enumerate() {
        out.push_str(&format!("{i:>6}"));
        for c in row {
            out.push_str(&format!("{c:>6}"));
        }
        out.push_str(&format!("  {:>5.1}%\n", 100.0 * m.recall(i)));
    }
    out.push_str(" prec.");
    for j in 0..k {
        out.push_str(&format!("{:>5.1}%", 100.0 * m.precision(j)));
    }
    out.push('\n');
    out
}
