#!/usr/bin/env python3
"""Reference selection for data_selection: deduplicate, drop junk and disputed labels, balance classes.

Same contract as the starting /app/select.py. The steps (see solution/reference.md):
1. near-duplicates: a row closer than 0.1 (raw features) to an earlier row is dropped,
   so each group of copies counts once -- before anything votes (copies of one
   mislabelled row would otherwise out-vote their neighbours);
2. neighbourhood vote: among the unique rows (features scaled by median/IQR), each
   row's 15 nearest neighbours vote; a row is kept when its label wins the vote
   with at least half of the votes and it is not in the sparsest 15% (junk lives in
   empty space);
3. class-balanced first cut of 6,000 rows from those, then the *fixed model
   itself* (/app/trainer.py) is trained on it and predicts every pool row; rows
   whose label disagrees with that prediction are dropped, and so are rows farther
   from the first cut than its own typical spacing (junk again);
4. the final 2,000: an equal share per class (random within the class), topped up
   from the remaining clean rows when a class runs short.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trainer  # noqa: E402  (the pristine fixed model in /app)

DATA = os.environ.get("DATA", "/data")
K = int(os.environ.get("SELECT_K", "2000"))
OUT = os.environ.get("SELECT_OUT", "/app/out/selection.json")
CLASSES = 6
NEIGHBOURS = 15


def unique_rows(x: np.ndarray, radius: float = 0.1) -> np.ndarray:
    """False for every row within ``radius`` (Euclidean, raw features) of an earlier row."""
    xt = torch.as_tensor(x)
    keep = np.ones(len(x), bool)
    for i in range(0, len(x), 1000):
        rows = torch.arange(i, min(i + 1000, len(x)))
        close = (torch.cdist(xt[rows], xt) < radius) & (torch.arange(len(x))[None, :] < rows[:, None])
        keep[rows.numpy()] = ~close.any(1).numpy()
    return keep


def scaled(x: np.ndarray) -> torch.Tensor:
    med = np.median(x, 0)
    iqr = np.subtract(*np.percentile(x, [75, 25], 0)) + 1e-6
    return torch.as_tensor((x - med) / iqr, dtype=torch.float32)


def balanced(cand: np.ndarray, y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    per = {c: rng.permutation(cand[y[cand] == c]) for c in range(CLASSES)}
    sel = [i for c in range(CLASSES) for i in per[c][: k // CLASSES]]
    rest = rng.permutation(np.setdiff1d(cand, sel))
    sel += list(rest[: k - len(sel)])
    return np.asarray(sel, np.int64)


def vote_filter(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    idx = np.flatnonzero(unique_rows(x))
    z = scaled(x)[idx]
    dists, nbrs = [], []
    for i in range(0, len(idx), 1000):
        d, j = torch.cdist(z[i : i + 1000], z).topk(NEIGHBOURS + 1, largest=False)
        dists.append(d[:, 1:])
        nbrs.append(j[:, 1:])
    far = torch.cat(dists).numpy()[:, -1]
    labels = y[idx][torch.cat(nbrs).numpy()]
    votes = np.stack([(labels == c).sum(1) for c in range(CLASSES)], 1)
    own = votes[np.arange(len(idx)), y[idx]]
    keep = (far < np.percentile(far, 85)) & (votes.argmax(1) == y[idx]) & (own >= NEIGHBOURS / 2)
    return idx[keep]


def main() -> None:
    torch.set_num_threads(1)
    pool = np.load(os.path.join(DATA, "pool.npz"))
    x, y = pool["X"], pool["y"]
    rng = np.random.default_rng(0)
    first = balanced(vote_filter(x, y), y, 3 * K, rng)
    pred = trainer.train(x[first], y[first])(x)
    z = scaled(x)
    near = torch.cat([torch.cdist(z[i : i + 2000], z[first]).min(1).values for i in range(0, len(x), 2000)])
    near = near.numpy()
    ok = unique_rows(x) & (pred == y) & (near < 1.5 * np.percentile(near[first], 95))
    sel = balanced(np.flatnonzero(ok), y, K, rng)
    if len(sel) < K:  # not enough clean rows: fill with the rest
        sel = np.concatenate([sel, rng.permutation(np.setdiff1d(np.arange(len(y)), sel))[: K - len(sel)]])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as fh:
        json.dump([int(i) for i in sel], fh)
    os.replace(tmp, OUT)


if __name__ == "__main__":
    main()
