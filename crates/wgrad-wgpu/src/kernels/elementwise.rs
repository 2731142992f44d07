//! Elementwise kernels, generated: every unary, binary and `where` step, fused or not.
//!
//! A standalone op is the one-node expression of its step, so one generator serves both: it writes the
//! bindings and the strided index math, then evaluates the expression node by node with the helpers of
//! `shaders/elementwise.wgsl` (`exp_of`, `maximum_of`, …; one per registry op), which it appends. A fused
//! chain and the separate steps it replaces therefore compute exactly the same values (values between ops
//! stay in registers).
//!
//! Element type: the module declares `alias T = f32;`, which the pipeline cache specializes like every
//! family file, to the expression's compute dtype (its one non-bool dtype: f32, f16, i32, u32 or f64). Bool
//! values are u32 0/1 in storage and in the expression. Modules are interned per expression, so a training
//! loop generates each of its few expressions once.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use wgrad_graph::{BinaryOp, Buffer, DType, Error, FusedExpr, Input, Meta, Node, Result, UnaryOp};

use super::strided;
use crate::dispatch::{Bind, Dispatch, Grid, Shader};
use crate::engine::Recorder;
use crate::family::refuse;

/// The helpers every generated kernel appends.
pub const PRELUDE: &str = include_str!("../../shaders/elementwise.wgsl");

/// Workgroup size of the generated kernels.
pub const WG: u32 = 256;

/// The dtype `T` stands for: the one non-bool dtype among the nodes (u32 when every value is bool).
pub fn compute_dtype(expr: &FusedExpr) -> Result<DType> {
    let mut compute = None;
    for &(_, dtype) in &expr.nodes {
        match (dtype, compute) {
            (DType::Bool, _) => {}
            (d, None) => compute = Some(d),
            (d, Some(c)) if d == c => {}
            (d, Some(c)) => {
                return Err(Error::Backend {
                    backend: "wgpu",
                    msg: format!("elementwise: an expression mixes {c} and {d} values"),
                })
            }
        }
    }
    Ok(compute.unwrap_or(DType::U32))
}

/// The WGSL type of a value of `dtype` (see the module docs).
fn value_type(dtype: DType) -> &'static str {
    if dtype == DType::Bool {
        "u32"
    } else {
        "T"
    }
}

/// The expression of one node, over earlier values `v<i><suffix>`; `leaf(k)` reads leaf `k`.
fn node_code(node: &Node, suffix: &str, leaf: impl Fn(usize) -> String) -> String {
    let v = |i: &usize| format!("v{i}{suffix}");
    match node {
        Node::Leaf(k) => leaf(*k),
        Node::Unary(op, a) => format!("{}_of({})", op.name(), v(a)),
        Node::Binary(op, a, b) if op.is_comparison() => {
            format!("select(0u, 1u, {}_of({}, {}))", op.name(), v(a), v(b))
        }
        Node::Binary(op, a, b) => format!("{}_of({}, {})", op.name(), v(a), v(b)),
        Node::Where(c, a, b) => format!("where_of({} != 0u, {}, {})", v(c), v(a), v(b)),
    }
}

/// The `Params` struct and `positions(i)`: the buffer position of element `i` in each of the `n` leaves,
/// one `%`/`/` chain for all of them (llvmpipe splits a vector integer division into 8 scalar ones); the
/// outermost dim takes what is left, so a leaf that coalesced to rank 1 costs no division.
fn index_math(s: &mut String, n: usize) {
    let _ = writeln!(
        s,
        "struct Params {{\n    numel: u32,\n    rank: u32,\n    s0: u32,\n    s1: u32,\n    \
         shape: array<vec4<u32>, 2>,\n    offsets: array<vec4<u32>, {}>,\n    \
         strides: array<vec4<u32>, {}>,\n}}\n",
        strided::offset_words(n) / 4,
        2 * n
    );
    let _ = writeln!(s, "fn positions(i: u32) -> array<u32, {n}> {{");
    s.push_str("    var rem = i;\n");
    for k in 0..n {
        let _ = writeln!(s, "    var q{k} = params.offsets[{}][{}];", k / 4, k % 4);
    }
    s.push_str(
        "    for (var d = i32(params.rank) - 1; d >= 1; d--) {
        let r = u32(d) / 4u;
        let c = u32(d) % 4u;
        let n = params.shape[r][c];
        let x = rem % n;
        rem /= n;
",
    );
    for k in 0..n {
        let _ = writeln!(s, "        q{k} += x * params.strides[{}u + r][c];", 2 * k);
    }
    s.push_str("    }\n    if params.rank > 0u {\n");
    for k in 0..n {
        let _ = writeln!(s, "        q{k} += rem * params.strides[{}][0];", 2 * k);
    }
    let qs: Vec<String> = (0..n).map(|k| format!("q{k}")).collect();
    let _ = writeln!(
        s,
        "    }}\n    return array<u32, {n}>({});\n}}\n",
        qs.join(", ")
    );
}

