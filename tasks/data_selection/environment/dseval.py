"""Scoring of data_selection (do not edit): read a selection, train the fixed model, compare with random.

- ``read_selection``: the selection file must be a JSON list of exactly K distinct
  integer row indices of the pool (at most 1 MiB).
- ``baseline_selection``: the starting select.py's choice -- K rows uniformly at
  random with numpy's ``default_rng(0)``.
- ``score``: trains the fixed model (``trainer.py``) on the selected rows and on the
  baseline's rows, and measures both on the same labelled test set; the metric is
  ``accuracy_gain`` = accuracy(selection) - accuracy(random baseline), so the pool
  and test sample cancel out and the untouched baseline gains exactly 0.
"""

from __future__ import annotations

import json
import os

import numpy as np
import trainer

K = 2000
MAX_FILE_BYTES = 1 << 20


class SelectionError(Exception):
    """The selection file is missing or malformed."""


def baseline_selection(n: int, k: int = K) -> np.ndarray:
    return np.random.default_rng(0).choice(n, k, replace=False)


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
    base = baseline_selection(len(py), len(sel))
    base_acc = trainer.accuracy(px[base], py[base], tx, ty)
    return {"accuracy": acc, "baseline_accuracy": base_acc, "accuracy_gain": acc - base_acc}
