"""PyTorch's values at edge inputs (NaN, ±inf, ±0, huge, tiny) for every elementwise op, reduction and
composite that tests/edge_values.rs checks on every backend. Writes tests/pytorch/edge_values.json.

Run: python tests/pytorch/edge_values.py (PyTorch 2.x, CPU). float32 throughout; NaN, inf are written as
the strings "nan", "inf", "-inf" (JSON has no such numbers).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

inf, nan = float("inf"), float("nan")
X = [nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-30, 1e30, 88.0, -88.0]
# pairs for binary ops: every a against every b
A = [nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 2.5, -3.0]


def enc(v):
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def t(values):
    return torch.tensor(values, dtype=torch.float32)


unary = {
    "neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt,
    "recip": torch.reciprocal, "abs": torch.abs, "sign": torch.sign, "sin": torch.sin, "cos": torch.cos,
    "tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "erf": torch.erf,
}
binary = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "lt": torch.lt, "le": torch.le, "eq": torch.eq,
}
out = {"x": [enc(v) for v in X], "a": [], "b": [], "unary": {}, "binary": {}, "reductions": {}, "composites": {}}
for name, f in unary.items():
    out["unary"][name] = [enc(v) for v in f(t(X)).tolist()]
for a in A:
    for b in A:
        out["a"].append(enc(a))
        out["b"].append(enc(b))
for name, f in binary.items():
    r = f(t([a for a in A for _ in A]), t([b for _ in A for b in A]))
    out["binary"][name] = [enc(v) for v in r.float().tolist()]

rows = [[1.0, nan, 3.0, nan], [-inf, -inf, -inf, -inf], [2.0, inf, -1.0, inf], [0.5, -0.5, 7.0, 7.0]]
r = t(rows)
out["reductions"]["rows"] = [[enc(v) for v in row] for row in rows]
out["reductions"]["sum"] = [enc(v) for v in r.sum(1).tolist()]
out["reductions"]["max"] = [enc(v) for v in r.amax(1).tolist()]
out["reductions"]["min"] = [enc(v) for v in r.amin(1).tolist()]
out["reductions"]["argmax"] = r.argmax(1).tolist()
out["reductions"]["argmin"] = r.argmin(1).tolist()
out["reductions"]["logsumexp"] = [enc(v) for v in torch.logsumexp(r, 1).tolist()]
out["reductions"]["softmax"] = [[enc(v) for v in row] for row in torch.softmax(r, 1).tolist()]
out["reductions"]["log_softmax"] = [[enc(v) for v in row] for row in torch.log_softmax(r, 1).tolist()]
out["reductions"]["mean"] = [enc(v) for v in r.mean(1).tolist()]

c = out["composites"]
c["dropout_p1"] = [enc(v) for v in F.dropout(t([1.0, inf, nan, -2.0]), p=1.0, training=True).tolist()]
c["mean_f16_ones_100000"] = enc(torch.ones(100000, dtype=torch.float16).mean())
c["sum_f16_ones_100000"] = enc(torch.ones(100000, dtype=torch.float16).sum())
c["sum_f16_ones_3000"] = enc(torch.ones(3000, dtype=torch.float16).sum())
c["var_unbiased_one_element"] = enc(t([3.0]).var())
c["var_biased_one_element"] = enc(t([3.0]).var(unbiased=False))
c["max_pool2d_nan"] = enc(F.max_pool2d(t([[[[1.0, nan], [3.0, 4.0]]]]), 2).item())
c["cross_entropy_neg_inf_other"] = enc(F.cross_entropy(t([[0.0, -inf]]), torch.tensor([0])))

# gradients at edges: (name, inputs) -> the gradient of each input of Σ f(inputs)
def grads(f, *xs):
    ts = [torch.tensor(x, dtype=torch.float32, requires_grad=True) for x in xs]
    f(*ts).sum().backward()
    return [[enc(v) for v in t.grad.tolist()] for t in ts]


g = out["gradients"] = {}
g["pow"] = {"a": [0.0, 0.0, 2.0, -2.0, 0.0], "b": [0.0, 2.0, 0.0, 2.0, -1.0]}
g["pow"]["grads"] = grads(lambda a, b: a ** b, g["pow"]["a"], g["pow"]["b"])
g["maximum"] = {"a": [nan, 1.0, 2.0, 3.0], "b": [1.0, nan, 2.0, 1.0]}
g["maximum"]["grads"] = grads(torch.maximum, g["maximum"]["a"], g["maximum"]["b"])
g["minimum"] = {"a": [nan, 1.0, 2.0, 3.0], "b": [1.0, nan, 2.0, 1.0]}
g["minimum"]["grads"] = grads(torch.minimum, g["minimum"]["a"], g["minimum"]["b"])
g["amax"] = {"x": [1.0, nan, 3.0], "ties": [3.0, 1.0, 3.0]}
g["amax"]["grads"] = grads(lambda x: x.amax(), g["amax"]["x"])
g["amax"]["tie_grads"] = grads(lambda x: x.amax(), g["amax"]["ties"])
g["unary"] = {"x": [0.0, 1000.0, -1000.0]}
for name, f in {"sqrt": torch.sqrt, "abs": torch.abs, "relu": torch.relu, "log": torch.log,
                "sigmoid": torch.sigmoid, "tanh": torch.tanh}.items():
    g["unary"][name] = grads(f, g["unary"]["x"])[0]
g["bce_with_logits"] = grads(
    lambda x: F.binary_cross_entropy_with_logits(x, t([1.0, 0.0, 1.0])), [1000.0, 1000.0, -1000.0])[0]
g["softplus"] = grads(F.softplus, [1000.0, -1000.0, 0.0])[0]
g["elu"] = grads(F.elu, [1000.0, -1000.0, 0.0])[0]
g["var_one_element"] = grads(lambda x: x.var(), [3.0])[0]


def encode_inputs(v):
    if isinstance(v, dict):
        return {k: encode_inputs(x) for k, x in v.items()}
    if isinstance(v, list):
        return [encode_inputs(x) for x in v]
    return enc(v) if isinstance(v, float) else v


out["gradients"] = encode_inputs(g)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "edge_values.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path, "with torch", torch.__version__)
