#!/usr/bin/env python3
"""Held-out bits per character of a saved TorchScript language model, with a causality check.

The interface (fixed): ``train.py`` saves a TorchScript module (``torch.jit.save``)
to ``/app/out/model.pt``. Its ``forward(x)`` takes an int64 tensor (batch, 128) of
character ids (``lmdata.VOCAB``) and returns float logits (batch, 128, 31), where
``logits[:, t]`` is the prediction of character ``t + 1`` from characters ``0..t``.

The evaluation:
- **rows**: 256 sequences of 129 characters, each cut at a random offset from its
  own fresh documents (no two rows share a document, so rows say nothing about
  each other); input = the first 128 characters, targets = the last 128; all
  128 x 256 = 32,768 predictions are scored.
- **probes**: 64 extra rows, each a copy of a random scored row whose characters
  from a random cut ``c`` on are replaced by other text. A causal model gives the
  probe exactly the scored row's predictions at every position before ``c``
  (tolerance 1e-3 on log-probabilities); a model that looks ahead does not.
- rows and probes are shuffled into batches of about 40 (a probe never in its
  source row's batch), and **the model is loaded afresh for every batch**, so no
  batch can learn from another.
- bits per character = mean of -log2 softmax(logits)[target] over the scored rows.
  Any failure (unloadable, wrong shape, non-finite output, a failed probe, more
  than 60 CPU seconds in total) makes the evaluation invalid.

    python3 /app/lmeval.py                       # /app/out/model.pt on /data/valid.txt
    python3 /app/lmeval.py --model m.pt --text other.txt --seed 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lmdata import EVAL_LEN, V, encode  # noqa: E402

ROWS = 256
PROBES = 64
BATCHES = 8
TOLERANCE = 1e-3
MAX_CPU_SECONDS = 60.0  # of this process: the same on a loaded machine as on a quiet one
MAX_MODEL_BYTES = 64 << 20


class EvalError(Exception):
    """The model could not be evaluated validly."""


def make_rows(docs: Iterator[str], rng: random.Random, n: int) -> list[str]:
    """n strings of EVAL_LEN + 1 characters, each from its own documents, cut at a random offset."""
    rows = []
    for _ in range(n):
        offset = rng.randrange(0, 200)
        text = ""
        while len(text) < offset + EVAL_LEN + 1:
            text += next(docs)
        rows.append(text[offset : offset + EVAL_LEN + 1])
    return rows


def make_probes(
    rows: list[str], docs: Iterator[str], rng: random.Random, n: int
) -> list[tuple[int, int, str]]:
    """n (source row, cut, probe input): the source's input up to the cut, other text after it."""
    probes = []
    for _ in range(n):
        src = rng.randrange(len(rows))
        cut = rng.randrange(1, EVAL_LEN)
        base = rows[src][:EVAL_LEN]
        while True:
            other = ""
            while len(other) < EVAL_LEN:
                other += next(docs)
            start = rng.randrange(0, len(other) - (EVAL_LEN - cut) + 1)
            tail = other[start : start + EVAL_LEN - cut]
            if tail[0] != base[cut]:
                break
        probes.append((src, cut, base[:cut] + tail))
    return probes


def _batches(n_rows: int, probes: list[tuple[int, int, str]], rng: random.Random) -> list[list[int]]:
    """Item ids (rows 0..n_rows-1, probes n_rows..) per batch; a probe never with its source row."""
    order = list(range(n_rows))
    rng.shuffle(order)
    home = {}
    batches: list[list[int]] = [[] for _ in range(BATCHES)]
    for i, r in enumerate(order):
        batches[i % BATCHES].append(r)
        home[r] = i % BATCHES
    for j, (src, _cut, _text) in enumerate(probes):
        choices = [b for b in range(BATCHES) if b != home[src]]
        batches[min(choices, key=lambda b: (len(batches[b]), rng.random()))].append(n_rows + j)
    for b in batches:
        rng.shuffle(b)
    return batches


def evaluate(
    model_path: str, rows: list[str], probes: list[tuple[int, int, str]], rng: random.Random
) -> dict:
    """Score the model; raises EvalError when the result would not be valid."""
    if not os.path.isfile(model_path) or os.path.islink(model_path):
        raise EvalError(f"{model_path} does not exist")
    if os.path.getsize(model_path) > MAX_MODEL_BYTES:
        raise EvalError(f"{model_path} is larger than 64 MiB")
    inputs = [encode(r[:EVAL_LEN]) for r in rows] + [encode(p[2]) for p in probes]
    targets = torch.stack([encode(r[1:]) for r in rows])
    logp: dict[int, torch.Tensor] = {}
    t0, c0 = time.monotonic(), time.process_time()
    for batch in _batches(len(rows), probes, rng):
        try:
            model = torch.jit.load(model_path, map_location="cpu")
            model.eval()
        except Exception as exc:  # noqa: BLE001
            raise EvalError(f"cannot load the model: {type(exc).__name__}: {exc}"[:400]) from None
        x = torch.stack([inputs[i] for i in batch])
        try:
            with torch.no_grad():
                out = model(x)
        except Exception as exc:  # noqa: BLE001
            raise EvalError(f"the model failed on a batch: {type(exc).__name__}: {exc}"[:400]) from None
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(batch), EVAL_LEN, V):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise EvalError(
                f"output {shape} for input {tuple(x.shape)} (expected ({len(batch)}, {EVAL_LEN}, {V}))"
            )
        lp = torch.log_softmax(out.double(), dim=-1)
        if not torch.isfinite(lp).all():
            raise EvalError("the model's output is not finite")
        for k, i in enumerate(batch):
            logp[i] = lp[k]
        if time.process_time() - c0 > MAX_CPU_SECONDS:
            raise EvalError(f"evaluation took more than {MAX_CPU_SECONDS:.0f} CPU seconds")
    n = len(rows)
    scored = torch.stack([logp[i] for i in range(n)])
    nll = -scored.gather(2, targets.unsqueeze(2)).squeeze(2)
    worst = 0.0
    for j, (src, cut, _text) in enumerate(probes):
        diff = (logp[n + j][:cut] - logp[src][:cut]).abs().max().item()
        worst = max(worst, diff)
        if diff > TOLERANCE:
            raise EvalError(
                f"not causal: the predictions before position {cut} changed by {diff:.3g} "
                f"when only characters from {cut} on changed"
            )
    return {
        "bpc": float(nll.mean() / math.log(2)),
        "scored_chars": int(nll.numel()),
        "probes": len(probes),
        "probe_max_diff": worst,
        "eval_seconds": round(time.monotonic() - t0, 3),
        "eval_cpu_seconds": round(time.process_time() - c0, 3),
    }


def docs_from_file(path: str, rng: random.Random) -> Iterator[str]:
    """The documents (lines) of a text file, in a random order, forever."""
    with open(path) as fh:
        docs = [line for line in fh.read().split("\n") if line]
    while True:
        rng.shuffle(docs)
        for d in docs:
            yield d + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="/app/out/model.pt")
    ap.add_argument("--text", default="/data/valid.txt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    docs = docs_from_file(args.text, rng)
    rows = make_rows(docs, rng, ROWS)
    probes = make_probes(rows, docs, rng, PROBES)
    try:
        result = evaluate(args.model, rows, probes, rng)
    except EvalError as exc:
        sys.exit(f"invalid: {exc}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
