// elementwise.wgsl: the GPU math of every elementwise op, one helper per op of wgrad_graph's registry,
// named `<op>_of` (`exp_of`, `maximum_of`, `lt_of`). Not a kernel file: kernels::elementwise generates each
// elementwise kernel (a single op, or a fused chain of them) and appends this file, so a standalone op and
// the same op inside a fused kernel run the same code.
//
// Element type: the generated kernel declares `alias T = f32;` (substituted per dtype like every family
// file: f32, f16, i32, u32 (bool is u32 0/1), f64). Transcendental functions compute in f32 (`T(exp(f32(x)))`),
// so every helper validates for every T; a GPU backend refuses f64 for the ops that would lose precision
// (wgrad_graph::UnaryOp::exact_in_f64).
//
// NaN and ±inf follow PyTorch, explicitly where SPIR-V leaves a builtin undefined (log and sqrt of negative
// numbers, NaN in max/min/clamp): every float op propagates NaN, except sign (0, as in PyTorch).
// NaN is tested on the bits (`is_nan`): drivers may compile float comparisons as ordered, and llvmpipe
// does, so `x != x` is false for NaN there.

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn inf_f32() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// ---- unary ----

// T(0) - x wraps for u32 like Rust's wrapping_neg; `-x` would not validate for u32.
fn neg_of(x: T) -> T {
    return T(0) - x;
}

fn exp_of(x: T) -> T {
    return T(exp(f32(x)));
}

fn log_of(x: T) -> T {
    let v = f32(x);
    if v == 0.0 { return T(-inf_f32()); }
    return T(select(log(v), nan_f32(), v < 0.0));
}

fn sqrt_of(x: T) -> T {
    let v = f32(x);
    return T(select(sqrt(v), nan_f32(), v < 0.0));
}

fn rsqrt_of(x: T) -> T {
    let v = f32(x);
    return T(select(1.0 / sqrt(v), nan_f32(), v < 0.0));
}

fn recip_of(x: T) -> T {
    return T(1.0 / f32(x));
}

fn abs_of(x: T) -> T {
    return abs(x);
}

fn sign_of(x: T) -> T {
    return select(T(0), T(1), x > T(0)) - select(T(0), T(1), x < T(0));
}

// sin and cos reduce the argument to r = x - k·π/2 (|r| ≤ π/4) first, with π/2 split in three f32 parts
// (Cody and Waite; exact products for |k| < 2¹²): GPUs evaluate the builtins accurately only near [-π, π].
// Past |x| ≈ 10⁵ the builtin's own reduction is used; past 2²⁴, where every f32 is an integer, an exact
// answer needs 2/π to a hundred bits (Payne-Hanek), which is not done here: results stay in [-1, 1] but
// differ from the exact ones.
fn quadrant(v: f32) -> vec2<f32> {
    let k = round(v * 0.63661977236758134);
    let r = ((v - k * 1.5703125) - k * 4.8375129699707031e-4) - k * 7.5497899548918821e-8;
    return vec2<f32>(r, k);
}

fn sin_f32(v: f32) -> f32 {
    if !(abs(v) < 100000.0) { return sin(v); }
    let q = quadrant(v);
    let n = u32(i32(q.y) & 3);
    let s = select(sin(q.x), cos(q.x), n % 2u == 1u);
    return select(s, -s, n >= 2u);
}

fn cos_f32(v: f32) -> f32 {
    if !(abs(v) < 100000.0) { return cos(v); }
    let q = quadrant(v);
    let n = u32(i32(q.y) & 3);
    let c = select(cos(q.x), sin(q.x), n % 2u == 1u);
    return select(c, -c, n == 1u || n == 2u);
}

fn sin_of(x: T) -> T {
    return T(sin_f32(f32(x)));
}

fn cos_of(x: T) -> T {
    return T(cos_f32(f32(x)));
}

// tanh saturates to ±1 in f32 beyond |x| = 9; clamping avoids the exp overflow (NaN) some drivers hit.
fn tanh_of(x: T) -> T {
    let v = f32(x);
    return T(select(tanh(clamp(v, -15.0, 15.0)), v, is_nan(v)));
}

