"""Scoring of data_selection (do not edit): read a selection, train the fixed model, compare with random.

- ``read_selection``: the selection file must be a JSON list of exactly K distinct
  integer row indices of the pool (at most 1 MiB).
- ``baseline_selection``: K rows uniformly at random with numpy's ``default_rng(seed)``
  (seed 0 is the starting select.py's choice).
- ``score``: trains the fixed model (``trainer.py``) on the selected rows and on
  ``RANDOM_DRAWS`` random selections of the same pool (seeds 0..15), and measures all
  on the same labelled test set. ``baseline_accuracy`` is the random selections' mean,
  ``raw_gain`` = accuracy(selection) - that mean (the pool and test sample cancel out;
  one random draw's luck would not: a single random selection's accuracy spreads by
  about 0.015), and the metric ``accuracy_gain`` is ``raw_gain`` when it is more than
  ``NOISE_SDS`` standard deviations of the random selections' accuracies, else 0: a
  selection no better than a random one (the starting script's) gains nothing.
"""

from __future__ import annotations

import json
import os

import numpy as np
import trainer

K = 2000
MAX_FILE_BYTES = 1 << 20
RANDOM_DRAWS = 16
NOISE_SDS = 3.0


class SelectionError(Exception):
    """The selection file is missing or malformed."""


def baseline_selection(n: int, k: int = K, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(n, k, replace=False)


def read_selection(path: str, n: int, k: int = K) -> np.ndarray:
    if not os.path.isfile(path) or os.path.islink(path):
        raise SelectionError(f"{path} does not exist")
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise SelectionError(f"{path} is larger than 1 MiB")
    try:
        with open(path) as fh:
            raw = json.load(fh)
    except (OSError, ValueError) as exc:
        raise SelectionError(f"{path} is not JSON: {exc}") from None
    if not isinstance(raw, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
        raise SelectionError("the selection must be a JSON list of integers")
    sel = np.asarray(raw, dtype=np.int64)
    if len(sel) != k:
        raise SelectionError(f"{len(sel)} indices selected (exactly {k} required)")
    if len(np.unique(sel)) != k:
        raise SelectionError("the selection repeats indices")
    if sel.min() < 0 or sel.max() >= n:
        raise SelectionError(f"an index is outside the pool (0..{n - 1})")
    return sel


def score(px: np.ndarray, py: np.ndarray, sel: np.ndarray, tx: np.ndarray, ty: np.ndarray) -> dict:
    acc = trainer.accuracy(px[sel], py[sel], tx, ty)
    draws = [baseline_selection(len(py), len(sel), seed) for seed in range(RANDOM_DRAWS)]
    rand = np.array([trainer.accuracy(px[b], py[b], tx, ty) for b in draws])
    base, sd = float(rand.mean()), float(rand.std(ddof=1))
    raw = acc - base
    return {
        "accuracy": acc,
        "baseline_accuracy": base,
        "baseline_accuracy_sd": sd,
        "raw_gain": raw,
        "noise_floor": NOISE_SDS * sd,
        "accuracy_gain": raw if raw > NOISE_SDS * sd else 0.0,
    }
