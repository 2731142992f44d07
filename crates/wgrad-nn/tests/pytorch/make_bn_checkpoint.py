"""Reference checkpoint for wgrad-nn's PyTorch interop tests (tests/nn/pytorch.rs).

    python make_bn_checkpoint.py          # writes bn_checkpoint.safetensors beside this script
    python make_bn_checkpoint.py check F  # loads F (written by wgrad) into the same model, strict=True

The model is `Sequential(Linear(3, 4), BatchNorm1d(4))`. Three training-mode forward passes move the
running statistics and count num_batches_tracked (3, int64); the batch-norm affine parameters are set to
non-trivial values. The file is exactly `model.state_dict()` (what `load_state_dict(strict=True)` takes);
its metadata holds a fixed input (`input`, [5, 3]) and the model's eval-mode output on it (`expected`,
[5, 4]), as JSON lists of the float32 values, so the Rust test needs nothing but the file.

`check F` is the other direction: it loads a file wgrad wrote into this model with strict=True (which
fails on any missing or unexpected key or shape mismatch), prints the dtypes, and, when the file's metadata
has `input` and `expected` (directly, or inside wgrad's `config` JSON), compares PyTorch's eval-mode output
on that input with them (1e-6).

Made with torch 2.15.0 (CPU) and safetensors 0.8.0; any recent version gives the same file up to the
float rounding of the training passes.
"""

import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "bn_checkpoint.safetensors")


def model():
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def fixed_input():
    return torch.tensor(
        [
            [0.5, -1.0, 2.0],
            [1.5, 0.25, -0.75],
            [-2.0, 0.5, 1.0],
            [0.0, 3.0, -1.5],
            [1.0, -0.5, 0.125],
        ],
        dtype=torch.float32,
    )


def make():
    torch.manual_seed(0)
    m = model()
    with torch.no_grad():
        m[1].weight.copy_(torch.tensor([1.5, -0.5, 0.75, 2.0]))
        m[1].bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 3) * 2.0 + 0.5)
    m.eval()
    x = fixed_input()
    with torch.no_grad():
        y = m(x)
    state = {k: v.contiguous() for k, v in m.state_dict().items()}
    assert state["1.num_batches_tracked"].dtype == torch.int64
    assert int(state["1.num_batches_tracked"]) == 3
    meta = {
        "input": json.dumps(x.flatten().tolist()),
        "expected": json.dumps(y.flatten().tolist()),
        "made_by": "crates/wgrad-nn/tests/pytorch/make_bn_checkpoint.py",
    }
    save_file(state, OUT, metadata=meta)
    # The file round-trips into a fresh model, strictly.
    fresh = model()
    print(fresh.load_state_dict(load_file(OUT), strict=True))
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


def check(path):
    m = model()
    state = load_file(path)
    print({k: (str(v.dtype), list(v.shape)) for k, v in state.items()})
    print(m.load_state_dict(state, strict=True))
    print("num_batches_tracked:", m[1].num_batches_tracked)
    m.eval()
    from safetensors import safe_open

    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
    meta = {k: json.loads(v) for k, v in meta.items() if k in ("input", "expected", "config")}
    meta.update(meta.get("config") if isinstance(meta.get("config"), dict) else {})
    if "input" in meta and "expected" in meta:
        x = torch.tensor(meta["input"]).reshape(-1, 3)
        want = torch.tensor(meta["expected"]).reshape(x.shape[0], -1)
        with torch.no_grad():
            got = m(x)
        err = (got - want).abs().max().item()
        print(f"max |torch - expected| = {err:.3g}")
        assert err < 1e-6


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        make()
