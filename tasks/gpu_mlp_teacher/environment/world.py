"""The world of gpu_mlp_teacher: a random teacher network, noisy regression data drawn from it.

``generate(seed)`` draws the teacher (32 inputs, two tanh layers of 256) and then training
pairs and held-out inputs; the held-out targets are the teacher's noise-free outputs.
"""

from __future__ import annotations

import torch

BUDGET_S = 60.0  # wall-clock seconds each trainer gets, start-up included
D_IN, HIDDEN = 32, 256
N_TRAIN, N_TEST = 1_000_000, 100_000
NOISE = 0.1
LOSS_FLOOR = 1e-6


def teacher(seed: int):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(D_IN, HIDDEN, generator=g) / D_IN**0.5 * 1.5
    w2 = torch.randn(HIDDEN, HIDDEN, generator=g) / HIDDEN**0.5 * 1.5
    w3 = torch.randn(HIDDEN, 1, generator=g) / HIDDEN**0.5
    return g, lambda x: (torch.tanh(torch.tanh(x @ w1) @ w2) @ w3).squeeze(-1)


def generate(seed: int, scale: float = 1.0):
    g, f = teacher(seed)
    n_train, n_test = max(1000, int(N_TRAIN * scale)), max(500, int(N_TEST * scale))
    x = torch.randn(n_train, D_IN, generator=g)
    y = f(x)
    std = y.std()  # targets of unit variance: a constant prediction scores a loss of about 1
    train = {"x": x, "y": y / std + NOISE * torch.randn(n_train, generator=g)}
    test_x = torch.randn(n_test, D_IN, generator=g)
    return train, test_x, f(test_x) / std


def prediction_shape(test_x: torch.Tensor) -> torch.Size:
    return torch.Size([test_x.shape[0]])


def loss(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean squared error against the noise-free targets."""
    return float(((pred.double() - target.double()) ** 2).mean())
