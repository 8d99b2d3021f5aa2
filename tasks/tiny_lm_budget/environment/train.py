#!/usr/bin/env python3
"""Train a character language model on /data/train.txt within the time budget and save it.

The contract (the verifier runs this file exactly like this, on a fresh corpus):
- run as ``python3 /app/train.py`` with working folder /app, one CPU core, no network;
- read the training text from /data/train.txt (and, if wanted, /data/valid.txt;
  ``$LM_DATA`` overrides the folder);
- it is stopped when its CPU time (all threads and child processes, Python start-up
  included) reaches ``TRAIN_BUDGET_S`` (60) seconds (past 600 s of wall clock it fails):
  before then, save a TorchScript module to ``$LM_OUT`` (default /app/out/model.pt) whose
  ``forward(x)`` maps int64 character ids (batch, 128) to logits (batch, 128, 31),
  ``logits[:, t]`` predicting character t + 1 from characters 0..t only;
- write nowhere but the folder of ``$LM_OUT`` and /tmp.

Starting point: a feed-forward n-gram network -- the previous 3 characters, embedded
and concatenated, one hidden layer -- trained with plain SGD for a fixed number of
steps.
"""

from __future__ import annotations

import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmdata import V, load  # noqa: E402

BUDGET_S = float(os.environ.get("TRAIN_BUDGET_S", "60"))
OUT = os.environ.get("LM_OUT", "/app/out/model.pt")
DATA = os.environ.get("LM_DATA", "/data")

ORDER = 3  # characters of context
EMB = 8
HIDDEN = 64
STEPS = 3000
BATCH = 64
LR = 0.05


class NgramMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.order = ORDER
        self.emb = nn.Embedding(V, EMB)
        self.hidden = nn.Linear(ORDER * EMB, HIDDEN)
        self.out = nn.Linear(HIDDEN, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, T) ids -> logits (B, T, V); position t sees characters t-ORDER+1 .. t (padded with id 0)
        padded = F.pad(x, [self.order - 1, 0], value=0.0)
        windows = padded.unfold(1, self.order, 1)  # (B, T, ORDER)
        e = self.emb(windows).flatten(2)  # (B, T, ORDER * EMB)
        return self.out(torch.tanh(self.hidden(e)))


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load(os.path.join(DATA, "train.txt"))
    model = NgramMLP()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    seq = 32
    for step in range(STEPS):
        if time.process_time() > BUDGET_S - 10:  # CPU seconds of this process, start-up included
            break
        ix = torch.randint(0, len(data) - seq - 1, (BATCH,))
        x = torch.stack([data[i : i + seq] for i in ix])
        y = torch.stack([data[i + 1 : i + seq + 1] for i in ix])
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0:
            print(
                f"step {step} loss {loss.item() / math.log(2):.3f} bpc ({time.process_time():.1f} CPU s)",
                flush=True,
            )
    model.eval()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    torch.jit.save(torch.jit.script(model), tmp)
    os.replace(tmp, OUT)
    print(f"saved {OUT} after {time.process_time():.1f} CPU s")


if __name__ == "__main__":
    main()