/// How the kernel reads its leaves: one element per invocation, or four ([`vector_plan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plan {
    /// One element per invocation, any strides.
    Scalar,
    /// Four consecutive elements per invocation: every leaf either contiguous over them (read as one
    /// `vec4`) or, for the leaves in this bit mask, the same element for all four (read once, splatted).
    Vector { splat: u32 },
}

/// [`Plan::Vector`] where it applies: the innermost (coalesced) dim a multiple of 4, and every leaf along it
/// either contiguous with its offset and other strides multiples of 4 (so four elements are one aligned
/// `vec4`), or broadcast (stride 0). Why: Mesa's llvmpipe executes a storage access lane by lane whatever
/// its width, so a `vec4` access moves four elements for the cost of one (on GPUs it is a 16-byte access).
pub fn vector_plan(layouts: &[&wgrad_graph::Layout]) -> Plan {
    let Some(first) = layouts.first() else {
        return Plan::Scalar;
    };
    let strides: Vec<&[usize]> = layouts.iter().map(|l| l.strides.as_slice()).collect();
    let (shape, strides) = strided::coalesce(&first.shape.0, &strides);
    if shape.last().is_none_or(|n| n % 4 != 0) || layouts.len() > 32 {
        return Plan::Scalar;
    }
    let mut splat = 0u32;
    for (k, (l, st)) in layouts.iter().zip(&strides).enumerate() {
        match st.last() {
            Some(0) => splat |= 1 << k,
            Some(1) if l.offset % 4 == 0 && st[..st.len() - 1].iter().all(|s| s % 4 == 0) => {}
            _ => return Plan::Scalar,
        }
    }
    Plan::Vector { splat }
}

/// The WGSL module computing `expr` over `leaves` leaf arguments (generic over `T`, see the module docs),
/// reading them as `plan` says.
pub fn source(expr: &FusedExpr, leaves: usize, plan: Plan) -> String {
    let mut s =
        String::from("// generated by wgrad-wgpu kernels::elementwise\n\nalias T = f32;\n\n");
    let _ = writeln!(s, "override WG: u32 = {WG}u;\n");
    let leaf_type = |k: usize| {
        expr.nodes
            .iter()
            .find(|(n, _)| *n == Node::Leaf(k))
            .map_or("T", |&(_, d)| value_type(d))
    };
    let splat = match plan {
        Plan::Scalar => u32::MAX,
        Plan::Vector { splat } => splat,
    };
    let vector = |k: usize| splat & (1 << k) == 0;
    for k in 0..leaves {
        let t = leaf_type(k);
        let t = if vector(k) {
            format!("vec4<{t}>")
        } else {
            t.to_string()
        };
        let _ = writeln!(
            s,
            "@group(0) @binding({k}) var<storage, read> in{k}: array<{t}>;"
        );
    }
    let out_type = expr.nodes.last().map_or("T", |&(_, d)| value_type(d));
    let out = if plan == Plan::Scalar {
        out_type.to_string()
    } else {
        format!("vec4<{out_type}>")
    };
    let _ = writeln!(
        s,
        "@group(0) @binding({leaves}) var<storage, read_write> out: array<{out}>;"
    );
    let _ = writeln!(
        s,
        "@group(0) @binding({}) var<uniform> params: Params;\n",
        leaves + 1
    );
    index_math(&mut s, leaves);
    s.push_str(
        "@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
",
    );
    let last = expr.nodes.len() - 1;
    if plan == Plan::Scalar {
        s.push_str("    if i >= params.numel { return; }\n    let q = positions(i);\n");
        for (j, (node, _)) in expr.nodes.iter().enumerate() {
            let code = node_code(node, "", |k| format!("in{k}[q[{k}]]"));
            let _ = writeln!(s, "    let v{j} = {code};");
        }
        let _ = writeln!(s, "    out[i] = v{last};\n}}\n");
    } else {
        // invocation i computes elements 4i..4i+3; q: the position of element 4i in each leaf
        s.push_str("    if i >= params.numel / 4u { return; }\n    let q = positions(4u * i);\n");
        for k in 0..leaves {
            let read = if vector(k) {
                format!("in{k}[q[{k}] / 4u]")
            } else {
                format!("vec4(in{k}[q[{k}]])")
            };
            let _ = writeln!(s, "    let l{k} = {read};");
        }
        for c in 0..4 {
            for (j, (node, _)) in expr.nodes.iter().enumerate() {
                let code = node_code(node, &format!("_{c}"), |k| format!("l{k}[{c}]"));
                let _ = writeln!(s, "    let v{j}_{c} = {code};");
            }
        }
        let _ = writeln!(
            s,
            "    out[i] = vec4(v{last}_0, v{last}_1, v{last}_2, v{last}_3);\n}}\n"
        );
    }
    s.push_str(PRELUDE);
    s
}

