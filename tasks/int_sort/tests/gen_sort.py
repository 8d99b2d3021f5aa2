"""Trusted input generator of int_sort: python3 gen_sort.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 25000000` for the pristine driver's own generator
(`prog bench`), a fresh seed each round; the answer is the pristine baseline's checksum on the
same arguments (run.toml: reference = "baseline"). "check-0": the small sizes and the special
distributions (all equal, few distinct, sorted, reversed, only high/middle/low bits, extremes),
"check-1": larger random arrays, each as INPUT_DIR/NN-what.bin (raw little-endian uint32) with
numpy's sort of it in EXPECTED_DIR/NN-what.bin; "check-2": `prog bench` on a fresh small size,
against the baseline again.
"""

from __future__ import annotations

import sys

import numpy as np

N_TIMING = 25_000_000
SIZES = [0, 1, 2, 3, 17, 63, 64, 65, 255, 256, 257, 1000, 2047, 2048, 2049, 65535, 65537]


def cases(rng: np.random.Generator, which: int) -> list[tuple[str, np.ndarray]]:
    u32 = np.uint32

    def full(n: int) -> np.ndarray:
        return rng.integers(0, 2**32, n, dtype=u32)

    if which == 1:
        return [("random", full(int(rng.integers(100_000, 400_000)))), ("random", full(3_000_000))]
    out = [("random", full(n)) for n in SIZES]
    return out + [
        ("few-distinct", rng.integers(0, int(rng.integers(2, 50)), 300_000, dtype=u32)),
        ("all-equal", np.full(100_000, int(rng.integers(0, 2**32)), u32)),
        ("ascending", np.sort(full(200_000))),
        ("descending", np.sort(full(200_000))[::-1].copy()),
        ("high-bits-only", (full(200_000) >> 21) << 21),
        ("low-bits-only", full(200_000) & 0x7FF),
        ("middle-bits-only", full(200_000) & 0x003FF800),
        ("extremes", rng.choice(np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 2, 2**32 - 1], u32), 100_000)),
        ("near-max", (2**32 - 1 - rng.integers(0, 1000, 200_000)).astype(u32)),
    ]


def main() -> None:
    seed, purpose, inp, exp = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    rng = np.random.default_rng(seed)
    which = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % 3
    if which in (-1, 2):
        n = N_TIMING if which < 0 else int(rng.integers(1, 200_000))
        with open(f"{inp}/args", "w") as fh:
            fh.write(f"{int(rng.integers(1 << 62))} {n}\n")
        return
    for i, (what, arr) in enumerate(cases(rng, which)):
        name = f"{i:02d}-{what}-n{arr.size}.bin"
        arr.astype("<u4").tofile(f"{inp}/{name}")
        np.sort(arr).astype("<u4").tofile(f"{exp}/{name}")


if __name__ == "__main__":
    main()
