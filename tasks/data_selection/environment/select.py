#!/usr/bin/env python3
"""Choose which K examples of the noisy pool the fixed model is trained on.

Contract (the verifier runs this file exactly like this, on a fresh pool):
- ``python3 /app/select.py`` with working folder /app, one CPU core, no network,
  stopped after 60 CPU seconds;
- reads the pool ``$DATA/pool.npz`` (``X`` float32 (20000, 24), ``y`` int64 labels,
  some wrong) and may read the small clean set ``$DATA/dev.npz`` (same keys, 300
  rows); ``$DATA`` defaults to /data;
- writes a JSON list of exactly ``$SELECT_K`` (2000) distinct row indices of the
  pool to ``$SELECT_OUT`` (default /app/out/selection.json).

Starting point: a uniformly random subset (seed 0).
"""

from __future__ import annotations

import json
import os

import numpy as np

DATA = os.environ.get("DATA", "/data")
K = int(os.environ.get("SELECT_K", "2000"))
OUT = os.environ.get("SELECT_OUT", "/app/out/selection.json")


def main() -> None:
    pool = np.load(os.path.join(DATA, "pool.npz"))
    n = len(pool["y"])
    chosen = np.random.default_rng(0).choice(n, K, replace=False)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump([int(i) for i in chosen], fh)


if __name__ == "__main__":
    main()