/// Refuses f64 for an expression with an op a GPU would compute in f32 (see `UnaryOp::exact_in_f64`).
fn check_f64(expr: &FusedExpr, compute: DType) -> Result<()> {
    if compute != DType::F64 {
        return Ok(());
    }
    for (node, _) in &expr.nodes {
        let inexact = match node {
            Node::Unary(op, _) => (!op.exact_in_f64()).then(|| op.name()),
            Node::Binary(op, ..) => (!op.exact_in_f64()).then(|| op.name()),
            Node::Leaf(_) | Node::Where(..) => None,
        };
        if let Some(op) = inexact {
            return Err(refuse(op, DType::F64));
        }
    }
    Ok(())
}

/// The shader for `expr` with `leaves` leaves read as `plan` says, generated on first use and kept for the
/// process (leaked once per distinct expression, like a compiled kernel). A one-op module is named after
/// its op (its source depends only on the op, the plan and `T`), a fused one `fused_<n>`; vector modules
/// add `_x4` and the mask of their splatted leaves (`add_x4`, `add_x4s10`).
pub fn shader(expr: &FusedExpr, leaves: usize, plan: Plan) -> &'static Shader {
    type Key = (FusedExpr, usize, Plan);
    static MODULES: Mutex<Option<HashMap<Key, &'static Shader>>> = Mutex::new(None);
    let mut modules = MODULES.lock().unwrap_or_else(|e| e.into_inner());
    let map = modules.get_or_insert_with(HashMap::new);
    let key = (expr.clone(), leaves, plan);
    if let Some(s) = map.get(&key) {
        return s;
    }
    let base = match expr.nodes.last() {
        Some((node, _)) if expr.ops() == 1 => match node {
            Node::Unary(op, _) => op.name().to_string(),
            Node::Binary(op, ..) => op.name().to_string(),
            _ => "where".to_string(),
        },
        _ => format!("fused_{}", map.len()),
    };
    let name = match plan {
        Plan::Scalar => base,
        Plan::Vector { splat: 0 } => format!("{base}_x4"),
        Plan::Vector { splat } => format!("{base}_x4s{splat:b}"),
    };
    let name: &'static str = Box::leak(name.into_boxed_str());
    let source: &'static str = Box::leak(source(expr, leaves, plan).into_boxed_str());
    let shader: &'static Shader = Box::leak(Box::new(Shader { name, source }));
    map.insert(key, shader);
    shader
}

/// Records the kernel of `expr` over `args` into a fresh output for `out`.
pub fn expression(
    rec: &mut Recorder,
    expr: &FusedExpr,
    args: &[Input],
    out: &Meta,
) -> Result<Buffer> {
    const OP: &str = "elementwise";
    let compute = compute_dtype(expr)?;
    check_f64(expr, compute)?;
    let output = rec.output(out)?;
    if out.numel() == 0 {
        return Ok(output);
    }
    let layouts: Vec<_> = args.iter().map(|a| a.layout).collect();
    let plan = vector_plan(&layouts);
    let shader = shader(expr, args.len(), plan);
    let params = strided::params_n(OP, &layouts)?;
    let per_invocation = if plan == Plan::Scalar { 1 } else { 4 };
    let mut bindings: Vec<Bind> = args.iter().map(|a| Bind::Read(a.buffer)).collect();
    bindings.push(Bind::ReadWrite(&output));
    rec.dispatch(Dispatch {
        shader,
        entry: "main",
        dtype: compute,
        overrides: &[("WG", WG as f64)],
        bindings: &bindings,
        params: &params,
        grid: Grid::Linear(strided::groups(OP, out.numel() / per_invocation, WG)?),
    })?;
    Ok(output)
}

