#!/usr/bin/env python3
"""Reference trainer of tiny_lm_budget: a GRU character model, AdamW, warm-up + cosine on the CPU clock.

Same contract as the starting /app/train.py (read /data/train.txt, save a
TorchScript model mapping (batch, 128) ids to (batch, 128, 31) logits to
$LM_OUT before TRAIN_BUDGET_S CPU seconds). What changes is explained in
solution/reference.md: a recurrent model instead of a 3-character window, Adam
instead of SGD, a learning-rate schedule that spans exactly the time left, and
training until a safety margin before the CPU budget instead of a fixed step count.
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
MARGIN_S = 4.0  # CPU seconds kept for scripting and saving the model, and headroom

HIDDEN = 160
EMB = 24
BATCH = 64
SEQ = 96
LR = 8e-3
WARMUP = 30


class GRULM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, EMB)
        self.rnn = nn.GRU(EMB, HIDDEN, batch_first=True)
        self.head = nn.Linear(HIDDEN, V)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.emb(x))[0])


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load(os.path.join(DATA, "train.txt"))
    model = GRULM()
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0, betas=(0.9, 0.99))
    deadline = BUDGET_S - MARGIN_S
    step = 0
    while True:
        elapsed = time.process_time()  # CPU seconds of this process, start-up included
        if elapsed > deadline:
            break
        frac = elapsed / deadline
        lr = LR * min(1.0, (step + 1) / WARMUP) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        ix = torch.randint(0, len(data) - SEQ - 1, (BATCH,))
        x = torch.stack([data[i : i + SEQ] for i in ix])
        y = torch.stack([data[i + 1 : i + SEQ + 1] for i in ix])
        loss = F.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            print(f"step {step} loss {loss.item() / math.log(2):.3f} bpc ({elapsed:.1f} s)", flush=True)
    model.eval()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    torch.jit.save(torch.jit.script(model), tmp)
    os.replace(tmp, OUT)
    print(f"{step} steps, saved {OUT} after {time.process_time():.1f} CPU s")


if __name__ == "__main__":
    main()
