//! The host side of the regression example, in f64: seeded synthetic data, standardization, and the exact
//! solutions SGD on the device is checked against (normal equations, ridge, lasso by coordinate descent,
//! logistic regression by Newton's method).
//!
//! Nothing here touches a tensor: these are the answers, computed the textbook way, so that a wrong gradient,
//! a wrong penalty or a wrong update rule in the library shows up as a disagreement.

/// A seeded generator for synthetic data: SplitMix64 (Steele, Lea & Flood 2014) for uniform bits, Box–Muller
/// for normal draws. Small and fixed, so a data set is the same on every machine and backend.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1): 53 random bits, never exactly 0 (Box–Muller takes its log).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller, the cosine half).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A regression or classification table: one row of features per sample, one target per sample.
#[derive(Clone, Debug)]
pub struct Table {
    pub x: Vec<Vec<f64>>,
    pub y: Vec<f64>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn features(&self) -> usize {
        self.x.first().map_or(0, Vec::len)
    }

    /// The rows `idx`, features flattened row-major as f32, and their targets: a mini-batch for the device.
    pub fn batch(&self, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let x = idx
            .iter()
            .flat_map(|&i| self.x[i].iter().map(|&v| v as f32))
            .collect();
        let y = idx.iter().map(|&i| self.y[i] as f32).collect();
        (x, y)
    }
}