/// The one-node expression of a unary step.
pub fn unary_expr(op: UnaryOp, x: DType, out: DType) -> FusedExpr {
    FusedExpr {
        nodes: vec![(Node::Leaf(0), x), (Node::Unary(op, 0), out)],
    }
}

/// The one-node expression of a binary step.
pub fn binary_expr(op: BinaryOp, x: DType, out: DType) -> FusedExpr {
    FusedExpr {
        nodes: vec![
            (Node::Leaf(0), x),
            (Node::Leaf(1), x),
            (Node::Binary(op, 0, 1), out),
        ],
    }
}

/// The one-node expression of a `where` step.
pub fn where_expr(value: DType) -> FusedExpr {
    FusedExpr {
        nodes: vec![
            (Node::Leaf(0), DType::Bool),
            (Node::Leaf(1), value),
            (Node::Leaf(2), value),
            (Node::Where(0, 1, 2), value),
        ],
    }
}

/// Every standalone elementwise kernel in every dtype it runs in (what the naga test validates, each with
/// `T` = [`compute_dtype`]): each op in f32 and f16, in i32/u32 where the registry allows integers, bool
/// where it allows bool, f64 where a GPU computes it exactly; `where` in all of them.
pub fn variants() -> Vec<FusedExpr> {
    use DType::*;
    let mut v = Vec::new();
    for &op in UnaryOp::ALL {
        let ints: &[DType] = if op.allows_int() { &[I32, U32] } else { &[] };
        let f64s: &[DType] = if op.exact_in_f64() { &[F64] } else { &[] };
        for &d in [F32, F16].iter().chain(ints).chain(f64s) {
            v.push(unary_expr(op, d, d));
        }
    }
    for &op in BinaryOp::ALL {
        let ints: &[DType] = if op.allows_int() { &[I32, U32] } else { &[] };
        let bools: &[DType] = if op.allows_bool() { &[Bool] } else { &[] };
        let f64s: &[DType] = if op.exact_in_f64() { &[F64] } else { &[] };
        for &d in [F32, F16].iter().chain(ints).chain(bools).chain(f64s) {
            let out = if op.is_comparison() { Bool } else { d };
            v.push(binary_expr(op, d, out));
        }
    }
    for d in [F32, F16, I32, U32, Bool, F64] {
        v.push(where_expr(d));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use wgrad_graph::{Layout, Shape};

    #[test]
    fn vector_plan_reads_four_only_where_aligned() {
        let c = |s: &[usize]| Layout::contiguous(Shape::new(s.to_vec()));
        let a = c(&[6, 8]);
        assert_eq!(vector_plan(&[&a]), Plan::Vector { splat: 0 });
        assert_eq!(vector_plan(&[&c(&[3, 5])]), Plan::Scalar);
        // a [6, 1] column broadcast along the inner dim: splatted
        let col = c(&[6, 1]).expand(&Shape::new(vec![6, 8]));
        assert_eq!(vector_plan(&[&a, &col]), Plan::Vector { splat: 0b10 });
        // a [8] row broadcast over rows: contiguous along the inner dim, read as vec4
        let row = c(&[8]).expand(&Shape::new(vec![6, 8]));
        assert_eq!(vector_plan(&[&a, &row]), Plan::Vector { splat: 0 });
        // a view starting at element 1 is not 16-byte aligned; a transposed one is not contiguous
        let big = c(&[6, 9]);
        let shifted = big.slice(&[0, 1], &[1, 1], &Shape::new(vec![6, 8]));
        assert_eq!(vector_plan(&[&a, &shifted]), Plan::Scalar);
        let t = c(&[8, 6]).permute(&[1, 0]);
        assert_eq!(vector_plan(&[&a, &t]), Plan::Scalar);
    }
}
