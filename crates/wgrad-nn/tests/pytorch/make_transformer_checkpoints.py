"""Reference files for wgrad-nn's attention and transformer tests against PyTorch (tests/nn/torch_transformer.rs).

    python make_transformer_checkpoints.py        # writes the .safetensors files beside this script

State dicts (exactly `model.state_dict()`, what `load_state_dict(strict=True)` takes), seed 0, float32:
- mha.safetensors            MultiheadAttention(8, 2)            in_proj_weight [24, 8], in_proj_bias, out_proj.*
- encoder_layer.safetensors  TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, activation="gelu",
                             layer_norm_eps=1e-6, batch_first=True, norm_first=True)   (pre-norm)
- encoder_post.safetensors   TransformerEncoderLayer(8, 2, dim_feedforward=16)          (post-norm, relu, [S, N, E])
- encoder.safetensors        TransformerEncoder(<encoder_layer>, num_layers=2, norm=LayerNorm(8),
                             enable_nested_tensor=False)       keys layers.0.*, layers.1.*, norm.*
Biases and layer-norm affine parameters are drawn at random (PyTorch inits them to 0 and 1), so a wrong
mapping shows.

Cases (transformer_cases.safetensors; models in eval mode, so dropout is off):
- mha.x [L=5, N=2, 8] self-attention -> mha.out (need_weights=False); mha.w [5, 2, 8] and the gradients of
  sum(out * w) for x (mha.grad_x) and in_proj_weight (mha.grad_in_proj_weight)
- mha.q [3, 2, 8], mha.kv [5, 2, 8] (key = value), mha.kpm [2, 5] bool (True = padding: last two keys of
  the second sequence), mha.attn_mask [3, 5] float -> mha.cross.out, mha.cross.weights [2, 3, 5]
  (need_weights=True, averaged over heads)
- mha.bf.x [N=2, L=5, 8] with a batch_first copy of the module and a causal bool attn_mask (True = masked) ->
  mha.bf.out
- layer.x [N=2, S=5, 8], layer.kpm [2, 5] bool -> layer.out (pre-norm, gelu)
- post.x [S=5, N=2, 8] with src_mask = generate_square_subsequent_mask(5) (float -inf above the diagonal) ->
  post.out (post-norm, relu)
- encoder.x [2, 5, 8] -> encoder.out

Made with torch 2.15.0 (CPU) and safetensors 0.8.0.
"""

import os

import torch
from torch import nn
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
MADE_BY = {"made_by": "crates/wgrad-nn/tests/pytorch/make_transformer_checkpoints.py"}


def randomize_affine(module):
    """Random biases and layer-norm weights (PyTorch inits them to 0 and 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("bias") or ("norm" in name and name.endswith("weight")):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") else 0.0))


def save_state(module, name):
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    save_file(state, os.path.join(HERE, name), metadata=MADE_BY)


def main():
    torch.manual_seed(0)
    cases = {}

    mha = nn.MultiheadAttention(8, 2)
    randomize_affine(mha)
    mha.eval()
    save_state(mha, "mha.safetensors")
    x = torch.randn(5, 2, 8, requires_grad=True)
    out, _ = mha(x, x, x, need_weights=False)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    cases.update({"mha.x": x.detach(), "mha.out": out.detach(), "mha.w": w, "mha.grad_x": x.grad,
                  "mha.grad_in_proj_weight": mha.in_proj_weight.grad})
    mha.zero_grad()

    with torch.no_grad():
        q, kv = torch.randn(3, 2, 8), torch.randn(5, 2, 8)
        kpm = torch.zeros(2, 5, dtype=torch.bool)
        kpm[1, 3:] = True
        attn_mask = torch.randn(3, 5)
        out, weights = mha(q, kv, kv, key_padding_mask=kpm, attn_mask=attn_mask, need_weights=True)
        cases.update({"mha.q": q, "mha.kv": kv, "mha.kpm": kpm.to(torch.int64), "mha.attn_mask": attn_mask,
                      "mha.cross.out": out, "mha.cross.weights": weights})

        mha_bf = nn.MultiheadAttention(8, 2, batch_first=True)
        mha_bf.load_state_dict(mha.state_dict())
        mha_bf.eval()
        xb = torch.randn(2, 5, 8)
        causal = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
        out, _ = mha_bf(xb, xb, xb, attn_mask=causal, need_weights=False)
        cases.update({"mha.bf.x": xb, "mha.bf.out": out})

        layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, activation="gelu",
                                           layer_norm_eps=1e-6, batch_first=True, norm_first=True)
        randomize_affine(layer)
        layer.eval()
        save_state(layer, "encoder_layer.safetensors")
        xl = torch.randn(2, 5, 8)
        kpm = torch.zeros(2, 5, dtype=torch.bool)
        kpm[0, 4] = True
        cases.update({"layer.x": xl, "layer.kpm": kpm.to(torch.int64),
                      "layer.out": layer(xl, src_key_padding_mask=kpm)})

        post = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
        randomize_affine(post)
        post.eval()
        save_state(post, "encoder_post.safetensors")
        xp = torch.randn(5, 2, 8)
        mask = nn.Transformer.generate_square_subsequent_mask(5)
        cases.update({"post.x": xp, "post.out": post(xp, src_mask=mask)})

        encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8), enable_nested_tensor=False)
        randomize_affine(encoder)
        encoder.eval()
        save_state(encoder, "encoder.safetensors")
        xe = torch.randn(2, 5, 8)
        cases.update({"encoder.x": xe, "encoder.out": encoder(xe)})

    cases = {k: v.detach().contiguous() for k, v in cases.items()}
    save_file(cases, os.path.join(HERE, "transformer_cases.safetensors"), metadata=MADE_BY)


if __name__ == "__main__":
    main()
