"""PyTorch's scaled_dot_product_attention on small cases (float64, CPU): outputs and the gradients of
sum(out * w) for q, k, v (and a float mask), for tests/attention.rs. Writes tests/pytorch/attention.json.

Covers tq != tk, d != dv, T = 1, causal masks with tq < tk and tq > tk (top-left aligned), bool masks
(True = attend), additive float masks with -inf entries, an explicit scale, and fully masked rows (PyTorch
2.x returns 0 and zero gradients there).

Run: python tests/pytorch/attention.py (PyTorch 2.x, CPU). -inf is written as the string "-inf".
"""
import json
import math
import os

import torch
import torch.nn.functional as F


def enc(values):
    return ["-inf" if math.isinf(v) and v < 0 else ("inf" if math.isinf(v) else v) for v in values]


def case(name, q_shape, k_shape, dv, mask=None, causal=False, scale=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(q_shape, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(k_shape, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(list(k_shape[:-1]) + [dv], generator=g, dtype=torch.float64, requires_grad=True)
    if mask is not None and mask.dtype != torch.bool:
        mask = mask.clone().requires_grad_(True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    w = torch.randn(out.shape, generator=g, dtype=torch.float64)
    (out * w).sum().backward()
    entry = {
        "name": name,
        "causal": causal,
        "scale": scale,
        "q": {"shape": list(q.shape), "data": q.detach().flatten().tolist()},
        "k": {"shape": list(k.shape), "data": k.detach().flatten().tolist()},
        "v": {"shape": list(v.shape), "data": v.detach().flatten().tolist()},
        "w": w.flatten().tolist(),
        "out": {"shape": list(out.shape), "data": out.detach().flatten().tolist()},
        "dq": q.grad.flatten().tolist(),
        "dk": k.grad.flatten().tolist(),
        "dv": v.grad.flatten().tolist(),
    }
    if mask is not None:
        entry["mask"] = {
            "shape": list(mask.shape),
            "bool": mask.dtype == torch.bool,
            "data": enc(mask.detach().double().flatten().tolist()),
        }
        if mask.dtype != torch.bool:
            entry["dmask"] = mask.grad.flatten().tolist()
    return entry


def main():
    bool_mask = torch.ones(3, 5, dtype=torch.bool)
    bool_mask[1] = False
    bool_mask[2, :3] = False
    float_mask = torch.randn(1, 1, 3, 5, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    float_mask[0, 0, 0] = -math.inf
    float_mask[0, 0, 2, 1] = -math.inf
    padding = torch.ones(2, 1, 1, 5, dtype=torch.bool)
    padding[1, 0, 0, 3:] = False
    cases = [
        case("plain", [2, 2, 3, 4], [2, 2, 5, 4], 3, seed=1),
        case("causal, tq < tk", [1, 2, 3, 4], [1, 2, 5, 4], 4, causal=True, seed=2),
        case("causal, tq > tk", [1, 2, 5, 4], [1, 2, 3, 4], 2, causal=True, seed=3),
        case("t = 1", [2, 1, 1, 3], [2, 1, 1, 3], 3, seed=4),
        case("bool mask, fully masked row", [2, 2, 3, 4], [2, 2, 5, 4], 3, mask=bool_mask, seed=5),
        case("float mask, scale 0.3", [1, 2, 3, 4], [1, 2, 5, 4], 3, mask=float_mask, scale=0.3, seed=6),
        case("key padding", [2, 2, 3, 4], [2, 2, 5, 4], 4, mask=padding, seed=7),
    ]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "attention.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)


if __name__ == "__main__":
    main()
