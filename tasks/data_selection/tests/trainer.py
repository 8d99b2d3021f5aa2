"""The fixed model of data_selection: how a selection is turned into a classifier (do not edit).

A small multilayer perceptron 24 -> 32 -> 6 (ReLU), trained on exactly the
selected examples: features standardized with the mean and standard deviation of
the selected examples (std floored at 1e-3), full-batch Adam (lr 0.01, weight decay
1e-4) for 300 steps on the cross-entropy, weights initialized from a fixed seed, one
thread, deterministic algorithms. Full-batch training makes the result independent of the order of the
selection; the same examples always give the same classifier.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HIDDEN = 32
STEPS = 300
LR = 0.01
WEIGHT_DECAY = 1e-4
SEED = 0


def train(x: np.ndarray, y: np.ndarray, classes: int = 6):
    """Train the fixed model on (x, y); returns a function mapping features to predicted labels."""
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    mean = xt.mean(0)
    std = xt.std(0, unbiased=False).clamp_min(1e-3)
    gen = torch.Generator().manual_seed(SEED)
    model = nn.Sequential(nn.Linear(xt.shape[1], HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, classes))
    with torch.no_grad():
        for p in model.parameters():
            bound = 1.0 / np.sqrt(p.shape[-1] if p.dim() > 1 else HIDDEN)
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) * bound)
    opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    z = (xt - mean) / std
    for _ in range(STEPS):
        loss = F.cross_entropy(model(z), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()

    def predict(xq: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            zq = (torch.as_tensor(np.asarray(xq, np.float32)) - mean) / std
            return model(zq).argmax(1).numpy()

    return predict


def accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    predict = train(x_train, y_train)
    return float((predict(x_test) == np.asarray(y_test)).mean())
