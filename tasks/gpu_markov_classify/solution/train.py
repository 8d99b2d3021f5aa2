"""Reference trainer of gpu_markov_classify: transition counts (the sufficient statistic of a
Markov source) plus the first symbol, a small MLP, AdamW with a cosine schedule on the wall clock."""

import argparse
import math
import os
import time

import torch

T0 = time.monotonic()
ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--budget", type=float, required=True)
a = ap.parse_args()
torch.manual_seed(0)
dev = "cuda" if torch.cuda.is_available() else "cpu"
train = torch.load(os.path.join(a.data, "train.pt"), weights_only=True)
test_x = torch.load(os.path.join(a.data, "test_x.pt"), weights_only=True).to(dev)
SYMBOLS, CLASSES = 12, 10


def features(seq: torch.Tensor) -> torch.Tensor:
    pairs = seq[:, :-1] * SYMBOLS + seq[:, 1:]
    counts = torch.zeros(seq.shape[0], SYMBOLS * SYMBOLS, device=seq.device)
    counts.scatter_add_(1, pairs, torch.ones_like(pairs, dtype=torch.float32))
    first = torch.nn.functional.one_hot(seq[:, 0], SYMBOLS).float()
    return torch.cat([counts / seq.shape[1], first], dim=1)


x, y = features(train["x"].to(dev)), train["y"].to(dev)
mu, sd = x.mean(0), x.std(0) + 1e-6
x = (x - mu) / sd
model = torch.nn.Sequential(
    torch.nn.Linear(x.shape[1], 256), torch.nn.GELU(), torch.nn.Linear(256, CLASSES)
).to(dev)
peak_lr, batch = 3e-3, 2048
opt = torch.optim.AdamW(model.parameters(), lr=peak_lr, weight_decay=1e-3)
train_s = a.budget - 8.0 - (time.monotonic() - T0)
start, step = time.monotonic(), 0
while True:
    frac = (time.monotonic() - start) / max(train_s, 1.0)
    if frac >= 1.0:
        break
    for group in opt.param_groups:
        group["lr"] = peak_lr * min(1.0, step / 100) * 0.5 * (1 + math.cos(math.pi * frac))
    idx = torch.randint(0, x.shape[0], (batch,), device=dev)
    loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    step += 1
with torch.no_grad():
    pred = model((features(test_x) - mu) / sd).argmax(dim=-1)
torch.save(pred.cpu(), os.path.join(a.out, "pred.pt"))
