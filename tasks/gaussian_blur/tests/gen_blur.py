"""Trusted input generator of gaussian_blur: python3 gen_blur.py SEED PURPOSE INPUT_DIR EXPECTED_DIR.

PURPOSE "time": INPUT_DIR/args holds `SEED 2560 1440 5` for the pristine driver's own image
generator (`prog run`, sigma 3), a fresh seed each round. "check-0": images of many shapes (1x1,
single rows and columns, smaller than the kernel, odd sizes, two random sizes up to 700x500),
0-3 passes and Gaussian kernels of random sigma in [1.5, 4.5], each as INPUT_DIR/NN-WxH-pP.bin
in the driver's `check` format; "check-1": `prog run` on a fresh 300x200 image. Every answer is
the pristine baseline's output on the same input (run.toml: reference = "baseline"), so
EXPECTED_DIR stays empty.
"""

from __future__ import annotations

import sys

import numpy as np

TIMING = (2560, 1440, 5)
SHAPES = [(1, 1), (1, 9), (9, 1), (5, 3), (16, 16), (17, 17), (18, 9), (33, 40), (100, 57), (8, 200)]


def gaussian(sigma: float) -> np.ndarray:
    k = np.arange(17) - 8
    g = np.exp(-(k * k) / (2 * sigma * sigma))
    g /= g.sum()
    return np.outer(g, g).astype(np.float32)


def main() -> None:
    seed, purpose, inp = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(seed)
    which = -1 if purpose == "time" else int(purpose.rpartition("-")[2]) % 2
    if which != 0:
        w, h, passes = TIMING if which < 0 else (300, 200, 2)
        with open(f"{inp}/args", "w") as fh:
            fh.write(f"{int(rng.integers(1 << 62))} {w} {h} {passes}\n")
        return
    shapes = SHAPES + [(int(rng.integers(200, 700)), int(rng.integers(100, 500))) for _ in range(2)]
    cases = [(w, h, int(rng.integers(1, 4)), float(rng.uniform(1.5, 4.5))) for w, h in shapes]
    for i, (w, h, passes, sigma) in enumerate([*cases, (37, 23, 0, 3.0)]):
        with open(f"{inp}/{i:02d}-{w}x{h}-p{passes}.bin", "wb") as fh:
            np.array([w, h, passes], "<i4").tofile(fh)
            gaussian(sigma).astype("<f4").tofile(fh)
            rng.random(w * h, dtype=np.float32).astype("<f4").tofile(fh)


if __name__ == "__main__":
    main()