fn sigmoid_of(x: T) -> T {
    return T(1.0 / (1.0 + exp(-f32(x))));
}

fn relu_of(x: T) -> T {
    return select(T(0), x, x > T(0) || is_nan(f32(x)));
}

// erf in f32: the Maclaurin series up to x¹³ for |x| < 0.5 (relative error < 1e-7 there, where 1 - erfc
// would cancel), else 1 - erfc(|x|) from the Chebyshev fit of Numerical Recipes' erfcc (fractional error
// < 1.2e-7), with the sign restored.
fn erf_of(x: T) -> T {
    let v = f32(x);
    if is_nan(v) { return x; }
    let a = abs(v);
    if a < 0.5 {
        let z = v * v;
        let s = 1.0 - z * (1.0 / 3.0 - z * (1.0 / 10.0 - z * (1.0 / 42.0 - z * (1.0 / 216.0
            - z * (1.0 / 1320.0 - z * (1.0 / 9360.0))))));
        return T(1.1283791670955126 * v * s);
    }
    let t = 1.0 / (1.0 + 0.5 * a);
    let p = -a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * exp(p);
    return T(select(erfc - 1.0, 1.0 - erfc, v > 0.0));
}

// ---- binary ----

fn add_of(a: T, b: T) -> T {
    return a + b;
}

fn sub_of(a: T, b: T) -> T {
    return a - b;
}

fn mul_of(a: T, b: T) -> T {
    return a * b;
}

// Integer division by zero gives `a` and i32::MIN / -1 wraps: WGSL's rules, which the CPU reference follows.
fn div_of(a: T, b: T) -> T {
    return a / b;
}

// C's pow in f32 (IEEE 754 / C99 Annex F): x⁰ = 1 and 1ʸ = 1 even for NaN; otherwise NaN propagates;
// y = ±inf gives 0, 1 or inf by |x| against 1; x = ±0 or ±inf gives 0 or inf, negative for an odd integer
// exponent of a negative x; a finite negative x needs an integer exponent (odd ones keep the sign).
fn pow_f32(x: f32, y: f32) -> f32 {
    if y == 0.0 || x == 1.0 { return 1.0; }
    if is_nan(x) || is_nan(y) { return nan_f32(); }
    let ax = abs(x);
    if abs(y) == inf_f32() {
        if ax == 1.0 { return 1.0; }
        return select(inf_f32(), 0.0, (ax < 1.0) == (y > 0.0));
    }
    // odd integer exponent (every |y| ≥ 2²⁴ is an even integer in f32)
    let odd = floor(y) == y && abs(y) < 16777216.0 && (abs(y) % 2.0) == 1.0;
    let negative = (bitcast<u32>(x) & 0x80000000u) != 0u;
    if ax == 0.0 || ax == inf_f32() {
        let m = select(0.0, inf_f32(), (ax == 0.0) == (y < 0.0));
        return select(m, -m, negative && odd);
    }
    if negative {
        if floor(y) != y { return nan_f32(); }
        let m = pow(ax, y);
        return select(m, -m, odd);
    }
    return pow(x, y);
}

fn pow_of(a: T, b: T) -> T {
    return T(pow_f32(f32(a), f32(b)));
}

fn maximum_of(a: T, b: T) -> T {
    return select(max(a, b), a + b, is_nan(f32(a)) || is_nan(f32(b)));
}

fn minimum_of(a: T, b: T) -> T {
    return select(min(a, b), a + b, is_nan(f32(a)) || is_nan(f32(b)));
}

fn lt_of(a: T, b: T) -> bool {
    return a < b;
}

fn le_of(a: T, b: T) -> bool {
    return a <= b;
}

fn eq_of(a: T, b: T) -> bool {
    return a == b;
}

// ---- where ----

fn where_of(cond: bool, a: T, b: T) -> T {
    return select(b, a, cond);
}
