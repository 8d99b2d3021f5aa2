"""Trusted input generator of attention_cpu: python3 gen_attn.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 4096 3` for the pristine driver's own generator
(`prog run`: 3 heads of n = 4096, d = 64, non-causal and causal), a fresh seed each round; the
answer is the pristine baseline's output on the same arguments (run.toml: reference = "baseline").
"check-0" (uniform inputs, n = 1 to 2500) and "check-1" (peaked softmax rows; scores of 72 to 200,
where exp() overflows without subtracting the row maximum): one call per file,
INPUT_DIR/NN-kind-nN-mode.bin in the driver's `check` format, and the float64 numpy reference's
output (as float32) in EXPECTED_DIR under the same name. "check-2": `prog run` on 2 heads of a
fresh n of 100 to 400, against the baseline.
"""

from __future__ import annotations

import math
import sys

import numpy as np

D = 64


def reference(q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool) -> np.ndarray:
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    s = q @ k.T / math.sqrt(q.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, dtype=bool)), s, -np.inf)
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    return p @ v


def draw(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q, K, V for one case. The peaked and huge-score kinds use quarter-integers and
    integers, so every score is exact in float32 and the tolerance stays meaningful."""
    v = rng.uniform(-2, 2, (n, D)).astype(np.float32)
    if kind == "uniform":
        q, k = rng.uniform(-2, 2, (n, D)), rng.uniform(-2, 2, (n, D))
    elif kind == "peaked":  # scores spread over about +-50: softmax rows dominated by a few keys
        q, k = np.round(rng.uniform(-12, 12, (n, D)) * 4) / 4, np.round(rng.uniform(-2, 2, (n, D)) * 4) / 4
    else:  # "huge": every score in [72, 200]: exp() overflows without max subtraction
        q, k = rng.integers(3, 6, (n, D)), rng.integers(3, 6, (n, D))
    return q.astype(np.float32), k.astype(np.float32), v


def cases(rng: np.random.Generator, which: int) -> list[tuple[str, int]]:
    if which == 0:
        ns = [1, 2, 3, 7, 63, 64, 65, 100, 255, 256, 257, 1000, int(rng.integers(1000, 2500))]
        return [("uniform", n) for n in ns]
    return [("peaked", int(rng.integers(200, 800))), ("peaked", 129), ("huge", int(rng.integers(100, 600)))]


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rng = np.random.default_rng(seed)
    which = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % 3
    if which in (-1, 2):
        n, heads = (4096, 3) if which < 0 else (int(rng.integers(100, 400)), 2)
        with open(f"{inp}/args", "w") as fh:
            fh.write(f"{int(rng.integers(1 << 62))} {n} {heads}\n")
        return
    i = 0
    for kind, n in cases(rng, which):
        for causal in (False, True):
            q, k, v = draw(rng, kind, n)
            name = f"{i:02d}-{kind}-n{n}-{'causal' if causal else 'full'}.bin"
            i += 1
            with open(f"{inp}/{name}", "wb") as fh:
                np.array([n, D, int(causal)], "<i4").tofile(fh)
                for x in (q, k, v):
                    x.astype("<f4").tofile(fh)
            reference(q, k, v, causal).astype("<f4").tofile(f"{exp}/{name}")


if __name__ == "__main__":
    main()
