"""The world of gpu_markov_classify: which of 10 hidden Markov sources wrote a sequence?

``generate(seed)`` draws 10 transition matrices over 12 symbols (a shared part plus a
source-specific part, so sources overlap) and then labelled training sequences and held-out
sequences of 48 symbols; the held-out labels stay with the verifier.
"""

from __future__ import annotations

import torch

BUDGET_S = 60.0  # wall-clock seconds each trainer gets, start-up included
CLASSES, SYMBOLS, LENGTH = 10, 12, 48
N_TRAIN, N_TEST = 400_000, 100_000
SHARED, SPECIFIC = 1.5, 0.6
LOSS_FLOOR = 1e-4


def sources(g: torch.Generator) -> torch.Tensor:
    shared = torch.randn(SYMBOLS, SYMBOLS, generator=g) * SHARED
    specific = torch.randn(CLASSES, SYMBOLS, SYMBOLS, generator=g) * SPECIFIC
    return torch.softmax(shared + specific, dim=-1)  # [class, from, to]


def sample(g: torch.Generator, trans: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.randint(0, CLASSES, (n,), generator=g)
    seq = torch.empty(n, LENGTH, dtype=torch.long)
    seq[:, 0] = torch.randint(0, SYMBOLS, (n,), generator=g)
    for t in range(1, LENGTH):
        probs = trans[labels, seq[:, t - 1]]
        seq[:, t] = torch.multinomial(probs, 1, generator=g).squeeze(-1)
    return seq, labels


def generate(seed: int, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    trans = sources(g)
    x, y = sample(g, trans, max(2000, int(N_TRAIN * scale)))
    tx, ty = sample(g, trans, max(1000, int(N_TEST * scale)))
    return {"x": x, "y": y}, tx, ty


def prediction_shape(test_x: torch.Tensor) -> torch.Size:
    return torch.Size([test_x.shape[0]])


def loss(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Error rate of the predicted labels."""
    return float((pred.long() != target.long()).double().mean())
