//! The elementwise op registry: every unary and binary op declared once.
//!
//! One line per op gives its enum variant, its name (the `Tensor` method, the test row, the WGSL helper
//! `<name>_of` in `shaders/elementwise.wgsl`), its dtype rules and its exact CPU function. Everything else is
//! derived from these tables: the enums and their exhaustive `ALL`, `name()`, the dtype predicates, the CPU
//! reference values ([`UnaryOp::apply`], [`BinaryOp::apply`]) and the `Tensor` methods (`ops/elementwise.rs`).
//! Adding an op is a line here, a backward rule in `autodiff.rs`, a WGSL helper and an op-table row; a missing
//! helper fails the naga test, a missing row the coverage test (candle's `unary_op!`, tinygrad's
//! `code_for_op` are the models).
//!
//! Flags: `int` the op accepts i32/u32 (integer semantics: wrap like two's complement, `x / 0 = x` as in
//! WGSL); `bool` it accepts bool; `f64` a GPU computes it exactly in f64 (WGSL has f64 arithmetic but no f64
//! `exp`, `log`, `sin`, `pow`, …; the others would compute in f32, so a GPU backend refuses f64 for them);
//! `cmp` its output is bool.
//!
//! NaN follows PyTorch: every float op propagates NaN (`relu(NaN)`, `maximum(NaN, 1)` and `tanh(NaN)` are
//! NaN), except `sign(NaN) = 0`, which is what PyTorch computes (`(0 < x) - (x < 0)`).

/// The unary table. Each line: `Variant name [flags] |x| exact f64 value;` with the op's doc comment.
///
/// Calls `$m!` with the table, so the enum (here) and the `Tensor` methods (in `ops/elementwise.rs`) are
/// expanded from the same tokens.
#[macro_export]
#[doc(hidden)]
macro_rules! unary_op_table {
    ($m:ident) => {
        $m! {
            /// `-x` (integers wrap: `neg(i32::MIN) = i32::MIN`).
            Neg neg [int f64] |x| -x;
            /// `eˣ`.
            Exp exp [] |x| x.exp();
            /// Natural logarithm (`log(0) = -inf`, `log(x < 0) = NaN`).
            Log log [] |x| x.ln();
            /// `√x`.
            Sqrt sqrt [] |x| x.sqrt();
            /// `1/√x`.
            Rsqrt rsqrt [] |x| 1.0 / x.sqrt();
            /// `1/x` (`recip(0) = inf`).
            Recip recip [] |x| 1.0 / x;
            /// `|x|`.
            Abs abs [int f64] |x| x.abs();
            /// -1, 0 or 1; `sign(±0) = 0` and `sign(NaN) = 0`, as PyTorch computes it (`(0 < x) - (x < 0)`).
            Sign sign [int f64] |x| f64::from(u8::from(x > 0.0)) - f64::from(u8::from(x < 0.0));
            /// `sin x` (radians).
            Sin sin [] |x| x.sin();
            /// `cos x` (radians).
            Cos cos [] |x| x.cos();
            /// Hyperbolic tangent.
            Tanh tanh [] |x| x.tanh();
            /// Logistic function `1/(1 + e⁻ˣ)`; saturates cleanly to 0 and 1.
            Sigmoid sigmoid [] |x| 1.0 / (1.0 + (-x).exp());
            /// `max(x, 0)`; NaN stays NaN (PyTorch), and its derivative at 0 is 0.
            Relu relu [int f64] |x| if x > 0.0 || x.is_nan() { x } else { 0.0 };
            /// The error function `2/√π ∫₀ˣ e^(-t²) dt` (what exact GELU is built on).
            Erf erf [] |x| libm::erf(x);
        }
    };
}

/// The binary table. Each line: `Variant name [flags] |a, b| exact f64 value` and, for ops whose integer
/// result differs from the rounded f64 one, `, int |a, b| value on i64 operands` (wrapped to the dtype).
#[macro_export]
#[doc(hidden)]
macro_rules! binary_op_table {
    ($m:ident) => {
        $m! {
            /// `a + b`.
            Add add [int f64] |a, b| a + b, int |a, b| a.wrapping_add(b);
            /// `a - b`.
            Sub sub [int f64] |a, b| a - b, int |a, b| a.wrapping_sub(b);
            /// `a · b`.
            Mul mul [int f64] |a, b| a * b, int |a, b| a.wrapping_mul(b);
            /// `a / b` (IEEE for floats; integers truncate toward zero and `x / 0 = x`, WGSL's rule).
            Div div [int f64] |a, b| a / b, int |a, b| if b == 0 { a } else { a.wrapping_div(b) };
            /// `aᵇ` (float only; `pow(x, 0) = 1`, a negative base needs an integer exponent).
            Pow pow [] |a, b| a.powf(b);
            /// Elementwise maximum; NaN if either is NaN (PyTorch), ties share the gradient.
            Max maximum [int bool f64] |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) };
            /// Elementwise minimum; NaN if either is NaN (PyTorch), ties share the gradient.
            Min minimum [int bool f64] |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) };
            /// `a < b` (bool).
            Lt lt [int f64 cmp] |a, b| f64::from(u8::from(a < b));
            /// `a ≤ b` (bool).
            Le le [int f64 cmp] |a, b| f64::from(u8::from(a <= b));
            /// `a == b` (bool; NaN is unequal to everything).
            Eq eq [int bool f64 cmp] |a, b| f64::from(u8::from(a == b));
        }
    };
}

