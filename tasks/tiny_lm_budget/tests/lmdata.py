"""Characters and text files of tiny_lm_budget: the fixed vocabulary and fast encoding.

The language uses exactly the 31 characters of ``VOCAB`` (newline ends a document);
character ``VOCAB[i]`` has id ``i``. ``EVAL_LEN`` is the length of the sequences the
evaluator feeds a model.
"""

from __future__ import annotations

import numpy as np
import torch

VOCAB = "\n .,?abcdefghijklmnopqrstuvwxyz"
V = len(VOCAB)
EVAL_LEN = 128
_TABLE = np.full(256, -1, np.int64)
for _i, _c in enumerate(VOCAB):
    _TABLE[ord(_c)] = _i


def encode(text: str) -> torch.Tensor:
    """Text -> int64 tensor of character ids (raises ValueError on a character outside VOCAB)."""
    raw = np.frombuffer(text.encode("ascii", errors="replace"), np.uint8)
    ids = _TABLE[raw]
    if (ids < 0).any():
        bad = text[int(np.argmax(ids < 0))]
        raise ValueError(f"character {bad!r} is not in the vocabulary")
    return torch.from_numpy(ids.copy())


def decode(ids) -> str:  # noqa: ANN001
    return "".join(VOCAB[int(i)] for i in ids)


def load(path: str) -> torch.Tensor:
    with open(path) as fh:
        return encode(fh.read())
