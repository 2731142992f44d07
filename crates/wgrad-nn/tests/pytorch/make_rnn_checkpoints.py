"""Reference files for wgrad-nn's recurrent-layer and layer tests against PyTorch (tests/nn/torch_rnn.rs,
tests/nn/torch_layers.rs).

    python make_rnn_checkpoints.py        # writes the .safetensors files beside this script

State dicts (exactly `model.state_dict()`, what `load_state_dict(strict=True)` takes), seed 0:
- lstm.safetensors      LSTM(3, 4, num_layers=2, bidirectional=True)
- gru.safetensors       GRU(3, 4, num_layers=2, bidirectional=True)
- rnn.safetensors       RNN(3, 4)                                   (tanh, one layer)
- rnn_relu.safetensors  RNN(3, 4, nonlinearity='relu', bias=False, bidirectional=True)
- layers.safetensors    Module with convt = ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1,
                        output_padding=1, groups=2), convt_dilated = ConvTranspose2d(2, 3, 3, stride=1,
                        padding=1, output_padding=1, dilation=2), ln = LayerNorm([3, 4]) (non-trivial
                        affine parameters)

Cases (rnn_cases.safetensors, layers_cases.safetensors; float32, lengths int64), for each recurrent model
`<m>` in lstm, gru, rnn, rnn_relu:
- `<m>.x` [T=5, N=2, 3], `<m>.h0` (and `lstm.c0`) [layers·dirs, 2, 4] -> `<m>.out`, `<m>.h_n` (`lstm.c_n`)
- `<m>.bf.x` [N=2, T=5, 3], batch_first, no initial state -> `<m>.bf.out`, `<m>.bf.h_n` (`lstm.bf.c_n`)
- `<m>.packed.x` [T=5, N=3, 3] with `<m>.packed.lengths` [5, 2, 3] (not sorted; the values past a
  sequence's length are random too, and must not matter), h0 (c0) ->
  pack_padded_sequence(enforce_sorted=False) -> model -> pad_packed_sequence(total_length=5):
  `<m>.packed.out` (zeros past each length), `<m>.packed.h_n` (`lstm.packed.c_n`)
- lstm and gru only: gradients of `Σ out·out_w + Σ h_n·h_w` (the first case; `<m>.out_w`, `<m>.h_w`)
  with respect to x (`<m>.grad_x`) and weight_hh_l0 (`<m>.grad_weight_hh_l0`): backpropagation through time.
and for layers: `convt.x` -> `convt.y`, `convt_dilated.x` -> `convt_dilated.y`, `ln.x` [2, 5, 3, 4] ->
`ln.y`, `gelu.x` [41] -> `gelu.y` (exact, erf) and `gelu_tanh.y` (approximate='tanh').

Made with torch 2.15.0 (CPU) and safetensors 0.8.0.
"""

import os

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MADE_BY = {"made_by": "crates/wgrad-nn/tests/pytorch/make_rnn_checkpoints.py"}


def models():
    torch.manual_seed(0)
    return {
        "lstm": nn.LSTM(3, 4, num_layers=2, bidirectional=True),
        "gru": nn.GRU(3, 4, num_layers=2, bidirectional=True),
        "rnn": nn.RNN(3, 4),
        "rnn_relu": nn.RNN(3, 4, nonlinearity="relu", bias=False, bidirectional=True),
    }


def states_of(name, m, n, gen):
    dirs = 2 if m.bidirectional else 1
    shape = (m.num_layers * dirs, n, m.hidden_size)
    h0 = torch.randn(shape, generator=gen)
    if name == "lstm":
        return (h0, torch.randn(shape, generator=gen))
    return h0


def split(name, prefix, out, state, cases):
    cases[f"{prefix}.out"] = out
    if name == "lstm":
        cases[f"{prefix}.h_n"], cases[f"{prefix}.c_n"] = state
    else:
        cases[f"{prefix}.h_n"] = state


def add_state(name, prefix, state, cases):
    if name == "lstm":
        cases[f"{prefix}.h0"], cases[f"{prefix}.c0"] = state
    else:
        cases[f"{prefix}.h0"] = state


