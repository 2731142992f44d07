"""Reference values for crates/wgrad-nn/tests/nn/optim.rs `step_after_backward_matches_pytorch_sgd`.

A Linear(3, 2) with fixed weights, cross entropy on a fixed batch of 4, SGD (lr 0.1, momentum 0.9,
weight decay 0.01), two steps of `opt.zero_grad(); loss.backward(); opt.step()`. Prints the losses and the
weight and bias after each step. Run: python tests/pytorch/sgd_two_steps.py (PyTorch 2.x, CPU, float64).
"""
import torch

torch.set_default_dtype(torch.float64)
lin = torch.nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]))
    lin.bias.copy_(torch.tensor([0.05, -0.05]))
x = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, -1.0, 1.0], [2.0, 1.0, -2.0]])
y = torch.tensor([0, 1, 1, 0])
opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
for step in range(2):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(lin(x), y)
    loss.backward()
    opt.step()
    print(f"step {step + 1}: loss {loss.item()!r}")
    print("  weight", [repr(v) for v in lin.weight.flatten().tolist()])
    print("  bias", [repr(v) for v in lin.bias.tolist()])