/// Whether `flag` is among `flags` (the registry's `[...]` lists).
macro_rules! has_flag {
    ($flag:ident; $($f:ident)*) => {
        false $(|| stringify!($f) == stringify!($flag))*
    };
}

macro_rules! define_unary_ops {
    ($($(#[doc = $doc:literal])* $variant:ident $name:ident [$($flag:ident)*] |$x:ident| $cpu:expr;)*) => {
        /// Elementwise functions of one argument (see the [registry](self)).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum UnaryOp {
            $($(#[doc = $doc])* $variant,)*
        }

        impl UnaryOp {
            /// Every unary op, in table order.
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$variant,)*];

            /// The op's name: its `Tensor` method, test row and WGSL helper stem.
            pub fn name(self) -> &'static str {
                match self { $(UnaryOp::$variant => stringify!($name),)* }
            }

            /// Whether it takes i32/u32 inputs.
            pub fn allows_int(self) -> bool {
                match self { $(UnaryOp::$variant => has_flag!(int; $($flag)*),)* }
            }

            /// Whether a GPU computes it exactly in f64 (WGSL has no f64 transcendentals).
            pub fn exact_in_f64(self) -> bool {
                match self { $(UnaryOp::$variant => has_flag!(f64; $($flag)*),)* }
            }

            /// The exact value of the op at `x` (the CPU reference rounds it once to the output dtype).
            pub fn apply(self, x: f64) -> f64 {
                match self { $(UnaryOp::$variant => { let $x = x; $cpu })* }
            }
        }
    };
}

macro_rules! define_binary_ops {
    ($($(#[doc = $doc:literal])* $variant:ident $name:ident [$($flag:ident)*] |$a:ident, $b:ident| $cpu:expr
        $(, int |$ia:ident, $ib:ident| $int:expr)?;)*) => {
        /// Elementwise functions of two equal-shaped arguments (see the [registry](self)).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum BinaryOp {
            $($(#[doc = $doc])* $variant,)*
        }

        impl BinaryOp {
            /// Every binary op, in table order.
            pub const ALL: &'static [BinaryOp] = &[$(BinaryOp::$variant,)*];

            /// The op's name: its `Tensor` method, test row and WGSL helper stem.
            pub fn name(self) -> &'static str {
                match self { $(BinaryOp::$variant => stringify!($name),)* }
            }

            /// Whether it takes i32/u32 inputs.
            pub fn allows_int(self) -> bool {
                match self { $(BinaryOp::$variant => has_flag!(int; $($flag)*),)* }
            }

            /// Whether it takes bool inputs.
            pub fn allows_bool(self) -> bool {
                match self { $(BinaryOp::$variant => has_flag!(bool; $($flag)*),)* }
            }

            /// Whether a GPU computes it exactly in f64.
            pub fn exact_in_f64(self) -> bool {
                match self { $(BinaryOp::$variant => has_flag!(f64; $($flag)*),)* }
            }

            /// Comparisons produce `bool`.
            pub fn is_comparison(self) -> bool {
                match self { $(BinaryOp::$variant => has_flag!(cmp; $($flag)*),)* }
            }

            /// The exact value of `a op b` for float (or bool, or exactly representable integer) operands.
            pub fn apply(self, a: f64, b: f64) -> f64 {
                match self { $(BinaryOp::$variant => { let ($a, $b) = (a, b); $cpu })* }
            }

            /// The integer result on i64 operands, for ops whose integer semantics differ from the rounded
            /// float result (wrapping arithmetic, truncating division); `None` for the others.
            pub fn apply_int(self, a: i64, b: i64) -> Option<i64> {
                let _ = (a, b);
                match self {
                    $(BinaryOp::$variant => {
                        $(let ($ia, $ib) = (a, b); return Some($int);)?
                        #[allow(unreachable_code)]
                        None
                    })*
                }
            }
        }
    };
}

unary_op_table!(define_unary_ops);
binary_op_table!(define_binary_ops);

/// Reductions over a set of axes; the output keeps reduced axes as size 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    /// Index (i32) of the first maximum; exactly one axis.
    ArgMax,
    /// Index (i32) of the first minimum; exactly one axis.
    ArgMin,
}

impl ReduceOp {
    /// `sum`, `max`, `min`, `argmax`, `argmin`.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::ArgMax => "argmax",
            ReduceOp::ArgMin => "argmin",
            other => other.into(),
        }
    }

    /// Every reduction.
    pub fn all() -> impl Iterator<Item = ReduceOp> {
        <ReduceOp as strum::IntoEnumIterator>::iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = UnaryOp::ALL.iter().map(|op| op.name()).collect();
        names.extend(BinaryOp::ALL.iter().map(|op| op.name()));
        names.extend(ReduceOp::all().map(ReduceOp::name));
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        // max/min are both a binary op (maximum/minimum) and a reduction name: distinct strings
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
    }

    #[test]
    fn nan_semantics_follow_pytorch() {
        assert!(UnaryOp::Relu.apply(f64::NAN).is_nan());
        assert_eq!(UnaryOp::Sign.apply(f64::NAN), 0.0);
        assert_eq!(UnaryOp::Relu.apply(-0.0).to_bits(), 0.0f64.to_bits());
        assert!(BinaryOp::Max.apply(f64::NAN, 1.0).is_nan());
        assert!(BinaryOp::Min.apply(1.0, f64::NAN).is_nan());
        assert_eq!(BinaryOp::Div.apply_int(7, 0), Some(7));
        assert_eq!(BinaryOp::Lt.apply_int(1, 2), None);
    }
}
