#!/usr/bin/env python3
"""Train the network of /app/model.py on every scored Connect-3 position and save its weights.

The positions and their optimal moves come from /data/connect3.npz (built by
connect3.py). The loss is the negative log of the probability the network's
softmax (over legal columns) puts on the set of optimal moves; Adam with a
one-cycle learning-rate schedule. Deterministic for a given seed and thread count.

    python3 /app/train.py                        # defaults below, writes /app/weights.pt
    python3 /app/train.py --epochs 40 --lr 1e-2 --model my_model.py --out my_weights.pt
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch


def load_build_model(path: str):
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec = importlib.util.spec_from_file_location("c3_model", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/app/model.py")
    ap.add_argument("--out", default="/app/weights.pt")
    ap.add_argument("--data", default="/data/connect3.npz")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d = np.load(args.data)
    s = d["scored"]
    x = torch.tensor(d["boards"][s]).float()
    legal = torch.tensor(d["legal"][s])
    optimal = torch.tensor(d["optimal"][s])
    model = load_build_model(args.model)()
    print(f"{sum(p.numel() for p in model.parameters())} parameters, {len(x)} positions", flush=True)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    n = len(x)
    steps_per_epoch = n // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch
    )
    t0 = time.monotonic()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * args.batch : (i + 1) * args.batch]
            out = model(x[idx]).masked_fill(~legal[idx], -1e9)
            loss = (torch.logsumexp(out, 1) - torch.logsumexp(out.masked_fill(~optimal[idx], -1e9), 1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(x[i : i + 8192]) for i in range(0, n, 8192)]).masked_fill(~legal, -1e9)
            acc = optimal[torch.arange(n), pred.argmax(1)].float().mean().item()
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / steps_per_epoch:.4f} "
              f"accuracy {acc:.4f} ({time.monotonic() - t0:.0f} s)", flush=True)  # fmt: skip
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