/// Per-feature mean and (population) standard deviation, fitted on a training table and applied to others.
#[derive(Clone, Debug)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    pub fn fit(x: &[Vec<f64>]) -> Self {
        let (n, d) = (x.len() as f64, x.first().map_or(0, Vec::len));
        let mean: Vec<f64> = (0..d)
            .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let std = (0..d)
            .map(|j| {
                let var = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n;
                var.sqrt().max(1e-12)
            })
            .collect();
        Standardizer { mean, std }
    }

    pub fn row(&self, r: &[f64]) -> Vec<f64> {
        r.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(v, (m, s))| (v - m) / s)
            .collect()
    }

    pub fn apply(&self, t: &Table) -> Table {
        Table {
            x: t.x.iter().map(|r| self.row(r)).collect(),
            y: t.y.clone(),
        }
    }

    /// Weights and bias of a model on standardized features, expressed on the raw features:
    /// `w·(x - m)/s + b = (w/s)·x + (b - Σ w m/s)`.
    pub fn unstandardize(&self, w: &[f64], b: f64) -> (Vec<f64>, f64) {
        let raw: Vec<f64> = w.iter().zip(&self.std).map(|(w, s)| w / s).collect();
        let shift: f64 = raw.iter().zip(&self.mean).map(|(w, m)| w * m).sum();
        (raw, b - shift)
    }
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a·x = b` by Gaussian elimination with partial pivoting; `None` when `a` is singular.
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (r, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    Some(x)
}

/// The Gram matrix `XᵀX` and `Xᵀy` of the design matrix with a leading column of ones (the intercept).
pub fn normal_equations(t: &Table) -> (Vec<Vec<f64>>, Vec<f64>) {
    let d = t.features() + 1;
    let mut xtx = vec![vec![0.0; d]; d];
    let mut xty = vec![0.0; d];
    for (row, &y) in t.x.iter().zip(&t.y) {
        let r: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
        for i in 0..d {
            xty[i] += r[i] * y;
            for j in 0..d {
                xtx[i][j] += r[i] * r[j];
            }
        }
    }
    (xtx, xty)
}

/// Ridge regression in closed form: the minimizer of `‖Xw + b - y‖² + λ‖w‖²`, which is
/// `(XᵀX + λI₀)⁻¹Xᵀy` over the design matrix with a column of ones, `I₀` the identity with a 0 for the
/// intercept (the bias is not penalized). `λ = 0` gives ordinary least squares, the normal equations.
/// Returns (w, b); `None` when the system is singular.
pub fn ridge(t: &Table, lambda: f64) -> Option<(Vec<f64>, f64)> {
    let (mut xtx, xty) = normal_equations(t);
    for (i, row) in xtx.iter_mut().enumerate().skip(1) {
        row[i] += lambda;
    }
    let sol = solve(xtx, xty)?;
    Some((sol[1..].to_vec(), sol[0]))
}

/// The lasso, `min (1/n)‖Xw + b - y‖² + α‖w‖₁`, by cyclic coordinate descent (Friedman, Hastie & Tibshirani
/// 2010) to convergence: each step sets one weight to its exact minimizer, a soft threshold, so irrelevant
/// weights become exactly 0. Returns (w, b).
pub fn lasso(t: &Table, alpha: f64) -> (Vec<f64>, f64) {
    let (n, d) = (t.len() as f64, t.features());
    let mean: Vec<f64> = (0..d)
        .map(|j| t.x.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect();
    let y_mean = t.y.iter().sum::<f64>() / n;
    let xc: Vec<Vec<f64>> =
        t.x.iter()
            .map(|r| r.iter().zip(&mean).map(|(v, m)| v - m).collect())
            .collect();
    let sq: Vec<f64> = (0..d)
        .map(|j| xc.iter().map(|r| r[j] * r[j]).sum::<f64>() / n)
        .collect();
    let mut w = vec![0.0; d];
    let mut resid: Vec<f64> = t.y.iter().map(|y| y - y_mean).collect();
    for _ in 0..10_000 {
        let mut largest = 0.0f64;
        for j in 0..d {
            // ∂/∂w_j of (1/n)‖r‖² + α|w_j| is zero at w_j = S(ρ, α/2)/sq_j, ρ = (1/n)Σ x_ij (r_i + x_ij w_j)
            let rho = xc
                .iter()
                .zip(&resid)
                .map(|(r, e)| r[j] * (e + r[j] * w[j]))
                .sum::<f64>()
                / n;
            let new = rho.signum() * (rho.abs() - alpha / 2.0).max(0.0) / sq[j];
            let delta = new - w[j];
            if delta != 0.0 {
                for (r, e) in xc.iter().zip(resid.iter_mut()) {
                    *e -= r[j] * delta;
                }
                w[j] = new;
            }
            largest = largest.max(delta.abs());
        }
        if largest < 1e-13 {
            break;
        }
    }
    let b = y_mean - dot(&w, &mean);
    (w, b)
}

/// Mean squared error of the linear model `(w, b)` on `t`.
pub fn mse(t: &Table, w: &[f64], b: f64) -> f64 {
    let sum: f64 =
        t.x.iter()
            .zip(&t.y)
            .map(|(r, y)| (dot(r, w) + b - y).powi(2))
            .sum();
    sum / t.len() as f64
}

/// Logistic regression by Newton's method (iteratively reweighted least squares): the maximum-likelihood
/// `(w, b)` for 0/1 targets, the minimizer of the mean binary cross-entropy. Exact to f64 precision in a few
/// iterations when the classes overlap (separable classes have no finite minimizer).
pub fn logistic(t: &Table) -> Option<(Vec<f64>, f64)> {
    let d = t.features() + 1;
    let mut theta = vec![0.0; d];
    for _ in 0..50 {
        let mut hess = vec![vec![0.0; d]; d];
        let mut grad = vec![0.0; d];
        for (row, &y) in t.x.iter().zip(&t.y) {
            let r: Vec<f64> = std::iter::once(1.0).chain(row.iter().copied()).collect();
            let p = sigmoid(dot(&r, &theta));
            for i in 0..d {
                grad[i] += (p - y) * r[i];
                for j in 0..d {
                    hess[i][j] += p * (1.0 - p) * r[i] * r[j];
                }
            }
        }
        let step = solve(hess, grad)?;
        for (th, s) in theta.iter_mut().zip(&step) {
            *th -= s;
        }
        if step.iter().map(|s| s.abs()).fold(0.0, f64::max) < 1e-12 {
            break;
        }
    }
    Some((theta[1..].to_vec(), theta[0]))
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Mean binary cross-entropy of the logistic model `(w, b)` on `t` (0/1 targets).
pub fn bce(t: &Table, w: &[f64], b: f64) -> f64 {
    let sum: f64 =
        t.x.iter()
            .zip(&t.y)
            .map(|(r, &y)| {
                // log(1 + e^z) - y z, written to stay finite for large |z|
                let z = dot(r, w) + b;
                z.max(0.0) + (-z.abs()).exp().ln_1p() - y * z
            })
            .sum();
    sum / t.len() as f64
}