def recurrent_cases(name, m, gen, cases):
    # time-major with initial states, plus gradients (BPTT)
    x = torch.randn(5, 2, 3, generator=gen).requires_grad_(name in ("lstm", "gru"))
    state = states_of(name, m, 2, gen)
    out, hn = m(x, state)
    cases[f"{name}.x"] = x.detach()
    add_state(name, name, state, cases)
    split(name, name, out.detach(), tuple(t.detach() for t in hn) if name == "lstm" else hn.detach(), cases)
    if x.requires_grad:
        out_w = torch.randn(out.shape, generator=gen)
        h_w = torch.randn(m.num_layers * 2, 2, 4, generator=gen)
        h = hn[0] if name == "lstm" else hn
        loss = (out * out_w).sum() + (h * h_w).sum()
        gx, gw = torch.autograd.grad(loss, [x, m.weight_hh_l0])
        cases[f"{name}.out_w"], cases[f"{name}.h_w"] = out_w, h_w
        cases[f"{name}.grad_x"], cases[f"{name}.grad_weight_hh_l0"] = gx, gw

    with torch.no_grad():
        # batch_first, no initial state
        m.batch_first = True
        xb = torch.randn(2, 5, 3, generator=gen)
        out, hn = m(xb)
        m.batch_first = False
        cases[f"{name}.bf.x"] = xb
        split(name, f"{name}.bf", out, hn, cases)

        # padded batch with lengths
        xp = torch.randn(5, 3, 3, generator=gen)
        lengths = torch.tensor([5, 2, 3], dtype=torch.int64)
        state = states_of(name, m, 3, gen)
        packed = pack_padded_sequence(xp, lengths, enforce_sorted=False)
        out, hn = m(packed, state)
        out, _ = pad_packed_sequence(out, total_length=5)
        cases[f"{name}.packed.x"], cases[f"{name}.packed.lengths"] = xp, lengths
        add_state(name, f"{name}.packed", state, cases)
        split(name, f"{name}.packed", out, hn, cases)


class Layers(nn.Module):
    def __init__(self):
        super().__init__()
        self.convt = nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2)
        self.convt_dilated = nn.ConvTranspose2d(
            2, 3, 3, stride=1, padding=1, output_padding=1, dilation=2
        )
        self.ln = nn.LayerNorm([3, 4])


def layer_cases(gen):
    torch.manual_seed(1)
    m = Layers()
    with torch.no_grad():
        m.ln.weight.copy_(torch.randn(3, 4, generator=gen) * 0.5 + 1.0)
        m.ln.bias.copy_(torch.randn(3, 4, generator=gen) * 0.5)
    cases = {}
    with torch.no_grad():
        for name, shape in [("convt", (2, 4, 5, 4)), ("convt_dilated", (1, 2, 4, 3))]:
            x = torch.randn(shape, generator=gen)
            cases[f"{name}.x"], cases[f"{name}.y"] = x, getattr(m, name)(x)
        x = torch.randn(2, 5, 3, 4, generator=gen) * 3.0 + 1.0
        cases["ln.x"], cases["ln.y"] = x, m.ln(x)
        x = torch.linspace(-6.0, 6.0, 41)
        cases["gelu.x"] = x
        cases["gelu.y"] = nn.GELU()(x)
        cases["gelu_tanh.y"] = nn.GELU(approximate="tanh")(x)
    return m, cases


def save_state(name, m):
    path = os.path.join(HERE, f"{name}.safetensors")
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, path, metadata=MADE_BY)
    # the file round-trips into the model, strictly
    m.load_state_dict(load_file(path), strict=True)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def save_cases(name, cases):
    path = os.path.join(HERE, f"{name}.safetensors")
    save_file({k: v.contiguous() for k, v in cases.items()}, path, metadata=MADE_BY)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    gen = torch.Generator().manual_seed(1234)
    cases = {}
    for name, m in models().items():
        save_state(name, m)
        recurrent_cases(name, m, gen, cases)
    save_cases("rnn_cases", cases)
    m, cases = layer_cases(gen)
    save_state("layers", m)
    save_cases("layers_cases", cases)


if __name__ == "__main__":
    main()
